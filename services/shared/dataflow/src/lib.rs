//! Dataflow documents: the model ([`model`]), parsing with validation that reports
//! each problem by stage and field ([`validate`]), parameter substitution
//! ([`parameters`]) and the path rule that keeps every file inside its connection
//! ([`paths`]). No engine here: the gateway validates without DataFusion, and the
//! executor compiles the model to DataFusion plans.
#![forbid(unsafe_code)]
pub mod fields;
pub mod model;
pub mod parameters;
pub mod paths;
pub mod quality;
pub mod shape;
pub mod sql;
pub mod validate;

pub use model::{Dataflow, Format, Kind, Stage, StageSpec};
pub use validate::{Problem, parse_document};
