//! DataFusion table providers: `audit_events` (every source, normalized), `rejects`, and one raw
//! table per source. Listing happens at plan time, pruned by the query window and by `event_time`
//! predicates in the SQL.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};

use super::report::{ScanReport, SourceCounts};
use super::scan::{ObjectGroup, RAW_OBJECT_COLUMN, RAW_ROW_COLUMN, ResolvedSource, ScanOutput, ScanShared, rejects_schema};
use crate::normalize::schema::{EVENT_TIME, SOURCE, SOURCE_NAME, audit_events_schema};
use crate::sources::listing::{LandedObject, ListingWindow, list_objects};

/// A query's event-time window, `[from, to)` in microseconds; either side may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl TimeWindow {
    /// Whether `t` lies in `[from, to)`.
    pub fn contains(&self, t: i64) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }

    /// Whether the open interval `(lo, hi)` meets the window.
    pub fn overlaps(&self, lo: i64, hi: i64) -> bool {
        self.from.is_none_or(|f| hi > f) && self.to.is_none_or(|e| lo < e)
    }

    fn intersect(self, other: TimeWindow) -> TimeWindow {
        TimeWindow {
            from: match (self.from, other.from) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            to: match (self.to, other.to) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

fn timestamp_micros(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampSecond(Some(x), _) => x.checked_mul(1_000_000),
        ScalarValue::TimestampMillisecond(Some(x), _) => x.checked_mul(1_000),
        ScalarValue::TimestampMicrosecond(Some(x), _) => Some(*x),
        ScalarValue::TimestampNanosecond(Some(x), _) => Some(x / 1_000),
        _ => None,
    }
}

/// Event-time bounds implied by one filter (`event_time >= ts`, `<`, `BETWEEN`, ...).
fn window_of(expr: &Expr) -> Option<TimeWindow> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (col_left, lit) = match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), Expr::Literal(v, _)) if c.name == EVENT_TIME => (true, timestamp_micros(v)?),
                (Expr::Literal(v, _), Expr::Column(c)) if c.name == EVENT_TIME => (false, timestamp_micros(v)?),
                _ => {
                    if *op == Operator::And {
                        let (l, r) = (window_of(left), window_of(right));
                        return match (l, r) {
                            (Some(l), Some(r)) => Some(l.intersect(r)),
                            (l, r) => l.or(r),
                        };
                    }
                    return None;
                }
            };
            let op = if col_left { *op } else { op.swap()? };
            match op {
                Operator::Gt | Operator::GtEq => Some(TimeWindow { from: Some(lit), to: None }),
                Operator::Lt => Some(TimeWindow { from: None, to: Some(lit) }),
                Operator::LtEq => Some(TimeWindow { from: None, to: Some(lit.saturating_add(1)) }),
                Operator::Eq => Some(TimeWindow { from: Some(lit), to: Some(lit.saturating_add(1)) }),
                _ => None,
            }
        }
        Expr::Between(b) if !b.negated => match (b.expr.as_ref(), b.low.as_ref(), b.high.as_ref()) {
            (Expr::Column(c), Expr::Literal(lo, _), Expr::Literal(hi, _)) if c.name == EVENT_TIME => Some(TimeWindow {
                from: Some(timestamp_micros(lo)?),
                to: Some(timestamp_micros(hi)?.saturating_add(1)),
            }),
            _ => None,
        },
        _ => None,
    }
}

/// Source names or formats a filter restricts the scan to (`source_name = 'x'`, `source IN (...)`).
fn sources_of(expr: &Expr) -> Option<(&'static str, Vec<String>)> {
    let column = |e: &Expr| match e {
        Expr::Column(c) if c.name == SOURCE_NAME => Some(SOURCE_NAME),
        Expr::Column(c) if c.name == SOURCE => Some(SOURCE),
        _ => None,
    };
    let text = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Utf8(Some(v)) | ScalarValue::Utf8View(Some(v)) | ScalarValue::LargeUtf8(Some(v)), _) => Some(v.clone()),
        _ => None,
    };
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) => match (column(left), column(right)) {
            (Some(c), None) => Some((c, vec![text(right)?])),
            (None, Some(c)) => Some((c, vec![text(left)?])),
            _ => None,
        },
        Expr::InList(l) if !l.negated => Some((column(&l.expr)?, l.list.iter().map(text).collect::<Option<Vec<_>>>()?)),
        _ => None,
    }
}

/// The sources `filters` leave in the scan.
fn selected_sources(sources: &[Arc<ResolvedSource>], filters: &[Expr]) -> Vec<Arc<ResolvedSource>> {
    sources
        .iter()
        .filter(|s| {
            filters.iter().filter_map(sources_of).all(|(col, values)| {
                let v = if col == SOURCE_NAME { s.config.name.as_str() } else { s.config.format.as_str() };
                values.iter().any(|x| x == v)
            })
        })
        .cloned()
        .collect()
}

/// Lists every source's objects that can hold events of `window` (event time).
pub(crate) async fn list_sources(sources: &[Arc<ResolvedSource>], window: TimeWindow, report: &ScanReport) -> DfResult<Vec<SourceObject>> {
    let mut all = Vec::new();
    for source in sources {
        let listing_window = match (window.from, window.to) {
            (None, None) => None,
            (from, to) => Some(ListingWindow {
                from: from.map_or(i64::MIN, |f| f.saturating_sub(source.clock_skew)),
                to: to.map_or(i64::MAX, |t| t.saturating_add(source.lateness)),
            }),
        };
        all.extend(list_source(source, listing_window, report).await?);
    }
    Ok(all)
}

/// Lists one source's objects in partitions overlapping `window` (partition time).
pub(crate) async fn list_source(source: &Arc<ResolvedSource>, window: Option<ListingWindow>, report: &ScanReport) -> DfResult<Vec<SourceObject>> {
    let (objects, stats) = list_objects(Arc::clone(&source.store), &source.location, &source.layout, &source.config.extension, window)
        .await
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
    tracing::debug!(source = %source.config.name, ?stats, objects = objects.len(), "listed");
    report.add(&source.config.name, &SourceCounts { objects_listed: objects.len() as u64, ..Default::default() });
    Ok(objects.into_iter().map(|o| (Arc::clone(source), o)).collect())
}

/// Splits objects into `partitions` plan partitions of even size: largest first, each to the
/// lightest group.
fn group_objects(mut all: Vec<SourceObject>, partitions: usize) -> Vec<Vec<SourceObject>> {
    all.sort_by_key(|o| std::cmp::Reverse(o.1.meta.size));
    let n = partitions.max(1);
    let mut groups: Vec<(u64, Vec<_>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for item in all {
        let g = groups.iter_mut().min_by_key(|g| g.0).expect("at least one group");
        g.0 += item.1.meta.size;
        g.1.push(item);
    }
    groups.into_iter().map(|g| g.1).collect()
}

/// A landed object with the source it belongs to.
pub type SourceObject = (Arc<ResolvedSource>, LandedObject);

/// The normalized `audit_events` table (or, with [`ScanOutput::Rejects`], the `rejects` table).
#[derive(Debug)]
pub struct AuditEventsTable {
    sources: Vec<Arc<ResolvedSource>>,
    window: TimeWindow,
    output: ScanOutput,
    report: Arc<ScanReport>,
    batch_size: usize,
    /// Which objects are read.
    scope: ObjectScope,
}

/// Which objects a scan reads.
#[derive(Debug, Clone, Default)]
pub enum ObjectScope {
    /// The sources' objects that can hold the window's events (listing, pruned by partitions).
    #[default]
    Listing,
    /// Exactly these objects, whatever their partitions (a scheduled run's newly landed ones).
    Pinned(Arc<Vec<SourceObject>>),
    /// The listing plus these objects (context for a run's correlation rules, which must include
    /// the new objects even when they landed later than any partition margin allows).
    ListingPlus(Arc<Vec<SourceObject>>),
}

impl ObjectScope {
    /// The scope for a chunk of the window: extra objects only where their partitions can hold
    /// events of `window` (objects without a partition time always).
    pub fn within(&self, window: TimeWindow) -> ObjectScope {
        match self {
            ObjectScope::ListingPlus(extra) => ObjectScope::ListingPlus(Arc::new(
                extra
                    .iter()
                    .filter(|(source, object)| source.event_span(object).is_none_or(|(lo, hi)| window.overlaps(lo, hi)))
                    .cloned()
                    .collect(),
            )),
            other => other.clone(),
        }
    }
}

impl AuditEventsTable {
    pub fn new(sources: Vec<Arc<ResolvedSource>>, window: TimeWindow, output: ScanOutput, report: Arc<ScanReport>, batch_size: usize) -> Self {
        AuditEventsTable { sources, window, output, report, batch_size, scope: ObjectScope::Listing }
    }

    /// The table over other objects than the listing's.
    pub fn with_scope(mut self, scope: ObjectScope) -> Self {
        self.scope = scope;
        self
    }
}

#[async_trait]
impl TableProvider for AuditEventsTable {
    fn schema(&self) -> SchemaRef {
        match self.output {
            ScanOutput::Rejects => rejects_schema(),
            _ => audit_events_schema(),
        }
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Time predicates prune listing; DataFusion still applies every filter itself.
        Ok(filters
            .iter()
            .map(|f| {
                let events = matches!(self.output, ScanOutput::Events);
                if (events && window_of(f).is_some()) || sources_of(f).is_some() {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, filters: &[Expr], limit: Option<usize>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut listing = self.window;
        for f in filters {
            if let Some(w) = window_of(f) {
                listing = listing.intersect(w);
            }
        }
        tracing::debug!(?listing, "audit_events scan window");
        let partitions = state.config().target_partitions();
        let sources = selected_sources(&self.sources, filters);
        let selected = |objects: &[SourceObject]| -> Vec<SourceObject> { objects.iter().filter(|(s, _)| sources.iter().any(|x| Arc::ptr_eq(x, s))).cloned().collect() };
        let objects = match &self.scope {
            ObjectScope::Pinned(pinned) => selected(pinned),
            ObjectScope::Listing => list_sources(&sources, listing, &self.report).await?,
            ObjectScope::ListingPlus(extra) => {
                let mut all = list_sources(&sources, listing, &self.report).await?;
                let known: std::collections::HashSet<String> = all.iter().map(|(_, o)| o.url.clone()).collect();
                all.extend(selected(extra).into_iter().filter(|(_, o)| !known.contains(&o.url)));
                all
            }
        };
        let groups = group_objects(objects, partitions);
        let schema = self.schema();
        let shared = Arc::new(ScanShared {
            output: self.output.clone(),
            window: self.window,
            report: Arc::clone(&self.report),
            batch_size: self.batch_size,
            seen: Mutex::new(Default::default()),
        });
        let streams: Vec<Arc<dyn PartitionStream>> = groups
            .into_iter()
            .map(|objects| Arc::new(ObjectGroup { schema: Arc::clone(&schema), objects, shared: Arc::clone(&shared) }) as Arc<dyn PartitionStream>)
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(schema, streams, projection, Vec::new(), false, limit)?))
    }
}

/// One source's objects with their own columns, plus `_object` and `_row` lineage columns.
#[derive(Debug)]
pub struct RawSourceTable {
    source: Arc<ResolvedSource>,
    schema: SchemaRef,
    window: TimeWindow,
    report: Arc<ScanReport>,
    batch_size: usize,
}

impl RawSourceTable {
    /// Builds the table; its schema is the first readable object's schema plus lineage columns.
    pub fn new(source: Arc<ResolvedSource>, file_schema: Option<SchemaRef>, window: TimeWindow, report: Arc<ScanReport>, batch_size: usize) -> Self {
        let mut fields: Vec<Arc<Field>> = file_schema.map(|s| s.fields().iter().cloned().collect()).unwrap_or_default();
        fields.push(Arc::new(Field::new(RAW_OBJECT_COLUMN, DataType::Utf8, false)));
        fields.push(Arc::new(Field::new(RAW_ROW_COLUMN, DataType::Int64, false)));
        RawSourceTable { source, schema: Arc::new(Schema::new(fields)), window, report, batch_size }
    }
}

#[async_trait]
impl TableProvider for RawSourceTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, _filters: &[Expr], limit: Option<usize>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let partitions = state.config().target_partitions();
        let objects = list_sources(std::slice::from_ref(&self.source), self.window, &self.report).await?;
        let groups = group_objects(objects, partitions);
        let shared = Arc::new(ScanShared {
            output: ScanOutput::Raw(Arc::clone(&self.schema)),
            window: TimeWindow::default(),
            report: Arc::clone(&self.report),
            batch_size: self.batch_size,
            seen: Mutex::new(Default::default()),
        });
        let streams: Vec<Arc<dyn PartitionStream>> = groups
            .into_iter()
            .map(|objects| Arc::new(ObjectGroup { schema: Arc::clone(&self.schema), objects, shared: Arc::clone(&shared) }) as Arc<dyn PartitionStream>)
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(Arc::clone(&self.schema), streams, projection, Vec::new(), false, limit)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn ts(v: i64) -> Expr {
        lit(ScalarValue::TimestampMicrosecond(Some(v), Some("UTC".into())))
    }

    #[test]
    fn time_predicates_become_windows() {
        assert_eq!(window_of(&col(EVENT_TIME).gt_eq(ts(10))), Some(TimeWindow { from: Some(10), to: None }));
        assert_eq!(window_of(&ts(20).gt(col(EVENT_TIME))), Some(TimeWindow { from: None, to: Some(20) }));
        let both = col(EVENT_TIME).gt_eq(ts(10)).and(col(EVENT_TIME).lt(ts(20)));
        assert_eq!(window_of(&both), Some(TimeWindow { from: Some(10), to: Some(20) }));
        assert_eq!(window_of(&col("verb").eq(lit("get"))), None);
    }
}
