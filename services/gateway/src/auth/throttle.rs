//! Failed logins slow down the next ones for the same user name: the first few
//! are free, then each attempt must wait twice as long as the last, up to
//! [`MAX_WAIT`]. Kept per gateway, in bounded memory: names are tracked whether or
//! not such a user exists, so the answer never tells which users exist.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FREE_FAILURES: u32 = 3;
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(15 * 60);
const MAX_NAMES: usize = 10_000;

struct Failures {
    count: u32,
    last: Instant,
}

#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, Failures>>,
}

impl Throttle {
    /// `Err(wait)` while `user` must wait before the next attempt.
    pub fn check(&self, user: &str) -> Result<(), Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = failures.get(user) else {
            return Ok(());
        };
        if f.count < FREE_FAILURES {
            return Ok(());
        }
        let wait = Duration::from_secs(1 << (f.count - FREE_FAILURES).min(9)).min(MAX_WAIT);
        let elapsed = f.last.elapsed();
        if elapsed >= wait {
            Ok(())
        } else {
            Err(wait - elapsed)
        }
    }

    pub fn failed(&self, user: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_NAMES {
            failures.retain(|_, f| f.last.elapsed() < MEMORY);
            if failures.len() >= MAX_NAMES {
                failures.clear();
            }
        }
        let entry = failures.entry(user.to_string()).or_insert(Failures {
            count: 0,
            last: Instant::now(),
        });
        if entry.last.elapsed() >= MEMORY {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = Instant::now();
    }

    pub fn succeeded(&self, user: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_beyond_the_free_ones_must_wait() {
        let throttle = Throttle::default();
        for _ in 0..FREE_FAILURES {
            assert!(throttle.check("bob").is_ok());
            throttle.failed("bob");
        }
        let wait = throttle.check("bob").unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        assert!(
            throttle.check("alice").is_ok(),
            "other names are not slowed"
        );
        throttle.succeeded("bob");
        assert!(throttle.check("bob").is_ok());
    }
}
