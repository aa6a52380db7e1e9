//! Reading a process flow document and reporting every problem by activity and
//! field: the fields of each activity and transition, then the graph (no cycle,
//! every activity on a path to an end, at most one `otherwise` per activity),
//! then what conditions and jobs name.
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::condition::{self, OUTCOME_FIELDS};
use crate::model::*;

/// A document fits one value of the configuration database, as a dataflow's does.
pub const MAX_DOCUMENT_BYTES: usize = 90_000;
pub const MAX_ACTIVITIES: usize = 200;
pub const MAX_TRANSITIONS: usize = 1_000;
const MAX_RETRIES: u32 = 10;
const MAX_PARALLEL: u32 = 64;
const WEEK_SECS: u64 = 7 * 24 * 3600;
const MAX_APPROVAL_SECS: u64 = 30 * 24 * 3600;

/// One thing wrong with a document: the activity it is about (when it is about
/// one), and where (`activities[2].dataflow`, `transitions[0].when`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Yaml,
}

/// What the checks may ask of the rest of the configuration.
pub trait Known {
    fn dataflow(&self, name: &str) -> bool;
    fn processflow(&self, name: &str) -> bool;
    fn role(&self, name: &str) -> bool;
}

/// Parses and checks `text`; the flow, and the document as JSON (its stored form).
pub fn parse_document(
    text: &str,
    syntax: Syntax,
    known: &dyn Known,
) -> Result<(Flow, Value), Vec<Problem>> {
    let document = |message: String| {
        vec![Problem {
            activity: None,
            field: "document".into(),
            message,
        }]
    };
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(document(format!(
            "{} bytes; the limit is {MAX_DOCUMENT_BYTES}",
            text.len()
        )));
    }
    let value: Value = match syntax {
        Syntax::Json => serde_json::from_str(text).map_err(|e| document(e.to_string()))?,
        Syntax::Yaml => {
            prism_yaml::parse_one(text, prism_yaml::Limits::of_json_text(MAX_DOCUMENT_BYTES))
                .map_err(|e| document(e.to_string()))?
        }
    };
    let flow = check(&value, known)?;
    Ok((flow, value))
}

/// Rebuilds the flow from a stored document (checked when it was saved).
pub fn from_stored(json: &str) -> Result<Flow, Vec<Problem>> {
    struct Anything;
    impl Known for Anything {
        fn dataflow(&self, _: &str) -> bool {
            true
        }
        fn processflow(&self, _: &str) -> bool {
            true
        }
        fn role(&self, _: &str) -> bool {
            true
        }
    }
    parse_document(json, Syntax::Json, &Anything).map(|(flow, _)| flow)
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn problem(
        &mut self,
        activity: Option<&str>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            activity: activity.map(str::to_string),
            field: field.into(),
            message: message.into(),
        });
    }

    /// `value` read as `T`, or a problem naming the field serde stopped at.
    fn read<T: DeserializeOwned>(
        &mut self,
        activity: Option<&str>,
        at: &str,
        value: Value,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(read) => Some(read),
            Err(error) => {
                let path = error.path().to_string();
                let field = if path == "." || path.is_empty() {
                    at.to_string()
                } else {
                    format!("{at}.{path}")
                };
                self.problem(activity, field, error.into_inner().to_string());
                None
            }
        }
    }
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name != "params"
}

/// The document's checks, every problem reported at once.
pub fn check(value: &Value, known: &dyn Known) -> Result<Flow, Vec<Problem>> {
    let mut c = Checker::default();
    let Some(object) = value.as_object() else {
        c.problem(None, "document", "a process flow document is an object");
        return Err(c.problems);
    };
    for key in object.keys() {
        if !["parameters", "activities", "transitions"].contains(&key.as_str()) {
            c.problem(
                None,
                key.clone(),
                "unknown field: expected parameters, activities, transitions",
            );
        }
    }
    let parameters: BTreeMap<String, Option<String>> = match object.get("parameters") {
        None => BTreeMap::new(),
        Some(p) => c.read(None, "parameters", p.clone()).unwrap_or_default(),
    };
    for name in parameters.keys() {
        if !is_name(name) {
            c.problem(
                None,
                format!("parameters.{name}"),
                "a parameter name is 1-64 letters, digits, _ or -",
            );
        }
    }
    let list = |c: &mut Checker, field: &str, max: usize| -> Vec<Value> {
        match object.get(field) {
            Some(Value::Array(items)) if items.len() <= max => items.clone(),
            Some(Value::Array(items)) => {
                c.problem(None, field, format!("{} given; at most {max}", items.len()));
                Vec::new()
            }
            Some(_) => {
                c.problem(None, field, "a list");
                Vec::new()
            }
            None => {
                c.problem(None, field, "required");
                Vec::new()
            }
        }
    };
    let raw_activities = list(&mut c, "activities", MAX_ACTIVITIES);
    let raw_transitions = list(&mut c, "transitions", MAX_TRANSITIONS);
    // Transitions are checked against every id written, so that a mistake inside
    // an activity is reported once, not again by each transition naming it.
    let written: Vec<String> = raw_activities
        .iter()
        .filter_map(|a| a.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let mut activities = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, raw) in raw_activities.into_iter().enumerate() {
        if let Some(activity) = read_activity(&mut c, i, raw, &parameters, known) {
            if !seen.insert(activity.id.clone()) {
                c.problem(
                    Some(&activity.id),
                    format!("activities[{i}].id"),
                    "another activity has this id",
                );
            }
            activities.push(activity);
        }
    }
    if activities.is_empty() && c.problems.is_empty() {
        c.problem(None, "activities", "at least one activity");
    }
    let ids: BTreeSet<&str> = written.iter().map(String::as_str).collect();
    let mut transitions = Vec::new();
    for (i, raw) in raw_transitions.into_iter().enumerate() {
        if let Some(t) = read_transition(&mut c, i, raw, &ids) {
            transitions.push((i, t));
        }
    }
    if c.problems.is_empty() {
        check_graph(&mut c, &activities, &transitions, &parameters);
    }
    if c.problems.is_empty() {
        Ok(Flow {
            parameters,
            activities,
            transitions: transitions.into_iter().map(|(_, t)| t).collect(),
        })
    } else {
        Err(c.problems)
    }
}

fn read_activity(
    c: &mut Checker,
    i: usize,
    raw: Value,
    parameters: &BTreeMap<String, Option<String>>,
    known: &dyn Known,
) -> Option<Activity> {
    let at = format!("activities[{i}]");
    let Value::Object(mut fields) = raw else {
        c.problem(None, at, "an activity is an object");
        return None;
    };
    let id = match fields.remove("id") {
        Some(Value::String(id)) if is_name(&id) => id,
        _ => {
            c.problem(
                None,
                format!("{at}.id"),
                "required: 1-64 letters, digits, _ or - (not `params`)",
            );
            return None;
        }
    };
    let input = match fields.remove("input") {
        None => InputMode::All,
        Some(v) => c.read(Some(&id), &format!("{at}.input"), v)?,
    };
    let spec = read_spec(c, &id, &at, fields, parameters, known)?;
    Some(Activity { id, input, spec })
}

/// The fields of an activity (or of a `foreach`'s `each`) after `id` and `input`.
fn read_spec(
    c: &mut Checker,
    id: &str,
    at: &str,
    mut fields: Map<String, Value>,
    parameters: &BTreeMap<String, Option<String>>,
    known: &dyn Known,
) -> Option<ActivitySpec> {
    let kind = match fields.remove("type") {
        Some(Value::String(kind)) => kind,
        _ => {
            c.problem(
                Some(id),
                format!("{at}.type"),
                "required: job, flow, approval, wait, foreach, succeed or fail",
            );
            return None;
        }
    };
    let rest = Value::Object(fields.clone());
    let spec = match kind.as_str() {
        "job" => ActivitySpec::Job(read_job(c, id, at, rest, parameters, known)?),
        "flow" => ActivitySpec::Flow(read_flow(c, id, at, rest, parameters, known)?),
        "approval" => ActivitySpec::Approval(read_approval(c, id, at, rest, known)?),
        "wait" => ActivitySpec::Wait(read_wait(c, id, at, rest)?),
        "foreach" => read_foreach(c, id, at, fields, parameters, known)?,
        "succeed" => {
            let _: Empty = c.read(Some(id), at, rest)?;
            ActivitySpec::Succeed
        }
        "fail" => ActivitySpec::Fail(c.read(Some(id), at, rest)?),
        other => {
            c.problem(
                Some(id),
                format!("{at}.type"),
                format!("{other:?}: expected job, flow, approval, wait, foreach, succeed or fail"),
            );
            return None;
        }
    };
    Some(spec)
}

fn read_job(
    c: &mut Checker,
    id: &str,
    at: &str,
    rest: Value,
    parameters: &BTreeMap<String, Option<String>>,
    known: &dyn Known,
) -> Option<JobActivity> {
    let job: JobActivity = c.read(Some(id), at, rest)?;
    if !known.dataflow(&job.dataflow) {
        c.problem(
            Some(id),
            format!("{at}.dataflow"),
            format!("no dataflow named {:?}", job.dataflow),
        );
    }
    if job.retries > MAX_RETRIES {
        c.problem(
            Some(id),
            format!("{at}.retries"),
            format!("at most {MAX_RETRIES}"),
        );
    }
    if job.timeout_seconds.is_some_and(|t| t == 0 || t > WEEK_SECS) {
        c.problem(
            Some(id),
            format!("{at}.timeout_seconds"),
            format!("1 to {WEEK_SECS}"),
        );
    }
    check_references(
        c,
        id,
        &format!("{at}.parameters"),
        &job.parameters,
        parameters,
    );
    Some(job)
}

fn read_flow(
    c: &mut Checker,
    id: &str,
    at: &str,
    rest: Value,
    parameters: &BTreeMap<String, Option<String>>,
    known: &dyn Known,
) -> Option<FlowActivity> {
    let flow: FlowActivity = c.read(Some(id), at, rest)?;
    if !known.processflow(&flow.processflow) {
        c.problem(
            Some(id),
            format!("{at}.processflow"),
            format!("no process flow named {:?}", flow.processflow),
        );
    }
    check_references(
        c,
        id,
        &format!("{at}.parameters"),
        &flow.parameters,
        parameters,
    );
    Some(flow)
}

fn read_approval(
    c: &mut Checker,
    id: &str,
    at: &str,
    rest: Value,
    known: &dyn Known,
) -> Option<ApprovalActivity> {
    let approval: ApprovalActivity = c.read(Some(id), at, rest)?;
    if !known.role(&approval.role) {
        c.problem(
            Some(id),
            format!("{at}.role"),
            format!("no role named {:?}", approval.role),
        );
    }
    if approval.timeout_seconds == 0 || approval.timeout_seconds > MAX_APPROVAL_SECS {
        c.problem(
            Some(id),
            format!("{at}.timeout_seconds"),
            format!("1 to {MAX_APPROVAL_SECS}"),
        );
    }
    Some(approval)
}

fn read_wait(c: &mut Checker, id: &str, at: &str, rest: Value) -> Option<WaitActivity> {
    let wait: WaitActivity = c.read(Some(id), at, rest)?;
    if wait.seconds == 0 || wait.seconds > WEEK_SECS {
        c.problem(
            Some(id),
            format!("{at}.seconds"),
            format!("1 to {WEEK_SECS}"),
        );
    }
    Some(wait)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

fn read_foreach(
    c: &mut Checker,
    id: &str,
    at: &str,
    mut fields: Map<String, Value>,
    parameters: &BTreeMap<String, Option<String>>,
    known: &dyn Known,
) -> Option<ActivitySpec> {
    let each = match fields.remove("each") {
        Some(Value::Object(each)) => each,
        _ => {
            c.problem(
                Some(id),
                format!("{at}.each"),
                "required: the job or flow run once per item",
            );
            return None;
        }
    };
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Fields {
        items: String,
        max_parallel: u32,
    }
    let read: Fields = c.read(Some(id), at, Value::Object(fields))?;
    let items_parameter = read
        .items
        .strip_prefix("${")
        .and_then(|s| s.strip_suffix('}'));
    match items_parameter {
        Some(name) if parameters.contains_key(name) => {}
        _ => c.problem(
            Some(id),
            format!("{at}.items"),
            "a declared flow parameter holding a comma-separated list: ${name}",
        ),
    }
    if read.max_parallel == 0 || read.max_parallel > MAX_PARALLEL {
        c.problem(
            Some(id),
            format!("{at}.max_parallel"),
            format!("1 to {MAX_PARALLEL}"),
        );
    }
    let mut with_item = parameters.clone();
    with_item.insert("item".into(), None);
    let each = read_spec(c, id, &format!("{at}.each"), each, &with_item, known)?;
    if !matches!(each, ActivitySpec::Job(_) | ActivitySpec::Flow(_)) {
        c.problem(
            Some(id),
            format!("{at}.each.type"),
            "a foreach runs a job or a flow",
        );
    }
    Some(ActivitySpec::Foreach(ForeachActivity {
        items: read.items,
        max_parallel: read.max_parallel,
        each: Box::new(each),
    }))
}

/// `${name}` in a value must name a declared flow parameter.
fn check_references(
    c: &mut Checker,
    id: &str,
    at: &str,
    values: &BTreeMap<String, String>,
    parameters: &BTreeMap<String, Option<String>>,
) {
    for (key, value) in values {
        let mut rest = value.as_str();
        while let Some(start) = rest.find("${") {
            let Some(end) = rest[start..].find('}') else {
                c.problem(Some(id), format!("{at}.{key}"), "a ${ is not closed");
                break;
            };
            let name = &rest[start + 2..start + end];
            if !parameters.contains_key(name) {
                c.problem(
                    Some(id),
                    format!("{at}.{key}"),
                    format!("${{{name}}}: the flow declares no parameter {name:?}"),
                );
            }
            rest = &rest[start + end + 1..];
        }
    }
}

fn read_transition(
    c: &mut Checker,
    i: usize,
    raw: Value,
    ids: &BTreeSet<&str>,
) -> Option<Transition> {
    let at = format!("transitions[{i}]");
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        from: String,
        to: String,
        on: Option<String>,
        when: Option<String>,
    }
    let raw: Raw = c.read(None, &at, raw)?;
    let mut ok = true;
    for (field, name) in [("from", &raw.from), ("to", &raw.to)] {
        if !ids.contains(name.as_str()) {
            c.problem(
                Some(&raw.from),
                format!("{at}.{field}"),
                format!("no activity {name:?}"),
            );
            ok = false;
        }
    }
    let on = match (raw.on.as_deref(), &raw.when) {
        (Some(_), Some(_)) | (None, None) => {
            c.problem(
                Some(&raw.from),
                format!("{at}.on"),
                "exactly one of on (succeeded, failed, always, otherwise) and when (a condition)",
            );
            return None;
        }
        (Some("succeeded"), None) => On::Succeeded,
        (Some("failed"), None) => On::Failed,
        (Some("always"), None) => On::Always,
        (Some("otherwise"), None) => On::Otherwise,
        (Some(other), None) => {
            c.problem(
                Some(&raw.from),
                format!("{at}.on"),
                format!("{other:?}: expected succeeded, failed, always or otherwise"),
            );
            return None;
        }
        (None, Some(text)) => match condition::parse(text) {
            Ok(expr) => On::When(expr),
            Err(message) => {
                c.problem(Some(&raw.from), format!("{at}.when"), message);
                return None;
            }
        },
    };
    ok.then_some(Transition {
        from: raw.from,
        to: raw.to,
        on,
    })
}

/// No cycle; each end (`succeed`, `fail`) has nothing leaving it and every other
/// activity something; every activity reaches an end; one `otherwise` at most per
/// activity; conditions read parameters and activities that ran before.
fn check_graph(
    c: &mut Checker,
    activities: &[Activity],
    transitions: &[(usize, Transition)],
    parameters: &BTreeMap<String, Option<String>>,
) {
    let index: HashMap<&str, usize> = activities
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    let n = activities.len();
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut into: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (_, t) in transitions {
        let (a, b) = (index[t.from.as_str()], index[t.to.as_str()]);
        out[a].push(b);
        into[b].push(a);
    }
    if !check_acyclic(c, activities, &out, &into) {
        return;
    }
    check_exits(c, activities, &out);
    check_ends_reached(c, activities, &out, &into);
    check_transitions(c, transitions, &index, &into, parameters);
}

/// Whether the graph has no cycle; names one when it has.
fn check_acyclic(
    c: &mut Checker,
    activities: &[Activity],
    out: &[Vec<usize>],
    into: &[Vec<usize>],
) -> bool {
    let n = activities.len();
    // Kahn's algorithm: what is left has a cycle.
    let mut incoming: Vec<usize> = into.iter().map(Vec::len).collect();
    // (With no activity free of inputs, nothing can start: that is a cycle too.)
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| incoming[i] == 0).collect();
    let mut ordered = 0;
    while let Some(i) = ready.pop_front() {
        ordered += 1;
        for &j in &out[i] {
            incoming[j] -= 1;
            if incoming[j] == 0 {
                ready.push_back(j);
            }
        }
    }
    if ordered < n {
        let cycle = on_cycles(&incoming, out);
        let names: Vec<&str> = cycle.iter().map(|&i| activities[i].id.as_str()).collect();
        c.problem(
            Some(names[0]),
            "transitions",
            format!("a cycle through {}", names.join(", ")),
        );
        return false;
    }
    true
}

/// An end has no transition leaving it; every other activity has one.
fn check_exits(c: &mut Checker, activities: &[Activity], out: &[Vec<usize>]) {
    for (i, activity) in activities.iter().enumerate() {
        let at = format!("activities[{i}]");
        if activity.spec.is_end() && !out[i].is_empty() {
            c.problem(
                Some(&activity.id),
                &at,
                "an end (succeed or fail) has no transition leaving it",
            );
        }
        if !activity.spec.is_end() && out[i].is_empty() {
            c.problem(
                Some(&activity.id),
                &at,
                "no transition leaves it: add one to the next activity or to an end",
            );
        }
    }
}

fn check_ends_reached(
    c: &mut Checker,
    activities: &[Activity],
    out: &[Vec<usize>],
    into: &[Vec<usize>],
) {
    let n = activities.len();
    // Every activity reaches an end.
    let mut reaches: Vec<bool> = activities.iter().map(|a| a.spec.is_end()).collect();
    let mut queue: VecDeque<usize> = (0..n).filter(|&i| reaches[i]).collect();
    while let Some(j) = queue.pop_front() {
        for &i in &into[j] {
            if !reaches[i] {
                reaches[i] = true;
                queue.push_back(i);
            }
        }
    }
    for (i, activity) in activities.iter().enumerate() {
        if !reaches[i] && !out[i].is_empty() {
            c.problem(
                Some(&activity.id),
                format!("activities[{i}]"),
                "no path from it reaches an end (succeed or fail)",
            );
        }
    }
}

/// At most one `otherwise` per activity; a condition names only declared
/// parameters and outcomes of activities before it.
fn check_transitions(
    c: &mut Checker,
    transitions: &[(usize, Transition)],
    index: &HashMap<&str, usize>,
    into: &[Vec<usize>],
    parameters: &BTreeMap<String, Option<String>>,
) {
    let mut otherwise: HashMap<&str, usize> = HashMap::new();
    for (i, t) in transitions {
        if t.on == On::Otherwise {
            let count = otherwise.entry(t.from.as_str()).or_default();
            *count += 1;
            if *count > 1 {
                c.problem(
                    Some(&t.from),
                    format!("transitions[{i}].on"),
                    "a second otherwise from the same activity",
                );
            }
        }
        if let On::When(expr) = &t.on {
            let before = ancestors(index[t.from.as_str()], into);
            for (owner, field) in expr.names() {
                let known = if owner == "params" {
                    parameters.contains_key(field)
                } else {
                    index.get(owner).is_some_and(|&a| before.contains(&a))
                        && OUTCOME_FIELDS.contains(&field)
                };
                if !known {
                    c.problem(
                        Some(&t.from),
                        format!("transitions[{i}].when"),
                        format!(
                            "{owner}.{field}: a declared parameter (params.<name>) or {} of {} or an activity before it",
                            OUTCOME_FIELDS.join(", "),
                            t.from
                        ),
                    );
                }
            }
        }
    }
}

/// The activities Kahn's algorithm left (`incoming` above zero) that lie on a
/// cycle: those left after also removing, again and again, the ones nothing left
/// leads out of (what only follows a cycle).
fn on_cycles(incoming: &[usize], out: &[Vec<usize>]) -> Vec<usize> {
    let mut left: BTreeSet<usize> = (0..incoming.len()).filter(|&i| incoming[i] > 0).collect();
    loop {
        let sinks: Vec<usize> = left
            .iter()
            .copied()
            .filter(|&i| !out[i].iter().any(|j| left.contains(j)))
            .collect();
        if sinks.is_empty() {
            return left.into_iter().collect();
        }
        for i in sinks {
            left.remove(&i);
        }
    }
}

/// `i` and every activity on a path into it.
fn ancestors(i: usize, into: &[Vec<usize>]) -> BTreeSet<usize> {
    let mut seen = BTreeSet::from([i]);
    let mut queue = VecDeque::from([i]);
    while let Some(j) = queue.pop_front() {
        for &k in &into[j] {
            if seen.insert(k) {
                queue.push_back(k);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests;
