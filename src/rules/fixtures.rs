//! Rule fixtures: the cases beside each rule, and what a case's result is judged by. The runner
//! shared by `auditlake rules test`, `rules validate` and the tests is `engine::check`.
//!
//! Fixtures sit beside each rule as `<id>.fixtures.jsonl`: one case per line,
//! `{"name": "...", "expect": "hit" | "miss", "events": [<audit.k8s.io Event>, ...]}`, optionally with
//! `"allowlists": {"list": ["value", ...]}` added for that case (what a deployment's config would add).
//! Each case is evaluated alone: its events become the whole `audit_events` table.

use std::collections::BTreeSet;
use std::path::PathBuf;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use serde::Deserialize;

use super::{EVIDENCE_ID_COLUMNS, Rule};
use crate::normalize::record::Envelope;
use crate::normalize::{AuditEventBuilder, parse_audit_event};
use crate::{Error, Result};

/// Whether a case must make the rule fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Hit,
    Miss,
}

/// One fixture case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureCase {
    pub name: String,
    pub expect: Expect,
    pub events: Vec<serde_json::Value>,
    /// Allow-list values added for this case (a deployment's config, e.g. `approved_images`).
    #[serde(default)]
    pub allowlists: std::collections::BTreeMap<String, Vec<String>>,
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub name: String,
    pub expect: Expect,
    pub passed: bool,
    /// The audit ids the rule returned.
    pub hits: BTreeSet<String>,
}

/// Time given to fixture events that carry none.
const FIXTURE_TIME: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
/// Cluster of fixture events.
pub const FIXTURE_CLUSTER: &str = "fixture";

/// The fixture file of a rule.
pub fn fixture_path(rule: &Rule) -> PathBuf {
    rule.path.with_file_name(format!("{}.fixtures.jsonl", rule.meta.id))
}

/// Loads a rule's fixture cases.
pub fn load_fixtures(rule: &Rule) -> Result<Vec<FixtureCase>> {
    let path = fixture_path(rule);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("reading fixtures {}", path.display()), e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| Error::Config(format!("{}:{}: {e}", path.display(), i + 1))))
        .collect()
}

/// Normalizes audit events given as JSON into one `audit_events` batch (cluster `fixture`).
pub fn events_batch(events: &[String]) -> Result<RecordBatch> {
    let mut b = AuditEventBuilder::new("fixture", "fixture");
    let env = Envelope { cluster: Some(FIXTURE_CLUSTER.into()), ..Envelope::default() };
    for (i, text) in events.iter().enumerate() {
        let e = parse_audit_event(text).map_err(|e| Error::Config(format!("fixture event {i}: {e}")))?;
        let t = e.event_time().unwrap_or(FIXTURE_TIME);
        b.append(&env, &e, t, "fixture", i as i64)?;
    }
    b.finish()
}

/// Audit ids in a rule's result (`audit_id` or the `audit_ids` list).
pub fn hit_ids(batches: &[RecordBatch]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for b in batches {
        let schema = b.schema();
        for name in EVIDENCE_ID_COLUMNS {
            let Ok(i) = schema.index_of(name) else { continue };
            let col = b.column(i);
            match col.data_type() {
                DataType::List(_) => {
                    let l = col.as_list::<i32>();
                    for r in 0..l.len() {
                        if l.is_valid(r) {
                            let v = l.value(r);
                            out.extend(v.as_string::<i32>().iter().flatten().map(str::to_owned));
                        }
                    }
                }
                DataType::Utf8 => out.extend(col.as_string::<i32>().iter().flatten().map(str::to_owned)),
                _ => {}
            }
        }
    }
    out
}
