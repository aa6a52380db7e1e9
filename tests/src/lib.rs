//! The end-to-end harness: real `nats-server` processes on free ports with their own
//! store directories, and real `prism` processes, all killed and cleaned up on drop
//! so tests run in parallel. Waits are predicates with deadlines, never fixed sleeps.
//!
//! The `prism` binary must be built first (`cargo build -p prism`; the README's test
//! command does it). `PRISM_BIN` and `PRISM_NATS_SERVER` override where the binaries
//! are found.
pub mod bench;
pub mod cluster;
pub mod data_servers;
mod http;
pub mod jobs;
mod nats;
pub mod otlp;
mod platform;
mod process;
pub mod tally;
mod wait;

pub use http::Api;
pub use nats::{NatsServer, connect_as};
pub use platform::{Services, ServicesSpec, Standalone};
pub use prism_bus::access::BusUser;
pub use process::{Prism, prism_bin};
pub use wait::wait_until;

use std::path::Path;

/// The first admin's password in every platform the harness starts
/// (`PRISM_ADMIN_PASSWORD`); [`Api::as_admin`] signs in with it.
pub const ADMIN_PASSWORD: &str = "prism-test-admin-password";

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Writes `people.csv` (4 people, 2 of them 18 or older) into `dir`.
pub fn write_people_csv(dir: &Path) {
    std::fs::write(
        dir.join("people.csv"),
        "name,age\nann,34\nbob,12\ncid,18\ndee,17\n",
    )
    .expect("write people.csv");
}

/// The README's example dataflow, with an optional delay (ms) before the write so
/// that a test can act while the job runs.
pub fn adults_dataflow(connection: &str, output: &str, delay_ms: u64) -> serde_json::Value {
    let mut stages = vec![
        serde_json::json!({"id":"people","type":"read","connection":connection,"path":"people.csv","format":"csv"}),
        serde_json::json!({"id":"adults","type":"sql","inputs":["people"],"query":"SELECT name, age FROM people WHERE age >= 18 ORDER BY name"}),
    ];
    if delay_ms > 0 {
        stages.push(serde_json::json!({"id":"pause","type":"delay","milliseconds":delay_ms}));
    }
    stages.push(serde_json::json!({"id":"out","type":"write","input":"adults","connection":connection,"path":output,"format":"csv"}));
    serde_json::json!({ "kind": "job", "stages": stages })
}

/// A dataflow that fails when run: it reads `missing.csv`, which is not there.
pub fn failing_dataflow(connection: &str) -> serde_json::Value {
    serde_json::json!({"kind":"job","stages":[
        {"id":"people","type":"read","connection":connection,"path":"missing.csv","format":"csv"},
        {"id":"out","type":"write","input":"people","connection":connection,"path":"out/never.csv","format":"csv"}]})
}

/// Visible files (not hidden staging files) directly in `dir`, sorted.
pub fn visible_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every file in `dir`, hidden ones included.
pub fn all_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
