//! Data connections that reach other systems: PostgreSQL servers and
//! S3-compatible buckets. What gateways and executors share of them: where they
//! may reach ([`reach`]), how a session or a store is opened ([`postgres`],
//! [`s3`]), and how a connection is tried ([`probe`]).
#![forbid(unsafe_code)]

pub mod postgres;
pub mod probe;
pub mod reach;
pub mod s3;

use std::net::SocketAddr;

pub use reach::{Reach, ReachError};

/// The kinds of connection, as the API and records name them.
pub const LOCAL: &str = "local";
pub const POSTGRES: &str = "postgres";
pub const S3: &str = "s3";
pub const KINDS: &[&str] = &[LOCAL, POSTGRES, S3];

/// Why a connection could not be used, in a word a program can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    AuthFailed,
    Unreachable,
    Tls,
    Timeout,
    NotFound,
    /// Outside the hosts connections may reach.
    Forbidden,
    Error,
}

impl FailureKind {
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::AuthFailed => "auth_failed",
            FailureKind::Unreachable => "unreachable",
            FailureKind::Tls => "tls",
            FailureKind::Timeout => "timeout",
            FailureKind::NotFound => "not_found",
            FailureKind::Forbidden => "forbidden_host",
            FailureKind::Error => "error",
        }
    }
}

/// A failure and what the other side said.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {detail}", kind.name())]
pub struct Failure {
    pub kind: FailureKind,
    pub detail: String,
}

impl Failure {
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Failure {
        Failure {
            kind,
            detail: detail.into(),
        }
    }
}

impl From<ReachError> for Failure {
    fn from(error: ReachError) -> Failure {
        Failure::new(FailureKind::Forbidden, error.to_string())
    }
}

/// The first address of `host` that the reach list admits, after checking that it
/// admits the name and every address the name resolves to (one bad address is
/// enough to refuse: DNS may answer differently next time).
pub async fn resolve_checked(host: &str, port: u16, reach: &Reach) -> Result<SocketAddr, Failure> {
    reach.check_host(host)?;
    let lookup = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::lookup_host((host.trim_start_matches('[').trim_end_matches(']'), port)),
    );
    let addresses: Vec<SocketAddr> = match lookup.await {
        Ok(Ok(found)) => found.collect(),
        Ok(Err(e)) => {
            return Err(Failure::new(
                FailureKind::Unreachable,
                format!("{host}: {e}"),
            ));
        }
        Err(_) => {
            return Err(Failure::new(
                FailureKind::Timeout,
                format!("{host}: no DNS answer within 5 s"),
            ));
        }
    };
    for address in &addresses {
        reach.check_resolved(host, address.ip())?;
    }
    addresses
        .first()
        .copied()
        .ok_or_else(|| Failure::new(FailureKind::Unreachable, format!("{host}: no address")))
}
