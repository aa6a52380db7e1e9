//! Trying a connection: a session and a trivial query for PostgreSQL, a listing
//! of the prefix for S3; bounded in time, each failure named in a word.
use std::time::{Duration, Instant};

use futures::StreamExt;
use prism_schemas::v1::{PostgresSpec, S3Spec};

use crate::reach::Reach;
use crate::{Failure, FailureKind};

/// The longest a probe takes, whatever the other side does.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// A probe's result and how long it took.
pub struct Probed {
    pub result: Result<(), Failure>,
    pub latency_ms: u64,
}

async fn timed(work: impl Future<Output = Result<(), Failure>>) -> Probed {
    let started = Instant::now();
    let result = match tokio::time::timeout(PROBE_TIMEOUT, work).await {
        Ok(result) => result,
        Err(_) => Err(Failure::new(FailureKind::Timeout, "no answer within 15 s")),
    };
    Probed {
        result,
        latency_ms: started.elapsed().as_millis() as u64,
    }
}

pub async fn postgres(spec: &PostgresSpec, password: &str, reach: &Reach) -> Probed {
    timed(async {
        let client = crate::postgres::connect(spec, password, reach).await?;
        client
            .simple_query("SELECT 1")
            .await
            .map(drop)
            .map_err(|e| crate::postgres::classify(&e))
    })
    .await
}

pub async fn s3(spec: &S3Spec, access_key_id: &str, secret: &str, reach: &Reach) -> Probed {
    timed(async {
        let store = crate::s3::store(spec, access_key_id, secret, reach).await?;
        let prefix =
            (!spec.prefix.is_empty()).then(|| object_store::path::Path::from(spec.prefix.as_str()));
        let mut listing = store.list(prefix.as_ref());
        match listing.next().await {
            Some(Err(error)) => Err(crate::s3::classify(&error)),
            _ => Ok(()),
        }
    })
    .await
}
