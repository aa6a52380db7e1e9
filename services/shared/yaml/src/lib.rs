//! YAML documents read into JSON values, bounded by what they expand to.
//!
//! Anchors and aliases let a small YAML text stand for a huge tree: ten aliases of
//! a list of ten aliases, six levels deep, is a million nodes from a few hundred
//! bytes. YAML libraries bound this with ratios that grow with the document, so a
//! large enough document passes them. Here the tree is built from the parser's
//! events, and an alias is charged what its anchored node cost (known when that
//! node ended) *before* it is copied: no document ever grows past its [`Limits`].
//!
//! Anchors stay allowed rather than refused: they are ordinary YAML that people
//! write to share a block between stages or documents, and the bound makes them
//! harmless. The limits are those of a JSON text of the same size bound, so YAML
//! admits nothing that the JSON form of a document could not hold.
//!
//! Scalars follow YAML 1.2's core schema (what `serde_yaml` did): plain `null`,
//! `~` and empty are null, `true`/`false` booleans, decimal, `0x` and `0o`
//! integers and decimal floats numbers; anything quoted, any other plain text, or
//! a value tagged `!!str` is a string. Mapping keys are strings and may not repeat.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

/// What a text may expand to, counted over every document it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of scalars (keys and values), aliases counted at each use.
    pub max_bytes: usize,
    /// Scalars, sequences and mappings, aliases counted at each use.
    pub max_nodes: usize,
    /// Sequences and mappings open at once.
    pub max_depth: usize,
}

impl Limits {
    /// What a JSON text of `bytes` bytes can hold at most: as many bytes of
    /// scalars, a node per two bytes (`0,`), and serde_json's nesting limit.
    pub const fn of_json_text(bytes: usize) -> Self {
        Self {
            max_bytes: bytes,
            max_nodes: bytes / 2,
            max_depth: 128,
        }
    }
}

/// Why a text was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

impl std::error::Error for Error {}

/// The one document of `text` (null when it holds none).
pub fn parse_one(text: &str, limits: Limits) -> Result<Value, Error> {
    let mut documents = parse_all(text, limits)?;
    if documents.len() > 1 {
        return Err(Error {
            line: 1,
            column: 1,
            message: format!("expected one YAML document, found {}", documents.len()),
        });
    }
    Ok(documents.pop().unwrap_or(Value::Null))
}

/// Every document of `text` (`---` separated), in order.
pub fn parse_all(text: &str, limits: Limits) -> Result<Vec<Value>, Error> {
    let mut builder = Builder::new(limits);
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| Error {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        builder
            .event(event)
            .map_err(|message| located(message, &span))?;
    }
    Ok(builder.documents)
}

fn located(message: String, span: &Span) -> Error {
    Error {
        line: span.start.line(),
        column: span.start.col() + 1,
        message,
    }
}

/// Nodes and scalar bytes: what a node cost, or what a text has spent so far.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    nodes: usize,
    bytes: usize,
}

enum Collection {
    Sequence(Vec<Value>),
    /// The entries so far and, between a key and its value, the key.
    Mapping(Map<String, Value>, Option<String>),
}

struct Open {
    collection: Collection,
    /// The parser's anchor id (0: none).
    anchor: usize,
    /// What had been spent when it opened, so that its own cost is known at its end.
    spent_before: Cost,
}

struct Builder {
    limits: Limits,
    spent: Cost,
    anchors: HashMap<usize, (Value, Cost)>,
    open: Vec<Open>,
    root: Option<Value>,
    documents: Vec<Value>,
}

impl Builder {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            spent: Cost::default(),
            anchors: HashMap::new(),
            open: Vec::new(),
            root: None,
            documents: Vec::new(),
        }
    }

    fn event(&mut self, event: Event<'_>) -> Result<(), String> {
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd => Ok(()),
            Event::DocumentStart(_) => {
                self.root = None;
                Ok(())
            }
            Event::DocumentEnd => {
                self.documents.push(self.root.take().unwrap_or(Value::Null));
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                let cost = Cost {
                    nodes: 1,
                    bytes: text.len(),
                };
                self.charge(cost)?;
                let value = if self.awaits_key() {
                    Value::String(text.into_owned())
                } else {
                    scalar(&text, style, tag.as_deref())?
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, (value.clone(), cost));
                }
                self.add(value)
            }
            Event::SequenceStart(anchor, tag) => {
                collection_tag(tag.as_deref(), "seq")?;
                self.start(Collection::Sequence(Vec::new()), anchor)
            }
            Event::MappingStart(anchor, tag) => {
                collection_tag(tag.as_deref(), "map")?;
                self.start(Collection::Mapping(Map::new(), None), anchor)
            }
            Event::SequenceEnd | Event::MappingEnd => self.end(),
            Event::Alias(anchor) => {
                let Some(&(_, cost)) = self.anchors.get(&anchor) else {
                    return Err("an alias to an unknown anchor".into());
                };
                // Charged before the copy is made: a refused alias never allocates.
                self.charge(cost)?;
                let value = self.anchors[&anchor].0.clone();
                self.add(value)
            }
        }
    }

    fn charge(&mut self, cost: Cost) -> Result<(), String> {
        self.spent.nodes = self.spent.nodes.saturating_add(cost.nodes);
        self.spent.bytes = self.spent.bytes.saturating_add(cost.bytes);
        if self.spent.nodes > self.limits.max_nodes {
            return Err(format!(
                "the document expands to more than {} nodes (aliases count at each use)",
                self.limits.max_nodes
            ));
        }
        if self.spent.bytes > self.limits.max_bytes {
            return Err(format!(
                "the document expands to more than {} bytes (aliases count at each use)",
                self.limits.max_bytes
            ));
        }
        Ok(())
    }

    fn awaits_key(&self) -> bool {
        matches!(
            self.open.last(),
            Some(Open {
                collection: Collection::Mapping(_, None),
                ..
            })
        )
    }

    fn start(&mut self, collection: Collection, anchor: usize) -> Result<(), String> {
        if self.awaits_key() {
            return Err("a mapping key must be a string".into());
        }
        if self.open.len() >= self.limits.max_depth {
            return Err(format!(
                "the document nests deeper than {} levels",
                self.limits.max_depth
            ));
        }
        let spent_before = self.spent;
        self.charge(Cost { nodes: 1, bytes: 0 })?;
        self.open.push(Open {
            collection,
            anchor,
            spent_before,
        });
        Ok(())
    }

    fn end(&mut self) -> Result<(), String> {
        let Some(open) = self.open.pop() else {
            return Err("the end of a collection that never started".into());
        };
        let value = match open.collection {
            Collection::Sequence(items) => Value::Array(items),
            Collection::Mapping(entries, _) => Value::Object(entries),
        };
        if open.anchor != 0 {
            let cost = Cost {
                nodes: self.spent.nodes - open.spent_before.nodes,
                bytes: self.spent.bytes - open.spent_before.bytes,
            };
            self.anchors.insert(open.anchor, (value.clone(), cost));
        }
        self.add(value)
    }

    /// Puts a finished node where it belongs: the document's root, the next item
    /// of a sequence, or a mapping's key or value.
    fn add(&mut self, value: Value) -> Result<(), String> {
        let Some(open) = self.open.last_mut() else {
            self.root = Some(value);
            return Ok(());
        };
        match &mut open.collection {
            Collection::Sequence(items) => items.push(value),
            Collection::Mapping(_, key @ None) => match value {
                Value::String(name) => *key = Some(name),
                _ => return Err("a mapping key must be a string".into()),
            },
            Collection::Mapping(entries, key @ Some(_)) => {
                let name = key.take().unwrap_or_default();
                if entries.contains_key(&name) {
                    return Err(format!("the key `{name}` appears twice"));
                }
                entries.insert(name, value);
            }
        }
        Ok(())
    }
}

fn collection_tag(tag: Option<&Tag>, core: &str) -> Result<(), String> {
    match tag {
        None => Ok(()),
        Some(tag) if tag.is_yaml_core_schema() && tag.suffix == core => Ok(()),
        Some(tag) => Err(format!("the tag {tag} is not supported")),
    }
}

fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    match tag {
        None => {}
        Some(tag) if tag.is_yaml_core_schema() && tag.suffix == "str" => {
            return Ok(Value::String(text.to_owned()));
        }
        Some(tag) => return Err(format!("the tag {tag} is not supported (only !!str is)")),
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_owned()));
    }
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            return Err(format!("`{text}` is a number that JSON cannot hold"));
        }
        _ => number(text).unwrap_or_else(|| Value::String(text.to_owned())),
    })
}

fn number(text: &str) -> Option<Value> {
    if let Some(hex) = text.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok().map(Value::from);
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return u64::from_str_radix(octal, 8).ok().map(Value::from);
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(integer) = text.parse::<i64>() {
            return Some(Value::from(integer));
        }
        if let Ok(integer) = text.parse::<u64>() {
            return Some(Value::from(integer));
        }
    } else if !is_decimal_float(unsigned) {
        return None;
    }
    let float = text.parse::<f64>().ok()?;
    Number::from_f64(float).map(Value::Number)
}

/// The core schema's `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_decimal_float(text: &str) -> bool {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty())
        }
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests;
