//! A process flow as the checks leave it: activities in document order, and the
//! transitions between them.
use std::collections::BTreeMap;

use serde::Deserialize;

use crate::condition::Expr;

#[derive(Debug, Clone)]
pub struct Flow {
    /// Declared parameters with their defaults (`None`: a run must give one).
    pub parameters: BTreeMap<String, Option<String>>,
    pub activities: Vec<Activity>,
    pub transitions: Vec<Transition>,
}

#[derive(Debug, Clone)]
pub struct Activity {
    pub id: String,
    /// Wait for every incoming transition taken (`all`), or start on the first.
    pub input: InputMode,
    pub spec: ActivitySpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InputMode {
    #[default]
    All,
    First,
}

/// What an activity does. Each variant's fields are the document's, by name.
#[derive(Debug, Clone, PartialEq)]
pub enum ActivitySpec {
    Job(JobActivity),
    Flow(FlowActivity),
    Approval(ApprovalActivity),
    Wait(WaitActivity),
    Foreach(ForeachActivity),
    Succeed,
    Fail(FailActivity),
}

impl ActivitySpec {
    pub fn type_name(&self) -> &'static str {
        match self {
            ActivitySpec::Job(_) => "job",
            ActivitySpec::Flow(_) => "flow",
            ActivitySpec::Approval(_) => "approval",
            ActivitySpec::Wait(_) => "wait",
            ActivitySpec::Foreach(_) => "foreach",
            ActivitySpec::Succeed => "succeed",
            ActivitySpec::Fail(_) => "fail",
        }
    }

    /// `succeed` and `fail` end a run; nothing leaves them.
    pub fn is_end(&self) -> bool {
        matches!(self, ActivitySpec::Succeed | ActivitySpec::Fail(_))
    }
}

/// Runs one job of `dataflow`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobActivity {
    pub dataflow: String,
    /// Values for the dataflow's parameters; `${name}` stands for a flow parameter.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Further attempts after a failed job, each a job of its own.
    #[serde(default)]
    pub retries: u32,
    pub timeout_seconds: Option<u64>,
}

/// Runs a child flow to its end.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowActivity {
    pub processflow: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

/// Waits for a decision by a user holding `role`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalActivity {
    pub role: String,
    pub timeout_seconds: u64,
    /// What the timeout decides.
    pub on_timeout: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approve,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitActivity {
    pub seconds: u64,
}

/// Runs `each` once per item of `items` (a flow parameter holding a
/// comma-separated list, `${regions}`), at most `max_parallel` at a time; `${item}`
/// stands for the item in `each`'s parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeachActivity {
    pub items: String,
    pub max_parallel: u32,
    pub each: Box<ActivitySpec>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FailActivity {
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub on: On,
}

/// When a transition is taken, once its source has ended.
#[derive(Debug, Clone, PartialEq)]
pub enum On {
    Succeeded,
    Failed,
    Always,
    /// When no other transition from the same activity is taken.
    Otherwise,
    /// When the condition holds.
    When(Expr),
}
