//! Command-line interface: argument parsing, one module per subcommand, exit codes.
//!
//! Exit codes: 0 success; 1 failed (retryable); 2 configuration or usage error, or an output
//! location that cannot be written (not retryable); 3 completed, but input was rejected (`run`
//! always; `query` with `--strict`); 4 `run` completed but some rules failed (`partial`: recorded
//! in `runs`, retried by the next runs).

mod bench;
mod common;
mod duet;
mod generate;
mod output;
mod query;
mod rules;
mod run;
mod runs;
mod time;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Finds attacks in Kubernetes audit logs landed in a data lake.
#[derive(Debug, Parser)]
#[command(name = "auditlake", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One scheduled detection run over newly landed data: alerts, DUET items, run log.
    Run(run::RunArgs),
    /// The DUET queue: list items, answer them.
    Duet(duet::DuetArgs),
    /// The run log, with coverage gaps flagged.
    Runs(runs::RunsArgs),
    /// Run SQL over `audit_events`, `rejects` and the raw source tables.
    Query(query::QueryArgs),
    /// Measure scan and rule-pack throughput on a generated data set.
    Bench(bench::BenchArgs),
    /// List, validate and test the detection rules.
    Rules(rules::RulesArgs),
    /// Write realistic sample landings (benign traffic plus labeled attacks) in all four formats.
    Generate(generate::GenerateArgs),
}

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_REJECTS: u8 = 3;
pub const EXIT_PARTIAL: u8 = 4;

fn init_logging(format: LogFormat, verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // delta-rs warns on every MERGE that a scan metric is derived; that is not the user's concern.
    let default = format!("{default},deltalake_core::operations::merge=error");
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUDITLAKE_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only for a person at a terminal: log collectors get plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Maps a failure to its exit code: configuration and usage problems are not retryable.
fn exit_code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<auditlake::Error>() {
            return match e {
                auditlake::Error::Config(_) | auditlake::Error::ConfigRead { .. } | auditlake::Error::InvalidTime(_) | auditlake::Error::NotFound(_) => EXIT_USAGE,
                auditlake::Error::Conflict(_) | auditlake::Error::OutputUnwritable { .. } => EXIT_USAGE,
                auditlake::Error::StrictRejects(_) => EXIT_REJECTS,
                auditlake::Error::RuleFailed { .. } => EXIT_FAILED,
                auditlake::Error::DataFusion(df) if is_plan_error(df) => EXIT_USAGE,
                _ => EXIT_FAILED,
            };
        }
        if let Some(df) = cause.downcast_ref::<datafusion::error::DataFusionError>()
            && is_plan_error(df)
        {
            return EXIT_USAGE;
        }
    }
    EXIT_FAILED
}

fn is_plan_error(e: &datafusion::error::DataFusionError) -> bool {
    use datafusion::error::DataFusionError as E;
    matches!(e.find_root(), E::SQL(..) | E::Plan(_) | E::SchemaError(..))
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Parses arguments, runs the subcommand, and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    init_logging(cli.log_format, cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("auditlake: cannot start runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run_command(args).await,
            Command::Duet(args) => duet::run(args).await,
            Command::Runs(args) => runs::run(args).await,
            Command::Query(args) => query::run(args).await,
            Command::Generate(args) => generate::run(args),
            Command::Rules(args) => rules::run(args).await,
            Command::Bench(args) => bench::run(args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auditlake: {e:#}");
            ExitCode::from(exit_code_for(&e))
        }
    }
}
