//! The whole rule pack over one shared scan.
//!
//! Running each rule as its own query decodes every landed object once per rule. Here the events
//! are decoded once and the shared facts (`k8s_events`) computed once; every batch is then offered
//! to every rule. Each rule's plan reads `k8s_events` (and `audit_events`, a view over it) from a
//! [`SharedScanTable`], whose scans subscribe to the one producer instead of reading storage. The
//! filters DataFusion pushes into a subscription (the rule's predicates on event columns) are
//! evaluated by the producer, per batch, so a subscriber only ever receives the rows it may match:
//! in effect one plan computing every rule's predicate, while each rule stays plain SQL.
//!
//! Subscriptions are unbounded so that a plan that reads one input before another (a hash join's
//! build side) can never stall the producer; what they hold is the pre-filtered rows, which for
//! detection predicates is a small fraction of the stream.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::kernels::boolean::and;
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::DFSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, PhysicalExpr, SendableRecordBatchStream};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};

use super::distinct::{DistinctValues, OnOneColumn, mask_of};
use super::facts;
use super::register_allowlists;
use crate::rules::allowlists::Allowlists;
use crate::normalize::schema::{AUDIT_EVENTS_TABLE, audit_events_schema};
use crate::{Error, Result};

type Batch = DfResult<RecordBatch>;

/// One conjunct of a subscription's pre-filter.
struct Conjunct {
    /// The physical expression's text: equal conjuncts of different rules share one evaluation
    /// per batch.
    key: String,
    expr: Arc<dyn PhysicalExpr>,
    /// What it has kept so far (shared by equal conjuncts of a stream).
    kept: Arc<Selectivity>,
    /// When it reads one string column and that pays (see [`order_by_sharing`]): evaluated once
    /// per distinct value of the batch.
    on_column: Option<OnOneColumn>,
    /// Set once a batch had too many distinct values in that column: evaluated per row since.
    many_values: AtomicBool,
}

/// The rows a conjunct has seen and kept, learnt as batches go by.
#[derive(Default)]
struct Selectivity {
    rows: AtomicU64,
    kept: AtomicU64,
}

impl Selectivity {
    fn record(&self, mask: &BooleanArray) {
        self.rows.fetch_add(mask.len() as u64, Ordering::Relaxed);
        self.kept.fetch_add(mask.true_count() as u64, Ordering::Relaxed);
    }

    /// The fraction of rows kept; 0 before any batch, so that every conjunct is tried early once.
    fn ratio(&self) -> f64 {
        let rows = self.rows.load(Ordering::Relaxed);
        if rows == 0 { 0.0 } else { self.kept.load(Ordering::Relaxed) as f64 / rows as f64 }
    }
}

impl Conjunct {
    fn new(expr: Arc<dyn PhysicalExpr>) -> Self {
        Conjunct { key: expr.to_string(), expr, kept: Arc::default(), on_column: None, many_values: AtomicBool::new(false) }
    }

    /// A cheap conjunct over whole batches of `schema`: one on a single string column may be
    /// evaluated per distinct value.
    fn cheap(expr: Arc<dyn PhysicalExpr>, schema: &Schema) -> Self {
        Conjunct { on_column: OnOneColumn::of(&expr, schema), ..Conjunct::new(expr) }
    }

    /// Its mask over `batch` (see [`mask_of`]), through the column's distinct values when it
    /// reads one string column and the batch has few of them.
    fn mask(&self, batch: &RecordBatch, distinct: &mut HashMap<usize, Option<DistinctValues>>) -> Option<BooleanArray> {
        if let Some(one) = &self.on_column
            && !self.many_values.load(Ordering::Relaxed)
        {
            match distinct.entry(one.column).or_insert_with(|| DistinctValues::of(batch.column(one.column))) {
                Some(values) => {
                    if let Some(mask) = one.mask(values) {
                        return Some(mask);
                    }
                }
                None => self.many_values.store(true, Ordering::Relaxed),
            }
        }
        mask_of(&self.expr, batch)
    }
}

/// One plan's subscription to the shared scan.
struct Subscriber {
    /// Which shared stream it reads: [`EVENTS_STREAM`] or a fact view's.
    stream: usize,
    /// Conjuncts on event columns and built-in functions, evaluated on the whole batch (and
    /// shared between subscribers).
    cheap: Vec<Conjunct>,
    /// Conjuncts calling fact or JSON functions (which parse request bodies), evaluated only on
    /// the rows the cheap conjuncts keep, over the [`narrowed`](Self::narrowed) columns.
    costly: Vec<Conjunct>,
    /// With costly conjuncts: the columns they and the plan read, taken before rows are copied.
    narrowed: Option<Vec<usize>>,
    /// The plan's columns (of the narrowed batch when there is one).
    projection: Vec<usize>,
    /// Every column of the stream it reads (plan and pre-filter): a fact view computes only these.
    reads: Vec<usize>,
    tx: UnboundedSender<Batch>,
    /// Batches sent and not yet taken by the plan.
    queued: Arc<AtomicUsize>,
    /// What it has been sent, for the debug log.
    sent: Arc<Sent>,
    /// Whether request bodies are copied out of the shared batch's buffers (see [`compact`]):
    /// rule plans may hold what they receive until they finish; a fact view streams it on.
    compact: bool,
    /// Whether the producer waits for this plan when it falls behind. Only plans with a single
    /// subscription may be waited for: a plan reading two (a self-join) may drain one only after
    /// the other has ended, and waiting for it could deadlock.
    bounded: bool,
}

/// Rows and bytes (Arrow memory; for string views, the views only, their bytes being shared)
/// a subscription has been sent.
#[derive(Default)]
struct Sent {
    rows: AtomicU64,
    bytes: AtomicU64,
}

/// Rule plans' batch size (DataFusion's default is 8192).
const RULE_BATCH_ROWS: usize = 1024;

/// Optimizer passes over a rule's plan. A second one (DataFusion's default allows up to three)
/// changed nothing any rule's scan is sent and cost ~15% of planning the pack, the fixed cost of
/// every run (most of a scheduled run over a few minutes of a quiet cluster's events).
const RULE_OPTIMIZER_PASSES: usize = 1;

/// Batches a bounded subscription may hold before the producer waits for its plan.
const MAX_QUEUED_BATCHES: usize = 8;

/// The subscribers of one shared scan, collected while the rule plans are built.
#[derive(Default)]
struct Hub {
    subscribers: Mutex<Vec<Subscriber>>,
}

impl Hub {
    fn len(&self) -> usize {
        self.subscribers.lock().expect("hub lock poisoned").len()
    }

    /// Drops the subscriptions added since there were `before`: a plan that failed after
    /// subscribing must not hold a share of the stream nobody reads.
    fn release(&self, before: usize) {
        self.subscribers.lock().expect("hub lock poisoned").truncate(before);
    }

    /// Hands the subscriptions added since there were `before` (the ones a plan just made) to
    /// `adjust`, and records them under `owner` for the debug log.
    fn claim(&self, before: usize, owner: &str, sent: &mut Vec<(String, Arc<Sent>)>, adjust: impl FnOnce(&mut [Subscriber])) {
        let mut subs = self.subscribers.lock().expect("hub lock poisoned");
        adjust(&mut subs[before..]);
        sent.extend(subs[before..].iter().map(|s| (owner.to_owned(), Arc::clone(&s.sent))));
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hub({} subscribers)", self.subscribers.lock().map(|s| s.len()).unwrap_or(0))
    }
}

/// The stream of `k8s_events` batches; fact views are streams 1, 2, ...
const EVENTS_STREAM: usize = 0;

/// `k8s_events` (or a fact view) as rule plans see it in a shared run: every scan is a
/// subscription to one stream.
#[derive(Debug)]
pub struct SharedScanTable {
    schema: SchemaRef,
    hub: Arc<Hub>,
    stream: usize,
}

/// A partition that yields what the producer sends to one subscription.
struct ChannelPartition {
    schema: SchemaRef,
    rx: Mutex<Option<UnboundedReceiver<Batch>>>,
    queued: Arc<AtomicUsize>,
}

impl std::fmt::Debug for ChannelPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelPartition")
    }
}

impl PartitionStream for ChannelPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let rx = self.rx.lock().expect("subscription lock poisoned").take();
        let schema = Arc::clone(&self.schema);
        let queued = Arc::clone(&self.queued);
        match rx {
            Some(rx) => Box::pin(RecordBatchStreamAdapter::new(
                schema,
                rx.inspect(move |_| {
                    queued.fetch_sub(1, Ordering::Relaxed);
                }),
            )),
            None => Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::once(async { Err(DataFusionError::Internal("a shared-scan subscription was executed twice".into())) }),
            )),
        }
    }
}

#[async_trait]
impl TableProvider for SharedScanTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Applied by the producer as a pre-filter; DataFusion applies them again above the scan.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, filters: &[Expr], _limit: Option<usize>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let df_schema = DFSchema::try_from(self.schema.as_ref().clone())?;
        // A conjunct the producer cannot evaluate is simply not pre-applied.
        let (mut cheap, mut costly_exprs) = (Vec::new(), Vec::new());
        for e in filters.iter().flat_map(|f| split_conjunction(f)) {
            let Ok(expr) = state.create_physical_expr(e.clone(), &df_schema) else { continue };
            if is_costly(&expr) {
                costly_exprs.push(e.clone());
            } else {
                cheap.push(Conjunct::cheap(expr, &self.schema));
            }
        }
        let columns_of = |e: &Expr| -> Vec<usize> { e.column_refs().into_iter().filter_map(|c| self.schema.index_of(&c.name).ok()).collect() };
        let wanted = projection.cloned().unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let mut reads: Vec<usize> = wanted.iter().copied().chain(filters.iter().flat_map(columns_of)).collect();
        reads.sort_unstable();
        reads.dedup();
        // Costly conjuncts run on the rows the cheap ones keep, copied out of the batch: copy
        // only the columns they and the plan read (request bodies are most of a batch's bytes).
        let (narrowed, projection, costly) = if costly_exprs.is_empty() {
            (None, wanted.clone(), Vec::new())
        } else {
            let mut needed = wanted.clone();
            needed.extend(costly_exprs.iter().flat_map(columns_of));
            needed.sort_unstable();
            needed.dedup();
            let narrow_schema = DFSchema::try_from(self.schema.project(&needed)?)?;
            let costly = costly_exprs
                .into_iter()
                .filter_map(|e| state.create_physical_expr(e, &narrow_schema).ok())
                .map(Conjunct::new)
                .collect();
            let relative = wanted.iter().map(|w| needed.iter().position(|n| n == w).expect("needed holds wanted")).collect();
            (Some(needed), relative, costly)
        };
        let projected = Arc::new(self.schema.project(&wanted)?);
        let (tx, rx) = unbounded();
        let queued = Arc::new(AtomicUsize::new(0));
        self.hub.subscribers.lock().expect("hub lock poisoned").push(Subscriber {
            stream: self.stream,
            cheap,
            costly,
            narrowed,
            projection,
            reads,
            compact: true,
            tx,
            queued: Arc::clone(&queued),
            sent: Arc::default(),
            bounded: true,
        });
        let partition = Arc::new(ChannelPartition { schema: Arc::clone(&projected), rx: Mutex::new(Some(rx)), queued });
        Ok(Arc::new(StreamingTableExec::try_new(projected, vec![partition as Arc<dyn PartitionStream>], None, Vec::new(), false, None)?))
    }
}

/// Whether evaluating `expr` parses request bodies or otherwise costs far more than comparing
/// event columns: any function of ours (`k8s_*`) or of the JSON function family.
fn is_costly(expr: &Arc<dyn PhysicalExpr>) -> bool {
    if let Some(f) = expr.downcast_ref::<ScalarFunctionExpr>() {
        let name = f.name();
        if name.starts_with("k8s_") || name.starts_with("json_") {
            return true;
        }
    }
    expr.children().into_iter().any(is_costly)
}

/// Offers one batch to every subscriber: evaluate its pre-filter (cheap conjuncts on the whole
/// batch, each distinct one once per batch; costly ones only on the rows those keep), project,
/// then copy only the matching rows of the projected columns, and send; waits while a bounded
/// subscriber's plan is behind, so memory stays flat however large the window.
async fn fan_out(batch: &RecordBatch, subscribers: &[Subscriber]) {
    let mut masks: HashMap<&str, Option<BooleanArray>> = HashMap::new();
    let mut distinct: HashMap<usize, Option<DistinctValues>> = HashMap::new();
    let mut order: Vec<(bool, f64, &Conjunct)> = Vec::new();
    for s in subscribers {
        // A subscriber that hung up (its plan failed or finished early) costs nothing more.
        if s.tx.is_closed() {
            continue;
        }
        let mut mask: Option<BooleanArray> = None;
        let mut none_left = false;
        // Once no row is left the rest are not evaluated, which for selective detection
        // predicates is most of them. So: masks this batch already has first (free), then the
        // most selective so far (ties: most shared first, see `order_by_sharing`). The keys are
        // read once: other producers update the ratios while this one sorts.
        order.clear();
        order.extend(s.cheap.iter().map(|c| (!masks.contains_key(c.key.as_str()), c.kept.ratio(), c)));
        order.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        for &(_, _, c) in &order {
            let m = masks.entry(c.key.as_str()).or_insert_with(|| {
                let m = c.mask(batch, &mut distinct);
                if let Some(m) = &m {
                    c.kept.record(m);
                }
                m
            });
            if let Some(m) = m {
                let acc = match mask {
                    Some(acc) => and(&acc, m).unwrap_or(acc),
                    None => m.clone(),
                };
                none_left = acc.true_count() == 0;
                mask = Some(acc);
                if none_left {
                    break;
                }
            }
        }
        if none_left {
            continue;
        }
        let out = select(batch, mask, s);
        if s.bounded {
            while s.queued.load(Ordering::Relaxed) >= MAX_QUEUED_BATCHES && !s.tx.is_closed() {
                tokio::time::sleep(std::time::Duration::from_micros(200)).await;
            }
        }
        // A subscriber that hung up meanwhile just stops receiving.
        if let Some(out) = out {
            if let Ok(b) = &out {
                s.sent.rows.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                s.sent.bytes.fetch_add(sent_bytes(b), Ordering::Relaxed);
            }
            if s.tx.unbounded_send(out).is_err() {
                continue;
            }
            s.queued.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What sending `batch` copied: string views count their 16 bytes per row, not the shared
/// buffers they point into.
fn sent_bytes(batch: &RecordBatch) -> u64 {
    let column = |c: &ArrayRef| match c.as_string_view_opt() {
        Some(views) => views.views().inner().len(),
        None => c.get_array_memory_size(),
    };
    batch.columns().iter().map(column).sum::<usize>() as u64
}

/// The rows of `batch` subscriber `s` receives: those `mask` keeps, narrowed by each costly
/// conjunct in turn, projected, and compacted when it is a rule's. `None` when no row is left.
fn select(batch: &RecordBatch, mask: Option<BooleanArray>, s: &Subscriber) -> Option<Batch> {
    let rows = select_rows(batch, mask, s)?;
    Some(if s.compact { rows.and_then(compact) } else { rows })
}

fn select_rows(batch: &RecordBatch, mask: Option<BooleanArray>, s: &Subscriber) -> Option<Batch> {
    let project = |b: &RecordBatch| -> Batch { Ok(b.project(&s.projection)?) };
    let narrowed = match &s.narrowed {
        Some(cols) => batch.project(cols),
        // No costly conjuncts: project first, so only the plan's columns are copied.
        None => {
            return Some(project(batch).and_then(|p| match &mask {
                Some(m) => Ok(filter_record_batch(&p, m)?),
                None => Ok(p),
            }));
        }
    };
    let narrowed = match narrowed {
        Ok(b) => b,
        Err(e) => return Some(Err(e.into())),
    };
    let mut rows = match &mask {
        Some(m) => match filter_record_batch(&narrowed, m) {
            Ok(b) => b,
            Err(e) => return Some(Err(e.into())),
        },
        None => narrowed,
    };
    for c in &s.costly {
        // A conjunct that fails to evaluate is left to the plan.
        if let Some(m) = mask_of(&c.expr, &rows) {
            let kept = m.true_count();
            if kept == 0 {
                return None;
            }
            if kept < rows.num_rows() {
                rows = match filter_record_batch(&rows, &m) {
                    Ok(b) => b,
                    Err(e) => return Some(Err(e.into())),
                };
            }
        }
    }
    Some(project(&rows))
}

/// A prepared pack: each rule's physical plan, subscribed to the shared scan.
pub struct SharedPack {
    source: Arc<dyn ExecutionPlan>,
    task_ctx: Arc<TaskContext>,
    rules_task_ctx: Arc<TaskContext>,
    hub: Arc<Hub>,
    /// The fact views (`k8s_pod_writes`, ...): each computed once from the events stream by its
    /// own plan; view `i`'s output is stream `i + 1` for the rules reading it (`None`: no rule
    /// reads it).
    views: Vec<Option<Arc<dyn ExecutionPlan>>>,
    plans: Vec<(String, Arc<dyn ExecutionPlan>)>,
    /// What each subscription (by rule or view) was sent.
    sent: Vec<(String, Arc<Sent>)>,
    /// Rules that failed to plan: they are left out, the rest run.
    failed: Vec<RuleFailure>,
}

/// A rule that could not be planned or failed while running; the other rules' results stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFailure {
    pub id: String,
    pub error: String,
}

impl std::fmt::Display for RuleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule {}: {}", self.id, self.error)
    }
}

/// What a pack run returns: each rule's results (in the rules' order, failed rules left out) and
/// the rules that failed.
#[derive(Debug, Default)]
pub struct PackOutput {
    pub results: Vec<(String, Vec<RecordBatch>)>,
    pub failed: Vec<RuleFailure>,
}

impl PackOutput {
    /// The results, or an error naming the first rule that failed (for callers that need every
    /// rule's answer, such as `query` and fixture tests).
    pub fn all_or_error(self) -> Result<Vec<(String, Vec<RecordBatch>)>> {
        match self.failed.into_iter().next() {
            Some(f) => Err(Error::RuleFailed { rule: f.id, error: f.error }),
            None => Ok(self.results),
        }
    }
}

impl SharedPack {
    /// Plans every rule against a session whose `k8s_events` is fed by `source_ctx`'s
    /// `k8s_events` (computed once), and whose fact views are computed once from it (so a body
    /// is parsed once per event, not once per rule reading the view).
    pub async fn plan(source_ctx: &SessionContext, queries: &[(&str, &str)], allowlists: &Allowlists) -> Result<Self> {
        let started = std::time::Instant::now();
        let source = source_ctx.sql("SELECT * FROM k8s_events").await?.create_physical_plan().await?;
        let hub = Arc::new(Hub::default());
        // One partition per rule plan: the pack's many plans already keep every core busy, and
        // repartitioning each plan's input (round-robin, then by group key) only copied rows.
        // Smaller batches: a filter copies every batch under half the batch size into a full one,
        // and what a subscription delivers is already filtered, so coalescing it to 8192 rows
        // copied request bodies once more (per fact view and per rule) for nothing.
        let config = datafusion::prelude::SessionConfig::new()
            .with_target_partitions(1)
            .with_batch_size(RULE_BATCH_ROWS)
            .set_usize("datafusion.optimizer.max_passes", RULE_OPTIMIZER_PASSES);
        let rules_ctx = super::new_context_with(config)?;
        register_allowlists(&rules_ctx, allowlists)?;
        let events = SharedScanTable { schema: source.schema(), hub: Arc::clone(&hub), stream: EVENTS_STREAM };
        rules_ctx.register_table("k8s_events", Arc::new(events))?;
        // `audit_events` is the event columns of the same stream.
        let columns: Vec<String> = audit_events_schema().fields().iter().map(|f| format!("\"{}\"", f.name())).collect();
        let audit = rules_ctx.sql(&format!("SELECT {} FROM k8s_events", columns.join(", "))).await?.into_view();
        rules_ctx.register_table(AUDIT_EVENTS_TABLE, audit)?;
        facts::register_udfs(&rules_ctx);
        // Fact views are registered by their logical schema and planned after the rules, so that
        // each computes and sends only the columns its rules read: `k8s_pod_writes` passes on
        // workload writes with their request bodies, and copying the other columns' bodies
        // (`response_object`) for rules that never read them was most of the pack's copying.
        let mut view_frames = Vec::new();
        for (name, sql) in facts::FACT_VIEWS.iter().filter(|(n, _)| *n != "k8s_events") {
            let frame = rules_ctx.sql(sql).await?;
            let stream = view_frames.len() + 1;
            let schema = Arc::new(frame.schema().as_arrow().clone());
            rules_ctx.register_table(*name, Arc::new(SharedScanTable { schema, hub: Arc::clone(&hub), stream }))?;
            view_frames.push((*name, frame));
        }
        let mut sent = Vec::new();
        // Parsing, inlining allow-lists and optimizing are most of the planning and run on every
        // core. Physical planning, where scans subscribe, stays one rule at a time, so a rule's
        // subscriptions are the ones added while it is planned.
        let mut optimizing = tokio::task::JoinSet::new();
        let subquery_values = Arc::new(super::constants::SubqueryValues::default());
        for (i, (_, sql)) in queries.iter().enumerate() {
            let (ctx, sql, known) = (rules_ctx.clone(), (*sql).to_owned(), Arc::clone(&subquery_values));
            optimizing.spawn(async move {
                let planned = async {
                    let (state, plan) = super::constants::plan_sql_with(&ctx, &sql, &known).await?.into_parts();
                    let plan = state.optimize(&plan)?;
                    Ok::<_, DataFusionError>((state, plan))
                };
                (i, planned.await)
            });
        }
        let mut optimized = Vec::with_capacity(queries.len());
        while let Some(done) = optimizing.join_next().await {
            optimized.push(done.map_err(|e| Error::Output(format!("rule planning task failed: {e}")))?);
        }
        let optimized_at = started.elapsed();
        optimized.sort_by_key(|(i, _)| *i);
        let mut plans = Vec::with_capacity(queries.len());
        let mut failed = Vec::new();
        for ((id, _), (_, planned)) in queries.iter().zip(optimized) {
            let before = hub.len();
            let physical = match planned {
                Ok((state, logical)) => state.query_planner().create_physical_plan(&logical, &state).await,
                Err(e) => Err(e),
            };
            match physical {
                Ok(plan) => {
                    hub.claim(before, id, &mut sent, |subs| {
                        if subs.len() > 1 {
                            for s in subs {
                                s.bounded = false;
                            }
                        }
                    });
                    plans.push(((*id).to_owned(), plan));
                }
                Err(e) => {
                    hub.release(before);
                    tracing::error!(rule = *id, error = %e, "rule does not plan; the other rules run without it");
                    failed.push(RuleFailure { id: (*id).to_owned(), error: e.to_string() });
                }
            }
        }
        let physical_at = started.elapsed();
        let mut views = Vec::new();
        for (i, (name, frame)) in view_frames.into_iter().enumerate() {
            let stream = i + 1;
            let reads: std::collections::BTreeSet<usize> = hub.subscribers.lock().expect("hub lock poisoned").iter().filter(|s| s.stream == stream).flat_map(|s| s.reads.iter().copied()).collect();
            if reads.is_empty() {
                // No rule reads it: it is not computed at all.
                views.push(None);
                continue;
            }
            let before = hub.len();
            let plan = only_columns(frame, &reads)?.create_physical_plan().await?;
            hub.claim(before, name, &mut sent, |subs| {
                for s in subs {
                    s.compact = false;
                }
            });
            tracing::debug!(view = name, plan = %datafusion::physical_plan::displayable(plan.as_ref()).indent(false), "fact view plan");
            views.push(Some(plan));
        }
        tracing::debug!(?optimized_at, ?physical_at, total = ?started.elapsed(), rules = queries.len(), "pack planned");
        Ok(SharedPack { source, task_ctx: source_ctx.task_ctx(), rules_task_ctx: rules_ctx.task_ctx(), hub, views, plans, sent, failed })
    }

    /// Each rule's physical plan (to read its metrics after [`SharedPack::execute`]).
    pub fn plans(&self) -> Vec<(String, Arc<dyn ExecutionPlan>)> {
        self.plans.clone()
    }

    /// How many subscriptions the rule plans (and fact views) hold on the shared scan.
    pub fn subscriptions(&self) -> usize {
        self.hub.subscribers.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Rules that did not plan (left out of the pack).
    pub fn failed(&self) -> &[RuleFailure] {
        &self.failed
    }

    /// Runs the scan once and every rule over it; results per rule, in the rules' order. A rule
    /// that fails (to plan or while running) is reported in [`PackOutput::failed`] and the others'
    /// results stand; a failure of the shared scan itself fails the whole pack.
    pub async fn execute(self) -> Result<PackOutput> {
        let mut failed = self.failed;
        let all = std::mem::take(&mut *self.hub.subscribers.lock().expect("hub lock poisoned"));
        let mut by_stream: Vec<Vec<Subscriber>> = (0..=self.views.len()).map(|_| Vec::new()).collect();
        for s in all {
            let stream = s.stream;
            by_stream[stream].push(s);
        }
        for subscribers in &mut by_stream {
            order_by_sharing(subscribers);
        }
        let mut by_stream = by_stream.into_iter();
        let event_subscribers = Arc::new(by_stream.next().unwrap_or_default());
        let mut rule_tasks = tokio::task::JoinSet::new();
        for (i, (id, plan)) in self.plans.into_iter().enumerate() {
            let ctx = Arc::clone(&self.rules_task_ctx);
            rule_tasks.spawn(async move { (i, id, datafusion::physical_plan::collect(plan, ctx).await) });
        }
        let mut producers = tokio::task::JoinSet::new();
        // Fact views: each partition of a view's plan feeds the view's subscribers.
        for (plan, subscribers) in self.views.iter().zip(by_stream) {
            let Some(plan) = plan else { continue };
            let subscribers = Arc::new(subscribers);
            for partition in 0..plan.output_partitioning().partition_count() {
                let stream = plan.execute(partition, Arc::clone(&self.rules_task_ctx))?;
                producers.spawn(feed(stream, Arc::clone(&subscribers)));
            }
        }
        for partition in 0..self.source.output_partitioning().partition_count() {
            let stream = self.source.execute(partition, Arc::clone(&self.task_ctx))?;
            producers.spawn(feed(stream, Arc::clone(&event_subscribers)));
        }
        drop(event_subscribers);
        let mut producer_error = None;
        while let Some(done) = producers.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => producer_error = Some(Error::from(e)),
                Err(join) => producer_error = Some(Error::Output(format!("shared scan task failed: {join}"))),
            }
        }
        // Every producer is done and the last sender dropped: subscriptions end, plans finish.
        let mut results: Vec<Option<(String, Vec<RecordBatch>)>> = Vec::new();
        while let Some(done) = rule_tasks.join_next().await {
            // Rule results carry bodies as plain strings, as a query of its own returns them.
            let (i, id, outcome) = done.map_err(|join| Error::Output(format!("rule task failed: {join}")))?;
            match outcome.and_then(|batches| batches.into_iter().map(to_plain).collect::<DfResult<Vec<_>>>()) {
                Ok(batches) => {
                    if results.len() <= i {
                        results.resize(i + 1, None);
                    }
                    results[i] = Some((id, batches));
                }
                // A scan error reaches every rule; it is reported once, as the scan's.
                Err(_) if producer_error.is_some() => {}
                Err(e) => {
                    tracing::error!(rule = id.as_str(), error = %e, "rule failed; the other rules' results stand");
                    failed.push(RuleFailure { id, error: e.to_string() });
                }
            }
        }
        if tracing::enabled!(tracing::Level::DEBUG) {
            for (owner, sent) in &self.sent {
                let (rows, bytes) = (sent.rows.load(Ordering::Relaxed), sent.bytes.load(Ordering::Relaxed));
                tracing::debug!(owner = owner.as_str(), rows, mib = bytes as f64 / (1 << 20) as f64, "subscription sent");
            }
        }
        if let Some(e) = producer_error {
            return Err(e);
        }
        Ok(PackOutput { results: results.into_iter().flatten().collect(), failed })
    }
}

/// `frame` with the columns not in `reads` replaced by NULLs of their type (the schema stays the
/// same, so its subscribers' column indices hold): DataFusion then neither reads those columns
/// from the stream nor computes them. A column whose type has no NULL literal is kept.
fn only_columns(frame: datafusion::dataframe::DataFrame, reads: &std::collections::BTreeSet<usize>) -> DfResult<datafusion::dataframe::DataFrame> {
    use datafusion::common::{Column, ScalarValue};
    use datafusion::logical_expr::lit;
    let exprs: Vec<Expr> = frame
        .schema()
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| match ScalarValue::try_from(field.data_type()) {
            Ok(null) if !reads.contains(&i) => lit(null).alias(field.name()),
            _ => Expr::Column(Column::new(qualifier.cloned(), field.name())),
        })
        .collect();
    frame.select(exprs)
}

/// Gives equal conjuncts of a stream one [`Selectivity`], and orders each subscriber's cheap
/// conjuncts by how many subscribers share them, most first: the order `fan_out` keeps among
/// conjuncts equally selective so far (shared masks are computed once per batch anyway). Keeps
/// per-distinct-value evaluation for the conjuncts where it pays.
fn order_by_sharing(subscribers: &mut [Subscriber]) {
    let mut shared: HashMap<String, (usize, Arc<Selectivity>)> = HashMap::new();
    // Distinct conjuncts per string column: those share the column's distinct values.
    let mut on_column: HashMap<usize, usize> = HashMap::new();
    for c in subscribers.iter().flat_map(|s| &s.cheap) {
        match shared.entry(c.key.clone()) {
            Entry::Occupied(mut e) => e.get_mut().0 += 1,
            Entry::Vacant(e) => {
                e.insert((1, Arc::clone(&c.kept)));
                if let Some(one) = &c.on_column {
                    *on_column.entry(one.column).or_default() += 1;
                }
            }
        }
    }
    for s in subscribers.iter_mut() {
        for c in &mut s.cheap {
            c.kept = Arc::clone(&shared[&c.key].1);
            if c.on_column.as_ref().is_some_and(|one| !one.worth_it(on_column[&one.column])) {
                c.on_column = None;
            }
        }
        s.cheap.sort_by_key(|c| std::cmp::Reverse(shared[&c.key].0));
    }
}

/// Request and response bodies travel the events stream as string views (`audit_events` holds
/// them so: views of the text they were decoded from).
///
/// Bodies are most of a batch's bytes, and every subscriber receives a copy of the rows it keeps:
/// `k8s_pod_writes` alone was sent every workload write with its bodies (446 MiB per 1M typed
/// events). As views (16 bytes per row, pointing into the decoded batch's buffers) selecting rows
/// copies only the views. Rule plans may hold rows until they finish, which would keep whole
/// batches' buffers alive for a few rows, so what a rule receives is compacted (the kept rows'
/// bytes copied, few); fact views stream their rows on and receive views.
fn compact(batch: RecordBatch) -> DfResult<RecordBatch> {
    if !batch.schema().fields().iter().any(|f| f.data_type() == &DataType::Utf8View) {
        return Ok(batch);
    }
    let columns = batch.columns().iter().map(|c| match c.as_string_view_opt() {
        Some(views) => Arc::new(views.gc()) as ArrayRef,
        None => Arc::clone(c),
    });
    Ok(RecordBatch::try_new(batch.schema(), columns.collect())?)
}

/// `batch` with every view column cast back to `Utf8`: rule results carry bodies as plain strings.
fn to_plain(batch: RecordBatch) -> DfResult<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| f.data_type() == &DataType::Utf8View) {
        return Ok(batch);
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| if f.data_type() == &DataType::Utf8View { f.as_ref().clone().with_data_type(DataType::Utf8) } else { f.as_ref().clone() })
        .collect();
    let columns = batch.columns().iter().map(|c| if c.data_type() == &DataType::Utf8View { cast(c, &DataType::Utf8) } else { Ok(Arc::clone(c)) });
    Ok(RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())), columns.collect::<Result<Vec<_>, _>>()?)?)
}

/// Drives one partition of a shared stream, offering every batch to its subscribers (the events
/// stream's with bodies as views); an error is passed to every subscriber (their plans fail with
/// it) and returned.
async fn feed(mut stream: SendableRecordBatchStream, subscribers: Arc<Vec<Subscriber>>) -> DfResult<()> {
    while let Some(batch) = stream.next().await {
        match batch {
            Ok(b) => fan_out(&b, &subscribers).await,
            Err(e) => {
                let msg = e.to_string();
                for s in subscribers.iter() {
                    let _ = s.tx.unbounded_send(Err(DataFusionError::Execution(msg.clone())));
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// CPU time a plan's operators reported (`elapsed_compute`, summed over the plan tree).
pub fn compute_time(plan: &Arc<dyn ExecutionPlan>) -> std::time::Duration {
    let own = plan.metrics().and_then(|m| m.elapsed_compute()).unwrap_or(0);
    let children: std::time::Duration = plan.children().into_iter().map(compute_time).sum();
    std::time::Duration::from_nanos(own as u64) + children
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::schema::REQUEST_OBJECT;
    use datafusion::arrow::array::{Int32Array, StringArray, StringViewArray};

    /// Rule plans get one optimizer pass ([`RULE_OPTIMIZER_PASSES`]): statements whose rewrites
    /// feed one another (nested and correlated subqueries, outer joins a filter makes inner,
    /// HAVING over a subquery) still plan, and return what DataFusion's default passes return.
    #[tokio::test]
    async fn one_optimizer_pass_plans_what_the_default_passes_plan() {
        let session = |passes: usize| async move {
            let ctx = SessionContext::new_with_config(datafusion::prelude::SessionConfig::new().set_usize("datafusion.optimizer.max_passes", passes));
            ctx.sql("CREATE TABLE e(ns VARCHAR, usr VARCHAR, n INT) AS VALUES ('a', 'u1', 1), ('a', 'u2', 2), ('b', 'u1', 3), ('c', NULL, 4), (NULL, 'u3', 5)").await.unwrap();
            ctx.sql("CREATE TABLE l(value VARCHAR, list VARCHAR) AS VALUES ('a', 'x'), ('u1', 'y'), ('b', 'x')").await.unwrap();
            ctx
        };
        let (one, default) = (session(RULE_OPTIMIZER_PASSES).await, session(3).await);
        for sql in [
            "SELECT n FROM e WHERE EXISTS (SELECT 1 FROM e e2 WHERE e2.usr = e.usr AND e2.n <> e.n AND e2.ns IN (SELECT value FROM l WHERE list = 'x')) ORDER BY n",
            "SELECT n, (SELECT count(*) FROM e e2 WHERE e2.ns = e.ns) AS same_ns FROM e ORDER BY n",
            "SELECT n FROM e WHERE ns NOT IN (SELECT value FROM l WHERE l.list = 'x' AND l.value <> coalesce(e.usr, '')) ORDER BY n",
            "SELECT usr, count(*) AS c FROM e GROUP BY usr HAVING count(*) >= (SELECT count(*) FROM l WHERE list = 'y') ORDER BY usr",
            "SELECT e.n FROM e LEFT JOIN l ON e.ns = l.value WHERE l.list = 'x' AND e.n > 1 ORDER BY e.n",
            "SELECT n FROM (SELECT n, row_number() OVER (PARTITION BY ns ORDER BY n DESC) AS r FROM e WHERE usr IS NOT NULL) WHERE r = 1 ORDER BY n",
            "SELECT n FROM e WHERE ns = 'a' UNION ALL SELECT n FROM e WHERE usr IN (SELECT value FROM l) ORDER BY n",
        ] {
            let got = one.sql(sql).await.unwrap().collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            let expected = default.sql(sql).await.unwrap().collect().await.unwrap();
            let show = |b: &[RecordBatch]| datafusion::arrow::util::pretty::pretty_format_batches(b).unwrap().to_string();
            assert_eq!(show(&got), show(&expected), "{sql}");
        }
    }

    /// What a rule keeps of the events stream is compacted to its own rows' bytes; results come
    /// back as the plain strings they were.
    #[test]
    fn bodies_travel_as_views_and_come_back_as_strings() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("response_code", DataType::Int32, true),
            Field::new(REQUEST_OBJECT, DataType::Utf8, true),
            Field::new("verb", DataType::Utf8, true),
        ]));
        let bodies: Vec<Option<String>> = (0..100).map(|i| (i % 7 != 0).then(|| format!("{{\"kind\":\"Pod\",\"spec\":{{\"n\":{i},\"pad\":\"{}\"}}}}", "x".repeat(200)))).collect();
        let original = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int32Array::from_iter_values(0..100)),
                Arc::new(StringArray::from(bodies.clone())),
                Arc::new(StringArray::from_iter_values((0..100).map(|i| if i % 2 == 0 { "get" } else { "create" }))),
            ],
        )
        .unwrap();
        // As the scan sends them: bodies as views of the decoded text.
        let streamed = RecordBatch::try_new(
            Arc::new(Schema::new(vec![schema.field(0).clone(), schema.field(1).clone().with_data_type(DataType::Utf8View), schema.field(2).clone()])),
            vec![
                Arc::clone(original.column(0)),
                Arc::new(StringViewArray::from(original.column(1).as_string::<i32>())),
                Arc::clone(original.column(2)),
            ],
        )
        .unwrap();
        let keep = BooleanArray::from_iter((0..100).map(|i| Some(i == 3 || i == 14 || i == 50)));
        let kept = filter_record_batch(&streamed, &keep).unwrap();
        let compacted = compact(kept.clone()).unwrap();
        let bytes: usize = compacted.column(1).as_string_view().data_buffers().iter().map(|b| b.len()).sum();
        assert!(bytes < 3 * 300, "compacted to the kept rows' bytes, got {bytes}");
        let plain = to_plain(compacted).unwrap();
        assert_eq!(plain, filter_record_batch(&original, &keep).unwrap());
        assert_eq!(sent_bytes(&kept), (kept.column(0).get_array_memory_size() + 3 * 16 + kept.column(2).get_array_memory_size()) as u64);
    }
}
