//! Bad input never crashes a scan and is never dropped silently: every rejected object and row is
//! counted, names its object, row and field, and stays reachable in the `rejects` table. Also:
//! duplicate deliveries collapse to one row, and time-bounded reads open only the partitions they need.

use std::path::Path;

use auditlake::TimeWindow;
use auditlake::normalize::time::parse_timestamp_micros;
use serde_json::{Value, json};

use crate::util::*;

pub(crate) fn event(audit_id: &str, stage_ts: &str) -> String {
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
pub(crate) fn cwl_object(root: &Path, rel: &str, rows: &[(&str, String)]) {
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

pub(crate) const AUDIT: &str = "kube-apiserver-audit-0123456789abcdef0123456789abcdef";

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
    assert_eq!(totals.rows_rejected, 2);
    // The authenticator stream is another log category: skipped and counted, not a reject.
    assert_eq!(totals.rows_skipped, 1);
    assert_eq!(lake.report().skipped(), [("authenticator".to_owned(), 1)].into());
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
    assert!(find("corrupt.parquet", None)["reason"].as_str().unwrap().contains("Parquet"));
    assert!(find("truncated.parquet", None)["reason"].as_str().unwrap().contains("Parquet"));
    let missing = find("no_message.parquet", None);
    assert_eq!(missing["field"], "message");
    assert!(missing["reason"].as_str().unwrap().contains("required column is missing"));
    assert_eq!(rejects.len(), 5);
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

/// `auditlake run --format json` over `config`'s sources, writing to `out`; logs as `log_format`.
fn run_binary(config: &Path, out: &Path, log_format: &str) -> std::process::Output {
    let mut cmd = assert_cmd::Command::cargo_bin("auditlake").unwrap();
    cmd.env_remove("AUDITLAKE_CONFIG").env_remove("AUDITLAKE_OUTPUT").env_remove("AUDITLAKE_LOG").env_remove("NO_COLOR");
    cmd.args(["--log-format", log_format, "run", "--format", "json", "--config"]).arg(config).arg("--output-location").arg(out);
    cmd.output().unwrap()
}

/// Rows of `sql` over the run outputs, through the binary.
fn output_rows(config: &Path, out: &Path, sql: &str) -> Vec<Value> {
    let mut cmd = assert_cmd::Command::cargo_bin("auditlake").unwrap();
    cmd.env_remove("AUDITLAKE_CONFIG").env_remove("AUDITLAKE_OUTPUT");
    let stdout = cmd.args(["query", "--format", "json", "--config"]).arg(config).arg("--output-location").arg(out).arg(sql).assert().success().get_output().stdout.clone();
    String::from_utf8_lossy(&stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn regression_huge_unparseable_value_is_excerpted_in_rejects() {
    let dir = tempfile::tempdir().unwrap();
    // 8 MB values: a stageTimestamp the parser quotes in its error, and a message that is not JSON.
    let huge = "9".repeat(8 << 20);
    let bad_time = event("big-1", &huge);
    let not_json = format!("E1201 {huge}");
    cwl_object(&dir.path().join("eks"), "big.parquet", &[(AUDIT, event("ok-1", "2024-05-01T10:00:01Z")), (AUDIT, bad_time), (AUDIT, not_json)]);
    let config = write_config(dir.path(), &[src("eks", "eks_cloudwatch", "eks")]);
    let out = dir.path().join("out");
    let run = run_binary(&config, &out, "json");
    assert_eq!(run.status.code(), Some(3), "{}", String::from_utf8_lossy(&run.stderr));
    // Nothing of the values' size reaches the log.
    assert!(run.stderr.len() < 16 << 10, "{} bytes of stderr", run.stderr.len());
    let rejects = output_rows(&config, &out, "SELECT \"row\", field, reason, record FROM run_rejects ORDER BY \"row\"");
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    for r in &rejects {
        let (reason, record) = (r["reason"].as_str().unwrap(), r["record"].as_str().unwrap());
        assert!(reason.len() <= 512 && record.len() <= 4096, "reason {} bytes, record {} bytes", reason.len(), record.len());
        // The excerpt says how long the original was; object, row and field say where it is.
        assert!(record.ends_with(" bytes in all]"), "{}", &record[record.len() - 40..]);
    }
    assert_eq!((rejects[0]["row"].as_i64(), rejects[0]["field"].as_str()), (Some(1), Some("message.stageTimestamp")));
    assert_eq!((rejects[1]["row"].as_i64(), rejects[1]["field"].as_str()), (Some(2), Some("message")));
}

#[test]
fn regression_mass_rejects_are_counted_in_full_but_kept_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(&str, String)> = (0..3000).map(|i| (AUDIT, format!("not json {i}"))).collect();
    cwl_object(&dir.path().join("eks"), "bad.parquet", &rows);
    let config = write_config(dir.path(), &[src("eks", "eks_cloudwatch", "eks")]);
    let out = dir.path().join("out");
    let run = run_binary(&config, &out, "json");
    assert_eq!(run.status.code(), Some(3));
    let summary: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(summary["rows_rejected"], 3000, "every reject is counted");
    // The first 100 of the kind in the object are kept whole; one summary row stands for the rest
    // and says where they are.
    let rejects = output_rows(&config, &out, "SELECT \"row\", reason, record FROM run_rejects ORDER BY \"row\"");
    assert_eq!(rejects.len(), 101);
    let summary_row = rejects.iter().find(|r| r.get("record").is_none()).unwrap();
    assert_eq!(summary_row["row"], 100);
    assert!(summary_row["reason"].as_str().unwrap().starts_with("2900 more rejects of this kind in rows 100..=2999"), "{summary_row}");
}

#[test]
fn regression_each_reject_kind_is_logged_once_with_its_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Vec<(&str, String)> = (0..300).map(|i| (AUDIT, format!("not json {i}"))).collect();
    rows.extend((0..50).map(|i| (AUDIT, event(&format!("t-{i}"), &format!("day {i}")))));
    cwl_object(&dir.path().join("eks"), "bad.parquet", &rows);
    let config = write_config(dir.path(), &[src("eks", "eks_cloudwatch", "eks")]);
    let run = run_binary(&config, &dir.path().join("out"), "json");
    assert_eq!(run.status.code(), Some(3));
    let warnings: Vec<Value> = String::from_utf8_lossy(&run.stderr).lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|l| l["level"] == "WARN" && l["fields"]["count"].is_number()).collect();
    let counts: Vec<(i64, &str)> = warnings.iter().map(|w| (w["fields"]["count"].as_i64().unwrap(), w["fields"]["field"].as_str().unwrap())).collect();
    assert_eq!(counts, vec![(300, "message"), (50, "message.stageTimestamp")], "{warnings:#?}");
}

#[test]
fn regression_logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    cwl_object(&dir.path().join("eks"), "bad.parquet", &[(AUDIT, "not json".into())]);
    let config = write_config(dir.path(), &[src("eks", "eks_cloudwatch", "eks")]);
    let run = run_binary(&config, &dir.path().join("out"), "text");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "ANSI escapes in piped stderr: {stderr:?}");
}

#[test]
fn regression_eks_log_group_with_every_control_plane_log_type_is_not_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let id = "71976ca11bea5d3083393f7d32dab75b";
    let streams = ["authenticator", "kube-scheduler", "kube-controller-manager", "cloud-controller-manager", "kube-apiserver"].map(|s| format!("{s}-{id}"));
    let mut rows: Vec<(&str, String)> = vec![(AUDIT, event("a-1", "2024-05-01T10:00:01Z")), (AUDIT, event("a-2", "2024-05-01T10:00:02Z"))];
    for (i, s) in streams.iter().enumerate() {
        rows.extend((0..=i).map(|_| (s.as_str(), "I1201 10:00:00.000000 1 log line of another component".to_owned())));
    }
    cwl_object(&dir.path().join("eks"), "group.parquet", &rows);
    let config = write_config(dir.path(), &[src("eks", "eks_cloudwatch", "eks")]);
    let out = dir.path().join("out");
    let run = run_binary(&config, &out, "json");
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let summary: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!((summary["status"].as_str(), summary["rows_rejected"].as_i64(), summary["rows_skipped"].as_i64()), (Some("ok"), Some(0), Some(15)), "{summary}");
    let expected = json!({"authenticator": 1, "kube-scheduler": 2, "kube-controller-manager": 3, "cloud-controller-manager": 4, "kube-apiserver": 5});
    assert_eq!(serde_json::from_str::<Value>(summary["skipped"].as_str().unwrap()).unwrap(), expected);
    let runs = output_rows(&config, &out, "SELECT status, rows_skipped, skipped FROM runs");
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0]["status"].as_str(), runs[0]["rows_skipped"].as_i64()), (Some("ok"), Some(15)));
    assert_eq!(serde_json::from_str::<Value>(runs[0]["skipped"].as_str().unwrap()).unwrap(), expected);

    // Malformed audit records beside them are still rejects (exit 3).
    cwl_object(&dir.path().join("eks"), "bad.parquet", &[(AUDIT, "not json".into()), (streams[0].as_str(), "time=x msg=y".into())]);
    let run = run_binary(&config, &out, "json");
    assert_eq!(run.status.code(), Some(3));
    let summary: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!((summary["rows_rejected"].as_i64(), summary["rows_skipped"].as_i64()), (Some(1), Some(1)), "{summary}");
}

#[tokio::test]
async fn regression_aks_categories_other_than_kube_audit_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let resource = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/C";
    let log = |text: &str| json!({"log": text, "stream": "stdout"}).to_string();
    let records = [
        ("kube-audit", log(&event("k-1", "2024-05-01T10:00:01Z"))),
        ("kube-audit-admin", log(&event("k-2", "2024-05-01T10:00:02Z"))),
        ("guard", log("guard: authorized alice")),
        ("kube-apiserver", log("I1201 apiserver line")),
        ("kube-apiserver", log("I1201 another")),
        ("cluster-autoscaler", log("scale up")),
        ("kube-audit", log("not json")),
    ];
    let batch = string_batch(vec![
        ("time", vec![Some("2024-05-01T10:00:00Z".into()); records.len()]),
        ("resourceId", vec![Some(resource.into()); records.len()]),
        ("category", records.iter().map(|(c, _)| Some(c.to_string())).collect()),
        ("properties", records.iter().map(|(_, p)| Some(p.clone())).collect()),
    ]);
    write_parquet(&dir.path().join("aks/PT1H.parquet"), &batch);
    let config = write_config(dir.path(), &[src("aks", "aks_diagnostics", "aks")]);
    let lake = open(&config, TimeWindow::default()).await;
    let rows = query_json(&lake, "SELECT audit_id FROM audit_events ORDER BY audit_id").await;
    assert_eq!(rows, vec![json!({"audit_id": "k-1"}), json!({"audit_id": "k-2"})]);
    let totals = lake.report().totals();
    assert_eq!((totals.rows_skipped, totals.rows_rejected), (4, 1));
    assert_eq!(lake.report().skipped(), [("cluster-autoscaler".to_owned(), 1), ("guard".to_owned(), 1), ("kube-apiserver".to_owned(), 2)].into());
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
