//! The DataFusion toolkit that jobs and services share: what a run may touch and
//! take ([`Confinement`], memory pools), tables read and held within budgets,
//! the connections that reach other systems ([`remote`]: PostgreSQL in
//! [`postgres`], S3 objects in [`objects`]), and the error type of a run.
mod confined;
mod confinement;
mod errors;
pub mod memory;
pub mod objects;
pub mod postgres;
pub mod remote;
pub mod similarity;
mod tables;

pub(crate) use confined::read_beneath;
pub use confinement::*;
pub use errors::*;
pub(crate) use tables::*;
