//! What authentication and authorization add to a request, measured against the
//! request itself in the same run: `cargo bench -p prism-gateway --bench auth`.
//!
//! Prints medians (and 99th percentiles) of:
//! - a public request that skips the guard (`GET /healthz`): the router's own cost;
//! - a guarded request, token lookup and permission check included
//!   (`GET /v1/connections/files` with a bearer token), the real path end to end;
//! - the guard's work alone on a warm cache, and on a cold one (every iteration
//!   reads the token, user, roles and overrides from the store, as after a change);
//!
//! and checks on the way that a revoked token is refused at once.
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use prism_auth::{Action, Entity, Permission};
use prism_bus::Bus;
use prism_gateway::auth::{self, bootstrap};
use prism_gateway::{GatewayConfig, app_state, table};
use prism_tests::BusUser;
use prism_tests::{ADMIN_PASSWORD, NatsServer};
use tower::ServiceExt;

const ITERATIONS: usize = 5_000;

fn summary(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

async fn time<F, Fut>(iterations: usize, mut body: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        body().await;
        samples.push(started.elapsed());
    }
    summary(samples)
}

fn request(path: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::empty()).unwrap()
}

/// A gateway in process on a real store and nats-server, signed in as the admin,
/// with one connection to read.
struct Bench {
    _nats: NatsServer,
    _dir: tempfile::TempDir,
    state: std::sync::Arc<prism_gateway::AppState>,
    app: axum::Router,
    token: String,
}

async fn setup() -> Bench {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let store = prism_store::open(&format!("sqlite://{}", dir.path().join("c.db").display()))
        .await
        .unwrap();
    bootstrap::ensure_admin(&store, dir.path(), Some(ADMIN_PASSWORD.into()))
        .await
        .unwrap();
    let bus = Bus::connect_as(
        &nats.url,
        "bench",
        Some((BusUser::Gateway.name(), &nats.login(BusUser::Gateway).1)),
    )
    .await
    .unwrap();
    let state = app_state(&GatewayConfig::default(), store, bus)
        .await
        .unwrap();
    let (app, _) = table(state.clone());
    let login = Request::builder()
        .method("POST")
        .uri("/v1/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(format!(
            r#"{{"user":"admin","password":"{ADMIN_PASSWORD}"}}"#
        )))
        .unwrap();
    let response = app.clone().oneshot(login).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let token = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let put = Request::builder()
        .method("PUT")
        .uri("/v1/connections/files")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(r#"{"kind":"local","root":"/srv/files"}"#))
        .unwrap();
    assert_eq!(app.clone().oneshot(put).await.unwrap().status(), 201);
    Bench {
        _nats: nats,
        _dir: dir,
        state,
        app,
        token,
    }
}

type Figure = (Duration, Duration);

fn print(public: Figure, guarded: Figure, warm: Figure, cold: Figure) {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("per request, {ITERATIONS} iterations (median / p99, µs):");
    println!(
        "  public request, no guard (GET /healthz)     {:>8.1} / {:>8.1}",
        us(public.0),
        us(public.1)
    );
    println!(
        "  guarded request, end to end                 {:>8.1} / {:>8.1}",
        us(guarded.0),
        us(guarded.1)
    );
    println!(
        "  guard alone, warm cache                     {:>8.1} / {:>8.1}",
        us(warm.0),
        us(warm.1)
    );
    println!(
        "  guard alone, cold cache (store reads)       {:>8.1} / {:>8.1}",
        us(cold.0),
        us(cold.1)
    );
    println!(
        "  the guard's share of the guarded request    {:>7.1}%",
        100.0 * warm.0.as_secs_f64() / guarded.0.as_secs_f64()
    );
    println!(
        "  handler alone (guarded - guard)             {:>8.1}",
        us(guarded.0) - us(warm.0)
    );
    println!("revoked token refused at once: yes");
}

#[tokio::main]
async fn main() {
    let Bench {
        _nats,
        _dir,
        state,
        app,
        token,
    } = setup().await;
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move { app.oneshot(req).await.unwrap().status().as_u16() }
    };
    let header = format!("Bearer {token}");
    let wanted = Permission::on(Action::View, Entity::Connections, "files");

    let public = time(ITERATIONS, || async {
        assert_eq!(send(request("/healthz", None)).await, 200)
    })
    .await;
    let guarded = time(ITERATIONS, || async {
        assert_eq!(
            send(request("/v1/connections/files", Some(&token))).await,
            200
        )
    })
    .await;
    let warm = time(ITERATIONS, || async {
        let caller = auth::authenticate(&state, Some(&header)).await.unwrap();
        caller.require(&state, wanted.clone()).await.unwrap();
    })
    .await;
    let mut generation = 1_000_000;
    let cold = time(ITERATIONS / 10, || {
        // As if another gateway changed something: everything is read again.
        generation += 1;
        state.directory.observe(generation);
        async {
            let caller = auth::authenticate(&state, Some(&header)).await.unwrap();
            caller.require(&state, wanted.clone()).await.unwrap();
        }
    })
    .await;

    let logout = Request::builder()
        .method("POST")
        .uri("/v1/auth/logout")
        .header("authorization", &header)
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.clone().oneshot(logout).await.unwrap().status(), 204);
    assert_eq!(
        send(request("/v1/connections/files", Some(&token))).await,
        401,
        "revocation holds"
    );

    print(public, guarded, warm, cold);
}
