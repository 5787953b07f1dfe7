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

use super::listing::{SourceObject, group_objects, list_sources};
use super::read::{ObjectGroup, RAW_OBJECT_COLUMN, RAW_ROW_COLUMN, ResolvedSource, ScanOutput, ScanShared, rejects_schema};
use super::report::ScanReport;
use super::window::{TimeWindow, window_of};
use crate::normalize::schema::{SOURCE, SOURCE_NAME, audit_events_schema};

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
        let shared = ScanShared {
            output: self.output.clone(),
            window: self.window,
            report: Arc::clone(&self.report),
            batch_size: self.batch_size,
            seen: Mutex::new(Default::default()),
        };
        streaming_plan(self.schema(), objects, partitions, shared, projection, limit)
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
        let shared = ScanShared {
            output: ScanOutput::Raw(Arc::clone(&self.schema)),
            window: TimeWindow::default(),
            report: Arc::clone(&self.report),
            batch_size: self.batch_size,
            seen: Mutex::new(Default::default()),
        };
        streaming_plan(Arc::clone(&self.schema), objects, partitions, shared, projection, limit)
    }
}

/// The plan both tables scan with: `objects` in `partitions` groups of even size, each group one
/// partition stream, all sharing one scan state (so duplicates are dropped across partitions).
fn streaming_plan(schema: SchemaRef, objects: Vec<SourceObject>, partitions: usize, shared: ScanShared, projection: Option<&Vec<usize>>, limit: Option<usize>) -> DfResult<Arc<dyn ExecutionPlan>> {
    let shared = Arc::new(shared);
    let streams: Vec<Arc<dyn PartitionStream>> = group_objects(objects, partitions)
        .into_iter()
        .map(|objects| Arc::new(ObjectGroup { schema: Arc::clone(&schema), objects, shared: Arc::clone(&shared) }) as Arc<dyn PartitionStream>)
        .collect();
    Ok(Arc::new(StreamingTableExec::try_new(schema, streams, projection, Vec::new(), false, limit)?))
}
