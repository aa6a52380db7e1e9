//! Per-stage statistics of a streaming run. A read or query stage is a lazy table
//! that the writes pull rows through, so nothing marks where one stage ends and the
//! next begins once DataFusion has planned them together. Each such stage is
//! therefore registered behind a [`MeteredTable`], whose scans count the rows the
//! stage hands on and when it did so, without holding any of them.
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::{
    ChildStats, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, RecordBatchStream,
    SendableRecordBatchStream, Statistics, StatisticsArgs,
};
use futures::{Stream, StreamExt};

/// What one stage's scans have handed on so far, and its span, closed when the
/// last of its streams ends.
#[derive(Debug, Default)]
pub(crate) struct StageMeter {
    rows: AtomicU64,
    started: OnceLock<Instant>,
    ended: Mutex<Option<Instant>>,
    /// Streams of this stage not yet ended.
    open: AtomicUsize,
    span: Mutex<Option<tracing::Span>>,
    /// The plans that ran beneath the meter, for the rows their file scans read.
    inputs: Mutex<Vec<Arc<dyn ExecutionPlan>>>,
}

impl StageMeter {
    pub fn new(span: tracing::Span) -> Arc<StageMeter> {
        Arc::new(StageMeter {
            span: Mutex::new(Some(span)),
            ..StageMeter::default()
        })
    }

    pub fn rows_out(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// From the first scan to the end of the last stream; 0 if never scanned.
    pub fn elapsed_ms(&self) -> u64 {
        let ended = *self.ended.lock().expect("meter lock");
        match (self.started.get(), ended) {
            (Some(started), Some(ended)) => {
                ended.saturating_duration_since(*started).as_millis() as u64
            }
            _ => 0,
        }
    }

    /// Scanned, and every stream of it has ended.
    pub fn ended(&self) -> bool {
        self.started.get().is_some() && self.open.load(Ordering::Acquire) == 0
    }

    /// The plans that ran beneath the meter.
    pub fn inputs(&self) -> Vec<Arc<dyn ExecutionPlan>> {
        self.inputs.lock().expect("meter lock").clone()
    }

    /// Ends the stage's span (if still open) with what the stage did.
    pub fn close_span(&self) {
        let span = self.span.lock().expect("meter lock").take();
        if let Some(span) = span {
            span.record("rows_out", self.rows_out());
            span.record("elapsed_ms", self.elapsed_ms());
        }
    }

    fn opened(&self, input: &Arc<dyn ExecutionPlan>) {
        self.started.get_or_init(Instant::now);
        self.open.fetch_add(1, Ordering::Relaxed);
        let mut inputs = self.inputs.lock().expect("meter lock");
        if !inputs.iter().any(|known| Arc::ptr_eq(known, input)) {
            inputs.push(input.clone());
        }
    }

    fn closed(&self) {
        *self.ended.lock().expect("meter lock") = Some(Instant::now());
        if self.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close_span();
        }
    }
}

/// A stage's table, scanned through its meter. Filters and projections still reach
/// the table beneath, so metering costs the optimizer nothing there.
#[derive(Debug)]
pub(crate) struct MeteredTable {
    pub inner: Arc<dyn TableProvider>,
    pub meter: Arc<StageMeter>,
}

#[async_trait]
impl TableProvider for MeteredTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = self.inner.scan(state, projection, filters, limit).await?;
        Ok(Arc::new(MeteredExec::new(input, self.meter.clone())))
    }
}

/// Passes its input's batches through unchanged, counting them into the meter.
#[derive(Debug, Clone)]
struct MeteredExec {
    input: Arc<dyn ExecutionPlan>,
    meter: Arc<StageMeter>,
    properties: Arc<PlanProperties>,
}

impl MeteredExec {
    fn new(input: Arc<dyn ExecutionPlan>, meter: Arc<StageMeter>) -> MeteredExec {
        let properties = input.properties().clone();
        MeteredExec {
            input,
            meter,
            properties,
        }
    }
}

impl DisplayAs for MeteredExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MeteredExec")
    }
}

impl ExecutionPlan for MeteredExec {
    fn name(&self) -> &str {
        "MeteredExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return datafusion::common::internal_err!("MeteredExec has one input");
        }
        let input = children.swap_remove(0);
        Ok(Arc::new(match options.children_properties {
            ChildrenPropertiesMode::Keep => MeteredExec {
                input,
                ..MeteredExec::clone(&self)
            },
            ChildrenPropertiesMode::Recompute => MeteredExec::new(input, self.meter.clone()),
        }))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn with_new_children_and_same_properties(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep),
        )
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(input_stats[0].clone())
    }

    fn supports_limit_pushdown(&self) -> bool {
        true
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context)?;
        self.meter.opened(&self.input);
        Ok(Box::pin(Counted {
            inner: stream,
            meter: self.meter.clone(),
            ended: false,
        }))
    }
}

/// One partition of a metered stage: counts each batch, and its end (or its drop,
/// when the run stops early) is the stage's end on this partition.
struct Counted {
    inner: SendableRecordBatchStream,
    meter: Arc<StageMeter>,
    ended: bool,
}

impl Counted {
    fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            self.meter.closed();
        }
    }
}

impl Stream for Counted {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) => {
                let rows = batch.num_rows() as u64;
                self.meter.rows.fetch_add(rows, Ordering::Relaxed);
            }
            Poll::Ready(None) => self.end(),
            _ => {}
        }
        polled
    }
}

impl RecordBatchStream for Counted {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.end();
    }
}
