//! `auditlake run`: one scheduled detection run, exactly once over newly landed data.
//!
//! 1. **Select by arrival** ([`arrivals`]). The run covers object versions that landed (last
//!    modified) in its arrival window: `--start/--end` when a scheduler gives one, else from where
//!    the last completed run stopped to now, listing partitions back `run.late_reach` (and, once
//!    per `run.sweep_every`, `run.sweep_reach`) for late landings. Versions already in the
//!    `processed_objects` ledger are skipped; versions whose rules failed are retried.
//! 2. **Evaluate by event time** ([`evaluate`]). Single-event rules run over the new objects'
//!    events only, so each record is evaluated once. Aggregation and sequence rules run over
//!    event-time context around the new events (whole buckets, aligned), bounded by `lateness`
//!    before the landing time and by the clock after, so late records re-evaluate the buckets
//!    they touch. A failing rule is recorded; the others' findings stand (`partial`).
//! 3. **Write idempotently.** Findings get deterministic ids; alerts are merged (repeats and
//!    re-evaluations update counts), DUET items inserted only when new, rejects keyed, then the
//!    ledger, then DUET expiry, then the `runs` row last as the commit marker. A crash anywhere
//!    before the ledger write makes the next run re-evaluate the same objects, which changes
//!    nothing already written.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use serde::Serialize;

use crate::config::{Config, parse_duration_micros};
use crate::engine::scan::report::SourcedReject;
use crate::engine::{AuditLake, SourceObject, TimeWindow};
use crate::rules::{Rule, RuleKind, RulePack};
use crate::sinks::alerts::{AlertRecord, Finding, by_output_id, fold_alert};
use crate::sinks::duet::{self, DuetItem, DuetStatus, suppression_key};
use crate::sinks::ledger::{ObjectVersion, ProcessedObject};
use crate::sinks::rejects::RejectRecord;
use crate::sinks::runs::RunStatus;
use crate::sinks::{OutputTables, RunRecord, date_of, now_micros, sql_list, sql_timestamp, stable_id};
use crate::{Error, Result};

pub mod answer;
mod arrivals;
mod evaluate;

use arrivals::{ledger_row, ledger_state, pending_retries, plan_arrivals};
use evaluate::{Evaluation, evaluate};
pub use arrivals::last_successful_arrival;

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
pub async fn run(config: &Config, pack: &RulePack, opts: &RunOptions) -> Result<RunSummary> {
    let rules = pack.rules.as_slice();
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
        failed_rules: "{}".into(),
        skipped: "{}".into(),
        ..RunRecord::default()
    };
    let result = async {
        evaluate_and_write(config, pack, opts, &outputs, &mut record).await?;
        // Expiry depends on the clock, not on new data: it runs whether or not anything landed.
        if !opts.dry_run {
            record.duet_expired = expire_duet(&outputs, started).await?;
            answer::repair_escalations(&outputs).await?;
        }
        Ok::<_, Error>(())
    }
    .await;
    record.finished_at = started.saturating_add(clock.elapsed().as_micros() as i64);
    record.duration_ms = clock.elapsed().as_millis() as i64;
    match result {
        Ok(()) => {
            record.status = if record.failed_rules != "{}" {
                RunStatus::Partial
            } else if record.rows_rejected + record.objects_rejected > 0 {
                RunStatus::Rejects
            } else {
                RunStatus::Ok
            };
            if !opts.dry_run {
                append_run(&outputs, &record).await?;
            }
            Ok(RunSummary { record, dry_run: opts.dry_run, output: outputs.location.clone() })
        }
        Err(e) => {
            record.status = RunStatus::Failed;
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
    outputs.runs.append_records(std::slice::from_ref(record)).await
}

async fn evaluate_and_write(config: &Config, pack: &RulePack, opts: &RunOptions, outputs: &OutputTables, record: &mut RunRecord) -> Result<()> {
    let rules = pack.rules.as_slice();
    let now = record.started_at;
    let lateness = max_lateness(config)?;

    // 1. The arrival window.
    let plan = plan_arrivals(config, opts, outputs, record, lateness).await?;

    // 2. What landed, minus the versions already processed; and what failed rules left to retry.
    let lake = AuditLake::open_with(config, TimeWindow::default(), &pack.allowlists).await?;
    let landed = lake.list_arrivals(plan.arrival, plan.reach).await?;
    let done = ledger_state(outputs, plan.arrival.from, record.arrival_to).await?;
    let (fresh, seen): (Vec<SourceObject>, Vec<SourceObject>) = landed.into_iter().partition(|(_, o)| opts.reprocess || !done.contains_key(&ObjectVersion::of(&o.url, &o.meta)));
    record.objects_new = fresh.len() as i64;
    record.objects_already_processed = seen.len() as i64;
    // Late: in a partition that ends before the window the run would list without reach.
    let normal_from = record.arrival_from.map(|f| f.saturating_sub(lateness));
    record.objects_late = fresh
        .iter()
        .filter(|(s, o)| match (normal_from, o.partition.as_ref().and_then(|p| p.time_span)) {
            (Some(from), Some((_, end))) => end.saturating_add(s.lateness) <= from,
            _ => false,
        })
        .count() as i64;
    if record.objects_late > 0 {
        tracing::warn!(objects = record.objects_late, mode = record.mode.as_str(), "objects landed late into old partitions; evaluating them now");
    }
    tracing::info!(new = fresh.len(), already = seen.len(), late = record.objects_late, "objects in the arrival window");
    let pack_ids: HashSet<&str> = rules.iter().map(|r| r.meta.id.as_str()).collect();
    // Versions whose latest ledger row names failed rules: those rules run over them again.
    let mut retries: Vec<(SourceObject, ProcessedObject)> = Vec::new();
    let mut closed: Vec<ProcessedObject> = Vec::new();
    let sweep_reach = parse_duration_micros(&config.run.sweep_reach)?;
    for mut row in pending_retries(outputs, now.saturating_sub(sweep_reach)).await? {
        if fresh.iter().any(|(_, o)| o.url == row.object) {
            continue; // evaluated whole with every rule below
        }
        // A rule no longer in the pack (disabled or removed) is not retried.
        row.pending_rules = Some(row.pending().iter().filter(|r| pack_ids.contains(r.as_str())).cloned().collect());
        match lake.head_object(&row.source_name, &row.object).await? {
            // Only the version that failed: a newer one is evaluated whole as a new object.
            Some(o) if !row.pending().is_empty() && ObjectVersion::of(&o.1.url, &o.1.meta) == row.version() => retries.push((o, row)),
            _ => {
                row.pending_rules = Some(Vec::new());
                closed.push(row);
            }
        }
    }

    // 3. Evaluate: every rule over the new objects; failed rules again over their objects.
    let mut evaluation = Evaluation::default();
    let mut rejects = Vec::new();
    if !fresh.is_empty() {
        let all: Vec<&Rule> = rules.iter().collect();
        evaluation = evaluate(config, &lake, &all, &fresh, now, lateness).await?;
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
        record.event_from = evaluation.event_range.0;
        record.event_to = evaluation.event_range.1.map(|t| t.saturating_add(1));
        if record.rows_rejected + record.objects_rejected > 0 {
            let landing: HashMap<&str, i64> = fresh.iter().map(|(_, o)| (o.url.as_str(), o.meta.last_modified.timestamp_micros())).collect();
            // From the scan just run (bounded, see engine::scan::report), not from a second scan; taken
            // before any retry pass rescans objects on the same lake.
            rejects = reject_records(lake.report().rejects(), &landing, &record.run_id);
        }
    }
    let retry_objects: Vec<SourceObject> = retries.iter().map(|(o, _)| o.clone()).collect();
    let retry_rules: BTreeSet<&str> = retries.iter().flat_map(|(_, row)| row.pending().iter().map(String::as_str)).collect();
    record.objects_retried = retry_objects.len() as i64;
    let mut retry_failed = BTreeMap::new();
    if !retry_objects.is_empty() {
        let again: Vec<&Rule> = rules.iter().filter(|r| retry_rules.contains(r.meta.id.as_str())).collect();
        tracing::info!(objects = retry_objects.len(), rules = ?retry_rules, "retrying rules that failed over these objects");
        let retried = evaluate(config, &lake, &again, &retry_objects, now, lateness).await?;
        retry_failed = retried.failed.clone();
        evaluation.absorb(retried);
    }
    record.hits = serde_json::to_string(&evaluation.hits).unwrap_or_default();
    let mut failed = evaluation.failed.clone();
    failed.extend(retry_failed.clone());
    record.failed_rules = serde_json::to_string(&failed).unwrap_or_default();
    if opts.dry_run {
        return Ok(());
    }

    // 4. Write: alerts, DUET items, rejects, then the ledger.
    let findings = &evaluation.findings;
    let (new_alerts, updated) = write_alerts(outputs, findings, &record.run_id, now).await?;
    record.alerts_new = new_alerts;
    record.alerts_updated = updated;
    record.duet_new = write_duet(config, outputs, findings, &record.run_id, now).await?;
    outputs.rejects.insert_new_records(&rejects, "reject_id").await?;
    let failed_now: Vec<String> = evaluation.failed.keys().cloned().collect();
    let mut ledger: Vec<ProcessedObject> = fresh
        .iter()
        .filter(|(_, o)| opts.reprocess || !failed_now.is_empty() || !done.contains_key(&ObjectVersion::of(&o.url, &o.meta)))
        .map(|(s, o)| ledger_row(&s.config.name, o, failed_now.clone(), &record.run_id, now))
        .collect();
    for mut row in retries.into_iter().map(|(_, row)| row).chain(closed) {
        let still: Vec<String> = row.pending().iter().filter(|r| retry_failed.contains_key(*r)).cloned().collect();
        row.pending_rules = Some(still);
        row.run_id = record.run_id.clone();
        row.processed_at = now;
        ledger.push(row);
    }
    outputs.ledger.append_records(&ledger).await?;
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

async fn write_duet(config: &Config, outputs: &OutputTables, findings: &[(&Rule, Finding)], run_id: &str, now: i64) -> Result<i64> {
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
            "SELECT id, \"rule\", cluster, actor, object, answered_at FROM t WHERE status = 'expected' AND coalesce(answered_by, '') <> 'auditlake' AND answered_at >= {}",
            sql_timestamp(now - quiet)
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
    Ok(inserted)
}

/// Marks pending items past their deadline as expired.
pub async fn expire_duet(outputs: &OutputTables, now: i64) -> Result<i64> {
    let table = &outputs.duet;
    if table.load_existing().await?.is_none() {
        return Ok(0);
    }
    let predicate = format!("status = 'pending' AND due_by < {}", sql_timestamp(now));
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


