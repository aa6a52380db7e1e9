//! Nodes report how far their clock is off the NATS server's: a process run with a
//! clock five seconds ahead (libfaketime) is listed with that offset, unhealthy, and
//! says so in its log; a synchronized one is healthy.
use std::path::Path;
use std::time::Duration;

use prism_tests::{Standalone, wait_until};
use serde_json::Value;

const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

async fn the_node(platform: &Standalone) -> Value {
    wait_until("the node listed", Duration::from_secs(30), || async {
        let (status, nodes) = platform.api.get("/v1/cluster/nodes").await;
        (status == 200)
            .then(|| nodes["nodes"][0].clone())
            .filter(|n| n["clock_offset_ms"].is_i64())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_with_a_skewed_clock_is_unhealthy_and_says_so() {
    assert!(
        Path::new(FAKETIME).exists(),
        "{FAKETIME} missing: Debian package libfaketime (./dev.sh test installs it)"
    );
    // nats-server is a static Go binary: the preload skews prism, not the server.
    let skewed = Standalone::start_with(&[
        ("LD_PRELOAD", FAKETIME.into()),
        ("FAKETIME", "+5s".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
    ])
    .await;
    let node = the_node(&skewed).await;
    let offset = node["clock_offset_ms"].as_i64().unwrap();
    assert!((4000..6000).contains(&offset), "{node}");
    assert_eq!(node["health"], "unhealthy", "{node}");
    wait_until(
        "the warning in the log",
        Duration::from_secs(10),
        || async {
            skewed
                .prism
                .log_text()
                .contains("clock is more than 1000 ms off")
                .then_some(())
        },
    )
    .await;

    let synchronized = Standalone::start().await;
    let node = the_node(&synchronized).await;
    assert!(
        node["clock_offset_ms"].as_i64().unwrap().abs() < 1000,
        "{node}"
    );
    assert_eq!(node["health"], "healthy", "{node}");
}
