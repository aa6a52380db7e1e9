//! Memory for jobs: one pool per executor, shared fairly by the jobs running on it,
//! and each job's own limit within it. A fixed number of slots either starves
//! light jobs behind heavy ones or lets heavy ones together exceed the machine;
//! here many light jobs run at once because they take little, and heavy ones share
//! what there is (the shared pool divides it among the operators that can spill).
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// The pool the jobs and services of one executor share: DataFusion's fair
/// spilling pool, which divides what is left among the operators that can spill.
pub fn executor_pool(bytes: usize) -> Arc<dyn MemoryPool> {
    Arc::new(datafusion::execution::memory_pool::FairSpillPool::new(
        bytes,
    ))
}

/// One job's view of the executor's pool: at most `limit` bytes of it.
#[derive(Debug)]
pub(crate) struct JobPool {
    shared: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl JobPool {
    pub(crate) fn new(shared: Arc<dyn MemoryPool>, limit: usize) -> Self {
        JobPool {
            shared,
            limit,
            used: AtomicUsize::new(0),
        }
    }
}

impl fmt::Display for JobPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "job pool of {} MiB within {}",
            self.limit >> 20,
            self.shared
        )
    }
}

impl MemoryPool for JobPool {
    fn name(&self) -> &str {
        "job"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.shared.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.shared.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let before = self.used.fetch_add(additional, Ordering::Relaxed);
        if before + additional > self.limit {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{} needs {additional} more bytes past the job's limit of {} MiB",
                reservation.consumer().name(),
                self.limit >> 20
            )));
        }
        self.shared
            .try_grow(reservation, additional)
            .inspect_err(|_| {
                self.used.fetch_sub(additional, Ordering::Relaxed);
            })
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::FairSpillPool;

    #[test]
    fn a_job_stops_at_its_own_limit_and_all_jobs_at_the_shared_one() {
        let shared: Arc<dyn MemoryPool> = Arc::new(FairSpillPool::new(1000));
        let first: Arc<dyn MemoryPool> = Arc::new(JobPool::new(shared.clone(), 600));
        let second: Arc<dyn MemoryPool> = Arc::new(JobPool::new(shared.clone(), 600));
        let a = MemoryConsumer::new("a").register(&first);
        let b = MemoryConsumer::new("b").register(&second);
        a.try_grow(600).unwrap();
        assert!(a.try_grow(1).is_err(), "past its own limit");
        assert!(
            b.try_grow(500).is_err(),
            "past what the shared pool has left"
        );
        b.try_grow(400).unwrap();
        assert_eq!(
            (first.reserved(), second.reserved(), shared.reserved()),
            (600, 400, 1000)
        );
        a.free();
        b.try_grow(200).unwrap();
        assert_eq!((first.reserved(), shared.reserved()), (0, 600));
    }
}
