//! Evaluating rules over a set of landed objects: single-event rules over exactly their events,
//! correlation rules over bounded event-time context around them, each rule isolated so that one
//! failing rule leaves the others' findings standing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::TimestampMicrosecondType;

use crate::config::{Config, parse_duration_micros};
use crate::engine::pack::RuleFailure;
use crate::engine::{AuditLake, ObjectScope, SourceObject, TimeWindow};
use crate::normalize::schema::AUDIT_EVENTS_TABLE;
use crate::rules::Rule;
use crate::sinks::alerts::{self, Finding};
use crate::{Error, Result};

/// What evaluating rules over a set of objects found.
#[derive(Default)]
pub(super) struct Evaluation<'r> {
    pub findings: Vec<(&'r Rule, Finding)>,
    pub hits: BTreeMap<String, usize>,
    /// Rules that failed, with their error.
    pub failed: BTreeMap<String, String>,
    /// Event-time range of the objects' events.
    pub event_range: (Option<i64>, Option<i64>),
}

impl<'r> Evaluation<'r> {
    pub fn absorb(&mut self, other: Evaluation<'r>) {
        self.findings.extend(other.findings);
        for (id, n) in other.hits {
            *self.hits.entry(id).or_default() += n;
        }
    }

    fn collect(&mut self, rule: &'r Rule, batches: &[RecordBatch]) -> Result<()> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            return Ok(());
        }
        *self.hits.entry(rule.meta.id.clone()).or_default() += rows;
        self.findings.extend(alerts::findings(rule, batches)?.into_iter().map(|f| (rule, f)));
        Ok(())
    }

    fn fail(&mut self, failures: impl IntoIterator<Item = RuleFailure>) {
        for f in failures {
            self.failed.entry(f.id).or_insert(f.error);
        }
    }
}

/// Evaluates `rules` over `objects`: single-event rules over their events (each record once),
/// correlation rules over event-time context around them. A rule that fails is recorded in
/// [`Evaluation::failed`]; the others' findings stand.
pub(super) async fn evaluate<'r>(config: &Config, lake: &AuditLake, rules: &[&'r Rule], objects: &[SourceObject], now: i64, lateness: i64) -> Result<Evaluation<'r>> {
    let mut out = Evaluation::default();
    let by_id: HashMap<&str, &'r Rule> = rules.iter().map(|r| (r.meta.id.as_str(), *r)).collect();
    lake.set_scope(TimeWindow::default(), ObjectScope::Pinned(Arc::new(objects.to_vec()))).await?;
    let single: Vec<&Rule> = rules.iter().copied().filter(|r| !r.meta.is_multi_event()).collect();
    let range_sql = format!("SELECT min(event_time), max(event_time), count(*) FROM {AUDIT_EVENTS_TABLE}");
    let mut queries: Vec<(&str, &str)> = vec![(RANGE_QUERY, range_sql.as_str())];
    queries.extend(crate::engine::pack::rule_queries(&single));
    let pack = lake.run_queries_shared(&queries).await?;
    if let Some(f) = pack.failed.iter().find(|f| f.id == RANGE_QUERY) {
        return Err(Error::Output(format!("measuring the new events' time range: {}", f.error)));
    }
    out.fail(pack.failed);
    for (id, batches) in &pack.results {
        if id == RANGE_QUERY {
            out.event_range = event_range(batches);
        } else {
            out.collect(by_id[id.as_str()], batches)?;
        }
    }

    // Correlation rules over event-time context around the new events (one more shared scan).
    let multi: Vec<&Rule> = rules.iter().copied().filter(|r| r.meta.is_multi_event()).collect();
    let (Some(tmin), Some(tmax)) = out.event_range else { return Ok(out) };
    if multi.is_empty() {
        return Ok(out);
    }
    let margin = multi.iter().map(|r| r.meta.context_micros()).max().unwrap_or(0).max(1);
    // Whole buckets of every rule: align to the least common multiple of the bucket sizes.
    let align = crate::rules::bucket_alignment(multi.iter().map(|r| &r.meta));
    let landed_at = objects.iter().map(|(_, o)| o.partition.as_ref().and_then(|p| p.time_span).map_or(o.meta.last_modified.timestamp_micros(), |(s, _)| s)).min().unwrap_or(now);
    // Context is bounded on both sides: below by the landing time less lateness, above by the
    // run's clock plus clock skew, so a record stamped in the year 9999 (or 1970) cannot stretch
    // it into millions of chunks. Such records still meet every single-event rule above.
    let clock_skew = parse_duration_micros(&config.scan.clock_skew)?;
    let newest = tmax.min(now.saturating_add(clock_skew));
    let oldest = tmin.max(landed_at.saturating_sub(lateness));
    let from = oldest.saturating_sub(margin).div_euclid(align).saturating_mul(align);
    let to = newest.saturating_add(margin).div_euclid(align).saturating_mul(align).saturating_add(align);
    if from >= to {
        return Ok(out);
    }
    let context = TimeWindow { from: Some(from), to: Some(to) };
    let ctx_lake = AuditLake::open_with(config, context, lake.pack_allowlists()).await?;
    // A backfill's context can be weeks: evaluated in `scan.chunk` chunks.
    let pack = ctx_lake.run_pack(&multi, context, ObjectScope::ListingPlus(Arc::new(objects.to_vec()))).await?;
    out.fail(pack.failed);
    for (id, batches) in pack.results {
        out.collect(by_id[id.as_str()], &batches)?;
    }
    Ok(out)
}

/// The id of the query that measures the new events' event-time range, run with the rules.
const RANGE_QUERY: &str = "__event_range";

fn event_range(batches: &[RecordBatch]) -> (Option<i64>, Option<i64>) {
    let Some(b) = batches.first().filter(|b| b.num_rows() > 0) else { return (None, None) };
    let get = |i: usize| {
        let c = b.column(i).as_primitive::<TimestampMicrosecondType>();
        c.is_valid(0).then(|| c.value(0))
    };
    (get(0), get(1))
}

