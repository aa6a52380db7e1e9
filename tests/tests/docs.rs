//! The documents cannot drift from the product: every shell block of README.md and
//! docs/ runs for real, page by page in one shell (so a page's blocks may build on
//! each other), against a standalone prepared as `./dev.sh up` leaves one (the
//! connection `files`, the dataflow `adults`, the admin's password in
//! `.prism/admin.password`), with `set -euo pipefail`. A block preceded by
//! `<!-- docs-test: skip (why) -->` is not run, and says why; the addresses
//! `localhost:8080` and `127.0.0.1:8080` are this standalone's.
use std::path::{Path, PathBuf};
use std::process::Command;

use prism_tests::{ADMIN_PASSWORD, Standalone, adults_dataflow, prism_bin};

/// One ```sh block: the line it starts on, and its text or why it is skipped.
struct Block {
    line: usize,
    text: String,
    skipped: Option<String>,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut lines = markdown.lines().enumerate().peekable();
    let mut previous = "";
    while let Some((number, line)) = lines.next() {
        if line.trim() == "```sh" {
            let skipped = previous
                .trim()
                .strip_prefix("<!-- docs-test: skip")
                .map(|rest| rest.trim_end_matches("-->").trim().to_string());
            let mut text = String::new();
            for (_, body) in lines.by_ref() {
                if body.trim() == "```" {
                    break;
                }
                text.push_str(body);
                text.push('\n');
            }
            found.push(Block {
                line: number + 1,
                text,
                skipped,
            });
        }
        previous = line;
    }
    found
}

fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

#[tokio::test(flavor = "multi_thread")]
async fn every_shell_block_of_the_docs_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let adults = adults_dataflow("files", "out/adults.csv", 0);
    assert_eq!(
        platform.api.put("/v1/dataflows/adults", &adults).await.0,
        201
    );
    // The reader's checkout: `.prism/admin.password` and `examples/`, as after `up`.
    let checkout = tempfile::tempdir().unwrap();
    std::fs::create_dir(checkout.path().join(".prism")).unwrap();
    std::fs::write(
        checkout.path().join(".prism/admin.password"),
        ADMIN_PASSWORD,
    )
    .unwrap();
    std::os::unix::fs::symlink(root.join("examples"), checkout.path().join("examples")).unwrap();
    let address = platform.api.base.trim_start_matches("http://").to_string();
    let path = format!(
        "{}:{}",
        prism_bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let (mut ran, mut skipped) = (0, 0);
    for page in pages(root) {
        let markdown = std::fs::read_to_string(&page).unwrap();
        let mut script = String::from("set -euo pipefail\n");
        for block in blocks(&markdown) {
            let name = format!("{}:{}", page.display(), block.line);
            match block.skipped {
                Some(why) => {
                    assert!(!why.is_empty(), "{name}: a skipped block says why");
                    skipped += 1;
                }
                None => {
                    let text = block
                        .text
                        .replace("localhost:8080", &address)
                        .replace("127.0.0.1:8080", &address);
                    script.push_str(&format!("echo '>>> {name}' >&2\n{text}\n"));
                    ran += 1;
                }
            }
        }
        let config = tempfile::tempdir().unwrap();
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(checkout.path())
            .env("PATH", &path)
            .env("PRISM_URL", &platform.api.base)
            .env("XDG_CONFIG_HOME", config.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{}: a shell block failed (the last `>>>` line names it)\nstdout:\n{}\nstderr:\n{stderr}",
            page.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert!(
        ran >= 3,
        "the README's tour and the docs' blocks ran: {ran}"
    );
    assert!(skipped >= 1);
}
