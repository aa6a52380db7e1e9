use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::json;

use super::*;
use crate::validate::from_stored;

/// `a -> (b, c) -> d -> done`, and any failure to `failed`.
fn diamond() -> Flow {
    let document = json!({
        "parameters": {"min": "1"},
        "activities": [
            {"id": "a", "type": "job", "dataflow": "x"},
            {"id": "b", "type": "job", "dataflow": "x"},
            {"id": "c", "type": "job", "dataflow": "x", "retries": 1},
            {"id": "d", "type": "job", "dataflow": "x"},
            {"id": "done", "type": "succeed"},
            {"id": "failed", "type": "fail", "input": "first"}
        ],
        "transitions": [
            {"from": "a", "to": "b", "when": "a.rows_written >= 1 && params.min == '1'"},
            {"from": "a", "to": "c", "on": "succeeded"},
            {"from": "a", "to": "failed", "on": "otherwise"},
            {"from": "b", "to": "d", "on": "succeeded"},
            {"from": "c", "to": "d", "on": "succeeded"},
            {"from": "b", "to": "failed", "on": "failed"},
            {"from": "c", "to": "failed", "on": "failed"},
            {"from": "d", "to": "done", "on": "succeeded"},
            {"from": "d", "to": "failed", "on": "failed"}
        ]
    });
    from_stored(&document.to_string()).unwrap()
}

/// A run driven to its end, each job's outcome given by `ends` (activity → list of
/// outcomes, one per attempt); answers the run and every job started, in order.
fn drive(flow: &Flow, ends: HashMap<&str, Vec<bool>>) -> (FlowRunRecord, Vec<String>) {
    let mut run = FlowRunRecord {
        id: "r".into(),
        state: RUNNING.into(),
        activities: activities(flow),
        parameters: [("min".to_string(), "1".to_string())].into(),
        ..FlowRunRecord::default()
    };
    let started: RefCell<Vec<String>> = RefCell::default();
    let outcomes: RefCell<HashMap<String, JobOutcome>> = RefCell::default();
    for tick in 0..20 {
        let starts = step(flow, &mut run, tick, &|job| {
            outcomes.borrow().get(job).cloned()
        });
        for s in starts {
            let job = job_key("r", &s.activity, s.attempt);
            started.borrow_mut().push(job.clone());
            let succeeded = ends[s.activity.as_str()][s.attempt as usize - 1];
            outcomes.borrow_mut().insert(
                job.clone(),
                JobOutcome {
                    succeeded,
                    rows_read: 3,
                    rows_written: 2,
                },
            );
            let state = run
                .activities
                .iter_mut()
                .find(|a| a.id == s.activity)
                .unwrap();
            state.job_id = job;
        }
        if run.state != RUNNING {
            break;
        }
    }
    (run, started.into_inner())
}

fn state(run: &FlowRunRecord, id: &str) -> String {
    run.activities
        .iter()
        .find(|a| a.id == id)
        .unwrap()
        .state
        .clone()
}

#[test]
fn a_diamond_runs_every_job_once_and_ends() {
    let flow = diamond();
    let ends = HashMap::from([
        ("a", vec![true]),
        ("b", vec![true]),
        ("c", vec![true]),
        ("d", vec![true]),
    ]);
    let (run, started) = drive(&flow, ends);
    assert_eq!(run.state, SUCCEEDED, "{run:?}");
    assert_eq!(
        started,
        ["flow:r:a:1", "flow:r:b:1", "flow:r:c:1", "flow:r:d:1"]
    );
    assert_eq!(state(&run, "failed"), SKIPPED);
    let ab = run
        .decisions
        .iter()
        .find(|d| d.from == "a" && d.to == "b")
        .unwrap();
    assert!(ab.taken);
    assert_eq!(ab.rule, "when (a.rows_written >= 1 && params.min == '1')");
    assert_eq!(ab.values, "a.rows_written = 2, params.min = '1'");
    assert_eq!(ab.why, "the condition holds");
}

#[test]
fn a_failure_after_its_retries_takes_the_failed_path_and_the_join_is_skipped() {
    let flow = diamond();
    let ends = HashMap::from([
        ("a", vec![true]),
        ("b", vec![true]),
        ("c", vec![false, false]),
        ("d", vec![true]),
    ]);
    let (run, started) = drive(&flow, ends);
    assert_eq!(run.state, FAILED, "{run:?}");
    assert!(
        started.contains(&"flow:r:c:2".to_string()),
        "c was retried once: {started:?}"
    );
    assert!(
        !started.iter().any(|j| j.contains(":d:")),
        "d never ran: {started:?}"
    );
    assert_eq!(state(&run, "d"), SKIPPED);
    assert_eq!(state(&run, "failed"), SUCCEEDED, "the fail end was reached");
    let otherwise = run
        .decisions
        .iter()
        .find(|d| d.rule == "otherwise")
        .unwrap();
    assert_eq!(otherwise.why, "another transition was taken");
}

#[test]
fn a_resume_reruns_what_failed_and_what_follows_and_reuses_the_rest() {
    let flow = diamond();
    let ends = HashMap::from([
        ("a", vec![true]),
        ("b", vec![true]),
        ("c", vec![false, false]),
        ("d", vec![true]),
    ]);
    let (old, _) = drive(&flow, ends);
    let plan = resume_plan(&flow, &old, "failed").unwrap();
    let actions: Vec<(&str, &str)> = plan
        .iter()
        .map(|p| (p.activity.as_str(), p.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("a", "reuse"),
            ("b", "reuse"),
            ("c", "rerun"),
            ("d", "rerun"),
            ("done", "rerun"),
            ("failed", "rerun")
        ]
    );
    assert_eq!(plan[3].why, "it comes after c");
    let mut run = resumed(&old, &plan, "r2".into(), 100);
    assert_eq!(run.resumed_from, "r");
    // The cause is fixed: c now succeeds. Only c and d run.
    let outcomes: RefCell<HashMap<String, JobOutcome>> = RefCell::default();
    let mut started = Vec::new();
    for tick in 0..10 {
        for s in step(&flow, &mut run, tick, &|job| {
            outcomes.borrow().get(job).cloned()
        }) {
            let job = job_key("r2", &s.activity, s.attempt);
            started.push(job.clone());
            outcomes.borrow_mut().insert(
                job.clone(),
                JobOutcome {
                    succeeded: true,
                    rows_read: 3,
                    rows_written: 2,
                },
            );
            run.activities
                .iter_mut()
                .find(|a| a.id == s.activity)
                .unwrap()
                .job_id = job;
        }
    }
    assert_eq!(started, ["flow:r2:c:1", "flow:r2:d:1"]);
    assert_eq!(run.state, SUCCEEDED, "{run:?}");
    assert_eq!(state(&run, "a"), SUCCEEDED);
    assert!(
        resume_plan(&flow, &run, "failed").is_err(),
        "nothing failed to resume from"
    );
    assert_eq!(
        resume_plan(&flow, &run, "d")
            .unwrap()
            .iter()
            .filter(|p| p.action == "rerun")
            .count(),
        3
    );
}

#[test]
fn an_end_is_reached_by_any_transition_taken_into_it() {
    let document = json!({
        "activities": [
            {"id": "first", "type": "job", "dataflow": "x"},
            {"id": "then", "type": "job", "dataflow": "x"},
            {"id": "done", "type": "succeed"}
        ],
        "transitions": [
            {"from": "first", "to": "then", "on": "succeeded"},
            {"from": "then", "to": "done", "on": "always"},
            {"from": "first", "to": "done", "on": "otherwise"}
        ]
    });
    let flow = from_stored(&document.to_string()).unwrap();
    let (run, started) = drive(
        &flow,
        HashMap::from([("first", vec![true]), ("then", vec![true])]),
    );
    assert_eq!(started, ["flow:r:first:1", "flow:r:then:1"]);
    assert_eq!(run.state, SUCCEEDED, "{run:?}");
}
