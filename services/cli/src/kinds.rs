//! The kinds of configuration `apply`, `get` and `delete` handle, each with its
//! API path, its table columns, and how to tell that a document changes nothing.
use serde_json::Value;

use crate::client::encode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Kind {
    // In dependency order: `apply` saves connections before the dataflows reading
    // them, dataflows before the process flows, services and schedules naming them.
    #[value(alias = "connections")]
    Connection,
    #[value(alias = "dataflows")]
    Dataflow,
    #[value(name = "processflow", alias = "processflows")]
    ProcessFlow,
    #[value(alias = "services")]
    Service,
    #[value(alias = "schedules")]
    Schedule,
}

impl Kind {
    pub fn parse(text: &str) -> Option<Kind> {
        <Kind as clap::ValueEnum>::from_str(text, true).ok()
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Connection => "connection",
            Kind::Dataflow => "dataflow",
            Kind::ProcessFlow => "processflow",
            Kind::Service => "service",
            Kind::Schedule => "schedule",
        }
    }

    /// The collection path, which is also the key of its list in the answer.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Connection => "connections",
            Kind::Dataflow => "dataflows",
            Kind::ProcessFlow => "processflows",
            Kind::Service => "services",
            Kind::Schedule => "schedules",
        }
    }

    pub fn path(self, name: &str) -> String {
        format!("/v1/{}/{}", self.plural(), encode(name))
    }

    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Connection => &["name", "kind", "root", "updated_at"],
            Kind::Dataflow | Kind::ProcessFlow => &["name", "latest_version", "updated_at"],
            Kind::Service => &["name", "dataflow", "version", "pinned", "max_inflight"],
            Kind::Schedule => &["name", "dataflow", "cron", "enabled", "owner"],
        }
    }

    /// Kept as immutable versions: the server makes none of an unchanged document.
    pub fn versioned(self) -> bool {
        matches!(self, Kind::Dataflow | Kind::ProcessFlow)
    }

    /// Whether saving `spec` over `current` (the API's GET answer) would change
    /// nothing. Versioned kinds are compared by the server.
    pub fn unchanged(self, spec: &Value, current: &Value) -> bool {
        let Some(spec) = spec.as_object() else {
            return false;
        };
        let defaults: &[(&str, Value)] = match self {
            Kind::Schedule => &[
                ("enabled", Value::Bool(true)),
                ("parameters", Value::Object(Default::default())),
            ],
            Kind::Service if !spec.contains_key("version") => &[("pinned", Value::Bool(false))],
            _ => &[],
        };
        let given = spec.iter().all(|(k, v)| current.get(k) == Some(v));
        let defaulted = defaults
            .iter()
            .filter(|(k, _)| !spec.contains_key(*k))
            .all(|(k, v)| current.get(*k) == Some(v));
        !self.versioned() && given && defaulted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_parse_singular_and_plural() {
        assert_eq!(Kind::parse("dataflows"), Some(Kind::Dataflow));
        assert_eq!(Kind::parse("Schedule"), Some(Kind::Schedule));
        assert_eq!(Kind::parse("job"), None);
        assert_eq!(Kind::parse("processflows"), Some(Kind::ProcessFlow));
    }

    #[test]
    fn unchanged_compares_given_fields_and_defaults() {
        let current = json!({"name":"n","dataflow":"d","cron":"* * * * *","enabled":true,"parameters":{},"owner":"admin"});
        let spec = json!({"dataflow":"d","cron":"* * * * *"});
        assert!(Kind::Schedule.unchanged(&spec, &current));
        assert!(!Kind::Schedule.unchanged(&json!({"dataflow":"d","cron":"0 * * * *"}), &current));
        let disabled = json!({"dataflow":"d","cron":"* * * * *","enabled":false,"parameters":{}});
        assert!(
            !Kind::Schedule.unchanged(&spec, &disabled),
            "apply re-enables"
        );
        let pinned = json!({"dataflow":"d","version":3,"pinned":true});
        assert!(!Kind::Service.unchanged(&json!({"dataflow":"d"}), &pinned));
        assert!(!Kind::Dataflow.unchanged(&json!({}), &json!({})));
    }
}
