//! What `prism` says of itself before any role runs: its help (the client
//! commands and the server roles, one line each, read from their own command
//! trees so the list cannot drift), `prism version`, `prism completions <shell>`,
//! and the nearest command to one it does not know.
use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::config::Cli;

/// Commands of the binary itself, beside the client commands and the roles.
const OWN: &[(&str, &str)] = &[
    (
        "version",
        "Prints the version and the commit it was built from",
    ),
    (
        "completions",
        "Prints shell completions: prism completions bash|zsh|fish",
    ),
    ("help", "Prints this help"),
];

/// The answer to `args`, when it is one of the binary's own commands (help,
/// version, completions) or an unknown command; `None` lets a role parse them.
pub fn answer(args: &[std::ffi::OsString]) -> Option<ExitCode> {
    let first = args.get(1).and_then(|a| a.to_str());
    match first {
        None | Some("help" | "-h" | "--help") => Some(print(&help())),
        Some("version" | "-V" | "--version") => Some(print(&version())),
        Some("completions") => Some(completions(args.get(2).and_then(|a| a.to_str()))),
        Some(word) if !word.starts_with('-') && !known(word) => {
            let mut message = format!("prism: unknown command {word:?}");
            if let Some(nearest) = nearest(word) {
                message.push_str(&format!("; did you mean `prism {nearest}`?"));
            }
            eprintln!("{message}\n(`prism help` lists every command)");
            Some(ExitCode::from(crate::EXIT_BAD_CONFIG))
        }
        Some(_) => None,
    }
}

fn print(text: &str) -> ExitCode {
    // A closed pipe (`prism help | head -1`) is not an error.
    let _ = writeln!(std::io::stdout(), "{text}");
    ExitCode::SUCCESS
}

fn version() -> String {
    format!(
        "prism {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        env!("PRISM_COMMIT")
    )
}

/// Every command's name and its one-line description: client, own, role.
fn groups() -> [(&'static str, Vec<(String, String)>); 2] {
    let lines = |command: clap::Command| -> Vec<(String, String)> {
        command
            .get_subcommands()
            .filter(|c| !c.is_hide_set() && c.get_name() != "help")
            .map(|c| {
                let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
                // The first sentence of the first line.
                let line = about.lines().next().unwrap_or("");
                let first = line.split(". ").next().unwrap_or("").trim_end_matches('.');
                (c.get_name().to_string(), first.trim().to_string())
            })
            .collect()
    };
    let mut client = lines(prism_cli::command());
    client.extend(OWN.iter().map(|(n, a)| (n.to_string(), a.to_string())));
    [
        (
            "Client commands (talk to a gateway; `prism <command> --help`):",
            client,
        ),
        (
            "Server roles (run a service; `prism <role> --help` for its settings):",
            lines(Cli::command()),
        ),
    ]
}

fn known(word: &str) -> bool {
    groups()
        .iter()
        .any(|(_, lines)| lines.iter().any(|(name, _)| name == word))
}

fn nearest(word: &str) -> Option<String> {
    groups()
        .into_iter()
        .flat_map(|(_, lines)| lines.into_iter().map(|(name, _)| name))
        .map(|name| (strsim::damerau_levenshtein(word, &name), name))
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 3))
        .min()
        .map(|(_, name)| name)
}

fn help() -> String {
    let mut text = format!(
        "{}\n\nUsage: prism <command> [options]\n",
        Cli::command()
            .get_about()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    for (heading, lines) in groups() {
        text.push_str(&format!("\n{heading}\n"));
        let width = lines.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, about) in lines {
            text.push_str(&format!("  {name:<width$}  {about}\n"));
        }
    }
    text.push_str("\nStart with `./dev.sh up` (or `prism standalone`), then `prism login`.");
    text
}

fn completions(shell: Option<&str>) -> ExitCode {
    let shell = match shell {
        Some("bash") => clap_complete::Shell::Bash,
        Some("zsh") => clap_complete::Shell::Zsh,
        Some("fish") => clap_complete::Shell::Fish,
        _ => {
            eprintln!("prism: completions for bash, zsh or fish: prism completions bash");
            return ExitCode::from(crate::EXIT_BAD_CONFIG);
        }
    };
    // One tree for both: the roles with their settings, and the client commands.
    let client = prism_cli::command();
    let mut all = Cli::command().subcommands(client.get_subcommands().cloned());
    // clap adds `help` itself.
    for (name, about) in OWN.iter().filter(|(name, _)| *name != "help") {
        all = all.subcommand(clap::Command::new(*name).about(*about));
    }
    clap_complete::generate(shell, &mut all, "prism", &mut std::io::stdout());
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_client_command_and_role_and_unknown_words_get_the_nearest() {
        let help = help();
        for name in [
            "login",
            "apply",
            "run",
            "jobs",
            "services",
            "version",
            "gateway",
            "standalone",
            "node",
        ] {
            assert!(
                help.contains(&format!("\n  {name} ")),
                "{name} missing from:\n{help}"
            );
        }
        assert_eq!(nearest("logn").as_deref(), Some("login"));
        assert_eq!(nearest("standalon").as_deref(), Some("standalone"));
        assert_eq!(nearest("zzzzzzzz"), None);
    }
}
