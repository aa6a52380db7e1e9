//! Writes a history of finished jobs straight into a configuration database that no
//! process has open yet, for the console's test of a big history (its jobs view
//! must show the first page of 100,000 jobs in under a second). The records are
//! the gateway's own (`records::jobs::put`, indexes included), created over the
//! past thirty days, spread over a few dataflows and every final status.
//!
//!   cargo run -p prism-tests --bin seed-jobs -- sqlite://<data dir>/config.db 100000
use std::time::{SystemTime, UNIX_EPOCH};

use prism_schemas::v1::{JobRecord, JobState};
use prism_store::records::jobs;

/// Jobs written per transaction.
const BATCH: usize = 2_000;
const DATAFLOWS: [&str; 4] = ["nightly_load", "rollup", "customers", "orders"];

fn job(n: usize, count: usize, now_ms: i64) -> JobRecord {
    let span_ms = 30 * 24 * 3600 * 1000_i64;
    let created_at_ms = now_ms - span_ms + span_ms * n as i64 / count.max(1) as i64;
    let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        (created_at_ms / 1000) as u64,
        ((created_at_ms % 1000) * 1_000_000) as u32 + n as u32 % 1_000_000,
    ));
    let state = match n % 10 {
        0 => JobState::Failed,
        1 => JobState::Cancelled,
        _ => JobState::Succeeded,
    };
    JobRecord {
        id: id.to_string(),
        dataflow: DATAFLOWS[n % DATAFLOWS.len()].into(),
        dataflow_version: 1,
        state: state as i32,
        attempt: 1,
        created_at_ms,
        started_at_ms: created_at_ms + 40,
        finished_at_ms: created_at_ms + 900,
        rows_read: (n % 5000) as u64,
        rows_written: (n % 3000) as u64,
        error: if state == JobState::Failed {
            "stage load: the file is missing".into()
        } else {
            String::new()
        },
        submitted_by: "seed".into(),
        executor: "seed".into(),
        ..JobRecord::default()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: seed-jobs <store url> [count]")?;
    let count: usize = args.next().map_or(Ok(100_000), |c| c.parse())?;
    let store = prism_store::open(&url).await?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let started = std::time::Instant::now();
    for first in (0..count).step_by(BATCH) {
        let last = (first + BATCH).min(count);
        store
            .transact(|tx| async move {
                for n in first..last {
                    jobs::put(&tx, &job(n, count, now_ms)).await?;
                }
                Ok(())
            })
            .await?;
    }
    println!(
        "{count} jobs written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
