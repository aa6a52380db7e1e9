//! The gateway in process, on a real embedded store and a real nats-server, driven
//! through `tower::ServiceExt::oneshot`, with the first admin bootstrapped.
#![allow(dead_code)]

pub mod world;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use prism_bus::Bus;
use prism_gateway::{AppState, GatewayConfig, Route, app_state, auth, table};
use prism_store::Store;
use prism_tests::BusUser;
use prism_tests::{ADMIN_PASSWORD, NatsServer};
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct Gateway {
    pub app: Router,
    pub routes: Vec<Route>,
    pub state: Arc<AppState>,
    pub store: Store,
    pub bus: Bus,
    pub nats: NatsServer,
    pub dir: tempfile::TempDir,
}

impl Gateway {
    pub async fn start() -> Gateway {
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().unwrap();
        let store_url = format!("sqlite://{}", dir.path().join("config.db").display());
        let store = prism_store::open(&store_url).await.unwrap();
        auth::bootstrap::ensure_admin(&store, dir.path(), Some(ADMIN_PASSWORD.into()))
            .await
            .unwrap();
        let bus = Bus::connect_as(
            &nats.url,
            "router-test",
            Some((BusUser::Gateway.name(), &nats.login(BusUser::Gateway).1)),
        )
        .await
        .unwrap();
        let key_file = dir.path().join("master.key");
        prism_secrets::generate_key_file(&key_file).unwrap();
        let config = GatewayConfig {
            // The test's own directory, and the one the refusal cases name.
            file_roots: vec![dir.path().canonicalize().unwrap(), "/srv".into()],
            keyring: Some(Arc::new(prism_secrets::Keyring::open(&key_file).unwrap())),
            // Saved, never reached: gateway tests try no connection.
            connection_hosts: prism_connections::Reach::parse("db.internal, 127.0.0.1").unwrap(),
            ..GatewayConfig::default()
        };
        let state = app_state(&config, store.clone(), bus.clone())
            .await
            .unwrap();
        let (app, routes) = table(state.clone());
        Gateway {
            app,
            routes,
            state,
            store,
            bus,
            nats,
            dir,
        }
    }

    /// Sends a request with `token` (if any) and answers status and JSON body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let (status, _, body) = self.send_with_headers(method, path, token, body).await;
        (status, body)
    }

    /// [`Gateway::send`]'s status alone.
    pub async fn status(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> u16 {
        self.send(method, path, token, body).await.0
    }

    /// [`Gateway::send`], with the answer's headers.
    pub async fn send_with_headers(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, HeaderMap, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            // As the console sends it: without effect on bearer calls, and what a
            // browser session's changes need (see `auth::session`).
            .header("x-prism-console", "1");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.answer(request.body(Body::from(body.to_string())).unwrap())
            .await
    }

    /// Serves `request` and reads the answer's status, headers and JSON body.
    async fn answer(&self, request: Request<Body>) -> (u16, HeaderMap, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// A request with any content type and body, answering status, headers and body.
    pub async fn send_typed(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, HeaderMap, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(body))
            .unwrap();
        self.answer(request).await
    }

    pub async fn login(&self, user: &str, password: &str) -> String {
        let body = json!({ "user": user, "password": password }).to_string();
        let (status, answer) = self.send("POST", "/v1/auth/login", None, &body).await;
        assert_eq!(status, 200, "login as {user}: {answer}");
        answer["token"].as_str().unwrap().to_string()
    }

    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// Creates `user` with `roles` (as admin) and signs in as them.
    pub async fn user_with_roles(&self, admin: &str, user: &str, roles: &[&str]) -> String {
        let password = format!("{user}-password-long");
        let body = json!({ "password": password, "roles": roles }).to_string();
        let (status, answer) = self
            .send("PUT", &format!("/v1/users/{user}"), Some(admin), &body)
            .await;
        assert!(status == 201 || status == 200, "create {user}: {answer}");
        self.login(user, &password).await
    }
}
