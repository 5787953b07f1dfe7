//! `auditlake bench`: per landed shape, generates N events (once; reused later) and measures
//! (a) a bare scan that decodes every column the pack reads and parses the JSON once (for a typed
//! landing, whose bodies stay JSON text, decoding alone is measured too), (b) the full
//! rule pack over one shared scan, and (c) optionally the naive plan, one query per rule. Reports
//! events/s, MB/s of Parquet read and the peak RSS of each phase, and what planning the pack alone
//! costs (the fixed cost of every run, most of a scheduled run over a few minutes of a quiet
//! cluster's events).
//! BENCHMARKS.md has the results and the commands.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use auditlake::generate::{GenerateOptions, generate};
use auditlake::rules::{Rule, default_rules_dir, load_rules};
use auditlake::sources::SourceFormat;
use auditlake::engine::ObjectScope;
use auditlake::engine::pack::{PackResults, rule_queries};
use auditlake::{AuditLake, Config, TimeWindow};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Data directory: one sub-directory per shape, generated when absent.
    #[arg(long)]
    dir: PathBuf,
    /// Events per shape to generate (when its directory is absent).
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Hours the generated events span.
    #[arg(long, default_value_t = 24)]
    hours: u32,
    /// Shapes to measure.
    #[arg(long, value_delimiter = ',', default_value = "eks_cloudwatch,aks_diagnostics,k8s_audit")]
    shapes: Vec<SourceFormat>,
    /// Use only the first N rules of the pack (by path), to see how cost grows with rules.
    #[arg(long)]
    max_rules: Option<usize>,
    /// Use only these rules (ids), e.g. to profile one rule's plan.
    #[arg(long, value_delimiter = ',')]
    rules: Vec<String>,
    /// Also time the naive plan: one query (one scan) per rule.
    #[arg(long)]
    naive: bool,
    /// Event-time chunk a scan covers (`scan.chunk`; `0`: the whole window in one pass).
    #[arg(long, default_value = "24h")]
    chunk: String,
    /// Print one JSON object per measurement instead of text.
    #[arg(long)]
    json: bool,
    /// Run the bare scan (and decode-only scan) and the pack this many times, alternating, and report the median run
    /// of each, and of as many planning measurements (this machine's timings vary by 15% or more from run to run).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

/// CPU time (user + system, all threads) this process has used so far, in seconds (Linux).
fn cpu_seconds() -> f64 {
    let read = || -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
        let rest = &stat[stat.rfind(')')? + 2..];
        let mut fields = rest.split_whitespace().skip(11);
        let (utime, stime): (f64, f64) = (fields.next()?.parse().ok()?, fields.next()?.parse().ok()?);
        // Clock ticks; 100 per second on every Linux this runs on (USER_HZ).
        Some((utime + stime) / 100.0)
    };
    read().unwrap_or(0.0)
}

/// Peak resident set size of this process in MiB (Linux), if known.
fn peak_rss_mib() -> f64 {
    let read = || -> Option<f64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    read().unwrap_or(0.0)
}

/// Resets the peak-RSS mark so each phase reports its own (Linux `clear_refs`, value 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Times the pack is planned per planning measurement (planning 69 rules takes a fraction of a
/// second; the CPU clock ticks 100 times a second).
const PLANS_PER_MEASUREMENT: usize = 5;

#[derive(Debug, Serialize)]
struct Measurement {
    shape: String,
    phase: &'static str,
    events: i64,
    rules: usize,
    seconds: f64,
    cpu_seconds: f64,
    events_per_s: f64,
    parquet_mb_per_s: f64,
    peak_rss_mib: f64,
    objects_opened: u64,
    hits: usize,
}

fn shape_config(dir: &Path, shape: SourceFormat, chunk: &str) -> Result<Config> {
    let mut config = Config::from_toml(auditlake::config::EMBEDDED_DEFAULT, dir)?;
    config.sources.retain(|s| s.format == shape);
    config.scan.chunk = chunk.to_owned();
    // The generator delivers a few records up to 90 minutes late; within the margin, evaluating
    // in chunks gives exactly the one-pass results (and event count).
    config.scan.lateness = "2h".into();
    config.validate()?;
    Ok(config)
}

fn ensure_data(dir: &Path, shape: SourceFormat, events: u64, hours: u32) -> Result<()> {
    if dir.join("labels.jsonl").is_file() {
        return Ok(());
    }
    let started = Instant::now();
    let opts = GenerateOptions { out: dir.to_path_buf(), events, hours, formats: vec![shape], ..GenerateOptions::default() };
    let s = generate(&opts)?;
    eprintln!("generated {} {shape} events in {:.1}s", s.events.values().sum::<u64>(), started.elapsed().as_secs_f64());
    Ok(())
}

/// Whether decoding `shape` parses every JSON text it holds. The JSON-text shapes parse the whole
/// event (bodies included: their bytes are checked and sliced out); a typed landing keeps the
/// request and response bodies as the JSON text columns they arrive as, unparsed.
fn decode_parses_bodies(shape: SourceFormat) -> bool {
    matches!(shape, SourceFormat::EksCloudwatch | SourceFormat::AksDiagnostics)
}

/// The bare scan: every landed object read and decoded into the normalized columns (the scan
/// decodes all of them whatever the query projects), nothing evaluated; chunk by chunk as the
/// pack reads them (margins included), counting each chunk's own events. With `parse_bodies`, the
/// body columns are also parsed once (`json_length`, the fastest full parse at hand): issue #6's
/// "parses the JSON once" for a shape whose decoder leaves them as text.
async fn bare_scan(lake: &AuditLake, rules: &[&Rule], parse_bodies: bool) -> Result<i64> {
    let metas: Vec<_> = rules.iter().map(|r| &r.meta).collect();
    let mut events = 0;
    for chunk in lake.plan_chunks(TimeWindow::default(), &ObjectScope::Listing, &metas).await? {
        lake.set_scope(chunk.scan, ObjectScope::Listing).await?;
        let bound = |t: Option<i64>, op: &str| t.map(|t| format!(" AND event_time {op} to_timestamp_micros({t})")).unwrap_or_default();
        // Summed so the parse cannot be optimized away; it covers the margins too, as the pack's does.
        let parse = if parse_bodies { ", sum(json_length(request_object)), sum(json_length(response_object))" } else { "" };
        let sql = format!("SELECT count(*) FILTER (WHERE true{}{}) AS n{parse} FROM audit_events", bound(chunk.keep.from, ">="), bound(chunk.keep.to, "<"));
        let n = lake.sql(&sql).await?.collect().await.map_err(auditlake::Error::from)?;
        events += n.first().and_then(|b| b.column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().map(|a| a.value(0))).unwrap_or(0);
    }
    Ok(events)
}

pub async fn run(args: BenchArgs) -> Result<u8> {
    let mut rules = load_rules(&default_rules_dir()?)?;
    if !args.rules.is_empty() {
        rules.retain(|r| args.rules.contains(&r.meta.id));
    }
    if let Some(n) = args.max_rules {
        rules.truncate(n);
    }
    let rule_refs: Vec<&Rule> = rules.iter().collect();
    let mut out = Vec::new();
    for &shape in &args.shapes {
        let dir = args.dir.join(shape.as_str());
        ensure_data(&dir, shape, args.events, args.hours)?;
        let config = shape_config(&dir, shape, &args.chunk)?;

        let mut events = 0;
        // (a) parses every JSON text once; where decoding alone does not, decoding alone is
        // measured too (a stricter baseline, reported beside it).
        let variants: &[(&'static str, bool)] =
            if decode_parses_bodies(shape) { &[("bare_scan", false)] } else { &[("bare_scan", true), ("decode_only", false)] };
        let (mut scans, mut packs): (Vec<Vec<Measurement>>, _) = (variants.iter().map(|_| Vec::new()).collect(), Vec::new());
        for _ in 0..args.repeat.max(1) {
            for (runs, &(phase, parse_bodies)) in scans.iter_mut().zip(variants) {
                reset_peak_rss();
                let lake = AuditLake::open(&config, TimeWindow::default()).await?;
                let (started, cpu) = (Instant::now(), cpu_seconds());
                events = bare_scan(&lake, &rule_refs, parse_bodies).await?;
                let scan = started.elapsed().as_secs_f64();
                let totals = lake.report().totals();
                runs.push(measure(shape, phase, events, 0, (scan, cpu_seconds() - cpu), totals.bytes_read, totals.objects_opened, 0));
            }

            reset_peak_rss();
            let lake = AuditLake::open(&config, TimeWindow::default()).await?;
            let (started, cpu) = (Instant::now(), cpu_seconds());
            let PackResults { results, cost, chunks, failed } = lake.run_pack(&rule_refs, TimeWindow::default(), ObjectScope::Listing).await?;
            if let Some(f) = failed.into_iter().next() {
                return Err(auditlake::Error::RuleFailed { rule: f.id, error: f.error }.into());
            }
            let pack = started.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu;
            if !args.json && packs.is_empty() {
                println!("{:<16} evaluated in {chunks} event-time chunk(s) of at most {}", shape.as_str(), args.chunk);
                let top: Vec<String> = cost.iter().take(12).map(|(id, t)| format!("{id} {:.2}s", t.as_secs_f64())).collect();
                println!("{:<16} costliest rule plans in the pack (CPU, scan excluded): {}", shape.as_str(), top.join(", "));
            }
            let hits = results.iter().map(|(_, b)| b.iter().map(|b| b.num_rows()).sum::<usize>()).sum();
            let totals = lake.report().totals();
            packs.push(measure(shape, "full_pack", events, rules.len(), (pack, cpu), totals.bytes_read, totals.objects_opened, hits));
        }
        out.extend(scans.into_iter().map(median));
        out.push(median(packs));

        // Planning alone: what a scheduled run over a small window mostly spends.
        let lake = AuditLake::open(&config, TimeWindow::default()).await?;
        let queries = rule_queries(&rule_refs);
        let mut plans = Vec::new();
        for _ in 0..args.repeat.max(1) {
            let (started, cpu) = (Instant::now(), cpu_seconds());
            for _ in 0..PLANS_PER_MEASUREMENT {
                lake.plan_pack(&queries).await?;
            }
            let per_plan = |t: f64| t / PLANS_PER_MEASUREMENT as f64;
            plans.push(measure(shape, "plan_pack", 0, rules.len(), (per_plan(started.elapsed().as_secs_f64()), per_plan(cpu_seconds() - cpu)), 0, 0, 0));
        }
        out.push(median(plans));

        if args.naive {
            reset_peak_rss();
            let lake = AuditLake::open(&config, TimeWindow::default()).await?;
            let (started, cpu) = (Instant::now(), cpu_seconds());
            let mut hits = 0;
            let mut per_rule = Vec::with_capacity(rules.len());
            for rule in &rules {
                let t = Instant::now();
                let batches = lake.sql(&rule.sql).await?.collect().await.map_err(auditlake::Error::from)?;
                hits += batches.iter().map(|b| b.num_rows()).sum::<usize>();
                per_rule.push((t.elapsed().as_secs_f64(), rule.meta.id.as_str()));
            }
            let naive = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
            // Each of these is one scan plus the rule: the ones far above the bare scan are
            // where the pack's cost is.
            per_rule.sort_by(|a, b| b.0.total_cmp(&a.0));
            if !args.json {
                let slowest: Vec<String> = per_rule.iter().take(12).map(|(t, id)| format!("{id} {t:.2}s")).collect();
                println!("{:<16} slowest rules alone (scan included): {}", shape.as_str(), slowest.join(", "));
            }
            let totals = lake.report().totals();
            out.push(measure(shape, "one_query_per_rule", events, rules.len(), naive, totals.bytes_read, totals.objects_opened, hits));
        }
        for m in out.iter().filter(|m| m.shape == shape.as_str()) {
            if args.json {
                println!("{}", serde_json::to_string(m)?);
            } else if m.phase == "plan_pack" {
                println!("{:<16} {:<19} {:>17} {:>3} rules {:>8.3}s (CPU {:>6.3}s) per plan, no data read", m.shape, m.phase, "", m.rules, m.seconds, m.cpu_seconds);
            } else {
                println!(
                    "{:<16} {:<19} {:>10} events {:>3} rules {:>8.2}s (CPU {:>6.2}s) {:>12.0} events/s {:>8.1} MB/s  peak RSS {:>6.0} MiB  objects opened {:>6}  hits {}",
                    m.shape, m.phase, m.events, m.rules, m.seconds, m.cpu_seconds, m.events_per_s, m.parquet_mb_per_s, m.peak_rss_mib, m.objects_opened, m.hits
                );
            }
        }
        if !args.json {
            let get = |p: &str| out.iter().find(|m| m.shape == shape.as_str() && m.phase == p).map(|m| m.seconds);
            if let (Some(a), Some(b)) = (get("bare_scan"), get("full_pack")) {
                let naive = get("one_query_per_rule").map(|c| format!(", one query per rule / full pack = {:.1}x", c / b)).unwrap_or_default();
                let strict = get("decode_only").map(|d| format!(" ({:.2}x decoding alone, bodies unparsed)", b / d)).unwrap_or_default();
                println!("{:<16} full pack / bare scan = {:.2}x{strict}{naive}", shape.as_str(), b / a);
            }
        }
    }
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
fn measure(shape: SourceFormat, phase: &'static str, events: i64, rules: usize, (seconds, cpu_seconds): (f64, f64), bytes: u64, objects_opened: u64, hits: usize) -> Measurement {
    Measurement {
        cpu_seconds,
        shape: shape.as_str().to_owned(),
        phase,
        events,
        rules,
        seconds,
        events_per_s: events as f64 / seconds,
        parquet_mb_per_s: bytes as f64 / seconds / 1e6,
        peak_rss_mib: peak_rss_mib(),
        objects_opened,
        hits,
    }
}

/// The run with the median wall time.
fn median(mut runs: Vec<Measurement>) -> Measurement {
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    runs.swap_remove(runs.len() / 2)
}
