//! The operator's other commands: the audit log (followed), nodes and draining,
//! schedules switched on and off, and calling a service.
use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Client, Failure, Outcome, encode};
use crate::output::{self, Format};

/// Pages of the audit log, as the API bounds them.
const AUDIT_PAGE: u32 = 1000;

fn print_audit(entries: &[Value], format: Format) {
    for entry in entries {
        match format {
            // One JSON object per line: `prism audit -o json --follow | jq` works.
            Format::Json => output::print(entry),
            Format::Table => output::print(format!(
                "{}  {}  {}  {}",
                output::cell(&entry["time"]),
                output::cell(&entry["actor"]),
                output::cell(&entry["action"]),
                output::cell(&entry["target"]),
            )),
        }
    }
}

/// Prints the audit log from the start; with `follow`, then every new entry.
pub async fn audit(client: &Client, follow: bool, format: Format) -> Outcome<()> {
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/audit?limit={AUDIT_PAGE}");
        if let Some(cursor) = &cursor {
            path += &format!("&cursor={}", encode(cursor));
        }
        let page = client.get(&path).await?;
        let entries = page["entries"].as_array().cloned().unwrap_or_default();
        print_audit(&entries, format);
        if let Some(last) = entries.last().and_then(|e| e["seq"].as_str()) {
            cursor = Some(last.to_string());
        }
        // A full page means more are waiting; otherwise we are at the end.
        if entries.len() < AUDIT_PAGE as usize {
            if !follow {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// `services call NAME --row '{...}'`: the rows must be JSON objects.
pub fn call_body(rows: &[String]) -> Outcome<Value> {
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| match serde_json::from_str::<Value>(row) {
            Ok(value @ Value::Object(_)) => Ok(value),
            _ => Err(Failure::local(format!(
                "--row {row:?}: expected a JSON object"
            ))),
        })
        .collect::<Outcome<_>>()?;
    if rows.is_empty() {
        return Err(Failure::local("give at least one --row"));
    }
    Ok(json!({ "rows": rows }))
}

pub async fn nodes(client: &Client, format: Format) -> Outcome<()> {
    let answer = client.get("/v1/cluster/nodes").await?;
    match format {
        Format::Json => output::print(output::json(&answer)),
        Format::Table => output::print(output::table(
            answer["nodes"].as_array().map_or(&[][..], Vec::as_slice),
            &[
                "id",
                "role",
                "health",
                "in_flight",
                "draining",
                "version",
                "heartbeat_at",
            ],
        )),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_rows_must_be_objects() {
        let body = call_body(&[r#"{"id":1}"#.into()]).unwrap();
        assert_eq!(body, json!({"rows":[{"id":1}]}));
        assert!(call_body(&["[1]".into()]).is_err());
        assert!(call_body(&[]).is_err());
    }
}
