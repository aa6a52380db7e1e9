//! `${name}` placeholders in queries and paths, filled from job parameters over the
//! dataflow's declared defaults. Values are substituted as text: whoever may run a
//! job may also edit its SQL, so this adds no power.
use std::collections::{BTreeMap, HashMap};

/// Names referenced as `${name}` in `text`, in order of appearance.
pub fn referenced(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                names.push(after[..end].to_string());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    names
}

/// The longest value a job may give a parameter.
pub const MAX_VALUE_BYTES: usize = 1024;

/// A parameter a job cannot run with, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct ParameterError {
    pub parameter: String,
    pub message: String,
}

impl ParameterError {
    fn new(parameter: &str, message: impl Into<String>) -> Self {
        ParameterError {
            parameter: parameter.to_string(),
            message: message.into(),
        }
    }

    /// The request field it concerns: `parameters.<name>`.
    pub fn field(&self) -> String {
        format!("parameters.{}", self.parameter)
    }
}

/// The values a job runs with: declared defaults overridden by `given`.
/// Errors name the parameter: unknown, or required and missing.
pub fn resolve(
    declared: &BTreeMap<String, Option<String>>,
    given: &HashMap<String, String>,
) -> Result<BTreeMap<String, String>, ParameterError> {
    if let Some((name, _)) = given.iter().find(|(_, v)| v.len() > MAX_VALUE_BYTES) {
        let message = format!("a parameter value is at most {MAX_VALUE_BYTES} bytes");
        return Err(ParameterError::new(name, message));
    }
    if let Some(unknown) = given.keys().find(|name| !declared.contains_key(*name)) {
        return Err(ParameterError::new(
            unknown,
            "the dataflow declares no such parameter",
        ));
    }
    let mut values = BTreeMap::new();
    for (name, default) in declared {
        match given.get(name).or(default.as_ref()) {
            Some(value) => {
                values.insert(name.clone(), value.clone());
            }
            None => return Err(ParameterError::new(name, "required parameter missing")),
        }
    }
    Ok(values)
}

/// The first parameter whose value would take a path of `dataflow` out of its
/// connection (`..`, an absolute path), with the reason: refused when the job is
/// submitted, before anything runs.
pub fn check_paths<'a>(
    paths: impl IntoIterator<Item = &'a str>,
    values: &BTreeMap<String, String>,
) -> Result<(), ParameterError> {
    for path in paths {
        let filled = substitute(path, values);
        if let Err(reason) = crate::paths::resolve(std::path::Path::new("/root"), &filled) {
            let culprit = referenced(path)
                .into_iter()
                .find(|name| {
                    values
                        .get(name)
                        .is_some_and(|v| v.contains("..") || v.starts_with('/'))
                })
                .or_else(|| referenced(path).into_iter().next())
                .unwrap_or_default();
            let message = format!("makes path {filled:?} invalid: {reason}");
            return Err(ParameterError::new(&culprit, message));
        }
    }
    Ok(())
}

/// Replaces every `${name}` in `text` with its value, in one pass: a value that
/// itself contains `${...}` stays as it is (substitution is not recursive). Unknown
/// names stay as written (validation has already refused them).
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        match values.get(&after[..end]) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_declared_values() {
        let declared = BTreeMap::from([
            ("min".to_string(), Some("18".to_string())),
            ("day".to_string(), None),
        ]);
        let given = HashMap::from([("day".to_string(), "2026-01-02".to_string())]);
        let values = resolve(&declared, &given).unwrap();
        assert_eq!(
            substitute("age >= ${min} AND d = '${day}'", &values),
            "age >= 18 AND d = '2026-01-02'"
        );
        assert_eq!(referenced("${a} x ${b}"), vec!["a", "b"]);
        let nested = BTreeMap::from([
            ("a".to_string(), "${b}".to_string()),
            ("b".to_string(), "boom".to_string()),
        ]);
        assert_eq!(
            substitute("${a}-${b}-${c}", &nested),
            "${b}-boom-${c}",
            "not recursive"
        );
        let missing = resolve(&declared, &HashMap::new()).unwrap_err();
        assert_eq!(missing.field(), "parameters.day");
        let unknown = HashMap::from([("zzz".to_string(), "1".to_string())]);
        assert_eq!(resolve(&declared, &unknown).unwrap_err().parameter, "zzz");
    }
}
