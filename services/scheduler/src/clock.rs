//! The scheduler's notion of now.
use chrono::{DateTime, Utc};

/// Where the scheduler reads the time.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system's UTC clock.
    System,
    /// `wall` at the tokio instant `at`, advanced by tokio's clock: under
    /// `tokio::time::pause` a test moves time by `tokio::time::advance`.
    Tokio {
        wall: DateTime<Utc>,
        at: tokio::time::Instant,
    },
}

impl Clock {
    /// A tokio-driven clock that reads `wall` now.
    pub fn tokio_from(wall: DateTime<Utc>) -> Clock {
        Clock::Tokio {
            wall,
            at: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { wall, at } => {
                let elapsed = tokio::time::Instant::now() - *at;
                *wall + chrono::Duration::from_std(elapsed).unwrap_or_default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prism_cron::Action;
    use prism_schemas::v1::ScheduleRecord;

    use super::*;
    use crate::plan;

    fn every_second(handled_through: DateTime<Utc>) -> ScheduleRecord {
        ScheduleRecord {
            name: "s".into(),
            cron: "* * * * * *".into(),
            enabled: true,
            handled_through_ms: handled_through.timestamp_millis(),
            ..Default::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn occurrences_follow_paused_time_and_late_ones_misfire() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let clock = Clock::tokio_from(start);
        let schedule = every_second(start);
        let grace = Duration::from_secs(60);
        assert!(plan(&schedule, clock.now(), grace).unwrap().is_empty());

        tokio::time::advance(Duration::from_millis(3_500)).await;
        let due = plan(&schedule, clock.now(), grace).unwrap();
        assert_eq!(due.len(), 3, "seconds 1, 2 and 3: {due:?}");
        assert!(due.iter().all(|o| o.action == Action::Fire));

        // Two minutes with no evaluation: the first minute's occurrences are too late.
        tokio::time::advance(Duration::from_secs(120)).await;
        let due = plan(&schedule, clock.now(), grace).unwrap();
        assert_eq!(due.len(), 123);
        let misfired = due
            .iter()
            .filter(|o| matches!(o.action, Action::Misfire { .. }))
            .count();
        assert_eq!(
            misfired,
            63,
            "occurrences more than 60 s before {}",
            clock.now()
        );
    }

    #[test]
    fn a_bad_expression_is_an_error_not_a_panic() {
        let mut schedule = every_second(DateTime::from_timestamp(0, 0).unwrap());
        schedule.cron = "nonsense".into();
        assert!(plan(&schedule, Utc::now(), Duration::ZERO).is_err());
    }
}
