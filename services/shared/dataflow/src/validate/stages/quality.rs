//! Checking the data quality stages: `validate`, `standardize`, `match` and
//! `survive`, each field named in its problems like every other stage's.
use serde_json::{Map, Value};

use super::{Produces, StageChecker};
use crate::model::{FieldType, StageSpec};
use crate::quality::{
    Check, Comparison, FieldPreference, FieldSteps, Lookup, MatchSpec, Method, Preference, Step,
    SurviveSpec, Test,
};

/// Rules of one `validate` stage, comparisons of one `match`, and so on: a bound
/// on the SQL a stage becomes.
const MAX_RULES: usize = 50;
const MAX_ITEMS: usize = 1_000;
const MAX_TEXT: usize = 1_000;

impl StageChecker<'_, '_> {
    /// A column name: letters, digits and '_' (it is quoted in the SQL anyway).
    fn column(&mut self, field: &str, value: Option<&Value>) -> Option<String> {
        match value.and_then(Value::as_str) {
            Some(name) if !name.is_empty() && name.len() <= 128 && !name.contains('"') => {
                Some(name.to_string())
            }
            _ => {
                self.problem(field, "required: a column name");
                None
            }
        }
    }

    /// A SQL expression over one row, vetted as a query's select list is.
    fn expression(&mut self, field: &str, value: Option<&Value>) -> Option<String> {
        let Some(text) = value
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
        else {
            self.problem(field, "required: a SQL expression");
            return None;
        };
        if text.len() > MAX_TEXT {
            self.problem(field, format!("at most {MAX_TEXT} bytes"));
            return None;
        }
        if let Err(problem) = crate::sql::check(&format!("SELECT (\n{text}\n) AS value")) {
            self.problem(field, format!("not a SQL expression: {problem}"));
            return None;
        }
        Some(text.to_string())
    }

    fn number(&mut self, field: &str, value: &Value) -> Option<f64> {
        match value.as_f64().filter(|n| n.is_finite()) {
            Some(n) => Some(n),
            None => {
                self.problem(field, "a number");
                None
            }
        }
    }

    fn list<'v>(&mut self, field: &str, value: Option<&'v Value>) -> Option<&'v Vec<Value>> {
        match value.and_then(Value::as_array) {
            Some(list) if !list.is_empty() && list.len() <= MAX_RULES => Some(list),
            _ => {
                self.problem(field, format!("required: a list of 1 to {MAX_RULES}"));
                None
            }
        }
    }

    /// `input` naming an earlier stage with rows.
    fn input_named(&mut self, field: &str) -> Option<String> {
        let input = self.string(field)?;
        self.input(field, &input).then_some(input)
    }

    pub(super) fn validate_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&["input", "rules"]);
        let input = self.input_named("input");
        let rules = self.list("rules", self.fields.get("rules"))?.clone();
        let mut checks = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            let Some(rule) = rule.as_object() else {
                self.problem(&at, "a rule is an object");
                continue;
            };
            checks.extend(self.rule(&at, rule));
        }
        if checks.len() > MAX_RULES {
            self.problem("rules", format!("at most {MAX_RULES} checks in all"));
            return None;
        }
        Some((
            StageSpec::Validate {
                input: input?,
                checks,
            },
            Produces::Rows,
        ))
    }

    /// The checks one rule holds: each of its keys is one, named in the rejects.
    fn rule(&mut self, at: &str, rule: &Map<String, Value>) -> Vec<Check> {
        const KEYS: &[&str] = &[
            "field",
            "name",
            "required",
            "type",
            "min",
            "max",
            "min_length",
            "max_length",
            "pattern",
            "one_of",
            "check",
        ];
        for key in rule.keys().filter(|k| !KEYS.contains(&k.as_str())) {
            self.problem(&format!("{at}.{key}"), "unknown field for a rule");
        }
        let field = match rule.get("field") {
            None => None,
            some => self.column(&format!("{at}.field"), some),
        };
        let name = rule.get("name").and_then(Value::as_str).map(str::to_string);
        let mut tests = Vec::new();
        // In this order, whatever the document's: the rejects name them so.
        for key in KEYS {
            let Some(value) = rule.get(*key) else {
                continue;
            };
            let here = format!("{at}.{key}");
            let test = match *key {
                "required" => match value.as_bool() {
                    Some(true) => Some(Test::Required),
                    Some(false) => continue,
                    None => {
                        self.problem(&here, "true or false");
                        None
                    }
                },
                "type" => {
                    let parsed = value.as_str().and_then(FieldType::parse);
                    if parsed.is_none() {
                        self.problem(&here, "string, integer, float, boolean, date or timestamp");
                    }
                    parsed.map(Test::Type)
                }
                "min" => self.number(&here, value).map(Test::Min),
                "max" => self.number(&here, value).map(Test::Max),
                "min_length" | "max_length" => match value.as_u64() {
                    Some(n) if *key == "min_length" => Some(Test::MinLength(n)),
                    Some(n) => Some(Test::MaxLength(n)),
                    None => {
                        self.problem(&here, "a whole number");
                        None
                    }
                },
                "pattern" => self.pattern(&here, value),
                "one_of" => self.one_of(&here, value),
                "check" => self.expression(&here, Some(value)).map(Test::Sql),
                _ => continue,
            };
            if let Some(test) = test {
                tests.push(test);
            }
        }
        if tests.is_empty() {
            self.problem(at, "a rule needs a test: required, type, min, max, min_length, max_length, pattern, one_of or check");
        }
        let needs_field = tests.iter().any(|t| !matches!(t, Test::Sql(_)));
        if needs_field && field.is_none() && rule.get("field").is_none() {
            self.problem(&format!("{at}.field"), "required for every test but check");
        }
        tests
            .into_iter()
            .map(|test| Check {
                label: name
                    .clone()
                    .unwrap_or_else(|| label(field.as_deref(), &test)),
                field: field.clone(),
                test,
            })
            .collect()
    }

    fn pattern(&mut self, field: &str, value: &Value) -> Option<Test> {
        let pattern = value
            .as_str()
            .filter(|p| !p.is_empty() && p.len() <= MAX_TEXT);
        let Some(pattern) = pattern else {
            self.problem(
                field,
                format!("a regular expression of 1 to {MAX_TEXT} bytes"),
            );
            return None;
        };
        match regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
        {
            Ok(_) => Some(Test::Pattern(pattern.to_string())),
            Err(e) => {
                self.problem(field, format!("not a regular expression: {e}"));
                None
            }
        }
    }

    fn one_of(&mut self, field: &str, value: &Value) -> Option<Test> {
        let values: Option<Vec<String>> = value.as_array().and_then(|list| {
            list.iter()
                .map(|v| match v {
                    Value::String(s) if s.len() <= MAX_TEXT => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        });
        match values {
            Some(values) if !values.is_empty() && values.len() <= MAX_ITEMS => {
                Some(Test::OneOf(values))
            }
            _ => {
                self.problem(field, format!("a list of 1 to {MAX_ITEMS} values"));
                None
            }
        }
    }

    pub(super) fn standardize_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&["input", "fields"]);
        let input = self.input_named("input");
        let listed = self.list("fields", self.fields.get("fields"))?.clone();
        let mut fields = Vec::new();
        for (i, entry) in listed.iter().enumerate() {
            let at = format!("fields[{i}]");
            let Some(entry) = entry.as_object() else {
                self.problem(&at, "an object: {field, steps, lookup}");
                continue;
            };
            if let Some(steps) = self.field_steps(&at, entry) {
                fields.push(steps);
            }
        }
        Some((
            StageSpec::Standardize {
                input: input?,
                fields,
            },
            Produces::Rows,
        ))
    }

    fn field_steps(&mut self, at: &str, entry: &Map<String, Value>) -> Option<FieldSteps> {
        for key in entry
            .keys()
            .filter(|k| !["field", "steps", "lookup"].contains(&k.as_str()))
        {
            self.problem(&format!("{at}.{key}"), "unknown field");
        }
        let field = self.column(&format!("{at}.field"), entry.get("field"))?;
        let mut steps = Vec::new();
        for (j, step) in entry
            .get("steps")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            match step.as_str().and_then(Step::parse) {
                Some(step) => steps.push(step),
                None => self.problem(
                    &format!("{at}.steps[{j}]"),
                    "trim, lower, upper, collapse_whitespace or remove_punctuation",
                ),
            }
        }
        let lookup = match entry.get("lookup") {
            None => None,
            Some(lookup) => Some(self.lookup(&format!("{at}.lookup"), lookup)?),
        };
        if steps.is_empty() && lookup.is_none() {
            self.problem(at, "give steps, a lookup, or both");
            return None;
        }
        if field == "*" && lookup.is_some() {
            self.problem(
                &format!("{at}.lookup"),
                "a lookup is for one named field, not *",
            );
            return None;
        }
        Some(FieldSteps {
            field,
            steps,
            lookup,
        })
    }

    fn lookup(&mut self, at: &str, value: &Value) -> Option<Lookup> {
        let Some(lookup) = value.as_object() else {
            self.problem(at, "an object: {stage, from, to}");
            return None;
        };
        let stage = lookup.get("stage").and_then(Value::as_str).unwrap_or("");
        let known = self.input(&format!("{at}.stage"), stage);
        let from = self.column(&format!("{at}.from"), lookup.get("from"));
        let to = self.column(&format!("{at}.to"), lookup.get("to"));
        known.then_some(())?;
        Some(Lookup {
            stage: stage.to_string(),
            from: from?,
            to: to?,
        })
    }

    pub(super) fn match_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&[
            "input",
            "link",
            "id_field",
            "link_id_field",
            "blocking",
            "compare",
            "threshold",
        ]);
        let input = self.input_named("input");
        let link = match self.fields.get("link") {
            None => None,
            Some(_) => Some(self.input_named("link")?),
        };
        let id_field = self.column("id_field", self.fields.get("id_field"));
        let link_id_field = match self.fields.get("link_id_field") {
            None => None,
            Some(_) if link.is_none() => {
                self.problem("link_id_field", "only a match with `link` takes it");
                return None;
            }
            some => Some(self.column("link_id_field", some)?),
        };
        let blocking = self.blocking();
        let compare = self.comparisons();
        let threshold = match self.fields.get("threshold") {
            Some(value) => self
                .number("threshold", value)
                .filter(|t| (0.0..=1.0).contains(t)),
            None => None,
        };
        if threshold.is_none() {
            self.problem("threshold", "required: a score from 0 to 1");
        }
        let spec = MatchSpec {
            input: input?,
            link,
            id_field: id_field?,
            link_id_field,
            blocking: blocking?,
            compare: compare?,
            threshold: threshold?,
        };
        Some((StageSpec::Match(spec), Produces::Rows))
    }

    fn blocking(&mut self) -> Option<Vec<Vec<String>>> {
        let rules = self.list("blocking", self.fields.get("blocking"))?.clone();
        let mut out = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let keys = match rule {
                Value::String(_) => vec![rule.clone()],
                Value::Array(keys) if !keys.is_empty() && keys.len() <= 8 => keys.clone(),
                _ => {
                    self.problem(&format!("blocking[{i}]"), "a key, or a list of 1 to 8 keys");
                    return None;
                }
            };
            let mut parsed = Vec::new();
            for (k, key) in keys.iter().enumerate() {
                parsed.push(self.expression(&format!("blocking[{i}][{k}]"), Some(key))?);
            }
            out.push(parsed);
        }
        Some(out)
    }

    fn comparisons(&mut self) -> Option<Vec<Comparison>> {
        let listed = self.list("compare", self.fields.get("compare"))?.clone();
        let mut out = Vec::new();
        for (i, entry) in listed.iter().enumerate() {
            let at = format!("compare[{i}]");
            let Some(entry) = entry.as_object() else {
                self.problem(&at, "an object: {field, method, weight}");
                continue;
            };
            for key in entry.keys().filter(|k| {
                !["field", "method", "weight", "scale", "scale_days", "format"]
                    .contains(&k.as_str())
            }) {
                self.problem(&format!("{at}.{key}"), "unknown field");
            }
            let field = self.column(&format!("{at}.field"), entry.get("field"));
            let method = self.method(&at, entry);
            let weight = match entry.get("weight") {
                None => Some(1.0),
                Some(value) => self
                    .number(&format!("{at}.weight"), value)
                    .filter(|w| *w > 0.0 && *w <= 1000.0),
            };
            if weight.is_none() {
                self.problem(&format!("{at}.weight"), "a weight above 0, at most 1000");
            }
            if let (Some(field), Some(method), Some(weight)) = (field, method, weight) {
                out.push(Comparison {
                    field,
                    method,
                    weight,
                });
            }
        }
        (out.len() == listed.len()).then_some(out)
    }

    fn method(&mut self, at: &str, entry: &Map<String, Value>) -> Option<Method> {
        let positive = |v: Option<&Value>| {
            v.and_then(Value::as_f64)
                .filter(|n| n.is_finite() && *n > 0.0)
        };
        let method = match entry.get("method").and_then(Value::as_str).unwrap_or("") {
            "exact" => Method::Exact,
            "jaro_winkler" => Method::JaroWinkler,
            "levenshtein" => Method::Levenshtein,
            "double_metaphone" => Method::DoubleMetaphone,
            "numeric" => match positive(entry.get("scale")) {
                Some(scale) => Method::Numeric { scale },
                None => {
                    self.problem(
                        &format!("{at}.scale"),
                        "required: the difference that scores 0, above 0",
                    );
                    return None;
                }
            },
            "date" => match positive(entry.get("scale_days")) {
                Some(scale_days) => Method::Date {
                    scale_days,
                    format: entry
                        .get("format")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                },
                None => {
                    self.problem(
                        &format!("{at}.scale_days"),
                        "required: the days apart that score 0, above 0",
                    );
                    return None;
                }
            },
            _ => {
                self.problem(
                    &format!("{at}.method"),
                    "exact, jaro_winkler, levenshtein, double_metaphone, numeric or date",
                );
                return None;
            }
        };
        Some(method)
    }

    pub(super) fn survive_stage(&mut self) -> Option<(StageSpec, Produces)> {
        self.only_fields(&["input", "cluster", "prefer", "fields"]);
        let input = self.input_named("input");
        let cluster = match self.fields.get("cluster") {
            None => Some(crate::quality::CLUSTER_ID.to_string()),
            some => self.column("cluster", some),
        };
        let prefer = self.preferences("prefer", self.fields.get("prefer"));
        let mut fields = Vec::new();
        if let Some(listed) = self.fields.get("fields") {
            let listed = self.list("fields", Some(listed))?.clone();
            for (i, entry) in listed.iter().enumerate() {
                let at = format!("fields[{i}]");
                let field = self.column(&format!("{at}.field"), entry.get("field"));
                let prefer = self.preferences(&format!("{at}.prefer"), entry.get("prefer"));
                if let (Some(field), Some(prefer)) = (field, prefer) {
                    fields.push(FieldPreference { field, prefer });
                }
            }
        }
        let spec = SurviveSpec {
            input: input?,
            cluster: cluster?,
            prefer: prefer?,
            fields,
        };
        Some((StageSpec::Survive(spec), Produces::Rows))
    }

    /// A list of preferences: `most_complete`, `{latest: column}`,
    /// `{source: column, order: [...]}`.
    fn preferences(&mut self, at: &str, value: Option<&Value>) -> Option<Vec<Preference>> {
        let listed = self.list(at, value)?.clone();
        let mut prefer = Vec::new();
        for (i, entry) in listed.iter().enumerate() {
            let here = format!("{at}[{i}]");
            let parsed = match entry {
                Value::String(s) if s == "most_complete" => Some(Preference::MostComplete),
                Value::Object(o) if o.contains_key("latest") => self
                    .column(&format!("{here}.latest"), o.get("latest"))
                    .map(Preference::Latest),
                Value::Object(o) if o.contains_key("source") => {
                    let field = self.column(&format!("{here}.source"), o.get("source"));
                    let order: Vec<String> = o
                        .get("order")
                        .and_then(Value::as_array)
                        .map(|l| {
                            l.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    if order.is_empty() {
                        self.problem(
                            &format!("{here}.order"),
                            "required: the sources, most preferred first",
                        );
                    }
                    field
                        .filter(|_| !order.is_empty())
                        .map(|field| Preference::Source { field, order })
                }
                _ => {
                    self.problem(
                        &here,
                        "\"most_complete\", {latest: column} or {source: column, order: [...]}",
                    );
                    None
                }
            };
            prefer.extend(parsed);
        }
        (prefer.len() == listed.len()).then_some(prefer)
    }
}

/// How the rejects name a check nobody named: `age: min 0`.
fn label(field: Option<&str>, test: &Test) -> String {
    let what = match test {
        Test::Required => "required".to_string(),
        Test::Type(t) => format!(
            "type {}",
            serde_json::to_value(t)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("")
        ),
        Test::Min(n) => format!("min {n}"),
        Test::Max(n) => format!("max {n}"),
        Test::MinLength(n) => format!("min_length {n}"),
        Test::MaxLength(n) => format!("max_length {n}"),
        Test::Pattern(p) => format!("pattern {p}"),
        Test::OneOf(_) => "one_of".to_string(),
        Test::Sql(e) => format!("check {e}"),
    };
    match field {
        Some(field) => format!("{field}: {what}"),
        None => what,
    }
}
