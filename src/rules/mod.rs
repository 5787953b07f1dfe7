//! Detection rules: one `.sql` file per detection under `queries/<tactic>/`, a TOML metadata header
//! in a leading `/* ... */` comment, and DataFusion SQL over `audit_events` and the fact views.
//! Loading, header parsing and validation live here; fixtures in [`fixtures`] (run by
//! `engine::check`, which plans rules in a session).
//!
//! The contract is written down in `queries/README.md`.

pub mod allowlists;
pub mod fixtures;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use allowlists::Allowlists;

use crate::{Error, Result};

/// Alert (for analysts) or DUET item ("did you expect this?", for the customer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    Alert,
    Duet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// The metadata header of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleMeta {
    /// Stable id, lower-case words joined by `_` (e.g. `exec_reverse_shell`).
    pub id: String,
    pub title: String,
    pub description: String,
    pub kind: RuleKind,
    pub severity: Severity,
    /// MITRE ATT&CK technique ids (`T1609`, `T1552.007`).
    pub attack: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Catalogue ids this rule implements (`D13`).
    #[serde(default)]
    pub catalog: Vec<String>,
    #[serde(default)]
    pub references: Vec<String>,
    /// Known benign causes and how to tune them.
    pub false_positives: String,
    /// Alerts: what to do about it (e.g. the kubectl command that reverts the change).
    pub remediation: Option<String>,
    /// DUETs: the question put to the customer, templated with `{column}` evidence fields.
    pub first_action: Option<String>,
    /// Aggregation rules: the event-time bucket, e.g. `5m` (epoch-aligned).
    pub bucket: Option<String>,
    /// Aggregation rules: the result columns that identify a group (with the bucket they make
    /// the alert id, so a re-evaluated bucket updates its alert instead of adding one).
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Sequence rules: how far apart in event time the joined events may be (e.g. `5m`); scheduled
    /// runs re-read that much context around newly landed events.
    pub span: Option<String>,
    /// Suppression: result columns whose values make repeats "the same" (e.g. `["cluster",
    /// "actor", "obj_namespace", "obj_name"]`) ...
    #[serde(default)]
    pub suppress_by: Vec<String>,
    /// ... and the epoch-aligned event-time period they are folded over (e.g. `1h`): repeats in
    /// one period raise the first alert's count instead of creating alerts.
    pub suppress_for: Option<String>,
}

impl RuleMeta {
    /// Whether the rule correlates several events (aggregation or sequence), so a scheduled run
    /// must evaluate it over event-time context around new events, not over new events alone.
    pub fn is_multi_event(&self) -> bool {
        self.bucket.is_some() || self.span.is_some()
    }

    /// How much event-time context around new events the rule needs, microseconds.
    pub fn context_micros(&self) -> i64 {
        [&self.bucket, &self.span].into_iter().flatten().filter_map(|d| crate::config::parse_duration_micros(d).ok()).max().unwrap_or(0)
    }
}

/// The least common multiple of the rules' buckets, microseconds (1 when none): a window cut at
/// multiples of it leaves every rule's buckets whole.
pub fn bucket_alignment<'a>(rules: impl IntoIterator<Item = &'a RuleMeta>) -> i64 {
    fn gcd(a: i64, b: i64) -> i64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    rules
        .into_iter()
        .filter_map(|r| r.bucket.as_deref().and_then(|b| crate::config::parse_duration_micros(b).ok()))
        .filter(|b| *b > 0)
        .fold(1i64, |acc, b| acc / gcd(acc, b) * b)
}

/// One loaded rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub meta: RuleMeta,
    /// The SQL body (the header comment removed).
    pub sql: String,
    /// The file it came from.
    pub path: PathBuf,
    /// The tactic folder it sits in.
    pub tactic: String,
}

/// Columns every rule's result must carry so an analyst can go from hit to raw record.
pub const EVIDENCE_COLUMNS: &[&str] = &["cluster", "event_time", "actor", "source_ip", "user_agent", "verb", "obj_resource", "obj_namespace", "obj_name"];
/// A rule returns its evidence audit ids in one of these.
pub const EVIDENCE_ID_COLUMNS: [&str; 2] = ["audit_id", "audit_ids"];

/// Splits a rule file into its TOML header and SQL body.
pub fn parse_rule(text: &str, path: &Path) -> Result<(RuleMeta, String)> {
    let err = |m: String| Error::Config(format!("{}: {m}", path.display()));
    let t = text.trim_start();
    let rest = t.strip_prefix("/*").ok_or_else(|| err("a rule starts with a /* ... */ TOML header".into()))?;
    let end = rest.find("*/").ok_or_else(|| err("unterminated header comment".into()))?;
    let meta: RuleMeta = toml::from_str(&rest[..end]).map_err(|e| err(format!("header: {e}")))?;
    let sql = rest[end + 2..].trim().trim_end_matches(';').to_owned();
    Ok((meta, sql))
}

/// Loads every `*.sql` rule below `dir` (sorted by path).
pub fn load_rules(dir: &Path) -> Result<Vec<Rule>> {
    let mut files = Vec::new();
    collect_sql(dir, &mut files)?;
    files.sort();
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let tactic = path.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match parse_rule(&text, &path) {
            Ok((meta, sql)) => rules.push(Rule { meta, sql, path, tactic }),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Config(problems.join("; ")));
    }
    Ok(rules)
}

fn collect_sql(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(format!("reading rules directory {}", dir.display()), e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?.path();
        if path.is_dir() {
            collect_sql(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    Ok(())
}

/// A rule pack as one value: its rules and the default allow-lists they read (the pack's
/// `allowlists.toml`), so a pack loaded from elsewhere (`run --rules DIR`) runs with its own lists.
#[derive(Debug, Clone)]
pub struct RulePack {
    pub rules: Vec<Rule>,
    pub allowlists: Allowlists,
}

impl RulePack {
    /// Loads the rules and allow-lists below `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        Ok(RulePack { rules: load_rules(dir)?, allowlists: Allowlists::for_rules_dir(dir)? })
    }

    /// The bundled pack ([`default_rules_dir`]).
    pub fn bundled() -> Result<Self> {
        Self::load(&default_rules_dir()?)
    }
}

/// The bundled rule pack: `./queries`, else the one in the source tree.
pub fn default_rules_dir() -> Result<PathBuf> {
    [PathBuf::from("queries"), PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("queries")]
        .into_iter()
        .find(|p| p.join("README.md").is_file())
        .ok_or_else(|| Error::Config("the bundled queries/ directory was not found; pass --rules DIR".into()))
}

/// Metadata problems of a rule (the SQL is checked by planning it, see `engine::check`).
pub fn metadata_problems(rule: &Rule) -> Vec<String> {
    let m = &rule.meta;
    let mut p = Vec::new();
    if m.id.is_empty() || !m.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        p.push("id must be lower-case letters, digits and _".to_owned());
    }
    if rule.path.file_stem().is_some_and(|s| s != m.id.as_str()) {
        p.push(format!("file name must be {}.sql", m.id));
    }
    if m.title.trim().is_empty() || m.description.trim().is_empty() || m.false_positives.trim().is_empty() {
        p.push("title, description and false_positives must not be empty".to_owned());
    }
    if m.attack.is_empty() || !m.attack.iter().all(|t| t.starts_with('T') && t[1..].split('.').all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))) {
        p.push(format!("attack must list ATT&CK technique ids like T1609 or T1552.007, got {:?}", m.attack));
    }
    match m.kind {
        RuleKind::Duet if m.first_action.as_deref().is_none_or(|s| s.trim().is_empty()) => p.push("a duet needs first_action".to_owned()),
        RuleKind::Alert if m.remediation.as_deref().is_none_or(|s| s.trim().is_empty()) => p.push("an alert needs remediation".to_owned()),
        _ => {}
    }
    for (what, d) in [("bucket", &m.bucket), ("span", &m.span), ("suppress_for", &m.suppress_for)] {
        if let Some(d) = d
            && crate::config::parse_duration_micros(d).is_err()
        {
            p.push(format!("{what} '{d}' is not a duration"));
        }
    }
    if m.bucket.is_some() && m.group_by.is_empty() {
        p.push("an aggregation rule (bucket) needs group_by: the result columns that identify a group".to_owned());
    }
    if m.suppress_by.is_empty() != m.suppress_for.is_none() {
        p.push("suppress_by and suppress_for go together".to_owned());
    }
    p
}

/// Problems across the pack: duplicate ids, plus each rule's metadata problems, keyed by rule id.
pub fn pack_problems(rules: &[Rule]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen = BTreeMap::new();
    for r in rules {
        let mut p = metadata_problems(r);
        if let Some(prev) = seen.insert(r.meta.id.clone(), r.path.clone()) {
            p.push(format!("duplicate id (also {})", prev.display()));
        }
        if !p.is_empty() {
            out.entry(r.meta.id.clone()).or_default().extend(p);
        }
    }
    out
}

/// Renders a `{column}` template with evidence values (missing values render as `?`).
pub fn render_template(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                let key = &rest[open + 1..open + close];
                out.push_str(&value(key).unwrap_or_else(|| "?".into()));
                rest = &rest[open + close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_body() {
        let text = "/*\nid = \"x\"\ntitle = \"T\"\ndescription = \"D\"\nkind = \"duet\"\nseverity = \"low\"\nattack = [\"T1609\"]\nfalse_positives = \"f\"\nfirst_action = \"Did you expect {actor}?\"\n*/\nSELECT * FROM k8s_events;\n";
        let (meta, sql) = parse_rule(text, Path::new("x.sql")).unwrap();
        assert_eq!(meta.kind, RuleKind::Duet);
        assert_eq!(sql, "SELECT * FROM k8s_events");
        assert!(parse_rule("SELECT 1", Path::new("y.sql")).is_err());
    }

    #[test]
    fn templates() {
        let s = render_template("Did you expect {actor} to exec into {ns}/{pod}?", |k| (k == "actor").then(|| "alice".to_owned()));
        assert_eq!(s, "Did you expect alice to exec into ?/??");
    }
}
