//! Parameters of a read `query` bound as SQL literals. `COPY (SELECT …)` takes no
//! bind parameters, so each `${name}` becomes a string literal, placed by the
//! tokenizer: only where a placeholder token stands, never inside a string,
//! identifier or comment, so no value can end a literal and start SQL.
use std::collections::BTreeMap;

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::engine::*;

/// `query` with each `${name}` replaced by its value as a literal (its type left
/// to PostgreSQL to infer, as for an untyped constant).
pub fn bind_parameters(
    query: &str,
    values: &BTreeMap<String, String>,
) -> Result<String, EngineError> {
    let (text, names) = prism_dataflow::sql::to_placeholders(query);
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, &text)
        .tokenize()
        .map_err(|e| dataflow_error(format!("query: {e}")))?;
    let mut bound = String::with_capacity(text.len());
    for token in tokens {
        match &token {
            Token::Placeholder(placeholder) => {
                let index: usize = placeholder
                    .strip_prefix("$p")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| {
                        dataflow_error(format!("query: unknown placeholder {placeholder}"))
                    })?;
                let name = &names[index - 1];
                let value = values.get(name).map_or("", String::as_str);
                if value.contains('\0') {
                    return Err(dataflow_error(format!("parameter {name} holds a NUL byte")));
                }
                bound.push_str(&super::read::quote_literal(value));
            }
            other => bound.push_str(&other.to_string()),
        }
    }
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_literals_that_cannot_escape() {
        let values = BTreeMap::from([("who".to_string(), "x' OR '1'='1".to_string())]);
        let bound =
            bind_parameters("SELECT * FROM t WHERE name = ${who} -- ${who}", &values).unwrap();
        assert_eq!(
            bound,
            "SELECT * FROM t WHERE name = 'x'' OR ''1''=''1' -- $p1"
        );
        let dollar = bind_parameters("SELECT $$ ${who} $$, ${who}", &values).unwrap();
        assert_eq!(dollar, "SELECT $$ $p1 $$, 'x'' OR ''1''=''1'");
    }
}
