use super::*;

fn parse(text: &str) -> Result<Dataflow, Vec<Problem>> {
    parse_document(text, Syntax::Json, &|name| match name {
        "files" => Known::Kind("local".into()),
        "warehouse" => Known::Kind("postgres".into()),
        "lake" => Known::Kind("s3".into()),
        _ => Known::Missing,
    })
    .map(|(d, _)| d)
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
    let (dataflow, json) = parse_document(yaml, Syntax::Yaml, &|_| Known::Unchecked).unwrap();
    assert_eq!(dataflow.stages[0].id, "a");
    assert_eq!(json["kind"], "job");
}

#[test]
fn database_stages_read_tables_and_queries_and_write_with_a_mode() {
    let dataflow = parse(
        r#"{"kind":"job","parameters":{"since":"2020-01-01"},"stages":[
        {"id":"t","type":"read","connection":"warehouse","table":"public.people"},
        {"id":"q","type":"read","connection":"warehouse","query":"SELECT id FROM people WHERE born > ${since}"},
        {"id":"f","type":"read","connection":"lake","path":"in/x.csv","format":"csv"},
        {"id":"w","type":"write","input":"t","connection":"warehouse","table":"copy","mode":"upsert","keys":["id"]},
        {"id":"o","type":"write","input":"q","connection":"lake","path":"out/q.parquet","format":"parquet"}]}"#,
    )
    .unwrap();
    assert_eq!(
        dataflow.stages[0].spec,
        crate::model::StageSpec::ReadTable {
            connection: "warehouse".into(),
            source: crate::model::TableSource::Table("public.people".into())
        }
    );
    assert!(matches!(
        &dataflow.stages[3].spec,
        crate::model::StageSpec::WriteTable { mode: crate::model::WriteMode::Upsert, keys, .. } if keys == &["id"]
    ));
}

#[test]
fn database_stages_are_refused_field_by_field() {
    let problems = parse(
        r#"{"kind":"job","stages":[
        {"id":"a","type":"read","connection":"files","table":"people"},
        {"id":"b","type":"read","connection":"warehouse","query":"DELETE FROM people"},
        {"id":"c","type":"read","connection":"warehouse","path":"x.csv","format":"csv"},
        {"id":"d","type":"read","connection":"warehouse","table":"a;drop"},
        {"id":"e","type":"read","connection":"warehouse","table":"people"},
        {"id":"w","type":"write","input":"e","connection":"warehouse","table":"t","mode":"upsert"},
        {"id":"x","type":"write","input":"e","connection":"warehouse","table":"t","mode":"merge"},
        {"id":"y","type":"write","input":"e","connection":"warehouse","table":"t","keys":["id"]}]}"#,
    )
    .unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "stages[0].connection",
            "stages[1].query",
            "stages[2].connection",
            "stages[3].table",
            "stages[5].keys",
            "stages[6].mode",
            "stages[7].keys",
        ],
        "{problems:#?}"
    );
}
