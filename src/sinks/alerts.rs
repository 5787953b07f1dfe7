//! The `alerts` table, and findings: a rule's result rows in output terms, with deterministic ids.
//!
//! Ids: single-event rules `rule + cluster + audit_id`; aggregation rules `rule + group_by values +
//! bucket start`; sequence rules `rule + the sorted audit ids`. A rule with `suppress_by` and
//! `suppress_for` folds every hit with the same key values in one epoch-aligned event-time period
//! into one alert (`rule + key values + period start`), counting the repeats. Because ids depend
//! only on the evidence, re-running a window, overlapping windows and backfills update the same
//! rows instead of adding new ones.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::delta::records_from_batches;
use super::{date_of, rfc3339, stable_id};
use crate::config::parse_duration_micros;
use crate::rules::{Rule, RuleKind, render_template};
use crate::{Error, Result};

/// One result row of a rule, ready to become an alert or a DUET item.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule_id: String,
    pub kind: RuleKind,
    /// Id of this hit alone.
    pub hit_id: String,
    /// Id of the alert or DUET item it belongs to (the hit id, or the suppression group's).
    pub output_id: String,
    /// Event time the output is filed under (event time, bucket or suppression period start).
    pub anchor: i64,
    pub event_time: i64,
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    pub actor: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub verb: Option<String>,
    pub object: Option<String>,
    pub audit_ids: Vec<String>,
    /// The whole result row (timestamps as RFC 3339).
    pub evidence: Map<String, Value>,
}

impl Finding {
    /// An evidence field as text (for templates and keys).
    pub fn field(&self, name: &str) -> Option<String> {
        text_of(self.evidence.get(name))
    }
}

/// A result value as text: strings as they are, other values as JSON, nulls as nothing.
fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn micros(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_i64)
}

/// `resource/namespace/name`, skipping what is absent.
pub fn object_label(resource: Option<&str>, namespace: Option<&str>, name: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = [resource, namespace, name].into_iter().flatten().filter(|s| !s.is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Turns a rule's result batches into findings.
pub fn findings(rule: &Rule, batches: &[RecordBatch]) -> Result<Vec<Finding>> {
    let Some(first) = batches.first() else { return Ok(Vec::new()) };
    let timestamp_columns: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .filter(|f| matches!(f.data_type(), DataType::Timestamp(..)))
        .map(|f| f.name().clone())
        .collect();
    let rows: Vec<Map<String, Value>> = records_from_batches(batches)?;
    let meta = &rule.meta;
    let suppress_period = meta.suppress_for.as_deref().map(parse_duration_micros).transpose()?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let text = |k: &str| text_of(row.get(k));
        let event_time = micros(row.get("event_time")).ok_or_else(|| Error::Config(format!("{}: a result row has no event_time", meta.id)))?;
        let mut audit_ids: Vec<String> = match row.get("audit_ids") {
            Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => text("audit_id").into_iter().collect(),
        };
        audit_ids.sort();
        audit_ids.dedup();
        let cluster = text("cluster");
        let (hit_id, hit_anchor) = if meta.bucket.is_some() {
            let bucket = micros(row.get("bucket")).unwrap_or(event_time);
            let keys: Vec<String> = meta.group_by.iter().map(|k| text(k).unwrap_or_default()).collect();
            let mut parts: Vec<&str> = vec![meta.id.as_str(), "group"];
            parts.extend(keys.iter().map(String::as_str));
            let b = bucket.to_string();
            parts.push(&b);
            (stable_id(&parts), bucket)
        } else if row.contains_key("audit_id") {
            (stable_id(&[meta.id.as_str(), "event", cluster.as_deref().unwrap_or(""), audit_ids.first().map_or("", String::as_str)]), event_time)
        } else {
            // Without audit ids (records that lack auditID) the whole row is the identity.
            let whole_row = if audit_ids.is_empty() { Value::Object(row.clone()).to_string() } else { String::new() };
            let mut parts: Vec<&str> = vec![meta.id.as_str(), "events", whole_row.as_str()];
            parts.extend(audit_ids.iter().map(String::as_str));
            (stable_id(&parts), event_time)
        };
        let (output_id, anchor) = match suppress_period {
            Some(period) if period > 0 => {
                let start = event_time.div_euclid(period) * period;
                let keys: Vec<String> = meta.suppress_by.iter().map(|k| text(k).unwrap_or_default()).collect();
                let s = start.to_string();
                let mut parts: Vec<&str> = vec![meta.id.as_str(), "suppress"];
                parts.extend(keys.iter().map(String::as_str));
                parts.push(&s);
                (stable_id(&parts), start)
            }
            _ => (hit_id.clone(), hit_anchor),
        };
        let mut evidence = row.clone();
        for c in &timestamp_columns {
            if let Some(t) = micros(evidence.get(c)) {
                evidence.insert(c.clone(), Value::String(rfc3339(t)));
            }
        }
        out.push(Finding {
            rule_id: meta.id.clone(),
            kind: meta.kind,
            hit_id,
            output_id,
            anchor,
            event_time,
            namespace: text("obj_namespace"),
            actor: text("actor"),
            source_ip: text("source_ip"),
            user_agent: text("user_agent"),
            verb: text("verb"),
            object: object_label(text("obj_resource").as_deref(), text("obj_namespace").as_deref(), text("obj_name").as_deref()),
            cluster,
            audit_ids,
            evidence,
        });
    }
    Ok(out)
}

/// One row of the `alerts` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub alert_id: String,
    /// Partition: the UTC date of the alert's anchor (event time, bucket or suppression period).
    pub date: String,
    pub rule_id: String,
    pub title: String,
    /// `detection`, or `escalation` for a DUET item the customer answered "unexpected".
    pub alert_type: String,
    pub severity: String,
    pub tactic: String,
    #[serde(default)]
    pub attack: Vec<String>,
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    pub actor: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub verb: Option<String>,
    pub object: Option<String>,
    #[serde(default)]
    pub audit_ids: Vec<String>,
    /// The first hit's result row, as JSON.
    pub evidence: String,
    pub remediation: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Distinct evidence events.
    pub event_count: i64,
    /// Repeats folded into this alert by suppression.
    pub suppressed_count: i64,
    #[serde(default)]
    pub hit_ids: Vec<String>,
    pub duet_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_run_id: String,
    pub last_run_id: String,
}

/// The `alerts` schema.
pub fn schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let list = || DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        s("alert_id", false),
        s("date", false),
        s("rule_id", false),
        s("title", false),
        s("alert_type", false),
        s("severity", false),
        s("tactic", false),
        Field::new("attack", list(), true),
        s("cluster", true),
        s("namespace", true),
        s("actor", true),
        s("source_ip", true),
        s("user_agent", true),
        s("verb", true),
        s("object", true),
        Field::new("audit_ids", list(), true),
        s("evidence", false),
        s("remediation", true),
        Field::new("first_seen", ts(), false),
        Field::new("last_seen", ts(), false),
        Field::new("event_count", DataType::Int64, false),
        Field::new("suppressed_count", DataType::Int64, false),
        Field::new("hit_ids", list(), true),
        s("duet_id", true),
        Field::new("created_at", ts(), false),
        Field::new("updated_at", ts(), false),
        s("first_run_id", false),
        s("last_run_id", false),
    ]))
}

/// Folds a run's findings (all of one alert id) into the stored alert, if any. Returns `None`
/// when the stored alert already holds everything (a re-run): nothing to write.
pub fn fold_alert(rule: &Rule, findings: &[&Finding], stored: Option<&AlertRecord>, run_id: &str, now: i64) -> Option<AlertRecord> {
    let first = findings.first()?;
    let mut audit: BTreeSet<String> = stored.map(|a| a.audit_ids.iter().cloned().collect()).unwrap_or_default();
    let mut hits: BTreeSet<String> = stored.map(|a| a.hit_ids.iter().cloned().collect()).unwrap_or_default();
    for f in findings {
        audit.extend(f.audit_ids.iter().cloned());
        hits.insert(f.hit_id.clone());
    }
    let first_seen = findings.iter().map(|f| f.event_time).chain(stored.map(|a| a.first_seen)).min()?;
    let last_seen = findings.iter().map(|f| f.event_time).chain(stored.map(|a| a.last_seen)).max()?;
    if let Some(a) = stored
        && a.audit_ids.len() == audit.len()
        && a.hit_ids.len() == hits.len()
        && a.first_seen == first_seen
        && a.last_seen == last_seen
    {
        return None;
    }
    let meta = &rule.meta;
    Some(AlertRecord {
        alert_id: first.output_id.clone(),
        date: date_of(first.anchor),
        rule_id: meta.id.clone(),
        title: meta.title.clone(),
        alert_type: "detection".into(),
        severity: format!("{:?}", meta.severity).to_lowercase(),
        tactic: rule.tactic.clone(),
        attack: meta.attack.clone(),
        cluster: first.cluster.clone(),
        namespace: first.namespace.clone(),
        actor: first.actor.clone(),
        source_ip: first.source_ip.clone(),
        user_agent: first.user_agent.clone(),
        verb: first.verb.clone(),
        object: first.object.clone(),
        event_count: audit.len() as i64,
        suppressed_count: hits.len().saturating_sub(1) as i64,
        audit_ids: audit.into_iter().collect(),
        hit_ids: hits.into_iter().collect(),
        evidence: stored.map(|a| a.evidence.clone()).unwrap_or_else(|| Value::Object(first.evidence.clone()).to_string()),
        remediation: meta.remediation.as_deref().map(|t| render_template(t, |k| first.field(k))),
        first_seen,
        last_seen,
        duet_id: None,
        created_at: stored.map_or(now, |a| a.created_at),
        updated_at: now,
        first_run_id: stored.map_or_else(|| run_id.to_owned(), |a| a.first_run_id.clone()),
        last_run_id: run_id.to_owned(),
    })
}

/// Groups findings by output id, keeping the order they came in.
pub fn by_output_id<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> BTreeMap<String, Vec<&'a Finding>> {
    let mut out: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        out.entry(f.output_id.clone()).or_default().push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use datafusion::arrow::array::{ArrayRef, StringArray, TimestampMicrosecondArray};

    use super::*;
    use crate::rules::parse_rule;

    fn rule(extra: &str) -> Rule {
        let text = format!(
            "/*\nid = \"anon\"\ntitle = \"T\"\ndescription = \"D\"\nkind = \"alert\"\nseverity = \"high\"\nattack = [\"T1190\"]\nfalse_positives = \"f\"\nremediation = \"Block {{source_ip}}\"\n{extra}\n*/\nSELECT 1"
        );
        let (meta, sql) = parse_rule(&text, Path::new("anon.sql")).unwrap();
        Rule { meta, sql, path: PathBuf::from("anon.sql"), tactic: "initial_access".into() }
    }

    const HOUR: i64 = 3_600_000_000;

    fn hits(rows: &[(&str, i64, &str)]) -> RecordBatch {
        let s = |f: &dyn Fn(&(&str, i64, &str)) -> String| -> ArrayRef { Arc::new(rows.iter().map(|r| Some(f(r))).collect::<StringArray>()) };
        let times: ArrayRef = Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()).with_timezone("UTC"));
        RecordBatch::try_from_iter(vec![
            ("audit_id", s(&|r| r.0.to_owned())),
            ("event_time", times),
            ("cluster", s(&|_| "prod".to_owned())),
            ("actor", s(&|_| "system:anonymous".to_owned())),
            ("source_ip", s(&|r| r.2.to_owned())),
            ("obj_resource", s(&|_| "pods".to_owned())),
        ])
        .unwrap()
    }

    #[test]
    fn suppression_folds_repeats_per_key_and_period_and_refolding_changes_nothing() {
        let r = rule("suppress_by = [\"cluster\", \"source_ip\"]\nsuppress_for = \"1h\"");
        let batch = hits(&[("a", 10 * HOUR + 1, "203.0.113.9"), ("b", 10 * HOUR + 50, "203.0.113.9"), ("c", 11 * HOUR + 5, "203.0.113.9"), ("d", 10 * HOUR + 2, "198.51.100.1")]);
        let found = findings(&r, &[batch]).unwrap();
        let groups = by_output_id(&found);
        assert_eq!(groups.len(), 3, "two periods for one address, one for the other");
        let folded: Vec<AlertRecord> = groups.values().map(|fs| fold_alert(&r, fs, None, "run-1", 0).unwrap()).collect();
        let big = folded.iter().find(|a| a.event_count == 2).expect("a and b folded");
        assert_eq!((big.suppressed_count, big.audit_ids.clone()), (1, vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(big.remediation.as_deref(), Some("Block 203.0.113.9"));
        assert_eq!((big.first_seen, big.last_seen), (10 * HOUR + 1, 10 * HOUR + 50));
        // The same hits again (a re-run): nothing to write.
        let again = &groups[&big.alert_id];
        assert_eq!(fold_alert(&r, again, Some(big), "run-2", 1), None);
        // Without suppression each hit is its own alert, with the same id every time.
        let plain = rule("");
        let ids = |b| findings(&plain, &[b]).unwrap().into_iter().map(|f| f.output_id).collect::<Vec<_>>();
        let first = ids(hits(&[("a", 1, "x"), ("b", 2, "x")]));
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], first[1]);
        assert_eq!(first, ids(hits(&[("a", 1, "x"), ("b", 2, "x")])));
    }
}
