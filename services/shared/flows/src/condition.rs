//! Transition conditions: a small expression language over the flow's parameters
//! (`params.region`) and the outcomes of earlier activities (`load.status`,
//! `load.rows_written`, `load.rows_read`, `load.attempt`):
//!
//! ```text
//! load.status == 'succeeded' && (load.rows_written > 0 || params.force == 'yes')
//! ```
//!
//! Comparisons `== != < <= > >=`, `&&`, `||`, `!`, parentheses; literals are
//! numbers, 'single-quoted text', `true` and `false`. Text compares with text and
//! numbers with numbers; anything else is an error when evaluated, never a guess.
//! Bounded: 1,000 bytes and 32 levels of nesting.
use std::fmt;

pub const MAX_BYTES: usize = 1_000;
const MAX_DEPTH: usize = 32;
/// What an activity's outcome offers to conditions.
pub const OUTCOME_FIELDS: &[&str] = &["status", "rows_read", "rows_written", "attempt"];

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Text(String),
    Number(f64),
    Bool(bool),
    /// `params.<name>` or `<activity>.<field>`.
    Name(String, String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, Op, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Text(t) => write!(f, "'{t}'"),
            Expr::Number(n) => write!(f, "{n}"),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Name(owner, field) => write!(f, "{owner}.{field}"),
            Expr::Not(inner) => write!(f, "!({inner})"),
            Expr::And(a, b) => write!(f, "({a} && {b})"),
            Expr::Or(a, b) => write!(f, "({a} || {b})"),
            Expr::Compare(a, op, b) => {
                let op = match op {
                    Op::Eq => "==",
                    Op::Ne => "!=",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                };
                write!(f, "{a} {op} {b}")
            }
        }
    }
}

/// A value a condition sees.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Number(f64),
    Bool(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(t) => write!(f, "'{t}'"),
            Value::Number(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Text(String),
    Number(f64),
    Word(String),
    Symbol(&'static str),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let start = i + 1;
            let end = chars[start..]
                .iter()
                .position(|&c| c == '\'')
                .ok_or("a text literal is not closed with '")?;
            out.push(Token::Text(chars[start..start + end].iter().collect()));
            i = start + end + 1;
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let number = text
                .parse()
                .map_err(|_| format!("{text:?} is not a number"))?;
            out.push(Token::Number(number));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-'))
            {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let symbol = ["==", "!=", "<=", ">=", "&&", "||"]
                .into_iter()
                .find(|s| *s == two)
                .or_else(|| {
                    ["<", ">", "!", "(", ")"]
                        .into_iter()
                        .find(|s| s.starts_with(c))
                })
                .ok_or_else(|| format!("unexpected {c:?}"))?;
            i += symbol.len();
            out.push(Token::Symbol(symbol));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, symbol: &'static str) -> bool {
        let found = self.peek() == Some(&Token::Symbol(symbol));
        if found {
            self.at += 1;
        }
        found
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.deeper()?;
        let mut left = self.and()?;
        while self.eat("||") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.not()?;
        while self.eat("&&") {
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, String> {
        let left = self.atom()?;
        let op = match self.peek() {
            Some(Token::Symbol("==")) => Op::Eq,
            Some(Token::Symbol("!=")) => Op::Ne,
            Some(Token::Symbol("<")) => Op::Lt,
            Some(Token::Symbol("<=")) => Op::Le,
            Some(Token::Symbol(">")) => Op::Gt,
            Some(Token::Symbol(">=")) => Op::Ge,
            _ => return Ok(left),
        };
        self.at += 1;
        Ok(Expr::Compare(Box::new(left), op, Box::new(self.atom()?)))
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let token = self.peek().cloned().ok_or("the condition ends too early")?;
        self.at += 1;
        match token {
            Token::Text(t) => Ok(Expr::Text(t)),
            Token::Number(n) => Ok(Expr::Number(n)),
            Token::Word(w) if w == "true" => Ok(Expr::Bool(true)),
            Token::Word(w) if w == "false" => Ok(Expr::Bool(false)),
            Token::Word(w) => match w.split_once('.') {
                Some((owner, field))
                    if !owner.is_empty() && !field.is_empty() && !field.contains('.') =>
                {
                    Ok(Expr::Name(owner.to_string(), field.to_string()))
                }
                _ => Err(format!(
                    "{w:?}: write params.<name> or <activity>.<{}>",
                    OUTCOME_FIELDS.join("|")
                )),
            },
            Token::Symbol("(") => {
                let inner = self.or()?;
                if !self.eat(")") {
                    return Err("a ( is not closed".into());
                }
                Ok(inner)
            }
            Token::Symbol(s) => Err(format!("unexpected {s:?}")),
        }
    }
}

/// Parses a condition.
pub fn parse(text: &str) -> Result<Expr, String> {
    if text.len() > MAX_BYTES {
        return Err(format!("at most {MAX_BYTES} bytes"));
    }
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
        depth: 0,
    };
    if parser.tokens.is_empty() {
        return Err("empty".into());
    }
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some(token) => Err(format!("unexpected {token:?} after a complete condition")),
    }
}

impl Expr {
    /// Every name the condition reads, as (owner, field).
    pub fn names(&self) -> Vec<(&str, &str)> {
        match self {
            Expr::Name(owner, field) => vec![(owner.as_str(), field.as_str())],
            Expr::Not(inner) => inner.names(),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(a, _, b) => {
                let mut names = a.names();
                names.extend(b.names());
                names
            }
            Expr::Text(_) | Expr::Number(_) | Expr::Bool(_) => Vec::new(),
        }
    }

    /// The condition's value, each name looked up by `lookup`.
    pub fn eval(&self, lookup: &dyn Fn(&str, &str) -> Option<Value>) -> Result<Value, String> {
        Ok(match self {
            Expr::Text(t) => Value::Text(t.clone()),
            Expr::Number(n) => Value::Number(*n),
            Expr::Bool(b) => Value::Bool(*b),
            Expr::Name(owner, field) => {
                lookup(owner, field).ok_or_else(|| format!("{owner}.{field} has no value"))?
            }
            Expr::Not(inner) => Value::Bool(!truth(&inner.eval(lookup)?)?),
            Expr::And(a, b) => Value::Bool(truth(&a.eval(lookup)?)? && truth(&b.eval(lookup)?)?),
            Expr::Or(a, b) => Value::Bool(truth(&a.eval(lookup)?)? || truth(&b.eval(lookup)?)?),
            Expr::Compare(a, op, b) => {
                let (a, b) = (a.eval(lookup)?, b.eval(lookup)?);
                let order = match (&a, &b) {
                    (Value::Number(x), Value::Number(y)) => x.partial_cmp(y),
                    (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
                    (Value::Bool(x), Value::Bool(y)) if matches!(op, Op::Eq | Op::Ne) => {
                        Some(x.cmp(y))
                    }
                    _ => return Err(format!("cannot compare {a} with {b}")),
                }
                .ok_or_else(|| format!("cannot compare {a} with {b}"))?;
                use std::cmp::Ordering::*;
                Value::Bool(match op {
                    Op::Eq => order == Equal,
                    Op::Ne => order != Equal,
                    Op::Lt => order == Less,
                    Op::Le => order != Greater,
                    Op::Gt => order == Greater,
                    Op::Ge => order != Less,
                })
            }
        })
    }
}

fn truth(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        other => Err(format!("{other} is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(owner: &str, field: &str) -> Option<Value> {
        match (owner, field) {
            ("load", "status") => Some(Value::Text("succeeded".into())),
            ("load", "rows_written") => Some(Value::Number(12.0)),
            ("params", "force") => Some(Value::Text("no".into())),
            _ => None,
        }
    }

    fn holds(text: &str) -> Result<bool, String> {
        truth(&parse(text)?.eval(&lookup)?)
    }

    #[test]
    fn conditions_evaluate_over_outcomes_and_parameters() {
        assert_eq!(holds("load.status == 'succeeded'"), Ok(true));
        assert_eq!(
            holds("load.rows_written > 10 && params.force != 'yes'"),
            Ok(true)
        );
        assert_eq!(
            holds("!(load.rows_written >= 12) || params.force == 'yes'"),
            Ok(false)
        );
        assert_eq!(holds("load.rows_written <= -1"), Ok(false));
        assert_eq!(holds("true"), Ok(true));
    }

    #[test]
    fn mistakes_are_errors_not_guesses() {
        assert!(
            holds("load.status > 3")
                .unwrap_err()
                .contains("cannot compare")
        );
        assert!(
            holds("load.rows_written")
                .unwrap_err()
                .contains("not true or false")
        );
        assert!(
            holds("other.status == 'x'")
                .unwrap_err()
                .contains("has no value")
        );
        for bad in [
            "",
            "load.status ==",
            "(true",
            "true false",
            "'open",
            "a == 1",
            "x.y.z == 1",
            "1 # 2",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse(&"(".repeat(40)).unwrap_err().contains("deeper"));
        assert!(parse(&"x".repeat(2_000)).unwrap_err().contains("bytes"));
    }

    #[test]
    fn names_are_listed_for_the_checks() {
        let expr = parse("load.status == 'succeeded' && params.day > 3").unwrap();
        assert_eq!(expr.names(), vec![("load", "status"), ("params", "day")]);
    }
}
