//! Who may do what on the bus. NATS runs with one user per kind of Prism process,
//! each allowed only the subjects its service owns, plus an admin and a read-only
//! event reader for outside consumers. The nats-server `authorization` block is
//! generated from this one table, so the permissions in every scenario (standalone,
//! test clusters, compose) are the same.
//!
//! Passwords live in a credentials directory, one `<user>.password` file each
//! (mode 0600): `PRISM_NATS_CREDENTIALS_DIR`.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A bus user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BusUser {
    Gateway,
    Scheduler,
    Executor,
    Audit,
    /// Outside consumers: reads events, publishes nothing.
    Events,
    /// Outside automation: submits jobs over the bus (each request carries a user's
    /// token, checked by the gateway) and reads events.
    Client,
    /// Operators: everything, including `prism.ctl.>`.
    Admin,
}

pub const ALL: [BusUser; 7] = [
    BusUser::Gateway,
    BusUser::Scheduler,
    BusUser::Executor,
    BusUser::Audit,
    BusUser::Events,
    BusUser::Client,
    BusUser::Admin,
];

/// Allow and deny lists for publishing and subscribing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish_allow: Vec<&'static str>,
    pub publish_deny: Vec<&'static str>,
    pub subscribe_allow: Vec<&'static str>,
}

/// What every service needs: the JetStream API (streams and buckets are created
/// idempotently by every process), replies, and its node's heartbeat and events.
const SERVICE_PUBLISH: &[&str] = &[
    "$JS.API.>",
    "_INBOX.>",
    "$KV.prism_nodes.>",
    "prism.events.node.>",
];
/// Nobody but the admin deletes or purges a stream.
const NO_DESTRUCTION: &[&str] = &["$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>"];
/// Only executors take jobs from the queue.
const NOT_THE_JOB_QUEUE: &[&str] = &[
    "$JS.API.CONSUMER.MSG.NEXT.JOBS.>",
    "$JS.API.CONSUMER.CREATE.JOBS.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.JOBS.>",
    "$JS.ACK.JOBS.>",
];
/// Only the audit service consumes (and acknowledges) its consumer.
const NOT_THE_AUDIT_CONSUMER: &[&str] = &[
    "$JS.API.CONSUMER.MSG.NEXT.EVENTS.audit",
    "$JS.API.CONSUMER.CREATE.EVENTS.audit",
    "$JS.API.CONSUMER.CREATE.EVENTS.audit.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.EVENTS.audit",
    "$JS.ACK.EVENTS.audit.>",
];

impl BusUser {
    pub fn name(self) -> &'static str {
        match self {
            BusUser::Gateway => "gateway",
            BusUser::Scheduler => "scheduler",
            BusUser::Executor => "executor",
            BusUser::Audit => "audit",
            BusUser::Events => "events",
            BusUser::Client => "client",
            BusUser::Admin => "admin",
        }
    }

    pub fn permissions(self) -> Permissions {
        let service =
            |own: &[&'static str], deny: &[&[&'static str]], subscribe: &[&'static str]| {
                let mut publish_allow = SERVICE_PUBLISH.to_vec();
                publish_allow.extend_from_slice(own);
                let mut publish_deny = NO_DESTRUCTION.to_vec();
                for list in deny {
                    publish_deny.extend_from_slice(list);
                }
                let mut subscribe_allow = vec!["_INBOX.>"];
                subscribe_allow.extend_from_slice(subscribe);
                Permissions {
                    publish_allow,
                    publish_deny,
                    subscribe_allow,
                }
            };
        match self {
            // Accepts jobs (run messages, events, relayed outbox entries), writes
            // cancel requests into the attempt fence, answers bus submissions and
            // sends drain requests on behalf of HTTP admins.
            BusUser::Gateway => service(
                &[
                    "prism.jobs.run.>",
                    "prism.events.>",
                    "$KV.prism_job_attempts.>",
                    "$KV.prism_services.>",
                    "$KV.prism_settings.>",
                    "prism.svc.>",
                    "prism.preview.>",
                    "prism.ctl.>",
                ],
                &[NOT_THE_JOB_QUEUE, NOT_THE_AUDIT_CONSUMER],
                // Submissions, and dataflow changes (to drop what it cached of them).
                &["prism.jobs.submit", "prism.events.config.dataflow.>"],
            ),
            // Fires schedules, relays outbox entries, and advances flow runs as
            // their jobs and child runs end.
            BusUser::Scheduler => service(
                &["prism.jobs.run.>", "prism.events.>", "$KV.prism_services.>"],
                &[NOT_THE_JOB_QUEUE, NOT_THE_AUDIT_CONSUMER],
                &["prism.events.job.>", "prism.events.flow.>"],
            ),
            // Takes jobs, reports them, owns their attempts; listens for drains.
            BusUser::Executor => service(
                &[
                    "prism.events.job.>",
                    "prism.events.run.>",
                    "prism.logs.job.>",
                    "$KV.prism_job_attempts.>",
                    "$JS.ACK.JOBS.>",
                ],
                &[NOT_THE_AUDIT_CONSUMER],
                &["prism.ctl.drain.>", "prism.svc.>", "prism.preview.>"],
            ),
            // Consumes the event stream into the audit log.
            BusUser::Audit => service(&["$JS.ACK.EVENTS.audit.>"], &[NOT_THE_JOB_QUEUE], &[]),
            BusUser::Events => Permissions {
                publish_allow: vec![
                    "$JS.API.INFO",
                    "$JS.API.STREAM.INFO.EVENTS",
                    "$JS.API.CONSUMER.INFO.EVENTS.*",
                    "$JS.API.CONSUMER.MSG.NEXT.EVENTS.*",
                    "$JS.ACK.EVENTS.>",
                ],
                publish_deny: NOT_THE_AUDIT_CONSUMER.to_vec(),
                subscribe_allow: vec!["prism.events.>", "_INBOX.>"],
            },
            BusUser::Client => Permissions {
                publish_allow: vec!["prism.jobs.submit", "prism.svc.>"],
                publish_deny: Vec::new(),
                subscribe_allow: vec!["prism.events.>", "_INBOX.>"],
            },
            BusUser::Admin => Permissions {
                publish_allow: vec![">"],
                publish_deny: Vec::new(),
                subscribe_allow: vec![">"],
            },
        }
    }
}

fn quoted(list: &[&str]) -> String {
    let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(", "))
}

/// The nats-server `authorization { users = [...] }` block for `passwords` (every
/// user of [`ALL`] that has one).
pub fn authorization_block(passwords: &BTreeMap<BusUser, String>) -> String {
    let mut users = Vec::new();
    for (user, password) in passwords {
        let p = user.permissions();
        let mut publish = format!("allow: {}", quoted(&p.publish_allow));
        if !p.publish_deny.is_empty() {
            publish.push_str(&format!(", deny: {}", quoted(&p.publish_deny)));
        }
        users.push(format!(
            "    {{ user: {:?}, password: {:?}, permissions: {{ publish: {{ {publish} }}, subscribe: {{ allow: {} }} }} }}",
            user.name(),
            password,
            quoted(&p.subscribe_allow),
        ));
    }
    format!(
        "authorization {{\n  users = [\n{}\n  ]\n}}\n",
        users.join("\n")
    )
}

/// Writes `text` to `path`, readable by this user only: it holds passwords.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// A directory of `<user>.password` files.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub dir: PathBuf,
}

impl Credentials {
    /// The password of `user`, if the directory has one.
    pub fn password(&self, user: BusUser) -> Option<String> {
        let path = self.dir.join(format!("{}.password", user.name()));
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Every user's password, made (random, mode 0600) where missing.
    pub fn ensure_all(dir: &Path) -> std::io::Result<(Credentials, BTreeMap<BusUser, String>)> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let credentials = Credentials {
            dir: dir.to_path_buf(),
        };
        let mut passwords = BTreeMap::new();
        for user in ALL {
            let password = match credentials.password(user) {
                Some(password) if !password.is_empty() => password,
                _ => {
                    let password = uuid::Uuid::new_v4().simple().to_string()
                        + &uuid::Uuid::new_v4().simple().to_string();
                    let path = dir.join(format!("{}.password", user.name()));
                    write_private(&path, &format!("{password}\n"))?;
                    password
                }
            };
            passwords.insert(user, password);
        }
        Ok((credentials, passwords))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_executors_take_jobs_and_only_gateways_and_schedulers_send_them() {
        for user in ALL {
            let p = user.permissions();
            let sends_runs = p
                .publish_allow
                .iter()
                .any(|s| *s == "prism.jobs.run.>" || *s == ">");
            let expected = matches!(user, BusUser::Gateway | BusUser::Scheduler | BusUser::Admin);
            assert_eq!(sends_runs, expected, "{user:?}");
            let queue_denied = p.publish_deny.contains(&"$JS.API.CONSUMER.MSG.NEXT.JOBS.>");
            let services_but_executors =
                matches!(user, BusUser::Gateway | BusUser::Scheduler | BusUser::Audit);
            assert_eq!(queue_denied, services_but_executors, "{user:?}");
        }
        let events = BusUser::Events.permissions();
        assert!(
            !events
                .publish_allow
                .iter()
                .any(|s| s.starts_with("prism.") || s.starts_with("$KV"))
        );
    }

    #[test]
    fn the_block_names_every_user() {
        let passwords: BTreeMap<BusUser, String> = ALL
            .iter()
            .map(|u| (*u, format!("pw-{}", u.name())))
            .collect();
        let block = authorization_block(&passwords);
        for user in ALL {
            assert!(
                block.contains(&format!("user: \"{}\"", user.name())),
                "{block}"
            );
        }
    }
}
