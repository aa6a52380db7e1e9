//! Human tables by default; `-o json` prints the server's JSON as it came.
use std::fmt::Display;
use std::io::{ErrorKind, Write};

use serde_json::Value;

/// Writes one line (or block) to standard output. A reader that has gone away
/// (`prism get dataflows | head -1`) ends the command quietly with success, as
/// Unix tools end: there is no one left to tell. `println!` panics there instead.
pub fn print(text: impl Display) {
    let mut out = std::io::stdout().lock();
    if let Err(error) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        if error.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("prism: standard output: {error}");
        std::process::exit(1);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// A cell: strings bare, null as `-`, anything else as compact JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Rows as aligned columns, headed by the column names in capitals.
pub fn table(rows: &[Value], columns: &[&str]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|c| cell(&row[*c])).collect())
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.len()).collect();
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |values: Vec<String>| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(columns.iter().map(|c| c.to_uppercase()).collect())];
    out.extend(cells.into_iter().map(line));
    out.join("\n")
}

/// One object as `key: value` lines.
pub fn fields(object: &Value) -> String {
    object
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| format!("{k}: {}", cell(v)))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_else(|| cell(object))
}

pub fn json(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns_and_show_missing_values() {
        let rows = [
            json!({"name":"adults","version":12}),
            json!({"name":"x","version":null}),
        ];
        assert_eq!(
            table(&rows, &["name", "version"]),
            "NAME    VERSION\nadults  12\nx       -"
        );
    }
}
