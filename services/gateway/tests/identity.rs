//! Identities through the gateway in process: bootstrap, sessions, API tokens,
//! failed-login slow-down, custom roles with globs, overrides, last-admin
//! protection and the explanations of `authz/check`.
mod common;

use std::time::Duration;

use prism_gateway::auth::bootstrap::{PASSWORD_FILE, ensure_admin};
use prism_store::records::users;
use serde_json::{Value, json};

fn text(value: &Value) -> String {
    value.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_creates_one_admin_with_the_given_or_a_generated_password() {
    // Given: the harness's gateway bootstrapped with PRISM_ADMIN_PASSWORD.
    let gateway = common::Gateway::start().await;
    let admin = gateway.admin().await;
    let (_, me) = gateway.send("GET", "/v1/me", Some(&admin), "").await;
    assert_eq!(me["user"], "admin");
    assert_eq!(me["roles"], json!(["admin"]));
    assert!(
        !gateway.dir.path().join(PASSWORD_FILE).exists(),
        "nothing written when given"
    );

    // Generated: two gateways race on one empty store; one admin, one file, 0600.
    let dir = tempfile::tempdir().unwrap();
    let store = prism_store::open(&format!("sqlite://{}", dir.path().join("c.db").display()))
        .await
        .unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let (ra, rb) = tokio::join!(
        ensure_admin(&store, &a, None),
        ensure_admin(&store, &b, None)
    );
    ra.unwrap();
    rb.unwrap();
    let files: Vec<_> = [&a, &b]
        .iter()
        .map(|d| d.join(PASSWORD_FILE))
        .filter(|f| f.exists())
        .collect();
    assert_eq!(
        files.len(),
        1,
        "exactly one gateway created the admin and kept its file"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let password = std::fs::read_to_string(&files[0])
        .unwrap()
        .trim()
        .to_string();
    assert!(password.len() >= 32, "a generated password is long");
    let all = store
        .transact(|tx| async move { users::list(&tx).await })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert!(
        all[0].password_hash.starts_with("$argon2id$"),
        "only the hash is stored"
    );
    assert!(prism_auth::password::verify(password, Some(all[0].password_hash.clone())).await);
    // A later start changes nothing.
    ensure_admin(&store, &a, Some("another password here".into()))
        .await
        .unwrap();
    let again = store
        .transact(|tx| async move { users::list(&tx).await })
        .await
        .unwrap();
    assert_eq!(again, all);
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_and_api_tokens_work_until_logout_revocation_or_expiry() {
    let gateway = common::Gateway::start().await;
    let (status, body) = gateway
        .send(
            "POST",
            "/v1/auth/login",
            None,
            r#"{"user":"admin","password":"wrong password!"}"#,
        )
        .await;
    let (status2, body2) = gateway
        .send(
            "POST",
            "/v1/auth/login",
            None,
            r#"{"user":"ghost","password":"wrong password!"}"#,
        )
        .await;
    assert_eq!((status, status2), (401, 401));
    assert_eq!(
        body["error"]["message"], body2["error"]["message"],
        "same answer for a wrong user and a wrong password"
    );

    let session = gateway.admin().await;
    let (status, _) = gateway.send("GET", "/v1/me", Some(&session), "").await;
    assert_eq!(status, 200);
    let (status, _) = gateway
        .send("POST", "/v1/auth/logout", Some(&session), "")
        .await;
    assert_eq!(status, 204);
    let (status, _) = gateway.send("GET", "/v1/me", Some(&session), "").await;
    assert_eq!(status, 401, "a logged-out session is refused");

    let admin = gateway.admin().await;
    let (status, created) = gateway
        .send("POST", "/v1/tokens", Some(&admin), r#"{"label":"ci"}"#)
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["token"].as_str().unwrap().to_string();
    let (status, me) = gateway.send("GET", "/v1/me", Some(&secret), "").await;
    assert_eq!(
        (status, me["user"].clone()),
        (200, json!("admin")),
        "a token acts as its user"
    );
    let (_, listed) = gateway.send("GET", "/v1/tokens", Some(&admin), "").await;
    assert!(
        !text(&listed).contains(&secret),
        "secrets are shown once: {listed}"
    );
    assert!(
        listed["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["label"] == "ci")
    );
    let id = created["id"].as_str().unwrap();
    let (status, _) = gateway
        .send("DELETE", &format!("/v1/tokens/{id}"), Some(&admin), "")
        .await;
    assert_eq!(status, 204);
    let (status, headers, _) = gateway
        .send_with_headers("GET", "/v1/me", Some(&secret), "")
        .await;
    assert_eq!(status, 401, "a revoked token is refused");
    assert_eq!(headers["www-authenticate"], "Bearer");

    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let body = json!({"label":"short", "expires_at": soon.to_rfc3339()}).to_string();
    let (status, created) = gateway
        .send("POST", "/v1/tokens", Some(&admin), &body)
        .await;
    assert_eq!(status, 201, "{created}");
    let short = created["token"].as_str().unwrap();
    assert_eq!(gateway.status("GET", "/v1/me", Some(short), "").await, 200);
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(
        gateway.status("GET", "/v1/me", Some(short), "").await,
        401,
        "an expired token is refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_failed_logins_are_slowed_down_with_retry_after() {
    let gateway = common::Gateway::start().await;
    let wrong = r#"{"user":"admin","password":"not the password"}"#;
    for _ in 0..3 {
        assert_eq!(
            gateway.status("POST", "/v1/auth/login", None, wrong).await,
            401
        );
    }
    let right = json!({"user":"admin","password":prism_tests::ADMIN_PASSWORD}).to_string();
    let (status, headers, body) = gateway
        .send_with_headers("POST", "/v1/auth/login", None, &right)
        .await;
    assert_eq!(status, 429, "even the right password waits: {body}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // Another name is not slowed; after the wait, the right password works.
    assert_eq!(
        gateway
            .status(
                "POST",
                "/v1/auth/login",
                None,
                r#"{"user":"bob","password":"not the password"}"#
            )
            .await,
        401
    );
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(
        gateway.status("POST", "/v1/auth/login", None, &right).await,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_role_grants_a_family_of_dataflows_and_a_deny_override_beats_a_role() {
    let gateway = common::Gateway::start().await;
    let admin = gateway.admin().await;
    let root = gateway.dir.path().display().to_string();
    gateway
        .send(
            "PUT",
            "/v1/connections/files",
            Some(&admin),
            &json!({"kind":"local","root":root}).to_string(),
        )
        .await;
    let dataflow = json!({"kind":"job","stages":[
        {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
        {"id":"out","type":"write","input":"people","connection":"files","path":"out.csv","format":"csv"}]})
    .to_string();
    for name in ["finance-q3", "finance-q4", "adults"] {
        let (status, body) = gateway
            .send(
                "PUT",
                &format!("/v1/dataflows/{name}"),
                Some(&admin),
                &dataflow,
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let role =
        r#"{"grants":[{"entity":"dataflows","match":"finance-*","actions":["view","execute"]}]}"#;
    assert_eq!(
        gateway
            .status("PUT", "/v1/roles/finance", Some(&admin), role)
            .await,
        201
    );
    let bob = gateway.user_with_roles(&admin, "bob", &["finance"]).await;

    // Running a dataflow takes `execute` on each connection it names too.
    let (status, body) = gateway
        .send(
            "POST",
            "/v1/jobs",
            Some(&bob),
            r#"{"dataflow":"finance-q3"}"#,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"]["message"],
        "missing permission: execute on connections/files"
    );
    let role = r#"{"grants":[{"entity":"dataflows","match":"finance-*","actions":["view","execute"]},
        {"entity":"connections","match":"files","actions":["execute"]}]}"#;
    assert_eq!(
        gateway
            .status("PUT", "/v1/roles/finance", Some(&admin), role)
            .await,
        200
    );
    let (status, body) = gateway
        .send(
            "POST",
            "/v1/jobs",
            Some(&bob),
            r#"{"dataflow":"finance-q3"}"#,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = gateway
        .send("POST", "/v1/jobs", Some(&bob), r#"{"dataflow":"adults"}"#)
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"]["message"],
        "missing permission: execute on dataflows/adults"
    );
    let (_, listed) = gateway.send("GET", "/v1/dataflows", Some(&bob), "").await;
    let names: Vec<&str> = listed["dataflows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["finance-q3", "finance-q4"],
        "a list shows only what may be viewed"
    );
    let check = r#"{"action":"execute","entity":"dataflows","name":"finance-q4"}"#;
    let (_, answer) = gateway
        .send("POST", "/v1/authz/check", Some(&bob), check)
        .await;
    assert_eq!(answer["allowed"], true);
    assert_eq!(
        answer["because"],
        "role finance grants view, execute on dataflows/finance-*"
    );

    // A designer may run everything, until an override denies one dataflow.
    let dana = gateway.user_with_roles(&admin, "dana", &["designer"]).await;
    assert_eq!(
        gateway
            .status("POST", "/v1/jobs", Some(&dana), r#"{"dataflow":"adults"}"#)
            .await,
        202
    );
    let deny = r#"{"entries":[{"principal":"user:dana","allow":["execute"],"deny":["execute"]},{"principal":"role:finance","allow":["view"]}]}"#;
    assert_eq!(
        gateway
            .status("PUT", "/v1/acl/dataflows/adults", Some(&admin), deny)
            .await,
        200
    );
    let (status, body) = gateway
        .send("POST", "/v1/jobs", Some(&dana), r#"{"dataflow":"adults"}"#)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"]["details"]["because"],
        "override on dataflows/adults denies execute to user:dana"
    );
    assert_eq!(
        gateway
            .status(
                "POST",
                "/v1/jobs",
                Some(&dana),
                r#"{"dataflow":"finance-q3"}"#
            )
            .await,
        202,
        "other dataflows still run"
    );
    // An allow override opens one more dataflow to bob's role; admin cannot be denied.
    assert_eq!(
        gateway
            .status("GET", "/v1/dataflows/adults", Some(&bob), "")
            .await,
        200
    );
    // An allow override lets a viewer run one dataflow, and only that one.
    let vic = gateway.user_with_roles(&admin, "vic", &["viewer"]).await;
    let open = r#"{"entries":[{"principal":"role:viewer","allow":["execute"]}]}"#;
    assert_eq!(
        gateway
            .status("PUT", "/v1/acl/dataflows/finance-q4", Some(&admin), open)
            .await,
        200
    );
    // ... and the connection it names.
    assert_eq!(
        gateway
            .status("PUT", "/v1/acl/connections/files", Some(&admin), open)
            .await,
        200
    );
    assert_eq!(
        gateway
            .status(
                "POST",
                "/v1/jobs",
                Some(&vic),
                r#"{"dataflow":"finance-q4"}"#
            )
            .await,
        202
    );
    assert_eq!(
        gateway
            .status(
                "POST",
                "/v1/jobs",
                Some(&vic),
                r#"{"dataflow":"finance-q3"}"#
            )
            .await,
        403
    );
    let admin_check = r#"{"user":"admin","action":"execute","entity":"dataflows","name":"adults"}"#;
    let (_, answer) = gateway
        .send("POST", "/v1/authz/check", Some(&admin), admin_check)
        .await;
    assert_eq!(
        (answer["allowed"].clone(), answer["because"].clone()),
        (json!(true), json!("role admin grants everything"))
    );
    let about_dana = r#"{"user":"dana","action":"execute","entity":"dataflows","name":"adults"}"#;
    let (_, answer) = gateway
        .send("POST", "/v1/authz/check", Some(&admin), about_dana)
        .await;
    assert_eq!(answer["allowed"], false);
    let (status, _) = gateway
        .send("POST", "/v1/authz/check", Some(&bob), about_dana)
        .await;
    assert_eq!(status, 403, "asking about someone else needs view on users");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_enabled_admin_cannot_be_deleted_disabled_or_demoted() {
    let gateway = common::Gateway::start().await;
    let admin = gateway.admin().await;
    for (method, body) in [
        ("DELETE", ""),
        ("PUT", r#"{"disabled":true}"#),
        ("PUT", r#"{"roles":["viewer"]}"#),
    ] {
        let (status, answer) = gateway
            .send(method, "/v1/users/admin", Some(&admin), body)
            .await;
        assert_eq!(status, 409, "{method} {body}: {answer}");
    }
    gateway.user_with_roles(&admin, "second", &["admin"]).await;
    let (status, _) = gateway
        .send(
            "PUT",
            "/v1/users/admin",
            Some(&admin),
            r#"{"roles":["viewer"]}"#,
        )
        .await;
    assert_eq!(status, 200, "with another admin, demotion is allowed");
    let (status, _) = gateway.send("GET", "/v1/users", Some(&admin), "").await;
    assert_eq!(
        status, 403,
        "the demotion applies at once to the session of the demoted"
    );
    // A user changes their own password without any permission, given the current one.
    let wrong = r#"{"password":"a brand new password","current_password":"a guess at it"}"#;
    let (status, answer) = gateway
        .send("PUT", "/v1/users/admin", Some(&admin), wrong)
        .await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (400, json!("current_password"))
    );
    let body = json!({"password": "a brand new password", "current_password": prism_tests::ADMIN_PASSWORD}).to_string();
    let body = body.as_str();
    assert_eq!(
        gateway
            .status("PUT", "/v1/users/admin", Some(&admin), body)
            .await,
        200
    );
    gateway.login("admin", "a brand new password").await;
    let (status, _) = gateway
        .send(
            "PUT",
            "/v1/users/admin",
            Some(&admin),
            r#"{"roles":["admin"]}"#,
        )
        .await;
    assert_eq!(status, 403, "but not their own roles");

    // Whoever may manage users but not the admin role cannot hand it out.
    let manager_role =
        r#"{"grants":[{"entity":"users","match":"*","actions":["view","create","modify"]}]}"#;
    let second = gateway.login("second", "second-password-long").await;
    assert_eq!(
        gateway
            .status("PUT", "/v1/roles/people", Some(&second), manager_role)
            .await,
        201
    );
    let manager = gateway
        .user_with_roles(&second, "manager", &["people"])
        .await;
    let body = r#"{"password":"someone else's pw","roles":["admin"]}"#;
    let (status, answer) = gateway
        .send("PUT", "/v1/users/mallory", Some(&manager), body)
        .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "missing permission: modify on roles/admin"
    );
    let body = r#"{"password":"someone else's pw","roles":["user"]}"#;
    assert_eq!(
        gateway
            .status("PUT", "/v1/users/mallory", Some(&manager), body)
            .await,
        403,
        "not even the empty role"
    );
}
