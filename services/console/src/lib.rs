//! The web console's files, embedded in the binary at build time (see `build.rs`)
//! and served by every gateway. The console itself lives in `web/`: a React
//! application that calls nothing but the public HTTP API.
#![forbid(unsafe_code)]

/// One file of the built console.
#[derive(Debug)]
pub struct File {
    /// Its path beneath the console's root, e.g. `assets/index-3f2a9c1b.js`.
    pub path: &'static str,
    pub content_type: &'static str,
    /// Named by its content's hash: a browser may keep it forever.
    pub immutable: bool,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/files.rs"));

/// Every media type a built file may have (`build.rs` names each file's), for the
/// API's description of the files.
pub const MEDIA_TYPES: &[&str] = &[
    "text/javascript",
    "text/css",
    "image/svg+xml",
    "application/octet-stream",
];

/// The page served when the console was not built (no Node on the build machine).
const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Prism</title></head>
<body><main><h1>Prism</h1>
<p>The web console was not built into this binary. Build it with Node 20.19 or later:</p>
<pre>cd services/console/web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>then build <code>prism</code> again (<code>./dev.sh up</code> does both). The HTTP API works without it:
its contract is at <a href="/openapi.json">/openapi.json</a>.</p>
</main></body></html>
"#;

static NOT_BUILT_PAGE: File = File {
    path: "index.html",
    content_type: "text/html; charset=utf-8",
    immutable: false,
    bytes: NOT_BUILT.as_bytes(),
};

/// The file at `path` (`""` or `index.html` for the page itself), if there is one.
pub fn file(path: &str) -> Option<&'static File> {
    let path = if path.is_empty() { "index.html" } else { path };
    if !BUILT {
        return (path == "index.html").then_some(&NOT_BUILT_PAGE);
    }
    FILES.iter().find(|f| f.path == path)
}

/// Whether the console's application was built into this binary.
pub fn built() -> bool {
    BUILT
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_has_a_declared_media_type() {
        for file in super::FILES.iter().filter(|f| f.path != "index.html") {
            let media = file.content_type.split(';').next().unwrap_or("");
            assert!(
                super::MEDIA_TYPES.contains(&media),
                "{}: {media}",
                file.path
            );
        }
    }

    #[test]
    fn the_page_is_always_served_and_nothing_outside_the_console() {
        assert!(super::file("").is_some());
        assert!(super::file("index.html").is_some());
        assert!(super::file("../Cargo.toml").is_none());
        assert!(super::file("assets/../../build.rs").is_none());
    }
}
