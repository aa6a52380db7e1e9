//! A version's outline (kind, declared parameters, paths, connections) as the
//! configuration database keeps it: computed once when the version is saved, so
//! that accepting a job, saving a schedule or exposing a service reads it instead
//! of parsing the document again. Versions saved before outlines existed are
//! parsed, once per use, as before.
use prism_dataflow::model::Outline;
use prism_dataflow::{Kind, validate};
use prism_schemas::v1::{DataflowOutline, DataflowVersionRecord, DeclaredParameter};

use crate::SubmitError;

/// The stored form of `outline`.
pub fn record(outline: &Outline) -> DataflowOutline {
    DataflowOutline {
        kind: match outline.kind {
            Kind::Job => "job",
            Kind::Service => "service",
        }
        .into(),
        parameters: outline
            .parameters
            .iter()
            .map(|(name, default)| DeclaredParameter {
                name: name.clone(),
                has_default: default.is_some(),
                default_value: default.clone().unwrap_or_default(),
            })
            .collect(),
        paths: outline.paths.clone(),
        connections: outline.connections.clone(),
    }
}

/// The outline of a stored version: the one kept with it, or its document's.
pub fn of(version: &DataflowVersionRecord) -> Result<Outline, SubmitError> {
    let invalid = |message: &str| {
        SubmitError::invalid("dataflow", format!("stored dataflow is invalid: {message}"))
    };
    let Some(kept) = &version.outline else {
        let dataflow = validate::from_stored(&version.document_json).map_err(|problems| {
            invalid(problems.first().map_or("invalid", |p| p.message.as_str()))
        })?;
        return Ok(dataflow.outline());
    };
    let kind = match kept.kind.as_str() {
        "job" => Kind::Job,
        "service" => Kind::Service,
        other => return Err(invalid(&format!("unknown kind {other:?}"))),
    };
    Ok(Outline {
        kind,
        parameters: kept
            .parameters
            .iter()
            .map(|p| {
                let default = p.has_default.then(|| p.default_value.clone());
                (p.name.clone(), default)
            })
            .collect(),
        paths: kept.paths.clone(),
        connections: kept.connections.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_outline_reads_as_the_documents_own() {
        let document = r#"{"kind":"job","parameters":{"p":"a.csv","q":null},"stages":[
            {"id":"r","type":"read","connection":"files","path":"${p}","format":"csv"},
            {"id":"w","type":"write","input":"r","connection":"out","path":"x/${q}.csv","format":"csv"}]}"#;
        let parsed = validate::from_stored(document).unwrap().outline();
        let old = DataflowVersionRecord {
            document_json: document.into(),
            ..Default::default()
        };
        let new = DataflowVersionRecord {
            // A kept outline wins over the document, which is then not read at all.
            document_json: "not even JSON".into(),
            outline: Some(record(&parsed)),
            ..Default::default()
        };
        assert_eq!(of(&old).unwrap(), parsed);
        assert_eq!(of(&new).unwrap(), parsed);
        assert_eq!(parsed.connections, ["files", "out"]);
        assert_eq!(parsed.parameters["p"].as_deref(), Some("a.csv"));
        assert_eq!(parsed.parameters["q"], None);
    }
}
