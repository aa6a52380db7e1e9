//! Header names of the bus contract.
use async_nats::HeaderMap;

/// JetStream de-duplication id.
pub const MSG_ID: &str = "Nats-Msg-Id";
/// Full protobuf type name of the payload, e.g. `prism.v1.JobEvent`.
pub const MESSAGE_TYPE: &str = "Prism-Message-Type";

/// Headers for a message of type `message_type`, with the current trace context.
pub fn standard(message_type: &str, msg_id: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(MESSAGE_TYPE, message_type);
    if let Some(id) = msg_id {
        headers.insert(MSG_ID, id);
    }
    prism_telemetry::inject_trace_context(&mut headers);
    headers
}

pub fn message_type(headers: Option<&HeaderMap>) -> Option<&str> {
    headers?.get(MESSAGE_TYPE).map(|v| v.as_str())
}
