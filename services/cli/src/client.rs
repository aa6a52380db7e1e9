//! The gateway's HTTP API as the command line calls it: JSON in and out, the
//! session's bearer token, and the server's structured errors kept whole.
use std::fmt;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

/// Every request is bounded: a gateway that stops answering cannot hang a script.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong, as the user should read it.
#[derive(Debug)]
pub enum Failure {
    /// The server refused: its `{"error":{code,message,field}}`, with the status.
    Server {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
    },
    /// Anything else (no connection, no session, a bad file), in one sentence.
    Local(String),
}

impl Failure {
    pub fn local(message: impl Into<String>) -> Self {
        Failure::Local(message.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Server {
                status,
                code,
                message,
                field,
            } => {
                write!(f, "{message} ({code}, HTTP {status}")?;
                if let Some(field) = field {
                    write!(f, ", field {field}")?;
                }
                write!(f, ")")
            }
            Failure::Local(message) => f.write_str(message),
        }
    }
}

pub type Outcome<T> = Result<T, Failure>;

pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    /// For answers that stream as long as a job runs: no overall time limit (the
    /// server bounds a follow), only on connecting.
    streaming: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Outcome<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| Failure::local(format!("HTTP client: {e}")))?;
        let streaming = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Failure::local(format!("HTTP client: {e}")))?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
            streaming,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `body` (JSON) and answers the status and the JSON body of a success.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Outcome<(u16, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::local(format!("cannot reach {}: {e}", self.base)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| Failure::local(format!("reading the answer of {path}: {e}")))?;
        let json: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if (200..300).contains(&status) {
            Ok((status, json))
        } else {
            Err(server_failure(status, &json))
        }
    }

    /// GETs `path` and hands each line of the answer to `each` as it arrives.
    pub async fn lines(&self, path: &str, mut each: impl FnMut(&str)) -> Outcome<()> {
        let mut request = self.streaming.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| Failure::local(format!("cannot reach {}: {e}", self.base)))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let text = response.text().await.unwrap_or_default();
            let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
            return Err(server_failure(status, &json));
        }
        let mut pending = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failure::local(format!("reading {path}: {e}")))?
        {
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                each(String::from_utf8_lossy(&line[..end]).as_ref());
            }
        }
        Ok(())
    }

    pub async fn get(&self, path: &str) -> Outcome<Value> {
        Ok(self.send(Method::GET, path, None, &[]).await?.1)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Outcome<Value> {
        Ok(self.send(Method::POST, path, Some(body), &[]).await?.1)
    }

    pub async fn put(&self, path: &str, body: &Value) -> Outcome<(u16, Value)> {
        self.send(Method::PUT, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Outcome<Value> {
        Ok(self.send(Method::DELETE, path, None, &[]).await?.1)
    }
}

fn server_failure(status: u16, json: &Value) -> Failure {
    let error = &json["error"];
    let text = |key: &str| error[key].as_str().map(str::to_string);
    Failure::Server {
        status,
        code: text("code").unwrap_or_else(|| "unknown".into()),
        message: text("message").unwrap_or_else(|| match json {
            Value::String(body) => body.chars().take(200).collect(),
            _ => format!("HTTP {status}"),
        }),
        field: text("field"),
    }
}

/// Percent-encodes one path segment or query value.
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_errors_keep_message_code_and_field() {
        let failure = server_failure(
            400,
            &json!({"error":{"code":"invalid_argument","message":"bad cron","field":"cron"}}),
        );
        assert_eq!(
            failure.to_string(),
            "bad cron (invalid_argument, HTTP 400, field cron)"
        );
        let plain = server_failure(502, &json!("Bad Gateway"));
        assert_eq!(plain.to_string(), "Bad Gateway (unknown, HTTP 502)");
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(encode("job-1_x.y~"), "job-1_x.y~");
    }
}
