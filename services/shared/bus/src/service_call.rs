//! The one message of the bus that is not protobuf: a call of a real-time service,
//! a core NATS request on `prism.svc.<name>` answered by one executor of the queue
//! group. It is JSON because its rows are the caller's own JSON objects, carried
//! through to DataFusion and back without a schema of Prism's; these types are
//! that JSON's one definition, used by the gateway that asks and the executor
//! that answers (documented in the README's bus contract).
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `{"rows":[{..}],"parameters"?:{..},"text_values"?:bool}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// Input rows; each should be an object (one that is not is a row error).
    pub rows: Vec<Value>,
    /// Values of the dataflow's parameters: strings, numbers or booleans.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub parameters: Map<String, Value>,
    /// Every value is text to be read as its field's declared type (query strings).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub text_values: bool,
}

/// The reply: the answer, or why the request was refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CallReply {
    Refused(CallRefused),
    Answered(CallAnswer),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallAnswer {
    pub rows: Vec<Value>,
    /// Rows refused, by their index in the request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RowError>,
    /// Rows the request held.
    pub rows_in: u64,
    /// The executor that answered.
    pub node: String,
    /// The dataflow version that answered.
    pub version: u32,
    pub duration_ms: f64,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowError {
    pub row: usize,
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallRefused {
    pub error: CallError,
    pub request_id: String,
}

/// `code` is `invalid_argument` (the request cannot be read: 400) or any other
/// (it could not be computed: 422).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallError {
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_reply_reads_as_answered_or_refused() {
        let answered = json!({"rows":[{"a":1}],"rows_in":1,"node":"n","version":2,
                              "duration_ms":0.5,"request_id":"r"});
        let refused = json!({"error":{"code":"invalid_argument","message":"m","field":"rows"},
                             "request_id":"r"});
        assert!(matches!(
            serde_json::from_value(answered).unwrap(),
            CallReply::Answered(CallAnswer { version: 2, .. })
        ));
        assert!(matches!(
            serde_json::from_value(refused).unwrap(),
            CallReply::Refused(CallRefused {
                error: CallError { field: Some(_), .. },
                ..
            })
        ));
    }
}
