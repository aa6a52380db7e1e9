//! The DataFusion toolkit that jobs and services share: what a run may touch and
//! take ([`Confinement`], memory pools), tables read and held within budgets, and
//! the error type of a run.
mod confinement;
mod errors;
pub mod memory;
mod tables;

pub use confinement::*;
pub use errors::*;
pub(crate) use tables::*;
