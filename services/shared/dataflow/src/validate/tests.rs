use super::*;
use crate::model::StageSpec;

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

#[test]
fn quality_stages_are_read_with_their_second_outputs() {
    let dataflow = parse(
        r#"{"kind":"job","stages":[
          {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
          {"id":"states","type":"read","connection":"files","path":"states.csv","format":"csv"},
          {"id":"checked","type":"validate","input":"people","rules":[
            {"field":"name","required":true,"max_length":40},
            {"name":"adult","check":"age >= 18"}]},
          {"id":"clean","type":"standardize","input":"checked","fields":[
            {"field":"*","steps":["trim","lower"]},
            {"field":"state","steps":["upper"],"lookup":{"stage":"states","from":"code","to":"name"}}]},
          {"id":"dupes","type":"match","input":"clean","id_field":"id",
           "blocking":["postcode",["double_metaphone(surname)","state"]],
           "compare":[{"field":"surname","method":"jaro_winkler","weight":2},
                      {"field":"dob","method":"date","scale_days":365,"format":"%Y%m%d"}],
           "threshold":0.85},
          {"id":"best","type":"survive","input":"dupes_clusters","prefer":["most_complete",{"latest":"updated"}]},
          {"id":"out","type":"write","input":"checked_rejects","connection":"files","path":"out/rejects.csv","format":"csv"}]}"#,
    )
    .unwrap();
    let StageSpec::Validate { checks, .. } = &dataflow.stages[2].spec else {
        panic!("{:?}", dataflow.stages[2]);
    };
    let labels: Vec<&str> = checks.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["name: required", "name: max_length 40", "adult"]);
    let StageSpec::Match(spec) = &dataflow.stages[4].spec else {
        panic!()
    };
    assert_eq!(
        spec.blocking,
        [
            vec!["postcode".to_string()],
            vec!["double_metaphone(surname)".into(), "state".into()]
        ]
    );
}

#[test]
fn quality_stage_problems_name_their_fields() {
    let problems = parse(
        r#"{"kind":"job","stages":[
          {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
          {"id":"checked","type":"validate","input":"people","rules":[
            {"field":"name","pattern":"(unclosed"},
            {"field":"age","type":"number"},
            {"check":"1; DROP TABLE people"},
            {"field":"x"}]},
          {"id":"dupes","type":"match","input":"nowhere","id_field":"id","blocking":[],
           "compare":[{"field":"a","method":"soundex"}],"threshold":2},
          {"id":"checked_rejects","type":"sql","inputs":["people"],"query":"SELECT 1"}]}"#,
    )
    .unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    for expected in [
        "stages[1].rules[0].pattern",
        "stages[1].rules[1].type",
        "stages[1].rules[2].check",
        "stages[1].rules[3]",
        "stages[2].input",
        "stages[2].blocking",
        "stages[2].compare[0].method",
        "stages[2].threshold",
        "stages[3].id",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
}
