//! Reading request input with errors that name the field.
use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// A request body read into its type from `bodies` (whose types refuse unknown
/// fields): 400 naming the field at fault (`grants[0].actions`), or `body` when the
/// text is not JSON at all.
pub struct Typed<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Typed<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        // A body over the limit keeps axum's 413, which the edge answers in JSON.
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        typed(&bytes)
            .map(Typed)
            .map_err(IntoResponse::into_response)
    }
}

/// [`Typed`]'s reading, for bodies read by hand first (a dataflow's YAML).
pub fn typed<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    // Every body is an object: serde would read a struct from a list as well.
    let opening = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if opening != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => ApiError::invalid("body", "expected a JSON object"),
                Err(e) => ApiError::invalid("body", format!("invalid JSON: {e}")),
            },
        );
    }
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(|error| {
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::invalid("body", format!("invalid JSON: {inner}"));
        }
        let path = error.path().to_string();
        let message = inner.to_string();
        // serde names a missing or unknown field in its message, not in the path.
        let named = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|start| message.strip_prefix(start))
            .and_then(|rest| rest.split('`').next());
        let field = match (named, path.as_str()) {
            (Some(name), ".") => name.to_string(),
            // An unknown field is the path's last segment already; a missing one is not.
            (Some(name), path) if path.ends_with(name) => path.to_string(),
            (Some(name), parent) => format!("{parent}.{name}"),
            (None, ".") => "body".to_string(),
            (None, path) => path.to_string(),
        };
        let message = match message.split(" at line ").next() {
            Some(text) => text.to_string(),
            None => message,
        };
        ApiError::invalid(&field, message)
    })?;
    reader
        .end()
        .map_err(|e| ApiError::invalid("body", format!("invalid JSON: {e}")))?;
    Ok(value)
}

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

/// A required string field that must not be empty.
pub fn non_empty(field: &str, value: &str) -> ApiResult<()> {
    if value.is_empty() {
        return Err(ApiError::invalid(field, "required: a non-empty string"));
    }
    Ok(())
}

pub fn reject_unknown_query(query: &HashMap<String, String>, allowed: &[&str]) -> ApiResult<()> {
    match query.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(ApiError::invalid(key, "unknown query parameter")),
        None => Ok(()),
    }
}

/// Parameter values (strings, numbers or booleans) as text; 400 naming
/// `parameters.<name>` for any other.
pub fn parameter_values<'a>(
    object: impl IntoIterator<Item = (&'a String, &'a Value)>,
) -> ApiResult<HashMap<String, String>> {
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

/// [`time`] as the API's bodies hold it.
pub fn time_text(ms: i64) -> Option<String> {
    time(ms).as_str().map(str::to_string)
}

/// Milliseconds since the epoch as RFC 3339, or null when unset.
pub fn time(ms: i64) -> Value {
    if ms == 0 {
        return Value::Null;
    }
    chrono::DateTime::from_timestamp_millis(ms).map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    })
}

/// The query parameter `field` as a time: RFC 3339, or a day (`YYYY-MM-DD`, its
/// midnight in UTC).
pub fn query_time(
    query: &HashMap<String, String>,
    field: &str,
) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    let Some(text) = query.get(field) else {
        return Ok(None);
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&chrono::Utc)));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| ApiError::invalid(field, "an RFC 3339 time or a day (YYYY-MM-DD)"))
}
