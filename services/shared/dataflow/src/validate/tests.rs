use super::*;

fn parse(text: &str) -> Result<Dataflow, Vec<Problem>> {
    parse_document(text, Syntax::Json, &|name| name == "files").map(|(d, _)| d)
}

#[test]
fn accepts_the_readme_example() {
    let dataflow = parse(
        r#"{"kind":"job","stages":[
          {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
          {"id":"adults","type":"sql","inputs":["people"],"query":"SELECT name, age FROM people WHERE age >= 18"},
          {"id":"out","type":"write","input":"adults","connection":"files","path":"out/adults.csv","format":"csv"}]}"#,
    )
    .unwrap();
    assert_eq!(dataflow.stages.len(), 3);
    assert_eq!(dataflow.connections(), vec!["files"]);
}

#[test]
fn reports_each_problem_by_stage_and_field() {
    let problems = parse(
        r#"{"kind":"job","stages":[
          {"id":"a","type":"read","connection":"nope","path":"../x.csv","format":"xml"},
          {"id":"b","type":"sql","inputs":["zzz"],"query":"SELECT ${p}"},
          {"id":"b","type":"write","input":"a","connection":"files","path":"o.csv","format":"csv"}]}"#,
    )
    .unwrap_err();
    let fields: Vec<(Option<&str>, &str)> = problems
        .iter()
        .map(|p| (p.stage.as_deref(), p.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            (Some("a"), "stages[0].connection"),
            (Some("a"), "stages[0].path"),
            (Some("a"), "stages[0].format"),
            (Some("b"), "stages[1].inputs[0]"),
            (Some("b"), "stages[1].query"),
            (Some("b"), "stages[2].id"),
        ]
    );
}

#[test]
fn yaml_is_accepted() {
    let yaml = "kind: job\nstages:\n  - {id: a, type: read, connection: files, path: a.csv, format: csv}\n";
    let (dataflow, json) = parse_document(yaml, Syntax::Yaml, &|_| true).unwrap();
    assert_eq!(dataflow.stages[0].id, "a");
    assert_eq!(json["kind"], "job");
}
