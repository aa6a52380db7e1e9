//! Reading request input with errors that name the field.
use std::collections::HashMap;

use axum::body::Bytes;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// Names of connections, dataflows and schedules: they appear in URLs and subjects.
pub fn check_name(field: &str, name: &str) -> ApiResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "names are 1 to 64 characters: letters, digits, '_' and '-'",
        ))
    }
}

pub fn json_object(body: &Bytes) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid("body", "expected a JSON object")),
        Err(e) => Err(ApiError::invalid("body", format!("invalid JSON: {e}"))),
    }
}

pub fn reject_unknown(map: &Map<String, Value>, allowed: &[&str]) -> ApiResult<()> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(ApiError::invalid(key, "unknown field")),
        None => Ok(()),
    }
}

pub fn required_str<'a>(map: &'a Map<String, Value>, field: &str) -> ApiResult<&'a str> {
    match map.get(field).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ApiError::invalid(field, "required: a non-empty string")),
    }
}

pub fn reject_unknown_query(query: &HashMap<String, String>, allowed: &[&str]) -> ApiResult<()> {
    match query.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(ApiError::invalid(key, "unknown query parameter")),
        None => Ok(()),
    }
}

/// `parameters`: an object of scalar values, as text.
pub fn parameters(map: &Map<String, Value>) -> ApiResult<HashMap<String, String>> {
    let Some(value) = map.get("parameters") else {
        return Ok(HashMap::new());
    };
    let Some(object) = value.as_object() else {
        return Err(ApiError::invalid("parameters", "expected an object"));
    };
    let mut out = HashMap::new();
    for (name, value) in object {
        match prism_dataflow::validate::scalar_to_string(value) {
            Ok(Some(text)) => {
                out.insert(name.clone(), text);
            }
            _ => {
                return Err(ApiError::invalid(
                    &format!("parameters.{name}"),
                    "a parameter value is a string, number or boolean",
                ));
            }
        }
    }
    Ok(out)
}

/// `limit` query parameter: 1 to 1000, default 100.
pub fn limit(raw: Option<&String>) -> ApiResult<usize> {
    match raw {
        None => Ok(100),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid("limit", "an integer from 1 to 1000")),
        },
    }
}

/// Milliseconds since the epoch as RFC 3339, or null when unset.
/// [`time`] as the API's bodies hold it.
pub fn time_text(ms: i64) -> Option<String> {
    time(ms).as_str().map(str::to_string)
}

pub fn time(ms: i64) -> Value {
    if ms == 0 {
        return Value::Null;
    }
    chrono::DateTime::from_timestamp_millis(ms).map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    })
}
