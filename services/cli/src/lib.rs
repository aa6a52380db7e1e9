//! The operator's command line: the client subcommands of the `prism` binary
//! (`prism login`, `prism apply -f DIR`, `prism run adults --wait`, ...), each a
//! thin use of the HTTP API. Errors print the server's message and field and exit
//! non-zero; `-o json` prints the API's own JSON for scripts.
#![forbid(unsafe_code)]
mod apply;
mod client;
mod flows;
mod jobs;
mod kinds;
mod operations;
mod output;
mod session;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use crate::client::{Client, Failure, Outcome, encode};
use crate::kinds::Kind;
use crate::output::Format;

/// The first arguments that make `prism` a client rather than a server role.
const COMMANDS: &[&str] = &[
    "login",
    "logout",
    "whoami",
    "apply",
    "get",
    "delete",
    "run",
    "flows",
    "jobs",
    "schedules",
    // Not `audit`: that is the audit service's role, which deployments run.
    "audit-log",
    "nodes",
    "services",
    "secrets",
    "test-connection",
];

pub fn is_client_command(arg: &str) -> bool {
    COMMANDS.contains(&arg)
}

/// The client commands' own command line, for the binary's help and completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[derive(Debug, Parser)]
#[command(
    name = "prism",
    about = "Prism's command line: drives a gateway over its HTTP API",
    after_help = "Examples:\n  prism login\n  prism apply -f config/\n  prism run adults -p min_age=18 --wait\n  prism jobs list --status failed -o json"
)]
struct Cli {
    /// The gateway.
    #[arg(
        long,
        global = true,
        env = "PRISM_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// Output: human tables, or the API's JSON.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Signs in and keeps the token (mode 0600) for later commands.
    #[command(
        after_help = "Example:\n  prism login --user alice\n  echo \"$PASSWORD\" | prism login"
    )]
    Login {
        #[arg(long, default_value = "admin")]
        user: String,
    },
    /// Ends the session: the token is revoked and forgotten.
    #[command(after_help = "Example:\n  prism logout")]
    Logout,
    /// Who the session is: user, roles, grants.
    #[command(after_help = "Example:\n  prism whoami -o json")]
    Whoami,
    /// Creates or updates connections, dataflows, schedules and services from
    /// documents {kind, name, spec}; unchanged ones are left alone.
    #[command(
        after_help = "Example:\n  prism apply -f config/\n\nconfig/adults.yaml:\n  kind: dataflow\n  name: adults\n  spec: {kind: job, stages: [...]}"
    )]
    Apply {
        /// A YAML or JSON file, or a directory of them.
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Lists a kind, or shows one by name.
    #[command(after_help = "Example:\n  prism get dataflows\n  prism get dataflow adults -o json")]
    Get { kind: Kind, name: Option<String> },
    /// Deletes one (schedules, services; the API keeps dataflow versions and
    /// connections).
    #[command(after_help = "Example:\n  prism delete schedule nightly")]
    Delete { kind: Kind, name: String },
    /// Submits a job; with --wait follows it and exits 0 only when it succeeds.
    #[command(after_help = "Example:\n  prism run adults -p min_age=18 --wait")]
    Run {
        dataflow: String,
        /// A parameter, name=value (repeatable).
        #[arg(short = 'p', long = "param")]
        params: Vec<String>,
        #[arg(long)]
        wait: bool,
    },
    /// Runs of process flows: start, show, resume, decide approvals.
    #[command(
        subcommand,
        after_help = "Example:\n  prism flows run nightly_chain -p day=2026-12-04 --wait\n  prism flows resume 01a2… --execute"
    )]
    Flows(FlowsCommand),
    /// Lists, shows, cancels or follows jobs.
    #[command(
        subcommand,
        after_help = "Example:\n  prism jobs list --status running\n  prism jobs logs 01a2… --follow"
    )]
    Jobs(JobsCommand),
    /// Lists, shows, enables and disables schedules.
    #[command(
        subcommand,
        after_help = "Example:\n  prism schedules list\n  prism schedules disable nightly"
    )]
    Schedules(SchedulesCommand),
    /// The audit log, oldest first; --follow keeps printing new entries. (`prism
    /// audit` is the audit service itself.)
    #[command(after_help = "Example:\n  prism audit-log --follow -o json")]
    AuditLog {
        #[arg(long)]
        follow: bool,
    },
    /// The cluster's nodes, or drains one.
    #[command(after_help = "Example:\n  prism nodes\n  prism nodes drain executor-2")]
    Nodes {
        #[command(subcommand)]
        command: Option<NodesCommand>,
    },
    /// Lists or calls real-time services.
    #[command(
        subcommand,
        after_help = "Example:\n  prism services call lookup --row '{\"id\": 7}'"
    )]
    Services(ServicesCommand),
    /// Sets and lists secrets (values are write-only), rotates the master key.
    #[command(
        subcommand,
        after_help = "Example:\n  prism secrets set pg-password < password.txt\n  prism secrets rotate-key"
    )]
    Secrets(SecretsCommand),
    /// Tries a connection: a session for PostgreSQL, a listing for S3.
    #[command(after_help = "Example:\n  prism test-connection warehouse")]
    TestConnection { name: String },
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Names, versions and the connections naming each; never values.
    #[command(after_help = "Example:\n  prism secrets list")]
    List,
    /// Sets a secret's value (a new version), read without echo on a terminal or
    /// from stdin: never an argument, which `ps` and shell history would keep.
    #[command(after_help = "Example:\n  prism secrets set pg-password < password.txt")]
    Set { name: String },
    /// Re-wraps every secret's data key under the key file's first key.
    #[command(after_help = "Example:\n  prism secrets rotate-key")]
    RotateKey,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Newest first.
    #[command(after_help = "Example:\n  prism jobs list --status failed --dataflow adults")]
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        dataflow: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One job's record.
    #[command(after_help = "Example:\n  prism jobs show 01a2…")]
    Show { id: String },
    /// Asks a job to stop.
    #[command(after_help = "Example:\n  prism jobs cancel 01a2…")]
    Cancel { id: String },
    /// The job's own log (attempts, each stage's end with its time and rows, the
    /// job's end or error); --follow prints new lines until the job ends.
    #[command(after_help = "Example:\n  prism jobs logs 01a2… --follow")]
    Logs {
        id: String,
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SchedulesCommand {
    #[command(after_help = "Example:\n  prism schedules list")]
    List,
    #[command(after_help = "Example:\n  prism schedules show nightly")]
    Show { name: String },
    #[command(after_help = "Example:\n  prism schedules enable nightly")]
    Enable { name: String },
    #[command(after_help = "Example:\n  prism schedules disable nightly")]
    Disable { name: String },
}

#[derive(Debug, Subcommand)]
enum FlowsCommand {
    /// Starts a run of a flow's latest version; --wait follows it to its end.
    #[command(after_help = "Example:\n  prism flows run nightly_chain -p day=monday --wait")]
    Run {
        flow: String,
        /// A parameter, name=value (repeatable).
        #[arg(short = 'p', long = "param")]
        params: Vec<String>,
        #[arg(long)]
        wait: bool,
    },
    /// A run: each activity, and each transition decided and why.
    #[command(after_help = "Example:\n  prism flows show 01a2…")]
    Show { run: String },
    /// The plan of resuming a run; --execute starts it.
    #[command(after_help = "Example:\n  prism flows resume 01a2… --execute --latest")]
    Resume {
        run: String,
        /// `failed` (the default) or an activity: it and what follows run again.
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        execute: bool,
        /// Run dataflows changed since the run at their latest versions.
        #[arg(long)]
        latest: bool,
    },
    /// Approves a waiting approval (--reject rejects it).
    #[command(
        after_help = "Example:\n  prism flows approve 01a2… sign_off --comment 'numbers checked'"
    )]
    Approve {
        run: String,
        activity: String,
        #[arg(long)]
        reject: bool,
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum NodesCommand {
    /// The node finishes its jobs, takes no more, and exits.
    #[command(after_help = "Example:\n  prism nodes drain executor-2")]
    Drain { node: String },
}

#[derive(Debug, Subcommand)]
enum ServicesCommand {
    #[command(after_help = "Example:\n  prism services list")]
    List,
    /// Sends rows to a service and prints its answer.
    #[command(after_help = "Example:\n  prism services call lookup --row '{\"id\": 7}'")]
    Call {
        name: String,
        /// A request row, a JSON object (repeatable).
        #[arg(long)]
        row: Vec<String>,
    },
}

/// Runs a client command; `args` includes the program name.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let cli = Cli::parse_from(args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("prism: {failure}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> Outcome<()> {
    let url = cli.url.trim_end_matches('/').to_string();
    match cli.command {
        Command::Login { user } => say(session::login(&url, &user).await?),
        Command::Logout => say(session::logout(&url).await?),
        command => {
            let token = session::token_for(&url)?;
            if token.is_none() {
                return Err(Failure::local(format!(
                    "not signed in to {url}: run `prism login` first"
                )));
            }
            let client = Client::new(&url, token)?;
            signed_in(&client, cli.output, command).await
        }
    }
}

fn say(line: String) -> Outcome<()> {
    output::print(line);
    Ok(())
}

/// Prints an answer: JSON as it came, or `render`'s human form.
fn show(format: Format, answer: &Value, render: impl FnOnce(&Value) -> String) {
    match format {
        Format::Json => output::print(output::json(answer)),
        Format::Table => output::print(render(answer)),
    }
}

fn rows<'a>(answer: &'a Value, key: &str) -> &'a [Value] {
    answer[key].as_array().map_or(&[][..], Vec::as_slice)
}

async fn signed_in(client: &Client, format: Format, command: Command) -> Outcome<()> {
    match command {
        Command::Whoami => {
            let me = client.get("/v1/me").await?;
            show(format, &me, |me| {
                format!(
                    "{} at {} (roles: {})",
                    output::cell(&me["user"]),
                    client.base(),
                    output::cell(&me["roles"])
                )
            });
        }
        Command::Apply { file } => {
            for doc in apply::load(&file)? {
                output::print(apply::save(client, &doc).await?);
            }
        }
        Command::Get { kind, name } => get(client, format, kind, name).await?,
        Command::Delete { kind, name } => {
            client.delete(&kind.path(&name)).await?;
            output::print(format!("{}/{name} deleted", kind.name()));
        }
        Command::Run {
            dataflow,
            params,
            wait,
        } => run(client, format, &dataflow, &params, wait).await?,
        Command::Jobs(command) => jobs_command(client, format, command).await?,
        Command::Flows(FlowsCommand::Run { flow, params, wait }) => {
            flows::start(client, format, &flow, &params, wait).await?
        }
        Command::Flows(FlowsCommand::Show { run }) => flows::show(client, format, &run).await?,
        Command::Flows(FlowsCommand::Resume {
            run,
            from,
            execute,
            latest,
        }) => flows::resume(client, format, &run, from, execute, latest).await?,
        Command::Flows(FlowsCommand::Approve {
            run,
            activity,
            reject,
            comment,
        }) => flows::approve(client, format, &run, &activity, reject, comment).await?,
        Command::Schedules(command) => schedules_command(client, format, command).await?,
        Command::AuditLog { follow } => operations::audit(client, follow, format).await?,
        Command::Nodes { command: None } => operations::nodes(client, format).await?,
        Command::Nodes {
            command: Some(NodesCommand::Drain { node }),
        } => {
            let path = format!("/v1/cluster/nodes/{}/drain", encode(&node));
            client.post(&path, &json!({})).await?;
            output::print(format!("node {node} draining"));
        }
        Command::Services(ServicesCommand::List) => {
            get(client, format, Kind::Service, None).await?
        }
        Command::Services(ServicesCommand::Call { name, row }) => {
            let path = format!("/v1/services/{}/invoke", encode(&name));
            let answer = client.post(&path, &operations::call_body(&row)?).await?;
            show(format, &answer, |a| {
                output::table(rows(a, "rows"), &columns_of(rows(a, "rows")))
            });
        }
        Command::Secrets(command) => secrets_command(client, format, command).await?,
        Command::TestConnection { name } => {
            let path = format!("{}/test", Kind::Connection.path(&name));
            let answer = client.post(&path, &json!({})).await?;
            show(format, &answer, output::fields);
        }
        Command::Login { .. } | Command::Logout => unreachable!("handled before signing in"),
    }
    Ok(())
}

/// The columns of rows whose shape is not known in advance (a service's answer).
fn columns_of(rows: &[Value]) -> Vec<&str> {
    rows.first()
        .and_then(Value::as_object)
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

async fn get(client: &Client, format: Format, kind: Kind, name: Option<String>) -> Outcome<()> {
    match name {
        Some(name) => {
            let answer = client.get(&kind.path(&name)).await?;
            show(format, &answer, output::fields);
        }
        None => {
            let answer = client.get(&format!("/v1/{}", kind.plural())).await?;
            show(format, &answer, |a| {
                output::table(rows(a, kind.plural()), kind.columns())
            });
        }
    }
    Ok(())
}

async fn run(
    client: &Client,
    format: Format,
    dataflow: &str,
    params: &[String],
    wait: bool,
) -> Outcome<()> {
    let accepted = jobs::submit(client, dataflow, params).await?;
    let id = accepted["id"]
        .as_str()
        .ok_or_else(|| Failure::local("the gateway answered no job id"))?
        .to_string();
    if !wait {
        show(format, &accepted, |_| format!("job {id} queued"));
        return Ok(());
    }
    let job = jobs::wait(client, &id).await?;
    show(format, &job, |job| {
        format!("job {id} {}", output::cell(&job["status"]))
    });
    jobs::verdict(&job)
}

async fn jobs_command(client: &Client, format: Format, command: JobsCommand) -> Outcome<()> {
    match command {
        JobsCommand::List {
            status,
            dataflow,
            limit,
        } => {
            let path = jobs::list_path(status.as_deref(), dataflow.as_deref(), limit);
            let answer = client.get(&path).await?;
            show(format, &answer, |a| {
                output::table(
                    rows(a, "jobs"),
                    &["id", "dataflow", "status", "created_at", "finished_at"],
                )
            });
        }
        JobsCommand::Show { id } => {
            let job = client.get(&format!("/v1/jobs/{}", encode(&id))).await?;
            show(format, &job, output::fields);
        }
        JobsCommand::Cancel { id } => {
            let path = format!("/v1/jobs/{}/cancel", encode(&id));
            let answer = client.post(&path, &json!({})).await?;
            show(format, &answer, |a| {
                format!("job {id} {}", output::cell(&a["status"]))
            });
        }
        JobsCommand::Logs { id, follow } => {
            jobs::logs(client, &id, follow, format == Format::Json).await?
        }
    }
    Ok(())
}

async fn secrets_command(client: &Client, format: Format, command: SecretsCommand) -> Outcome<()> {
    match command {
        SecretsCommand::List => {
            let answer = client.get("/v1/secrets").await?;
            show(format, &answer, |a| {
                output::table(
                    rows(a, "secrets"),
                    &["name", "version", "key_id", "updated_at", "connections"],
                )
            });
        }
        SecretsCommand::Set { name } => {
            let value = session::read_hidden(&format!("value of {name}"), 16 * 1024 + 1)?;
            let path = format!("/v1/secrets/{}", encode(&name));
            let (_, answer) = client.put(&path, &json!({ "value": value })).await?;
            show(format, &answer, |a| {
                format!("secret/{name} version {}", output::cell(&a["version"]))
            });
        }
        SecretsCommand::RotateKey => {
            let answer = client.post("/v1/master-key/rotate", &json!({})).await?;
            show(format, &answer, |a| {
                format!(
                    "{} of {} secrets re-wrapped under key {}",
                    output::cell(&a["rewrapped"]),
                    output::cell(&a["secrets"]),
                    output::cell(&a["key_id"])
                )
            });
        }
    }
    Ok(())
}

async fn schedules_command(
    client: &Client,
    format: Format,
    command: SchedulesCommand,
) -> Outcome<()> {
    let (name, switch) = match command {
        SchedulesCommand::List => return get(client, format, Kind::Schedule, None).await,
        SchedulesCommand::Show { name } => {
            return get(client, format, Kind::Schedule, Some(name)).await;
        }
        SchedulesCommand::Enable { name } => (name, "enable"),
        SchedulesCommand::Disable { name } => (name, "disable"),
    };
    let path = format!("{}/{switch}", Kind::Schedule.path(&name));
    let answer = client.post(&path, &json!({})).await?;
    show(format, &answer, |_| format!("schedule/{name} {switch}d"));
    Ok(())
}
