//! Traces leave every process over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set,
//! and a job's is one trace: the gateway's request, the executor's job and its
//! stages, and the audit service's records, each process under its own service name.
use std::collections::HashSet;
use std::time::Duration;

use prism_tests::otlp::{OtlpReceiver, ReceivedSpan};
use prism_tests::{NatsServer, Services, ServicesSpec, adults_dataflow, wait_until};
use serde_json::json;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn a_job_is_one_trace_from_the_request_through_its_stages_to_the_audit_record() {
    let receiver = OtlpReceiver::start().await;
    let nats = NatsServer::start();
    let spec = ServicesSpec {
        common_env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone()),
            // Export within a tenth of a second rather than the default five.
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ],
        ..ServicesSpec::default()
    };
    let services = Services::start(&nats, spec).await;
    let api = &services.api;
    prism_tests::write_people_csv(&services.files);
    let connection = json!({"kind":"local","root": services.files});
    assert_eq!(api.put("/v1/connections/files", &connection).await.0, 201);
    let dataflow = adults_dataflow("files", "out/adults.csv", 100);
    assert_eq!(api.put("/v1/dataflows/adults", &dataflow).await.0, 201);
    let (status, job) = api.post("/v1/jobs", &json!({"dataflow": "adults"})).await;
    assert_eq!(status, 202, "{job}");
    let job = api
        .wait_terminal(job["id"].as_str().unwrap(), JOB_TIMEOUT)
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let trace_id = job["trace_id"]
        .as_str()
        .unwrap_or_else(|| panic!("the job names its trace: {job}"));
    assert_eq!(trace_id.len(), 32, "{job}");

    // Each process exports on its own timer, so spans arrive in no particular
    // order across processes: wait for the last span of each (the audit's record of
    // the end, the executor's job), then check the whole trace.
    let spans = wait_until("the job's trace", Duration::from_secs(20), || async {
        let spans = receiver.trace(trace_id);
        let recorded_end = spans.iter().any(|s| {
            s.service == "prism-audit"
                && s.attribute("subject")
                    .is_some_and(|subject| subject.ends_with(".succeeded"))
        });
        let job_ended = spans
            .iter()
            .any(|s| s.service == "prism-executor" && s.name == "job");
        (recorded_end && job_ended).then_some(spans)
    })
    .await;
    let names = |service: &str| -> Vec<&str> {
        spans
            .iter()
            .filter(|s| s.service == service)
            .map(|s| s.name.as_str())
            .collect()
    };
    let gateway = names("prism-gateway");
    assert!(gateway.contains(&"POST /v1/jobs"), "{spans:#?}");
    let executor = names("prism-executor");
    for stage in [
        "job",
        "stage people",
        "stage adults",
        "stage pause",
        "stage out",
    ] {
        assert!(executor.contains(&stage), "no {stage:?} span: {executor:?}");
    }
    let audit = names("prism-audit");
    assert!(
        audit.iter().filter(|n| **n == "audit record").count() >= 3,
        "queued, started and succeeded each recorded: {audit:?}"
    );

    // One tree: a single root (the request), every other span's parent in the trace.
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let roots: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(roots.len(), 1, "one root: {roots:#?}");
    assert_eq!(roots[0].name, "POST /v1/jobs");
    for span in &spans {
        assert!(
            span.parent_span_id.is_empty() || ids.contains(span.parent_span_id.as_str()),
            "{} ({}) has a parent outside the trace",
            span.name,
            span.service
        );
    }
    // Stages are children of the job's span, and say what they did.
    let job_span = spans.iter().find(|s| s.name == "job").unwrap();
    let out = spans.iter().find(|s| s.name == "stage out").unwrap();
    assert_eq!(out.parent_span_id, job_span.span_id);
    assert_eq!(out.attribute("rows_out"), Some("2"), "{out:?}");
    let adults = spans.iter().find(|s| s.name == "stage adults").unwrap();
    assert_eq!(adults.attribute("rows_out"), Some("2"), "{adults:?}");
    // The audit batches that recorded the job link back to its trace.
    let linked = receiver
        .spans()
        .into_iter()
        .filter(|s| s.name == "audit_events" && s.links.iter().any(|l| l == trace_id))
        .count();
    assert!(linked >= 1, "an audit batch links to the job's trace");

    // A scheduled job's trace starts at the scheduler's firing.
    let every_second = json!({"dataflow":"adults","cron":"* * * * * *","enabled":true});
    assert_eq!(api.put("/v1/schedules/tick", &every_second).await.0, 201);
    let scheduled = wait_until("a scheduled job", Duration::from_secs(30), || async {
        let (_, page) = api.get("/v1/jobs?status=succeeded").await;
        let jobs = page["jobs"].as_array().cloned().unwrap_or_default();
        jobs.into_iter().find(|j| j["schedule"] == "tick")
    })
    .await;
    assert_eq!(api.delete("/v1/schedules/tick").await.0, 204);
    let trace_id = scheduled["trace_id"]
        .as_str()
        .expect("scheduled jobs are traced");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = receiver.trace(trace_id);
        let ran = spans.iter().any(|s| s.name == "stage out");
        if ran || std::time::Instant::now() > deadline {
            let names: Vec<_> = spans.iter().map(|s| (&s.service, &s.name)).collect();
            let outs: Vec<(String, String)> = receiver
                .spans()
                .into_iter()
                .filter(|s| s.name == "stage out")
                .map(|s| (s.trace_id, s.parent_span_id))
                .collect();
            let log = services.executors[0].log_text();
            assert!(
                ran,
                "the scheduled job's trace {trace_id} lacks its stages: {names:?} ({scheduled}); every write's span: {outs:?}; executor log: {log}"
            );
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let root: Vec<(&str, &str)> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .map(|s| (s.service.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(root, [("prism-scheduler", "schedule fire")], "{spans:#?}");
}
