use super::*;
use crate::quality::{
    Check, Comparison, FieldPreference, FieldSteps, Lookup, MatchSpec, Method, Preference, Step,
    SurviveSpec, Test,
};

fn check(field: &str, test: Test) -> Check {
    Check {
        field: Some(field.into()),
        label: format!("{field}: rule"),
        test,
    }
}

/// Each stage's SQL is one query that passes the checks a SQL stage's does.
#[test]
fn a_validate_stage_is_two_vetted_selects_with_quoted_literals() {
    let checks = vec![
        check("name", Test::Required),
        check("age", Test::Type(FieldType::Integer)),
        check("age", Test::Min(0.0)),
        check("code", Test::Pattern("^[A-Z]{2}$".into())),
        check("state", Test::OneOf(vec!["nsw".into(), "o'brien".into()])),
        Check {
            field: None,
            label: "adult".into(),
            test: Test::Sql("age >= 18 -- a comment ends with its line".into()),
        },
    ];
    let (valid, rejects) = validate("people", &checks);
    for query in [&valid, &rejects] {
        crate::sql::check(query).unwrap_or_else(|e| panic!("{e}: {query}"));
    }
    assert!(
        rejects.contains("'o''brien'"),
        "literals are quoted: {rejects}"
    );
    assert!(rejects.contains("AS \"reject_reasons\""));
}

#[test]
fn a_standardize_stage_is_one_vetted_select_leaving_numbers_alone() {
    let fields = vec![
        FieldSteps {
            field: "*".into(),
            steps: vec![Step::Trim],
            lookup: None,
        },
        FieldSteps {
            field: "state".into(),
            steps: vec![Step::Lower, Step::RemovePunctuation],
            lookup: Some(Lookup {
                stage: "states".into(),
                from: "code".into(),
                to: "name".into(),
            }),
        },
    ];
    let columns = vec![
        ("name".to_string(), true),
        ("state".to_string(), true),
        ("age".to_string(), false),
    ];
    let standardized = standardize("people", &columns, &fields);
    crate::sql::check(&standardized).unwrap();
    assert!(
        standardized.contains("t.\"age\" AS \"age\""),
        "numbers are left alone: {standardized}"
    );
}

#[test]
fn a_match_is_one_vetted_select_finding_each_pair_once() {
    let spec = MatchSpec {
        input: "people".into(),
        link: None,
        id_field: "rec_id".into(),
        link_id_field: None,
        blocking: vec![
            vec!["postcode".into()],
            vec!["double_metaphone(surname)".into(), "state".into()],
        ],
        compare: vec![
            Comparison {
                field: "surname".into(),
                method: Method::JaroWinkler,
                weight: 2.0,
            },
            Comparison {
                field: "surname".into(),
                method: Method::JaroWinkler,
                weight: 1.0,
            },
            Comparison {
                field: "dob".into(),
                method: Method::Date {
                    scale_days: 365.0,
                    format: Some("%Y%m%d".into()),
                },
                weight: 1.0,
            },
        ],
        threshold: 0.8,
    };
    let pairs = match_pairs(&spec);
    crate::sql::check(&pairs).unwrap_or_else(|e| panic!("{e}: {pairs}"));
    assert!(
        pairs.contains("kl.id < kr.id"),
        "each pair once within one input"
    );
    assert_eq!(
        similarity_columns(&spec.compare),
        ["surname_jaro_winkler", "surname_jaro_winkler_2", "dob_date"]
    );
    crate::sql::check(&clusters("people", "rec_id", "m$cluster_ids")).unwrap();
}

#[test]
fn a_survive_stage_is_one_vetted_select_with_fields_of_their_own() {
    let spec = SurviveSpec {
        input: "people".into(),
        cluster: "cluster_id".into(),
        prefer: vec![
            Preference::MostComplete,
            Preference::Source {
                field: "src".into(),
                order: vec!["crm".into()],
            },
        ],
        fields: vec![FieldPreference {
            field: "phone".into(),
            prefer: vec![Preference::Latest("updated".into())],
        }],
    };
    let survived = survive(
        &spec,
        &["rec_id".into(), "phone".into(), "cluster_id".into()],
    );
    assert!(
        survived.contains("survive_field_0 AS \"phone\""),
        "{survived}"
    );
    crate::sql::check(&survived).unwrap_or_else(|e| panic!("{e}: {survived}"));
}

#[test]
fn names_cannot_break_out_of_their_quotes() {
    assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    assert_eq!(literal("it's"), "'it''s'");
}
