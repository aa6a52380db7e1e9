//! A PostgreSQL table, or the rows of one SELECT, as a DataFusion table. A scan
//! is one `COPY (SELECT <columns> FROM <relation> AS t WHERE <filters> LIMIT n)
//! TO STDOUT` in a read-only transaction, decoded batch by batch as the rows
//! arrive: memory holds a batch and the socket's buffers, never the table.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Buf;
use datafusion::arrow::csv::ReaderBuilder;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::StreamExt;
use prism_dataflow::model::TableSource;

use super::pushdown::condition;
use super::types::Column;
use crate::engine::remote::PostgresSource;
use crate::engine::*;

pub use prism_connections::postgres::{quote_ident, quote_literal};

/// A table or query of a PostgreSQL connection.
#[derive(Debug)]
pub struct PostgresTable {
    source: Arc<PostgresSource>,
    /// What rows come from: `"schema"."table"`, or `(<query>)`.
    relation: String,
    columns: Vec<Column>,
    schema: SchemaRef,
}

impl PostgresTable {
    /// Learns the columns from the server (a statement prepared, not run).
    pub async fn open(
        source: Arc<PostgresSource>,
        from: &TableSource,
        parameters: &BTreeMap<String, String>,
    ) -> Result<PostgresTable, EngineError> {
        let relation = match from {
            TableSource::Table(name) => prism_connections::postgres::quote_qualified(name),
            TableSource::Query(query) => {
                // Vetted again: the message may not come from a gateway.
                prism_dataflow::sql::check(query)
                    .map_err(|e| dataflow_error(format!("query: {e}")))?;
                format!("({})", super::bind_parameters(query, parameters)?)
            }
        };
        let session = source.session().await?;
        let statement = session
            .client
            .prepare(&format!("SELECT * FROM {relation} AS t LIMIT 0"))
            .await
            .map_err(|e| source.failed(prism_connections::postgres::classify(&e)))?;
        let columns: Vec<Column> = statement
            .columns()
            .iter()
            .map(|c| Column::of(c.name(), c.type_()))
            .collect();
        let mut names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) || columns.is_empty() {
            return Err(dataflow_error(
                "the rows read need one or more columns, each with a name of its own",
            ));
        }
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| Field::new(&c.name, c.data_type.clone(), true))
            .collect();
        Ok(PostgresTable {
            source,
            relation,
            columns,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The statement a scan runs.
    fn copy_statement(&self, fetched: &[usize], filters: &[Expr], limit: Option<usize>) -> String {
        let select: Vec<String> = fetched.iter().map(|&i| self.columns[i].select()).collect();
        let mut sql = format!("SELECT {} FROM {} AS t", select.join(", "), self.relation);
        let conditions: Vec<String> = filters
            .iter()
            .filter_map(|f| condition(f, &self.columns))
            .collect();
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        if let Some(limit) = limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        format!("COPY ({sql}) TO STDOUT (FORMAT csv)")
    }
}

#[async_trait]
impl TableProvider for PostgresTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match condition(f, &self.columns) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.columns.len()).collect(),
        };
        // No column asked for (a count): the first is read, and dropped.
        let fetched = if wanted.is_empty() {
            vec![0]
        } else {
            wanted.clone()
        };
        let partition = CopyOut {
            source: self.source.clone(),
            statement: self.copy_statement(&fetched, filters, limit),
            fetched: Arc::new(self.schema.project(&fetched)?),
            schema: Arc::new(self.schema.project(&wanted)?),
        };
        let schema = partition.schema.clone();
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            vec![Arc::new(partition)],
            None,
            Vec::new(),
            false,
            None,
        )?))
    }
}

/// One scan's `COPY … TO STDOUT`, decoded as it streams.
#[derive(Debug)]
struct CopyOut {
    source: Arc<PostgresSource>,
    statement: String,
    /// What the statement selects.
    fetched: SchemaRef,
    /// What the scan answers (no columns for a count).
    schema: SchemaRef,
}

impl PartitionStream for CopyOut {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        // Two batches in flight: the decoder fills one while the plan takes the other.
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema.clone(), 2);
        let copy = CopyOut {
            source: self.source.clone(),
            statement: self.statement.clone(),
            fetched: self.fetched.clone(),
            schema: self.schema.clone(),
        };
        let (sender, batch_size) = (builder.tx(), ctx.session_config().batch_size());
        builder.spawn(async move { copy.stream(sender, batch_size).await });
        builder.build()
    }
}

impl CopyOut {
    /// Runs the statement and sends its rows as batches until the end, or until
    /// the plan stops asking (the receiver gone).
    async fn stream(
        self,
        sender: tokio::sync::mpsc::Sender<Result<RecordBatch>>,
        batch_size: usize,
    ) -> Result<()> {
        let failed = |e: EngineError| DataFusionError::External(Box::new(e));
        let source = &self.source;
        let session = source.session().await.map_err(failed)?;
        let pg = |e: tokio_postgres::Error| {
            failed(source.failed(prism_connections::postgres::classify(&e)))
        };
        // Read-only: a query that hides a write (a data-modifying WITH) fails.
        session
            .client
            .batch_execute("BEGIN READ ONLY")
            .await
            .map_err(pg)?;
        let copy = session.client.copy_out(&self.statement).await.map_err(pg)?;
        let mut copy = std::pin::pin!(copy);
        let mut decoder = ReaderBuilder::new(self.fetched.clone())
            .with_header(false)
            .with_batch_size(batch_size)
            .build_decoder();
        let mut ended = false;
        while !ended {
            let mut chunk = match copy.next().await {
                Some(chunk) => chunk.map_err(pg)?,
                None => {
                    ended = true;
                    bytes::Bytes::new()
                }
            };
            loop {
                let used = decoder.decode(chunk.chunk())?;
                chunk.advance(used);
                // A full batch, or the end of the rows: hand it on.
                let full = decoder.capacity() == 0 || (ended && chunk.is_empty());
                if full
                    && let Some(batch) = decoder.flush()?
                    && sender.send(Ok(self.project(batch)?)).await.is_err()
                {
                    return Ok(());
                }
                if !chunk.has_remaining() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// A decoded batch as the scan answers it (no columns for a count).
    fn project(&self, batch: RecordBatch) -> Result<RecordBatch> {
        if self.schema.fields().is_empty() {
            let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
            return Ok(RecordBatch::try_new_with_options(
                self.schema.clone(),
                vec![],
                &options,
            )?);
        }
        Ok(batch.with_schema(self.schema.clone())?)
    }
}
