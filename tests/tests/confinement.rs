//! Jobs are confined to what they are given: each attack here is tried over the
//! real platform and must fail without touching anything outside the connection.
use std::time::Duration;

use prism_tests::{Standalone, write_people_csv};
use serde_json::{Value, json};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

fn read_then_write(read: &str, write: &str) -> Value {
    json!({"kind":"job","parameters":{"p":"people.csv"},"stages":[
        {"id":"input","type":"read","connection":"files","path":read,"format":"csv"},
        {"id":"out","type":"write","input":"input","connection":"files","path":write,"format":"csv"}]})
}

/// Submits `dataflow` (saved as `name`) and waits for it to end.
async fn run(platform: &Standalone, name: &str, dataflow: &Value) -> Value {
    let api = &platform.api;
    let (status, body) = api.put(&format!("/v1/dataflows/{name}"), dataflow).await;
    assert_eq!(status, 201, "{body}");
    let (status, job) = api.post("/v1/jobs", &json!({"dataflow": name})).await;
    assert_eq!(status, 202, "{job}");
    api.wait_terminal(job["id"].as_str().unwrap(), JOB_TIMEOUT)
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_stay_within_the_file_roots_and_jobs_within_their_connections() {
    let platform = Standalone::start().await;
    let api = &platform.api;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.csv"), "name,age\nsecret,99\n").unwrap();

    for root in ["/", "/etc", &outside.path().display().to_string()] {
        let (status, body) = api
            .put(
                "/v1/connections/wide",
                &json!({"kind":"local","root": root}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].clone()),
            (400, json!("root")),
            "{root}: {body}"
        );
    }
    write_people_csv(&platform.files);
    let (status, body) = api
        .put(
            "/v1/connections/files",
            &json!({"kind":"local","root": platform.files}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // A symlink inside the root that leads out: reading through it fails.
    std::os::unix::fs::symlink(
        outside.path().join("secret.csv"),
        platform.files.join("leak.csv"),
    )
    .unwrap();
    let job = run(
        &platform,
        "leak-read",
        &read_then_write("leak.csv", "out/leak.csv"),
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("leads outside the connection root"),
        "{job}"
    );
    assert!(!platform.files.join("out/leak.csv").exists());

    // A symlinked directory: writing through it fails, and nothing lands outside.
    std::os::unix::fs::symlink(outside.path(), platform.files.join("exit")).unwrap();
    let job = run(
        &platform,
        "leak-write",
        &read_then_write("people.csv", "exit/stolen.csv"),
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("symlink"), "{job}");
    let names: Vec<String> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["secret.csv"],
        "nothing written outside, not even a staging file"
    );

    // A parameter value that climbs out of the root: refused before anything runs.
    let (status, body) = api
        .put(
            "/v1/dataflows/by-path",
            &read_then_write("${p}", "out/copy.csv"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for value in ["../../etc/passwd", "/etc/passwd", "a/../../b"] {
        let submit = json!({"dataflow":"by-path","parameters":{"p": value}});
        let (status, body) = api.post("/v1/jobs", &submit).await;
        assert_eq!(
            (status, body["error"]["field"].clone()),
            (400, json!("parameters.p")),
            "{value}: {body}"
        );
    }
    let (_, page) = api.get("/v1/jobs?dataflow=by-path").await;
    assert_eq!(page["jobs"], json!([]), "no job was accepted");
}

/// An executor keeps its own list of file roots: a job message that names a
/// connection elsewhere fails, whatever the message says.
#[tokio::test(flavor = "multi_thread")]
async fn an_executor_refuses_a_job_whose_connection_lies_outside_its_roots() {
    use prism_schemas::v1::{Connection, JobRun};

    let platform = Standalone::start().await;
    // The bus admin: what only a compromised publisher could send.
    let client = platform.nats_as(prism_tests::BusUser::Admin).await;
    let id = uuid::Uuid::now_v7().to_string();
    let document = read_then_write("etc/passwd", "tmp/passwd.csv").to_string();
    let run = JobRun {
        job_id: id.clone(),
        dataflow: "forged".into(),
        dataflow_version: 1,
        dataflow_document: document,
        connections: vec![Connection {
            name: "files".into(),
            kind: "local".into(),
            root: "/".into(),
            ..Default::default()
        }],
        parameters: [("p".to_string(), "people.csv".to_string())].into(),
        max_attempts: 1,
        ..Default::default()
    };
    let failed = prism_tests::jobs::run_forged(&client, &run, JOB_TIMEOUT).await;
    assert!(
        failed
            .error
            .contains("must lie within the allowed file roots"),
        "{}",
        failed.error
    );
    assert!(!std::path::Path::new("/tmp/passwd.csv").exists());
}

fn query_dataflow(query: &str) -> Value {
    json!({"kind":"job","parameters":{"who":"ann"},"stages":[
        {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
        {"id":"pick","type":"sql","inputs":["people"],"query":query},
        {"id":"out","type":"write","input":"pick","connection":"files","path":"out/pick.csv","format":"csv"}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_stages_are_queries_with_parameters_bound_as_values() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let api = &platform.api;
    for statement in [
        "COPY (SELECT * FROM people) TO '/tmp/escaped_copy.csv' STORED AS CSV",
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
        "INSERT INTO people VALUES ('eve', 40)",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let (status, body) = api
            .put("/v1/dataflows/bad", &query_dataflow(statement))
            .await;
        assert_eq!(status, 400, "{statement}: {body}");
        let problems = body["error"]["details"]["problems"].as_array().unwrap();
        assert!(
            problems
                .iter()
                .any(|p| p["stage"] == "pick" && p["field"] == "stages[1].query"),
            "{statement}: {body}"
        );
    }
    assert!(!std::path::Path::new("/tmp/escaped_copy.csv").exists());

    // `${who}` is a value: a quote and a UNION in it are just characters.
    let by_name = query_dataflow("SELECT name FROM people WHERE name = ${who}");
    assert_eq!(api.put("/v1/dataflows/by-name", &by_name).await.0, 201);
    for (who, rows) in [
        ("ann", 1),
        ("x' UNION SELECT name FROM people WHERE 'a'='a", 0),
        ("ann' OR 'a'='a", 0),
    ] {
        let submit = json!({"dataflow":"by-name","parameters":{"who": who}});
        let (status, job) = api.post("/v1/jobs", &submit).await;
        assert_eq!(status, 202, "{job}");
        let job = api
            .wait_terminal(job["id"].as_str().unwrap(), JOB_TIMEOUT)
            .await;
        assert_eq!(
            (job["status"].clone(), job["rows_written"].clone()),
            (json!("succeeded"), json!(rows)),
            "{who}: {job}"
        );
    }
    // A typed placeholder takes the column's type.
    let adults = query_dataflow("SELECT name FROM people WHERE age >= ${who}");
    assert_eq!(api.put("/v1/dataflows/adults", &adults).await.0, 201);
    let (_, job) = api
        .post(
            "/v1/jobs",
            &json!({"dataflow":"adults","parameters":{"who":"18"}}),
        )
        .await;
    let job = api
        .wait_terminal(job["id"].as_str().unwrap(), JOB_TIMEOUT)
        .await;
    assert_eq!(job["rows_written"], 2, "{job}");
    // No query reads a file by itself: neither a path as a table nor a table function.
    for (name, query) in [
        ("path-table", "SELECT * FROM '/etc/passwd'"),
        ("table-function", "SELECT * FROM read_csv('/etc/passwd')"),
    ] {
        let job = run(&platform, name, &query_dataflow(query)).await;
        assert_eq!(job["status"], "failed", "{query}: {job}");
        assert_eq!(job["rows_written"], 0, "{job}");
    }
    // Quoting a placeholder is refused: it would make a value text again.
    let quoted = query_dataflow("SELECT name FROM people WHERE name = '${who}'");
    let (status, body) = api.put("/v1/dataflows/quoted", &quoted).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn heavy_jobs_fail_cleanly_and_the_executor_keeps_serving() {
    let platform = Standalone::start_with(&[
        ("PRISM_JOB_MEMORY_MB", "64".into()),
        ("PRISM_JOB_SPILL_MB", "16".into()),
        ("PRISM_JOB_OUTPUT_MB", "8".into()),
    ])
    .await;
    platform.files_connection().await;
    let api = &platform.api;
    let healthy = query_dataflow("SELECT name FROM people");
    assert_eq!(api.put("/v1/dataflows/healthy", &healthy).await.0, 201);
    let succeeds = || async {
        let (_, job) = api.post("/v1/jobs", &json!({"dataflow":"healthy"})).await;
        let job = api
            .wait_terminal(job["id"].as_str().unwrap(), JOB_TIMEOUT)
            .await;
        assert_eq!(
            job["status"], "succeeded",
            "the executor still serves: {job}"
        );
    };

    // Sorting 30 million rows needs more than 64 MiB of memory and 16 of spill:
    // out of memory, cleanly.
    let product = query_dataflow(
        "SELECT value * 7919 % 1000003 AS v FROM generate_series(1, 30000000) ORDER BY v",
    );
    let (status, body) = api.put("/v1/dataflows/product", &product).await;
    assert_eq!(status, 201, "{body}");
    // A healthy job runs beside it, on the same executor, and is not harmed.
    let beside = json!({"kind":"job","stages":[
        {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
        {"id":"wait","type":"delay","milliseconds":300},
        {"id":"out","type":"write","input":"people","connection":"files","path":"out/beside.csv","format":"csv"}]});
    assert_eq!(api.put("/v1/dataflows/beside", &beside).await.0, 201);
    let (_, heavy) = api.post("/v1/jobs", &json!({"dataflow":"product"})).await;
    let (_, light) = api.post("/v1/jobs", &json!({"dataflow":"beside"})).await;
    let light = api
        .wait_terminal(light["id"].as_str().unwrap(), JOB_TIMEOUT)
        .await;
    assert_eq!(light["status"], "succeeded", "{light}");
    let job = api
        .wait_terminal(heavy["id"].as_str().unwrap(), JOB_TIMEOUT)
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap().to_lowercase();
    assert!(
        error.contains("memory") || error.contains("resources exhausted"),
        "{error}"
    );
    succeeds().await;

    // A cartesian product of two large series streams into its file, needing no
    // memory: the output cap stops it, and no part of its file stays.
    let endless = query_dataflow(
        "SELECT a.value * b.value AS v FROM generate_series(1, 100000) AS a, generate_series(1, 100000) AS b",
    );
    let job = run(&platform, "endless", &endless).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("output limit"), "{error}");
    let out = std::fs::read_dir(platform.files.join("out")).unwrap();
    let left: Vec<String> = out
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("prism-"))
        .collect();
    assert!(left.is_empty(), "staged files left: {left:?}");

    // Two delays longer than the dataflow's timeout: `timeout`, and no output.
    let slow = json!({"kind":"job","timeout_seconds":1,"stages":[
        {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
        {"id":"wait1","type":"delay","milliseconds":700},
        {"id":"wait2","type":"delay","milliseconds":700},
        {"id":"out","type":"write","input":"people","connection":"files","path":"out/slow.csv","format":"csv"}]});
    let job = run(&platform, "slow", &slow).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"].as_str().unwrap().starts_with("timeout"),
        "{job}"
    );
    assert!(!platform.files.join("out/slow.csv").exists());

    // A 30,000-term expression: refused on save, naming the stage.
    let terms = format!("SELECT {} AS v", vec!["1"; 30_000].join("+"));
    let (status, body) = api.put("/v1/dataflows/deep", &query_dataflow(&terms)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "stages[1].query", "{body}");
    // A parameter expansion bomb: values are bounded and never expanded again.
    let bomb = "${who}".repeat(1000);
    let (status, body) = api
        .post(
            "/v1/jobs",
            &json!({"dataflow":"healthy","parameters":{"who": bomb}}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("parameters.who")),
        "{body}"
    );
    succeeds().await;
}

/// An anchor on a `string_bytes` string, `levels` levels of `width` aliases each,
/// and a padding list of `padding` items: the 84 KB shape that once took 18 GB.
fn alias_bomb(string_bytes: usize, levels: usize, width: usize, padding: usize) -> String {
    let mut text = format!("s0: &s0 \"{}\"\n", "x".repeat(string_bytes));
    for level in 1..=levels {
        let aliases = vec![format!("*s{}", level - 1); width].join(", ");
        text.push_str(&format!("s{level}: &s{level} [{aliases}]\n"));
    }
    text.push_str(&format!("pad: [{}]\n", vec!["0"; padding].join(",")));
    text.push_str("kind: job\nstages: *s1\n");
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn a_yaml_alias_bomb_is_refused() {
    let platform = Standalone::start().await;
    // The classic shape (nine levels of nine), which serde_yaml's own limit caught,
    // then the one that passed it, deeper, wider and with longer strings.
    let mut classic = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (name, previous) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        classic.push_str(&format!("{name}: &{name} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]\n"));
    }
    classic.push_str("kind: job\nstages: *i\n");
    let bombs = [
        classic,
        alias_bomb(60_000, 6, 10, 12_000),
        alias_bomb(60_000, 12, 10, 0),
        alias_bomb(100, 6, 60, 0),
        alias_bomb(85_000, 1, 2, 0),
        alias_bomb(1, 30, 2, 0),
    ];
    let before = platform.prism.peak_kib();
    for bomb in &bombs {
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(1),
            platform
                .api
                .put_raw("/v1/dataflows/bomb", "application/yaml", bomb),
        )
        .await;
        let Ok((status, body)) = answer else {
            panic!("a {} byte bomb was not refused within a second", bomb.len());
        };
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["field"], "document", "{body}");
        assert!(body.to_string().contains("expands to more than"), "{body}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    let grown = platform.prism.peak_kib().saturating_sub(before);
    assert!(
        before > 0 && grown < 50 * 1024,
        "peak memory grew {grown} KiB"
    );
    let (status, _) = platform.api.get("/v1/dataflows/bomb").await;
    assert_eq!(status, 404, "nothing was saved");
}

/// A directory of the connection swapped for a symlink to a place outside it,
/// again and again while jobs read a file beneath it: a check of the path followed
/// by an open by name can be raced (the check sees the directory, the open follows
/// the symlink). Reads open the file by descriptor beneath the connection's root,
/// so every job reads the file inside or fails, and none reads the one outside.
#[tokio::test(flavor = "multi_thread")]
async fn a_directory_swapped_for_a_symlink_during_reads_never_leads_outside() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let platform = Standalone::start().await;
    let api = &platform.api;
    let files = platform.files.clone();
    let inside = files.join("sub");
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::write(inside.join("people.csv"), "name,age\ninside,1\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("people.csv"), "name,age\nSECRET,99\n").unwrap();
    let connection = json!({"kind":"local","root": files});
    assert_eq!(api.put("/v1/connections/files", &connection).await.0, 201);
    let dataflow = json!({"kind":"job","parameters":{"n":null},"stages":[
        {"id":"input","type":"read","connection":"files","path":"sub/people.csv","format":"csv"},
        {"id":"out","type":"write","input":"input","connection":"files","path":"out/${n}.csv","format":"csv"}]});
    assert_eq!(api.put("/v1/dataflows/swap", &dataflow).await.0, 201);

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, files, target) = (stop.clone(), files.clone(), outside.path().to_path_buf());
        std::thread::spawn(move || {
            let (real, parked) = (files.join("sub"), files.join("sub.parked"));
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                std::fs::rename(&real, &parked).unwrap();
                std::os::unix::fs::symlink(&target, &real).unwrap();
                std::thread::yield_now();
                std::fs::remove_file(&real).unwrap();
                std::fs::rename(&parked, &real).unwrap();
                std::thread::yield_now();
                swaps += 1;
            }
            swaps
        })
    };
    let mut outcomes = Vec::new();
    for n in 0..40 {
        let body = json!({"dataflow":"swap","parameters":{"n": n}});
        let (status, job) = api.post("/v1/jobs", &body).await;
        assert_eq!(status, 202, "{job}");
        outcomes.push(job["id"].as_str().unwrap().to_string());
    }
    let mut succeeded = 0;
    for id in &outcomes {
        let job = api.wait_terminal(id, JOB_TIMEOUT).await;
        if job["status"] == "succeeded" {
            succeeded += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(
        swaps > 100,
        "the directory was swapped while jobs read ({swaps} times)"
    );
    for n in 0..40 {
        let written =
            std::fs::read_to_string(files.join(format!("out/{n}.csv"))).unwrap_or_default();
        assert!(
            !written.contains("SECRET"),
            "job {n} read the file outside the connection: {written}"
        );
    }
    assert!(succeeded > 0, "some jobs read the file inside");
}
