//! `prism apply -f FILE|DIR`: documents `{kind, name, spec}` in YAML or JSON (one
//! or more per file), saved through the API in dependency order; a document that
//! changes nothing is left alone, so applying twice is safe.
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::client::{Client, Failure, Outcome};
use crate::kinds::Kind;

/// Bounds on what one apply reads: configuration, not data.
const MAX_FILE_BYTES: u64 = 4 << 20;
const MAX_DOCUMENTS: usize = 1000;

#[derive(Debug)]
pub struct Document {
    pub kind: Kind,
    pub name: String,
    pub spec: Value,
    /// Where it came from, for messages: `file` or `file#2`.
    pub origin: String,
}

/// The files of `path`: itself, or a directory's `.yaml`, `.yml` and `.json`
/// files (not its subdirectories), in name order.
fn files(path: &Path) -> Outcome<Vec<PathBuf>> {
    let fail = |e: std::io::Error| Failure::local(format!("{}: {e}", path.display()));
    if !fs::metadata(path).map_err(fail)?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found: Vec<PathBuf> = fs::read_dir(path)
        .map_err(fail)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(Failure::local(format!(
            "{}: no .yaml, .yml or .json files",
            path.display()
        )));
    }
    Ok(found)
}

/// The raw documents of one file: YAML (JSON is YAML too), `---` separated; a
/// top-level list holds several.
fn raw_documents(file: &Path) -> Outcome<Vec<Value>> {
    let fail = |e: String| Failure::local(format!("{}: {e}", file.display()));
    let size = fs::metadata(file).map_err(|e| fail(e.to_string()))?.len();
    if size > MAX_FILE_BYTES {
        return Err(fail(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    let text = fs::read_to_string(file).map_err(|e| fail(e.to_string()))?;
    // One budget for the whole file, whatever its number of documents.
    let limits = prism_yaml::Limits::of_json_text(MAX_FILE_BYTES as usize);
    let values = prism_yaml::parse_all(&text, limits).map_err(|e| fail(e.to_string()))?;
    let mut documents = Vec::new();
    for value in values {
        match value {
            Value::Null => {}
            Value::Array(items) => documents.extend(items),
            other => documents.push(other),
        }
    }
    Ok(documents)
}

fn document(raw: Value, origin: String) -> Outcome<Document> {
    let fail = |what: &str| Failure::local(format!("{origin}: {what}"));
    let Value::Object(mut map) = raw else {
        return Err(fail("expected a mapping {kind, name, spec}"));
    };
    if let Some(extra) = map
        .keys()
        .find(|k| !["kind", "name", "spec"].contains(&k.as_str()))
    {
        return Err(fail(&format!(
            "unknown field {extra:?} (expected kind, name, spec)"
        )));
    }
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .and_then(Kind::parse)
        .ok_or_else(|| {
            fail("field kind: one of connection, dataflow, processflow, schedule, service")
        })?;
    let name = map
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| fail("field name: a non-empty string"))?
        .to_string();
    let spec = map.remove("spec").unwrap_or(Value::Null);
    if !spec.is_object() {
        return Err(fail("field spec: the body the HTTP API takes, a mapping"));
    }
    Ok(Document {
        kind,
        name,
        spec,
        origin,
    })
}

/// Every document under `path`, checked, in the order they must be saved.
pub fn load(path: &Path) -> Outcome<Vec<Document>> {
    let mut documents = Vec::new();
    for file in files(path)? {
        let raws = raw_documents(&file)?;
        let several = raws.len() > 1;
        for (i, raw) in raws.into_iter().enumerate() {
            let origin = if several {
                format!("{}#{}", file.display(), i + 1)
            } else {
                file.display().to_string()
            };
            documents.push(document(raw, origin)?);
            if documents.len() > MAX_DOCUMENTS {
                return Err(Failure::local(format!(
                    "more than {MAX_DOCUMENTS} documents"
                )));
            }
        }
    }
    // Stable: documents of one kind keep their file order.
    documents.sort_by_key(|d| d.kind);
    Ok(documents)
}

/// Saves one document; answers what happened, as `apply` prints it.
pub async fn save(client: &Client, doc: &Document) -> Outcome<String> {
    let path = doc.kind.path(&doc.name);
    let label = format!("{}/{}", doc.kind.name(), doc.name);
    if !doc.kind.versioned() {
        match client.get(&path).await {
            Ok(current) if doc.kind.unchanged(&doc.spec, &current) => {
                return Ok(format!("{label} unchanged"));
            }
            Ok(_) | Err(Failure::Server { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let (status, answer) = client
        .put(&path, &doc.spec)
        .await
        .map_err(|e| Failure::local(format!("{label} ({}): {e}", doc.origin)))?;
    let verb = match status {
        201 => "created",
        _ if doc.kind.versioned() => "unchanged",
        _ => "configured",
    };
    Ok(match answer["version"].as_u64() {
        Some(version) if doc.kind.versioned() => {
            format!("{label} {verb} (version {version})")
        }
        _ => format!("{label} {verb}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_load_from_yaml_and_json_in_dependency_order() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("a.yaml"),
            "kind: schedule\nname: nightly\nspec: {dataflow: adults, cron: '0 2 * * *'}\n---\nkind: dataflow\nname: adults\nspec: {kind: job, stages: []}\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("b.json"),
            r#"{"kind":"connection","name":"files","spec":{"kind":"local","root":"/data"}}"#,
        )
        .unwrap();
        fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let docs = load(dir.path()).unwrap();
        let order: Vec<(Kind, &str)> = docs.iter().map(|d| (d.kind, d.name.as_str())).collect();
        assert_eq!(
            order,
            [
                (Kind::Connection, "files"),
                (Kind::Dataflow, "adults"),
                (Kind::Schedule, "nightly")
            ]
        );
        assert!(docs[2].origin.ends_with("a.yaml#1"), "{}", docs[2].origin);
    }

    #[test]
    fn bad_documents_are_named_by_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.yaml");
        for (text, expected) in [
            ("kind: job\nname: a\nspec: {}\n", "field kind"),
            ("kind: dataflow\nspec: {}\n", "field name"),
            ("kind: dataflow\nname: a\nspec: 3\n", "field spec"),
            (
                "kind: dataflow\nname: a\nspec: {}\nextra: 1\n",
                "unknown field \"extra\"",
            ),
            ("- 1\n", "expected a mapping"),
        ] {
            fs::write(&file, text).unwrap();
            let error = load(&file).unwrap_err().to_string();
            assert!(
                error.contains("x.yaml") && error.contains(expected),
                "{error}"
            );
        }
    }
}
