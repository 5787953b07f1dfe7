//! `auditlake generate`: realistic sample landings in all four formats.

use std::path::PathBuf;

use anyhow::Result;
use auditlake::generate::{GenerateOptions, generate};

use super::time::parse_time_arg;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Benign events in total, over all formats (attack scenarios come on top).
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Random seed; the same seed writes the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Start of the generated period.
    #[arg(long, default_value = "2026-11-01T00:00:00Z")]
    start: String,
    /// Length of the generated period in hours.
    #[arg(long, default_value_t = 6)]
    hours: u32,
    /// Clusters per format.
    #[arg(long, default_value_t = 1)]
    clusters: usize,
    /// Formats to land, comma-separated (default: all four); the events are split between them.
    #[arg(long, value_delimiter = ',')]
    formats: Vec<auditlake::sources::SourceFormat>,
}

pub fn run(args: GenerateArgs) -> Result<u8> {
    let now = chrono::Utc::now().timestamp_micros();
    let opts = GenerateOptions {
        out: args.out,
        events: args.events,
        seed: args.seed,
        start_micros: parse_time_arg(&args.start, now)?,
        hours: args.hours.max(1),
        clusters_per_format: args.clusters.max(1),
        formats: if args.formats.is_empty() { GenerateOptions::default().formats } else { args.formats },
        ..GenerateOptions::default()
    };
    let started = std::time::Instant::now();
    let summary = generate(&opts)?;
    let total: u64 = summary.events.values().sum();
    eprintln!(
        "wrote {total} events ({} duplicate deliveries) and {} scenario instances in {} objects ({:.1} MB) to {} in {:.1}s",
        summary.duplicates.values().sum::<u64>(),
        summary.scenarios.len(),
        summary.objects,
        summary.bytes as f64 / 1e6,
        opts.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}
