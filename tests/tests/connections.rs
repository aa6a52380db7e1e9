//! Connections that reach real data, against real servers the harness starts: a
//! PostgreSQL 15 server (`log_statement = all`) and an S3-compatible server
//! (moto). What is checked: pushdown PostgreSQL can be seen running, writes that
//! land once (and not at all for an attempt that lost the job), objects that
//! appear only when committed, refusals that name their field, master-key
//! rotation under load, and that no secret's value is written anywhere in clear.
use std::time::Duration;

use prism_tests::Standalone;
use prism_tests::data_servers::{PG_PASSWORD, PostgresServer, S3_KEY_ID, S3_SECRET_KEY, S3Server};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

async fn standalone() -> Standalone {
    Standalone::start_with(&[("PRISM_CONNECTION_HOSTS", "127.0.0.1".into())]).await
}

/// Saves a secret and answers the API's answer (to scan it for the value).
async fn secret(platform: &Standalone, name: &str, value: &str) -> Value {
    let (status, body) = platform
        .api
        .put(&format!("/v1/secrets/{name}"), &json!({ "value": value }))
        .await;
    assert!(status == 201 || status == 200, "{body}");
    body
}

/// Secret `pg-password` and connection `warehouse` on the test's server.
async fn warehouse(platform: &Standalone, pg: &PostgresServer) {
    secret(platform, "pg-password", PG_PASSWORD).await;
    let (status, body) = platform
        .api
        .put("/v1/connections/warehouse", &pg.connection("pg-password"))
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Secrets `s3-key-id`, `s3-secret` and connection `lake` on bucket `lake`, prefix `data`.
async fn lake(platform: &Standalone, s3: &S3Server) {
    s3.create_bucket("lake").await;
    secret(platform, "s3-key-id", S3_KEY_ID).await;
    secret(platform, "s3-secret", S3_SECRET_KEY).await;
    let mut connection = s3.connection("lake");
    connection["prefix"] = json!("data");
    let (status, body) = platform.api.put("/v1/connections/lake", &connection).await;
    assert_eq!(status, 201, "{body}");
}

/// Saves `document` as `name` (a new version) and runs it to its end.
async fn run(platform: &Standalone, name: &str, document: Value) -> Value {
    let (status, body) = platform
        .api
        .put(&format!("/v1/dataflows/{name}"), &document)
        .await;
    assert!(status == 201 || status == 200, "{name}: {body}");
    let (status, accepted) = platform
        .api
        .post("/v1/jobs", &json!({ "dataflow": name }))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    platform.api.wait_terminal(&id, WAIT).await
}

async fn count(pg: &PostgresServer, table: &str) -> i64 {
    let client = pg.client().await.unwrap();
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_read_runs_the_later_filter_and_limit_in_postgresql() {
    let pg = PostgresServer::start().await;
    let client = pg.client().await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE t (id integer PRIMARY KEY, name text, born date);
             INSERT INTO t SELECT i, 'name ' || i, DATE '2000-01-01' + i FROM generate_series(1, 5000) i;",
        )
        .await
        .unwrap();
    let platform = standalone().await;
    platform.files_connection().await;
    warehouse(&platform, &pg).await;
    let job = run(
        &platform,
        "seven",
        json!({"kind":"job","stages":[
            {"id":"t","type":"read","connection":"warehouse","table":"t"},
            {"id":"q","type":"sql","inputs":["t"],"query":"SELECT id FROM t WHERE id = 7 LIMIT 10"},
            {"id":"out","type":"write","input":"q","connection":"files","path":"seven.csv","format":"csv"}]}),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        std::fs::read_to_string(platform.files.join("seven.csv")).unwrap(),
        "id\n7\n"
    );
    let log = pg.log();
    let statement = log
        .lines()
        .find(|line| line.contains("COPY (SELECT"))
        .unwrap_or_else(|| panic!("no COPY in the server's log:\n{log}"));
    assert!(
        statement.contains(r#"WHERE (t."id" = 7)"#) && statement.contains("LIMIT 10"),
        "the filter and the limit run in PostgreSQL: {statement}"
    );
    let read = &job["stages"][0];
    assert_eq!(read["id"], "t");
    assert!(read["rows_in"].as_u64().unwrap() <= 10, "{job}");
    assert!(read["rows_out"].as_u64().unwrap() <= 10, "{job}");

    // A query with a parameter: a value, never SQL.
    let job = run(
        &platform,
        "named",
        json!({"kind":"job","parameters":{"who":"name 12"},"stages":[
            {"id":"q","type":"read","connection":"warehouse","query":"SELECT id, name, born FROM t WHERE name = ${who}"},
            {"id":"out","type":"write","input":"q","connection":"files","path":"named.csv","format":"csv"}]}),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        std::fs::read_to_string(platform.files.join("named.csv")).unwrap(),
        "id,name,born\n12,name 12,2000-01-13\n"
    );
    let (status, accepted) = platform
        .api
        .post(
            "/v1/jobs",
            &json!({"dataflow":"named","parameters":{"who":"x' OR '1'='1"}}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let job = platform
        .api
        .wait_terminal(accepted["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        std::fs::read_to_string(platform.files.join("named.csv")).unwrap(),
        "",
        "a quote in a value matches nothing and runs nothing (no rows: an empty file)"
    );

    // A read-only transaction: a query hiding a write fails and changes nothing.
    let job = run(
        &platform,
        "sneaky",
        json!({"kind":"job","stages":[
            {"id":"q","type":"read","connection":"warehouse","query":"WITH gone AS (DELETE FROM t RETURNING id) SELECT id FROM gone"},
            {"id":"out","type":"write","input":"q","connection":"files","path":"sneaky.csv","format":"csv"}]}),
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(count(&pg, "t").await, 5000);

    // The connection test: a session and SELECT 1; a wrong password is named.
    let (status, probe) = platform
        .api
        .post("/v1/connections/warehouse/test", &json!({}))
        .await;
    assert_eq!(status, 200, "{probe}");
    assert_eq!(probe["ok"], true, "{probe}");
    secret(&platform, "pg-password", "not-the-password").await;
    let (_, probe) = platform
        .api
        .post("/v1/connections/warehouse/test", &json!({}))
        .await;
    assert_eq!(probe["ok"], false, "{probe}");
    assert_eq!(probe["error"], "auth_failed", "{probe}");
    prism_tests::wait_until("both tests audited", WAIT, || async {
        let audit = platform.api.audit().await;
        let tested = audit
            .iter()
            .filter(|e| e["action"] == "connection.test")
            .count();
        (tested == 2).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_writes_append_replace_and_upsert_and_a_taken_ledger_key_moves_nothing() {
    let pg = PostgresServer::start().await;
    let platform = standalone().await;
    platform.files_connection().await;
    warehouse(&platform, &pg).await;
    let write = |mode: &str, extra: Value| {
        let mut target = json!({"id":"out","type":"write","input":"people","connection":"warehouse","table":"people","mode":mode});
        for (k, v) in extra.as_object().unwrap() {
            target[k] = v.clone();
        }
        json!({"kind":"job","stages":[
            {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
            target]})
    };
    // The table is made from the rows the first time.
    let job = run(&platform, "load", write("append", json!({}))).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["rows_written"], 4);
    let job = run(&platform, "load", write("append", json!({}))).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(count(&pg, "people").await, 8);
    let job = run(&platform, "load", write("replace", json!({}))).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(count(&pg, "people").await, 4);
    let client = pg.client().await.unwrap();
    client
        .batch_execute("ALTER TABLE people ADD PRIMARY KEY (name); UPDATE people SET age = 0")
        .await
        .unwrap();
    let job = run(&platform, "load", write("upsert", json!({"keys":["name"]}))).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let ages: i64 = client
        .query_one("SELECT sum(age)::bigint FROM people", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!((count(&pg, "people").await, ages), (4, 34 + 12 + 18 + 17));
    let ledger: i64 = client
        .query_one("SELECT count(*) FROM prism_job_commits", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ledger, 4, "one ledger entry per committed write");

    // An attempt that finds its job's key taken (an earlier attempt committed,
    // then died before reporting) adds nothing, and the job still succeeds.
    client
        .batch_execute("CREATE TABLE people_log (name text, age bigint)")
        .await
        .unwrap();
    let slow = json!({"kind":"job","stages":[
        {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
        {"id":"pause","type":"delay","milliseconds":1500},
        {"id":"out","type":"write","input":"people","connection":"warehouse","table":"people_log","mode":"append"}]});
    let (status, body) = platform.api.put("/v1/dataflows/slow", &slow).await;
    assert_eq!(status, 201, "{body}");
    let (_, accepted) = platform
        .api
        .post("/v1/jobs", &json!({"dataflow":"slow"}))
        .await;
    let id = accepted["id"].as_str().unwrap().to_string();
    client
        .execute(
            "INSERT INTO prism_job_commits (job_id, stage, attempt) VALUES ($1, 'out', 0)",
            &[&id],
        )
        .await
        .unwrap();
    let job = platform.api.wait_terminal(&id, WAIT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        count(&pg, "people_log").await,
        0,
        "the taken key moved nothing"
    );
    assert_eq!(
        pg.staging_tables().await,
        0,
        "staging tables end with their sessions"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_document_moves_rows_between_files_objects_and_tables() {
    let (pg, s3) = (PostgresServer::start().await, S3Server::start().await);
    let platform = standalone().await;
    platform.files_connection().await;
    warehouse(&platform, &pg).await;
    lake(&platform, &s3).await;
    s3.put(
        "lake",
        "data/in/people.csv",
        "name,age\nann,34\nbob,12\ncid,18\ndee,17\n",
    )
    .await;
    // The same document, with only its connections changed.
    let adults = |from: &str, to: &str, output: &str| {
        json!({"kind":"job","stages":[
            {"id":"people","type":"read","connection":from,"path":"in/people.csv","format":"csv"},
            {"id":"adults","type":"sql","inputs":["people"],"query":"SELECT name, age FROM people WHERE age >= 18 ORDER BY name"},
            {"id":"out","type":"write","input":"adults","connection":to,"path":output,"format":"csv"}]})
    };
    std::fs::create_dir_all(platform.files.join("in")).unwrap();
    std::fs::copy(
        platform.files.join("people.csv"),
        platform.files.join("in/people.csv"),
    )
    .unwrap();
    for (from, to) in [("files", "files"), ("lake", "lake"), ("files", "lake")] {
        let job = run(
            &platform,
            &format!("{from}-{to}"),
            adults(from, to, &format!("out/{from}.csv")),
        )
        .await;
        assert_eq!(job["status"], "succeeded", "{from} to {to}: {job}");
    }
    assert_eq!(
        std::fs::read_to_string(platform.files.join("out/files.csv")).unwrap(),
        "name,age\nann,34\ncid,18\n"
    );
    let keys = s3.keys("lake").await;
    assert_eq!(
        s3.get("lake", "data/out/lake.csv").await.as_deref(),
        Some("name,age\nann,34\ncid,18\n"),
        "{keys:?}"
    );
    assert_eq!(
        s3.keys("lake").await,
        [
            "data/in/people.csv",
            "data/out/files.csv",
            "data/out/lake.csv"
        ],
        "no staging key outlives its job"
    );
    // Parquet through the bucket, then the bucket into a table.
    let job = run(
        &platform,
        "to-parquet",
        json!({"kind":"job","stages":[
            {"id":"people","type":"read","connection":"lake","path":"in/people.csv","format":"csv"},
            {"id":"out","type":"write","input":"people","connection":"lake","path":"out/people.parquet","format":"parquet"}]}),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let job = run(
        &platform,
        "to-table",
        json!({"kind":"job","stages":[
            {"id":"people","type":"read","connection":"lake","path":"out/people.parquet","format":"parquet"},
            {"id":"out","type":"write","input":"people","connection":"warehouse","table":"from_lake"}]}),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(count(&pg, "from_lake").await, 4);
    // A path out of the prefix is refused like one out of a directory.
    let escape = adults("lake", "lake", "../elsewhere.csv");
    let (status, answer) = platform.api.put("/v1/dataflows/escape", &escape).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "stages[2].path");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_connections_and_queries_name_the_field_and_change_nothing() {
    let platform = standalone().await;
    secret(&platform, "pg-password", "whatever").await;
    let postgres = |host: &str, secret: &str| json!({"kind":"postgres","host":host,"database":"d","user":"u","password":{"secret":secret}});
    let cases = [
        (
            postgres("db.elsewhere", "pg-password"),
            "host",
            "PRISM_CONNECTION_HOSTS",
        ),
        (
            postgres("169.254.169.254", "pg-password"),
            "host",
            "metadata",
        ),
        (
            postgres("127.0.0.1", "no-such-secret"),
            "password",
            "no secret named",
        ),
        (
            json!({"kind":"postgres","host":"127.0.0.1","database":"d","user":"u","password":"plain"}),
            "body",
            "",
        ),
        (
            json!({"kind":"s3","endpoint":"http://127.0.0.1:9","region":"r","bucket":"bkt",
                "access_key_id":{"secret":"pg-password"},"secret_access_key":{"secret":"pg-password"}}),
            "endpoint",
            "allow_http",
        ),
        (
            json!({"kind":"s3","endpoint":"http://169.254.169.254","region":"r","bucket":"bkt","allow_http":true,
                "access_key_id":{"secret":"pg-password"},"secret_access_key":{"secret":"pg-password"}}),
            "endpoint",
            "metadata",
        ),
        (json!({"kind":"local","root":"/etc"}), "root", ""),
        (
            json!({"kind":"postgres","root":"/tmp"}),
            "root",
            "does not take",
        ),
    ];
    for (body, field, words) in cases {
        let (status, answer) = platform.api.put("/v1/connections/refused", &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let named = answer["error"]["field"].as_str().unwrap_or("");
        assert!(
            named == field || (field == "body" && named.starts_with("password")),
            "{body}: {answer}"
        );
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(words),
            "{body}: {answer}"
        );
    }
    let (status, _) = platform.api.get("/v1/connections/refused").await;
    assert_eq!(status, 404, "nothing was saved");

    // A read query that is not a SELECT, and a table stage on a file connection.
    platform.files_connection().await;
    let (status, _) = platform
        .api
        .put(
            "/v1/connections/warehouse",
            &postgres("127.0.0.1", "pg-password"),
        )
        .await;
    assert_eq!(status, 201);
    for (stage, field) in [
        (
            json!({"id":"q","type":"read","connection":"warehouse","query":"DELETE FROM t"}),
            "stages[0].query",
        ),
        (
            json!({"id":"q","type":"read","connection":"files","table":"t"}),
            "stages[0].connection",
        ),
    ] {
        let document = json!({"kind":"job","stages":[stage]});
        let (status, answer) = platform.api.put("/v1/dataflows/refused", &document).await;
        assert_eq!(status, 400, "{answer}");
        let problems = answer["error"]["details"]["problems"].as_array().unwrap();
        assert!(problems.iter().any(|p| p["field"] == field), "{answer}");
    }

    // Secrets are write-only: metadata and the connections naming them, no value.
    let (status, listed) = platform.api.get("/v1/secrets").await;
    assert_eq!(status, 200);
    assert_eq!(listed["secrets"][0]["name"], "pg-password");
    assert_eq!(listed["secrets"][0]["connections"], json!(["warehouse"]));
    assert!(!listed.to_string().contains("whatever"), "{listed}");
    let (_, one) = platform.api.get("/v1/secrets/pg-password").await;
    assert_eq!(one["version"], 1);
    assert!(one.get("value").is_none(), "{one}");
    // Binding a secret needs `execute` on it: a designer-like role without it may
    // edit connections but not point one at someone else's secret.
    let role = json!({"grants":[{"entity":"connections","match":"*","actions":["view","create","modify"]}]});
    assert_eq!(platform.api.put("/v1/roles/wiring", &role).await.0, 201);
    let user = json!({"password":"wiring-password-long","roles":["wiring"]});
    assert_eq!(platform.api.put("/v1/users/wes", &user).await.0, 201);
    let wes = platform.api.as_user("wes", "wiring-password-long").await;
    let (status, answer) = wes
        .put(
            "/v1/connections/stolen",
            &postgres("127.0.0.1", "pg-password"),
        )
        .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "missing permission: execute on secrets/pg-password"
    );
}

/// Every regular file beneath `dir` that holds `needle`.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_stay_sealed_everywhere_and_a_master_key_rotates_under_load() {
    let (pg, s3) = (PostgresServer::start().await, S3Server::start().await);
    pg.client()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE n AS SELECT i AS id FROM generate_series(1, 100) i")
        .await
        .unwrap();
    let mut platform = standalone().await;
    platform.files_connection().await;
    let mut answers = vec![
        secret(&platform, "pg-password", PG_PASSWORD)
            .await
            .to_string(),
    ];
    warehouse(&platform, &pg).await;
    lake(&platform, &s3).await;
    let document = json!({"kind":"job","parameters":{"out":"n.csv"},"stages":[
        {"id":"n","type":"read","connection":"warehouse","table":"n"},
        {"id":"pause","type":"delay","milliseconds":200},
        {"id":"out","type":"write","input":"n","connection":"lake","path":"${out}","format":"csv"}]});
    let (status, body) = platform.api.put("/v1/dataflows/copy", &document).await;
    assert_eq!(status, 201, "{body}");

    // A second key, first in the file; the old one stays for the jobs queued.
    let key_file = platform.dir.path().join("data/master.key");
    let old = std::fs::read_to_string(&key_file).unwrap();
    let old_key = old
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_string();
    let new_key = "q3T0E1XJ0m7yKvD3cX6Yb0yW2v9n5o4r8s1t2u3v4w8="; // 32 bytes, base64
    std::fs::write(&key_file, format!("{new_key}\n{old_key}\n")).unwrap();

    let mut ids = Vec::new();
    for i in 0..50 {
        let request = json!({"dataflow":"copy","parameters":{"out": format!("out/{i}.csv")}});
        let (status, accepted) = platform.api.post("/v1/jobs", &request).await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["id"].as_str().unwrap().to_string());
        if i == 20 {
            let (status, rotated) = platform.api.post("/v1/master-key/rotate", &json!({})).await;
            assert_eq!(status, 200, "{rotated}");
            assert_eq!(rotated["secrets"], 3);
            assert_eq!(rotated["rewrapped"], 3);
            answers.push(rotated.to_string());
        }
    }
    for id in &ids {
        let job = platform
            .api
            .wait_terminal(id, Duration::from_secs(120))
            .await;
        assert_eq!(job["status"], "succeeded", "{job}");
        answers.push(job.to_string());
    }
    // The old key goes; after a restart (nothing of it in memory) jobs still run.
    std::fs::write(&key_file, format!("{new_key}\n")).unwrap();
    platform.prism.restart();
    platform.api.wait_ready(WAIT).await;
    platform.api = platform.api.as_admin().await;
    let (_, accepted) = platform
        .api
        .post(
            "/v1/jobs",
            &json!({"dataflow":"copy","parameters":{"out":"after.csv"}}),
        )
        .await;
    let job = platform
        .api
        .wait_terminal(accepted["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(s3.keys("lake").await.len(), 51);

    // Each use is attributable: the job's start names the secret versions.
    let audit = platform.api.audit().await;
    let started = audit
        .iter()
        .find(|e| e["action"] == "job.started" && e["target"] == format!("job/{}", ids[0]))
        .expect("the first job's start is audited");
    let details = started["details"].to_string();
    for used in ["pg-password@2", "s3-key-id@1", "s3-secret@1"] {
        assert!(details.contains(used), "{started}");
    }
    answers.push(serde_json::to_string(&audit).unwrap());
    for path in [
        "/v1/secrets",
        "/v1/connections",
        "/v1/jobs?limit=100",
        "/v1/jobs/".to_string().as_str(),
    ] {
        answers.push(platform.api.get_text(path).await.1);
    }
    answers.push(
        platform
            .api
            .get_text(&format!("/v1/jobs/{}/logs", ids[0]))
            .await
            .1,
    );

    // No value in clear: not in the configuration database, the JetStream store,
    // any log or file of the platform, nor in any answer the API gave.
    platform.prism.terminate(Duration::from_secs(10));
    for value in [PG_PASSWORD, S3_KEY_ID, S3_SECRET_KEY] {
        let found = files_holding(platform.dir.path(), value.as_bytes());
        assert!(found.is_empty(), "{value} in clear in {found:?}");
        assert!(
            answers.iter().all(|a| !a.contains(value)),
            "{value} in an API answer"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_joins_reference_tables_read_once_from_postgresql_and_s3() {
    let (pg, s3) = (PostgresServer::start().await, S3Server::start().await);
    pg.client()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE cities (code text, city text); INSERT INTO cities VALUES ('B1','Berlin'),('P2','Paris')")
        .await
        .unwrap();
    let platform = standalone().await;
    warehouse(&platform, &pg).await;
    lake(&platform, &s3).await;
    s3.put(
        "lake",
        "data/ref/countries.csv",
        "code,country\nB1,Germany\nP2,France\n",
    )
    .await;
    let service = json!({"kind":"service","stages":[
        {"id":"input","type":"input","fields":[{"name":"code","type":"string","required":true}]},
        {"id":"cities","type":"read","connection":"warehouse","table":"cities"},
        {"id":"countries","type":"read","connection":"lake","path":"ref/countries.csv","format":"csv"},
        {"id":"found","type":"sql","inputs":["input","cities","countries"],
         "query":"SELECT i.code, c.city, k.country FROM input i JOIN cities c ON c.code = i.code JOIN countries k ON k.code = i.code ORDER BY i.code"},
        {"id":"out","type":"output","input":"found"}]});
    assert_eq!(
        platform.api.put("/v1/dataflows/lookup", &service).await.0,
        201
    );
    let (status, body) = platform
        .api
        .put("/v1/services/lookup", &json!({"dataflow":"lookup"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let rows = json!({"rows":[{"code":"P2"},{"code":"B1"}]});
    let answer = prism_tests::wait_until("the service answers", WAIT, || async {
        let (status, body) = platform.api.post("/v1/services/lookup/invoke", &rows).await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(
        answer["rows"],
        json!([{"code":"B1","city":"Berlin","country":"Germany"},{"code":"P2","city":"Paris","country":"France"}])
    );
    // Loaded once per version: more calls read nothing more from PostgreSQL.
    let reads = |log: &str| log.matches("COPY (SELECT").count();
    let before = reads(&pg.log());
    for _ in 0..5 {
        let (status, _) = platform.api.post("/v1/services/lookup/invoke", &rows).await;
        assert_eq!(status, 200);
    }
    assert_eq!(reads(&pg.log()), before);
}

/// An executor keeps its own list of hosts: a job message that names a host
/// outside it fails, whatever the message says, even with a secret that opens.
#[tokio::test(flavor = "multi_thread")]
async fn an_executor_refuses_a_forged_job_that_reaches_outside_its_hosts() {
    use prism_schemas::v1::{Connection, JobRun, PostgresSpec};

    let platform = standalone().await;
    // What only a compromised publisher holding the master key could send.
    let keyring =
        prism_secrets::Keyring::open(&platform.dir.path().join("data/master.key")).unwrap();
    let client = platform.nats_as(prism_tests::BusUser::Admin).await;
    for host in ["169.254.169.254", "db.elsewhere"] {
        let id = uuid::Uuid::now_v7().to_string();
        let run = JobRun {
            job_id: id.clone(),
            dataflow: "forged".into(),
            dataflow_version: 1,
            dataflow_document: json!({"kind":"job","stages":[
                {"id":"t","type":"read","connection":"warehouse","table":"t"},
                {"id":"out","type":"write","input":"t","connection":"warehouse","table":"copy"}]})
            .to_string(),
            connections: vec![Connection {
                name: "warehouse".into(),
                kind: "postgres".into(),
                postgres: Some(PostgresSpec {
                    host: host.into(),
                    port: 5432,
                    database: "d".into(),
                    user: "u".into(),
                    password_secret: "pw".into(),
                    sslmode: "disable".into(),
                    pool_max: 1,
                }),
                secrets: vec![prism_secrets::seal(&keyring, "pw", 1, "opens").unwrap()],
                ..Default::default()
            }],
            max_attempts: 1,
            ..Default::default()
        };
        let failed = prism_tests::jobs::run_forged(&client, &run, WAIT).await;
        assert!(
            failed.error.contains("PRISM_CONNECTION_HOSTS"),
            "{host}: {}",
            failed.error
        );
    }
}
