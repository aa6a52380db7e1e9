//! What a change of a run announces on `prism.events.flow.<run>.<kind>`, computed
//! from the record before and after the change: every writer (the gateway that
//! starts, decides and cancels, the schedulers that advance) announces the same
//! way, in the transaction that writes the change. Event ids are the change's own,
//! so a change two writers computed is one event.
use prism_schemas::v1::{FlowActivityState, FlowEvent, FlowRunRecord};

use crate::run::{RUNNING, SUCCEEDED, TIMEOUT};

/// The events of `before -> after` (`before` is `None` for a new run), made by
/// `actor` unless an approval names its decider.
pub fn changes(
    before: Option<&FlowRunRecord>,
    after: &FlowRunRecord,
    actor: &str,
    now_ms: i64,
) -> Vec<FlowEvent> {
    let event = |kind: &str, state: &str| FlowEvent {
        event_id: String::new(),
        run_id: after.id.clone(),
        flow: after.flow.clone(),
        flow_version: after.flow_version,
        kind: kind.into(),
        state: state.into(),
        actor: actor.into(),
        occurred_at_ms: now_ms,
        ..FlowEvent::default()
    };
    let mut events = Vec::new();
    let Some(before) = before else {
        let mut started = event("started", &after.state);
        started.detail = after.resumed_from.clone();
        events.push(started);
        return with_ids(events);
    };
    for activity in &after.activities {
        let old = before.activities.iter().find(|a| a.id == activity.id);
        if old.is_some_and(|old| same(old, activity)) {
            continue;
        }
        let decided =
            !activity.decided_by.is_empty() && old.is_none_or(|old| old.decided_by.is_empty());
        let mut changed = if decided {
            let kind = if activity.state == SUCCEEDED {
                "approved"
            } else {
                "rejected"
            };
            let mut e = event(kind, &activity.state);
            e.actor = activity.decided_by.clone();
            e.detail = activity.comment.clone();
            if activity.decided_by == TIMEOUT {
                e.detail = "decided by its timeout".into();
            }
            e
        } else {
            event("activity", &activity.state)
        };
        changed.activity = activity.id.clone();
        changed.attempt = activity.attempt;
        changed.job_id = activity.job_id.clone();
        changed.child_run = activity.child_run.clone();
        events.push(changed);
    }
    if before.state == RUNNING && after.state != RUNNING {
        let mut ended = event(&after.state, &after.state);
        ended.detail = after.error.clone();
        events.push(ended);
    }
    with_ids(events)
}

/// A decision `actor` was refused (they lack the approval's role): nothing of the
/// run changes, but the attempt is on record.
pub fn refused(
    run: &FlowRunRecord,
    activity: &str,
    actor: &str,
    why: &str,
    now_ms: i64,
) -> FlowEvent {
    FlowEvent {
        event_id: format!("flow.{}.refused.{activity}.{actor}.{now_ms}", run.id),
        run_id: run.id.clone(),
        flow: run.flow.clone(),
        flow_version: run.flow_version,
        kind: "refused".into(),
        activity: activity.into(),
        state: run
            .activities
            .iter()
            .find(|a| a.id == activity)
            .map(|a| a.state.clone())
            .unwrap_or_default(),
        actor: actor.into(),
        occurred_at_ms: now_ms,
        detail: why.into(),
        ..FlowEvent::default()
    }
}

/// An activity announces a new state, a new attempt, or a job or child run it
/// started; a foreach's items are told by their own jobs' events.
fn same(a: &FlowActivityState, b: &FlowActivityState) -> bool {
    a.state == b.state
        && a.attempt == b.attempt
        && a.job_id == b.job_id
        && a.child_run == b.child_run
}

fn with_ids(mut events: Vec<FlowEvent>) -> Vec<FlowEvent> {
    for e in &mut events {
        e.event_id = format!(
            "flow.{}.{}.{}.{}.{}",
            e.run_id, e.kind, e.activity, e.state, e.attempt
        );
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(state: &str, activities: &[(&str, &str)]) -> FlowRunRecord {
        FlowRunRecord {
            id: "r1".into(),
            flow: "f".into(),
            flow_version: 2,
            state: state.into(),
            activities: activities
                .iter()
                .map(|(id, state)| FlowActivityState {
                    id: (*id).into(),
                    state: (*state).into(),
                    ..FlowActivityState::default()
                })
                .collect(),
            ..FlowRunRecord::default()
        }
    }

    fn kinds(events: &[FlowEvent]) -> Vec<(String, String, String)> {
        events
            .iter()
            .map(|e| (e.kind.clone(), e.activity.clone(), e.state.clone()))
            .collect()
    }

    #[test]
    fn a_new_run_announces_that_it_started() {
        let events = changes(None, &run("running", &[("a", "pending")]), "ann", 5);
        assert_eq!(
            kinds(&events),
            [("started".into(), String::new(), "running".into())]
        );
        assert_eq!(events[0].event_id, "flow.r1.started..running.0");
        assert_eq!(events[0].actor, "ann");
    }

    #[test]
    fn each_changed_activity_and_the_end_are_announced_once() {
        let before = run("running", &[("a", "running"), ("b", "pending")]);
        let after = run("failed", &[("a", "failed"), ("b", "skipped")]);
        let events = changes(Some(&before), &after, "ann", 9);
        assert_eq!(
            kinds(&events),
            [
                ("activity".into(), "a".into(), "failed".into()),
                ("activity".into(), "b".into(), "skipped".into()),
                ("failed".into(), String::new(), "failed".into()),
            ]
        );
        assert!(changes(Some(&after), &after, "ann", 9).is_empty());
    }

    #[test]
    fn a_decision_names_its_decider_and_comment() {
        let before = run("running", &[("gate", "waiting")]);
        let mut after = run("running", &[("gate", "failed")]);
        after.activities[0].decided_by = "opa".into();
        after.activities[0].comment = "numbers off".into();
        let events = changes(Some(&before), &after, "ann", 9);
        assert_eq!(events[0].kind, "rejected");
        assert_eq!(events[0].actor, "opa");
        assert_eq!(events[0].detail, "numbers off");
    }
}
