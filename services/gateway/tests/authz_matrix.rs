//! The authorization matrix, generated from the router's own route table: every
//! route, called by a user of every built-in role and by nobody, answers 2xx or 403
//! exactly as the README's permission table says, and 401 without a token. The
//! expectations below are written out by hand, apart from the code that enforces
//! them; a route the table has and this file does not fails the test, so no route
//! can ship unguarded.
mod common;

use common::world::{ROLES, World};

use prism_gateway::Route;
use serde_json::{Value, json};

const ALL: &[&str] = ROLES;
const ADMIN: &[&str] = &["admin"];
const DESIGN: &[&str] = &["admin", "designer"];
/// May look at what the platform does (everything but users, roles and tokens).
const OBSERVE: &[&str] = &["admin", "designer", "operator", "viewer"];
/// The audit log and the cluster: watched by operators and viewers, not designers.
const WATCH: &[&str] = &["admin", "operator", "viewer"];
/// Who may call a service.
const CALL_SERVICES: &[&str] = &["admin", "integrator"];
/// Services: seen by those who watch or call them.
const SEE_SERVICES: &[&str] = &["admin", "operator", "integrator", "viewer"];
const RUN: &[&str] = &["admin", "designer", "operator", "integrator"];
const VIEW_JOBS: &[&str] = &["admin", "designer", "operator", "integrator", "viewer"];
const CANCEL: &[&str] = &["admin", "designer", "operator"];
const OPERATE_SCHEDULES: &[&str] = &["admin", "designer", "operator"];
const RUN_FLOWS: &[&str] = &["admin", "designer", "operator"];
const PUBLIC: &[&str] = &[];

/// Who may call each route; `PUBLIC` routes need no token at all.
fn allowed(route: &Route) -> Option<&'static [&'static str]> {
    Some(match (route.method.as_str(), route.path) {
        ("GET", "/healthz" | "/readyz" | "/openapi.json" | "/" | "/assets/{name}")
        | ("POST", "/v1/auth/login" | "/v1/auth/session") => PUBLIC,
        ("POST", "/v1/auth/logout" | "/v1/authz/check" | "/v1/tokens") => ALL,
        ("GET", "/v1/me" | "/v1/tokens") | ("DELETE", "/v1/tokens/{id}") => ALL,
        (_, "/v1/users" | "/v1/users/{name}" | "/v1/roles" | "/v1/roles/{name}") => ADMIN,
        (_, "/v1/acl/{entity}/{name}") => ADMIN,
        ("GET", "/v1/connections" | "/v1/connections/{name}") => OBSERVE,
        ("PUT", "/v1/connections/{name}") => DESIGN,
        ("POST", "/v1/connections/{name}/test") => DESIGN,
        ("GET" | "PUT", "/v1/secrets" | "/v1/secrets/{name}") => DESIGN,
        ("POST", "/v1/master-key/rotate") => ADMIN,
        (
            "GET",
            "/v1/dataflows" | "/v1/dataflows/{name}" | "/v1/dataflows/{name}/versions/{version}",
        ) => OBSERVE,
        ("PUT", "/v1/dataflows/{name}") => DESIGN,
        (
            "GET",
            "/v1/processflows"
            | "/v1/processflows/{name}"
            | "/v1/processflows/{name}/runs"
            | "/v1/processflows/{name}/versions/{version}",
        ) => OBSERVE,
        // Answers each signed-in user the approvals they may decide.
        ("GET", "/v1/approvals") => ALL,
        ("PUT", "/v1/processflows/{name}") => DESIGN,
        ("GET", "/v1/processflow-runs/{id}") => OBSERVE,
        ("POST", "/v1/processflow-runs/{id}/resume") => RUN_FLOWS,
        ("POST", "/v1/processflow-runs/{id}/cancel") => DESIGN,
        // Those who may view the flow and hold the approval's role (the matrix gives
        // each caller an approval for its own role).
        ("POST", "/v1/processflow-runs/{id}/approvals/{activity}") => OBSERVE,
        // `execute` on the flow, and on the dataflows and connections it runs.
        ("POST", "/v1/processflows/{name}/runs") => RUN_FLOWS,
        ("POST", "/v1/dataflows/{name}/validate") => OBSERVE,
        ("POST", "/v1/dataflows/{name}/preview") => RUN,
        ("GET", "/v1/jobs" | "/v1/jobs/{id}" | "/v1/jobs/{id}/logs" | "/v1/reports/jobs") => {
            VIEW_JOBS
        }
        ("POST", "/v1/jobs") => RUN,
        ("POST", "/v1/jobs/{id}/cancel") => CANCEL,
        ("GET", "/v1/schedules" | "/v1/schedules/{name}") => OBSERVE,
        ("PUT" | "DELETE", "/v1/schedules/{name}") => DESIGN,
        ("POST", "/v1/schedules/{name}/enable" | "/v1/schedules/{name}/disable") => {
            OPERATE_SCHEDULES
        }
        ("GET", "/v1/services" | "/v1/services/{name}" | "/v1/services/{name}/stats") => {
            SEE_SERVICES
        }
        ("PUT" | "DELETE", "/v1/services/{name}") => ADMIN,
        ("POST", "/v1/services/{name}/invoke") | (_, "/rest/{name}/results.json") => CALL_SERVICES,
        ("GET", "/v1/audit" | "/v1/audit/dead-letters") => WATCH,
        (
            "GET",
            "/v1/cluster/nodes" | "/metrics" | "/v1/settings/logging" | "/v1/settings/retention",
        ) => WATCH,
        ("PUT", "/v1/settings/logging" | "/v1/settings/retention") => ADMIN,
        ("POST", "/v1/cluster/nodes/{id}/drain") => ADMIN,
        _ => return None,
    })
}

/// A process flow of one job and its end.
fn chain() -> Value {
    json!({"activities":[{"id":"run","type":"job","dataflow":"adults"},{"id":"done","type":"succeed"}],
           "transitions":[{"from":"run","to":"done","on":"always"}]})
}

impl World {
    /// A run waiting for approval `gate`, decided by `role` (written as a scheduler
    /// would leave it: no scheduler runs here).
    async fn waiting_approval(&self, role: &str) -> String {
        let flow = format!("gate-{role}");
        let document = json!({"activities":[
            {"id":"gate","type":"approval","role":role,"timeout_seconds":3600,"on_timeout":"reject"},
            {"id":"done","type":"succeed"}],
            "transitions":[{"from":"gate","to":"done","on":"always"}]});
        self.as_admin("PUT", &format!("/v1/processflows/{flow}"), document)
            .await;
        let (_, run) = self
            .gateway
            .send(
                "POST",
                &format!("/v1/processflows/{flow}/runs"),
                Some(&self.admin),
                "{}",
            )
            .await;
        let id = run["id"].as_str().unwrap_or("none").to_string();
        self.gateway
            .store
            .transact(|tx| {
                let id = id.clone();
                async move {
                    use prism_store::records::flow_runs;
                    let Some(mut run) = flow_runs::get(&tx, &id).await? else {
                        return Ok(());
                    };
                    run.activities[0].state = "waiting".into();
                    flow_runs::put(&tx, &run).await
                }
            })
            .await
            .unwrap();
        id
    }

    /// A run of `chain` that ended failed (no scheduler runs here: the record is
    /// written as a scheduler would leave it).
    async fn failed_run(&self) -> String {
        self.as_admin("PUT", "/v1/processflows/chain", chain())
            .await;
        let (_, run) = self
            .gateway
            .send(
                "POST",
                "/v1/processflows/chain/runs",
                Some(&self.admin),
                "{}",
            )
            .await;
        let id = run["id"].as_str().unwrap_or("none").to_string();
        let store = &self.gateway.state.store;
        store
            .transact(|tx| {
                let id = id.clone();
                async move {
                    use prism_store::records::flow_runs;
                    let Some(mut run) = flow_runs::get(&tx, &id).await? else {
                        return Ok(());
                    };
                    run.state = "failed".into();
                    run.activities[0].state = "failed".into();
                    run.activities[1].state = "skipped".into();
                    flow_runs::put(&tx, &run).await
                }
            })
            .await
            .unwrap();
        id
    }

    /// The concrete request for `route`, made ready for `role` (things a call
    /// consumes, such as a token to revoke or a job to cancel, are made anew), and
    /// the token to send.
    async fn request(&self, route: &Route, role: Option<&str>) -> (String, Value, Option<String>) {
        let token = role.map(|r| self.tokens[r].clone());
        let mut path = route.path.to_string();
        let mut body = json!({});
        match (route.method.as_str(), route.path) {
            ("POST", "/v1/auth/login" | "/v1/auth/session") => {
                let (user, password) = &self.users["viewer"];
                body = json!({"user": user, "password": password});
            }
            ("GET", "/assets/{name}") => {
                let asset = prism_console::FILES
                    .iter()
                    .find_map(|f| f.path.strip_prefix("assets/"))
                    .unwrap_or("none");
                path = format!("/assets/{asset}");
            }
            ("POST", "/v1/auth/logout") => {
                // A session of its own, so the role's token survives.
                let token = match role {
                    Some(role) => {
                        let (user, password) = &self.users[role];
                        Some(self.gateway.login(user, password).await)
                    }
                    None => None,
                };
                return (path, body, token);
            }
            ("DELETE", "/v1/tokens/{id}") => {
                let id = match &token {
                    Some(token) => {
                        let (_, created) = self
                            .gateway
                            .send("POST", "/v1/tokens", Some(token), r#"{"label":"doomed"}"#)
                            .await;
                        created["id"].as_str().unwrap_or("none").to_string()
                    }
                    None => "none".into(),
                };
                path = path.replace("{id}", &id);
            }
            ("POST", "/v1/tokens") => body = json!({"label": "matrix"}),
            ("POST", "/v1/authz/check") => {
                body = json!({"action":"view","entity":"dataflows","name":"adults"})
            }
            ("PUT", "/v1/users/{name}") => body = json!({"roles":["viewer"]}),
            ("DELETE", "/v1/users/{name}") => {
                self.as_admin(
                    "PUT",
                    "/v1/users/target",
                    json!({"password":"target-password-long","roles":["viewer"]}),
                )
                .await;
            }
            ("PUT", "/v1/roles/{name}") => {
                body = json!({"grants":[{"entity":"dataflows","match":"x-*","actions":["view"]}]})
            }
            ("DELETE", "/v1/roles/{name}") => {
                self.as_admin("PUT", "/v1/roles/custom", json!({"grants":[]}))
                    .await;
            }
            ("PUT", "/v1/acl/{entity}/{name}") => body = json!({"entries":[]}),
            ("DELETE", "/v1/acl/{entity}/{name}") => {
                self.as_admin("PUT", "/v1/acl/dataflows/adults", json!({"entries":[]}))
                    .await;
            }
            ("PUT", "/v1/connections/{name}") => {
                body = json!({"kind":"local","root": self.gateway.dir.path().join("files")});
            }
            ("PUT", "/v1/dataflows/{name}") | ("POST", "/v1/dataflows/{name}/validate") => {
                let (_, latest) = self
                    .gateway
                    .send("GET", "/v1/dataflows/adults", Some(&self.admin), "")
                    .await;
                body = latest["document"].clone();
            }
            ("POST", "/v1/dataflows/{name}/preview") => {
                let (_, latest) = self
                    .gateway
                    .send("GET", "/v1/dataflows/adults", Some(&self.admin), "")
                    .await;
                let stage = latest["document"]["stages"][0]["id"].clone();
                body = json!({"document": latest["document"], "stage": stage});
            }
            ("POST", "/v1/jobs") => body = json!({"dataflow":"adults"}),
            ("PUT", "/v1/processflows/{name}") => body = chain(),
            ("POST", "/v1/processflows/{name}/runs") => {
                self.as_admin("PUT", "/v1/processflows/chain", chain())
                    .await;
            }
            ("POST", "/v1/processflow-runs/{id}/approvals/{activity}") => {
                let id = self.waiting_approval(role.unwrap_or("viewer")).await;
                path = format!("/v1/processflow-runs/{id}/approvals/gate");
                body = json!({"decision": "approve", "comment": "matrix"});
            }
            ("POST", "/v1/processflow-runs/{id}/cancel") => {
                self.as_admin("PUT", "/v1/processflows/chain", chain())
                    .await;
                let (_, run) = self
                    .gateway
                    .send(
                        "POST",
                        "/v1/processflows/chain/runs",
                        Some(&self.admin),
                        "{}",
                    )
                    .await;
                path = format!(
                    "/v1/processflow-runs/{}/cancel",
                    run["id"].as_str().unwrap_or("none")
                );
            }
            ("POST", "/v1/processflow-runs/{id}/resume") => {
                let id = self.failed_run().await;
                path = format!("/v1/processflow-runs/{id}/resume");
            }
            ("GET", "/v1/processflow-runs/{id}") => {
                self.as_admin("PUT", "/v1/processflows/chain", chain())
                    .await;
                let (_, run) = self
                    .gateway
                    .send(
                        "POST",
                        "/v1/processflows/chain/runs",
                        Some(&self.admin),
                        "{}",
                    )
                    .await;
                path = format!(
                    "/v1/processflow-runs/{}",
                    run["id"].as_str().unwrap_or("none")
                );
            }
            (
                "GET",
                "/v1/processflows/{name}"
                | "/v1/processflows/{name}/runs"
                | "/v1/processflows/{name}/versions/{version}",
            ) => {
                self.as_admin("PUT", "/v1/processflows/chain", chain())
                    .await;
            }
            ("PUT", "/v1/secrets/{name}") => body = json!({"value":"matrix-secret-value"}),
            ("PUT", "/v1/settings/logging") => body = json!({"level":"info"}),
            ("PUT", "/v1/settings/retention") => body = json!({"days": 3650}),
            ("GET", "/v1/jobs/{id}" | "/v1/jobs/{id}/logs") => {
                path = path.replace("{id}", &self.queued_job().await)
            }
            ("POST", "/v1/jobs/{id}/cancel") => {
                path = path.replace("{id}", &self.queued_job().await)
            }
            ("PUT", "/v1/schedules/{name}") => {
                body = json!({"dataflow":"adults","cron":"0 3 * * *"})
            }
            ("PUT", "/v1/services/{name}") => body = json!({"dataflow":"lookup"}),
            ("POST", "/v1/services/{name}/invoke") => body = json!({"rows":[{"zip":"1"}]}),
            ("POST", "/rest/{name}/results.json") => body = json!({"Input":{"Row":[{"zip":"1"}]}}),
            ("DELETE", "/v1/services/{name}") => {
                self.as_admin("PUT", "/v1/services/lookup", json!({"dataflow":"lookup"}))
                    .await;
            }
            ("DELETE", "/v1/schedules/{name}") => {
                self.as_admin(
                    "PUT",
                    "/v1/schedules/nightly",
                    json!({"dataflow":"adults","cron":"0 3 * * *"}),
                )
                .await;
            }
            _ => {}
        }
        let path = path
            .replace("/v1/users/{name}", "/v1/users/target")
            .replace(
                "/v1/processflows/{name}/versions/{version}",
                "/v1/processflows/chain/versions/1",
            )
            .replace("{name}/versions/{version}", "adults/versions/1")
            .replace("/v1/roles/{name}", "/v1/roles/custom")
            .replace("{entity}/{name}", "dataflows/adults")
            .replace("/v1/connections/{name}", "/v1/connections/files")
            .replace("/v1/secrets/{name}", "/v1/secrets/pg-password")
            .replace("/v1/dataflows/{name}", "/v1/dataflows/adults")
            .replace("/v1/processflows/{name}", "/v1/processflows/chain")
            .replace("/v1/schedules/{name}", "/v1/schedules/nightly")
            .replace("/v1/services/{name}", "/v1/services/lookup")
            .replace("/rest/{name}/", "/rest/lookup/")
            .replace("{id}/drain", "exec-1/drain");
        (path, body, token)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_every_role_as_the_permission_table_says() {
    let world = World::build().await;
    // The target of the user routes exists before the first call.
    world
        .as_admin(
            "PUT",
            "/v1/users/target",
            json!({"password":"target-password-long","roles":["viewer"]}),
        )
        .await;
    let mut failures = Vec::new();
    assert!(
        world.gateway.routes.len() >= 40,
        "the table lists every route"
    );
    for route in &world.gateway.routes {
        // Without a built console there is no asset to ask for (the page itself is
        // served either way).
        if route.path == "/assets/{name}" && !prism_console::built() {
            continue;
        }
        let Some(allowed) = allowed(route) else {
            failures.push(format!(
                "{} {}: not in the matrix",
                route.method, route.path
            ));
            continue;
        };
        let callers = ROLES.iter().map(|r| Some(*r)).chain([None]);
        for role in callers {
            let (path, body, token) = world.request(route, role).await;
            let (status, answer) = world
                .gateway
                .send(
                    route.method.as_str(),
                    &path,
                    token.as_deref(),
                    &body.to_string(),
                )
                .await;
            let expected = match role {
                _ if allowed.is_empty() => "2xx",
                None => "401",
                Some(role) if allowed.contains(&role) => "2xx",
                Some(_) => "403",
            };
            // No executor runs in process: an allowed call reaches the bus and
            // finds no one to answer it (503), which is past authorization.
            let unanswered = (route.path.ends_with("/invoke")
                || route.path.ends_with("/preview")
                || route.path.starts_with("/rest/"))
                && status == 503
                && answer["error"]["code"] == "unavailable";
            let ok = match expected {
                "2xx" => (200..300).contains(&status) || unanswered,
                "401" => status == 401,
                _ => {
                    status == 403
                        && answer["error"]["message"]
                            .as_str()
                            .is_some_and(|m| m.starts_with("missing permission: "))
                }
            };
            if !ok {
                let who = role.unwrap_or("nobody");
                failures.push(format!(
                    "{} {path} as {who}: expected {expected}, got {status} {answer}",
                    route.method
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn strangers_get_401_with_a_bearer_challenge_even_on_unknown_paths() {
    let gateway = common::Gateway::start().await;
    for (token, why) in [
        (None, "missing"),
        (Some("prism_nothex"), "malformed"),
        (Some(&*format!("prism_{}", "0".repeat(64))), "unknown"),
    ] {
        let (status, headers, body) = gateway
            .send_with_headers("GET", "/v1/no/such/route", token, "")
            .await;
        assert_eq!(status, 401, "{why}: {body}");
        assert_eq!(headers["www-authenticate"], "Bearer", "{why}");
        assert_eq!(body["error"]["code"], "unauthenticated", "{why}");
    }
}
