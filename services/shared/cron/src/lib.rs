//! Cron expressions of schedules, shared by the gateway (which validates them) and
//! the scheduler (which fires them): standard five fields, or six/seven with seconds
//! first (and years last), evaluated in UTC.
#![forbid(unsafe_code)]
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use cron::Schedule;

/// Why an expression is not a schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("expected 5 fields, or 6 to 7 with seconds first")]
    Fields,
    #[error("{0}")]
    Invalid(String),
}

pub fn parse(expression: &str) -> Result<Schedule, CronError> {
    let full = match expression.split_whitespace().count() {
        5 => format!("0 {expression}"),
        6 | 7 => expression.to_string(),
        _ => return Err(CronError::Fields),
    };
    Schedule::from_str(&full).map_err(|e| CronError::Invalid(e.to_string()))
}

/// The next `count` occurrences after `now`, soonest first.
pub fn upcoming(schedule: &Schedule, now: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
    schedule.after(&now).take(count).collect()
}

/// What to do with one due occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Fire,
    /// Later than the misfire grace: recorded, not fired.
    Misfire {
        late: Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub at: DateTime<Utc>,
    pub action: Action,
}

/// The occurrences after `handled_through` up to `now` (inclusive), oldest first, at
/// most `max` of them so that a long outage cannot stall one evaluation.
pub fn due(
    schedule: &Schedule,
    handled_through: DateTime<Utc>,
    now: DateTime<Utc>,
    misfire_grace: Duration,
    max: usize,
) -> Vec<Occurrence> {
    schedule
        .after(&handled_through)
        .take_while(|at| *at <= now)
        .take(max)
        .map(|at| {
            let late = (now - at).to_std().unwrap_or_default();
            let action = if late > misfire_grace {
                Action::Misfire { late }
            } else {
                Action::Fire
            };
            Occurrence { at, action }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_six_fields() {
        assert!(parse("*/5 * * * *").is_ok());
        assert!(parse("*/2 * * * * *").is_ok());
        assert!(parse("nonsense").is_err());
        assert!(parse("99 * * * *").is_err());
    }

    #[test]
    fn due_occurrences_are_fired_or_misfired_by_lateness() {
        let every_second = parse("* * * * * *").unwrap();
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let now = start + chrono::Duration::seconds(10);
        let due = due(&every_second, start, now, Duration::from_secs(3), 100);
        assert_eq!(due.len(), 10, "seconds 1 to 10 after the start");
        assert_eq!(due[0].at, start + chrono::Duration::seconds(1));
        let fired = due.iter().filter(|o| o.action == Action::Fire).count();
        assert_eq!(fired, 4, "0 to 3 s late are within the grace");
        assert_eq!(
            due[0].action,
            Action::Misfire {
                late: Duration::from_secs(9)
            }
        );
        assert_eq!(
            super::due(&every_second, start, now, Duration::ZERO, 3).len(),
            3
        );
    }
}
