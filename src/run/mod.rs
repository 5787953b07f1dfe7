//! `auditlake run`: one scheduled detection run, exactly once over newly landed data.
//!
//! 1. **Select by arrival.** The run covers objects that landed (last modified) in its arrival
//!    window: `--start/--end` when a scheduler gives one, else from where the last successful run
//!    stopped to now. Objects already in the `processed_objects` ledger are skipped, and the listing
//!    reaches back `lateness` before the cursor so an object whose upload began before the cursor
//!    but finished after it is still found.
//! 2. **Evaluate by event time.** Single-event rules run over the new objects' events only, so each
//!    record is evaluated once. Aggregation and sequence rules run over event-time context around
//!    the new events (whole buckets, aligned), bounded below by `lateness` before the new data's
//!    landing time, so late records re-evaluate the buckets they touch.
//! 3. **Write idempotently.** Findings get deterministic ids; alerts are merged (repeats and
//!    re-evaluations update counts), DUET items inserted only when new, rejects keyed, then the
//!    ledger, then the `runs` row last as the commit marker. A crash anywhere before the ledger
//!    write makes the next run re-evaluate the same objects, which changes nothing already written.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use serde::Serialize;

use crate::config::{Config, parse_duration_micros};
use crate::engine::report::SourcedReject;
use crate::engine::{AuditLake, ObjectScope, SourceObject, TimeWindow};
use crate::normalize::schema::AUDIT_EVENTS_TABLE;
use crate::rules::{Rule, RuleKind};
use crate::sinks::alerts::{self, AlertRecord, Finding, by_output_id, fold_alert};
use crate::sinks::duet::{self, DuetItem, DuetStatus, suppression_key};
use crate::sinks::ledger::ProcessedObject;
use crate::sinks::rejects::RejectRecord;
use crate::sinks::{OutputTables, RunRecord, date_of, now_micros, sql_list, sql_str, stable_id};
use crate::{Error, Result};

pub mod answer;

/// What the caller asks of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Explicit arrival window `[start, end)` (Airflow's data interval); both or neither.
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Evaluate objects in the window even if an earlier run processed them (backfills after a
    /// new rule ships). Outputs stay idempotent.
    pub reprocess: bool,
    /// Evaluate and report, write nothing.
    pub dry_run: bool,
    /// The run's clock (tests pin it).
    pub now: Option<i64>,
}

/// The result of a run: its `runs` row plus the hits, for the CLI's summary.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    #[serde(flatten)]
    pub record: RunRecord,
    pub dry_run: bool,
    pub output: String,
}

impl RunSummary {
    /// Rejected rows plus rejected objects.
    pub fn rejected(&self) -> i64 {
        self.record.rows_rejected + self.record.objects_rejected
    }
}

/// A hash of the rule pack (ids, headers and SQL), recorded with each run.
pub fn rule_pack_hash(rules: &[Rule]) -> String {
    let texts: Vec<String> = rules.iter().map(|r| format!("{}\n{:?}\n{}", r.meta.id, r.meta, r.sql)).collect();
    let parts: Vec<&str> = texts.iter().map(String::as_str).collect();
    stable_id(&parts)
}

fn new_run_id(now: i64) -> String {
    let t = chrono::DateTime::from_timestamp_micros(now).unwrap_or_default();
    format!("{}-{:08x}", t.format("%Y%m%dT%H%M%S%.3fZ"), rand::random::<u32>())
}

fn max_lateness(config: &Config) -> Result<i64> {
    let mut l = parse_duration_micros(&config.scan.lateness)?;
    for s in &config.sources {
        if let Some(x) = &s.lateness {
            l = l.max(parse_duration_micros(x)?);
        }
    }
    Ok(l)
}

/// Runs the pack once over newly landed data and writes the outputs.
pub async fn run(config: &Config, rules: &[Rule], opts: &RunOptions) -> Result<RunSummary> {
    let started = opts.now.unwrap_or_else(now_micros);
    let clock = std::time::Instant::now();
    let outputs = OutputTables::new(config)?;
    let mut record = RunRecord {
        run_id: new_run_id(started),
        date: date_of(started),
        started_at: started,
        rule_pack_hash: rule_pack_hash(rules),
        rules: rules.len() as i64,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        hits: "{}".into(),
        skipped: "{}".into(),
        ..RunRecord::default()
    };
    let result = evaluate_and_write(config, rules, opts, &outputs, &mut record).await;
    record.finished_at = started + clock.elapsed().as_micros() as i64;
    record.duration_ms = clock.elapsed().as_millis() as i64;
    match result {
        Ok(()) => {
            record.status = if record.rows_rejected + record.objects_rejected > 0 { "rejects" } else { "ok" }.into();
            if !opts.dry_run {
                append_run(&outputs, &record).await?;
            }
            Ok(RunSummary { record, dry_run: opts.dry_run, output: outputs.location.clone() })
        }
        Err(e) => {
            record.status = "failed".into();
            record.error = Some(e.to_string());
            if !opts.dry_run && !matches!(e, Error::Config(_)) {
                // Best effort: the failure itself is what the caller must see.
                if let Err(log_err) = append_run(&outputs, &record).await {
                    tracing::warn!("could not record the failed run: {log_err}");
                }
            }
            Err(e)
        }
    }
}

async fn append_run(outputs: &OutputTables, record: &RunRecord) -> Result<()> {
    let batch = outputs.runs.batch(std::slice::from_ref(record))?;
    outputs
        .runs
        .write_with_retry(|table| {
            let batch = batch.clone();
            async move { Ok(Some((outputs.runs.append(table, batch).await?, ()))) }
        })
        .await?;
    Ok(())
}

/// The end of the arrival range of the last successful run, if any.
pub async fn last_successful_arrival(outputs: &OutputTables) -> Result<Option<i64>> {
    let batches = outputs.runs.query("SELECT CAST(max(arrival_to) AS BIGINT) AS t FROM t WHERE status IN ('ok', 'rejects')").await?;
    Ok(batches.first().and_then(|b| {
        let c = b.column(0).as_primitive::<Int64Type>();
        (b.num_rows() > 0 && c.is_valid(0)).then(|| c.value(0))
    }))
}

/// Object URLs in the ledger that landed at or after `from` (all when `None`).
async fn processed_objects(outputs: &OutputTables, from: Option<i64>, to: i64) -> Result<HashSet<String>> {
    let mut sql = format!("SELECT object FROM t WHERE date <= {}", sql_str(&date_of(to)));
    if let Some(f) = from {
        sql.push_str(&format!(" AND date >= {}", sql_str(&date_of(f))));
    }
    let batches = outputs.ledger.query(&sql).await?;
    let mut out = HashSet::new();
    for b in &batches {
        // Delta scans may return views or large strings: normalize before reading.
        let c = datafusion::arrow::compute::cast(b.column(0), &datafusion::arrow::datatypes::DataType::Utf8)?;
        let c = c.as_string::<i32>();
        out.extend((0..b.num_rows()).map(|i| c.value(i).to_owned()));
    }
    Ok(out)
}

async fn evaluate_and_write(config: &Config, rules: &[Rule], opts: &RunOptions, outputs: &OutputTables, record: &mut RunRecord) -> Result<()> {
    let now = record.started_at;
    let lateness = max_lateness(config)?;
    let settle = parse_duration_micros(&config.run.settle)?;

    // 1. The arrival window.
    let (list_from, arrival_to) = match (opts.start, opts.end) {
        (Some(s), Some(e)) if s < e => {
            record.mode = if opts.reprocess { "reprocess" } else { "window" }.into();
            record.arrival_from = Some(s);
            // Nothing has landed in the future; the recorded coverage must not claim it has.
            (Some(s), e.min(now - settle).max(s))
        }
        (Some(_), Some(_)) => return Err(Error::Config("--start must be before --end".into())),
        (None, None) => {
            let to = now - settle;
            record.mode = "continue".into();
            match last_successful_arrival(outputs).await? {
                Some(cursor) => {
                    record.arrival_from = Some(cursor);
                    (Some(cursor - lateness), to.max(cursor))
                }
                None if config.run.initial_lookback == "all" => (None, to),
                None => {
                    let from = to - parse_duration_micros(&config.run.initial_lookback)?;
                    record.arrival_from = Some(from);
                    (Some(from), to)
                }
            }
        }
        _ => return Err(Error::Config("--start and --end go together".into())),
    };
    record.arrival_to = arrival_to;

    // 2. What landed, minus what was processed.
    let lake = AuditLake::open(config, TimeWindow::default()).await?;
    let landed = lake.list_arrivals(TimeWindow { from: list_from, to: Some(arrival_to) }).await?;
    let done = processed_objects(outputs, list_from, arrival_to).await?;
    let (fresh, seen): (Vec<SourceObject>, Vec<SourceObject>) = landed.into_iter().partition(|(_, o)| opts.reprocess || !done.contains(&o.url));
    record.objects_new = fresh.len() as i64;
    record.objects_already_processed = seen.len() as i64;
    tracing::info!(new = fresh.len(), already = seen.len(), "objects in the arrival window");
    if fresh.is_empty() {
        return Ok(());
    }

    // 3. Evaluate: single-event rules over the new events, all in one shared scan.
    lake.set_scope(TimeWindow::default(), ObjectScope::Pinned(Arc::new(fresh.clone()))).await?;
    let single: Vec<&Rule> = rules.iter().filter(|r| !r.meta.is_multi_event()).collect();
    let range_sql = format!("SELECT min(event_time), max(event_time), count(*) FROM {AUDIT_EVENTS_TABLE}");
    let mut queries: Vec<(&str, &str)> = vec![(RANGE_QUERY, range_sql.as_str())];
    queries.extend(crate::engine::rule_queries(&single));
    let results = lake.run_queries_shared(&queries).await?;
    let totals = lake.report().totals();
    record.rows_read = totals.rows_read as i64;
    record.rows_rejected = totals.rows_rejected as i64;
    record.objects_rejected = totals.objects_rejected as i64;
    record.duplicates_dropped = totals.duplicates_dropped as i64;
    record.rows_skipped = totals.rows_skipped as i64;
    record.skipped = serde_json::to_string(&lake.report().skipped()).unwrap_or_default();
    lake.report().log_rejects();
    record.bytes_read = totals.bytes_read as i64;
    record.bytes_fetched = totals.bytes_fetched as i64;
    let by_id: HashMap<&str, &Rule> = rules.iter().map(|r| (r.meta.id.as_str(), r)).collect();
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    let mut findings: Vec<(&Rule, Finding)> = Vec::new();
    let (mut tmin, mut tmax) = (None, None);
    for (id, batches) in &results {
        if id == RANGE_QUERY {
            (tmin, tmax) = event_range(batches);
        } else {
            collect_findings(by_id[id.as_str()], batches, &mut hits, &mut findings)?;
        }
    }
    record.event_from = tmin;
    record.event_to = tmax.map(|t| t + 1);

    // Correlation rules over event-time context around the new events (one more shared scan).
    let multi: Vec<&Rule> = rules.iter().filter(|r| r.meta.is_multi_event()).collect();
    if let (false, Some(tmin), Some(tmax)) = (multi.is_empty(), tmin, tmax) {
        let margin = multi.iter().map(|r| r.meta.context_micros()).max().unwrap_or(0).max(1);
        // Whole buckets of every rule: align to the least common multiple of the bucket sizes.
        let align = crate::rules::bucket_alignment(multi.iter().map(|r| &r.meta));
        let landed_at = fresh.iter().map(|(_, o)| o.partition.as_ref().and_then(|p| p.time_span).map_or(o.meta.last_modified.timestamp_micros(), |(s, _)| s)).min().unwrap_or(now);
        let from = (tmin - margin).max(landed_at - lateness - margin).div_euclid(align) * align;
        let to = (tmax + margin).div_euclid(align) * align + align;
        if from < to {
            let context = TimeWindow { from: Some(from), to: Some(to) };
            let ctx_lake = AuditLake::open(config, context).await?;
            // A backfill's context can be weeks: evaluated in `scan.chunk` chunks.
            let pack = ctx_lake.run_pack(&multi, context, ObjectScope::ListingPlus(Arc::new(fresh.clone()))).await?;
            for (id, batches) in pack.results {
                collect_findings(by_id[id.as_str()], &batches, &mut hits, &mut findings)?;
            }
        }
    }
    record.hits = serde_json::to_string(&hits).unwrap_or_default();

    let rejects = if record.rows_rejected + record.objects_rejected > 0 {
        let landing: HashMap<&str, i64> = fresh.iter().map(|(_, o)| (o.url.as_str(), o.meta.last_modified.timestamp_micros())).collect();
        // From the scan just run (bounded, see engine::report), not from a second scan.
        reject_records(lake.report().rejects(), &landing, &record.run_id)
    } else {
        Vec::new()
    };
    if opts.dry_run {
        return Ok(());
    }

    // 4. Write: alerts, DUET items, rejects, then the ledger.
    let (new_alerts, updated) = write_alerts(outputs, &findings, &record.run_id, now).await?;
    record.alerts_new = new_alerts;
    record.alerts_updated = updated;
    let (duet_new, expired) = write_duet(config, outputs, &findings, &record.run_id, now).await?;
    record.duet_new = duet_new;
    record.duet_expired = expired;
    write_rejects(outputs, &rejects).await?;
    let unrecorded: Vec<SourceObject> = fresh.iter().filter(|(_, o)| !done.contains(&o.url)).cloned().collect();
    write_ledger(outputs, &unrecorded, &record.run_id, now).await?;
    Ok(())
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

fn collect_findings<'a>(rule: &'a Rule, batches: &[RecordBatch], hits: &mut BTreeMap<String, usize>, out: &mut Vec<(&'a Rule, Finding)>) -> Result<()> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return Ok(());
    }
    *hits.entry(rule.meta.id.clone()).or_default() += rows;
    out.extend(alerts::findings(rule, batches)?.into_iter().map(|f| (rule, f)));
    Ok(())
}

fn reject_records(rejects: Vec<SourcedReject>, landing: &HashMap<&str, i64>, run_id: &str) -> Vec<RejectRecord> {
    rejects
        .into_iter()
        .map(|SourcedReject { source_name, source, reject: r, .. }| {
            let row = r.row.map(|n| n.to_string()).unwrap_or_default();
            RejectRecord {
                reject_id: stable_id(&[&r.object, &row, r.field.as_deref().unwrap_or(""), &r.reason]),
                date: date_of(landing.get(r.object.as_str()).copied().unwrap_or(0)),
                source_name,
                source: source.to_owned(),
                object: r.object,
                row: r.row,
                field: r.field,
                reason: r.reason,
                record: r.record,
                run_id: run_id.to_owned(),
            }
        })
        .collect()
}

async fn write_alerts(outputs: &OutputTables, findings: &[(&Rule, Finding)], run_id: &str, now: i64) -> Result<(i64, i64)> {
    let alert_findings: Vec<&(&Rule, Finding)> = findings.iter().filter(|(r, _)| r.meta.kind == RuleKind::Alert).collect();
    if alert_findings.is_empty() {
        return Ok((0, 0));
    }
    let rules: HashMap<&str, &Rule> = alert_findings.iter().map(|(r, _)| (r.meta.id.as_str(), *r)).collect();
    let groups = by_output_id(alert_findings.iter().map(|(_, f)| f));
    let dates: BTreeSet<String> = groups.values().map(|fs| date_of(fs[0].anchor)).collect();
    let ids: Vec<&str> = groups.keys().map(String::as_str).collect();
    let table = &outputs.alerts;
    let counts = table
        .write_with_retry(|delta| {
            let sql = format!("SELECT * FROM t WHERE date IN ({}) AND alert_id IN ({})", sql_list(dates.iter().map(String::as_str)), sql_list(ids.iter().copied()));
            let groups = &groups;
            let rules = &rules;
            async move {
                let stored: Vec<AlertRecord> = table.query_records(&delta, &sql).await?;
                let stored: HashMap<&str, &AlertRecord> = stored.iter().map(|a| (a.alert_id.as_str(), a)).collect();
                let mut rows = Vec::new();
                let (mut new, mut updated) = (0i64, 0i64);
                for (id, fs) in groups {
                    let existing = stored.get(id.as_str()).copied();
                    if let Some(row) = fold_alert(rules[fs[0].rule_id.as_str()], fs, existing, run_id, now) {
                        if existing.is_some() { updated += 1 } else { new += 1 }
                        rows.push(row);
                    }
                }
                if rows.is_empty() {
                    return Ok(None);
                }
                let delta = table.merge(delta, table.batch(&rows)?, "alert_id", true).await?;
                Ok(Some((delta, (new, updated))))
            }
        })
        .await?;
    Ok(counts.unwrap_or((0, 0)))
}

async fn write_duet(config: &Config, outputs: &OutputTables, findings: &[(&Rule, Finding)], run_id: &str, now: i64) -> Result<(i64, i64)> {
    let due_in = parse_duration_micros(&config.duet.due_in)?;
    let quiet = parse_duration_micros(&config.duet.expected_suppresses)?;
    let duet_findings: Vec<&(&Rule, Finding)> = findings.iter().filter(|(r, _)| r.meta.kind == RuleKind::Duet).collect();
    let table = &outputs.duet;
    let mut inserted = 0;
    if !duet_findings.is_empty() {
        // One item per output id (suppression folds repeats into the first).
        let mut items: BTreeMap<String, DuetItem> = BTreeMap::new();
        for (rule, f) in &duet_findings {
            items.entry(f.output_id.clone()).or_insert_with(|| duet::new_item(rule, f, &config.duet, due_in, run_id, now));
        }
        let dates: BTreeSet<&str> = items.values().map(|i| i.date.as_str()).collect();
        let ids: Vec<&str> = items.keys().map(String::as_str).collect();
        let existing_sql = format!("SELECT id FROM t WHERE date IN ({}) AND id IN ({})", sql_list(dates.iter().copied()), sql_list(ids.iter().copied()));
        let answered_sql = format!(
            "SELECT id, \"rule\", cluster, actor, object, answered_at FROM t WHERE status = 'expected' AND coalesce(answered_by, '') <> 'auditlake' AND answered_at >= to_timestamp_micros({})",
            now - quiet
        );
        let items = &items;
        inserted = table
            .write_with_retry(|delta| {
                let (existing_sql, answered_sql) = (&existing_sql, &answered_sql);
                async move {
                    let existing: HashSet<String> = table.query_records::<serde_json::Value>(&delta, existing_sql).await?.into_iter().filter_map(|v| v["id"].as_str().map(str::to_owned)).collect();
                    let mut expected: HashMap<(String, String, String, String), (String, i64)> = HashMap::new();
                    if quiet > 0 {
                        for v in table.query_records::<serde_json::Value>(&delta, answered_sql).await? {
                            let key = suppression_key(v["rule"].as_str().unwrap_or(""), v["cluster"].as_str(), v["actor"].as_str(), v["object"].as_str());
                            expected.insert(key, (v["id"].as_str().unwrap_or("").to_owned(), v["answered_at"].as_i64().unwrap_or(0)));
                        }
                    }
                    let rows: Vec<DuetItem> = items
                        .values()
                        .filter(|i| !existing.contains(&i.id))
                        .map(|i| {
                            let mut item = i.clone();
                            let key = suppression_key(&item.rule, item.cluster.as_deref(), item.actor.as_deref(), item.object.as_deref());
                            if let Some((answer_id, at)) = expected.get(&key) {
                                item.status = DuetStatus::Expected;
                                item.answered_by = Some("auditlake".into());
                                item.answered_at = Some(now);
                                item.note = Some(format!("covered by the expected answer to {answer_id} until {}", crate::sinks::rfc3339(at + quiet)));
                            }
                            item
                        })
                        .collect();
                    if rows.is_empty() {
                        return Ok(None);
                    }
                    let n = rows.len() as i64;
                    let delta = table.merge(delta, table.batch(&rows)?, "id", false).await?;
                    Ok(Some((delta, n)))
                }
            })
            .await?
            .unwrap_or(0);
    }
    let expired = expire_duet(outputs, now).await?;
    Ok((inserted, expired))
}

/// Marks pending items past their deadline as expired.
pub async fn expire_duet(outputs: &OutputTables, now: i64) -> Result<i64> {
    let table = &outputs.duet;
    if table.load_existing().await?.is_none() {
        return Ok(0);
    }
    let predicate = format!("status = 'pending' AND due_by < to_timestamp_micros({now})");
    let n = table
        .write_with_retry(|delta| {
            let predicate = &predicate;
            async move {
                let pending = table.query_table(&delta, &format!("SELECT count(*) FROM t WHERE {predicate}")).await?;
                let count = pending.first().map_or(0, |b| b.column(0).as_primitive::<Int64Type>().value(0));
                if count == 0 {
                    return Ok(None);
                }
                let (delta, n) = table.update(delta, predicate, &[("status", "'expired'".into())]).await?;
                Ok(Some((delta, n as i64)))
            }
        })
        .await?;
    Ok(n.unwrap_or(0))
}

async fn write_rejects(outputs: &OutputTables, rejects: &[RejectRecord]) -> Result<()> {
    if rejects.is_empty() {
        return Ok(());
    }
    let table = &outputs.rejects;
    let batch = table.batch(rejects)?;
    table
        .write_with_retry(|delta| {
            let batch = batch.clone();
            async move { Ok(Some((table.merge(delta, batch, "reject_id", false).await?, ()))) }
        })
        .await?;
    Ok(())
}

async fn write_ledger(outputs: &OutputTables, fresh: &[SourceObject], run_id: &str, now: i64) -> Result<()> {
    if fresh.is_empty() {
        return Ok(());
    }
    let rows: Vec<ProcessedObject> = fresh
        .iter()
        .map(|(s, o)| ProcessedObject {
            object: o.url.clone(),
            date: date_of(o.meta.last_modified.timestamp_micros()),
            source_name: s.config.name.clone(),
            size: o.meta.size as i64,
            last_modified: o.meta.last_modified.timestamp_micros(),
            e_tag: o.meta.e_tag.clone(),
            run_id: run_id.to_owned(),
            processed_at: now,
        })
        .collect();
    let table = &outputs.ledger;
    let batch = table.batch(&rows)?;
    table
        .write_with_retry(|delta| {
            let batch = batch.clone();
            async move { Ok(Some((table.append(delta, batch).await?, ()))) }
        })
        .await?;
    Ok(())
}
