//! Data quality stages, as the checks leave them: `validate` (rules per field; the
//! valid rows, and the rejects with every failed rule named), `standardize` (text
//! steps and lookups per field), `match` (blocking, comparisons, a score, pairs and
//! clusters) and `survive` (one record per cluster). The executor runs each as SQL
//! that [`sql`] writes from these types, over DataFusion with the similarity
//! functions it registers, so that SQL stages can use them too.
use serde::Serialize;

use crate::model::FieldType;

pub mod sql;

/// The second output of a `validate` stage: its rejects, as `<id>_rejects`.
pub const REJECTS_SUFFIX: &str = "_rejects";
/// The second output of a `match` stage: its input with a `cluster_id`, as
/// `<id>_clusters`.
pub const CLUSTERS_SUFFIX: &str = "_clusters";
/// The column of the rejects that names every rule a row failed.
pub const REJECT_REASONS: &str = "reject_reasons";
/// The column a `match` stage's clusters add.
pub const CLUSTER_ID: &str = "cluster_id";

/// One rule of a `validate` stage, on one field (or, for `check`, on the row).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub field: Option<String>,
    /// How the rejects name it: `age: min 0`, or the rule's own `name`.
    pub label: String,
    pub test: Test,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// Not null, not blank.
    Required,
    /// The text reads as the type (blank and null pass; `required` says otherwise).
    Type(FieldType),
    Min(f64),
    Max(f64),
    MinLength(u64),
    MaxLength(u64),
    /// A regular expression the text must match.
    Pattern(String),
    OneOf(Vec<String>),
    /// A SQL boolean expression over the row; null passes, as a SQL `CHECK` does.
    Sql(String),
}

/// What `standardize` does to one field (`*`: every text field).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldSteps {
    pub field: String,
    pub steps: Vec<Step>,
    pub lookup: Option<Lookup>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Trim,
    Lower,
    Upper,
    CollapseWhitespace,
    RemovePunctuation,
}

impl Step {
    pub fn parse(name: &str) -> Option<Step> {
        Some(match name {
            "trim" => Step::Trim,
            "lower" => Step::Lower,
            "upper" => Step::Upper,
            "collapse_whitespace" => Step::CollapseWhitespace,
            "remove_punctuation" => Step::RemovePunctuation,
            _ => return None,
        })
    }
}

/// Replaces a value found in column `from` of stage `stage` by that row's `to`;
/// values not found stay as they are.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lookup {
    pub stage: String,
    pub from: String,
    pub to: String,
}

/// A `match` stage: candidate pairs from the blocking rules (records sharing every
/// key of one rule), each compared field by field into a score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchSpec {
    pub input: String,
    /// Another stage to link `input` with; `None`: duplicates within `input`.
    pub link: Option<String>,
    /// The column that identifies a record.
    pub id_field: String,
    /// The column that identifies a record of `link` (`id_field` if not given).
    pub link_id_field: Option<String>,
    /// Each rule a list of SQL expressions over one record (`postcode`,
    /// `double_metaphone(surname)`); a pair is a candidate when any rule's keys
    /// are all equal (and not null).
    pub blocking: Vec<Vec<String>>,
    pub compare: Vec<Comparison>,
    /// The lowest score of a pair kept.
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub field: String,
    pub method: Method,
    pub weight: f64,
}

/// How two values of a field compare, as a similarity from 0 to 1 (null when
/// either is missing: the field then counts for nothing in the score).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Exact,
    JaroWinkler,
    /// 1 - edits / the longer length.
    Levenshtein,
    /// Equal Double Metaphone codes.
    DoubleMetaphone,
    /// 1 - |a - b| / scale, at least 0.
    Numeric {
        scale: f64,
    },
    /// 1 - days apart / scale_days, at least 0; dates read with `format` (chrono's,
    /// `%Y%m%d`) or as ISO dates.
    Date {
        scale_days: f64,
        format: Option<String>,
    },
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::JaroWinkler => "jaro_winkler",
            Method::Levenshtein => "levenshtein",
            Method::DoubleMetaphone => "double_metaphone",
            Method::Numeric { .. } => "numeric",
            Method::Date { .. } => "date",
        }
    }
}

/// A `survive` stage: one record of `input` per value of `cluster`, the first
/// by `prefer`; each of `fields` taken from its own best record instead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurviveSpec {
    pub input: String,
    pub cluster: String,
    pub prefer: Vec<Preference>,
    pub fields: Vec<FieldPreference>,
}

/// A field whose value is the cluster's first neither null nor blank by `prefer`
/// (a phone from the latest record that has one, even when the record kept is
/// another).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldPreference {
    pub field: String,
    pub prefer: Vec<Preference>,
}

/// What `survive` prefers, in order, when choosing a cluster's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Preference {
    /// The most fields neither null nor blank.
    MostComplete,
    /// The greatest value of the column (a time, a version).
    Latest(String),
    /// The column's values in this order first.
    Source { field: String, order: Vec<String> },
}
