use serde_json::{Value, json};

use super::*;

struct Config;

impl Known for Config {
    fn dataflow(&self, name: &str) -> bool {
        ["load", "rollup", "alert", "region"].contains(&name)
    }
    fn processflow(&self, name: &str) -> bool {
        name == "child"
    }
    fn role(&self, name: &str) -> bool {
        name == "operator"
    }
}

fn job(id: &str, dataflow: &str) -> Value {
    json!({"id": id, "type": "job", "dataflow": dataflow})
}

/// `A -> (B, C) -> D`, then done; a failure of anything alerts.
fn diamond() -> Value {
    json!({
        "parameters": {"day": null, "regions": "eu,us"},
        "activities": [
            {"id": "a", "type": "job", "dataflow": "load", "parameters": {"day": "${day}"}, "retries": 2},
            job("b", "rollup"),
            job("c", "rollup"),
            {"id": "d", "type": "job", "dataflow": "rollup", "input": "all"},
            {"id": "each", "type": "foreach", "items": "${regions}", "max_parallel": 8,
             "each": {"type": "job", "dataflow": "region", "parameters": {"region": "${item}"}}},
            {"id": "ok", "type": "approval", "role": "operator", "timeout_seconds": 3600, "on_timeout": "reject"},
            {"id": "done", "type": "succeed"},
            {"id": "alert", "type": "job", "dataflow": "alert", "input": "first"},
            {"id": "failed", "type": "fail", "message": "see alert"}
        ],
        "transitions": [
            {"from": "a", "to": "b", "on": "succeeded"},
            {"from": "a", "to": "c", "on": "succeeded"},
            {"from": "a", "to": "alert", "on": "failed"},
            {"from": "b", "to": "d", "when": "b.status == 'succeeded' && a.rows_written > 0"},
            {"from": "b", "to": "alert", "on": "otherwise"},
            {"from": "c", "to": "d", "on": "succeeded"},
            {"from": "c", "to": "alert", "on": "failed"},
            {"from": "d", "to": "each", "on": "succeeded"},
            {"from": "each", "to": "ok", "on": "succeeded"},
            {"from": "ok", "to": "done", "on": "succeeded"},
            {"from": "ok", "to": "failed", "on": "failed"},
            {"from": "d", "to": "alert", "on": "failed"},
            {"from": "each", "to": "alert", "on": "failed"},
            {"from": "alert", "to": "failed", "on": "always"}
        ]
    })
}

fn problems(document: &Value) -> Vec<(Option<String>, String, String)> {
    match check(document, &Config) {
        Ok(_) => Vec::new(),
        Err(problems) => problems
            .into_iter()
            .map(|p| (p.activity, p.field, p.message))
            .collect(),
    }
}

#[test]
fn a_full_flow_is_read_with_every_kind_of_activity_and_transition() {
    let flow = check(&diamond(), &Config).unwrap();
    assert_eq!(flow.activities.len(), 9);
    assert_eq!(flow.transitions.len(), 14);
    assert_eq!(flow.activities[7].input, InputMode::First);
    assert!(matches!(flow.activities[4].spec, ActivitySpec::Foreach(ref f) if f.max_parallel == 8));
    assert!(matches!(flow.transitions[3].on, On::When(_)));
    let yaml = "activities:\n  - {id: a, type: job, dataflow: load}\n  - {id: end, type: succeed}\ntransitions:\n  - {from: a, to: end, on: always}\n";
    assert!(parse_document(yaml, Syntax::Yaml, &Config).is_ok());
}

#[test]
fn cycles_unknown_dataflows_dead_ends_and_two_otherwise_are_refused() {
    let mut cycle = diamond();
    cycle["transitions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"from": "d", "to": "b", "on": "failed"}));
    let found = problems(&cycle);
    assert_eq!(
        found,
        vec![(
            Some("b".into()),
            "transitions".into(),
            "a cycle through b, d".into()
        )],
        "only the activities on the cycle, not those after it"
    );

    let mut unknown = diamond();
    unknown["activities"][1]["dataflow"] = json!("nowhere");
    assert_eq!(
        problems(&unknown),
        vec![(
            Some("b".into()),
            "activities[1].dataflow".into(),
            "no dataflow named \"nowhere\"".into()
        )]
    );

    let mut dead_end = diamond();
    dead_end["activities"]
        .as_array_mut()
        .unwrap()
        .push(job("orphan", "load"));
    dead_end["activities"]
        .as_array_mut()
        .unwrap()
        .push(job("loop", "load"));
    dead_end["transitions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"from": "orphan", "to": "loop", "on": "always"}));
    let found = problems(&dead_end);
    assert!(
        found.contains(&(
            Some("loop".into()),
            "activities[10]".into(),
            "no transition leaves it: add one to the next activity or to an end".into()
        )),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            Some("orphan".into()),
            "activities[9]".into(),
            "no path from it reaches an end (succeed or fail)".into()
        )),
        "{found:?}"
    );

    let mut twice = diamond();
    twice["transitions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"from": "b", "to": "failed", "on": "otherwise"}));
    assert_eq!(
        problems(&twice),
        vec![(
            Some("b".into()),
            "transitions[14].on".into(),
            "a second otherwise from the same activity".into()
        )]
    );
}

#[test]
fn fields_are_named_by_activity_and_path() {
    let mut wrong = diamond();
    wrong["activities"][0]["retries"] = json!(11);
    wrong["activities"][0]["parameters"]["day"] = json!("${month}");
    wrong["activities"][4]["max_parallel"] = json!(0);
    wrong["activities"][5]["role"] = json!("nobody");
    wrong["activities"][6]["extra"] = json!(1);
    wrong["transitions"][3]["when"] = json!("later.status == 'x'");
    wrong["transitions"][2]["on"] = json!("sometimes");
    let found = problems(&wrong);
    let fields: Vec<&str> = found.iter().map(|(_, f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "activities[0].retries",
            "activities[0].parameters.day",
            "activities[4].max_parallel",
            "activities[5].role",
            "activities[6].extra",
            "transitions[2].on",
        ],
        "{found:?}"
    );
    let mut later = diamond();
    later["transitions"][3]["when"] = json!("d.status == 'x' || params.week == 1");
    let found = problems(&later);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found
            .iter()
            .all(|(a, f, _)| a.as_deref() == Some("b") && f == "transitions[3].when")
    );
    let big = "x".repeat(MAX_DOCUMENT_BYTES + 1);
    assert_eq!(
        parse_document(&big, Syntax::Json, &Config).unwrap_err()[0].field,
        "document"
    );
}
