//! The bus contract of Prism on NATS JetStream: subjects, streams, consumers and
//! buckets ([`subjects`], [`topology`]), and publishing with the standard headers
//! ([`Bus`]), and the attempt fence that is the truth about a queued or running job
//! ([`attempts`]). Outside consumers rely on these names: change them only with a new
//! contract version.
#![forbid(unsafe_code)]
pub mod access;
pub mod attempts;
pub mod error;
pub mod headers;
pub mod nodes;
pub mod service_call;
pub mod settings;
pub mod subjects;
pub mod topology;

mod client;

pub use client::{AckLoss, Bus, decode, envelope};
pub use error::{Error, Result};
