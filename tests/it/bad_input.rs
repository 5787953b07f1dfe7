//! Bad input never crashes a scan and is never dropped silently: every rejected object and row is
//! counted, names its object, row and field, and stays reachable in the `rejects` table. Also:
//! duplicate deliveries collapse to one row, and time-bounded reads open only the partitions they need.

use std::path::Path;

use auditlake::TimeWindow;
use auditlake::normalize::time::parse_timestamp_micros;
use serde_json::{Value, json};

use crate::util::*;

fn event(audit_id: &str, stage_ts: &str) -> String {
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": audit_id,
        "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/default/pods", "verb": "list",
        "user": {"username": "alice", "groups": ["system:authenticated"]}, "sourceIPs": ["10.0.0.7"],
        "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200}, "stageTimestamp": stage_ts,
        "requestReceivedTimestamp": stage_ts
    })
    .to_string()
}

/// Writes CloudWatch rows (logStream, message) to `rel` under `root`, plus an unknown extra column.
fn cwl_object(root: &Path, rel: &str, rows: &[(&str, String)]) {
    let n = rows.len();
    let batch = string_batch(vec![
        ("owner", vec![Some("123456789012".into()); n]),
        ("logGroup", vec![Some("/aws/eks/prod/cluster".into()); n]),
        ("logStream", rows.iter().map(|(s, _)| Some(s.to_string())).collect()),
        ("message", rows.iter().map(|(_, m)| Some(m.clone())).collect()),
        ("firehose_extra_column", vec![Some("ignored".into()); n]),
    ]);
    write_parquet(&root.join(rel), &batch);
}

const AUDIT: &str = "kube-apiserver-audit-0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn every_kind_of_bad_input_is_counted_reported_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("eks");
    cwl_object(
        &root,
        "2024/05/01/10/good.parquet",
        &[
            (AUDIT, event("a-1", "2024-05-01T10:00:01.000000Z")),
            (AUDIT, "I0501 10:00:02 not json at all".into()),
            (AUDIT, event("a-3", "the first of May")),
            ("authenticator-0123456789abcdef", "time=\"2024-05-01T10:00:03Z\" level=info msg=\"access granted\"".into()),
            (AUDIT, event("a-5", "2024-05-01T10:00:05.000000Z")),
        ],
    );
    std::fs::write(root.join("2024/05/01/10/corrupt.parquet"), b"PAR1 this is not parquet at all PAR1").unwrap();
    let good = std::fs::read(root.join("2024/05/01/10/good.parquet")).unwrap();
    std::fs::write(root.join("2024/05/01/10/truncated.parquet"), &good[..good.len() / 2]).unwrap();
    write_parquet(&root.join("2024/05/01/10/no_message.parquet"), &string_batch(vec![("logGroup", vec![Some("/aws/eks/prod/cluster".into())])]));
    let config = write_config(dir.path(), &[Src { layout: "firehose", ..src("eks", "eks_cloudwatch", "eks") }]);
    let lake = open(&config, TimeWindow::default()).await;

    let rows = query_json(&lake, "SELECT audit_id, lineage_row FROM audit_events ORDER BY lineage_row").await;
    assert_eq!(rows, vec![json!({"audit_id": "a-1", "lineage_row": 0}), json!({"audit_id": "a-5", "lineage_row": 4})]);
    let totals = lake.report().totals();
    assert_eq!(totals.rows_rejected, 3);
    assert_eq!(totals.objects_rejected, 3);
    assert_eq!(totals.objects_opened, 4);

    let rejects = query_json(&lake, "SELECT object, \"row\", field, reason, record FROM rejects ORDER BY object, \"row\"").await;
    let find = |object: &str, row: Option<i64>| -> Value {
        rejects
            .iter()
            .find(|r| r["object"].as_str().unwrap().ends_with(object) && r.get("row").and_then(Value::as_i64) == row)
            .unwrap_or_else(|| panic!("no reject for {object} row {row:?} in {rejects:#?}"))
            .clone()
    };
    let not_json = find("good.parquet", Some(1));
    assert_eq!(not_json["field"], "message");
    assert!(not_json["reason"].as_str().unwrap().contains("not a JSON object"));
    assert_eq!(not_json["record"], "I0501 10:00:02 not json at all");
    let bad_time = find("good.parquet", Some(2));
    assert_eq!(bad_time["field"], "message.stageTimestamp");
    assert!(bad_time["reason"].as_str().unwrap().contains("the first of May"));
    let other = find("good.parquet", Some(3));
    assert_eq!(other["field"], "logStream");
    assert!(other["reason"].as_str().unwrap().contains("another log category"));
    assert!(find("corrupt.parquet", None)["reason"].as_str().unwrap().contains("Parquet"));
    assert!(find("truncated.parquet", None)["reason"].as_str().unwrap().contains("Parquet"));
    let missing = find("no_message.parquet", None);
    assert_eq!(missing["field"], "message");
    assert!(missing["reason"].as_str().unwrap().contains("required column is missing"));
    assert_eq!(rejects.len(), 6);
}

#[tokio::test]
async fn duplicate_deliveries_collapse_to_one_row_per_cluster_audit_id_and_stage() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("eks");
    let e1 = event("dup-1", "2024-05-01T10:00:01.000000Z");
    let e2 = event("dup-2", "2024-05-01T10:00:02.000000Z");
    cwl_object(&root, "2024/05/01/10/first.parquet", &[(AUDIT, e1.clone()), (AUDIT, e2.clone())]);
    // Firehose retried the delivery: the same records land again in a later object.
    cwl_object(&root, "2024/05/01/11/retry.parquet", &[(AUDIT, e1.clone()), (AUDIT, e2)]);
    // Same audit id at another stage is a distinct row.
    let started = e1.replace("ResponseComplete", "ResponseStarted");
    cwl_object(&root, "2024/05/01/11/stage.parquet", &[(AUDIT, started)]);
    let config = write_config(dir.path(), &[Src { layout: "firehose", ..src("eks", "eks_cloudwatch", "eks") }]);
    let lake = open(&config, TimeWindow::default()).await;
    let rows = query_json(&lake, "SELECT audit_id, stage, count(*) AS n FROM audit_events GROUP BY 1, 2 ORDER BY 1, 2").await;
    assert_eq!(
        rows,
        vec![
            json!({"audit_id": "dup-1", "stage": "ResponseComplete", "n": 1}),
            json!({"audit_id": "dup-1", "stage": "ResponseStarted", "n": 1}),
            json!({"audit_id": "dup-2", "stage": "ResponseComplete", "n": 1}),
        ]
    );
    assert_eq!(lake.report().totals().duplicates_dropped, 2);
}

fn t(s: &str) -> i64 {
    parse_timestamp_micros(s).unwrap()
}

#[tokio::test]
async fn a_time_bounded_query_opens_only_partitions_that_can_hold_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("eks");
    // 48 hourly partitions over two days, one object each with one event at hh:30.
    for h in 0..48 {
        let (day, hour) = (1 + h / 24, h % 24);
        let ts = format!("2024-05-{day:02}T{hour:02}:30:00.000000Z");
        cwl_object(&root, &format!("2024/05/{day:02}/{hour:02}/obj.parquet"), &[(AUDIT, event(&format!("e-{h}"), &ts))]);
    }
    let config = write_config(dir.path(), &[Src { layout: "firehose", ..src("eks", "eks_cloudwatch", "eks") }]);

    // --from/--to 10:00-12:00 on May 1st with lateness 1h and clock skew 5m: partitions 09 (may hold
    // events filed up to 5 min early), 10, 11 and 12 (late arrivals) are opened; nothing else.
    let window = TimeWindow { from: Some(t("2024-05-01T10:00:00Z")), to: Some(t("2024-05-01T12:00:00Z")) };
    let lake = open(&config, window).await;
    let rows = query_json(&lake, "SELECT audit_id FROM audit_events ORDER BY audit_id").await;
    assert_eq!(rows, vec![json!({"audit_id": "e-10"}), json!({"audit_id": "e-11"})]);
    let c = lake.report().totals();
    assert_eq!((c.objects_listed, c.objects_opened), (4, 4), "{c:?}");
    assert_eq!(c.rows_out_of_window, 2);

    // The same pruning from a SQL predicate on event_time, with no --from/--to.
    let lake = open(&config, TimeWindow::default()).await;
    let rows = query_json(&lake, "SELECT audit_id FROM audit_events WHERE event_time >= '2024-05-02T05:00:00Z' AND event_time < '2024-05-02T06:00:00Z'").await;
    assert_eq!(rows, vec![json!({"audit_id": "e-29"})]);
    let c = lake.report().totals();
    assert_eq!(c.objects_opened, 3, "{c:?}");

    // Without bounds every object is opened.
    let lake = open(&config, TimeWindow::default()).await;
    assert_eq!(query_json(&lake, "SELECT count(*) AS n FROM audit_events").await, vec![json!({"n": 48})]);
    assert_eq!(lake.report().totals().objects_opened, 48);
}

/// Rejects of one object as (row, field), in row order.
async fn rejects_of(lake: &auditlake::AuditLake, object: &str) -> Vec<(i64, String)> {
    let sql = format!("SELECT \"row\", field FROM rejects WHERE object LIKE '%{object}' ORDER BY \"row\"");
    query_json(lake, &sql).await.iter().map(|r| (r["row"].as_i64().unwrap(), r["field"].as_str().unwrap().to_owned())).collect()
}

#[tokio::test]
async fn regression_event_time_near_i64_max_is_a_reject_not_a_wrapped_window() {
    use auditlake::sources::synthetic::{self, K8sAuditColumns, SecurityLakeRow, TimeColumn};
    let dir = tempfile::tempdir().unwrap();
    let ok_ms = t("2024-05-01T10:00:00Z") / 1000;
    // Milliseconds near i64::MAX used to saturate to i64::MAX microseconds: an event "in" year
    // 294247 that wrapped the correlation window. Epoch nanoseconds read as milliseconds overflow too.
    let typed = K8sAuditColumns {
        audit_id: ["ok", "max", "ns"].map(|s| Some(s.to_owned())).to_vec(),
        stage_timestamp: TimeColumn::Int64(vec![Some(ok_ms), Some(i64::MAX), Some(ok_ms * 1_000_000)]),
        request_received_timestamp: TimeColumn::Timestamp(datafusion::arrow::datatypes::TimeUnit::Second, vec![None, None, None]),
        request_object: vec![None; 3],
    };
    write_parquet(&dir.path().join("typed/part-0.parquet"), &synthetic::k8s_audit(&typed).unwrap());
    let ocsf = [Some(ok_ms), Some(i64::MAX), Some(i64::MIN)].map(|time| SecurityLakeRow { time, ..SecurityLakeRow::default() });
    write_parquet(&dir.path().join("ocsf/part-0.parquet"), &synthetic::security_lake(&ocsf).unwrap());
    let config = write_config(dir.path(), &[src("typed", "k8s_audit", "typed"), src("ocsf", "security_lake", "ocsf")]);
    let lake = open(&config, TimeWindow::default()).await;

    let rows = query_json(&lake, "SELECT source, arrow_cast(event_time, 'Int64') AS us FROM audit_events ORDER BY source").await;
    assert_eq!(rows, vec![json!({"source": "k8s_audit", "us": ok_ms * 1000}), json!({"source": "security_lake", "us": ok_ms * 1000})]);
    assert_eq!(rejects_of(&lake, "typed/part-0.parquet").await, [(1, "stageTimestamp".to_owned()), (2, "stageTimestamp".to_owned())]);
    assert_eq!(rejects_of(&lake, "ocsf/part-0.parquet").await, [(1, "time".to_owned()), (2, "time".to_owned())]);
}

#[tokio::test]
async fn regression_deep_keys_and_bodies_are_rejects_or_kept_never_a_crash() {
    use auditlake::sources::synthetic::{self, AksRow, SecurityLakeRow};
    let dir = tempfile::tempdir().unwrap();
    let deep_body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let with_body = |id: &str, body: &str| event(id, "2024-05-01T10:00:01Z").replacen('{', &format!("{{\"requestObject\":{body},"), 1);
    cwl_object(&dir.path().join("eks"), "part-0.parquet", &[(AUDIT, with_body("deep", &deep_body)), (AUDIT, with_body("flat", "{}"))]);
    let aks = [("deep", deep_body.as_str()), ("flat", "{}")].map(|(id, body)| AksRow { category: Some("kube-audit".into()), log: Some(with_body(id, body)), ..AksRow::default() });
    write_parquet(&dir.path().join("aks/part-0.parquet"), &synthetic::aks_diagnostics(&aks).unwrap());
    // A flattened key of 10,000 segments overflowed the stack rebuilding the body (exit 134).
    let key = format!("requestObject.{}z", "a.".repeat(10_000));
    let ocsf = [SecurityLakeRow { time: Some(t("2024-05-01T10:00:01Z") / 1000), unmapped: Some(vec![(key, "v".into())]), ..SecurityLakeRow::default() }];
    write_parquet(&dir.path().join("ocsf/part-0.parquet"), &synthetic::security_lake(&ocsf).unwrap());
    let config = write_config(dir.path(), &[src("eks", "eks_cloudwatch", "eks"), src("aks", "aks_diagnostics", "aks"), src("ocsf", "security_lake", "ocsf")]);
    let lake = open(&config, TimeWindow::default()).await;

    assert_eq!(rejects_of(&lake, "eks/part-0.parquet").await, [(0, "message.requestObject".to_owned())]);
    assert_eq!(rejects_of(&lake, "aks/part-0.parquet").await, [(0, "properties.log.requestObject".to_owned())]);
    let rows = query_json(&lake, "SELECT source, audit_id, json_length(request_object) AS keys FROM audit_events ORDER BY source").await;
    assert_eq!(
        rows,
        vec![
            json!({"source": "aks_diagnostics", "audit_id": "flat", "keys": 0}),
            json!({"source": "eks_cloudwatch", "audit_id": "flat", "keys": 0}),
            // The Security Lake row is kept, its body shallow enough to read.
            json!({"source": "security_lake", "keys": 1}),
        ]
    );
}
