//! The job record as the projection of the job's events: the audit service is its
//! only writer after the gateway's accepting transaction. Pure functions, so the
//! rules are tested without a store.
use prism_errors::{bounded, bounded_to};
use prism_schemas::v1::{JobEvent, JobRecord, JobState, StageStats};

/// The record after `event`, or `None` when the event changes nothing. Terminal
/// states are final. A terminal event is taken whatever its attempt: executors
/// publish one only after recording it in the attempt bucket with compare-and-set,
/// which admits one outcome per job. A start of an older attempt than the
/// record's is ignored.
pub fn apply_job_event(job: Option<JobRecord>, event: &JobEvent) -> Option<JobRecord> {
    let mut job = job.unwrap_or_else(|| missing_record(event));
    if job.state().is_terminal() {
        return None;
    }
    match event.state() {
        // A start older than the record's attempt is a stale delivery's.
        JobState::Running if event.attempt < job.attempt => return None,
        JobState::Running => {
            job.state = JobState::Running as i32;
            job.attempt = event.attempt;
            job.started_at_ms = event.started_at_ms;
            job.executor = bounded_to(&event.executor, 256);
        }
        state @ (JobState::Succeeded | JobState::Failed | JobState::Cancelled) => {
            job.state = state as i32;
            job.attempt = event.attempt;
            if event.started_at_ms != 0 {
                job.started_at_ms = event.started_at_ms;
            }
            job.finished_at_ms = event.finished_at_ms;
            if !event.executor.is_empty() {
                job.executor = bounded_to(&event.executor, 256);
            }
            job.rows_read = event.rows_read;
            job.rows_written = event.rows_written;
            job.error = bounded(&event.error);
            job.stages = bounded_stages(event);
        }
        JobState::Queued | JobState::Unspecified => return None,
    }
    Some(job)
}

/// A dataflow has at most 100 stages; an event claiming more than 1,000 (or
/// longer ids) is cut rather than allowed to bloat the record.
fn bounded_stages(event: &JobEvent) -> Vec<StageStats> {
    const MAX_STAGES: usize = 1000;
    event
        .stages
        .iter()
        .take(MAX_STAGES)
        .map(|stage| StageStats {
            id: bounded_to(&stage.id, 128),
            ..stage.clone()
        })
        .collect()
}

/// The record after someone asked to cancel the job (`job.cancel`), or `None` when
/// that changes nothing (unknown or finished job).
pub fn apply_cancel_request(job: Option<JobRecord>) -> Option<JobRecord> {
    let mut job = job?;
    if job.state().is_terminal() || job.cancel_requested {
        return None;
    }
    job.cancel_requested = true;
    Some(job)
}

/// The gateway writes the record before it publishes; this covers records that were
/// never written (e.g. a store restored from an older backup).
fn missing_record(event: &JobEvent) -> JobRecord {
    JobRecord {
        id: event.job_id.clone(),
        dataflow: bounded_to(&event.dataflow, 256),
        dataflow_version: event.dataflow_version,
        state: JobState::Queued as i32,
        created_at_ms: event.created_at_ms,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued() -> JobRecord {
        JobRecord {
            id: "j".into(),
            dataflow: "adults".into(),
            state: JobState::Queued as i32,
            ..Default::default()
        }
    }

    fn event(state: JobState, attempt: u32) -> JobEvent {
        JobEvent {
            job_id: "j".into(),
            state: state as i32,
            attempt,
            started_at_ms: 10 * i64::from(attempt),
            finished_at_ms: 99,
            ..Default::default()
        }
    }

    #[test]
    fn start_then_success_fills_the_record() {
        let running = apply_job_event(Some(queued()), &event(JobState::Running, 1)).unwrap();
        assert_eq!(
            (running.state(), running.attempt, running.started_at_ms),
            (JobState::Running, 1, 10)
        );
        let mut done_event = event(JobState::Succeeded, 1);
        done_event.rows_written = 2;
        let done = apply_job_event(Some(running), &done_event).unwrap();
        assert_eq!(
            (done.state(), done.rows_written, done.finished_at_ms),
            (JobState::Succeeded, 2, 99)
        );
    }

    #[test]
    fn the_outcome_keeps_its_stages_bounded() {
        let mut done = event(JobState::Succeeded, 1);
        let stage = |id: String| StageStats {
            id,
            rows_in: 4,
            rows_out: 2,
            elapsed_ms: 7,
        };
        done.stages = (0..1500).map(|i| stage(format!("s{i}"))).collect();
        done.stages[0].id = "x".repeat(10_000);
        let record = apply_job_event(Some(queued()), &done).unwrap();
        assert_eq!(record.stages.len(), 1000);
        assert!(record.stages[0].id.len() <= 128);
        assert_eq!(record.stages[1], stage("s1".into()));
    }

    #[test]
    fn terminal_states_are_final_and_stale_starts_are_ignored() {
        let retried = apply_job_event(Some(queued()), &event(JobState::Running, 2)).unwrap();
        assert_eq!(
            apply_job_event(Some(retried.clone()), &event(JobState::Running, 1)),
            None
        );
        let failed = apply_job_event(Some(retried), &event(JobState::Failed, 1)).unwrap();
        assert_eq!(
            failed.state(),
            JobState::Failed,
            "a terminal event is taken whatever its attempt"
        );
        assert_eq!(
            apply_job_event(Some(failed.clone()), &event(JobState::Succeeded, 3)),
            None
        );
        assert_eq!(
            apply_job_event(Some(failed), &event(JobState::Running, 3)),
            None
        );
        assert_eq!(
            apply_job_event(Some(queued()), &event(JobState::Queued, 0)),
            None
        );
    }

    #[test]
    fn a_queued_job_cancelled_at_once_has_no_start_and_a_bounded_error() {
        let mut cancelled = event(JobState::Cancelled, 0);
        cancelled.started_at_ms = 0;
        cancelled.error = "e".repeat(200_000);
        let job = apply_job_event(Some(queued()), &cancelled).unwrap();
        assert_eq!((job.state(), job.started_at_ms), (JobState::Cancelled, 0));
        assert!(job.error.len() <= prism_errors::MAX_ERROR_TEXT_BYTES);
    }

    #[test]
    fn a_cancel_request_marks_only_unfinished_jobs() {
        let marked = apply_cancel_request(Some(queued())).unwrap();
        assert!(marked.cancel_requested);
        assert_eq!(apply_cancel_request(Some(marked)), None);
        assert_eq!(apply_cancel_request(None), None);
        let done = apply_job_event(Some(queued()), &event(JobState::Succeeded, 1)).unwrap();
        assert_eq!(apply_cancel_request(Some(done)), None);
    }

    #[test]
    fn an_event_for_an_unknown_job_creates_its_record() {
        let job = apply_job_event(None, &event(JobState::Running, 1)).unwrap();
        assert_eq!((job.id.as_str(), job.state()), ("j", JobState::Running));
    }
}
