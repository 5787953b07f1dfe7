//! `auditlake duet list|show|answer`: the customer-facing DUET queue.

use std::io::Write;

use anyhow::Result;
use auditlake::run::answer::{Answer, answer};
use auditlake::sinks::{DuetStatus, sql_str};

use super::common::ConfigArgs;
use super::output::{OutputFormat, write_batches};

#[derive(Debug, clap::Args)]
pub struct DuetArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: DuetCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DuetCommand {
    /// List items, newest first.
    List {
        /// Only items with this status.
        #[arg(long, value_parser = ["pending", "expected", "unexpected", "expired"])]
        status: Option<String>,
        /// At most this many items.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Show one item in full.
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
        format: OutputFormat,
    },
    /// Answer an item: expected (confirmed benign) or unexpected (escalates to an alert).
    Answer {
        id: String,
        #[arg(long, conflicts_with = "unexpected", required_unless_present = "unexpected")]
        expected: bool,
        #[arg(long)]
        unexpected: bool,
        /// Who answers (name or e-mail).
        #[arg(long)]
        by: String,
        #[arg(long)]
        note: Option<String>,
        /// Replace an earlier answer.
        #[arg(long)]
        force: bool,
    },
}

const LIST_COLUMNS: &str = "id, status, severity, \"rule\", cluster, namespace, actor, object, first_action, routed_to, event_time, created_at, due_by, answered_by, answered_at, note";

pub async fn run(args: DuetArgs) -> Result<u8> {
    let outputs = args.config.outputs()?;
    let stdout = std::io::stdout();
    match args.command {
        DuetCommand::List { status, limit, format } => {
            let mut sql = format!("SELECT {} FROM t", if format == OutputFormat::Table { LIST_COLUMNS } else { "*" });
            if let Some(s) = &status {
                let s: DuetStatus = s.parse()?;
                sql.push_str(&format!(" WHERE status = '{}'", s.as_str()));
            }
            sql.push_str(" ORDER BY created_at DESC, event_time DESC, id");
            if let Some(n) = limit {
                sql.push_str(&format!(" LIMIT {n}"));
            }
            let batches = outputs.duet.query(&sql).await?;
            let schema = batches.first().map(|b| b.schema()).unwrap_or_else(|| outputs.duet.schema().clone());
            write_batches(format, schema, &batches, &mut stdout.lock())?;
        }
        DuetCommand::Show { id, format } => {
            let batches = outputs.duet.query(&format!("SELECT * FROM t WHERE id = {}", sql_str(&id))).await?;
            if batches.iter().all(|b| b.num_rows() == 0) {
                return Err(auditlake::Error::NotFound(format!("no DUET item with id {id}")).into());
            }
            write_batches(format, batches[0].schema(), &batches, &mut stdout.lock())?;
        }
        DuetCommand::Answer { id, expected, unexpected: _, by, note, force } => {
            let a = Answer { id, expected, by, note, force, now: chrono::Utc::now().timestamp_micros() };
            let (item, escalation) = answer(&outputs, &a).await?;
            let mut out = stdout.lock();
            writeln!(out, "DUET item {} is now {} (answered by {})", item.id, item.status.as_str(), item.answered_by.as_deref().unwrap_or("?"))?;
            if let Some(alert) = escalation {
                writeln!(out, "escalated: alert {alert} in the alerts table")?;
            }
        }
    }
    Ok(0)
}
