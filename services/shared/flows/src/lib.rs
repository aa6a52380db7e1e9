//! Process flows: jobs chained by transitions. A flow is a versioned document of
//! activities (a job, a child flow, an approval, a wait, a `foreach`, and the ends
//! `succeed` and `fail`) joined by transitions that are taken on an outcome, on a
//! condition over parameters and earlier outcomes, or "otherwise". This crate is
//! the document's one definition: its model, its checks (every problem named by
//! activity and field), the conditions' language, and how a run moves on
//! ([`run::step`]), shared by the gateway that saves documents and starts runs and
//! the schedulers that advance them.
#![forbid(unsafe_code)]
pub mod condition;
pub mod events;
pub mod model;
pub mod run;
pub mod validate;

pub use model::{Activity, ActivitySpec, Flow, InputMode, On, Transition};
pub use validate::{Problem, Syntax, parse_document};
