//! Which landed objects a run evaluates: its arrival window (continuing, explicit, or a sweep of
//! older partitions), the versions the `processed_objects` ledger already holds, and the versions
//! whose failed rules are still to be retried.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;

use crate::config::{Config, parse_duration_micros};
use crate::engine::TimeWindow;
use crate::sinks::delta::records_from_batches;
use crate::sinks::ledger::{ObjectVersion, ProcessedObject, latest_by_version};
use crate::sinks::runs::{RunMode, RunStatus};
use crate::sinks::{OutputTables, RunRecord, date_of, sql_list, sql_str};
use crate::sources::listing::LandedObject;
use crate::{Error, Result};

use super::RunOptions;

/// `max(column)` over the completed runs that match `filter`, as epoch microseconds.
async fn completed_runs_time(outputs: &OutputTables, aggregate: &str, filter: &str) -> Result<Option<i64>> {
    let statuses = sql_list(RunStatus::COMPLETED.map(RunStatus::as_str));
    let batches = outputs.runs.query(&format!("SELECT CAST({aggregate} AS BIGINT) AS t FROM t WHERE status IN ({statuses}){filter}")).await?;
    Ok(batches.first().and_then(|b| {
        let c = b.column(0).as_primitive::<Int64Type>();
        (b.num_rows() > 0 && c.is_valid(0)).then(|| c.value(0))
    }))
}

/// The end of the arrival range of the last successful run, if any.
pub async fn last_successful_arrival(outputs: &OutputTables) -> Result<Option<i64>> {
    completed_runs_time(outputs, "max(arrival_to)", "").await
}

/// The ledger's rows for objects that landed on the dates `[from, to]` covers, each version's
/// latest row.
pub(super) async fn ledger_state(outputs: &OutputTables, from: Option<i64>, to: i64) -> Result<HashMap<ObjectVersion, ProcessedObject>> {
    let mut sql = format!("SELECT * FROM t WHERE date <= {}", sql_str(&date_of(to)));
    if let Some(f) = from {
        sql.push_str(&format!(" AND date >= {}", sql_str(&date_of(f))));
    }
    let batches = outputs.ledger.query(&sql).await?;
    Ok(latest_by_version(records_from_batches(&batches)?))
}

/// Object versions that landed since `since` and still have rules to run over them (their latest
/// ledger row names rules that failed), with those rules.
pub(super) async fn pending_retries(outputs: &OutputTables, since: i64) -> Result<Vec<ProcessedObject>> {
    let Some(table) = outputs.ledger.load_existing().await? else { return Ok(Vec::new()) };
    if !table.snapshot().map_err(|e| Error::delta(outputs.ledger.name, e))?.schema().fields().any(|f| f.name() == "pending_rules") {
        return Ok(Vec::new());
    }
    let date = sql_str(&date_of(since));
    let sql = format!("SELECT * FROM t WHERE date >= {date} AND object IN (SELECT object FROM t WHERE date >= {date} AND array_length(pending_rules, 1) > 0)");
    let rows: Vec<ProcessedObject> = outputs.ledger.query_records(&table, &sql).await?;
    Ok(latest_by_version(rows).into_values().filter(|r| !r.pending().is_empty()).collect())
}

/// Which arrivals a run covers and how it lists them.
pub(super) struct ArrivalPlan {
    /// Objects last modified in `[from, to)` are candidates.
    pub arrival: TimeWindow,
    /// How much older than the arrival window a partition may be and still be listed.
    pub reach: i64,
}

pub(super) async fn plan_arrivals(config: &Config, opts: &RunOptions, outputs: &OutputTables, record: &mut RunRecord, lateness: i64) -> Result<ArrivalPlan> {
    let now = record.started_at;
    let settle = parse_duration_micros(&config.run.settle)?;
    let late_reach = parse_duration_micros(&config.run.late_reach)?;
    let (arrival_from, arrival_to) = match (opts.start, opts.end) {
        (Some(s), Some(e)) if s < e => {
            record.mode = if opts.reprocess { RunMode::Reprocess } else { RunMode::Window };
            record.arrival_from = Some(s);
            // Nothing has landed in the future; the recorded coverage must not claim it has.
            (Some(s), e.min(now.saturating_sub(settle)).max(s))
        }
        (Some(_), Some(_)) => return Err(Error::Config("--start must be before --end".into())),
        (None, None) => {
            let to = now.saturating_sub(settle);
            record.mode = RunMode::Continue;
            match last_successful_arrival(outputs).await? {
                Some(cursor) => {
                    record.arrival_from = Some(cursor);
                    (Some(cursor.saturating_sub(lateness)), to.max(cursor))
                }
                None if config.run.initial_lookback == "all" => (None, to),
                None => {
                    let from = to.saturating_sub(parse_duration_micros(&config.run.initial_lookback)?);
                    record.arrival_from = Some(from);
                    (Some(from), to)
                }
            }
        }
        _ => return Err(Error::Config("--start and --end go together".into())),
    };
    record.arrival_to = arrival_to;
    let mut plan = ArrivalPlan { arrival: TimeWindow { from: arrival_from, to: Some(arrival_to) }, reach: late_reach };
    // A sweep: a continuing run that, once per `sweep_every`, lists partitions back to
    // `sweep_reach` for what landed since the last sweep (or since coverage began).
    let sweep_every = parse_duration_micros(&config.run.sweep_every)?;
    if record.mode == RunMode::Continue && record.arrival_from.is_some() && sweep_every > 0 {
        let last_sweep = completed_runs_time(outputs, "max(arrival_to)", &format!(" AND mode = '{}'", RunMode::Sweep.as_str())).await?;
        if last_sweep.is_none_or(|t| now.saturating_sub(t) >= sweep_every) {
            let since = match last_sweep {
                Some(t) => Some(t),
                None => completed_runs_time(outputs, "min(arrival_from)", "").await?,
            };
            record.mode = RunMode::Sweep;
            plan.arrival.from = since.map(|t| t.saturating_sub(lateness)).min(plan.arrival.from);
            plan.reach = parse_duration_micros(&config.run.sweep_reach)?.max(late_reach);
        }
    }
    Ok(plan)
}

pub(super) fn ledger_row(source_name: &str, o: &LandedObject, pending: Vec<String>, run_id: &str, now: i64) -> ProcessedObject {
    ProcessedObject {
        object: o.url.clone(),
        date: date_of(o.meta.last_modified.timestamp_micros()),
        source_name: source_name.to_owned(),
        size: o.meta.size as i64,
        last_modified: o.meta.last_modified.timestamp_micros(),
        e_tag: o.meta.e_tag.clone(),
        run_id: run_id.to_owned(),
        processed_at: now,
        pending_rules: Some(pending),
    }
}
