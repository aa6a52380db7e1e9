//! Benchmark: what a process flow costs over the jobs it runs. A flow of 10 no-op
//! job activities in sequence, beside the same 10 jobs submitted back to back by a
//! client that waits for each one's terminal event before the next; rounds
//! interleaved, the median ratio printed. Both sides are timed from the bus: the
//! flow's `succeeded` event, the last job's terminal event.
//!
//!   cargo build --release -p prism -p prism-tests
//!   PRISM_BIN=target/release/prism target/release/bench-flows [rounds]
use std::time::{Duration, Instant};

use futures::StreamExt;
use prism_tests::bench::{TERMINAL, event, row, seen_at, submit, watch_events};
use prism_tests::{BusUser, Standalone};
use serde_json::json;

const STEPS: usize = 10;

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let platform = Standalone::start().await;
    let api = &platform.api;
    let noop = json!({"kind":"job","stages":[{"id":"wait","type":"delay","milliseconds":0}]});
    assert_eq!(api.put("/v1/dataflows/noop", &noop).await.0, 201);
    let activities: Vec<_> = (0..STEPS)
        .map(|i| json!({"id": format!("s{i}"), "type": "job", "dataflow": "noop"}))
        .chain([json!({"id": "done", "type": "succeed"})])
        .collect();
    let transitions: Vec<_> = (0..STEPS)
        .map(|i| {
            let to = if i + 1 < STEPS {
                format!("s{}", i + 1)
            } else {
                "done".into()
            };
            json!({"from": format!("s{i}"), "to": to, "on": "succeeded"})
        })
        .collect();
    let flow = json!({"activities": activities, "transitions": transitions});
    assert_eq!(api.put("/v1/processflows/chain", &flow).await.0, 201);

    let nats = platform.nats_as(BusUser::Events).await;
    let seen = watch_events(nats.clone()).await;
    let mut flow_ends = nats
        .subscribe("prism.events.flow.*.succeeded")
        .await
        .unwrap();
    let body = json!({"dataflow": "noop"});
    // Warm both paths once.
    for id in [submit(api, &body).await] {
        event(&seen, &id, TERMINAL).await;
    }

    println!(
        "{STEPS} no-op jobs in sequence: a process flow beside a client, {rounds} rounds interleaved"
    );
    let (mut flows, mut clients, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let started = Instant::now();
        for _ in 0..STEPS {
            let id = submit(api, &body).await;
            // Polled each millisecond, so the client is not slowed by its wait.
            while seen_at(&seen, &id, TERMINAL).is_none() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let client = started.elapsed();

        let started = Instant::now();
        let (status, run) = api.post("/v1/processflows/chain/runs", &json!({})).await;
        assert_eq!(status, 201, "{run}");
        let id = run["id"].as_str().unwrap().to_string();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(120), flow_ends.next())
                .await
                .expect("the flow run ended")
                .unwrap();
            if message.subject.as_str() == format!("prism.events.flow.{id}.succeeded") {
                break;
            }
        }
        let flow = started.elapsed();
        let ratio = flow.as_secs_f64() / client.as_secs_f64();
        println!(
            "  round {round}: flow {:>8.1} ms, client {:>8.1} ms, ratio {ratio:.2}",
            ms(flow),
            ms(client)
        );
        flows.push(flow);
        clients.push(client);
        ratios.push(ratio);
    }
    flows.sort();
    clients.sort();
    ratios.sort_by(f64::total_cmp);
    let median = |n: usize| n / 2;
    row(
        "",
        "prism flow".into(),
        "client, back to back".into(),
        "ratio".into(),
    );
    row(
        &format!("{STEPS} no-op jobs in sequence, median of {rounds}"),
        format!("{:.1} ms", ms(flows[median(rounds)])),
        format!("{:.1} ms", ms(clients[median(rounds)])),
        format!("{:.2}", ratios[median(rounds)]),
    );
    row(
        "per activity, over the job itself",
        format!(
            "{:.1} ms",
            (ms(flows[median(rounds)]) - ms(clients[median(rounds)])) / STEPS as f64
        ),
        String::new(),
        String::new(),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
