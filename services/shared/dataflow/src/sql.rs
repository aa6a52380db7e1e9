//! SQL stages are queries and nothing else, with parameters bound as values.
//!
//! Checked when a dataflow is saved and again by the executor before it plans a
//! query (which also runs DataFusion with DDL, DML and statements disallowed):
//! one statement, a query (`SELECT`, `WITH`, `VALUES`), bounded in size, operator
//! count and nesting, so that planning can neither write anything nor recurse
//! without bound.
use std::collections::BTreeMap;

use sqlparser::ast::Statement;
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::parameters;

pub const MAX_QUERY_BYTES: usize = 32 * 1024;
/// Binary and unary operators (`+`, `=`, `AND`, …) in one query.
pub const MAX_OPERATORS: usize = 1_000;
/// Parentheses and subqueries within each other.
pub const MAX_NESTING: usize = 64;

/// `query` with every `${name}` replaced by a named placeholder (`$p1`, `$p2`, …;
/// one per distinct name), and the names in placeholder order. The job's values are
/// then bound to the placeholders: a value is always a literal, never SQL.
pub fn to_placeholders(query: &str) -> (String, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    for name in parameters::referenced(query) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let placeholders: BTreeMap<String, String> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), format!("$p{}", i + 1)))
        .collect();
    (parameters::substitute(query, &placeholders), names)
}

/// Why a SQL stage's query is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    #[error("a query is at most {MAX_QUERY_BYTES} bytes")]
    TooLong,
    #[error("write ${{name}} without quotes: it stands for a value, bound as a literal")]
    QuotedPlaceholder,
    #[error("not valid SQL: {0}")]
    Syntax(String),
    #[error("the query is empty")]
    Empty,
    #[error("only a query (SELECT, WITH, VALUES) may run in a SQL stage, not `{0}`")]
    NotAQuery(String),
    #[error("one query per SQL stage")]
    Several,
    #[error("the query has {0} operators; at most {MAX_OPERATORS} are allowed")]
    TooManyOperators(usize),
    #[error("the query nests {0} levels deep; at most {MAX_NESTING} are allowed")]
    TooDeep(usize),
}

/// Why `query` (as written, with `${name}` placeholders) is not an acceptable SQL
/// stage, if it is not.
pub fn check(query: &str) -> Result<(), SqlError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(SqlError::TooLong);
    }
    if query.contains("'${") || query.contains("\"${") {
        return Err(SqlError::QuotedPlaceholder);
    }
    let (text, _) = to_placeholders(query);
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, &text)
        .tokenize()
        .map_err(|e| SqlError::Syntax(e.to_string()))?;
    check_shape(&tokens)?;
    let statements = Parser::new(&dialect)
        .with_recursion_limit(MAX_NESTING)
        .with_tokens(tokens)
        .parse_statements()
        .map_err(|e| SqlError::Syntax(e.to_string()))?;
    match statements.as_slice() {
        [Statement::Query(_)] => Ok(()),
        [] => Err(SqlError::Empty),
        [other] => Err(SqlError::NotAQuery(first_words(&other.to_string()))),
        _ => Err(SqlError::Several),
    }
}

/// Operator count and nesting, from the tokens alone (no recursion).
fn check_shape(tokens: &[Token]) -> Result<(), SqlError> {
    let (mut operators, mut depth, mut deepest) = (0usize, 0usize, 0usize);
    for token in tokens {
        match token {
            Token::LParen | Token::LBracket => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
            Token::Word(word)
                if matches!(word.keyword, Keyword::AND | Keyword::OR | Keyword::NOT) =>
            {
                operators += 1
            }
            Token::Whitespace(_)
            | Token::Word(_)
            | Token::Number(..)
            | Token::Comma
            | Token::Period => {}
            Token::SemiColon | Token::EOF | Token::Placeholder(_) => {}
            token if is_literal(token) => {}
            _ => operators += 1,
        }
    }
    if operators > MAX_OPERATORS {
        return Err(SqlError::TooManyOperators(operators));
    }
    if deepest > MAX_NESTING {
        return Err(SqlError::TooDeep(deepest));
    }
    Ok(())
}

fn is_literal(token: &Token) -> bool {
    matches!(
        token,
        Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::DollarQuotedString(_)
    )
}

fn first_words(statement: &str) -> String {
    statement
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_queries_pass() {
        assert!(check("SELECT name FROM people WHERE age >= ${min}").is_ok());
        assert!(check("WITH a AS (SELECT 1 AS x) SELECT x FROM a").is_ok());
        assert!(check("VALUES (1), (2)").is_ok());
        for refused in [
            "COPY (SELECT * FROM people) TO '/tmp/x.csv' STORED AS CSV",
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            "INSERT INTO people VALUES ('x', 1)",
            "SET datafusion.execution.batch_size = 1",
            "DROP TABLE people",
            "SELECT 1; SELECT 2",
            "SELECT name FROM people WHERE name = '${who}'",
        ] {
            assert!(check(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn size_operators_and_nesting_are_bounded() {
        let long_chain = format!("SELECT {}", vec!["1"; 30_000].join(" + "));
        assert!(check(&long_chain).is_err());
        let chain = format!("SELECT {}", vec!["1"; 900].join(" + "));
        assert!(check(&chain).is_ok());
        let nested = format!("SELECT {}1{}", "(".repeat(200), ")".repeat(200));
        assert!(matches!(check(&nested), Err(SqlError::TooDeep(_))));
    }

    #[test]
    fn parameters_become_named_placeholders() {
        let (text, names) =
            to_placeholders("SELECT * FROM t WHERE a = ${x} AND b = ${y} OR c = ${x}");
        assert_eq!(text, "SELECT * FROM t WHERE a = $p1 AND b = $p2 OR c = $p1");
        assert_eq!(names, ["x", "y"]);
    }
}
