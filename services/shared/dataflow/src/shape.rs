//! What each kind of dataflow may contain, beyond what each stage allows itself.
//! A job reads, transforms and writes; a service has one `input` stage first and
//! one `output` stage last, reads only reference tables, and writes nothing.
use crate::model::{Kind, Stage, StageSpec};

/// Each problem as (stage id, field, message).
pub fn check(kind: Kind, stages: &[Stage]) -> Vec<(Option<String>, String, String)> {
    let mut problems = Vec::new();
    let at = |i: usize| format!("stages[{i}].type");
    for (i, stage) in stages.iter().enumerate() {
        let refused = match (kind, &stage.spec) {
            (Kind::Job, StageSpec::Input { .. } | StageSpec::Output { .. }) => {
                Some("input and output stages belong to services (\"kind\":\"service\")")
            }
            (Kind::Service, StageSpec::Write { .. } | StageSpec::WriteTable { .. }) => {
                Some("a service writes nothing: its answer is the output stage's rows")
            }
            (Kind::Service, StageSpec::Delay { .. }) => Some("a service does not wait"),
            _ => None,
        };
        if let Some(message) = refused {
            problems.push((Some(stage.id.clone()), at(i), message.to_string()));
        }
    }
    if kind == Kind::Service {
        let inputs: Vec<usize> = positions(stages, |s| matches!(s, StageSpec::Input { .. }));
        let outputs: Vec<usize> = positions(stages, |s| matches!(s, StageSpec::Output { .. }));
        if inputs.len() != 1 {
            let message = "a service has exactly one input stage";
            problems.push((None, "stages".to_string(), message.to_string()));
        }
        let last = stages.len().checked_sub(1);
        if outputs.len() != 1 || outputs.first() != last.as_ref() {
            let message = "a service has exactly one output stage, the last";
            problems.push((None, "stages".to_string(), message.to_string()));
        }
    }
    problems
}

fn positions(stages: &[Stage], wanted: impl Fn(&StageSpec) -> bool) -> Vec<usize> {
    stages
        .iter()
        .enumerate()
        .filter(|(_, s)| wanted(&s.spec))
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::validate::{Syntax, parse_document};

    fn problems(document: &str) -> Vec<String> {
        match parse_document(document, Syntax::Json, &|_| {
            crate::validate::Known::Unchecked
        }) {
            Ok(_) => Vec::new(),
            Err(problems) => problems
                .into_iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect(),
        }
    }

    #[test]
    fn a_service_has_one_input_first_and_one_output_last_and_writes_nothing() {
        let lookup = r#"{"kind":"service","stages":[
            {"id":"input","type":"input","fields":[{"name":"zip","type":"string","required":true}]},
            {"id":"cities","type":"read","connection":"files","path":"cities.csv","format":"csv"},
            {"id":"joined","type":"sql","inputs":["input","cities"],"query":"SELECT c.city FROM input i JOIN cities c ON c.zip = i.zip"},
            {"id":"out","type":"output","input":"joined"}]}"#;
        assert_eq!(problems(lookup), Vec::<String>::new());
        let writes = lookup.replace(
            r#"{"id":"out","type":"output","input":"joined"}"#,
            r#"{"id":"w","type":"write","input":"joined","connection":"files","path":"x.csv","format":"csv"},{"id":"out","type":"output","input":"joined"}"#,
        );
        assert!(
            problems(&writes)
                .iter()
                .any(|p| p.starts_with("stages[3].type")),
            "{:?}",
            problems(&writes)
        );
        let no_output = lookup.replace(
            r#",
            {"id":"out","type":"output","input":"joined"}"#,
            "",
        );
        assert!(
            problems(&no_output)
                .iter()
                .any(|p| p.contains("exactly one output stage"))
        );
        let bad_field = lookup.replace(r#""type":"string""#, r#""type":"blob""#);
        assert!(
            problems(&bad_field)
                .iter()
                .any(|p| p.starts_with("stages[0].fields[0].type"))
        );
        let job_with_input = lookup.replace(r#""kind":"service""#, r#""kind":"job""#);
        assert!(
            problems(&job_with_input)
                .iter()
                .any(|p| p.starts_with("stages[0].type"))
        );
    }
}
