//! The `prism` command line, run as an operator runs it (the built binary, a real
//! standalone, its own config directory), and its progress display on a terminal.
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use prism_tests::{
    ADMIN_PASSWORD, Standalone, adults_dataflow, prism_bin, wait_until, write_people_csv,
};
use serde_json::{Value, json};
use tempfile::TempDir;

/// One operator: a gateway URL and a config directory of their own.
struct Operator {
    url: String,
    config: TempDir,
}

impl Operator {
    fn new(platform: &Standalone) -> Operator {
        Operator {
            url: platform.api.base.clone(),
            config: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(prism_bin());
        command
            .args(args)
            .env("PRISM_URL", &self.url)
            .env("XDG_CONFIG_HOME", self.config.path());
        command
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    /// Runs `args`, asserts exit 0, answers stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "prism {args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut with_json = args.to_vec();
        with_json.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&with_json)).unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A directory of documents: a connection, three dataflows (one that succeeds, one
/// that fails when run, one slow), a process flow chaining two of them, and a
/// disabled schedule. The flow comes first in its file: `apply` still saves it
/// after the dataflows it names.
fn write_documents(dir: &Path, files: &Path) {
    let connection =
        json!({"kind":"connection","name":"files","spec":{"kind":"local","root":files}});
    std::fs::write(dir.join("connection.json"), connection.to_string()).unwrap();
    let broken = json!({"kind":"job","stages":[
        {"id":"people","type":"read","connection":"files","path":"missing.csv","format":"csv"},
        {"id":"out","type":"write","input":"people","connection":"files","path":"out/never.csv","format":"csv"}]});
    let dataflows = [
        json!({"kind":"dataflow","name":"adults","spec":adults_dataflow("files","out/adults.csv",0)}),
        json!({"kind":"dataflow","name":"broken","spec":broken}),
        json!({"kind":"dataflow","name":"slow","spec":adults_dataflow("files","out/slow.csv",4000)}),
    ];
    // JSON is YAML: a stream of three flow-style documents.
    let yaml: Vec<String> = dataflows
        .iter()
        .map(|d| serde_json::to_string_pretty(d).unwrap())
        .collect();
    std::fs::write(dir.join("dataflows.yaml"), yaml.join("\n---\n")).unwrap();
    std::fs::write(
        dir.join("schedule.yaml"),
        "kind: processflow\nname: chain\nspec:\n  activities:\n    - {id: first, type: job, dataflow: adults}\n    - {id: then, type: job, dataflow: slow}\n    - {id: done, type: succeed}\n  transitions:\n    - {from: first, to: then, on: succeeded}\n    - {from: then, to: done, on: always}\n    - {from: first, to: done, on: otherwise}\n---\nkind: schedule\nname: nightly\nspec:\n  dataflow: adults\n  cron: '0 2 * * *'\n  enabled: false\n",
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_logs_in_applies_runs_and_follows_jobs() {
    let platform = Standalone::start().await;
    write_people_csv(&platform.files);
    let operator = Operator::new(&platform);

    // Not signed in yet: a clear refusal.
    let out = operator.run(&["whoami"]);
    assert!(
        !out.status.success() && text(&out).contains("prism login"),
        "{}",
        text(&out)
    );

    // The password from stdin; the token kept readable by the user alone.
    let out = operator.run_with_stdin(&["login"], &format!("{ADMIN_PASSWORD}\n"));
    assert!(out.status.success(), "{}", text(&out));
    let sessions = operator.config.path().join("prism/sessions.json");
    let mode = std::fs::metadata(&sessions).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "sessions file mode {mode:o}");
    assert_eq!(operator.json(&["whoami"])["user"], "admin");
    let wrong = operator.run_with_stdin(&["login"], "not-the-password\n");
    assert!(
        !wrong.status.success() && text(&wrong).contains("HTTP 401"),
        "{}",
        text(&wrong)
    );

    // Apply a directory twice: the second time changes nothing.
    let config = tempfile::tempdir().unwrap();
    write_documents(config.path(), &platform.files);
    let dir = config.path().to_str().unwrap();
    let first = operator.ok(&["apply", "-f", dir]);
    for line in [
        "connection/files created",
        "dataflow/adults created (version 1)",
        "dataflow/broken created (version 1)",
        "processflow/chain created (version 1)",
        "schedule/nightly created",
    ] {
        assert!(first.contains(line), "{first}");
    }
    // Every change of the first apply audited (the audit log trails by a moment).
    let audited = wait_until("first apply audited", Duration::from_secs(10), || async {
        let entries = platform.api.audit().await;
        let puts = entries
            .iter()
            .filter(|e| e["action"].as_str().is_some_and(|a| a.ends_with(".put")))
            .count();
        (puts == 6).then_some(entries.len())
    })
    .await;
    let second = operator.ok(&["apply", "-f", dir]);
    assert_eq!(second.lines().count(), 6, "{second}");
    assert!(second.lines().all(|l| l.contains("unchanged")), "{second}");
    assert_eq!(
        platform.api.get("/v1/dataflows/adults").await.1["version"],
        1
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        platform.api.audit().await.len(),
        audited,
        "the second apply audited changes"
    );

    // `get` as tables and as the API's JSON.
    assert!(operator.ok(&["get", "dataflows"]).contains("adults"));
    let listed = operator.json(&["get", "dataflows"]);
    assert_eq!(listed["dataflows"].as_array().unwrap().len(), 3, "{listed}");
    let missing = operator.run(&["get", "dataflow", "nope"]);
    assert!(
        !missing.status.success() && text(&missing).contains("field name"),
        "{}",
        text(&missing)
    );

    // A process flow run followed to its end, then shown with its decisions.
    let started = operator.ok(&["flows", "run", "chain", "--wait"]);
    let id = started
        .split_whitespace()
        .nth(1)
        .expect("run <id> of chain started")
        .to_string();
    assert!(started.contains(": succeeded"), "{started}");
    let shown = operator.ok(&["flows", "show", &id]);
    assert!(
        shown.contains(
            "first -> then: on succeeded [first.status = 'succeeded']: taken, the rule holds"
        ),
        "{shown}"
    );
    let refused = operator.run(&["flows", "resume", &id]);
    assert!(
        !refused.status.success() && text(&refused).contains("no activity of the run failed"),
        "{}",
        text(&refused)
    );

    // Run and wait: exit 0 and the output written; a failing job exits non-zero
    // with its reason.
    let out = operator.run(&["run", "adults", "--wait"]);
    assert!(out.status.success(), "{}", text(&out));
    let written = std::fs::read_to_string(platform.files.join("out/adults.csv")).unwrap();
    assert_eq!(written, "name,age\nann,34\ncid,18\n");
    let out = operator.run(&["run", "broken", "--wait"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        stderr.contains("failed") && stderr.contains("missing.csv"),
        "{}",
        text(&out)
    );

    // `jobs logs --follow` ends when the job ends, with its end.
    let accepted = operator.json(&["run", "slow"]);
    let id = accepted["id"].as_str().unwrap();
    let started = Instant::now();
    let logs = operator.ok(&["jobs", "logs", id, "--follow"]);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "returned before the job ended"
    );
    assert!(logs.lines().last().unwrap().contains("succeeded"), "{logs}");
    assert_eq!(
        platform.api.get(&format!("/v1/jobs/{id}")).await.1["status"],
        "succeeded"
    );
    // Three run directly, two by the flow's run.
    let jobs = operator.json(&["jobs", "list"]);
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 5, "{jobs}");

    every_listing_ends_quietly_into_a_closed_pipe(&operator, id);

    operator.ok(&["logout"]);
    assert!(!operator.run(&["whoami"]).status.success());
}

/// `prism get dataflows | head -1`: a reader that goes away ends the command with
/// success and nothing on stderr (no panic, no "Broken pipe").
fn every_listing_ends_quietly_into_a_closed_pipe(operator: &Operator, job: &str) {
    let listings: [&[&str]; 12] = [
        &["get", "dataflows"],
        &["get", "dataflows", "adults", "-o", "json"],
        &["get", "connections"],
        &["get", "schedules", "-o", "json"],
        &["get", "services"],
        &["jobs", "list"],
        &["jobs", "list", "-o", "json"],
        &["jobs", "show", job],
        &["jobs", "logs", job],
        &["schedules", "list"],
        &["audit-log"],
        &["nodes"],
    ];
    for args in listings {
        // The pipe's reading end is closed before prism writes (it asks the
        // server first), so each of its writes meets a closed pipe for certain.
        let mut child = operator
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "prism {args:?} into a closed pipe: {}",
            text(&out)
        );
        // And as people type it.
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -o pipefail; \"$0\" {} | head -1",
                args.join(" ")
            ))
            .arg(prism_bin())
            .env("PRISM_URL", &operator.url)
            .env("XDG_CONFIG_HOME", operator.config.path())
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty() && out.stdout.ends_with(b"\n"),
            "prism {args:?} | head -1: {}",
            text(&out)
        );
    }
}

/// The progress display, seen through a pseudo-terminal (`script`): redrawn while a
/// job of several seconds runs, with its elapsed time moving.
#[tokio::test(flavor = "multi_thread")]
async fn run_wait_redraws_its_progress_on_a_terminal() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let slow = adults_dataflow("files", "out/slow.csv", 4000);
    assert_eq!(platform.api.put("/v1/dataflows/slow", &slow).await.0, 201);
    let operator = Operator::new(&platform);
    let out = operator.run_with_stdin(&["login"], ADMIN_PASSWORD);
    assert!(out.status.success(), "{}", text(&out));

    let line = format!("{} run slow --wait", prism_bin().display());
    let mut child = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env("PRISM_URL", &operator.url)
        .env("XDG_CONFIG_HOME", operator.config.path())
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut screen = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut screen)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{screen}");

    // Each redraw shows the state and the elapsed time: several different times
    // while running means the display moved during the job.
    let running: BTreeSet<String> = screen
        .split(['\r', '\n'])
        .filter(|frame| frame.contains("running"))
        .filter_map(|frame| frame.rsplit(", ").next().map(|s| s.trim().to_string()))
        .filter(|elapsed| elapsed.ends_with('s'))
        .collect();
    assert!(
        running.len() >= 3,
        "few progress frames: {running:?}\n{screen:?}"
    );
    assert!(screen.contains("succeeded"), "{screen:?}");
}

/// `prism --help` names the client commands and the server roles, one line each;
/// `prism version` tells the commit; completions come for three shells; a mistyped
/// command gets the nearest one.
#[test]
fn the_command_line_explains_itself() {
    let run = |args: &[&str]| Command::new(prism_bin()).args(args).output().unwrap();
    let help = run(&["--help"]);
    let listed = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "{listed}");
    for name in [
        "login",
        "apply",
        "run",
        "jobs",
        "services",
        "gateway",
        "standalone",
        "node",
    ] {
        assert!(
            listed.contains(&format!("\n  {name} ")),
            "{name} is not in:\n{listed}"
        );
    }
    let version = run(&["version"]);
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.starts_with(&format!("prism {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("login"),
            "{shell}"
        );
    }
    let mistyped = run(&["logn"]);
    assert_eq!(mistyped.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&mistyped.stderr).contains("did you mean `prism login`"),
        "{}",
        text(&mistyped)
    );
}
