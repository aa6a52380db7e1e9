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
            let job = s.key("r");
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
            record_start(flow, &mut run, &s, job);
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
            let job = s.key("r2");
            started.push(job.clone());
            outcomes.borrow_mut().insert(
                job.clone(),
                JobOutcome {
                    succeeded: true,
                    rows_read: 3,
                    rows_written: 2,
                },
            );
            record_start(&flow, &mut run, &s, job);
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

/// `fan` runs one job per region, at most 3 at a time; `after` waits for all.
fn fan_out() -> Flow {
    let document = json!({
        "parameters": {"regions": "a,b,c,d,e,f,g"},
        "activities": [
            {"id": "fan", "type": "foreach", "items": "${regions}", "max_parallel": 3,
             "each": {"type": "job", "dataflow": "x", "parameters": {"region": "${item}"}, "retries": 1}},
            {"id": "after", "type": "job", "dataflow": "x"},
            {"id": "done", "type": "succeed"},
            {"id": "failed", "type": "fail", "input": "first"}
        ],
        "transitions": [
            {"from": "fan", "to": "after", "on": "succeeded"},
            {"from": "fan", "to": "failed", "on": "failed"},
            {"from": "after", "to": "done", "on": "always"}
        ]
    });
    from_stored(&document.to_string()).unwrap()
}

#[test]
fn a_foreach_runs_each_item_within_its_bound_and_the_fan_in_waits_for_all() {
    let flow = fan_out();
    let mut run = FlowRunRecord {
        id: "r".into(),
        state: RUNNING.into(),
        activities: activities(&flow),
        parameters: [("regions".to_string(), "a,b,c,d,e,f,g".to_string())].into(),
        ..FlowRunRecord::default()
    };
    let outcomes: RefCell<HashMap<String, JobOutcome>> = RefCell::default();
    let mut started: Vec<String> = Vec::new();
    let mut running: Vec<String> = Vec::new();
    for tick in 0..40 {
        let starts = step(&flow, &mut run, tick, &|job| {
            outcomes.borrow().get(job).cloned()
        });
        for s in starts {
            let key = s.key("r");
            if let Some((_, item)) = s.work(&flow, &run) {
                // Item d fails once, then succeeds on its retry.
                let fails = item.as_deref() == Some("d") && s.attempt == 1;
                running.push(key.clone());
                outcomes.borrow_mut().insert(
                    format!("pending:{key}"),
                    JobOutcome {
                        succeeded: !fails,
                        rows_read: 1,
                        rows_written: 1,
                    },
                );
            }
            started.push(key.clone());
            record_start(&flow, &mut run, &s, key);
        }
        let fan = run.activities.iter().find(|a| a.id == "fan").unwrap();
        let now_running = fan.items.iter().filter(|i| i.state == RUNNING).count();
        assert!(now_running <= 3, "tick {tick}: {now_running} items running");
        // One running job ends per tick.
        if let Some(job) = running.first().cloned() {
            running.remove(0);
            let end = outcomes
                .borrow_mut()
                .remove(&format!("pending:{job}"))
                .unwrap();
            outcomes.borrow_mut().insert(job, end);
        }
        if run.state != RUNNING {
            break;
        }
    }
    assert_eq!(run.state, SUCCEEDED, "{run:?}");
    assert!(
        started.contains(&"flow:r:fan[3]:2".to_string()),
        "{started:?}"
    );
    assert_eq!(
        started
            .iter()
            .filter(|k| k.starts_with("flow:r:fan["))
            .count(),
        8
    );
    let after = started.iter().position(|k| k == "flow:r:after:1").unwrap();
    assert_eq!(after, started.len() - 1, "after starts last: {started:?}");
    let fan = run.activities.iter().find(|a| a.id == "fan").unwrap();
    assert_eq!(fan.rows_written, 7);
}

#[test]
fn a_foreach_with_a_failed_item_fails_and_a_cancel_stops_its_items() {
    let flow = fan_out();
    let mut run = FlowRunRecord {
        id: "r".into(),
        state: RUNNING.into(),
        activities: activities(&flow),
        parameters: [("regions".to_string(), "a,b,c,d,e".to_string())].into(),
        ..FlowRunRecord::default()
    };
    let starts = step(&flow, &mut run, 0, &|_| None);
    assert_eq!(starts.len(), 3);
    for s in &starts {
        record_start(&flow, &mut run, s, s.key("r"));
    }
    let (jobs, children) = running_work(&run);
    assert_eq!(jobs.len(), 3);
    assert!(children.is_empty());
    cancel(&mut run, 1).unwrap();
    let fan = run.activities.iter().find(|a| a.id == "fan").unwrap();
    let states: Vec<&str> = fan.items.iter().map(|i| i.state.as_str()).collect();
    assert_eq!(
        states,
        ["cancelled", "cancelled", "cancelled", "skipped", "skipped"]
    );
}

#[test]
fn foreach_lists_are_bounded_when_a_run_starts() {
    let flow = fan_out();
    let many: Vec<String> = (0..=MAX_ITEMS).map(|i| i.to_string()).collect();
    let given = BTreeMap::from([("regions".to_string(), many.join(","))]);
    let (field, message) = parameters(&flow, &given).unwrap_err();
    assert_eq!(field, "parameters.regions");
    assert!(message.contains("at most 500"), "{message}");
    let long = BTreeMap::from([("regions".to_string(), "x".repeat(65))]);
    assert!(parameters(&flow, &long).is_err());
}

#[test]
fn a_child_flow_is_started_once_and_its_end_is_the_activity_end() {
    let document = json!({
        "activities": [
            {"id": "child", "type": "flow", "processflow": "inner"},
            {"id": "done", "type": "succeed"}
        ],
        "transitions": [{"from": "child", "to": "done", "on": "succeeded"}]
    });
    let flow = crate::validate::from_stored(&document.to_string()).unwrap();
    let mut run = FlowRunRecord {
        id: "r".into(),
        state: RUNNING.into(),
        activities: activities(&flow),
        ..FlowRunRecord::default()
    };
    let starts = step(&flow, &mut run, 0, &|_| None);
    assert_eq!(starts.len(), 1);
    assert!(matches!(
        starts[0].work(&flow, &run),
        Some((ActivitySpec::Flow(_), None))
    ));
    record_start(&flow, &mut run, &starts[0], "child-run".into());
    assert_eq!(running_work(&run).1, ["child-run"]);
    assert!(step(&flow, &mut run, 1, &|_| None).is_empty());
    let done = JobOutcome {
        succeeded: true,
        rows_read: 0,
        rows_written: 0,
    };
    step(&flow, &mut run, 2, &|id| {
        (id == "child-run").then(|| done.clone())
    });
    assert_eq!(run.state, SUCCEEDED, "{run:?}");
}
