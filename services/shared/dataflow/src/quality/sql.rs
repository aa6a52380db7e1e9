//! The SQL each data quality stage runs as. Names are quoted identifiers and values
//! quoted literals, always; the only SQL a user writes here (a `check`, a blocking
//! key) was vetted as an expression when the document was saved, and the whole
//! query is vetted again, as a SQL stage's is, before it is planned.
use super::{
    Check, Comparison, FieldSteps, MatchSpec, Method, Preference, Step, SurviveSpec, Test,
};
use crate::model::FieldType;

/// `name` as a SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a SQL string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A number as SQL writes it (the checks refuse what is not finite).
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

fn text(column: &str) -> String {
    format!("CAST({column} AS VARCHAR)")
}

/// When `check` fails, as a boolean that is never null.
fn failure(check: &Check) -> String {
    let column = check.field.as_deref().map(ident).unwrap_or_default();
    let value = text(&column);
    let filled = format!("trim({value}) <> ''");
    match &check.test {
        Test::Required => format!("({column} IS NULL OR trim({value}) = '')"),
        Test::Type(FieldType::String) => "false".into(),
        Test::Type(field_type) => {
            let sql_type = match field_type {
                FieldType::Integer => "BIGINT",
                FieldType::Float => "DOUBLE",
                FieldType::Boolean => "BOOLEAN",
                FieldType::Date => "DATE",
                FieldType::Timestamp | FieldType::String => "TIMESTAMP",
            };
            format!("COALESCE({filled} AND TRY_CAST(trim({value}) AS {sql_type}) IS NULL, false)")
        }
        Test::Min(min) => {
            format!(
                "COALESCE(TRY_CAST(trim({value}) AS DOUBLE) < {}, false)",
                number(*min)
            )
        }
        Test::Max(max) => {
            format!(
                "COALESCE(TRY_CAST(trim({value}) AS DOUBLE) > {}, false)",
                number(*max)
            )
        }
        Test::MinLength(n) => format!("COALESCE(character_length({value}) < {n}, false)"),
        Test::MaxLength(n) => format!("COALESCE(character_length({value}) > {n}, false)"),
        Test::Pattern(pattern) => format!(
            "COALESCE({filled} AND NOT regexp_like({value}, {}), false)",
            literal(pattern)
        ),
        Test::OneOf(values) => {
            let listed: Vec<String> = values.iter().map(|v| literal(v)).collect();
            format!(
                "COALESCE({filled} AND {value} NOT IN ({}), false)",
                listed.join(", ")
            )
        }
        // On lines of its own, so that a comment in it ends with it.
        Test::Sql(expression) => format!("COALESCE(NOT (\n{expression}\n), false)"),
    }
}

/// The queries of a `validate` stage over `input`: its valid rows, and its rejects
/// with `reject_reasons` naming every rule each failed.
pub fn validate(input: &str, checks: &[Check]) -> (String, String) {
    let failures: Vec<String> = checks.iter().map(failure).collect();
    let any = failures.join("\n OR ");
    let table = ident(input);
    let valid = format!("SELECT * FROM {table} WHERE NOT (\n{any}\n)");
    let reasons: Vec<String> = checks
        .iter()
        .zip(&failures)
        .map(|(check, failed)| format!("CASE WHEN {failed} THEN {} END", literal(&check.label)))
        .collect();
    let rejects = format!(
        "SELECT *, concat_ws('; ', {}) AS {} FROM {table} WHERE {any}",
        reasons.join(",\n "),
        ident(super::REJECT_REASONS),
    );
    (valid, rejects)
}

/// The query of a `standardize` stage over `input`, whose columns are `columns`
/// (each with whether it holds text), in their order.
pub fn standardize(input: &str, columns: &[(String, bool)], fields: &[FieldSteps]) -> String {
    let mut joins = Vec::new();
    let mut outputs = Vec::new();
    for (name, is_text) in columns {
        let column = format!("t.{}", ident(name));
        let own = fields.iter().find(|f| &f.field == name);
        let chosen = own.or_else(|| fields.iter().find(|f| f.field == "*" && *is_text));
        let Some(chosen) = chosen else {
            outputs.push(format!("{column} AS {}", ident(name)));
            continue;
        };
        let mut value = if *is_text { column } else { text(&column) };
        for step in &chosen.steps {
            value = match step {
                Step::Trim => format!("trim({value})"),
                Step::Lower => format!("lower({value})"),
                Step::Upper => format!("upper({value})"),
                Step::CollapseWhitespace => format!("regexp_replace({value}, '\\s+', ' ', 'g')"),
                Step::RemovePunctuation => {
                    format!("regexp_replace({value}, '[[:punct:]]', '', 'g')")
                }
            };
        }
        if let Some(lookup) = &chosen.lookup {
            let alias = format!("lookup_{}", joins.len());
            joins.push(format!(
                "LEFT JOIN (SELECT {from} AS k, min({to}) AS v FROM {stage} GROUP BY 1) AS {alias} ON {alias}.k = {value}",
                from = text(&ident(&lookup.from)),
                to = text(&ident(&lookup.to)),
                stage = ident(&lookup.stage),
            ));
            value = format!("COALESCE({alias}.v, {value})");
        }
        outputs.push(format!("{value} AS {}", ident(name)));
    }
    format!(
        "SELECT {} FROM {} AS t {}",
        outputs.join(",\n "),
        ident(input),
        joins.join("\n ")
    )
}

/// Names of the similarity columns of a match's pairs, one per comparison.
pub fn similarity_columns(compare: &[Comparison]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in compare {
        let mut name = format!("{}_{}", c.field, c.method.name());
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{}_{}_{n}", c.field, c.method.name());
            n += 1;
        }
        names.push(name);
    }
    names
}

/// The similarity of `field` between records `l` and `r`, from 0 to 1, null when
/// either value is missing.
fn similarity(c: &Comparison) -> String {
    let (l, r) = (
        text(&format!("l.{}", ident(&c.field))),
        text(&format!("r.{}", ident(&c.field))),
    );
    let missing = format!("NULLIF(trim({l}), '') IS NULL OR NULLIF(trim({r}), '') IS NULL");
    match &c.method {
        Method::Exact => {
            format!(
                "CASE WHEN {missing} THEN NULL WHEN trim({l}) = trim({r}) THEN 1.0 ELSE 0.0 END"
            )
        }
        Method::JaroWinkler => format!("jaro_winkler(trim({l}), trim({r}))"),
        Method::Levenshtein => format!("levenshtein_similarity(trim({l}), trim({r}))"),
        Method::DoubleMetaphone => format!(
            "CASE WHEN {missing} THEN NULL WHEN double_metaphone({l}) = double_metaphone({r}) THEN 1.0 ELSE 0.0 END"
        ),
        Method::Numeric { scale } => format!(
            "greatest(0.0, 1.0 - abs(TRY_CAST(trim({l}) AS DOUBLE) - TRY_CAST(trim({r}) AS DOUBLE)) / {})",
            number(*scale)
        ),
        Method::Date { scale_days, format } => format!(
            "greatest(0.0, 1.0 - days_apart(trim({l}), trim({r}), {}) / {})",
            literal(format.as_deref().unwrap_or("")),
            number(*scale_days)
        ),
    }
}

/// The query of a `match` stage's pairs: candidates from the blocking rules, each
/// compared field by field, scored (the weighted mean of the similarities known),
/// and kept from `threshold` up. Within one input each pair is found once
/// (`left_id < right_id`).
pub fn match_pairs(spec: &MatchSpec) -> String {
    let id = ident(&spec.id_field);
    let link_id = ident(spec.link_id_field.as_deref().unwrap_or(&spec.id_field));
    let right_input = spec.link.as_deref().unwrap_or(&spec.input);
    let names = similarity_columns(&spec.compare);
    let similarities: Vec<String> = spec
        .compare
        .iter()
        .zip(&names)
        .map(|(c, name)| format!("{} AS {}", similarity(c), ident(name)))
        .collect();
    let weighted: Vec<String> = spec
        .compare
        .iter()
        .zip(&names)
        .map(|(c, name)| format!("COALESCE({} * {}, 0.0)", number(c.weight), ident(name)))
        .collect();
    let counted: Vec<String> = spec
        .compare
        .iter()
        .zip(&names)
        .map(|(c, name)| {
            format!(
                "CASE WHEN {} IS NULL THEN 0.0 ELSE {} END",
                ident(name),
                number(c.weight)
            )
        })
        .collect();
    format!(
        "WITH keyed_left AS ({left}),\n keyed_right AS ({right}),\n candidates AS ({candidates}),\n \
         compared AS (SELECT c.left_id, c.right_id, {similarities} FROM candidates c \
         JOIN {input} l ON {l_id} = c.left_id JOIN {other} r ON {r_id} = c.right_id),\n \
         scored AS (SELECT *, ({weighted}) / NULLIF({counted}, 0.0) AS score FROM compared)\n \
         SELECT * FROM scored WHERE score >= {threshold}",
        left = keyed(spec, &spec.input, &id),
        right = keyed(spec, right_input, &link_id),
        candidates = candidates(spec).join("\n UNION ALL\n "),
        similarities = similarities.join(",\n "),
        input = ident(&spec.input),
        other = ident(right_input),
        l_id = text(&format!("l.{id}")),
        r_id = text(&format!("r.{link_id}")),
        weighted = weighted.join(" + "),
        counted = counted.join(" + "),
        threshold = number(spec.threshold),
    )
}

/// `input`'s id and every blocking rule's keys. Ids as plain UTF-8, not string
/// views: a view taken from a join's build side shares that side's whole
/// buffers, and every batch of pairs would be counted (and held) as holding
/// them all.
fn keyed(spec: &MatchSpec, input: &str, id: &str) -> String {
    let mut keys = vec![format!("arrow_cast({}, 'Utf8') AS id", text(id))];
    for (r, rule) in spec.blocking.iter().enumerate() {
        for (k, key) in rule.iter().enumerate() {
            keys.push(format!(
                "NULLIF(CAST((\n{key}\n) AS VARCHAR), '') AS k{r}_{k}"
            ));
        }
    }
    format!("SELECT {} FROM {}", keys.join(",\n "), ident(input))
}

/// One query of candidate pairs per blocking rule. Each pair once without a
/// DISTINCT over all of them (an aggregate holding every pair): a rule leaves
/// out the pairs an earlier rule found, as splink does.
fn candidates(spec: &MatchSpec) -> Vec<String> {
    let agree = |r: usize, rule: &Vec<String>| -> String {
        let keys: Vec<String> = (0..rule.len())
            .map(|k| format!("kl.k{r}_{k} = kr.k{r}_{k}"))
            .collect();
        keys.join(" AND ")
    };
    spec.blocking
        .iter()
        .enumerate()
        .map(|(r, rule)| {
            let mut conditions = Vec::new();
            if spec.link.is_none() {
                conditions.push("kl.id < kr.id".to_string());
            }
            for (earlier, before) in spec.blocking.iter().enumerate().take(r) {
                conditions.push(format!("NOT COALESCE({}, false)", agree(earlier, before)));
            }
            let filter = if conditions.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", conditions.join(" AND "))
            };
            format!(
                "SELECT kl.id AS left_id, kr.id AS right_id FROM keyed_left kl JOIN keyed_right kr ON {}{filter}",
                agree(r, rule)
            )
        })
        .collect()
}

/// `input` with the `cluster_id` of each record: from `ids` (a table of `id`,
/// `cluster_id` for every record in a matched pair), else the record's own id.
pub fn clusters(input: &str, id_field: &str, ids: &str) -> String {
    let id = text(&format!("t.{}", ident(id_field)));
    format!(
        "SELECT t.*, COALESCE(c.cluster_id, {id}) AS {cluster} FROM {input} AS t LEFT JOIN {ids} AS c ON c.id = {id}",
        cluster = ident(super::CLUSTER_ID),
        input = ident(input),
        ids = ident(ids),
    )
}

/// The ORDER BY of `prefer` over records of `columns`, ties broken by the
/// columns in order.
fn preference_order(prefer: &[Preference], columns: &[String]) -> String {
    let mut order: Vec<String> = prefer
        .iter()
        .map(|p| match p {
            Preference::MostComplete => {
                let filled: Vec<String> = columns
                    .iter()
                    .map(|c| format!("CASE WHEN {} THEN 0 ELSE 1 END", blank(c)))
                    .collect();
                format!("({}) DESC", filled.join(" + "))
            }
            Preference::Latest(column) => format!("{} DESC NULLS LAST", ident(column)),
            Preference::Source { field, order } => {
                let ranks: Vec<String> = order
                    .iter()
                    .enumerate()
                    .map(|(i, v)| format!("WHEN {} THEN {i}", literal(v)))
                    .collect();
                format!(
                    "CASE {} {} ELSE {} END",
                    text(&ident(field)),
                    ranks.join(" "),
                    order.len()
                )
            }
        })
        .collect();
    order.extend(
        columns
            .iter()
            .map(|c| format!("{} ASC NULLS LAST", text(&ident(c)))),
    );
    order.join(", ")
}

/// Whether column `c` is null or blank.
fn blank(c: &str) -> String {
    format!("NULLIF(trim({}), '') IS NULL", text(&ident(c)))
}

/// The query of a `survive` stage over `input`, whose columns are `columns`.
pub fn survive(spec: &SurviveSpec, columns: &[String]) -> String {
    let cluster = ident(&spec.cluster);
    // Each field of its own: the first value of the cluster neither null nor blank
    // by the field's preferences (blank ones sort last).
    let own: Vec<String> = spec
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "first_value({col}) OVER (PARTITION BY {cluster} ORDER BY CASE WHEN {blank} THEN 1 ELSE 0 END, {order} \
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS survive_field_{i}",
                col = ident(&f.field),
                blank = blank(&f.field),
                order = preference_order(&f.prefer, columns),
            )
        })
        .collect();
    let listed: Vec<String> = columns
        .iter()
        .map(|c| match spec.fields.iter().position(|f| &f.field == c) {
            Some(i) => format!("survive_field_{i} AS {}", ident(c)),
            None => ident(c),
        })
        .collect();
    let extra = if own.is_empty() {
        String::new()
    } else {
        format!(", {}", own.join(", "))
    };
    format!(
        "SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY {cluster} ORDER BY {order}) AS survive_rank{extra} FROM {input}) AS ranked WHERE survive_rank = 1",
        cols = listed.join(", "),
        order = preference_order(&spec.prefer, columns),
        input = ident(&spec.input),
    )
}

#[cfg(test)]
mod tests;
