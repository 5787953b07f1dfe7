//! The public reference events (Falco, Panther EKS/AKS, Elastic, the real AKS blob, the Security
//! Lake OCSF example) landed as Parquet in each source format, then checked field by field against
//! the original JSON.

use std::sync::Arc;

use auditlake::TimeWindow;
use auditlake::generate::landing::{aks_diagnostics_schema, decode_json_lines, k8s_audit_schema, ocsf_schema};
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde_json::Value;

use crate::util::*;

/// Every genuine audit.k8s.io Event among the samples, with where it came from.
fn audit_events() -> Vec<(String, Value)> {
    let dir = reference_dir().join("samples");
    let mut out = Vec::new();
    for file in ["falco_k8saudit_trace_files.jsonl", "panther_eks_audit.jsonl", "elastic_integrations_kubernetes_audit_logs.jsonl"] {
        for (i, e) in read_jsonl(&dir.join(file)).into_iter().enumerate() {
            if e.get("protoPayload").is_none() && e.get("category").is_none() {
                out.push((format!("{file}:{}", i + 1), e));
            }
        }
    }
    // Single pretty-printed EKS events from the landing samples.
    for file in ["eks-audit-event.raw.json"] {
        let text = std::fs::read_to_string(reference_dir().join("landing-samples").join(file)).unwrap();
        out.push((file.to_owned(), serde_json::from_str(&text).unwrap()));
    }
    out
}

const CWL_TIME_MS: i64 = 1_700_000_000_000;

#[tokio::test]
async fn eks_cloudwatch_rows_normalize_field_by_field() {
    let events = audit_events();
    let dir = tempfile::tempdir().unwrap();
    // Fixtures reuse audit ids; one cluster per fixture keeps them distinct.
    let n = events.len();
    let batch = RecordBatch::try_from_iter(vec![
        ("owner", Arc::new(StringArray::from(vec!["123456789012"; n])) as ArrayRef),
        ("logGroup", Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("/aws/eks/fixture-{i}/cluster"))))),
        ("logStream", Arc::new(StringArray::from(vec!["kube-apiserver-audit-71976ca11bea5d3083393f7d32dab75b"; n]))),
        ("id", Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("3195310660696698337880902507980421114328961542429822{i:03}"))))),
        ("timestamp", Arc::new(Int64Array::from(vec![CWL_TIME_MS; n]))),
        ("message", Arc::new(StringArray::from_iter_values(events.iter().map(|(_, e)| e.to_string())))),
    ])
    .unwrap();
    write_parquet(&dir.path().join("eks/2023/11/14/22/part.parquet"), &batch);
    let config = write_config(dir.path(), &[Src { layout: "firehose", ..src("eks", "eks_cloudwatch", "eks") }]);
    let lake = open(&config, TimeWindow::default()).await;
    let rows = query_json(&lake, &format!("SELECT {CHECK_SQL_COLUMNS} FROM audit_events ORDER BY lineage_row")).await;
    assert_eq!(rows.len(), n, "every real event normalizes (rejects: {:?})", lake.report().samples());
    for (row, (origin, e)) in rows.iter().zip(&events) {
        check_event(row, e, Some(CWL_TIME_MS * 1000), origin);
        let i = row["lineage_row"].as_i64().unwrap();
        assert_eq!(row["cluster"], format!("fixture-{i}"));
        assert_eq!(row["cloud_account"], "123456789012");
        assert_eq!(row["source"], "eks_cloudwatch");
        assert!(row["lineage_object"].as_str().unwrap().ends_with("eks/2023/11/14/22/part.parquet"));
    }
}

/// Bodies become JSON text and, for the lower-cased variant, struct field names (not map keys) lower-cased.
fn typed_json(e: &Value, lower: bool) -> Value {
    let mut e = e.clone();
    let obj = e.as_object_mut().unwrap();
    for key in ["requestObject", "responseObject"] {
        if let Some(b) = obj.get_mut(key)
            && !b.is_null()
        {
            *b = Value::String(b.to_string());
        }
    }
    if !lower {
        return e;
    }
    fn lower_fields(v: &Value, depth: usize, keep_keys_of: &[&str], parent: &str) -> Value {
        match v {
            Value::Object(m) if !keep_keys_of.contains(&parent) => {
                Value::Object(m.iter().map(|(k, c)| (k.to_lowercase(), if depth > 0 { lower_fields(c, depth - 1, keep_keys_of, k) } else { c.clone() })).collect())
            }
            other => other.clone(),
        }
    }
    lower_fields(&e, 2, &["extra", "annotations"], "")
}

fn lower_schema(dt: &DataType) -> DataType {
    match dt {
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| Field::new(f.name().to_lowercase(), lower_schema(f.data_type()), true)).collect()),
        other => other.clone(),
    }
}

/// The typed schema with timestamps as text (Glue STRING columns), optionally lower-cased.
fn typed_schema(lower: bool) -> Arc<Schema> {
    let base = k8s_audit_schema();
    Arc::new(Schema::new(
        base.fields()
            .iter()
            .map(|f| {
                let dt = if f.name().ends_with("Timestamp") { DataType::Utf8 } else { f.data_type().clone() };
                let (name, dt) = if lower { (f.name().to_lowercase(), lower_schema(&dt)) } else { (f.name().clone(), dt) };
                Field::new(name, dt, true)
            })
            .collect::<Vec<_>>(),
    ))
}

async fn check_typed(lower: bool) {
    let schema = typed_schema(lower);
    let dir = tempfile::tempdir().unwrap();
    let mut kept = Vec::new();
    for (i, (origin, e)) in audit_events().into_iter().enumerate() {
        let json = typed_json(&e, lower).to_string();
        // Each fixture in its own cluster partition, since fixtures reuse audit ids.
        match decode_json_lines(&schema, std::iter::once(json)) {
            Ok(batch) => {
                write_parquet(&dir.path().join(format!("typed/cluster=c{i}/part.parquet")), &batch);
                kept.push((i, origin, e));
            }
            Err(err) => panic!("{origin}: arrow-json cannot land it as typed columns: {err}"),
        }
    }
    let config = write_config(dir.path(), &[Src { layout: "cluster={cluster}", ..src("typed", "k8s_audit", "typed") }]);
    let lake = open(&config, TimeWindow::default()).await;
    let rows = query_json(&lake, &format!("SELECT {CHECK_SQL_COLUMNS} FROM audit_events")).await;
    let by_cluster: std::collections::HashMap<String, &Value> = rows.iter().map(|r| (r["cluster"].as_str().unwrap().to_owned(), r)).collect();
    let mut rejected = 0;
    for (i, origin, e) in &kept {
        let has_time = ["stageTimestamp", "requestReceivedTimestamp", "timestamp"].iter().any(|k| e.get(*k).is_some());
        match by_cluster.get(&format!("c{i}")) {
            Some(row) => check_event(row, e, None, origin),
            // Without any timestamp the event cannot be placed in time: it must be a counted reject.
            None => {
                assert!(!has_time, "{origin} was dropped although it has a timestamp");
                rejected += 1;
            }
        }
    }
    assert_eq!(lake.report().totals().rows_rejected, rejected as u64);
    let rejects = query_json(&lake, "SELECT * FROM rejects").await;
    assert_eq!(rejects.len(), rejected);
    assert!(rejects.iter().all(|r| r["field"] == "stageTimestamp" && r["row"] == 0), "{rejects:?}");
}

#[tokio::test]
async fn typed_camel_case_columns_normalize_field_by_field() {
    check_typed(false).await;
}

#[tokio::test]
async fn typed_lower_case_firehose_columns_normalize_field_by_field() {
    check_typed(true).await;
}

fn aks_record_batch(records: &[Value], log_as_struct: bool) -> RecordBatch {
    let mut schema = aks_diagnostics_schema().as_ref().clone();
    if log_as_struct {
        let props = DataType::Struct(
            vec![Field::new("log", DataType::Struct(typed_schema(false).fields().clone()), true), Field::new("stream", DataType::Utf8, true), Field::new("pod", DataType::Utf8, true), Field::new("containerID", DataType::Utf8, true)].into(),
        );
        let fields: Vec<Field> = schema.fields().iter().map(|f| if f.name() == "properties" { Field::new("properties", props.clone(), true) } else { f.as_ref().clone() }).collect();
        schema = Schema::new(fields);
    }
    let lines = records.iter().map(|r| {
        let mut r = r.clone();
        if log_as_struct {
            let log = r["properties"]["log"].clone();
            r["properties"]["log"] = typed_json(&log, false);
        }
        r.to_string()
    });
    decode_json_lines(&Arc::new(schema), lines).unwrap()
}

/// Panther's AKS fixtures are hand-minimised and lack the record `time` every real diagnostic
/// record has; land them with one (events without any time are rejects, tested with the EKS fixtures).
fn with_time(record: &Value) -> Value {
    let mut r = record.clone();
    if r.get("time").is_none() {
        r["time"] = Value::from("2025-12-22T10:30:00.1234567Z");
    }
    r
}

fn log_of(record: &Value) -> Value {
    match &record["properties"]["log"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        other => other.clone(),
    }
}

#[tokio::test]
async fn aks_diagnostic_records_normalize_field_by_field() {
    let reference = reference_dir();
    let blob = read_jsonl(&reference.join("landing-samples/aks-kube-audit-diagnostic-blob.PT1H.jsonl"));
    let panther = read_jsonl(&reference.join("samples/panther_aks_monitoractivity.jsonl"));
    let elastic = read_jsonl(&reference.join("samples/elastic_integrations_kubernetes_audit_logs.jsonl"));
    let dir = tempfile::tempdir().unwrap();
    let root = "aks/resourceId=/SUBSCRIPTIONS/0B62A232/RESOURCEGROUPS/MIKE-AZURE/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/MIKE-AZURE-AKS";
    write_parquet(&dir.path().join(format!("{root}/y=2024/m=11/d=15/h=21/m=00/PT1H.parquet")), &aks_record_batch(&blob, false));
    // Panther fixtures reuse audit ids: one object per fixture, each its own row 0.
    for (i, r) in panther.iter().enumerate() {
        write_parquet(&dir.path().join(format!("panther/{i:03}.parquet")), &aks_record_batch(&[with_time(r)], false));
    }
    write_parquet(&dir.path().join("elastic/string.parquet"), &aks_record_batch(&elastic[5..6], false));
    write_parquet(&dir.path().join("elastic/struct.parquet"), &aks_record_batch(&elastic[4..5], true));
    let config = write_config(
        dir.path(),
        &[Src { layout: "aks", ..src("aks", "aks_diagnostics", "aks") }, src("panther", "aks_diagnostics", "panther"), src("elastic", "aks_diagnostics", "elastic")],
    );
    let lake = open(&config, TimeWindow::default()).await;
    let time_of = |r: &Value| oracle_micros(r["time"].as_str().unwrap());

    let rows = query_json(&lake, &format!("SELECT {CHECK_SQL_COLUMNS} FROM audit_events WHERE source_name = 'aks' ORDER BY lineage_row")).await;
    assert_eq!(rows.len(), blob.len());
    for (i, (row, r)) in rows.iter().zip(&blob).enumerate() {
        check_event(row, &log_of(r), time_of(r), &format!("aks blob line {}", i + 1));
        assert_eq!(row["cluster"], "mike-azure-aks");
        let id = r["resourceId"].as_str().unwrap().to_lowercase();
        let subscription = id.split('/').skip_while(|p| *p != "subscriptions").nth(1).unwrap();
        assert_eq!(row["cloud_account"], subscription);
    }

    let rows = query_json(&lake, &format!("SELECT {CHECK_SQL_COLUMNS} FROM audit_events WHERE source_name = 'panther' ORDER BY lineage_object")).await;
    let is_audit = |r: &Value| r["category"].as_str().is_some_and(|c| c.starts_with("kube-audit"));
    let audit: Vec<(usize, &Value)> = panther.iter().enumerate().filter(|(_, r)| is_audit(r)).collect();
    // Fixtures that repeat (cluster, auditID, stage) are duplicate deliveries by definition: exactly
    // one of each group is kept (whichever was read first), the rest counted.
    let mut groups: Vec<(Value, Vec<(usize, &Value)>)> = Vec::new();
    for (i, r) in &audit {
        let log = log_of(r);
        let key = match log.get("auditID") {
            Some(id) => serde_json::json!([r["resourceId"].as_str().map(str::to_lowercase), id, log.get("stage")]),
            None => serde_json::json!(i),
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push((*i, *r)),
            None => groups.push((key, vec![(*i, *r)])),
        }
    }
    let expected_rows = groups.len();
    for (key, members) in &groups {
        let kept: Vec<(&Value, usize, &Value)> = members
            .iter()
            .filter_map(|(i, r)| rows.iter().find(|row| row["lineage_object"].as_str().unwrap().ends_with(&format!("panther/{i:03}.parquet"))).map(|row| (row, *i, *r)))
            .collect();
        assert_eq!(kept.len(), 1, "exactly one row for {key}");
        let (row, i, r) = kept[0];
        check_event(row, &log_of(r), time_of(&with_time(r)), &format!("panther aks line {}", i + 1));
    }
    assert_eq!(rows.len(), expected_rows);
    assert_eq!(lake.report().per_source()["panther"].duplicates_dropped, (audit.len() - expected_rows) as u64);
    // The Azure Activity records mixed in are another log category: skipped and counted by it.
    assert_eq!(lake.report().per_source()["panther"].rows_skipped, (panther.len() - audit.len()) as u64);
    assert_eq!(lake.report().skipped().get("Administrative").copied(), Some((panther.len() - audit.len()) as u64), "{:?}", lake.report().skipped());
    assert!(query_json(&lake, "SELECT * FROM rejects WHERE source_name = 'panther'").await.is_empty());

    let rows = query_json(&lake, &format!("SELECT {CHECK_SQL_COLUMNS} FROM audit_events WHERE source_name = 'elastic' ORDER BY lineage_object")).await;
    assert_eq!(rows.len(), 2);
    check_event(&rows[0], &log_of(&elastic[5]), time_of(&elastic[5]), "elastic line 6 (log as text)");
    check_event(&rows[1], &log_of(&elastic[4]), time_of(&elastic[4]), "elastic line 5 (log as struct)");
}

#[tokio::test]
async fn security_lake_ocsf_example_normalizes() {
    let reference = reference_dir();
    let text = std::fs::read_to_string(reference.join("landing-samples/eks-securitylake-ocsf-1.1.0.json")).unwrap();
    let mut row: Value = serde_json::from_str(&text).unwrap();
    // time_dt and start_time_dt arrive as timestamps in the lake; the sample renders them as text.
    for k in ["time_dt", "start_time_dt"] {
        if let Some(t) = row.get(k).and_then(Value::as_str).and_then(|s| oracle_micros(&s.replace(' ', "T"))) {
            row[k] = Value::from(t);
        }
    }
    let batch = decode_json_lines(&ocsf_schema(), std::iter::once(row.to_string())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("sl/region=us-east-1/accountId=123456789012/eventDay=20210907/x.parquet"), &batch);
    let config = write_config(dir.path(), &[Src { layout: "security_lake", extra: "cluster = \"lake\"", ..src("sl", "security_lake", "sl") }]);
    let lake = open(&config, TimeWindow::default()).await;
    let rows = query_json(&lake, &format!("SELECT {CHECK_SQL_COLUMNS} FROM audit_events")).await;
    assert_eq!(rows.len(), 1, "{:?}", lake.report().samples());
    let r = &rows[0];
    let o = |p: &[&str]| p.iter().try_fold(&row, |v, k| v.get(k)).cloned().unwrap_or(Value::Null);
    assert_eq!(r["audit_id"], o(&["api", "request", "uid"]));
    assert_eq!(r["audit_id"], "f47c68f2-d3ac-4f96-b2f4-5d497bf79b64");
    assert_eq!(r["verb"], o(&["api", "operation"]));
    assert_eq!(r["stage"], o(&["message"]));
    assert_eq!(r["level"], o(&["metadata", "log_level"]));
    assert_eq!(r["request_uri"], o(&["http_request", "url", "path"]));
    assert_eq!(r["user_name"], o(&["actor", "user", "name"]));
    assert_eq!(r["user_uid"], o(&["actor", "user", "uid"]));
    assert_eq!(r["user_groups"], serde_json::json!(["system:bootstrappers", "system:nodes", "system:authenticated"]));
    assert_eq!(r["user_agent"], o(&["http_request", "user_agent"]));
    assert_eq!(r["source_ip"], o(&["src_endpoint", "ip"]));
    assert_eq!(r["response_code"], o(&["api", "response", "code"]));
    assert_eq!(r["obj_resource"], o(&["resources"])[0]["type"]);
    assert_eq!(r["obj_name"], o(&["resources"])[0]["name"]);
    assert_eq!(r["user_extra"]["accessKeyId"], serde_json::json!([o(&["actor", "session", "credential_uid"])]));
    assert_eq!(r["user_extra"]["arn"], serde_json::json!([o(&["cloud", "account", "uid"])]));
    assert_eq!(r["authz_decision"], o(&["unmapped", "annotations.authorization.k8s.io/decision"]));
    assert_eq!(r["event_us"], o(&["time"]).as_i64().unwrap() * 1000);
    assert_eq!(r["cloud_account"], "123456789012");
    assert_eq!(r["region"], "us-east-1");
    assert_eq!(r["cluster"], "lake");
}
