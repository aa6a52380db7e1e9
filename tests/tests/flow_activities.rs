//! Process flow activities beyond single jobs, over the real platform: `foreach`
//! within its bound, child flows (and their cancel), schedules firing flows
//! exactly once across schedulers, and the run's events on the bus.
use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use prism_tests::jobs::prepare_numbered;
use prism_tests::{BusUser, NatsServer, Services, ServicesSpec, Standalone, wait_until};
use serde_json::{Value, json};

async fn ended(api: &prism_tests::Api, id: &str, within: Duration) -> Value {
    let path = format!("/v1/processflow-runs/{id}");
    wait_until("the run ended", within, || async {
        let (_, run) = api.get(&path).await;
        (run["state"] != "running").then_some(run)
    })
    .await
}

/// The most jobs that ran at one instant, from their own start and end times
/// (an end at the same millisecond as a start comes first).
fn most_at_once(jobs: &[Value]) -> usize {
    let mut edges: Vec<(String, i32)> = Vec::new();
    for job in jobs {
        edges.push((job["started_at"].as_str().unwrap().to_string(), 1));
        edges.push((job["finished_at"].as_str().unwrap().to_string(), -1));
    }
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, delta) in edges {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

/// 500 items at most 8 at a time, on an executor that could run 16: never more
/// than 8 of its jobs run (sampled from the run while it goes, and from the jobs'
/// own times afterwards), and the fan-in starts after all 500.
#[tokio::test(flavor = "multi_thread")]
async fn a_foreach_runs_within_its_bound_and_the_fan_in_waits_for_every_item() {
    let platform = Standalone::start_with(&[("PRISM_EXECUTOR_CONCURRENCY", "16".into())]).await;
    let api = &platform.api;
    prepare_numbered(api, &platform.files, 20).await;
    let flow = json!({
        "parameters": {"items": null},
        "activities": [
            {"id": "fan", "type": "foreach", "items": "${items}", "max_parallel": 8,
             "each": {"type": "job", "dataflow": "numbered", "parameters": {"n": "${item}"}}},
            {"id": "after", "type": "job", "dataflow": "numbered", "parameters": {"n": "after"}},
            {"id": "done", "type": "succeed"}
        ],
        "transitions": [
            {"from": "fan", "to": "after", "on": "succeeded"},
            {"from": "after", "to": "done", "on": "always"}
        ]
    });
    assert_eq!(api.put("/v1/processflows/fan", &flow).await.0, 201);
    let items: Vec<String> = (0..500).map(|i| format!("i{i}")).collect();
    let (status, run) = api
        .post(
            "/v1/processflows/fan/runs",
            &json!({"parameters": {"items": items.join(",")}}),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    let path = format!("/v1/processflow-runs/{id}");
    let mut samples = 0;
    let mut most_sampled = 0;
    let run = loop {
        let (_, run) = api.get(&path).await;
        let fan = &run["activities"][0];
        let running = fan["items"]
            .as_array()
            .map_or(0, |i| i.iter().filter(|i| i["state"] == "running").count());
        most_sampled = most_sampled.max(running);
        assert!(running <= 8, "{running} items running");
        samples += 1;
        if run["state"] != "running" {
            break run;
        }
        assert!(samples < 3_000, "the run did not end: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(most_sampled, 8, "the bound was reached while sampled");
    let fan = &run["activities"][0];
    assert_eq!(fan["items"].as_array().unwrap().len(), 500);
    assert!(
        fan["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "succeeded")
    );

    let (_, page) = api.get("/v1/jobs?dataflow=numbered&limit=1000").await;
    let jobs: Vec<Value> = page["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 501, "one job per item, and the fan-in");
    let keys: HashSet<&str> = jobs
        .iter()
        .map(|j| j["idempotency_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 501);
    assert!(keys.contains(format!("flow:{id}:fan[499]:1").as_str()));
    let item_jobs: Vec<Value> = jobs
        .iter()
        .filter(|j| j["idempotency_key"] != format!("flow:{id}:after:1"))
        .cloned()
        .collect();
    assert_eq!(most_at_once(&item_jobs), 8, "jobs' own times");
    let after = jobs
        .iter()
        .find(|j| j["idempotency_key"] == format!("flow:{id}:after:1"))
        .unwrap();
    let last_item_end = item_jobs
        .iter()
        .map(|j| j["finished_at"].as_str().unwrap())
        .max()
        .unwrap();
    assert!(
        after["started_at"].as_str().unwrap() >= last_item_end,
        "the fan-in started after every item ended"
    );
}

/// A `flow` activity starts its child once and ends with it; the run's events
/// are on the bus; cancelling a parent cancels its running child and its job.
#[tokio::test(flavor = "multi_thread")]
async fn child_flows_run_to_their_end_and_follow_their_parent_into_a_cancel() {
    let platform = Standalone::start().await;
    let api = &platform.api;
    prepare_numbered(api, &platform.files, 0).await;
    let mut slow = prism_tests::jobs::numbered_dataflow(60_000);
    slow["parameters"] = json!({"n": null});
    assert_eq!(api.put("/v1/dataflows/slow", &slow).await.0, 201);
    let inner = |dataflow: &str| {
        json!({
            "parameters": {"n": null},
            "activities": [
                {"id": "work", "type": "job", "dataflow": dataflow, "parameters": {"n": "${n}"}},
                {"id": "done", "type": "succeed"}
            ],
            "transitions": [{"from": "work", "to": "done", "on": "succeeded"}]
        })
    };
    assert_eq!(
        api.put("/v1/processflows/inner", &inner("numbered"))
            .await
            .0,
        201
    );
    assert_eq!(
        api.put("/v1/processflows/stuck", &inner("slow")).await.0,
        201
    );
    let outer = |child: &str| {
        json!({
            "activities": [
                {"id": "child", "type": "flow", "processflow": child, "parameters": {"n": "from-parent"}},
                {"id": "done", "type": "succeed"}
            ],
            "transitions": [{"from": "child", "to": "done", "on": "succeeded"}]
        })
    };
    assert_eq!(
        api.put("/v1/processflows/outer", &outer("inner")).await.0,
        201
    );
    assert_eq!(
        api.put("/v1/processflows/waiting", &outer("stuck")).await.0,
        201
    );

    let events = platform.nats_as(BusUser::Events).await;
    let mut flow_events = events.subscribe("prism.events.flow.>").await.unwrap();
    let (status, run) = api.post("/v1/processflows/outer/runs", &json!({})).await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    let run = ended(api, &id, Duration::from_secs(60)).await;
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let child_id = run["activities"][0]["child_run"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, child) = api.get(&format!("/v1/processflow-runs/{child_id}")).await;
    assert_eq!(child["state"], "succeeded", "{child:#}");
    assert_eq!(child["parent_run"], json!(id));
    assert_eq!(
        child["idempotency_key"],
        json!(format!("flow:{id}:child:1"))
    );
    assert!(
        platform.files.join("out/from-parent.csv").exists(),
        "the parent's parameter reached the child's job"
    );

    // The parent's events, in order, each once.
    let mut seen: Vec<(String, String, String)> = Vec::new();
    let mut ids = HashSet::new();
    while !seen.iter().any(|(kind, _, _)| kind == "succeeded") {
        let message = tokio::time::timeout(Duration::from_secs(10), flow_events.next())
            .await
            .expect("the run's events")
            .unwrap();
        let event: prism_schemas::v1::FlowEvent = prism_bus::decode(&message.payload).unwrap();
        assert_eq!(
            message.subject.as_str(),
            format!("prism.events.flow.{}.{}", event.run_id, event.kind)
        );
        if event.run_id != id {
            continue;
        }
        assert!(
            ids.insert(event.event_id.clone()),
            "{} twice",
            event.event_id
        );
        seen.push((event.kind, event.activity, event.state));
    }
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        seen,
        [
            s("started", "", "running"),
            s("activity", "child", "running"),
            s("activity", "child", "succeeded"),
            s("activity", "done", "succeeded"),
            s("succeeded", "", "succeeded"),
        ]
    );

    // A cancel reaches the child and its job.
    let (_, run) = api.post("/v1/processflows/waiting/runs", &json!({})).await;
    let path = format!("/v1/processflow-runs/{}", run["id"].as_str().unwrap());
    let child_id = wait_until("the child's job runs", Duration::from_secs(60), || async {
        let (_, run) = api.get(&path).await;
        let child = run["activities"][0]["child_run"].as_str()?.to_string();
        let (_, child_run) = api.get(&format!("/v1/processflow-runs/{child}")).await;
        child_run["activities"][0]["job_id"].as_str().map(|_| child)
    })
    .await;
    let (status, cancelled) = api.post(&format!("{path}/cancel"), &json!({})).await;
    assert_eq!(status, 200, "{cancelled}");
    let (_, child) = api.get(&format!("/v1/processflow-runs/{child_id}")).await;
    assert_eq!(child["state"], "cancelled", "{child:#}");
    let job = child["activities"][0]["job_id"].as_str().unwrap();
    api.wait_status(job, "cancelled", Duration::from_secs(60))
        .await;
}

/// Two schedulers fire a process flow every second: one run per occurrence, each
/// named in its `schedule.fired` event, each run to its end.
#[tokio::test(flavor = "multi_thread")]
async fn schedules_fire_one_flow_run_per_occurrence_across_schedulers() {
    let nats = NatsServer::start();
    let services = Services::start(
        &nats,
        ServicesSpec {
            schedulers: 2,
            ..Default::default()
        },
    )
    .await;
    let api = &services.api;
    prepare_numbered(api, &services.files, 0).await;
    let flow = json!({
        "parameters": {"n": null},
        "activities": [
            {"id": "work", "type": "job", "dataflow": "numbered", "parameters": {"n": "${n}"}},
            {"id": "done", "type": "succeed"}
        ],
        "transitions": [{"from": "work", "to": "done", "on": "succeeded"}]
    });
    assert_eq!(api.put("/v1/processflows/ticking", &flow).await.0, 201);
    let (status, refused) = api
        .put(
            "/v1/schedules/tick",
            &json!({"processflow": "ticking", "cron": "* * * * * *"}),
        )
        .await;
    assert_eq!(status, 400, "the flow's parameter is required: {refused}");
    assert_eq!(refused["error"]["field"], "parameters.n");
    let (status, both) = api
        .put(
            "/v1/schedules/tick",
            &json!({"processflow": "ticking", "dataflow": "numbered", "cron": "* * * * * *"}),
        )
        .await;
    assert_eq!(status, 400, "{both}");
    let schedule =
        json!({"processflow": "ticking", "cron": "* * * * * *", "parameters": {"n": "s"}});
    let (status, body) = api.put("/v1/schedules/tick", &schedule).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["processflow"], "ticking");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut disabled = schedule.clone();
    disabled["enabled"] = json!(false);
    assert_eq!(api.put("/v1/schedules/tick", &disabled).await.0, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let fired: Vec<Value> = wait_until("fired events audited", Duration::from_secs(20), || async {
        let fired: Vec<Value> = api
            .audit()
            .await
            .into_iter()
            .filter(|e| e["action"] == "schedule.fired")
            .collect();
        (fired.len() >= 3).then_some(fired)
    })
    .await;
    let runs: HashSet<&str> = fired
        .iter()
        .map(|e| e["details"]["flow_run"].as_str().unwrap())
        .collect();
    assert_eq!(
        runs.len(),
        fired.len(),
        "one run per occurrence: {fired:#?}"
    );
    let mut occurrences = HashSet::new();
    for id in &runs {
        let run = ended(api, id, Duration::from_secs(60)).await;
        assert_eq!(run["state"], "succeeded", "{run:#}");
        assert!(occurrences.insert(run["idempotency_key"].as_str().unwrap().to_string()));
        assert_eq!(run["submitted_by"], "admin");
    }
    // The flow's runs list them all, newest first.
    let (_, listed) = api.get("/v1/processflows/ticking/runs").await;
    let listed: Vec<&str> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), runs.len());
    assert!(listed.windows(2).all(|w| w[0] > w[1]), "newest first");
    // Every run's job, and no other.
    let (_, page) = api.get("/v1/jobs?dataflow=numbered&limit=1000").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), runs.len());
}
