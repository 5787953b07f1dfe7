//! Answering DUET items: `expected` closes the item (and quiets the same rule, actor and object for
//! `duet.expected_suppresses`); `unexpected` closes it and escalates: an alert row referencing the
//! item, for analysts.

use std::collections::HashSet;

use serde_json::Value;

use crate::sinks::alerts::AlertRecord;
use crate::sinks::duet::{DuetItem, DuetStatus};
use crate::sinks::{OutputTables, date_of, sql_str, sql_timestamp, stable_id};
use crate::{Error, Result};

/// The customer's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: String,
    pub expected: bool,
    pub by: String,
    pub note: Option<String>,
    /// Replace an earlier answer.
    pub force: bool,
    pub now: i64,
}

/// Reads one item.
pub async fn get_item(outputs: &OutputTables, id: &str) -> Result<DuetItem> {
    let table = outputs.duet.load_existing().await?.ok_or_else(|| Error::NotFound(format!("no DUET queue at {}", outputs.duet.url)))?;
    let items: Vec<DuetItem> = outputs.duet.query_records(&table, &format!("SELECT * FROM t WHERE id = {}", sql_str(id))).await?;
    items.into_iter().next().ok_or_else(|| Error::NotFound(format!("no DUET item with id {id}")))
}

/// Records an answer. Returns the updated item and, for `unexpected`, the escalation alert id.
pub async fn answer(outputs: &OutputTables, a: &Answer) -> Result<(DuetItem, Option<String>)> {
    let status = if a.expected { DuetStatus::Expected } else { DuetStatus::Unexpected };
    let table = &outputs.duet;
    let item = get_item(outputs, &a.id).await?;
    if matches!(item.status, DuetStatus::Expected | DuetStatus::Unexpected) && !a.force {
        return Err(Error::Conflict(format!(
            "DUET item {} was already answered {} by {} (use --force to replace the answer)",
            a.id,
            item.status.as_str(),
            item.answered_by.as_deref().unwrap_or("?")
        )));
    }
    // Compare-and-set on the status this answer was decided against: a concurrent answer (or a
    // run expiring the item) that commits first makes this update match no row, and a commit
    // conflict retried by `write_with_retry` re-evaluates the same condition against the new
    // table, so two answers can never both win (and only the winner escalates).
    let predicate = format!("date = {} AND id = {} AND status = {}", sql_str(&item.date), sql_str(&a.id), sql_str(item.status.as_str()));
    let sets = vec![
        ("status", sql_str(status.as_str())),
        ("answered_by", sql_str(&a.by)),
        ("answered_at", sql_timestamp(a.now)),
        ("note", a.note.as_deref().map_or_else(|| "CAST(NULL AS VARCHAR)".to_owned(), sql_str)),
    ];
    let updated = table
        .write_with_retry(|delta| {
            let (predicate, sets) = (&predicate, &sets);
            async move {
                let (delta, n) = table.update(delta, predicate, sets).await?;
                Ok(Some((delta, n)))
            }
        })
        .await?
        .unwrap_or(0);
    if updated == 0 {
        let now = get_item(outputs, &a.id).await?;
        return Err(Error::Conflict(format!(
            "DUET item {} changed while it was being answered: it is now {}{} (nothing was written; answer again to replace it with --force)",
            a.id,
            now.status.as_str(),
            now.answered_by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default()
        )));
    }
    let item = get_item(outputs, &a.id).await?;
    let escalation = if a.expected { None } else { Some(escalate(outputs, &item).await?) };
    Ok((item, escalation))
}

/// Escalates every item answered `unexpected` whose escalation alert is missing: an answer
/// killed between its update and its escalation is completed by the next run.
pub async fn repair_escalations(outputs: &OutputTables) -> Result<usize> {
    let Some(duet) = outputs.duet.load_existing().await? else { return Ok(0) };
    let unexpected: Vec<DuetItem> = outputs.duet.query_records(&duet, "SELECT * FROM t WHERE status = 'unexpected'").await?;
    if unexpected.is_empty() {
        return Ok(0);
    }
    let escalated: HashSet<String> = match outputs.alerts.load_existing().await? {
        Some(alerts) => outputs.alerts.query_records::<Value>(&alerts, "SELECT duet_id FROM t WHERE duet_id IS NOT NULL").await?.iter().filter_map(|r| r["duet_id"].as_str().map(str::to_owned)).collect(),
        None => HashSet::new(),
    };
    let missing: Vec<&DuetItem> = unexpected.iter().filter(|i| !escalated.contains(&i.id)).collect();
    for item in &missing {
        tracing::warn!(item = item.id.as_str(), "an unexpected answer was not escalated (interrupted); escalating it now");
        escalate(outputs, item).await?;
    }
    Ok(missing.len())
}

/// Writes (once) the alert that escalates `item`, answered `unexpected` (who answered, when and
/// their note are the item's).
async fn escalate(outputs: &OutputTables, item: &DuetItem) -> Result<String> {
    let by = item.answered_by.as_deref().unwrap_or("the customer");
    let at = item.answered_at.unwrap_or(item.created_at);
    let alert_id = stable_id(&["duet_escalation", &item.id]);
    let evidence: Value = serde_json::from_str(&item.evidence).unwrap_or(Value::Null);
    let row = AlertRecord {
        alert_id: alert_id.clone(),
        date: date_of(item.event_time),
        rule_id: item.rule.clone(),
        title: format!("Unexpected (customer answer): {}", item.title),
        alert_type: "escalation".into(),
        severity: if item.severity == "critical" { "critical".into() } else { "high".into() },
        tactic: String::new(),
        attack: Vec::new(),
        cluster: item.cluster.clone(),
        namespace: item.namespace.clone(),
        actor: item.actor.clone(),
        source_ip: evidence.get("source_ip").and_then(Value::as_str).map(str::to_owned),
        user_agent: evidence.get("user_agent").and_then(Value::as_str).map(str::to_owned),
        verb: evidence.get("verb").and_then(Value::as_str).map(str::to_owned),
        object: item.object.clone(),
        audit_ids: item.audit_ids.clone(),
        evidence: item.evidence.clone(),
        remediation: Some(format!(
            "{} answered that this was not expected{}. Treat as a potential compromise: investigate {} and the evidence events.",
            by,
            item.note.as_deref().map(|n| format!(" (\"{n}\")")).unwrap_or_default(),
            item.actor.as_deref().unwrap_or("the actor")
        )),
        first_seen: item.event_time,
        last_seen: item.event_time,
        event_count: item.audit_ids.len() as i64,
        suppressed_count: 0,
        hit_ids: vec![item.id.clone()],
        duet_id: Some(item.id.clone()),
        created_at: at,
        updated_at: at,
        first_run_id: item.run_id.clone(),
        last_run_id: item.run_id.clone(),
    };
    outputs.alerts.insert_new_records(std::slice::from_ref(&row), "alert_id").await?;
    Ok(alert_id)
}
