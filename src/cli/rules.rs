//! `auditlake rules list|validate|test`: the rule pack's tooling.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use auditlake::engine::check::{plan_rule, test_rule};
use auditlake::rules::Allowlists;
use auditlake::rules::fixtures::Expect;
use auditlake::rules::{Rule, default_rules_dir, load_rules, pack_problems};

use super::{EXIT_FAILED, EXIT_USAGE};

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Rules directory (default: the bundled queries/).
    #[arg(long, global = true)]
    rules: Option<PathBuf>,
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RulesCommand {
    /// List the rules: id, kind, severity, ATT&CK, title.
    List {
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Check every header, id and plan; exit 2 on any problem.
    Validate,
    /// Run every rule against its fixtures; exit 1 on any failure.
    Test,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

fn load(args: &RulesArgs) -> Result<(Vec<Rule>, Allowlists)> {
    let dir = match &args.rules {
        Some(d) => d.clone(),
        None => default_rules_dir()?,
    };
    Ok((load_rules(&dir)?, Allowlists::for_rules_dir(&dir)?))
}

pub async fn run(args: RulesArgs) -> Result<u8> {
    let (rules, allowlists) = load(&args)?;
    let mut out = std::io::stdout().lock();
    match args.command {
        RulesCommand::List { format: ListFormat::Json } => {
            for r in &rules {
                let line = serde_json::json!({
                    "id": r.meta.id, "kind": r.meta.kind, "severity": r.meta.severity, "attack": r.meta.attack,
                    "title": r.meta.title, "tactic": r.tactic, "catalog": r.meta.catalog,
                });
                writeln!(out, "{line}")?;
            }
        }
        RulesCommand::List { format: ListFormat::Table } => {
            writeln!(out, "{:<44} {:<6} {:<9} {:<28} TITLE", "ID", "KIND", "SEVERITY", "ATT&CK")?;
            for r in &rules {
                let kind = serde_json::to_value(r.meta.kind)?;
                let sev = serde_json::to_value(r.meta.severity)?;
                writeln!(out, "{:<44} {:<6} {:<9} {:<28} {}", r.meta.id, kind.as_str().unwrap_or(""), sev.as_str().unwrap_or(""), r.meta.attack.join(","), r.meta.title)?;
            }
            writeln!(out, "{} rules", rules.len())?;
        }
        RulesCommand::Validate => {
            let mut problems = pack_problems(&rules);
            for r in &rules {
                if let Err(e) = plan_rule(r, &allowlists).await {
                    problems.entry(r.meta.id.clone()).or_default().push(e.to_string());
                }
                if !auditlake::rules::fixtures::fixture_path(r).is_file() {
                    problems.entry(r.meta.id.clone()).or_default().push("no fixtures file".into());
                }
            }
            for (id, ps) in &problems {
                for p in ps {
                    writeln!(out, "{id}: {p}")?;
                }
            }
            writeln!(out, "{} rules, {} with problems", rules.len(), problems.len())?;
            if !problems.is_empty() {
                return Ok(EXIT_USAGE);
            }
        }
        RulesCommand::Test => {
            let (mut passed, mut failed) = (0, 0);
            for r in &rules {
                match test_rule(r, &allowlists).await {
                    Ok(cases) => {
                        let has_hit = cases.iter().any(|c| c.expect == Expect::Hit);
                        let has_miss = cases.iter().any(|c| c.expect == Expect::Miss);
                        let bad: Vec<String> = cases.iter().filter(|c| !c.passed).map(|c| format!("{:?} case '{}' (returned {:?})", c.expect, c.name, c.hits)).collect();
                        if bad.is_empty() && has_hit && has_miss {
                            passed += 1;
                            writeln!(out, "ok     {} ({} cases)", r.meta.id, cases.len())?;
                        } else {
                            failed += 1;
                            let why = if bad.is_empty() { "needs at least one hit and one miss case".to_owned() } else { bad.join("; ") };
                            writeln!(out, "FAILED {}: {why}", r.meta.id)?;
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        writeln!(out, "FAILED {}: {e}", r.meta.id)?;
                    }
                }
            }
            writeln!(out, "{passed} passed, {failed} failed")?;
            if failed > 0 {
                return Ok(EXIT_FAILED);
            }
        }
    }
    Ok(0)
}
