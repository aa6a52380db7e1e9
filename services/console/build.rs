//! Embeds the console's built files (`web/dist`, made by `npm run build`) in the
//! binary. Without them (a machine without Node), the console is one page that
//! says how to build it, so the binary always compiles and always serves `/`.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        // Anything else Vite emits is served as bytes (lib.rs's MEDIA_TYPES).
        _ => "application/octet-stream",
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dist = manifest.join("web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut found = Vec::new();
    if dist.join("index.html").is_file() {
        files(&dist, &mut found);
    }
    found.sort();
    let mut code = String::from("pub static FILES: &[File] = &[\n");
    for path in &found {
        let served = path.strip_prefix(&dist).expect("beneath dist");
        let served = served.to_string_lossy().replace('\\', "/");
        // Vite names what it builds with a content hash: those never change.
        let immutable = served.starts_with("assets/") && !served.ends_with("favicon.svg");
        writeln!(
            code,
            "    File {{ path: {served:?}, content_type: {:?}, immutable: {immutable}, bytes: include_bytes!({:?}) }},",
            content_type(path),
            path.display().to_string(),
        )
        .expect("write to a string");
    }
    code.push_str("];\n");
    let built = !found.is_empty();
    writeln!(code, "pub const BUILT: bool = {built};").expect("write to a string");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out.join("files.rs"), code).expect("write files.rs");
}
