//! Listing glue between the configured sources and the scan: which landed objects a window can
//! hold events of, and how they are grouped into plan partitions of even size.

use std::sync::Arc;

use datafusion::error::Result as DfResult;

use super::read::ResolvedSource;
use super::report::{ScanReport, SourceCounts};
use super::window::TimeWindow;
use crate::sources::listing::{LandedObject, ListingWindow, list_objects};

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
pub(super) fn group_objects(mut all: Vec<SourceObject>, partitions: usize) -> Vec<Vec<SourceObject>> {
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
