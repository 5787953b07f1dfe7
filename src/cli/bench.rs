//! `auditlake bench`: generates a data set (or reuses one) and measures a bare scan of
//! `audit_events`, then the rule pack, reporting events/s, MB/s and peak RSS.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use auditlake::engine::detect::run_rules;
use auditlake::generate::{GenerateOptions, generate};
use auditlake::rules::{default_rules_dir, load_rules};
use auditlake::{AuditLake, Config, TimeWindow};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Data directory; generated there when it has no data yet.
    #[arg(long)]
    dir: PathBuf,
    /// Events to generate when the directory is empty.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Hours the generated events span.
    #[arg(long, default_value_t = 24)]
    hours: u32,
    /// Also time one query per rule.
    #[arg(long)]
    per_rule: bool,
}

/// Peak resident set size of this process in MiB (Linux), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub async fn run(args: BenchArgs) -> Result<u8> {
    if !args.dir.join("labels.jsonl").is_file() {
        let started = Instant::now();
        let opts = GenerateOptions { out: args.dir.clone(), events: args.events, hours: args.hours, ..GenerateOptions::default() };
        let s = generate(&opts)?;
        eprintln!("generated {} events in {:.1}s", s.events.values().sum::<u64>(), started.elapsed().as_secs_f64());
    }
    let config = Config::from_toml(auditlake::config::EMBEDDED_DEFAULT, &args.dir)?;

    let lake = AuditLake::open(&config, TimeWindow::default()).await?;
    let started = Instant::now();
    let n = lake.sql("SELECT count(*) FROM audit_events").await?.collect().await.map_err(auditlake::Error::from)?;
    let scan = started.elapsed().as_secs_f64();
    let rows: i64 = n.first().map(|b| b.column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().map_or(0, |a| a.value(0))).unwrap_or(0);
    let bytes = lake.report().totals().bytes_read as f64;
    println!("bare scan: {rows} events in {scan:.2}s = {:.0} events/s, {:.1} MB/s (Parquet bytes), peak RSS {:.0} MiB", rows as f64 / scan, bytes / scan / 1e6, peak_rss_mib().unwrap_or(0.0));

    let rules = load_rules(&default_rules_dir()?)?;
    let started = Instant::now();
    let results = run_rules(&lake, &rules).await;
    let pack = started.elapsed().as_secs_f64();
    let hits: usize = results.iter().filter_map(|(_, r)| r.as_ref().ok()).map(|h| h.rows()).sum();
    println!("rule pack ({} rules): {pack:.2}s = {:.0} events/s, {:.2}x the bare scan, {hits} hits, peak RSS {:.0} MiB", rules.len(), rows as f64 / pack, pack / scan, peak_rss_mib().unwrap_or(0.0));

    if args.per_rule {
        for rule in &rules {
            let started = Instant::now();
            let batches = lake.sql(&rule.sql).await?.collect().await.map_err(auditlake::Error::from)?;
            let hits: usize = batches.iter().map(|b| b.num_rows()).sum();
            println!("  {:<44} {:>7.3}s {hits:>6} hits", rule.meta.id, started.elapsed().as_secs_f64());
        }
    }
    Ok(0)
}
