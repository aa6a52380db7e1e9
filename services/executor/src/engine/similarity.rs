//! Similarity functions, registered in every session the executor makes (jobs,
//! previews, services), so that SQL stages can use them as `match` stages do:
//!
//! - `jaro_winkler(a, b)` and `levenshtein_similarity(a, b)`: from 0 to 1
//!   (`strsim`); null when either is null or empty;
//! - `double_metaphone(a)`: the primary Double Metaphone code (`rphonetic`);
//! - `days_apart(a, b, format)`: whole days between two dates read with `format`
//!   (chrono's, `%Y%m%d`; empty: ISO `2024-01-31`), null when either is unreadable.
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// What a function answers for one row.
enum Answer {
    Number(Option<f64>),
    Text(Option<String>),
}

#[derive(Debug)]
struct TextFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    apply: fn(&[Option<&str>]) -> Answer,
}

// A function is its name: DataFusion compares functions to deduplicate plans.
impl PartialEq for TextFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for TextFunction {}

impl std::hash::Hash for TextFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for TextFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let columns: Vec<ArrayRef> = args
            .args
            .into_iter()
            .map(|a| cast(&a.into_array(rows)?, &DataType::Utf8).map_err(DataFusionError::from))
            .collect::<Result<_>>()?;
        let texts: Vec<&StringArray> = columns
            .iter()
            .map(|c| {
                c.as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| DataFusionError::Internal("not text after a cast".into()))
            })
            .collect::<Result<_>>()?;
        let row = |i: usize| -> Vec<Option<&str>> {
            texts
                .iter()
                .map(|t| (!t.is_null(i)).then(|| t.value(i)))
                .collect()
        };
        let out: ArrayRef = match self.returns {
            DataType::Float64 => Arc::new(
                (0..rows)
                    .map(|i| match (self.apply)(&row(i)) {
                        Answer::Number(n) => n,
                        Answer::Text(_) => None,
                    })
                    .collect::<Float64Array>(),
            ),
            _ => Arc::new(
                (0..rows)
                    .map(|i| match (self.apply)(&row(i)) {
                        Answer::Text(t) => t,
                        Answer::Number(_) => None,
                    })
                    .collect::<StringArray>(),
            ),
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// Both values, when neither is null or empty.
fn pair<'a>(values: &[Option<&'a str>]) -> Option<(&'a str, &'a str)> {
    match values {
        [Some(a), Some(b), ..] if !a.is_empty() && !b.is_empty() => Some((a, b)),
        _ => None,
    }
}

fn jaro_winkler(values: &[Option<&str>]) -> Answer {
    Answer::Number(pair(values).map(|(a, b)| strsim::jaro_winkler(a, b)))
}

fn levenshtein_similarity(values: &[Option<&str>]) -> Answer {
    Answer::Number(pair(values).map(|(a, b)| strsim::normalized_levenshtein(a, b)))
}

static METAPHONE: LazyLock<rphonetic::DoubleMetaphone> =
    LazyLock::new(rphonetic::DoubleMetaphone::default);

fn double_metaphone(values: &[Option<&str>]) -> Answer {
    use rphonetic::Encoder;
    let code = values
        .first()
        .copied()
        .flatten()
        .filter(|v| !v.trim().is_empty())
        .map(|v| METAPHONE.encode(v));
    Answer::Text(code)
}

fn days_apart(values: &[Option<&str>]) -> Answer {
    let format = values.get(2).copied().flatten().unwrap_or("");
    let date = |text: &str| {
        if format.is_empty() {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
        } else {
            chrono::NaiveDate::parse_from_str(text, format).ok()
        }
    };
    let apart = pair(values).and_then(|(a, b)| Some((date(a)? - date(b)?).num_days().abs() as f64));
    Answer::Number(apart)
}

fn function(
    name: &'static str,
    arity: usize,
    returns: DataType,
    apply: fn(&[Option<&str>]) -> Answer,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(TextFunction {
        name,
        signature: Signature::string(arity, Volatility::Immutable),
        returns,
        apply,
    })
}

/// Registers every similarity function in `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(function("jaro_winkler", 2, DataType::Float64, jaro_winkler));
    ctx.register_udf(function(
        "levenshtein_similarity",
        2,
        DataType::Float64,
        levenshtein_similarity,
    ));
    ctx.register_udf(function(
        "double_metaphone",
        1,
        DataType::Utf8,
        double_metaphone,
    ));
    ctx.register_udf(function("days_apart", 3, DataType::Float64, days_apart));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn similarities_answer_in_sql() {
        let ctx = SessionContext::new();
        register(&ctx);
        let frame = ctx
            .sql(
                "SELECT jaro_winkler('martha', 'marhta') AS jw, levenshtein_similarity('kitten', 'sitting') AS lev, \
                 double_metaphone('Smith') AS dm1, double_metaphone('Schmidt') AS dm2, \
                 jaro_winkler('', 'x') AS empty, days_apart('19990219', '19990301', '%Y%m%d') AS days, \
                 days_apart('1999-02-19', 'nonsense', '') AS unreadable",
            )
            .await
            .unwrap();
        let batches = frame.collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(text.contains("0.961"), "{text}");
        assert!(text.contains("0.571"), "{text}");
        assert!(text.contains("| SM0 "), "{text}");
        assert!(text.contains("| XMT "), "{text}");
        assert!(text.contains("| 10.0 "), "{text}");
    }
}
