//! Protobuf messages of Prism: the bus contract (`jobs.proto`, `events.proto`)
//! and the values of the configuration database (`store.proto`).
//! The `.proto` files under `proto/` are the source of truth for outside consumers.
#![forbid(unsafe_code)]

pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/prism.v1.rs"));

    impl ConnectionRecord {
        /// The secrets the connection names, in the order its kind lists them
        /// (a PostgreSQL password; an S3 access key id, then its secret key).
        pub fn secret_names(&self) -> Vec<&str> {
            let mut names = Vec::new();
            if let Some(pg) = &self.postgres {
                names.push(pg.password_secret.as_str());
            }
            if let Some(s3) = &self.s3 {
                names.push(s3.access_key_id_secret.as_str());
                names.push(s3.secret_access_key_secret.as_str());
            }
            names.retain(|n| !n.is_empty());
            names
        }
    }

    impl JobState {
        /// The lowercase name used by the HTTP API and event subjects.
        pub fn api_name(self) -> &'static str {
            match self {
                JobState::Unspecified => "unspecified",
                JobState::Queued => "queued",
                JobState::Running => "running",
                JobState::Succeeded => "succeeded",
                JobState::Failed => "failed",
                JobState::Cancelled => "cancelled",
            }
        }

        pub fn from_api_name(name: &str) -> Option<Self> {
            Some(match name {
                "queued" => JobState::Queued,
                "running" => JobState::Running,
                "succeeded" => JobState::Succeeded,
                "failed" => JobState::Failed,
                "cancelled" => JobState::Cancelled,
                _ => return None,
            })
        }

        pub fn is_terminal(self) -> bool {
            matches!(
                self,
                JobState::Succeeded | JobState::Failed | JobState::Cancelled
            )
        }

        /// The event kind published on `prism.events.job.<id>.<kind>`.
        pub fn event_kind(self) -> &'static str {
            match self {
                JobState::Running => "started",
                other => other.api_name(),
            }
        }
    }
}
