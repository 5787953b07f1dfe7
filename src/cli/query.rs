//! `auditlake query`: SQL over the normalized and raw tables, printed in any output format.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use auditlake::{AuditLake, TimeWindow};

use super::common::ConfigArgs;
use super::output::{OutputFormat, write_batches};
use super::time::parse_time_arg;
use super::{EXIT_REJECTS, EXIT_USAGE};

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The SQL to run (or use -f).
    sql: Option<String>,
    /// Read the SQL from a file.
    #[arg(short = 'f', long = "file", conflicts_with = "sql")]
    file: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArgs,
    /// Only events at or after this time (RFC 3339, a date, `now`, or relative like -2h).
    #[arg(long)]
    from: Option<String>,
    /// Only events before this time.
    #[arg(long)]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Exit with code 3 if any input record or object was rejected.
    #[arg(long)]
    strict: bool,
    /// Print what was read, dropped and rejected to stderr.
    #[arg(long)]
    stats: bool,
}

pub async fn run(args: QueryArgs) -> Result<u8> {
    let sql = match (&args.sql, &args.file) {
        (Some(s), _) => s.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
        (None, None) => {
            eprintln!("auditlake: give the SQL as an argument or with -f FILE");
            return Ok(EXIT_USAGE);
        }
    };
    let config = args.config.load()?;
    let now = chrono::Utc::now().timestamp_micros();
    let window = TimeWindow {
        from: args.from.as_deref().map(|s| parse_time_arg(s, now)).transpose()?,
        to: args.to.as_deref().map(|s| parse_time_arg(s, now)).transpose()?,
    };
    if let (Some(f), Some(t)) = (window.from, window.to)
        && f >= t
    {
        return Err(auditlake::Error::Config("--from must be before --to".into()).into());
    }
    let lake = AuditLake::open(&config, window).await?;
    // The run outputs (alerts, duet_queue, runs, run_rejects, processed_objects), when present.
    let outputs = auditlake::sinks::OutputTables::new(&config)?;
    auditlake::sinks::delta::register_outputs(lake.context(), &outputs).await?;
    let df = lake.sql(&sql).await?;
    let schema = df.schema().as_arrow().clone();
    let batches = df.collect().await.map_err(auditlake::Error::from)?;
    if args.format == OutputFormat::Parquet && args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("refusing to write Parquet to a terminal; use --output FILE");
    }
    match &args.output {
        Some(path) => {
            let mut f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            write_batches(args.format, schema.into(), &batches, &mut f)?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            write_batches(args.format, schema.into(), &batches, &mut lock)?;
            lock.flush()?;
        }
    }
    let report = lake.report();
    let totals = report.totals();
    if args.stats {
        for (source, c) in report.per_source() {
            eprintln!(
                "{source}: objects listed {} opened {} rejected {}; rows read {} skipped {} rejected {} duplicates {} outside window {}; bytes {} (fetched {})",
                c.objects_listed, c.objects_opened, c.objects_rejected, c.rows_read, c.rows_skipped, c.rows_rejected, c.duplicates_dropped, c.rows_out_of_window, c.bytes_read, c.bytes_fetched
            );
        }
        let skipped = report.skipped();
        if !skipped.is_empty() {
            eprintln!("rows of other log categories skipped: {}", serde_json::to_string(&skipped)?);
        }
    }
    let rejected = report.rejected();
    if rejected > 0 {
        eprintln!("auditlake: {} record(s) and {} object(s) rejected; see them with: auditlake query \"SELECT * FROM rejects\"", totals.rows_rejected, totals.objects_rejected);
        for (source, r) in report.samples().iter().take(5) {
            let row = r.row.map(|n| format!(" row {n}")).unwrap_or_default();
            let field = r.field.as_deref().map(|f| format!(" field '{f}'")).unwrap_or_default();
            eprintln!("  {source}: {}{row}{field}: {}", r.object, r.reason);
        }
        if args.strict {
            return Ok(EXIT_REJECTS);
        }
    }
    Ok(0)
}
