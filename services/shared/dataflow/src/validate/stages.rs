//! Checking each stage of a document: its type's fields, its inputs (earlier
//! stages that produce rows), its paths and its SQL.
use crate::model::{Format, Stage, StageSpec, TableSource, WriteMode};
use crate::parameters;
use crate::paths;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

use super::{Checker, Known, MAX_DELAY_MS, is_identifier};

mod quality;

/// Connections a file stage may name, and those a table stage may.
const FILE_KINDS: &[&str] = &["local", "s3"];
const DATABASE_KINDS: &[&str] = &["postgres"];

/// What a stage produces, for checking the inputs of later stages.
#[derive(Clone, Copy, PartialEq)]
enum Produces {
    Rows,
    Nothing,
}

pub(super) fn check_stages(
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
            // A second output, named after the stage, that later stages may read.
            let second = match &spec {
                StageSpec::Validate { .. } => Some(crate::quality::REJECTS_SUFFIX),
                StageSpec::Match(m) if m.link.is_none() => Some(crate::quality::CLUSTERS_SUFFIX),
                _ => None,
            };
            if let Some(suffix) = second {
                let named = format!("{id}{suffix}");
                if seen.contains_key(&named) {
                    checker.problem(
                        Some(&id),
                        format!("{at}.id"),
                        format!("its second output {named:?} is taken by an earlier stage"),
                    );
                }
                seen.insert(named, Produces::Rows);
            }
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

    /// The connection named, which must be of one of `kinds` when its kind is known.
    fn connection(&mut self, kinds: &[&str]) -> Option<String> {
        let name = self.string("connection")?;
        match (self.checker.connection)(&name) {
            Known::Missing => {
                self.problem("connection", format!("no connection named {name:?}"));
                None
            }
            Known::Kind(kind) if !kinds.contains(&kind.as_str()) => {
                let wanted = kinds.join("\" or \"");
                let message = format!(
                    "connection {name:?} is a {kind} connection; this stage needs a \"{wanted}\" one"
                );
                self.problem("connection", message);
                None
            }
            _ => Some(name),
        }
    }

    /// `table` of a database stage: `name` or `schema.name`, each part an identifier.
    fn table_name(&mut self, field: &str) -> Option<String> {
        let name = self.string(field)?;
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() > 2 || !parts.iter().all(|p| is_identifier(p)) {
            self.problem(
                field,
                "a table name: `name` or `schema.name`, letters, digits and '_'",
            );
            return None;
        }
        Some(name)
    }

    fn path(&mut self) -> Option<String> {
        let path = self.string("path")?;
        // Placeholders are checked again after substitution, by the executor.
        if let Err(message) = paths::resolve(std::path::Path::new("/"), &path) {
            self.problem("path", message.to_string());
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
            "validate" => self.validate_stage(),
            "standardize" => self.standardize_stage(),
            "match" => self.match_stage(),
            "survive" => self.survive_stage(),
            _ => {
                self.problem(
                    "type",
                    "required: read, sql, write, delay, input, output, validate, standardize, match or survive",
                );
                None
            }
        }
    }

    fn read_stage(&mut self) -> Option<(StageSpec, Produces)> {
        if self.fields.contains_key("table") || self.fields.contains_key("query") {
            return self.read_table_stage();
        }
        self.only_fields(&["connection", "path", "format", "text"]);
        let (connection, path, format) = (self.connection(FILE_KINDS), self.path(), self.format());
        let text = match self.fields.get("text") {
            None => false,
            Some(Value::Bool(text)) if !*text || format == Some(Format::Csv) => *text,
            Some(_) => {
                self.problem("text", "true or false, and true only for csv");
                return None;
            }
        };
        Some((
            StageSpec::Read {
                connection: connection?,
                path: path?,
                format: format?,
                text,
            },
            Produces::Rows,
        ))
    }

    /// A database read: exactly one of `table` and `query` (a single SELECT).
    fn read_table_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&["connection", "table", "query"]);
        let connection = self.connection(DATABASE_KINDS);
        let source = match (
            self.fields.contains_key("table"),
            self.fields.contains_key("query"),
        ) {
            (true, true) => {
                self.problem("query", "give `table` or `query`, not both");
                None
            }
            (true, false) => self.table_name("table").map(TableSource::Table),
            _ => {
                let query = self.string("query");
                if let Some(Err(problem)) = query.as_deref().map(crate::sql::check) {
                    self.problem("query", problem.to_string());
                    return None;
                }
                query.map(TableSource::Query)
            }
        };
        Some((
            StageSpec::ReadTable {
                connection: connection?,
                source: source?,
            },
            Produces::Rows,
        ))
    }

    fn sql_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&["inputs", "query"]);
        let inputs = self.inputs();
        let query = self.string("query");
        if let Some(Err(problem)) = query.as_deref().map(crate::sql::check) {
            self.problem("query", problem.to_string());
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
        if self.fields.contains_key("table") {
            return self.write_table_stage();
        }
        self.only_fields(&["input", "connection", "path", "format"]);
        let input = self.string("input");
        let input_ok = input
            .as_deref()
            .is_some_and(|name| self.input("input", name));
        let (connection, path, format) = (self.connection(FILE_KINDS), self.path(), self.format());
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

    /// A database write: `table`, `mode` (append by default) and, for an
    /// upsert, the `keys` rows match on.
    fn write_table_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&["input", "connection", "table", "mode", "keys"]);
        let input = self.string("input");
        let input_ok = input
            .as_deref()
            .is_some_and(|name| self.input("input", name));
        let connection = self.connection(DATABASE_KINDS);
        let table = self.table_name("table");
        let mode = match self.fields.get("mode") {
            None => Some(WriteMode::Append),
            Some(value) => {
                let mode = value.as_str().and_then(WriteMode::parse);
                if mode.is_none() {
                    self.problem("mode", "\"append\", \"replace\" or \"upsert\"");
                }
                mode
            }
        };
        let keys = self.keys(mode);
        if !input_ok {
            return None;
        }
        Some((
            StageSpec::WriteTable {
                input: input?,
                connection: connection?,
                table: table?,
                mode: mode?,
                keys: keys?,
            },
            Produces::Nothing,
        ))
    }

    /// An upsert's key columns: one or more identifiers, each once; no other mode
    /// takes keys.
    fn keys(&mut self, mode: Option<WriteMode>) -> Option<Vec<String>> {
        let given = self.fields.get("keys");
        if mode != Some(WriteMode::Upsert) {
            if given.is_some() {
                self.problem("keys", "only an upsert takes keys");
                return None;
            }
            return Some(Vec::new());
        }
        let keys: Option<Vec<String>> = given.and_then(Value::as_array).and_then(|list| {
            list.iter()
                .map(|k| k.as_str().filter(|k| is_identifier(k)).map(str::to_string))
                .collect()
        });
        match keys {
            Some(keys)
                if !keys.is_empty()
                    && keys.len() <= 32
                    && keys.iter().collect::<HashSet<_>>().len() == keys.len() =>
            {
                Some(keys)
            }
            _ => {
                self.problem(
                    "keys",
                    "required for an upsert: 1 to 32 distinct column names",
                );
                None
            }
        }
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
