//! The subscription side of the shared scan: the [`SharedScanTable`] rule plans read, each scan of
//! it a subscription whose pushed-down filters the producer evaluates per batch (cheap conjuncts on
//! the whole batch, costly ones on what those keep), and the fan-out that offers every batch to
//! every subscriber.

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
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr, SendableRecordBatchStream};
use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};

use super::distinct::{DistinctValues, OnOneColumn, mask_of};
use crate::Result;

pub(super) type Batch = DfResult<RecordBatch>;

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
pub(super) struct Subscriber {
    /// Which shared stream it reads: [`EVENTS_STREAM`] or a fact view's.
    pub(super) stream: usize,
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
    pub(super) reads: Vec<usize>,
    tx: UnboundedSender<Batch>,
    /// Batches sent and not yet taken by the plan.
    queued: Arc<AtomicUsize>,
    /// What it has been sent, for the debug log.
    pub(super) sent: Arc<Sent>,
    /// Whether request bodies are copied out of the shared batch's buffers (see [`compact`]):
    /// rule plans may hold what they receive until they finish; a fact view streams it on.
    pub(super) compact: bool,
    /// Whether the producer waits for this plan when it falls behind. Only plans with a single
    /// subscription may be waited for: a plan reading two (a self-join) may drain one only after
    /// the other has ended, and waiting for it could deadlock.
    pub(super) bounded: bool,
}

/// Rows and bytes (Arrow memory; for string views, the views only, their bytes being shared)
/// a subscription has been sent.
#[derive(Default)]
pub(super) struct Sent {
    pub(super) rows: AtomicU64,
    pub(super) bytes: AtomicU64,
}

/// Batches a bounded subscription may hold before the producer waits for its plan.
const MAX_QUEUED_BATCHES: usize = 8;

/// The subscribers of one shared scan, collected while the rule plans are built.
#[derive(Default)]
pub(super) struct Hub {
    pub(super) subscribers: Mutex<Vec<Subscriber>>,
}

impl Hub {
    pub(super) fn len(&self) -> usize {
        self.subscribers.lock().expect("hub lock poisoned").len()
    }

    /// Drops the subscriptions added since there were `before`: a plan that failed after
    /// subscribing must not hold a share of the stream nobody reads.
    pub(super) fn release(&self, before: usize) {
        self.subscribers.lock().expect("hub lock poisoned").truncate(before);
    }

    /// Hands the subscriptions added since there were `before` (the ones a plan just made) to
    /// `adjust`, and records them under `owner` for the debug log.
    pub(super) fn claim(&self, before: usize, owner: &str, sent: &mut Vec<(String, Arc<Sent>)>, adjust: impl FnOnce(&mut [Subscriber])) {
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
pub(super) const EVENTS_STREAM: usize = 0;

/// `k8s_events` (or a fact view) as rule plans see it in a shared run: every scan is a
/// subscription to one stream.
#[derive(Debug)]
pub struct SharedScanTable {
    pub(super) schema: SchemaRef,
    pub(super) hub: Arc<Hub>,
    pub(super) stream: usize,
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

/// Gives equal conjuncts of a stream one [`Selectivity`], and orders each subscriber's cheap
/// conjuncts by how many subscribers share them, most first: the order `fan_out` keeps among
/// conjuncts equally selective so far (shared masks are computed once per batch anyway). Keeps
/// per-distinct-value evaluation for the conjuncts where it pays.
pub(super) fn order_by_sharing(subscribers: &mut [Subscriber]) {
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
pub(super) fn to_plain(batch: RecordBatch) -> DfResult<RecordBatch> {
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
pub(super) async fn feed(mut stream: SendableRecordBatchStream, subscribers: Arc<Vec<Subscriber>>) -> DfResult<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::schema::REQUEST_OBJECT;
    use datafusion::arrow::array::{Int32Array, StringArray, StringViewArray};

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