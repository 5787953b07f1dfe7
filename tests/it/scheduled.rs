//! Scheduled runs through the binary, as cron and Airflow drive it: exactly-once by arrival,
//! idempotent Delta outputs, DUET answers that survive re-runs, late data, SIGKILL mid-run and
//! concurrent runs of the same window. Every check compares against a clean reference run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use auditlake::generate::{GenerateOptions, generate};
use auditlake::sources::SourceFormat;
use serde_json::Value;

pub(crate) const HOUR: i64 = 3_600_000_000;

/// When generated data starts: three whole hours ago, so partition times and landing times agree
/// the way they do in a live lake.
pub(crate) fn start_of_data() -> i64 {
    let now = chrono::Utc::now().timestamp_micros();
    (now / HOUR - 3) * HOUR
}

/// A small generated landing set (two formats, every scenario, two hours from `start`) with the
/// sample config beside it (lateness 6h: records may land up to six hours late).
pub(crate) fn dataset(seed: u64, start: i64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenerateOptions {
        out: dir.path().to_path_buf(),
        events: 1_500,
        seed,
        hours: 2,
        start_micros: start,
        formats: vec![SourceFormat::K8sAudit, SourceFormat::EksCloudwatch],
        ..GenerateOptions::default()
    };
    generate(&opts).unwrap();
    let config = auditlake::config::EMBEDDED_DEFAULT.replace("lateness = \"1h\"", "lateness = \"6h\"");
    assert!(config.contains("lateness = \"6h\""));
    std::fs::write(dir.path().join("auditlake.toml"), config).unwrap();
    dir
}

pub(crate) fn auditlake(data: &Path, out: &Path) -> Command {
    let mut cmd = Command::cargo_bin("auditlake").unwrap();
    cmd.env_remove("AUDITLAKE_CONFIG").env_remove("AUDITLAKE_OUTPUT");
    cmd.arg("--log-format").arg("json");
    cmd.env("AUDITLAKE_CONFIG", data.join("auditlake.toml")).env("AUDITLAKE_OUTPUT", out);
    cmd
}

/// `auditlake run --format json [args]`: the summary (exit 0 required).
pub(crate) fn run(data: &Path, out: &Path, args: &[&str]) -> Value {
    let assert = auditlake(data, out).args(["run", "--format", "json"]).args(args).assert();
    let output = assert.get_output();
    assert!(output.status.success(), "run failed ({:?}): {}", output.status.code(), String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

pub(crate) fn rows(data: &Path, out: &Path, sql: &str) -> Vec<Value> {
    let output = auditlake(data, out).args(["query", "--format", "json", sql]).assert().success().get_output().stdout.clone();
    String::from_utf8_lossy(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// What the outputs hold, in a form to compare runs by: alert id → (event count, audit ids),
/// and the DUET ids.
#[derive(Debug, PartialEq)]
pub(crate) struct Outputs {
    pub(crate) alerts: BTreeMap<String, (i64, Vec<String>)>,
    pub(crate) duet: BTreeSet<String>,
}

pub(crate) fn outputs(data: &Path, out: &Path) -> Outputs {
    let alerts = rows(data, out, "SELECT alert_id, event_count, audit_ids FROM alerts WHERE alert_type = 'detection'");
    let duet = rows(data, out, "SELECT id FROM duet_queue");
    let mut a = BTreeMap::new();
    for r in &alerts {
        let ids: Vec<String> = r["audit_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        let prev = a.insert(r["alert_id"].as_str().unwrap().to_owned(), (r["event_count"].as_i64().unwrap(), ids));
        assert!(prev.is_none(), "duplicate alert row {}", r["alert_id"]);
    }
    let mut d = BTreeSet::new();
    for r in &duet {
        assert!(d.insert(r["id"].as_str().unwrap().to_owned()), "duplicate DUET row {}", r["id"]);
    }
    Outputs { alerts: a, duet: d }
}

pub(crate) fn n(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or_else(|| panic!("{k} missing in {v}"))
}

#[test]
fn repeated_and_overlapping_runs_never_duplicate_outputs() {
    let data = dataset(7, start_of_data());
    let out = tempfile::tempdir().unwrap();
    let (d, o) = (data.path(), out.path());

    let first = run(d, o, &[]);
    assert_eq!(first["status"], "ok", "{first}");
    assert!(n(&first, "objects_new") > 0 && n(&first, "alerts_new") > 0 && n(&first, "duet_new") > 0, "{first}");
    let after_first = outputs(d, o);
    assert_eq!(after_first.alerts.len() as i64, n(&first, "alerts_new"));
    assert_eq!(after_first.duet.len() as i64, n(&first, "duet_new"));

    // The next tick finds nothing new.
    let second = run(d, o, &[]);
    assert_eq!((n(&second, "objects_new"), n(&second, "alerts_new"), n(&second, "duet_new")), (0, 0, 0), "{second}");
    assert!(n(&second, "objects_already_processed") > 0, "the overlap re-lists recent objects: {second}");
    // An explicit window over everything: all already processed.
    let window = run(d, o, &["--start", "2000-01-01", "--end", "now"]);
    assert_eq!(n(&window, "objects_new"), 0, "{window}");
    // A backfill re-evaluates everything and changes nothing.
    let backfill = run(d, o, &["--start", "2000-01-01", "--end", "now", "--reprocess"]);
    assert_eq!(n(&backfill, "objects_new"), n(&first, "objects_new"), "{backfill}");
    assert_eq!((n(&backfill, "alerts_new"), n(&backfill, "alerts_updated"), n(&backfill, "duet_new")), (0, 0, 0), "{backfill}");
    assert_eq!(outputs(d, o), after_first);

    // The run log has every run, in order, with no gap flagged.
    let log = auditlake(d, o).args(["runs", "--format", "json"]).assert().success().get_output().stdout.clone();
    let log: Vec<Value> = String::from_utf8_lossy(&log).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|r| r["gap"].is_null() && r["status"] == "ok"), "{log:?}");
    assert_eq!(log[0]["run_id"], first["run_id"]);
    let hits: Value = serde_json::from_str(log[0]["hits"].as_str().unwrap()).unwrap();
    assert!(hits.as_object().unwrap().len() > 10, "hits per rule recorded: {hits}");
}

#[test]
fn duet_answers_survive_reruns_and_unexpected_escalates() {
    let data = dataset(11, start_of_data());
    let out = tempfile::tempdir().unwrap();
    let (d, o) = (data.path(), out.path());
    run(d, o, &[]);
    let list = auditlake(d, o).args(["duet", "list", "--status", "pending", "--format", "json"]).assert().success().get_output().stdout.clone();
    let pending: Vec<Value> = String::from_utf8_lossy(&list).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(pending.len() >= 2, "{pending:?}");
    assert!(pending.iter().all(|p| p["first_action"].as_str().is_some_and(|t| !t.contains("{")) && p["routed_to"].as_array().is_some_and(|r| !r.is_empty())));
    let (yes, no) = (pending[0]["id"].as_str().unwrap(), pending[1]["id"].as_str().unwrap());

    auditlake(d, o).args(["duet", "answer", yes, "--expected", "--by", "alice@customer", "--note", "planned maintenance"]).assert().success();
    auditlake(d, o)
        .args(["duet", "answer", no, "--unexpected", "--by", "bob@customer"])
        .assert()
        .success()
        .stdout(predicates::str::contains("escalated"));
    // A second answer needs --force; an unknown id is a usage error.
    auditlake(d, o).args(["duet", "answer", yes, "--unexpected", "--by", "mallory"]).assert().code(2);
    auditlake(d, o).args(["duet", "answer", "no-such-id", "--expected", "--by", "x"]).assert().code(2);

    // Re-runs, including a full backfill, leave the answers alone and add no items.
    let before = outputs(d, o);
    run(d, o, &[]);
    run(d, o, &["--start", "2000-01-01", "--end", "now", "--reprocess"]);
    assert_eq!(outputs(d, o), before);
    let answered = rows(d, o, &format!("SELECT id, status, answered_by, note FROM duet_queue WHERE id IN ('{yes}', '{no}') ORDER BY status"));
    assert_eq!(answered.len(), 2);
    assert_eq!((answered[0]["status"].as_str(), answered[0]["answered_by"].as_str(), answered[0]["note"].as_str()), (Some("expected"), Some("alice@customer"), Some("planned maintenance")));
    assert_eq!((answered[1]["status"].as_str(), answered[1]["answered_by"].as_str()), (Some("unexpected"), Some("bob@customer")));
    let escalations = rows(d, o, "SELECT duet_id, severity FROM alerts WHERE alert_type = 'escalation'");
    assert_eq!(escalations.len(), 1, "{escalations:?}");
    assert_eq!(escalations[0]["duet_id"].as_str(), Some(no));
}

/// Moves every object of the first landing hour away and returns them, to land them late.
fn hold_back_first_hour(data: &Path, start: i64) -> Vec<(PathBuf, PathBuf)> {
    let mut held = Vec::new();
    let stash = data.join("held-back"); // not under any source location
    let t = chrono::DateTime::from_timestamp_micros(start).unwrap();
    let firehose = t.format("%Y/%m/%d/%H/").to_string();
    let hive = t.format("dt=%Y-%m-%d/hour=%H/").to_string();
    for entry in crate::util::parquet_files(data) {
        let rel = entry.strip_prefix(data).unwrap().to_string_lossy().into_owned();
        // Firehose `YYYY/MM/DD/HH/` and Hive `dt=.../hour=HH` partitions of the first hour.
        if rel.contains(&firehose) || rel.contains(&hive) {
            let target = stash.join(&rel);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::rename(&entry, &target).unwrap();
            held.push((target, entry));
        }
    }
    assert!(!held.is_empty());
    held
}


#[test]
fn late_landing_objects_are_detected_once() {
    let start = start_of_data();
    let data = dataset(13, start);
    let reference_out = tempfile::tempdir().unwrap();
    let (d, o) = (data.path(), reference_out.path());
    run(d, o, &[]);
    let reference = outputs(d, o);

    let data2 = dataset(13, start);
    let out = tempfile::tempdir().unwrap();
    let (d2, o2) = (data2.path(), out.path());
    let held = hold_back_first_hour(d2, start);
    let early = run(d2, o2, &[]);
    // The held-back hour lands now, into partitions whose window already ran.
    for (from, to) in &held {
        std::fs::rename(from, to).unwrap();
        std::fs::File::options().write(true).open(to).unwrap().set_modified(std::time::SystemTime::now()).unwrap();
    }
    let late = run(d2, o2, &[]);
    assert_eq!(n(&late, "objects_new") as usize, held.len(), "{late}");
    assert!(n(&late, "alerts_new") + n(&late, "alerts_updated") > 0, "late data raised or updated alerts: {late}");
    let again = run(d2, o2, &[]);
    assert_eq!((n(&again, "objects_new"), n(&again, "alerts_new")), (0, 0), "{again}");
    assert!(n(&early, "alerts_new") < reference.alerts.len() as i64);
    // Aggregations whose buckets straddled the late hour were re-evaluated: the same alerts with
    // the same evidence as a run that saw everything at once.
    assert_eq!(outputs(d2, o2), reference);
}

fn wait_for(path: &Path, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn sigkill_mid_run_then_rerun_is_complete_without_duplicates() {
    let data = dataset(17, start_of_data());
    let reference_out = tempfile::tempdir().unwrap();
    let d = data.path();
    let t0 = Instant::now();
    run(d, reference_out.path(), &[]);
    let full = t0.elapsed();
    let reference = outputs(d, reference_out.path());

    // Kill points: part-way through evaluation, and right after the first output commit (alerts
    // written; DUET items, ledger and run log not yet).
    type KillPoint = Box<dyn Fn(&Path)>;
    let kill_points: [KillPoint; 2] = [
        Box::new(move |_| std::thread::sleep(full / 3)),
        Box::new(|out: &Path| assert!(wait_for(&out.join("alerts/_delta_log/00000000000000000001.json"), Duration::from_secs(120)), "no alerts commit")),
    ];
    for (i, wait) in kill_points.iter().enumerate() {
        let out = tempfile::tempdir().unwrap();
        let bin = assert_cmd::cargo::cargo_bin("auditlake");
        let mut child = std::process::Command::new(bin)
            .args(["run", "--format", "json"])
            .env("AUDITLAKE_CONFIG", d.join("auditlake.toml"))
            .env("AUDITLAKE_OUTPUT", out.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait(out.path());
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(!status.success(), "kill point {i}: the run finished before it was killed");
        // Whatever was committed reads cleanly (no half-written commit is visible)...
        if out.path().join("alerts/_delta_log").is_dir() {
            rows(d, out.path(), "SELECT count(*) AS n FROM alerts");
        }
        // ...and the next run completes the work exactly.
        let rerun = run(d, out.path(), &[]);
        assert_eq!(rerun["status"], "ok");
        assert_eq!(outputs(d, out.path()), reference, "kill point {i}");
        let again = run(d, out.path(), &[]);
        assert_eq!((n(&again, "objects_new"), n(&again, "alerts_new"), n(&again, "duet_new")), (0, 0, 0), "kill point {i}: {again}");
    }
}

#[test]
fn concurrent_runs_of_the_same_window_do_not_duplicate() {
    let data = dataset(19, start_of_data());
    let reference_out = tempfile::tempdir().unwrap();
    let d = data.path();
    run(d, reference_out.path(), &[]);
    let reference = outputs(d, reference_out.path());

    let out = tempfile::tempdir().unwrap();
    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("auditlake"))
            .args(["run", "--format", "json", "--start", "2000-01-01", "--end", "2100-01-01"])
            .env("AUDITLAKE_CONFIG", d.join("auditlake.toml"))
            .env("AUDITLAKE_OUTPUT", out.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "concurrent run failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(outputs(d, out.path()), reference);
}

#[test]
fn outputs_open_with_the_python_deltalake_package() {
    let data = dataset(23, start_of_data());
    let out = tempfile::tempdir().unwrap();
    run(data.path(), out.path(), &[]);
    let script = r#"
import json, sys
from deltalake import DeltaTable
out = {}
for name in ["alerts", "duet_queue", "runs", "processed_objects"]:
    t = DeltaTable(sys.argv[1] + "/" + name)
    out[name] = {"rows": t.to_pyarrow_table().num_rows, "partitions": t.metadata().partition_columns}
print(json.dumps(out), flush=True)
# pyarrow's thread pools can abort the interpreter at exit ("terminate called without an active
# exception"); the answer is already out, so leave without running finalizers.
import os
os._exit(0)
"#;
    let py = std::process::Command::new("python3").arg("-c").arg(script).arg(out.path()).output().expect("python3 runs");
    assert!(
        py.status.success(),
        "the Python deltalake package must read the tables (pip install deltalake; scripts/test.sh installs it): {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let got: Value = serde_json::from_slice(&py.stdout).unwrap();
    let ours = outputs(data.path(), out.path());
    assert_eq!(got["alerts"]["rows"].as_u64().unwrap() as usize, ours.alerts.len());
    assert_eq!(got["duet_queue"]["rows"].as_u64().unwrap() as usize, ours.duet.len());
    assert_eq!(got["runs"]["rows"], 1);
    assert_eq!(got["alerts"]["partitions"], serde_json::json!(["date"]));
}

/// A CloudWatch Logs row set (one audit event per row) as Firehose lands it, this hour.
fn land_cloudwatch(root: &Path, name: &str, events: &[Value]) {
    let now = chrono::Utc::now();
    let rel = format!("eks/{}/{name}.parquet", now.format("%Y/%m/%d/%H"));
    let n = events.len();
    let batch = crate::util::string_batch(vec![
        ("logGroup", vec![Some("/aws/eks/prod-shop/cluster".into()); n]),
        ("logStream", vec![Some("kube-apiserver-audit-0123456789abcdef0123456789abcdef".into()); n]),
        ("message", events.iter().map(|e| Some(e.to_string())).collect()),
    ]);
    crate::util::write_parquet(&root.join(rel), &batch);
}

fn exec_event(audit_id: &str, pod: &str) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request", "auditID": audit_id, "stage": "ResponseStarted",
        "requestURI": format!("/api/v1/namespaces/payments/pods/{pod}/exec?command=ls&container=app&stdin=true&tty=true"),
        "verb": "get", "user": {"username": "dev-alice", "groups": ["developers", "system:authenticated"]}, "sourceIPs": ["10.1.2.3"],
        "userAgent": "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
        "objectRef": {"resource": "pods", "namespace": "payments", "name": pod, "apiVersion": "v1", "subresource": "exec"},
        "responseStatus": {"metadata": {}, "code": 101}, "requestReceivedTimestamp": now, "stageTimestamp": now,
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
    })
}

#[test]
fn an_expected_answer_quiets_the_same_rule_actor_and_object_and_gaps_are_flagged() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (d, o) = (data.path(), out.path());
    std::fs::write(d.join("auditlake.toml"), "[run]\ninitial_lookback = \"24h\"\n[duet]\nexpected_suppresses = \"7d\"\n[[source]]\nname = \"eks\"\nformat = \"eks_cloudwatch\"\nlocation = \"eks\"\nlayout = \"firehose\"\n").unwrap();
    land_cloudwatch(d, "first", &[exec_event("x-1", "api-1")]);
    let first = run(d, o, &[]);
    assert_eq!(n(&first, "duet_new"), 1, "{first}");
    let item = rows(d, o, "SELECT id FROM duet_queue")[0]["id"].as_str().unwrap().to_owned();
    auditlake(d, o).args(["duet", "answer", &item, "--expected", "--by", "alice@customer"]).assert().success();

    // The same person execs into the same pod again, and into another pod.
    land_cloudwatch(d, "second", &[exec_event("x-2", "api-1"), exec_event("x-3", "api-2")]);
    let second = run(d, o, &[]);
    assert_eq!(n(&second, "duet_new"), 2, "{second}");
    let items = rows(d, o, "SELECT audit_ids, status, answered_by, note FROM duet_queue ORDER BY audit_ids");
    let by_audit: BTreeMap<String, &Value> = items.iter().map(|r| (r["audit_ids"][0].as_str().unwrap().to_owned(), r)).collect();
    assert_eq!(by_audit["x-1"]["answered_by"], "alice@customer");
    assert_eq!((by_audit["x-2"]["status"].as_str(), by_audit["x-2"]["answered_by"].as_str()), (Some("expected"), Some("auditlake")));
    assert!(by_audit["x-2"]["note"].as_str().unwrap().contains(&item), "{:?}", by_audit["x-2"]);
    assert_eq!(by_audit["x-3"]["status"], "pending", "another object still asks the customer");

    // Explicit windows that leave a hole in arrival coverage are flagged.
    run(d, o, &["--start", "2026-01-01", "--end", "2026-01-02"]);
    run(d, o, &["--start", "2026-01-03", "--end", "2026-01-04"]);
    auditlake(d, o).args(["runs"]).assert().success().stdout(predicates::str::contains("GAP: arrivals 2026-01-02T00:00:00Z .. 2026-01-03T00:00:00Z"));
}
