use std::time::Duration;

use serde_json::Value;

use crate::wait_until;

/// A small client of the HTTP API that returns status and JSON body, signed in as
/// one user once [`Api::as_user`] or [`Api::as_admin`] gave it a token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: reqwest::Client,
    pub token: Option<String>,
}

impl Api {
    pub fn new(base: impl Into<String>) -> Api {
        Api {
            base: base.into(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            token: None,
        }
    }

    /// The same gateway with `token` (or none).
    pub fn with_token(&self, token: Option<&str>) -> Api {
        Api {
            token: token.map(str::to_string),
            ..self.clone()
        }
    }

    /// `POST /v1/auth/login`.
    pub async fn login(&self, user: &str, password: &str) -> (u16, Value) {
        let body = serde_json::json!({ "user": user, "password": password });
        self.with_token(None).post("/v1/auth/login", &body).await
    }

    /// Signed in as `user`; panics if the login fails.
    pub async fn as_user(&self, user: &str, password: &str) -> Api {
        let (status, body) = self.login(user, password).await;
        assert_eq!(status, 200, "login as {user}: {body}");
        self.with_token(body["token"].as_str())
    }

    /// Signed in as the first admin, with the harness's password.
    pub async fn as_admin(&self) -> Api {
        self.as_user("admin", crate::ADMIN_PASSWORD).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                (status, serde_json::from_str(&text).unwrap_or(Value::Null))
            }
            // No answer at all (e.g. the process is down): status 0.
            Err(_) => (0, Value::Null),
        }
    }

    /// A GET whose answer is text (e.g. `/metrics`).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.client.delete(format!("{}{path}", self.base)))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.client.put(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub async fn put_raw(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let request = self
            .client
            .put(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body.to_string());
        self.send(request).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.client.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(request).await
    }

    /// `POST /v1/jobs` with an idempotency key.
    pub async fn submit_with_key(&self, body: &Value, key: &str) -> (u16, Value) {
        self.submit_with_key_to("/v1/jobs", body, key).await
    }

    /// `POST path` with an `Idempotency-Key`.
    pub async fn submit_with_key_to(&self, path: &str, body: &Value, key: &str) -> (u16, Value) {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Idempotency-Key", key)
            .json(body);
        self.send(request).await
    }

    pub async fn wait_ready(&self, timeout: Duration) {
        wait_until("gateway ready", timeout, || async {
            (self.get("/readyz").await.0 == 200).then_some(())
        })
        .await
    }

    /// Waits until job `id` reaches a terminal status and returns the job.
    pub async fn wait_terminal(&self, id: &str, timeout: Duration) -> Value {
        let path = format!("/v1/jobs/{id}");
        wait_until(&format!("job {id} to finish"), timeout, || async {
            let (status, job) = self.get(&path).await;
            let done = status == 200
                && matches!(
                    job["status"].as_str(),
                    Some("succeeded" | "failed" | "cancelled")
                );
            done.then_some(job)
        })
        .await
    }

    /// Waits until job `id` has status `wanted`.
    pub async fn wait_status(&self, id: &str, wanted: &str, timeout: Duration) -> Value {
        let path = format!("/v1/jobs/{id}");
        wait_until(&format!("job {id} to be {wanted}"), timeout, || async {
            let (_, job) = self.get(&path).await;
            (job["status"] == wanted).then_some(job)
        })
        .await
    }

    /// Every audit entry, following the cursor.
    pub async fn audit(&self) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/audit?limit=1000&cursor={c}"),
                None => "/v1/audit?limit=1000".to_string(),
            };
            let (status, page) = self.get(&path).await;
            assert_eq!(status, 200, "audit: {page}");
            entries.extend(page["entries"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return entries,
            }
        }
    }
}
