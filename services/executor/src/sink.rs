//! One output file, written from a stream of batches on a blocking thread while the
//! plan that produces them keeps running: memory holds a couple of batches, never
//! the output. The file is created exclusively (never through a file or symlink
//! someone else put there), capped in bytes, and synced before it is renamed.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use prism_dataflow::Format;
use tokio::sync::mpsc::Receiver;

/// Batches queued between the plan and the file: enough to keep both busy.
pub(crate) const QUEUED_BATCHES: usize = 4;

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

/// Writes every batch `batches` yields to `staged`; returns the bytes written.
/// Ends when the sender is dropped, whether or not the plan finished: the caller
/// knows which, and removes a file it will not commit.
pub(crate) fn write_all(
    staged: &Path,
    schema: SchemaRef,
    format: Format,
    mut batches: Receiver<RecordBatch>,
    limit: u64,
) -> Result<u64, SinkError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(staged)
        .map_err(|e| io(format!("cannot create {}: {e}", staged.display())))?;
    let out = Capped {
        inner: BufWriter::with_capacity(1 << 20, file),
        written: 0,
        limit,
    };
    let mut writer = FileWriter::new(out, schema, format)?;
    while let Some(batch) = batches.blocking_recv() {
        writer.write(&batch)?;
    }
    let out = writer.finish()?;
    let written = out.written;
    let file = out.inner.into_inner().map_err(|e| io(e.error()))?;
    // On disk before the rename makes it visible.
    file.sync_all().map_err(io)?;
    Ok(written)
}

/// A writer that refuses to pass `limit` bytes.
struct Capped {
    inner: BufWriter<File>,
    written: u64,
    limit: u64,
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
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

enum FileWriter {
    Csv(datafusion::arrow::csv::Writer<Capped>),
    Jsonl(datafusion::arrow::json::LineDelimitedWriter<Capped>),
    Parquet(datafusion::parquet::arrow::ArrowWriter<Capped>),
}

/// The cap's own error when it was the cause (the writers wrap it in theirs).
fn cause(e: impl std::fmt::Display) -> SinkError {
    let text = e.to_string();
    match text.find("output limit") {
        Some(at) => SinkError::TooLarge(text[at..].to_string()),
        None => io(text),
    }
}

impl FileWriter {
    fn new(out: Capped, schema: SchemaRef, format: Format) -> Result<Self, SinkError> {
        Ok(match format {
            Format::Csv => FileWriter::Csv(
                datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
            ),
            Format::Jsonl => {
                FileWriter::Jsonl(datafusion::arrow::json::LineDelimitedWriter::new(out))
            }
            Format::Parquet => FileWriter::Parquet(
                datafusion::parquet::arrow::ArrowWriter::try_new(out, schema, None).map_err(io)?,
            ),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        match self {
            FileWriter::Csv(w) => w.write(batch).map_err(cause),
            FileWriter::Jsonl(w) => w.write(batch).map_err(cause),
            FileWriter::Parquet(w) => w.write(batch).map_err(cause),
        }
    }

    fn finish(self) -> Result<Capped, SinkError> {
        let mut out = match self {
            FileWriter::Csv(w) => w.into_inner(),
            FileWriter::Jsonl(mut w) => {
                w.finish().map_err(cause)?;
                w.into_inner()
            }
            FileWriter::Parquet(w) => w.into_inner().map_err(cause)?,
        };
        out.flush().map_err(cause)?;
        Ok(out)
    }
}
