//! Evaluates a rule pack over the session's `audit_events`: each rule's evidence rows, per rule,
//! each rule as its own query (no shared scan).
//!
//! Only the tests use this path (`tests/it/scenarios.rs`); runs, `query` and `bench` go through
//! [`super::pack`]. It stays in the library because the tests drive it through the public API.

use datafusion::arrow::record_batch::RecordBatch;

use super::AuditLake;
use crate::Result;
use crate::rules::Rule;
use crate::rules::fixtures::hit_ids;

/// What one rule returned.
#[derive(Debug, Clone)]
pub struct RuleHits {
    pub rule_id: String,
    pub batches: Vec<RecordBatch>,
}

impl RuleHits {
    /// Evidence rows.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Audit ids of all evidence events.
    pub fn audit_ids(&self) -> std::collections::BTreeSet<String> {
        hit_ids(&self.batches)
    }
}

/// Runs every rule; a failing rule is reported in its slot and does not stop the others.
pub async fn run_rules(lake: &AuditLake, rules: &[Rule]) -> Vec<(String, Result<RuleHits>)> {
    let mut out = Vec::with_capacity(rules.len());
    for rule in rules {
        let result = async {
            let batches = lake.sql(&rule.sql).await?.collect().await?;
            Ok(RuleHits { rule_id: rule.meta.id.clone(), batches })
        }
        .await;
        out.push((rule.meta.id.clone(), result));
    }
    out
}
