//! Cron expressions: standard five fields, or six/seven with seconds first (and
//! years last), evaluated in UTC.
use std::str::FromStr;

pub fn parse(expression: &str) -> Result<cron::Schedule, String> {
    let full = match expression.split_whitespace().count() {
        5 => format!("0 {expression}"),
        6 | 7 => expression.to_string(),
        _ => return Err("expected 5 fields, or 6 to 7 with seconds first".into()),
    };
    cron::Schedule::from_str(&full).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn five_and_six_fields() {
        assert!(super::parse("*/5 * * * *").is_ok());
        assert!(super::parse("*/2 * * * * *").is_ok());
        assert!(super::parse("nonsense").is_err());
        assert!(super::parse("99 * * * *").is_err());
    }
}
