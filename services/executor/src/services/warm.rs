//! A service version's plans, kept warm. Parsing, optimizing and physically planning
//! the SQL cost far more than running it over one request's rows, so each version
//! plans once per set of parameter values: the SQL stages become views over each
//! other, the output stage one physical plan whose leaf for the request rows is a
//! [`RequestInput`]. Each call takes a copy of that plan with its own rows in the
//! leaf and every operator's state reset (DataFusion's `reset_plan_states`, made
//! for re-running a plan), so concurrent calls share nothing they could mix up.
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result as DfResult, project_schema};
use datafusion::execution::TaskContext;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    ReplaceChildrenOptions, SendableRecordBatchStream, execute_stream,
};
use datafusion::prelude::{SessionConfig, SessionContext};

use prism_dataflow::quality::{FieldSteps, SurviveSpec, sql};

use crate::engine::{self, Table};

/// Sets of parameter values planned per version; past this the cache starts over,
/// so callers varying parameters cannot grow an executor's memory without bound.
const MAX_WARM: usize = 64;

/// A stage planned as a view: its id, and how its SQL is written.
pub(crate) struct SqlStage {
    pub id: String,
    pub sql: StageSql,
}

pub(crate) enum StageSql {
    /// Known when compiled: the text with `$pN` placeholders, and the names they
    /// stand for (a SQL stage; a `validate` stage's views; a `match`'s pairs).
    Text {
        text: String,
        names: Vec<String>,
    },
    /// Written when planned, from the columns of `input`.
    Standardize {
        input: String,
        fields: Vec<FieldSteps>,
    },
    Survive(SurviveSpec),
}

impl SqlStage {
    /// A query as a SQL stage is written, `${name}` placeholders and all.
    pub(crate) fn query(id: &str, query: &str) -> SqlStage {
        let (text, names) = prism_dataflow::sql::to_placeholders(query);
        SqlStage {
            id: id.into(),
            sql: StageSql::Text { text, names },
        }
    }

    /// The stage's SQL for a session where its inputs are registered.
    async fn text(&self, ctx: &SessionContext) -> Result<(String, Vec<String>), String> {
        let query = match &self.sql {
            StageSql::Text { text, names } => return Ok((text.clone(), names.clone())),
            StageSql::Standardize { input, fields } => {
                let columns = engine::columns(ctx, input)
                    .await
                    .map_err(|e| e.to_string())?;
                sql::standardize(input, &columns, fields)
            }
            StageSql::Survive(spec) => {
                let columns: Vec<String> = engine::columns(ctx, &spec.input)
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect();
                sql::survive(spec, &columns)
            }
        };
        prism_dataflow::sql::check(&query).map_err(|e| e.to_string())?;
        Ok(prism_dataflow::sql::to_placeholders(&query))
    }
}

pub(crate) struct Plans {
    input: (String, SchemaRef),
    references: Vec<(String, Table)>,
    stages: Vec<SqlStage>,
    /// The stage whose rows are the answer.
    output: String,
    runtime: Arc<RuntimeEnv>,
    warm: Mutex<HashMap<BTreeMap<String, String>, Warm>>,
}

#[derive(Clone)]
struct Warm {
    plan: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
}

impl Plans {
    pub(crate) fn new(
        input: (String, SchemaRef),
        references: Vec<(String, Table)>,
        stages: Vec<SqlStage>,
        output: String,
        runtime: Arc<RuntimeEnv>,
    ) -> Self {
        Plans {
            input,
            references,
            stages,
            output,
            runtime,
            warm: Mutex::new(HashMap::new()),
        }
    }

    /// The output stage's rows for `rows` (batches of the input schema), holding at
    /// most `budget` bytes of them.
    pub(crate) async fn run(
        &self,
        rows: Vec<RecordBatch>,
        values: &BTreeMap<String, String>,
        budget: usize,
    ) -> Result<Table, String> {
        let warm = self.warm(values).await?;
        let plan = with_rows(warm.plan, rows).map_err(|e| e.to_string())?;
        let schema = plan.schema();
        let stream = execute_stream(plan, warm.task).map_err(|e| e.to_string())?;
        engine::collect_stream(schema, stream, &self.output, &mut 0, budget)
            .await
            .map_err(|e| e.to_string())
    }

    async fn warm(&self, values: &BTreeMap<String, String>) -> Result<Warm, String> {
        if let Some(warm) = self.cache().get(values) {
            return Ok(warm.clone());
        }
        let warm = self.plan(values).await?;
        let mut cache = self.cache();
        if cache.len() >= MAX_WARM {
            cache.clear();
        }
        cache.insert(values.clone(), warm.clone());
        Ok(warm)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<BTreeMap<String, String>, Warm>> {
        self.warm.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Plans the output stage for `values`: each SQL stage, its values bound, is a
    /// view the next ones read.
    async fn plan(&self, values: &BTreeMap<String, String>) -> Result<Warm, String> {
        // One partition: a request is a few rows, and calls in flight already use
        // every core; dynamic filters are off because a plan that carries them
        // cannot be re-run.
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .set_bool("datafusion.optimizer.enable_dynamic_filter_pushdown", false);
        let ctx = SessionContext::new_with_config_rt(config, self.runtime.clone());
        engine::similarity::register(&ctx);
        let (input_id, schema) = &self.input;
        ctx.register_table(input_id, Arc::new(RequestTable(schema.clone())))
            .map_err(|e| e.to_string())?;
        for (id, table) in &self.references {
            engine::register(&ctx, id, table).map_err(|e| e.to_string())?;
        }
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        for stage in &self.stages {
            let failed = |e: String| format!("stage {}: {e}", stage.id);
            let (text, names) = stage.text(&ctx).await.map_err(failed)?;
            let frame = ctx
                .sql_with_options(&text, options)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let frame = engine::bind(frame, &names, values).map_err(failed)?;
            ctx.register_table(&stage.id, frame.into_view())
                .map_err(|e| failed(e.to_string()))?;
        }
        let plan = ctx
            .table(&self.output)
            .await
            .map_err(|e| e.to_string())?
            .create_physical_plan()
            .await
            .map_err(|e| format!("stage {}: {e}", self.output))?;
        Ok(Warm {
            plan,
            task: ctx.task_ctx(),
        })
    }
}

/// A copy of `plan` to run once: `rows` in each request leaf, every other operator
/// reset to the state it had before it first ran.
fn with_rows(
    plan: Arc<dyn ExecutionPlan>,
    rows: Vec<RecordBatch>,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| match node.downcast_ref::<RequestInput>() {
        Some(leaf) => Ok(Transformed::yes(Arc::new(leaf.holding(rows.clone())))),
        None => node.reset_state().map(Transformed::yes),
    })
    .map(|t| t.data)
}

/// The request rows as a table the SQL can name; planned as an empty [`RequestInput`].
#[derive(Debug)]
struct RequestTable(SchemaRef);

#[async_trait]
impl TableProvider for RequestTable {
    fn schema(&self) -> SchemaRef {
        self.0.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(RequestInput::new(
            &self.0,
            projection.cloned(),
            limit,
        )?))
    }
}

/// The leaf that yields one call's rows (projected and limited as planned).
#[derive(Debug, Clone)]
struct RequestInput {
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
    limit: Option<usize>,
    rows: Vec<RecordBatch>,
    properties: Arc<PlanProperties>,
}

impl RequestInput {
    fn new(
        full: &SchemaRef,
        projection: Option<Vec<usize>>,
        limit: Option<usize>,
    ) -> DfResult<Self> {
        let schema = project_schema(full, projection.as_ref())?;
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(RequestInput {
            schema,
            projection,
            limit,
            rows: Vec::new(),
            properties: Arc::new(properties),
        })
    }

    fn holding(&self, rows: Vec<RecordBatch>) -> Self {
        RequestInput {
            rows,
            ..self.clone()
        }
    }
}

impl DisplayAs for RequestInput {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RequestInput")
    }
}

impl ExecutionPlan for RequestInput {
    fn name(&self) -> &str {
        "RequestInput"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let stream = MemoryStream::try_new(
            self.rows.clone(),
            self.schema.clone(),
            self.projection.clone(),
        )?
        .with_fetch(self.limit);
        Ok(Box::pin(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn input_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("code", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ]))
    }

    fn rows(codes: &[&str], n: i64) -> Vec<RecordBatch> {
        let batch = RecordBatch::try_new(
            input_schema(),
            vec![
                Arc::new(StringArray::from(codes.to_vec())),
                Arc::new(Int64Array::from(vec![n; codes.len()])),
            ],
        )
        .unwrap();
        vec![batch]
    }

    fn cities() -> Table {
        let schema = Arc::new(Schema::new(vec![
            Field::new("code", DataType::Utf8, false),
            Field::new("city", DataType::Utf8, false),
            Field::new("size", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["B1", "P2", "R3"])),
                Arc::new(StringArray::from(vec!["Berlin", "Paris", "Rome"])),
                Arc::new(Int64Array::from(vec![3, 2, 1])),
            ],
        )
        .unwrap();
        Table {
            schema,
            batches: vec![batch],
        }
    }

    /// Two stages (the second reads the first) and a typed parameter.
    fn plans() -> Plans {
        let stage = SqlStage::query;
        Plans::new(
            ("input".into(), input_schema()),
            vec![("cities".into(), cities())],
            vec![
                stage(
                    "found",
                    "SELECT i.code, i.n, c.city, c.size FROM input i JOIN cities c ON c.code = i.code",
                ),
                stage(
                    "big",
                    "SELECT code, city, n FROM found WHERE size >= ${min} ORDER BY code",
                ),
            ],
            "big".into(),
            RuntimeEnv::default().into(),
        )
    }

    async fn answer(plans: &Plans, codes: &[&str], n: i64, min: i64) -> Vec<(String, String, i64)> {
        let values = BTreeMap::from([("min".to_string(), min.to_string())]);
        let table = plans.run(rows(codes, n), &values, 1 << 20).await.unwrap();
        let mut out = Vec::new();
        for batch in &table.batches {
            let column = |i: usize| batch.column(i).clone();
            let (code, city, n) = (column(0), column(1), column(2));
            let code = code.as_any().downcast_ref::<StringArray>().unwrap();
            let city = city.as_any().downcast_ref::<StringArray>().unwrap();
            let n = n.as_any().downcast_ref::<Int64Array>().unwrap();
            for r in 0..batch.num_rows() {
                out.push((code.value(r).into(), city.value(r).into(), n.value(r)));
            }
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_calls_on_one_warm_plan_each_see_only_their_own_rows() {
        let plans = Arc::new(plans());
        let calls = (0..200).map(|i| {
            let plans = plans.clone();
            tokio::spawn(async move {
                let codes: &[&str] = [&["B1", "P2"][..], &["R3"], &["P2", "X9", "R3"]][i % 3];
                let min = (i % 4) as i64;
                let got = answer(&plans, codes, i as i64, min).await;
                let mut want: Vec<(String, String, i64)> =
                    [("B1", "Berlin", 3), ("P2", "Paris", 2), ("R3", "Rome", 1)]
                        .into_iter()
                        .filter(|(code, _, size)| codes.contains(code) && *size >= min)
                        .map(|(code, city, _)| (code.to_string(), city.to_string(), i as i64))
                        .collect();
                want.sort();
                assert_eq!(got, want, "call {i}");
            })
        });
        for call in futures::future::join_all(calls).await {
            call.unwrap();
        }
        assert_eq!(plans.cache().len(), 4, "one warm plan per set of values");
    }

    #[tokio::test]
    async fn the_warm_plans_are_bounded_whatever_values_callers_send() {
        let plans = plans();
        for min in 0..(MAX_WARM as i64 * 2 + 5) {
            answer(&plans, &["B1"], 1, min).await;
            assert!(plans.cache().len() <= MAX_WARM);
        }
        let values = BTreeMap::from([("min".to_string(), "many".to_string())]);
        let refused = plans.run(rows(&["B1"], 1), &values, 1 << 20).await;
        assert!(
            refused.err().is_some_and(|e| e.contains("min")),
            "a value of the wrong type is refused by name"
        );
    }
}
