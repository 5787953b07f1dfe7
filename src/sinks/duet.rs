//! The `duet_queue` table: "did you expect this?" items for the customer. Runs only ever insert
//! items that do not exist yet, so an answer is never overwritten; answering is a separate,
//! single-row update (`auditlake duet answer`).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::alerts::Finding;
use super::date_of;
use crate::config::DuetConfig;
use crate::rules::{Rule, render_template};

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DuetStatus {
    Pending,
    Expected,
    Unexpected,
    Expired,
}

impl DuetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DuetStatus::Pending => "pending",
            DuetStatus::Expected => "expected",
            DuetStatus::Unexpected => "unexpected",
            DuetStatus::Expired => "expired",
        }
    }
}

/// One row of `duet_queue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuetItem {
    pub id: String,
    /// Partition: UTC date of the item's event time.
    pub date: String,
    pub rule: String,
    pub title: String,
    pub severity: String,
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    pub actor: Option<String>,
    pub object: Option<String>,
    #[serde(default)]
    pub audit_ids: Vec<String>,
    /// The hit's result row, as JSON.
    pub evidence: String,
    /// The question put to the customer, rendered with the evidence.
    pub first_action: String,
    #[serde(default)]
    pub routed_to: Vec<String>,
    pub status: DuetStatus,
    pub event_time: i64,
    pub created_at: i64,
    pub due_by: i64,
    pub answered_by: Option<String>,
    pub answered_at: Option<i64>,
    pub note: Option<String>,
    pub run_id: String,
}

/// The `duet_queue` schema.
pub fn schema() -> SchemaRef {
    let ts = |n: &str, null: bool| Field::new(n, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), null);
    let list = |n: &str| Field::new(n, DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true);
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        s("id", false),
        s("date", false),
        s("rule", false),
        s("title", false),
        s("severity", false),
        s("cluster", true),
        s("namespace", true),
        s("actor", true),
        s("object", true),
        list("audit_ids"),
        s("evidence", false),
        s("first_action", false),
        list("routed_to"),
        s("status", false),
        ts("event_time", false),
        ts("created_at", false),
        ts("due_by", false),
        s("answered_by", true),
        ts("answered_at", true),
        s("note", true),
        s("run_id", false),
    ]))
}

/// A new pending item for a finding.
pub fn new_item(rule: &Rule, finding: &Finding, config: &DuetConfig, due_in: i64, run_id: &str, now: i64) -> DuetItem {
    let template = rule.meta.first_action.as_deref().unwrap_or("Did you expect this?");
    DuetItem {
        id: finding.output_id.clone(),
        date: date_of(finding.anchor),
        rule: rule.meta.id.clone(),
        title: rule.meta.title.clone(),
        severity: format!("{:?}", rule.meta.severity).to_lowercase(),
        cluster: finding.cluster.clone(),
        namespace: finding.namespace.clone(),
        actor: finding.actor.clone(),
        object: finding.object.clone(),
        audit_ids: finding.audit_ids.clone(),
        evidence: Value::Object(finding.evidence.clone()).to_string(),
        first_action: render_template(template, |k| finding.field(k)),
        routed_to: config.contacts_for(finding.cluster.as_deref().unwrap_or(""), finding.namespace.as_deref().unwrap_or("")),
        status: DuetStatus::Pending,
        event_time: finding.event_time,
        created_at: now,
        due_by: now + due_in,
        answered_by: None,
        answered_at: None,
        note: None,
        run_id: run_id.to_owned(),
    }
}

/// What an `expected` answer covers: the same rule, cluster, actor and object.
pub fn suppression_key(rule: &str, cluster: Option<&str>, actor: Option<&str>, object: Option<&str>) -> (String, String, String, String) {
    (rule.to_owned(), cluster.unwrap_or("").to_owned(), actor.unwrap_or("").to_owned(), object.unwrap_or("").to_owned())
}
