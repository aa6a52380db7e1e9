//! Parsing a dataflow document and reporting every problem by stage and field.
mod stages;

use stages::check_stages;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::model::{Dataflow, Kind};

/// Documents must fit one value of the configuration database (100,000 bytes)
/// with room for the record around them.
pub const MAX_DOCUMENT_BYTES: usize = 90_000;
const MAX_DELAY_MS: u64 = 3_600_000;
/// Stages in one dataflow: enough for any real flow, and a bound on what one job
/// may ask of an executor.
pub const MAX_STAGES: usize = 100;
/// The longest `timeout_seconds` a document may ask for (a week); executors cap it
/// further at their own maximum.
const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// One thing wrong with a document. `stage` is the stage id when the problem is in a
/// stage; `field` is a path such as `stages[2].query`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Yaml,
}

/// What the validator knows of a connection a stage names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// No connection has the name.
    Missing,
    /// It exists, of this kind (`local`, `postgres`, `s3`).
    Kind(String),
    /// Not checked here (a stored document, checked when it was saved).
    Unchecked,
}

/// Parses `text`, checks it, and returns the model with the document as JSON (the
/// stored form). `connection` tells what is known of each connection name.
pub fn parse_document(
    text: &str,
    syntax: Syntax,
    connection: &dyn Fn(&str) -> Known,
) -> Result<(Dataflow, Value), Vec<Problem>> {
    let document_problem = |message: String| {
        vec![Problem {
            stage: None,
            field: "document".into(),
            message,
        }]
    };
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(document_problem(format!(
            "document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
            text.len()
        )));
    }
    let value: Value = match syntax {
        Syntax::Json => serde_json::from_str(text).map_err(|e| document_problem(e.to_string()))?,
        Syntax::Yaml => {
            prism_yaml::parse_one(text, prism_yaml::Limits::of_json_text(MAX_DOCUMENT_BYTES))
                .map_err(|e| document_problem(e.to_string()))?
        }
    };
    let dataflow = check(&value, connection)?;
    Ok((dataflow, value))
}

/// Rebuilds the model from a stored document (already validated when saved).
pub fn from_stored(json: &str) -> Result<Dataflow, Vec<Problem>> {
    parse_document(json, Syntax::Json, &|_| Known::Unchecked).map(|(dataflow, _)| dataflow)
}

struct Checker<'a> {
    problems: Vec<Problem>,
    connection: &'a dyn Fn(&str) -> Known,
}

impl Checker<'_> {
    fn problem(&mut self, stage: Option<&str>, field: String, message: impl Into<String>) {
        self.problems.push(Problem {
            stage: stage.map(str::to_string),
            field,
            message: message.into(),
        });
    }
}

fn check(value: &Value, connection: &dyn Fn(&str) -> Known) -> Result<Dataflow, Vec<Problem>> {
    let mut checker = Checker {
        problems: Vec::new(),
        connection,
    };
    let Some(root) = value.as_object() else {
        checker.problem(
            None,
            "document".into(),
            "a dataflow document is a JSON object",
        );
        return Err(checker.problems);
    };
    for key in root.keys() {
        if !DOCUMENT_FIELDS.contains(&key.as_str()) {
            checker.problem(None, key.clone(), "unknown field");
        }
    }
    let kind = check_kind(&mut checker, root.get("kind"));
    let declared = check_parameters(&mut checker, root.get("parameters"));
    let stages = match root.get("stages").and_then(Value::as_array) {
        Some(stages) if stages.len() > MAX_STAGES => {
            let message = format!("at most {MAX_STAGES} stages");
            checker.problem(None, "stages".into(), message);
            Vec::new()
        }
        Some(stages) if !stages.is_empty() => check_stages(&mut checker, stages, &declared),
        _ => {
            let message = "required: a non-empty array of stages";
            checker.problem(None, "stages".into(), message);
            Vec::new()
        }
    };
    let timeout = check_timeout(&mut checker, root.get("timeout_seconds"));
    if let Some(kind) = kind {
        for (stage, field, message) in crate::shape::check(kind, &stages) {
            checker.problem(stage.as_deref(), field, message);
        }
    }
    match kind {
        Some(kind) if checker.problems.is_empty() => Ok(Dataflow {
            kind,
            parameters: declared,
            stages,
            timeout,
        }),
        _ => Err(checker.problems),
    }
}

/// The fields of a document's top level.
const DOCUMENT_FIELDS: &[&str] = &[
    "kind",
    "parameters",
    "stages",
    "description",
    "timeout_seconds",
];

fn check_kind(checker: &mut Checker, value: Option<&Value>) -> Option<Kind> {
    match value.and_then(Value::as_str) {
        Some("job") => Some(Kind::Job),
        Some("service") => Some(Kind::Service),
        _ => {
            checker.problem(None, "kind".into(), "required: \"job\" or \"service\"");
            None
        }
    }
}

fn check_timeout(checker: &mut Checker, value: Option<&Value>) -> Option<std::time::Duration> {
    match value {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64() {
            Some(secs) if (1..=MAX_TIMEOUT_SECS).contains(&secs) => {
                Some(std::time::Duration::from_secs(secs))
            }
            _ => {
                let message = format!("an integer from 1 to {MAX_TIMEOUT_SECS}");
                checker.problem(None, "timeout_seconds".into(), message);
                None
            }
        },
    }
}

fn check_parameters(
    checker: &mut Checker,
    value: Option<&Value>,
) -> BTreeMap<String, Option<String>> {
    let mut declared = BTreeMap::new();
    let Some(value) = value else {
        return declared;
    };
    let Some(map) = value.as_object() else {
        checker.problem(
            None,
            "parameters".into(),
            "an object of name to default value (null: required)",
        );
        return declared;
    };
    for (name, default) in map {
        let field = format!("parameters.{name}");
        if !is_identifier(name) {
            checker.problem(
                None,
                field.clone(),
                "parameter names are letters, digits and '_'",
            );
        }
        match scalar_to_string(default) {
            Ok(default) => {
                declared.insert(name.clone(), default);
            }
            Err(message) => checker.problem(None, field, message),
        }
    }
    declared
}

/// A parameter value as text: strings as they are, numbers and booleans printed,
/// `null` as "no value".
pub fn scalar_to_string(value: &Value) -> Result<Option<String>, &'static str> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err("a parameter value is a string, number, boolean or null"),
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

#[cfg(test)]
mod tests;
