//! Shared test harness: reference data, Parquet writing, configs, and running SQL through the library.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use auditlake::{AuditLake, Config, TimeWindow};
use datafusion::arrow::json::ArrayWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use serde_json::Value;

/// The public reference events the tests replay (tests/data/README.md says where they are from).
pub fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reference")
}

pub fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// One `[[source]]` entry.
pub struct Src<'a> {
    pub name: &'a str,
    pub format: &'a str,
    pub location: &'a str,
    pub layout: &'a str,
    pub extra: &'a str,
}

pub fn src<'a>(name: &'a str, format: &'a str, location: &'a str) -> Src<'a> {
    Src { name, format, location, layout: "none", extra: "" }
}

/// Writes `auditlake.toml` into `dir` and returns its path.
pub fn write_config(dir: &Path, sources: &[Src<'_>]) -> PathBuf {
    let mut text = String::from("[scan]\nlateness = \"1h\"\n");
    for s in sources {
        text.push_str(&format!(
            "\n[[source]]\nname = \"{}\"\nformat = \"{}\"\nlocation = \"{}\"\nlayout = \"{}\"\n{}\n",
            s.name, s.format, s.location, s.layout, s.extra
        ));
    }
    let path = dir.join("auditlake.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub async fn open(config: &Path, window: TimeWindow) -> AuditLake {
    AuditLake::open(&Config::from_file(config).unwrap(), window).await.unwrap()
}

/// Rows of a query as JSON objects (nulls omitted, as arrow-json writes them).
pub async fn query_json(lake: &AuditLake, sql: &str) -> Vec<Value> {
    let batches = lake.sql(sql).await.unwrap().collect().await.unwrap();
    batches_to_json(&batches)
}

pub fn batches_to_json(batches: &[RecordBatch]) -> Vec<Value> {
    let mut buf = Vec::new();
    {
        let mut w = ArrayWriter::new(&mut buf);
        for b in batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
    }
    if buf.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice(&buf).unwrap()
}

/// A one-column-per-field string batch.
pub fn string_batch(cols: Vec<(&str, Vec<Option<String>>)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols.into_iter().map(|(n, v)| (n, Arc::new(datafusion::arrow::array::StringArray::from(v)) as _))).unwrap()
}

/// Parses an audit timestamp as the oracle (chrono, independent of the crate's parser).
pub fn oracle_micros(s: &str) -> Option<i64> {
    let fixed = if s.contains('T') { s.to_owned() } else { s.replacen(' ', "T", 1) };
    let with_zone = if fixed.ends_with('Z') || fixed[10..].contains('+') { fixed } else { format!("{fixed}Z") };
    chrono::DateTime::parse_from_rfc3339(&with_zone).ok().map(|t| t.timestamp_micros())
}

/// The normalized columns the field-by-field checks read.
pub const CHECK_SQL_COLUMNS: &str = "audit_id, stage, level, verb, request_uri, user_name, user_uid, user_groups, user_extra, \
    impersonated_user_name, impersonated_user_groups, source_ips, source_ip, user_agent, obj_api_group, obj_api_version, obj_resource, \
    obj_subresource, obj_namespace, obj_name, response_code, response_status, response_reason, response_message, authz_decision, \
    authz_reason, annotations, request_object, response_object, arrow_cast(event_time, 'Int64') AS event_us, \
    arrow_cast(request_received_time, 'Int64') AS received_us, cluster, cloud_account, region, source, lineage_object, lineage_row";

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k)).filter(|v| !v.is_null())
}

fn text_of(v: &Value) -> Value {
    match v {
        Value::String(_) => v.clone(),
        other => Value::String(other.to_string()),
    }
}

/// Checks one normalized row against the original audit event, field by field. `fallback_us` is
/// the wrapper's time, used when the event has none.
pub fn check_event(row: &Value, e: &Value, fallback_us: Option<i64>, ctx: &str) {
    let mut errors = Vec::new();
    let mut eq = |col: &str, expected: Option<Value>| {
        let got = row.get(col).cloned().unwrap_or(Value::Null);
        let expected = expected.unwrap_or(Value::Null);
        if got != expected {
            errors.push(format!("{col}: got {got}, expected {expected}"));
        }
    };
    let s = |p: &[&str]| at(e, p).cloned();
    eq("audit_id", s(&["auditID"]));
    eq("stage", s(&["stage"]));
    eq("level", s(&["level"]));
    eq("verb", s(&["verb"]));
    eq("request_uri", s(&["requestURI"]));
    eq("user_name", s(&["user", "username"]));
    eq("user_uid", s(&["user", "uid"]));
    eq("user_groups", s(&["user", "groups"]));
    eq("impersonated_user_name", s(&["impersonatedUser", "username"]));
    eq("impersonated_user_groups", s(&["impersonatedUser", "groups"]));
    eq("source_ips", s(&["sourceIPs"]));
    eq("source_ip", at(e, &["sourceIPs"]).and_then(|v| v.get(0)).cloned());
    eq("user_agent", s(&["userAgent"]));
    eq("obj_api_group", s(&["objectRef", "apiGroup"]));
    eq("obj_api_version", s(&["objectRef", "apiVersion"]));
    eq("obj_resource", s(&["objectRef", "resource"]));
    eq("obj_subresource", s(&["objectRef", "subresource"]));
    eq("obj_namespace", s(&["objectRef", "namespace"]));
    eq("obj_name", s(&["objectRef", "name"]));
    eq("response_code", s(&["responseStatus", "code"]));
    eq("response_status", s(&["responseStatus", "status"]));
    eq("response_reason", s(&["responseStatus", "reason"]));
    eq("response_message", s(&["responseStatus", "message"]));
    eq("authz_decision", s(&["annotations", "authorization.k8s.io/decision"]));
    eq("authz_reason", s(&["annotations", "authorization.k8s.io/reason"]));
    eq("annotations", at(e, &["annotations"]).map(|a| Value::Object(a.as_object().unwrap().iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), text_of(v))).collect())));
    eq("user_extra", s(&["user", "extra"]));
    let time = |k: &str| at(e, &[k]).and_then(Value::as_str).and_then(oracle_micros);
    let event_us = time("stageTimestamp").or_else(|| time("requestReceivedTimestamp")).or_else(|| time("timestamp")).or(fallback_us);
    eq("event_us", event_us.map(Value::from));
    eq("received_us", time("requestReceivedTimestamp").map(Value::from));
    for (col, key) in [("request_object", "requestObject"), ("response_object", "responseObject")] {
        let got = row.get(col).and_then(Value::as_str).map(|t| serde_json::from_str::<Value>(t).unwrap_or_else(|_| Value::String(t.to_owned())));
        let expected = at(e, &[key]).cloned();
        if got != expected {
            errors.push(format!("{col}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(errors.is_empty(), "{ctx}: {} field(s) differ:\n  {}\nrow: {row}", errors.len(), errors.join("\n  "));
}

/// Every `.parquet` file below `dir`.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(parquet_files(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}
