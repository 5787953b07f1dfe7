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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::DFSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, PhysicalExpr, SendableRecordBatchStream};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};

use super::facts;
use super::{Allowlists, register_allowlists};
use crate::normalize::schema::{AUDIT_EVENTS_TABLE, audit_events_schema};
use crate::{Error, Result};

type Batch = DfResult<RecordBatch>;

/// One plan's subscription to the shared scan.
struct Subscriber {
    filter: Option<Arc<dyn PhysicalExpr>>,
    projection: Option<Vec<usize>>,
    tx: UnboundedSender<Batch>,
    /// Batches sent and not yet taken by the plan.
    queued: Arc<AtomicUsize>,
    /// Whether the producer waits for this plan when it falls behind. Only plans with a single
    /// subscription may be waited for: a plan reading two (a self-join) may drain one only after
    /// the other has ended, and waiting for it could deadlock.
    bounded: bool,
}

/// Batches a bounded subscription may hold before the producer waits for its plan.
const MAX_QUEUED_BATCHES: usize = 8;

/// The subscribers of one shared scan, collected while the rule plans are built.
#[derive(Default)]
struct Hub {
    subscribers: Mutex<Vec<Subscriber>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hub({} subscribers)", self.subscribers.lock().map(|s| s.len()).unwrap_or(0))
    }
}

/// `k8s_events` as rule plans see it in a shared run: every scan is a subscription.
#[derive(Debug)]
pub struct SharedScanTable {
    schema: SchemaRef,
    hub: Arc<Hub>,
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
        // A filter the producer cannot evaluate is simply not pre-applied.
        let filter = conjunction(filters.iter().cloned()).and_then(|e| state.create_physical_expr(e, &df_schema).ok());
        let projected = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        };
        let (tx, rx) = unbounded();
        let queued = Arc::new(AtomicUsize::new(0));
        self.hub.subscribers.lock().expect("hub lock poisoned").push(Subscriber { filter, projection: projection.cloned(), tx, queued: Arc::clone(&queued), bounded: true });
        let partition = Arc::new(ChannelPartition { schema: Arc::clone(&projected), rx: Mutex::new(Some(rx)), queued });
        Ok(Arc::new(StreamingTableExec::try_new(projected, vec![partition as Arc<dyn PartitionStream>], None, Vec::new(), false, None)?))
    }
}

/// Offers one batch to every subscriber: evaluate its pre-filter, project, then copy only the
/// matching rows of the projected columns, and send; waits while a bounded subscriber's plan is
/// behind, so memory stays flat however large the window.
async fn fan_out(batch: &RecordBatch, subscribers: &[Subscriber]) {
    for s in subscribers {
        let mask = s.filter.as_ref().and_then(|f| f.evaluate(batch).and_then(|v| v.into_array(batch.num_rows())).ok());
        let mask = mask.as_ref().map(|m| m.as_boolean());
        if mask.is_some_and(|m| m.true_count() == 0) {
            continue;
        }
        let projected = match &s.projection {
            Some(p) => match batch.project(p) {
                Ok(b) => b,
                Err(e) => {
                    let _ = s.tx.unbounded_send(Err(e.into()));
                    continue;
                }
            },
            None => batch.clone(),
        };
        // A mask that failed to evaluate sends the batch whole: the plan filters again anyway.
        let out = match mask {
            Some(m) => filter_record_batch(&projected, m).map_err(DataFusionError::from),
            None => Ok(projected),
        };
        if s.bounded {
            while s.queued.load(Ordering::Relaxed) >= MAX_QUEUED_BATCHES && !s.tx.is_closed() {
                tokio::time::sleep(std::time::Duration::from_micros(200)).await;
            }
        }
        // A subscriber that hung up (its plan failed or finished early) just stops receiving.
        if s.tx.unbounded_send(out).is_ok() {
            s.queued.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A prepared pack: each rule's physical plan, subscribed to the shared scan.
pub struct SharedPack {
    source: Arc<dyn ExecutionPlan>,
    task_ctx: Arc<TaskContext>,
    rules_task_ctx: Arc<TaskContext>,
    hub: Arc<Hub>,
    plans: Vec<(String, Arc<dyn ExecutionPlan>)>,
}

impl SharedPack {
    /// Plans every rule against a session whose `k8s_events` is fed by `source_ctx`'s
    /// `k8s_events` (computed once).
    pub async fn plan(source_ctx: &SessionContext, queries: &[(&str, &str)], allowlists: &Allowlists) -> Result<Self> {
        let source = source_ctx.sql("SELECT * FROM k8s_events").await?.create_physical_plan().await?;
        let hub = Arc::new(Hub::default());
        let rules_ctx = super::new_context()?;
        register_allowlists(&rules_ctx, allowlists)?;
        let shared = SharedScanTable { schema: source.schema(), hub: Arc::clone(&hub) };
        rules_ctx.register_table("k8s_events", Arc::new(shared))?;
        // `audit_events` is the event columns of the same stream.
        let columns: Vec<String> = audit_events_schema().fields().iter().map(|f| format!("\"{}\"", f.name())).collect();
        let audit = rules_ctx.sql(&format!("SELECT {} FROM k8s_events", columns.join(", "))).await?.into_view();
        rules_ctx.register_table(AUDIT_EVENTS_TABLE, audit)?;
        facts::register_derived_views(&rules_ctx).await?;
        let mut plans = Vec::with_capacity(queries.len());
        for (id, sql) in queries {
            let before = hub.subscribers.lock().expect("hub lock poisoned").len();
            let plan = rules_ctx.sql(sql).await?.create_physical_plan().await?;
            let mut subs = hub.subscribers.lock().expect("hub lock poisoned");
            if subs.len() - before > 1 {
                for s in &mut subs[before..] {
                    s.bounded = false;
                }
            }
            drop(subs);
            plans.push(((*id).to_owned(), plan));
        }
        Ok(SharedPack { source, task_ctx: source_ctx.task_ctx(), rules_task_ctx: rules_ctx.task_ctx(), hub, plans })
    }

    /// How many subscriptions the rule plans hold on the shared scan.
    pub fn subscriptions(&self) -> usize {
        self.hub.subscribers.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Runs the scan once and every rule over it; results per rule, in the rules' order.
    pub async fn execute(self) -> Result<Vec<(String, Vec<RecordBatch>)>> {
        let subscribers = Arc::new(std::mem::take(&mut *self.hub.subscribers.lock().expect("hub lock poisoned")));
        let mut rule_tasks = tokio::task::JoinSet::new();
        for (i, (id, plan)) in self.plans.into_iter().enumerate() {
            let ctx = Arc::clone(&self.rules_task_ctx);
            rule_tasks.spawn(async move { (i, id, datafusion::physical_plan::collect(plan, ctx).await) });
        }
        let mut producers = tokio::task::JoinSet::new();
        for partition in 0..self.source.output_partitioning().partition_count() {
            let mut stream = self.source.execute(partition, Arc::clone(&self.task_ctx))?;
            let subscribers = Arc::clone(&subscribers);
            producers.spawn(async move {
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
            });
        }
        drop(subscribers);
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
        let mut rule_error = None;
        while let Some(done) = rule_tasks.join_next().await {
            match done {
                Ok((i, id, Ok(batches))) => {
                    if results.len() <= i {
                        results.resize(i + 1, None);
                    }
                    results[i] = Some((id, batches));
                }
                Ok((_, id, Err(e))) => rule_error = Some(Error::Output(format!("rule {id}: {e}"))),
                Err(join) => rule_error = Some(Error::Output(format!("rule task failed: {join}"))),
            }
        }
        if let Some(e) = producer_error.or(rule_error) {
            return Err(e);
        }
        Ok(results.into_iter().flatten().collect())
    }
}
