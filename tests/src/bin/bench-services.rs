//! Benchmark: the latency of a one-row lookup service through the gateway, against
//! the floor of this architecture, measured in the same run on the same machine: a
//! raw axum handler that does a raw NATS request/reply to an echo responder on the
//! same nats-server. p50/p99 at 1 and at 32 requests in flight, and requests/s at
//! 32, side by side with their ratios.
//!
//!   cargo build -p prism && cargo run -p prism-tests --bin bench-services [requests]
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use futures::StreamExt;
use prism_tests::{BusUser, Standalone, free_port, wait_until};
use serde_json::json;

struct Figures {
    p50_ms: f64,
    p99_ms: f64,
    per_second: f64,
}

/// `requests` POSTs of `body` to `url`, `in_flight` at a time.
async fn load(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &str,
    requests: usize,
    in_flight: usize,
) -> Figures {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..in_flight).map(|_| {
        let (client, url, body, next) = (
            client.clone(),
            url.to_string(),
            body.to_string(),
            next.clone(),
        );
        let token = token.map(str::to_string);
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                let mut request = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone());
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                let sent = Instant::now();
                let response = request.send().await.expect("request");
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.expect("body");
                latencies.push(sent.elapsed());
            }
            latencies
        })
    });
    let mut latencies: Vec<Duration> = futures::future::join_all(workers)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |p: f64| {
        latencies[((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    Figures {
        p50_ms: at(0.50).as_secs_f64() * 1000.0,
        p99_ms: at(0.99).as_secs_f64() * 1000.0,
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
    }
}

/// The floor: an axum handler forwarding the body as a NATS request to an echo.
async fn raw_floor(nats: async_nats::Client) -> String {
    let mut echoes = nats
        .queue_subscribe("bench.echo", "echo".into())
        .await
        .unwrap();
    let responder = nats.clone();
    tokio::spawn(async move {
        while let Some(message) = echoes.next().await {
            if let Some(reply) = message.reply {
                let _ = responder.publish(reply, message.payload).await;
            }
        }
    });
    let app = axum::Router::new().route(
        "/echo",
        axum::routing::post(move |body: Bytes| {
            let nats = nats.clone();
            async move {
                nats.request("bench.echo", body)
                    .await
                    .map(|m| m.payload)
                    .unwrap_or_default()
            }
        }),
    );
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://127.0.0.1:{port}/echo")
}

#[tokio::main]
async fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    // Logs at the default level, as deployed (the test harness's own is debug).
    let platform = Standalone::start_with(&[("PRISM_LOG", "info".into())]).await;
    std::fs::write(
        platform.files.join("cities.csv"),
        "code,city\nB1,Berlin\nP2,Paris\n",
    )
    .unwrap();
    platform.files_connection().await;
    let lookup = json!({"kind":"service","stages":[
        {"id":"input","type":"input","fields":[{"name":"code","type":"string","required":true}]},
        {"id":"cities","type":"read","connection":"files","path":"cities.csv","format":"csv"},
        {"id":"found","type":"sql","inputs":["input","cities"],"query":"SELECT c.city FROM input i JOIN cities c ON c.code = i.code"},
        {"id":"out","type":"output","input":"found"}]});
    assert_eq!(
        platform.api.put("/v1/dataflows/lookup", &lookup).await.0,
        201
    );
    let expose = json!({"dataflow":"lookup","max_inflight":1000});
    assert_eq!(
        platform.api.put("/v1/services/lookup", &expose).await.0,
        201
    );
    let body = json!({"rows":[{"code":"B1"}]}).to_string();
    wait_until("the service answers", Duration::from_secs(30), || async {
        (platform
            .api
            .post(
                "/v1/services/lookup/invoke",
                &json!({"rows":[{"code":"B1"}]}),
            )
            .await
            .0
            == 200)
            .then_some(())
    })
    .await;
    let floor = raw_floor(platform.nats_as(BusUser::Admin).await).await;
    let client = reqwest::Client::new();
    let service = format!("{}/v1/services/lookup/invoke", platform.api.base);
    let token = platform.api.token.clone();
    // Warm both paths.
    load(&client, &service, token.as_deref(), &body, 100, 4).await;
    load(&client, &floor, None, &body, 100, 4).await;
    println!("one-row lookup service vs raw axum + NATS echo, {requests} requests per run");
    println!(
        "{:<34}{:>12}{:>12}{:>10}",
        "", "service", "raw floor", "ratio"
    );
    for in_flight in [1, 32] {
        let n = if in_flight == 1 {
            requests / 4
        } else {
            requests
        };
        let s = load(&client, &service, token.as_deref(), &body, n, in_flight).await;
        let f = load(&client, &floor, None, &body, n, in_flight).await;
        println!(
            "{:<34}{:>12.2}{:>12.2}{:>10.1}",
            format!("p50 ms, {in_flight} in flight"),
            s.p50_ms,
            f.p50_ms,
            s.p50_ms / f.p50_ms
        );
        println!(
            "{:<34}{:>12.2}{:>12.2}{:>10.1}",
            format!("p99 ms, {in_flight} in flight"),
            s.p99_ms,
            f.p99_ms,
            s.p99_ms / f.p99_ms
        );
        if in_flight == 32 {
            println!(
                "{:<34}{:>12.0}{:>12.0}{:>10.2}",
                "requests/s, 32 in flight",
                s.per_second,
                f.per_second,
                s.per_second / f.per_second
            );
        }
    }
}
