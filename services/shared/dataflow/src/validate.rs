//! Parsing a dataflow document and reporting every problem by stage and field.
use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{Dataflow, Format, Kind, Stage, StageSpec};
use crate::parameters;
use crate::paths;

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

/// Parses `text`, checks it, and returns the model with the document as JSON (the
/// stored form). `connection_exists` tells which connection names are defined.
pub fn parse_document(
    text: &str,
    syntax: Syntax,
    connection_exists: &dyn Fn(&str) -> bool,
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
    let dataflow = check(&value, connection_exists)?;
    Ok((dataflow, value))
}

/// Rebuilds the model from a stored document (already validated when saved).
pub fn from_stored(json: &str) -> Result<Dataflow, Vec<Problem>> {
    parse_document(json, Syntax::Json, &|_| true).map(|(dataflow, _)| dataflow)
}

struct Checker<'a> {
    problems: Vec<Problem>,
    connection_exists: &'a dyn Fn(&str) -> bool,
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

fn check(
    value: &Value,
    connection_exists: &dyn Fn(&str) -> bool,
) -> Result<Dataflow, Vec<Problem>> {
    let mut checker = Checker {
        problems: Vec::new(),
        connection_exists,
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
        if ![
            "kind",
            "parameters",
            "stages",
            "description",
            "timeout_seconds",
        ]
        .contains(&key.as_str())
        {
            checker.problem(None, key.clone(), "unknown field");
        }
    }
    let kind = match root.get("kind").and_then(Value::as_str) {
        Some("job") => Some(Kind::Job),
        Some("service") => Some(Kind::Service),
        _ => {
            checker.problem(None, "kind".into(), "required: \"job\" or \"service\"");
            None
        }
    };
    let declared = check_parameters(&mut checker, root.get("parameters"));
    let stages = match root.get("stages").and_then(Value::as_array) {
        Some(stages) if stages.len() > MAX_STAGES => {
            checker.problem(
                None,
                "stages".into(),
                format!("at most {MAX_STAGES} stages"),
            );
            Vec::new()
        }
        Some(stages) if !stages.is_empty() => check_stages(&mut checker, stages, &declared),
        _ => {
            checker.problem(
                None,
                "stages".into(),
                "required: a non-empty array of stages",
            );
            Vec::new()
        }
    };
    let timeout = match root.get("timeout_seconds") {
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
    };
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

/// What a stage produces, for checking the inputs of later stages.
#[derive(Clone, Copy, PartialEq)]
enum Produces {
    Rows,
    Nothing,
}

fn check_stages(
    checker: &mut Checker,
    stages: &[Value],
    declared: &BTreeMap<String, Option<String>>,
) -> Vec<Stage> {
    let mut seen: BTreeMap<String, Produces> = BTreeMap::new();
    let mut out = Vec::new();
    for (index, stage) in stages.iter().enumerate() {
        let at = format!("stages[{index}]");
        let Some(fields) = stage.as_object() else {
            checker.problem(None, at, "a stage is an object");
            continue;
        };
        let id = fields.get("id").and_then(Value::as_str).map(str::to_string);
        let Some(id) = id.filter(|id| is_identifier(id)) else {
            checker.problem(
                None,
                format!("{at}.id"),
                "required: letters, digits and '_', not starting with a digit (it names a SQL table)",
            );
            continue;
        };
        if seen.contains_key(&id) {
            checker.problem(Some(&id), format!("{at}.id"), "duplicate stage id");
            continue;
        }
        let mut stage_checker = StageChecker {
            checker,
            fields,
            id: &id,
            at: &at,
            declared,
            seen: &seen,
        };
        if let Some((spec, produces)) = stage_checker.spec() {
            out.push(Stage {
                id: id.clone(),
                spec,
            });
            seen.insert(id, produces);
        } else {
            seen.insert(id, Produces::Rows);
        }
    }
    out
}

struct StageChecker<'c, 'a> {
    checker: &'c mut Checker<'a>,
    fields: &'c Map<String, Value>,
    id: &'c str,
    at: &'c str,
    declared: &'c BTreeMap<String, Option<String>>,
    seen: &'c BTreeMap<String, Produces>,
}

impl StageChecker<'_, '_> {
    fn problem(&mut self, field: &str, message: impl Into<String>) {
        let field = format!("{}.{field}", self.at);
        self.checker.problem(Some(self.id), field, message);
    }

    fn string(&mut self, field: &str) -> Option<String> {
        match self.fields.get(field).and_then(Value::as_str) {
            Some(s) if !s.trim().is_empty() => {
                self.check_placeholders(field, s);
                Some(s.to_string())
            }
            _ => {
                self.problem(field, "required: a non-empty string");
                None
            }
        }
    }

    fn check_placeholders(&mut self, field: &str, text: &str) {
        for name in parameters::referenced(text) {
            if !self.declared.contains_key(&name) {
                self.problem(
                    field,
                    format!("uses ${{{name}}}, which `parameters` does not declare"),
                );
            }
        }
    }

    fn only_fields(&mut self, allowed: &[&str]) {
        let unknown: Vec<String> = self
            .fields
            .keys()
            .filter(|k| {
                !allowed.contains(&k.as_str())
                    && !["id", "type", "description"].contains(&k.as_str())
            })
            .cloned()
            .collect();
        for key in unknown {
            self.problem(&key, "unknown field for this stage type");
        }
    }

    fn connection(&mut self) -> Option<String> {
        let name = self.string("connection")?;
        if !(self.checker.connection_exists)(&name) {
            self.problem("connection", format!("no connection named {name:?}"));
            return None;
        }
        Some(name)
    }

    fn path(&mut self) -> Option<String> {
        let path = self.string("path")?;
        // Placeholders are checked again after substitution, by the executor.
        if let Err(message) = paths::resolve(std::path::Path::new("/"), &path) {
            self.problem("path", message);
            return None;
        }
        Some(path)
    }

    fn format(&mut self) -> Option<Format> {
        let name = self.fields.get("format").and_then(Value::as_str);
        match name.and_then(Format::parse) {
            Some(format) => Some(format),
            None => {
                self.problem("format", "required: \"csv\", \"jsonl\" or \"parquet\"");
                None
            }
        }
    }

    fn input(&mut self, field: &str, name: &str) -> bool {
        match self.seen.get(name) {
            Some(Produces::Rows) => true,
            Some(Produces::Nothing) => {
                self.problem(field, format!("stage {name:?} produces no rows"));
                false
            }
            None => {
                self.problem(
                    field,
                    format!("no earlier stage named {name:?} (inputs must come first)"),
                );
                false
            }
        }
    }

    fn spec(&mut self) -> Option<(StageSpec, Produces)> {
        let kind = self
            .fields
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("");
        match kind {
            "read" => self.read_stage(),
            "sql" => self.sql_stage(),
            "write" => self.write_stage(),
            "delay" => self.delay_stage(),
            "input" => self.input_stage(),
            "output" => self.output_stage(),
            _ => {
                self.problem(
                    "type",
                    "required: \"read\", \"sql\", \"write\", \"delay\", \"input\" or \"output\"",
                );
                None
            }
        }
    }

    fn read_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&["connection", "path", "format"]);
        let (connection, path, format) = (self.connection(), self.path(), self.format());
        Some((
            StageSpec::Read {
                connection: connection?,
                path: path?,
                format: format?,
            },
            Produces::Rows,
        ))
    }

    fn sql_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&["inputs", "query"]);
        let inputs = self.inputs();
        let query = self.string("query");
        if let Some(Err(problem)) = query.as_deref().map(crate::sql::check) {
            self.problem("query", problem);
        }
        Some((
            StageSpec::Sql {
                inputs: inputs?,
                query: query?,
            },
            Produces::Rows,
        ))
    }

    fn write_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&["input", "connection", "path", "format"]);
        let input = self.string("input");
        let input_ok = input
            .as_deref()
            .is_some_and(|name| self.input("input", name));
        let (connection, path, format) = (self.connection(), self.path(), self.format());
        if !input_ok {
            return None;
        }
        Some((
            StageSpec::Write {
                input: input?,
                connection: connection?,
                path: path?,
                format: format?,
            },
            Produces::Nothing,
        ))
    }

    fn delay_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&["milliseconds"]);
        match self.fields.get("milliseconds").and_then(Value::as_u64) {
            Some(ms) if ms <= MAX_DELAY_MS => {
                Some((StageSpec::Delay { milliseconds: ms }, Produces::Nothing))
            }
            _ => {
                self.problem(
                    "milliseconds",
                    format!("required: an integer from 0 to {MAX_DELAY_MS}"),
                );
                None
            }
        }
    }

    fn input_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&["fields"]);
        let fields = crate::fields::parse(self.fields.get("fields"));
        match fields {
            Ok(fields) => Some((StageSpec::Input { fields }, Produces::Rows)),
            Err((field, message)) => {
                self.problem(&field, message);
                None
            }
        }
    }

    fn output_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&["input"]);
        let input = self.string("input")?;
        if !self.input("input", &input) {
            return None;
        }
        Some((StageSpec::Output { input }, Produces::Rows))
    }

    fn inputs(&mut self) -> Option<Vec<String>> {
        let Some(list) = self.fields.get("inputs").and_then(Value::as_array) else {
            self.problem("inputs", "required: an array of earlier stage ids");
            return None;
        };
        let mut names = Vec::new();
        let mut unique = HashSet::new();
        let mut ok = true;
        for (i, entry) in list.iter().enumerate() {
            let field = format!("inputs[{i}]");
            match entry.as_str() {
                Some(name) if unique.insert(name.to_string()) => {
                    ok &= self.input(&field, name);
                    names.push(name.to_string());
                }
                Some(name) => {
                    self.problem(&field, format!("{name:?} is listed twice"));
                    ok = false;
                }
                None => {
                    self.problem(&field, "a stage id");
                    ok = false;
                }
            }
        }
        ok.then_some(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Dataflow, Vec<Problem>> {
        parse_document(text, Syntax::Json, &|name| name == "files").map(|(d, _)| d)
    }

    #[test]
    fn accepts_the_readme_example() {
        let dataflow = parse(
            r#"{"kind":"job","stages":[
              {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
              {"id":"adults","type":"sql","inputs":["people"],"query":"SELECT name, age FROM people WHERE age >= 18"},
              {"id":"out","type":"write","input":"adults","connection":"files","path":"out/adults.csv","format":"csv"}]}"#,
        )
        .unwrap();
        assert_eq!(dataflow.stages.len(), 3);
        assert_eq!(dataflow.connections(), vec!["files"]);
    }

    #[test]
    fn reports_each_problem_by_stage_and_field() {
        let problems = parse(
            r#"{"kind":"job","stages":[
              {"id":"a","type":"read","connection":"nope","path":"../x.csv","format":"xml"},
              {"id":"b","type":"sql","inputs":["zzz"],"query":"SELECT ${p}"},
              {"id":"b","type":"write","input":"a","connection":"files","path":"o.csv","format":"csv"}]}"#,
        )
        .unwrap_err();
        let fields: Vec<(Option<&str>, &str)> = problems
            .iter()
            .map(|p| (p.stage.as_deref(), p.field.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                (Some("a"), "stages[0].connection"),
                (Some("a"), "stages[0].path"),
                (Some("a"), "stages[0].format"),
                (Some("b"), "stages[1].inputs[0]"),
                (Some("b"), "stages[1].query"),
                (Some("b"), "stages[2].id"),
            ]
        );
    }

    #[test]
    fn yaml_is_accepted() {
        let yaml = "kind: job\nstages:\n  - {id: a, type: read, connection: files, path: a.csv, format: csv}\n";
        let (dataflow, json) = parse_document(yaml, Syntax::Yaml, &|_| true).unwrap();
        assert_eq!(dataflow.stages[0].id, "a");
        assert_eq!(json["kind"], "job");
    }
}
