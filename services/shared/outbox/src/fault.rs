//! Fault injection for crash tests. The window between a commit and its publish is
//! microseconds wide, so a test that kills a process at random almost never lands
//! in it; `PRISM_FAULT_CRASH_BEFORE_PUBLISH=N` makes the process abort (as `kill -9`
//! would: no unwinding, no flush) right before publishing its N-th committed outbox
//! entry. Unset in production, it costs one atomic load.
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

pub const CRASH_BEFORE_PUBLISH: &str = "PRISM_FAULT_CRASH_BEFORE_PUBLISH";

static PUBLISHED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn crash_before_publish() {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    let at = AT.get_or_init(|| std::env::var(CRASH_BEFORE_PUBLISH).ok()?.parse().ok());
    let Some(at) = at else { return };
    if PUBLISHED.fetch_add(1, Ordering::Relaxed) + 1 == *at {
        eprintln!("{CRASH_BEFORE_PUBLISH}={at}: aborting between commit and publish");
        std::process::abort();
    }
}
