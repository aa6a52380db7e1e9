//! Which of DataFusion's filters PostgreSQL can apply exactly, written as SQL.
//! Only what means the same on both sides is pushed: comparisons of numbers,
//! dates and booleans, equality and patterns on text (ordering text depends on
//! the server's collation, so DataFusion keeps those), IS [NOT] NULL, IN, NOT,
//! AND, OR. Anything else stays with DataFusion, which is always correct.
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Like, Operator};

use super::read::{quote_ident, quote_literal};
use super::types::Column;

/// `expr` as a PostgreSQL condition over `t`, or `None` if it is not pushed.
pub(crate) fn condition(expr: &Expr, columns: &[Column]) -> Option<String> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => binary(left, *op, right, columns),
        Expr::Not(inner) => Some(format!("(NOT {})", condition(inner, columns)?)),
        Expr::IsNull(inner) => Some(format!("({} IS NULL)", column(inner, columns)?.0)),
        Expr::IsNotNull(inner) => Some(format!("({} IS NOT NULL)", column(inner, columns)?.0)),
        Expr::InList(list) => {
            let (name, data_type) = column(&list.expr, columns)?;
            if list.list.is_empty() || list.list.len() > 1000 {
                return None;
            }
            let values = list
                .list
                .iter()
                .map(|v| literal(v, data_type))
                .collect::<Option<Vec<_>>>()?;
            let not = if list.negated { " NOT" } else { "" };
            Some(format!("({name}{not} IN ({}))", values.join(", ")))
        }
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) => {
            let (name, data_type) = column(expr, columns)?;
            if !orderable(data_type) {
                return None;
            }
            let not = if *negated { " NOT" } else { "" };
            let (low, high) = (literal(low, data_type)?, literal(high, data_type)?);
            Some(format!("({name}{not} BETWEEN {low} AND {high})"))
        }
        Expr::Like(Like {
            negated,
            expr,
            pattern,
            escape_char: None,
            case_insensitive,
        }) => {
            let (name, data_type) = column(expr, columns)?;
            if *data_type != DataType::Utf8 {
                return None;
            }
            let pattern = literal(pattern, data_type)?;
            let not = if *negated { " NOT" } else { "" };
            let like = if *case_insensitive { "ILIKE" } else { "LIKE" };
            Some(format!("({name}{not} {like} {pattern})"))
        }
        _ => None,
    }
}

fn binary(left: &Expr, op: Operator, right: &Expr, columns: &[Column]) -> Option<String> {
    if matches!(op, Operator::And | Operator::Or) {
        let (l, r) = (condition(left, columns)?, condition(right, columns)?);
        let word = if op == Operator::And { "AND" } else { "OR" };
        return Some(format!("({l} {word} {r})"));
    }
    let symbol = match op {
        Operator::Eq => "=",
        Operator::NotEq => "<>",
        Operator::Lt => "<",
        Operator::LtEq => "<=",
        Operator::Gt => ">",
        Operator::GtEq => ">=",
        _ => return None,
    };
    // Column on either side, a literal on the other.
    let (name, data_type, value, symbol) = match (column(left, columns), column(right, columns)) {
        (Some((name, data_type)), None) => (name, data_type, literal(right, data_type)?, symbol),
        (None, Some((name, data_type))) => {
            (name, data_type, literal(left, data_type)?, flip(symbol))
        }
        _ => return None,
    };
    let equality = matches!(symbol, "=" | "<>");
    if !equality && !orderable(data_type) {
        return None;
    }
    Some(format!("({name} {symbol} {value})"))
}

fn flip(symbol: &'static str) -> &'static str {
    match symbol {
        "<" => ">",
        "<=" => ">=",
        ">" => "<",
        ">=" => "<=",
        other => other,
    }
}

/// Types whose order is the same in PostgreSQL and in DataFusion.
fn orderable(data_type: &DataType) -> bool {
    data_type.is_integer() || matches!(data_type, DataType::Date32 | DataType::Timestamp(..))
}

/// A column of the table (by name), quoted, with its Arrow type.
fn column<'c>(expr: &Expr, columns: &'c [Column]) -> Option<(String, &'c DataType)> {
    let Expr::Column(col) = expr else { return None };
    let found = columns.iter().find(|c| c.name == col.name)?;
    // Pushed only where the column is read as PostgreSQL stores it.
    if matches!(
        found.data_type,
        DataType::Boolean | DataType::Timestamp(_, Some(_))
    ) {
        return None;
    }
    Some((format!("t.{}", quote_ident(&found.name)), &found.data_type))
}

/// A literal of the column's own type, as SQL; `None` for anything else (a cast
/// DataFusion would make is not guessed at).
fn literal(expr: &Expr, data_type: &DataType) -> Option<String> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    let integer = data_type.is_integer();
    match value {
        ScalarValue::Int8(Some(v)) if integer => Some(v.to_string()),
        ScalarValue::Int16(Some(v)) if integer => Some(v.to_string()),
        ScalarValue::Int32(Some(v)) if integer => Some(v.to_string()),
        ScalarValue::Int64(Some(v)) if integer => Some(v.to_string()),
        ScalarValue::UInt8(Some(v)) if integer => Some(v.to_string()),
        ScalarValue::UInt16(Some(v)) if integer => Some(v.to_string()),
        ScalarValue::UInt32(Some(v)) if integer => Some(v.to_string()),
        ScalarValue::UInt64(Some(v)) if integer => Some(v.to_string()),
        ScalarValue::Utf8(Some(v))
        | ScalarValue::LargeUtf8(Some(v))
        | ScalarValue::Utf8View(Some(v))
            if *data_type == DataType::Utf8 && !v.contains('\0') =>
        {
            Some(quote_literal(v))
        }
        ScalarValue::Date32(Some(_)) if *data_type == DataType::Date32 => {
            Some(format!("DATE {}", quote_literal(&value.to_string())))
        }
        _ => None,
    }
}
