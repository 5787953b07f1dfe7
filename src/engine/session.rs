//! The one way a DataFusion session for auditlake is made: its settings (JSON functions, the
//! PostgreSQL dialect, optimizer passes removed) and everything rules read besides
//! `audit_events` (the fact UDFs and views, the allow-lists). `AuditLake::open`, the shared pack's
//! rule session, the fixture runner and any other reader of `audit_events` (a Ballista executor,
//! an `events` reader) start here.

use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::facts;
use crate::Result;
use crate::rules::allowlists::{ALLOWLIST_TABLE, Allowlists};

/// A DataFusion session configured the way every auditlake query runs (JSON functions, the
/// PostgreSQL dialect for their operators, information_schema).
pub fn new_context() -> Result<SessionContext> {
    new_context_with(SessionConfig::new())
}

/// [`new_context`] with `session`'s settings as the starting point.
pub fn new_context_with(session: SessionConfig) -> Result<SessionContext> {
    let session = session
        .with_information_schema(true)
        .set_str("datafusion.sql_parser.dialect", "PostgreSQL");
    let mut ctx = SessionContext::new_with_config(session);
    // These passes move struct field access (`k8s_pod_facts(body)['privileged']`) below filters
    // towards the scan, which for a fact UDF means parsing every body once per extracted field
    // and for rows the filter would have dropped: 5-10x the cost of the fact views.
    for rule in ["extract_leaf_expressions", "push_down_leaf_projections"] {
        ctx.remove_optimizer_rule(rule);
    }
    datafusion_functions_json::register_all(&mut ctx)?;
    Ok(ctx)
}

/// Registers what rules read besides `audit_events`: the fact UDFs and views, and the allow-lists.
pub async fn register_rule_support(ctx: &SessionContext, allowlists: &Allowlists) -> Result<()> {
    register_allowlists(ctx, allowlists)?;
    facts::register(ctx).await
}

/// Registers the `allowlist(list, value)` table.
pub fn register_allowlists(ctx: &SessionContext, allowlists: &Allowlists) -> Result<()> {
    let table = MemTable::try_new(allowlists.batch()?.schema(), vec![vec![allowlists.batch()?]])?;
    ctx.register_table(ALLOWLIST_TABLE, Arc::new(table))?;
    Ok(())
}
