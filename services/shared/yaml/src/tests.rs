use serde_json::json;

use super::*;

const LIMITS: Limits = Limits::of_json_text(90_000);

fn one(text: &str) -> Result<Value, Error> {
    parse_one(text, LIMITS)
}

#[test]
fn scalars_follow_the_core_schema() {
    let text = "a: ~\nb: null\nc:\nd: true\ne: False\nf: 12\ng: -7\nh: 0x1f\ni: 0o17\nj: 1.5\nk: .5\nl: 2e3\nm: '12'\nn: \"true\"\no: yes\np: 1_000\nq: !!str 12\nr: 1.2.3\ns: +3\n";
    assert_eq!(
        one(text).unwrap(),
        json!({"a":null,"b":null,"c":null,"d":true,"e":false,"f":12,"g":-7,"h":31,"i":15,
               "j":1.5,"k":0.5,"l":2000.0,"m":"12","n":"true","o":"yes","p":"1_000","q":"12",
               "r":"1.2.3","s":3})
    );
}

#[test]
fn aliases_are_expanded() {
    let text = "base: &b {format: csv, path: a.csv}\nlist: [*b, *b]\nname: &n people\nagain: *n\n";
    let value = one(text).unwrap();
    assert_eq!(
        value["list"],
        json!([{"format":"csv","path":"a.csv"}, {"format":"csv","path":"a.csv"}])
    );
    assert_eq!(value["again"], "people");
}

#[test]
fn documents_of_a_stream_are_read_in_order() {
    let documents = parse_all("a: 1\n---\n[2]\n---\n", LIMITS).unwrap();
    assert_eq!(documents, vec![json!({"a":1}), json!([2]), Value::Null]);
    assert!(parse_one("a: 1\n---\nb: 2\n", LIMITS).is_err());
}

#[test]
fn what_json_cannot_hold_is_refused_with_its_place() {
    for (text, words, line) in [
        ("a: 1\na: 2\n", "appears twice", 2),
        ("a: .inf\n", "JSON cannot hold", 1),
        ("a: !custom 3\n", "not supported", 1),
        ("? [1]\n: x\n", "must be a string", 1),
        ("a: *nowhere\n", "", 1),
        ("a: [1, 2\n", "", 2),
    ] {
        let error = one(text).unwrap_err();
        assert!(error.message.contains(words), "{text:?}: {error}");
        assert_eq!(error.line, line, "{text:?}: {error}");
    }
}

/// An anchor on a `string_bytes` string, `levels` levels of `width` aliases each,
/// and a padding list of `padding` items: the shape that took 18 GB.
pub(crate) fn bomb(string_bytes: usize, levels: usize, width: usize, padding: usize) -> String {
    let mut text = format!("s0: &s0 \"{}\"\n", "x".repeat(string_bytes));
    for level in 1..=levels {
        let aliases = vec![format!("*s{}", level - 1); width].join(", ");
        text.push_str(&format!("s{level}: &s{level} [{aliases}]\n"));
    }
    text.push_str(&format!("pad: [{}]\n", vec!["0"; padding].join(",")));
    text
}

#[test]
fn an_alias_bomb_is_refused_before_it_grows() {
    for (string_bytes, levels, width, padding) in [
        (60_000, 6, 10, 12_000),
        (60_000, 9, 10, 0),
        (1, 6, 40, 0),
        (80_000, 1, 2, 0),
        (1, 24, 2, 0),
    ] {
        let text = bomb(string_bytes, levels, width, padding);
        let started = std::time::Instant::now();
        let error = one(&text).unwrap_err();
        assert!(error.message.contains("expands to more than"), "{error}");
        assert!(started.elapsed().as_millis() < 500, "refused at once");
    }
    // The same shape within the limits is an ordinary document.
    let small = one(&bomb(10, 2, 3, 5)).unwrap();
    assert_eq!(small["s2"].as_array().unwrap().len(), 3);
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert!(one(&deep).unwrap_err().message.contains("deeper than 128"));
    let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(one(&fine).is_ok());
}
