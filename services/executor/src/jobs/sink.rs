//! One output file, written from a stream of batches on a blocking thread while the
//! plan that produces them keeps running (and the batches are encoded in parallel): memory holds a couple of batches, never
//! the output. The file is created exclusively (never through a file or symlink
//! someone else put there), capped in bytes, and synced before it is renamed.
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use prism_dataflow::Format;
use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;

use futures::StreamExt;

use crate::engine::{EngineError, io_error};

/// Chunks queued between the plan and the file: enough to keep both busy.
pub(crate) const QUEUED_BATCHES: usize = 4;
/// Batches encoded at once: text encoding is most of a write's work, and batches
/// encode independently, so every core takes part (as in DataFusion's own sinks).
const ENCODING_AT_ONCE: usize = 4;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SinkError {
    /// The job's output passed its cap: running it again would do the same.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Io(String),
}

fn io(e: impl std::fmt::Display) -> SinkError {
    SinkError::Io(e.to_string())
}

/// What the file receives: text already encoded (CSV, JSON lines), or batches for
/// a Parquet writer (which encodes column chunks across batches itself).
pub(crate) enum Chunk {
    Encoded(Vec<u8>),
    Batch(RecordBatch),
}

/// Encodes batches on the blocking pool, several at once, handing them back in order.
pub(crate) struct Encoding {
    format: Format,
    header: bool,
    pending: VecDeque<tokio::task::JoinHandle<Result<Chunk, SinkError>>>,
}

impl Encoding {
    pub(crate) fn new(format: Format) -> Self {
        Encoding {
            format,
            header: true,
            pending: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, batch: RecordBatch) {
        let (format, header) = (self.format, std::mem::take(&mut self.header));
        self.pending.push_back(tokio::task::spawn_blocking(move || {
            encode(batch, format, header)
        }));
    }

    /// The oldest chunk, once more than `keep` are under way (or any, with 0).
    pub(crate) async fn ready(&mut self, keep: usize) -> Option<Result<Chunk, SinkError>> {
        if self.pending.len() <= keep {
            return None;
        }
        let next = self.pending.pop_front()?;
        Some(
            next.await
                .unwrap_or_else(|e| Err(io(format!("encoding stopped: {e}")))),
        )
    }

    /// [`Encoding::ready`] while the plan still runs.
    pub(crate) async fn ready_while_running(&mut self) -> Option<Result<Chunk, SinkError>> {
        self.ready(ENCODING_AT_ONCE).await
    }
}

fn encode(batch: RecordBatch, format: Format, header: bool) -> Result<Chunk, SinkError> {
    Ok(match format {
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(header)
                .build(Vec::new());
            writer.write(&batch).map_err(io)?;
            Chunk::Encoded(writer.into_inner())
        }
        Format::Jsonl => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(Vec::new());
            writer.write(&batch).map_err(io)?;
            writer.finish().map_err(io)?;
            Chunk::Encoded(writer.into_inner())
        }
        Format::Parquet => Chunk::Batch(batch),
    })
}

/// Writes every chunk `chunks` yields to `staged`; returns the bytes written.
/// Ends when the sender is dropped, whether or not the plan finished: the caller
/// knows which, and removes a file it will not commit.
pub(crate) fn write_all(
    staged: &Path,
    schema: SchemaRef,
    format: Format,
    mut chunks: Receiver<Chunk>,
    limit: u64,
) -> Result<u64, SinkError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(staged)
        .map_err(|e| io(format!("cannot create {}: {e}", staged.display())))?;
    let syncer = Syncer::start(&file).map_err(io)?;
    let mut out = Capped {
        inner: BufWriter::with_capacity(1 << 20, file),
        written: 0,
        limit,
        syncer,
    };
    if format == Format::Parquet {
        // Made before the first batch: no rows still make a valid Parquet file.
        let mut writer =
            datafusion::parquet::arrow::ArrowWriter::try_new(out, schema, None).map_err(io)?;
        while let Some(chunk) = chunks.blocking_recv() {
            if let Chunk::Batch(batch) = chunk {
                writer.write(&batch).map_err(cause)?;
            }
        }
        out = writer.into_inner().map_err(cause)?;
    } else {
        while let Some(chunk) = chunks.blocking_recv() {
            if let Chunk::Encoded(bytes) = chunk {
                out.write_all(&bytes).map_err(cause)?;
            }
        }
    }
    out.flush().map_err(cause)?;
    let written = out.written;
    out.syncer.finish();
    let file = out.inner.into_inner().map_err(|e| io(e.error()))?;
    // On disk before the rename makes it visible.
    file.sync_all().map_err(io)?;
    Ok(written)
}

/// Bytes written between two background syncs.
const SYNC_EVERY: u64 = 8 << 20;

/// Syncs a file being written from another thread, every [`SYNC_EVERY`] bytes, so
/// the disk writes while the plan still runs and the sync before the rename finds
/// little left: a 100 MB output otherwise waits some 50 ms for the disk at the end,
/// with nothing else to do.
struct Syncer {
    /// Wakes the thread; a wake-up while it is syncing already is dropped.
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    next_at: u64,
}

impl Syncer {
    fn start(file: &File) -> std::io::Result<Syncer> {
        let file = file.try_clone()?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("prism-sync".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    // An error shows again at the final sync, which decides.
                    let _ = file.sync_data();
                }
            })?;
        Ok(Syncer {
            wake: Some(wake),
            thread: Some(thread),
            next_at: SYNC_EVERY,
        })
    }

    /// Called with the bytes written so far.
    fn wrote(&mut self, written: u64) {
        if written >= self.next_at {
            self.next_at = written + SYNC_EVERY;
            if let Some(wake) = &self.wake {
                let _ = wake.try_send(());
            }
        }
    }

    /// Waits for a sync under way: the final one follows.
    fn finish(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A writer that refuses to pass `limit` bytes.
struct Capped {
    inner: BufWriter<File>,
    written: u64,
    limit: u64,
    syncer: Syncer,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() as u64 > self.limit {
            let limit = format!(
                "output limit: the job's files would pass {} MiB",
                self.limit >> 20
            );
            return Err(std::io::Error::other(limit));
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        self.syncer.wrote(self.written);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The cap's own error when it was the cause (the writers wrap it in theirs).
fn cause(e: impl std::fmt::Display) -> SinkError {
    let text = e.to_string();
    match text.find("output limit") {
        Some(at) => SinkError::TooLarge(text[at..].to_string()),
        None => io(text),
    }
}

/// Feeds the plan's batches, encoded in parallel and in order, to the writer until
/// the plan ends, fails or `cancel`; the rows fed. A writer that stopped has its own
/// error, which the caller reports.
pub(crate) async fn feed(
    stream: &mut datafusion::physical_plan::SendableRecordBatchStream,
    format: Format,
    sender: tokio::sync::mpsc::Sender<Chunk>,
    cancel: &CancellationToken,
    id: &str,
    failed: impl Fn(datafusion::error::DataFusionError) -> EngineError,
) -> Result<u64, EngineError> {
    let mut rows = 0;
    let mut encoding = Encoding::new(format);
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            () = cancel.cancelled() => return Err(EngineError::Cancelled),
        };
        let batch = match next {
            None => break,
            Some(Err(e)) => return Err(failed(e)),
            Some(Ok(batch)) => batch,
        };
        rows += batch.num_rows() as u64;
        encoding.push(batch);
        if let Some(chunk) = encoding.ready_while_running().await
            && !send(&sender, chunk, id).await?
        {
            return Ok(rows);
        }
    }
    while let Some(chunk) = encoding.ready(0).await {
        if !send(&sender, chunk, id).await? {
            break;
        }
    }
    Ok(rows)
}

/// Sends an encoded chunk to the writer; false when the writer has stopped.
pub(crate) async fn send(
    sender: &tokio::sync::mpsc::Sender<Chunk>,
    chunk: Result<Chunk, SinkError>,
    id: &str,
) -> Result<bool, EngineError> {
    let chunk = chunk.map_err(|e| io_error(format!("stage {id}: {e}")))?;
    Ok(sender.send(chunk).await.is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    /// `batches` batches of 1,000 consecutive numbers, through the parallel
    /// encoding and the writer, as the engine drives them.
    async fn written(format: Format, batches: i64, limit: u64) -> (Result<u64, SinkError>, String) {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let (sender, receiver) = tokio::sync::mpsc::channel(QUEUED_BATCHES);
        let writer = {
            let (path, schema) = (path.clone(), schema.clone());
            tokio::task::spawn_blocking(move || write_all(&path, schema, format, receiver, limit))
        };
        let mut encoding = Encoding::new(format);
        for b in 0..batches {
            let numbers = Int64Array::from_iter_values(b * 1000..(b + 1) * 1000);
            encoding.push(RecordBatch::try_new(schema.clone(), vec![Arc::new(numbers)]).unwrap());
            if let Some(chunk) = encoding.ready_while_running().await
                && sender.send(chunk.unwrap()).await.is_err()
            {
                break;
            }
        }
        while let Some(chunk) = encoding.ready(0).await {
            if sender.send(chunk.unwrap()).await.is_err() {
                break;
            }
        }
        drop(sender);
        let result = writer.await.unwrap();
        (result, std::fs::read_to_string(&path).unwrap_or_default())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_encoded_at_once_are_written_in_order_with_one_header() {
        let (result, text) = written(Format::Csv, 50, u64::MAX).await;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "n");
        let numbers: Vec<i64> = lines[1..].iter().map(|l| l.parse().unwrap()).collect();
        assert_eq!(numbers, (0..50_000).collect::<Vec<_>>());
        assert_eq!(result.unwrap(), text.len() as u64);

        let (_, text) = written(Format::Jsonl, 20, u64::MAX).await;
        let first: Vec<&str> = text.lines().take(2).collect();
        assert_eq!(first, [r#"{"n":0}"#, r#"{"n":1}"#]);
        assert_eq!(text.lines().count(), 20_000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_output_cap_stops_a_write() {
        let (result, text) = written(Format::Csv, 50, 10_000).await;
        match result {
            Err(SinkError::TooLarge(reason)) => {
                assert!(reason.starts_with("output limit"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(text.len() <= 10_000);
    }
}
