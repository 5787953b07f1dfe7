//! `auditlake run`: one scheduled detection run (cron, a Kubernetes CronJob, Airflow).

use std::path::PathBuf;

use anyhow::{Context, Result};
use auditlake::rules::{RulePack, default_rules_dir, pack_problems};
use auditlake::run::{RunOptions, RunSummary, run};
use auditlake::sinks::rfc3339;

use super::{EXIT_PARTIAL, EXIT_REJECTS};
use super::common::{ConfigArgs, SummaryFormat};
use super::time::parse_time_arg;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Rules directory (default: the bundled queries/).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Start of an explicit arrival window (Airflow: {{ data_interval_start }}); needs --end.
    /// Without a window the run continues from where the last successful run stopped.
    #[arg(long, requires = "end")]
    start: Option<String>,
    /// End of the arrival window, exclusive (Airflow: {{ data_interval_end }}).
    #[arg(long, requires = "start")]
    end: Option<String>,
    /// Re-evaluate objects in the window even if a run already processed them (backfill after a
    /// new rule ships). Never duplicates outputs.
    #[arg(long, requires = "start")]
    reprocess: bool,
    /// Evaluate and print the summary; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Summary on stdout: a short text, or the JSON run summary.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    format: SummaryFormat,
    /// Also write the JSON run summary to this file (for schedulers' XCom, sidecars).
    #[arg(long)]
    summary_json: Option<PathBuf>,
}

pub async fn run_command(args: RunArgs) -> Result<u8> {
    let config = args.config.load()?;
    let dir = match &args.rules {
        Some(d) => d.clone(),
        None => default_rules_dir()?,
    };
    let pack = RulePack::load(&dir)?;
    let problems = pack_problems(&pack.rules);
    if !problems.is_empty() {
        let text: Vec<String> = problems.iter().map(|(id, p)| format!("{id}: {}", p.join("; "))).collect();
        return Err(auditlake::Error::Config(format!("the rule pack has problems (auditlake rules validate): {}", text.join(" | "))).into());
    }
    let now = chrono::Utc::now().timestamp_micros();
    let opts = RunOptions {
        start: args.start.as_deref().map(|s| parse_time_arg(s, now)).transpose()?,
        end: args.end.as_deref().map(|s| parse_time_arg(s, now)).transpose()?,
        reprocess: args.reprocess,
        dry_run: args.dry_run,
        now: None,
    };
    let summary = run(&config, &pack, &opts).await?;
    let json = serde_json::to_string_pretty(&summary)?;
    if let Some(path) = &args.summary_json {
        std::fs::write(path, format!("{json}\n")).with_context(|| format!("writing {}", path.display()))?;
    }
    match args.format {
        SummaryFormat::Json => println!("{json}"),
        SummaryFormat::Text => {
            print_text(&summary);
            if !summary.dry_run {
                print_findings(&args.config.outputs()?, &summary.record.run_id).await?;
            }
        }
    }
    Ok(if summary.record.status == auditlake::sinks::runs::RunStatus::Partial {
        EXIT_PARTIAL
    } else if summary.rejected() > 0 {
        EXIT_REJECTS
    } else {
        0
    })
}

/// The alerts and DUET items this run created or updated, most severe first.
async fn print_findings(outputs: &auditlake::sinks::OutputTables, run_id: &str) -> Result<()> {
    const RANK: &str = "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END";
    let id = auditlake::sinks::sql_str(run_id);
    let alerts = outputs
        .alerts
        .query(&format!("SELECT severity, rule_id, cluster, actor, object, event_count FROM t WHERE last_run_id = {id} ORDER BY {RANK}, rule_id, first_seen, cluster, alert_id LIMIT 15"))
        .await?;
    let duet = outputs
        .duet
        .query(&format!("SELECT id, \"rule\", cluster, first_action FROM t WHERE run_id = {id} AND status = 'pending' ORDER BY {RANK}, \"rule\", event_time, cluster, id LIMIT 10"))
        .await?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (title, batches) in [("alerts (new or updated, most severe first)", &alerts), ("DUET items awaiting the customer", &duet)] {
        if batches.iter().any(|b| b.num_rows() > 0) {
            use std::io::Write;
            writeln!(out, "\n{title}:")?;
            super::output::write_batches(super::output::OutputFormat::Table, batches[0].schema(), batches, &mut out)?;
        }
    }
    Ok(())
}

fn print_text(s: &RunSummary) {
    let r = &s.record;
    let from = r.arrival_from.map_or_else(|| "the beginning".to_owned(), rfc3339);
    println!("run {} ({}, {}): arrivals {} .. {}", r.run_id, r.mode, r.status, from, rfc3339(r.arrival_to));
    println!(
        "  objects: {} new, {} already processed; rows: {} read, {} rejected, {} duplicates dropped; {} bytes fetched of {}",
        r.objects_new, r.objects_already_processed, r.rows_read, r.rows_rejected + r.objects_rejected, r.duplicates_dropped, r.bytes_fetched, r.bytes_read
    );
    if r.rows_skipped > 0 {
        println!("  skipped {} rows of other log categories (not audit events; expected): {}", r.rows_skipped, r.skipped);
    }
    if let (Some(a), Some(b)) = (r.event_from, r.event_to) {
        println!("  event time of new events: {} .. {}", rfc3339(a), rfc3339(b));
    }
    println!(
        "  alerts: {} new, {} updated; DUET items: {} new, {} expired; {} rules in {} ms",
        r.alerts_new, r.alerts_updated, r.duet_new, r.duet_expired, r.rules, r.duration_ms
    );
    if r.hits != "{}" {
        println!("  hits per rule: {}", r.hits);
    }
    if r.objects_late > 0 || r.objects_retried > 0 {
        println!("  late objects (landed into old partitions): {}; objects re-evaluated for failed rules: {}", r.objects_late, r.objects_retried);
    }
    if r.failed_rules != "{}" {
        println!("  FAILED RULES (the other rules ran; these are retried over the same objects by the next runs): {}", r.failed_rules);
    }
    if s.dry_run {
        println!("  (dry run: nothing written)");
    } else {
        println!("  output: {}", s.output);
    }
    if s.rejected() > 0 {
        println!("  rejected input is in the output `rejects` table: auditlake query \"SELECT * FROM run_rejects\"");
    }
}
