//! Header names of the bus contract.
use async_nats::HeaderMap;

/// JetStream de-duplication id.
pub const MSG_ID: &str = "Nats-Msg-Id";
/// Full protobuf type name of the payload, e.g. `prism.v1.JobEvent`.
pub const MESSAGE_TYPE: &str = "Prism-Message-Type";

/// W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// Headers for a message of type `message_type`, with the trace context
/// `traceparent` (the current one when `None`).
pub fn standard(message_type: &str, msg_id: Option<&str>, traceparent: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(MESSAGE_TYPE, message_type);
    if let Some(id) = msg_id {
        headers.insert(MSG_ID, id);
    }
    match traceparent {
        Some(traceparent) => headers.insert(TRACEPARENT, traceparent),
        None => prism_telemetry::inject_trace_context(&mut headers),
    }
    headers
}

/// The current span's `traceparent`, to keep with a message published later.
pub fn current_traceparent() -> Option<String> {
    let mut headers = HeaderMap::new();
    prism_telemetry::inject_trace_context(&mut headers);
    headers.get(TRACEPARENT).map(|v| v.to_string())
}

pub fn message_type(headers: Option<&HeaderMap>) -> Option<&str> {
    headers?.get(MESSAGE_TYPE).map(|v| v.as_str())
}
