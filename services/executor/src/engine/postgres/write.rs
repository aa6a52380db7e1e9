//! Writing rows into a PostgreSQL table exactly once. During the run, the rows
//! stream with `COPY … FROM STDIN` into a temporary table of the write's own
//! session (it vanishes with the session: an attempt that dies leaves nothing
//! behind). At commit, one transaction records the job's write in the
//! `prism_job_commits` ledger and moves the rows into the target; the ledger's
//! key (job, stage) is the proof of ownership inside PostgreSQL: a second attempt
//! of the same job, a superseded one or a redelivery finds the key taken, moves
//! nothing and drops its rows. No reader ever sees part of a batch.
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use futures::SinkExt;
use prism_dataflow::model::WriteMode;

use super::read::quote_ident;
use super::types::sql_type;
use crate::engine::remote::{PostgresSource, Session};
use crate::engine::*;

/// The ledger of committed writes, in the connection's default schema.
const LEDGER: &str = "prism_job_commits";
const STAGING: &str = "prism_staging";

/// Where a database write goes.
pub struct TableTarget<'a> {
    pub table: &'a str,
    pub mode: WriteMode,
    pub keys: &'a [String],
    pub job_id: &'a str,
    pub stage: &'a str,
    pub attempt: u32,
}

/// Rows copied into the staging table of a session, waiting for the commit.
pub struct StagedTable {
    session: Session,
    source: std::sync::Arc<PostgresSource>,
    target: String,
    /// The target's definition when it does not exist yet: made at commit.
    create: Option<String>,
    columns: Vec<String>,
    mode: WriteMode,
    keys: Vec<String>,
    job_id: String,
    stage: String,
    attempt: u32,
    copy: Option<std::pin::Pin<Box<tokio_postgres::CopyInSink<bytes::Bytes>>>>,
    rows: u64,
}

impl StagedTable {
    /// A session with its staging table, shaped like the target (or like the rows,
    /// when the target is yet to be made), ready to copy rows in.
    pub async fn begin(
        source: std::sync::Arc<PostgresSource>,
        target: TableTarget<'_>,
        schema: &Schema,
    ) -> Result<StagedTable, EngineError> {
        let session = source.session().await?;
        let pg =
            |e: tokio_postgres::Error| source.failed(prism_connections::postgres::classify(&e));
        ensure_ledger(&session.client).await.map_err(pg)?;
        let quoted = prism_connections::postgres::quote_qualified(target.table);
        let exists: Option<String> = session
            .client
            .query_one("SELECT to_regclass($1)::text", &[&quoted])
            .await
            .map_err(pg)?
            .get(0);
        let columns: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| quote_ident(f.name()))
            .collect();
        let definition: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{} {}", quote_ident(f.name()), sql_type(f.data_type())))
            .collect();
        let staging = match exists {
            Some(_) => format!(
                "CREATE TEMP TABLE {STAGING} AS SELECT {} FROM {quoted} WITH NO DATA",
                columns.join(", ")
            ),
            None => format!("CREATE TEMP TABLE {STAGING} ({})", definition.join(", ")),
        };
        session.client.batch_execute(&staging).await.map_err(pg)?;
        let copy = format!(
            "COPY {STAGING} ({}) FROM STDIN (FORMAT csv)",
            columns.join(", ")
        );
        let sink = session.client.copy_in(&copy).await.map_err(pg)?;
        Ok(StagedTable {
            create: exists.is_none().then(|| definition.join(", ")),
            session,
            source: source.clone(),
            target: quoted,
            columns,
            mode: target.mode,
            keys: target.keys.iter().map(|k| quote_ident(k)).collect(),
            job_id: target.job_id.to_string(),
            stage: target.stage.to_string(),
            attempt: target.attempt,
            copy: Some(Box::pin(sink)),
            rows: 0,
        })
    }

    /// Copies one batch in, as CSV.
    pub async fn send(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        let mut text = Vec::with_capacity(batch.get_array_memory_size());
        {
            let mut writer = WriterBuilder::new().with_header(false).build(&mut text);
            writer.write(batch).map_err(dataflow_error)?;
        }
        let copy = self
            .copy
            .as_mut()
            .ok_or_else(|| io_error("copy finished"))?;
        copy.send(bytes::Bytes::from(text)).await.map_err(|e| {
            self.source
                .failed(prism_connections::postgres::classify(&e))
        })?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Ends the copy: the rows are in the staging table. Answers how many.
    pub async fn finish(&mut self) -> Result<u64, EngineError> {
        if let Some(mut copy) = self.copy.take() {
            copy.as_mut().finish().await.map_err(|e| {
                self.source
                    .failed(prism_connections::postgres::classify(&e))
            })?;
        }
        Ok(self.rows)
    }

    /// Moves the staged rows into the target in one transaction with the ledger's
    /// entry; if the job's write is in the ledger already, moves nothing.
    pub async fn commit(mut self) -> Result<(), EngineError> {
        let source = self.source.clone();
        let pg =
            |e: tokio_postgres::Error| source.failed(prism_connections::postgres::classify(&e));
        let statements = self.statements();
        let transaction = self.session.client.transaction().await.map_err(pg)?;
        let recorded = transaction
            .execute(
                &format!(
                    "INSERT INTO {LEDGER} (job_id, stage, attempt) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
                ),
                &[&self.job_id, &self.stage, &(self.attempt as i32)],
            )
            .await
            .map_err(pg)?;
        if recorded == 0 {
            tracing::info!(stage = %self.stage, "rows committed by an earlier attempt; this one's dropped");
            return Ok(());
        }
        transaction.batch_execute(&statements).await.map_err(pg)?;
        transaction.commit().await.map_err(pg)
    }

    fn statements(&self) -> String {
        let (target, columns) = (&self.target, self.columns.join(", "));
        let mut sql = String::new();
        if let Some(definition) = &self.create {
            sql.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {target} ({definition});"
            ));
        }
        if self.mode == WriteMode::Replace {
            sql.push_str(&format!("DELETE FROM {target};"));
        }
        sql.push_str(&format!(
            "INSERT INTO {target} ({columns}) SELECT {columns} FROM {STAGING}"
        ));
        if self.mode == WriteMode::Upsert {
            let updates: Vec<String> = self
                .columns
                .iter()
                .filter(|c| !self.keys.contains(c))
                .map(|c| format!("{c} = EXCLUDED.{c}"))
                .collect();
            let action = if updates.is_empty() {
                "NOTHING".to_string()
            } else {
                format!("UPDATE SET {}", updates.join(", "))
            };
            sql.push_str(&format!(
                " ON CONFLICT ({}) DO {action}",
                self.keys.join(", ")
            ));
        }
        sql.push(';');
        sql
    }
}

/// Makes the ledger if it is missing. Two sessions may race to make it: the
/// loser's error (the table or its type exists) means it is there.
async fn ensure_ledger(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    let made = client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {LEDGER} (job_id text NOT NULL, stage text NOT NULL, \
             attempt integer NOT NULL, committed_at timestamptz NOT NULL DEFAULT now(), \
             PRIMARY KEY (job_id, stage))"
        ))
        .await;
    match made {
        Err(error)
            if error.code().is_some_and(|c| {
                *c == tokio_postgres::error::SqlState::DUPLICATE_TABLE
                    || *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            }) =>
        {
            Ok(())
        }
        other => other,
    }
}
