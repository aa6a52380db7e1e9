//! The data quality stages of a run. `validate`, `standardize` and `survive` are
//! views (their SQL from `prism_dataflow::quality::sql`), computed as the writes
//! drain them like any query. `match` runs when it is reached: its candidate pairs
//! stream from the blocking joins through the comparisons, and only the pairs that
//! reach the threshold are kept (at most [`MAX_PAIRS`]), as a table the later
//! stages read, with the transitive groups computed from them.
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use futures::StreamExt;
use prism_dataflow::quality::{self, Check, FieldSteps, MatchSpec, SurviveSpec, sql};
use tokio_util::sync::CancellationToken;

use super::Stages;
use crate::engine::{EngineError, dataflow_error};

/// Pairs a `match` stage keeps: what its clusters are computed from, in memory.
pub const MAX_PAIRS: usize = 5_000_000;

impl Stages<'_> {
    /// The valid rows as the stage; the rejects registered as `<id>_rejects`.
    pub(super) async fn validate(
        &mut self,
        id: &str,
        input: &str,
        checks: &[Check],
        span: &tracing::Span,
    ) -> Result<Arc<dyn TableProvider>, EngineError> {
        let (valid, rejects) = sql::validate(input, checks);
        let rejected = self.sql(id, &rejects).await?;
        let name = format!("{id}{}", quality::REJECTS_SUFFIX);
        let meter = self.register(&name, rejected, span)?;
        self.second = Some((name, meter));
        self.sql(id, &valid).await
    }

    pub(super) async fn standardize(
        &mut self,
        id: &str,
        input: &str,
        fields: &[FieldSteps],
    ) -> Result<Arc<dyn TableProvider>, EngineError> {
        let columns = self.columns(id, input).await?;
        self.sql(id, &sql::standardize(input, &columns, fields))
            .await
    }

    pub(super) async fn survive(
        &mut self,
        id: &str,
        spec: &SurviveSpec,
    ) -> Result<Arc<dyn TableProvider>, EngineError> {
        let columns: Vec<String> = self
            .columns(id, &spec.input)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        if !columns.contains(&spec.cluster) {
            return Err(dataflow_error(format!(
                "stage {id}: {} has no column {:?} to group by",
                spec.input, spec.cluster
            )));
        }
        self.sql(id, &sql::survive(spec, &columns)).await
    }

    /// The columns of stage `input`, each with whether it holds text.
    async fn columns(&mut self, id: &str, input: &str) -> Result<Vec<(String, bool)>, EngineError> {
        let ctx = self.ctx()?;
        crate::engine::columns(ctx, input)
            .await
            .map_err(|e| dataflow_error(format!("stage {id}: {e}")))
    }

    /// The pairs that reach the threshold, as a table; within one input, the input
    /// with each record's `cluster_id` registered as `<id>_clusters`.
    pub(super) async fn matched(
        &mut self,
        id: &str,
        spec: &MatchSpec,
        span: &tracing::Span,
        cancel: &CancellationToken,
    ) -> Result<Arc<dyn TableProvider>, EngineError> {
        let view = self.sql(id, &sql::match_pairs(spec)).await?;
        let confinement = self.spec.confinement;
        let failed = |e: datafusion::error::DataFusionError| {
            dataflow_error(format!("stage {id}: {}", confinement.explain(e)))
        };
        let ctx = self.ctx()?.clone();
        let frame = ctx.read_table(view).map_err(failed)?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let mut stream = frame.execute_stream().await.map_err(failed)?;
        let (mut batches, mut rows) = (Vec::new(), 0usize);
        loop {
            let next = tokio::select! {
                next = stream.next() => next,
                () = cancel.cancelled() => return Err(EngineError::Cancelled),
            };
            let Some(batch) = next else { break };
            let batch = batch.map_err(failed)?;
            rows += batch.num_rows();
            if rows > MAX_PAIRS {
                return Err(dataflow_error(format!(
                    "stage {id}: more than {MAX_PAIRS} pairs reach the threshold; raise it, or block more narrowly"
                )));
            }
            batches.push(batch);
        }
        if spec.link.is_none() {
            let ids = clusters(&batches).map_err(|e| dataflow_error(format!("stage {id}: {e}")))?;
            let ids_table = format!("{id}$cluster_ids");
            ctx.register_table(&ids_table, Arc::new(ids))
                .map_err(|e| dataflow_error(format!("stage {id}: {e}")))?;
            let grouped = self
                .sql(id, &sql::clusters(&spec.input, &spec.id_field, &ids_table))
                .await?;
            let name = format!("{id}{}", quality::CLUSTERS_SUFFIX);
            let meter = self.register(&name, grouped, span)?;
            self.second = Some((name, meter));
        }
        let pairs = MemTable::try_new(schema, vec![batches]).map_err(failed)?;
        Ok(Arc::new(pairs))
    }
}

/// The transitive groups of the pairs (`left_id`, `right_id`): each record of a
/// pair with its group's smallest id, as a table of `id`, `cluster_id`.
fn clusters(batches: &[RecordBatch]) -> Result<MemTable, datafusion::error::DataFusionError> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut parent: Vec<usize> = Vec::new();
    let mut slot = |name: &str, index: &mut HashMap<String, usize>| -> usize {
        if let Some(&i) = index.get(name) {
            return i;
        }
        let i = names.len();
        names.push(name.to_string());
        parent.push(i);
        index.insert(name.to_string(), i);
        i
    };
    let mut edges = Vec::new();
    for batch in batches {
        let column = |name: &str| -> Result<ArrayRef, datafusion::error::DataFusionError> {
            let found = batch.column_by_name(name).ok_or_else(|| {
                datafusion::error::DataFusionError::Internal(format!("pairs lack {name}"))
            })?;
            Ok(cast(found, &DataType::Utf8)?)
        };
        let (left, right) = (column("left_id")?, column("right_id")?);
        let left = left
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to text");
        let right = right
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to text");
        for row in 0..batch.num_rows() {
            if left.is_null(row) || right.is_null(row) {
                continue;
            }
            let a = slot(left.value(row), &mut index);
            let b = slot(right.value(row), &mut index);
            edges.push((a, b));
        }
    }
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (a, b) in edges {
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    // The smallest id of each group names it.
    let mut smallest: HashMap<usize, usize> = HashMap::new();
    for i in 0..names.len() {
        let r = root(&mut parent, i);
        let best = smallest.entry(r).or_insert(i);
        if names[i] < names[*best] {
            *best = i;
        }
    }
    let cluster: Vec<String> = (0..names.len())
        .map(|i| names[smallest[&root(&mut parent, i)]].clone())
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("cluster_id", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(cluster)),
        ],
    )?;
    MemTable::try_new(schema, vec![vec![batch]])
}
