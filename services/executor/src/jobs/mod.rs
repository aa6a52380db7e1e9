//! Batch jobs: a delivery from the work queue ([`delivery`]: claim, run, commit,
//! acknowledge, on the attempt fence), the run of its dataflow ([`run`]), its
//! outputs staged until committed ([`staging`]) and written by [`sink`], each
//! stage's statistics ([`meter`]) and the job's own log ([`log`]).
pub mod delivery;
pub mod log;
pub mod meter;
pub mod outages;
pub mod run;
pub mod sink;
pub mod staging;

pub use run::*;
pub use staging::*;
