//! A gateway with one of everything the route table names, a user of every built-in
//! role and their tokens: the world the authorization tests call every route in.
use std::collections::BTreeMap;

use prism_bus::nodes;
use prism_schemas::v1::NodeInfo;
use prost::Message;
use serde_json::{Value, json};

pub const ROLES: &[&str] = &[
    "admin",
    "designer",
    "operator",
    "integrator",
    "viewer",
    "user",
];

pub fn lookup_dataflow() -> Value {
    json!({"kind":"service","stages":[
        {"id":"input","type":"input","fields":[{"name":"zip","type":"string","required":true}]},
        {"id":"out","type":"output","input":"input"}]})
}

pub struct World {
    pub gateway: super::Gateway,
    pub admin: String,
    /// Each role's user and password.
    pub users: BTreeMap<&'static str, (String, String)>,
    pub tokens: BTreeMap<&'static str, String>,
}

impl World {
    pub async fn build() -> World {
        let gateway = super::Gateway::start().await;
        let admin = gateway.admin().await;
        let files = gateway.dir.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        let setup = [
            (
                "PUT",
                "/v1/secrets/pg-password".to_string(),
                json!({"value":"world-secret-value"}),
            ),
            (
                "PUT",
                "/v1/connections/files".to_string(),
                json!({"kind":"local","root":files}),
            ),
            (
                "PUT",
                "/v1/dataflows/adults".into(),
                json!({"kind":"job","stages":[
                {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
                {"id":"out","type":"write","input":"people","connection":"files","path":"out.csv","format":"csv"}]}),
            ),
            (
                "PUT",
                "/v1/schedules/nightly".into(),
                json!({"dataflow":"adults","cron":"0 3 * * *"}),
            ),
            ("PUT", "/v1/roles/custom".into(), json!({"grants":[]})),
            ("PUT", "/v1/dataflows/lookup".into(), lookup_dataflow()),
            (
                "PUT",
                "/v1/services/lookup".into(),
                json!({"dataflow":"lookup"}),
            ),
            (
                "PUT",
                "/v1/acl/dataflows/adults".into(),
                json!({"entries":[]}),
            ),
        ];
        for (method, path, body) in setup {
            let (status, answer) = gateway
                .send(method, &path, Some(&admin), &body.to_string())
                .await;
            assert!((200..300).contains(&status), "{method} {path}: {answer}");
        }
        let node = NodeInfo {
            id: "exec-1".into(),
            role: "executor".into(),
            ..Default::default()
        };
        let registry = nodes::bucket(&gateway.bus, &gateway.state.topology)
            .await
            .unwrap();
        registry
            .put("exec-1", node.encode_to_vec().into())
            .await
            .unwrap();
        let mut users = BTreeMap::new();
        let mut tokens = BTreeMap::new();
        for role in ROLES {
            let user = format!("u-{role}");
            let token = gateway.user_with_roles(&admin, &user, &[role]).await;
            users.insert(*role, (user.clone(), format!("{user}-password-long")));
            tokens.insert(*role, token);
        }
        World {
            gateway,
            admin,
            users,
            tokens,
        }
    }

    pub async fn as_admin(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, answer) = self
            .gateway
            .send(method, path, Some(&self.admin), &body.to_string())
            .await;
        assert!(
            (200..300).contains(&status),
            "setup {method} {path}: {answer}"
        );
        answer
    }

    /// A queued job of `adults` (no executor runs here, so it stays queued).
    pub async fn queued_job(&self) -> String {
        let job = self
            .as_admin("POST", "/v1/jobs", json!({"dataflow":"adults"}))
            .await;
        job["id"].as_str().unwrap().to_string()
    }
}
