//! Exactly once under SIGKILL, where the outputs are a PostgreSQL table and S3
//! objects: executors are killed every 1 to 2 seconds while 200 jobs each append
//! two rows to one table and write one object. Every job must succeed; the table
//! must hold each job's two rows once, the bucket each job's object once, and no
//! staging table or staging key may outlive the jobs.
use std::time::Duration;

use prism_tests::data_servers::{PostgresServer, S3Server, connection_setup};
use prism_tests::jobs::random_below;
use prism_tests::{NatsServer, Services, ServicesSpec, wait_until, write_people_csv};
use serde_json::json;

const JOBS: usize = 200;

#[tokio::test(flavor = "multi_thread")]
async fn killed_executors_neither_lose_nor_duplicate_rows_or_objects() {
    let (nats, pg, s3) = (
        NatsServer::start(),
        PostgresServer::start().await,
        S3Server::start().await,
    );
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("master.key");
    std::fs::write(&key_file, "eCt2SmF3ZUNvbm5lY3Rpb25LaWxsc01hc3RlcktleTE=\n").unwrap();
    let mut services = Services::start(
        &nats,
        ServicesSpec {
            executors: 2,
            ack_wait_secs: 3,
            max_attempts: 50,
            concurrency: 4,
            common_env: vec![
                ("PRISM_MASTER_KEY_FILE", key_file.display().to_string()),
                ("PRISM_CONNECTION_HOSTS", "127.0.0.1".into()),
            ],
            ..Default::default()
        },
    )
    .await;
    let api = services.api.clone();
    write_people_csv(&services.files);
    s3.create_bucket("lake").await;
    pg.client()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE landed (n bigint, name text)")
        .await
        .unwrap();
    let mut setup = connection_setup(&pg, &s3, "lake");
    setup.extend([
        ("/v1/connections/files", json!({"kind":"local","root": services.files})),
        (
            "/v1/dataflows/land",
            json!({"kind":"job","parameters":{"n":null},"stages":[
                {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
                {"id":"adults","type":"sql","inputs":["people"],
                 "query":"SELECT CAST(${n} AS BIGINT) AS n, name FROM people WHERE age >= 18"},
                {"id":"pause","type":"delay","milliseconds":300},
                {"id":"rows","type":"write","input":"adults","connection":"warehouse","table":"landed"},
                {"id":"object","type":"write","input":"adults","connection":"lake","path":"out/${n}.csv","format":"csv"}]}),
        ),
    ]);
    for (path, body) in setup {
        let (status, answer) = api.put(path, &body).await;
        assert_eq!(status, 201, "{path}: {answer}");
    }

    let mut ids = Vec::new();
    for n in 0..JOBS {
        let request = json!({"dataflow":"land","parameters":{"n": n.to_string()}});
        let (status, accepted) = api.submit_with_key(&request, &format!("land-{n}")).await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["id"].as_str().unwrap().to_string());
    }
    // Kill an executor every 1 to 2 s, and start it again, until every job ended.
    let mut kills = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        let (_, page) = api.get("/v1/jobs?status=succeeded&limit=1000").await;
        let done = page["jobs"].as_array().map_or(0, Vec::len);
        if done == JOBS {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{done} of {JOBS} jobs done"
        );
        tokio::time::sleep(Duration::from_millis(1000 + random_below(1000) as u64)).await;
        let victim = random_below(services.executors.len());
        services.executors[victim].restart();
        kills += 1;
    }
    for id in &ids {
        let job = api.wait_terminal(id, Duration::from_secs(60)).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    let client = pg.client().await.unwrap();
    let rows: Vec<(i64, i64)> = client
        .query("SELECT n, count(*) FROM landed GROUP BY n ORDER BY n", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let expected: Vec<(i64, i64)> = (0..JOBS as i64).map(|n| (n, 2)).collect();
    assert_eq!(rows, expected, "each job's two rows, once ({kills} kills)");
    let mut wanted: Vec<String> = (0..JOBS).map(|n| format!("out/{n}.csv")).collect();
    wanted.sort();
    assert_eq!(
        s3.keys("lake").await,
        wanted,
        "each object once, no staging key left"
    );
    for n in [0, JOBS - 1] {
        let text = s3.get("lake", &format!("out/{n}.csv")).await.unwrap();
        assert_eq!(text, format!("n,name\n{n},ann\n{n},cid\n"));
    }
    wait_until(
        "staging tables gone with their sessions",
        Duration::from_secs(30),
        || async {
            let left: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_class WHERE relname = 'prism_staging'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            (left == 0).then_some(())
        },
    )
    .await;
    assert!(
        kills >= 3,
        "the executors were killed while the jobs ran ({kills})"
    );
}
