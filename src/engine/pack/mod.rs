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

pub mod constants;
mod distinct;
mod subscription;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use datafusion::prelude::SessionContext;

use self::subscription::{EVENTS_STREAM, Hub, Sent, SharedScanTable, Subscriber, feed, order_by_sharing, to_plain};
use super::facts;
use super::session::{new_context_with, register_allowlists};
use crate::normalize::schema::{AUDIT_EVENTS_TABLE, audit_events_schema};
use crate::rules::allowlists::Allowlists;
use crate::{Error, Result};

/// What [`AuditLake::run_pack`](super::AuditLake::run_pack) returns.
#[derive(Debug)]
pub struct PackResults {
    /// Each rule's result batches, in the rules' order.
    pub results: Vec<(String, Vec<RecordBatch>)>,
    /// CPU time per rule plan, most expensive first.
    pub cost: Vec<(String, std::time::Duration)>,
    /// How many event-time chunks the window was evaluated in.
    pub chunks: usize,
    /// Rules that failed in any chunk (their results from the other chunks are kept).
    pub failed: Vec<RuleFailure>,
}

/// Each rule as the `(id, sql)` query the shared pack plans.
pub fn rule_queries<'a>(rules: &[&'a crate::rules::Rule]) -> Vec<(&'a str, &'a str)> {
    rules.iter().map(|r| (r.meta.id.as_str(), r.sql.as_str())).collect()
}

/// Rule plans' batch size (DataFusion's default is 8192).
const RULE_BATCH_ROWS: usize = 1024;

/// Optimizer passes over a rule's plan. A second one (DataFusion's default allows up to three)
/// changed nothing any rule's scan is sent and cost ~15% of planning the pack, the fixed cost of
/// every run (most of a scheduled run over a few minutes of a quiet cluster's events).
const RULE_OPTIMIZER_PASSES: usize = 1;

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
        let rules_ctx = new_context_with(config)?;
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
        let subquery_values = Arc::new(constants::SubqueryValues::default());
        for (i, (_, sql)) in queries.iter().enumerate() {
            let (ctx, sql, known) = (rules_ctx.clone(), (*sql).to_owned(), Arc::clone(&subquery_values));
            optimizing.spawn(async move {
                let planned = async {
                    let (state, plan) = constants::plan_sql_with(&ctx, &sql, &known).await?.into_parts();
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

/// CPU time a plan's operators reported (`elapsed_compute`, summed over the plan tree).
pub fn compute_time(plan: &Arc<dyn ExecutionPlan>) -> std::time::Duration {
    let own = plan.metrics().and_then(|m| m.elapsed_compute()).unwrap_or(0);
    let children: std::time::Duration = plan.children().into_iter().map(compute_time).sum();
    std::time::Duration::from_nanos(own as u64) + children
}

#[cfg(test)]
mod tests {
    use super::*;
    
    

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
}
