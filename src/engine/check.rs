//! Checking rules without landed data: planning a rule against the `audit_events` schema
//! (`rules validate`) and running its fixture cases, each in a session whose `audit_events` is
//! exactly the case's events (`rules test`, and the tests). Shared by the CLI and the tests.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::pack::constants::plan_sql;
use super::session::{new_context, register_rule_support};
use crate::normalize::schema::{AUDIT_EVENTS_TABLE, audit_events_schema};
use crate::rules::fixtures::{CaseOutcome, Expect, events_batch, hit_ids, load_fixtures};
use crate::rules::{Allowlists, EVIDENCE_COLUMNS, EVIDENCE_ID_COLUMNS, Rule};
use crate::{Error, Result};

/// A session whose `audit_events` is exactly `batch`, with the fact views and allow-lists.
pub async fn session_over(batch: RecordBatch, allowlists: &Allowlists) -> Result<SessionContext> {
    let ctx = new_context()?;
    ctx.register_table(AUDIT_EVENTS_TABLE, Arc::new(MemTable::try_new(audit_events_schema(), vec![vec![batch]])?))?;
    register_rule_support(&ctx, allowlists).await?;
    Ok(ctx)
}

/// Plans a rule against the schema (no data) and checks its result carries the evidence columns.
pub async fn plan_rule(rule: &Rule, allowlists: &Allowlists) -> Result<SchemaRef> {
    let ctx = session_over(RecordBatch::new_empty(audit_events_schema()), allowlists).await?;
    let df = plan_sql(&ctx, &rule.sql).await.map_err(|e| Error::Config(format!("{}: does not plan: {e}", rule.meta.id)))?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let missing: Vec<&str> = EVIDENCE_COLUMNS.iter().copied().filter(|c| schema.index_of(c).is_err()).collect();
    if !missing.is_empty() || !EVIDENCE_ID_COLUMNS.iter().any(|c| schema.index_of(c).is_ok()) {
        return Err(Error::Config(format!("{}: result lacks evidence columns {missing:?} or audit_id/audit_ids", rule.meta.id)));
    }
    let keys = rule.meta.group_by.iter().chain(&rule.meta.suppress_by);
    let unknown: Vec<&String> = keys.filter(|c| schema.index_of(c).is_err()).collect();
    if !unknown.is_empty() {
        return Err(Error::Config(format!("{}: group_by/suppress_by name columns the result lacks: {unknown:?}", rule.meta.id)));
    }
    if rule.meta.bucket.is_some() && schema.index_of("bucket").is_err() {
        return Err(Error::Config(format!("{}: an aggregation rule returns its event-time bucket start as `bucket`", rule.meta.id)));
    }
    Ok(schema)
}

/// Runs every fixture case of a rule.
pub async fn test_rule(rule: &Rule, allowlists: &Allowlists) -> Result<Vec<CaseOutcome>> {
    let mut outcomes = Vec::new();
    for case in load_fixtures(rule)? {
        let texts: Vec<String> = case.events.iter().map(|e| e.to_string()).collect();
        let mut lists = allowlists.clone();
        lists.extend(&Allowlists(case.allowlists.clone()));
        let ctx = session_over(events_batch(&texts)?, &lists).await?;
        let batches = plan_sql(&ctx, &rule.sql).await?.collect().await?;
        let hits = hit_ids(&batches);
        let case_ids: BTreeSet<String> = case.events.iter().filter_map(|e| e.get("auditID")?.as_str().map(str::to_owned)).collect();
        let fired = !hits.is_disjoint(&case_ids);
        let passed = match case.expect {
            Expect::Hit => fired,
            Expect::Miss => hits.is_empty(),
        };
        outcomes.push(CaseOutcome { name: case.name, expect: case.expect, passed, hits });
    }
    Ok(outcomes)
}
