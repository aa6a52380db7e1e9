//! The `fields` of a service's input stage: `[{"name","type","required"?}]`.
use std::collections::HashSet;

use serde_json::Value;

use crate::model::{FieldType, InputField};

pub const MAX_FIELDS: usize = 100;

/// The fields, or the first problem as (field path under the stage, message).
pub fn parse(value: Option<&Value>) -> Result<Vec<InputField>, (String, String)> {
    let list = value
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty() && l.len() <= MAX_FIELDS)
        .ok_or_else(|| {
            let message = format!(
                "required: 1 to {MAX_FIELDS} fields, each {{\"name\",\"type\",\"required\"?}}"
            );
            ("fields".to_string(), message)
        })?;
    let mut seen = HashSet::new();
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let at = |key: &str| format!("fields[{i}].{key}");
            let name = item
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| is_column(n))
                .ok_or_else(|| {
                    (
                        at("name"),
                        "letters, digits and '_', at most 64".to_string(),
                    )
                })?;
            if !seen.insert(name.to_string()) {
                return Err((at("name"), format!("{name:?} is declared twice")));
            }
            let field_type = item
                .get("type")
                .and_then(Value::as_str)
                .and_then(FieldType::parse)
                .ok_or_else(|| {
                    let message = "one of string, integer, float, boolean, date, timestamp";
                    (at("type"), message.to_string())
                })?;
            let required = match item.get("required") {
                None => false,
                Some(v) => v
                    .as_bool()
                    .ok_or_else(|| (at("required"), "true or false".to_string()))?,
            };
            Ok(InputField {
                name: name.to_string(),
                field_type,
                required,
            })
        })
        .collect()
}

fn is_column(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}
