//! `auditlake runs`: the run log, with gaps in arrival coverage flagged.

use std::io::Write;

use anyhow::Result;
use auditlake::sinks::{RunRecord, rfc3339};

use super::common::{ConfigArgs, SummaryFormat};

#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Show the last N runs.
    #[arg(long, default_value_t = 20)]
    last: usize,
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    format: SummaryFormat,
}

/// For each run, a note when the arrival coverage of successful runs has a hole just before it:
/// coverage is the union of their `[arrival_from, arrival_to)` ranges, ordered by start.
pub fn flag_gaps(runs: &[RunRecord]) -> Vec<Option<String>> {
    let mut notes = vec![None; runs.len()];
    let mut ok: Vec<usize> = (0..runs.len()).filter(|&i| runs[i].status.is_completed()).collect();
    ok.sort_by_key(|&i| (runs[i].arrival_from.unwrap_or(i64::MIN), runs[i].arrival_to));
    let mut covered_to: Option<i64> = None;
    for i in ok {
        let r = &runs[i];
        if let (Some(prev), Some(from)) = (covered_to, r.arrival_from)
            && from > prev
        {
            notes[i] = Some(format!("GAP: arrivals {} .. {} were not covered", rfc3339(prev), rfc3339(from)));
        }
        covered_to = Some(covered_to.map_or(r.arrival_to, |c| c.max(r.arrival_to)));
    }
    notes
}

pub async fn run(args: RunsArgs) -> Result<u8> {
    let outputs = args.config.outputs()?;
    let Some(table) = outputs.runs.load_existing().await? else {
        println!("no runs yet at {}", outputs.runs.url);
        return Ok(0);
    };
    let mut runs: Vec<RunRecord> = outputs.runs.query_records(&table, "SELECT * FROM t ORDER BY started_at").await?;
    let gaps = flag_gaps(&runs);
    let skip = runs.len().saturating_sub(args.last);
    let mut out = std::io::stdout().lock();
    match args.format {
        SummaryFormat::Json => {
            for (r, gap) in runs.drain(..).zip(gaps).skip(skip) {
                let mut v = serde_json::to_value(&r)?;
                v["gap"] = gap.map_or(serde_json::Value::Null, serde_json::Value::String);
                writeln!(out, "{v}")?;
            }
        }
        SummaryFormat::Text => {
            writeln!(out, "{:<34} {:<8} {:<9} {:<20} {:<20} {:>7} {:>10} {:>7} {:>6} {:>8}", "run_id", "status", "mode", "arrival_from", "arrival_to", "objects", "rows", "alerts", "duet", "ms")?;
            for (r, gap) in runs.iter().zip(gaps).skip(skip) {
                writeln!(
                    out,
                    "{:<34} {:<8} {:<9} {:<20} {:<20} {:>7} {:>10} {:>7} {:>6} {:>8}",
                    r.run_id,
                    r.status,
                    r.mode,
                    r.arrival_from.map_or_else(|| "-".into(), rfc3339),
                    rfc3339(r.arrival_to),
                    r.objects_new,
                    r.rows_read,
                    r.alerts_new,
                    r.duet_new,
                    r.duration_ms
                )?;
                if let Some(g) = gap {
                    writeln!(out, "  {g}")?;
                }
                if let Some(e) = &r.error {
                    writeln!(out, "  error: {e}")?;
                }
            }
        }
    }
    Ok(0)
}
