//! Regression tests for the faults a month of production hit (issue #18), each named after the
//! defect: DUET expiry, far-future event times, concurrent answers, object versions, late
//! landings into old partitions, and one failing rule among many.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::bad_input::{AUDIT, cwl_object};
use crate::scheduled::{HOUR, auditlake, dataset, n, outputs, rows, run, start_of_data};

/// An anonymous client creating a pod: a single-event alert (`anonymous_pod_write`) with an id
/// derived from `audit_id`.
fn anonymous_pod_create(audit_id: &str, micros: i64) -> String {
    let ts = auditlake::normalize::time::format_micros(micros);
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": audit_id,
        "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/default/pods", "verb": "create",
        "user": {"username": "system:anonymous", "groups": ["system:unauthenticated"]}, "sourceIPs": ["203.0.113.9"],
        "objectRef": {"resource": "pods", "namespace": "default", "name": format!("miner-{audit_id}"), "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 201}, "stageTimestamp": ts, "requestReceivedTimestamp": ts
    })
    .to_string()
}

/// The Firehose key prefix (`YYYY/MM/DD/HH`) of the hour holding `micros`.
fn firehose_hour(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).unwrap().format("%Y/%m/%d/%H").to_string()
}

/// Lands one eks_cloudwatch object holding an anonymous pod create at `event_time`, in the
/// partition of `partition_time`, named `name`.
fn land_attack(data: &Path, partition_time: i64, name: &str, audit_id: &str, event_time: i64) {
    let rel = format!("{}/{name}.parquet", firehose_hour(partition_time));
    cwl_object(&data.join("eks_cloudwatch"), &rel, &[(AUDIT, anonymous_pod_create(audit_id, event_time))]);
}

fn alerts_for(data: &Path, out: &Path, audit_id: &str) -> i64 {
    let sql = format!("SELECT count(*) AS n FROM alerts WHERE rule_id = 'anonymous_pod_write' AND array_has(audit_ids, '{audit_id}')");
    n(&rows(data, out, &sql)[0], "n")
}

/// `auditlake run --format json` accepting exit `code`.
fn run_with_code(data: &Path, out: &Path, args: &[&str], code: i32) -> Value {
    let output = auditlake(data, out).args(["run", "--format", "json"]).args(args).timeout(Duration::from_secs(300)).output().unwrap();
    assert_eq!(output.status.code(), Some(code), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn set_config(data: &Path, from: &str, to: &str) {
    let path = data.join("auditlake.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from} not in the config");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

#[test]
fn regression_expired_duet_items_do_not_stop_detection() {
    let data = dataset(11, start_of_data());
    let (d, out) = (data.path(), tempfile::tempdir().unwrap());
    let o = out.path();
    set_config(d, "due_in = \"72h\"", "due_in = \"1s\"");
    let first = run(d, o, &[]);
    let items = n(&first, "duet_new");
    assert!(items > 0, "{first}");
    std::thread::sleep(Duration::from_millis(2_100));

    // Nothing new landed: the items still expire.
    let idle = run(d, o, &[]);
    assert_eq!((n(&idle, "objects_new"), n(&idle, "duet_expired")), (0, items), "{idle}");
    // New data after items expired: the run completes and detects.
    land_attack(d, chrono::Utc::now().timestamp_micros(), "after-expiry", "after-expiry-1", chrono::Utc::now().timestamp_micros() - 60_000_000);
    let next = run(d, o, &[]);
    assert_eq!((n(&next, "objects_new"), n(&next, "duet_expired")), (1, 0), "{next}");
    assert_eq!(alerts_for(d, o, "after-expiry-1"), 1);
    let expired = rows(d, o, "SELECT count(*) AS n FROM duet_queue WHERE status = 'expired'");
    assert_eq!(n(&expired[0], "n"), items, "every item expired exactly once");
}

#[test]
fn regression_far_future_event_time_does_not_stretch_the_correlation_window() {
    let start = start_of_data();
    let data = dataset(12, start);
    let reference = dataset(12, start);
    let (d, out, ref_out) = (data.path(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let y9999 = auditlake::normalize::time::parse_timestamp_micros("9999-12-31T23:00:00Z").unwrap();
    let rel = format!("{}/future.parquet", firehose_hour(start + HOUR));
    cwl_object(&d.join("eks_cloudwatch"), &rel, &[(AUDIT, crate::bad_input::event("from-the-future", "9999-12-31T23:00:00.000000Z"))]);

    // Before the fix this run planned millions of daily chunks and took about a day.
    let summary = run_with_code(d, out.path(), &[], 0);
    assert_eq!(n(&summary, "event_to"), y9999 + 1, "{summary}");
    run(reference.path(), ref_out.path(), &[]);
    // Whatever the far-future record itself raises aside, the correlation rules found what they
    // find without it.
    let without_it = |data: &Path, out: &Path| {
        let mut found = outputs(data, out);
        found.alerts.retain(|_, (_, ids)| !ids.iter().any(|i| i == "from-the-future"));
        let duet: std::collections::BTreeSet<String> = rows(data, out, "SELECT id FROM duet_queue WHERE NOT array_has(audit_ids, 'from-the-future')").iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        (found.alerts, duet)
    };
    assert_eq!(without_it(d, out.path()), without_it(reference.path(), ref_out.path()));
}

#[test]
fn regression_concurrent_duet_answers_cannot_both_win() {
    let data = dataset(13, start_of_data());
    let (d, out) = (data.path(), tempfile::tempdir().unwrap());
    let o = out.path();
    run(d, o, &[]);
    let pending = rows(d, o, "SELECT id FROM duet_queue WHERE status = 'pending' ORDER BY id LIMIT 4");
    assert!(pending.len() >= 3, "{pending:?}");
    for item in &pending {
        let id = item["id"].as_str().unwrap();
        let spawn = |answer: &str, by: &str| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("auditlake"))
                .env("AUDITLAKE_CONFIG", d.join("auditlake.toml"))
                .env("AUDITLAKE_OUTPUT", o)
                .args(["duet", "answer", id, answer, "--by", by])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn("--expected", "alice"), spawn("--unexpected", "bob"));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let won: Vec<bool> = [&a, &b].iter().map(|r| r.status.success()).collect();
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "exactly one answer wins: {:?} / {:?}", String::from_utf8_lossy(&a.stderr), String::from_utf8_lossy(&b.stderr));
        let loser = if won[0] { &b } else { &a };
        assert_eq!(loser.status.code(), Some(2), "the losing answer is a conflict: {}", String::from_utf8_lossy(&loser.stderr));
        let state = &rows(d, o, &format!("SELECT status, answered_by FROM duet_queue WHERE id = '{id}'"))[0];
        let escalations = n(&rows(d, o, &format!("SELECT count(*) AS n FROM alerts WHERE duet_id = '{id}'"))[0], "n");
        if won[0] {
            assert_eq!((state["status"].as_str(), state["answered_by"].as_str(), escalations), (Some("expected"), Some("alice"), 0));
        } else {
            assert_eq!((state["status"].as_str(), state["answered_by"].as_str(), escalations), (Some("unexpected"), Some("bob"), 1));
        }
    }
}

#[test]
fn regression_overwritten_object_is_read_again() {
    let data = dataset(14, start_of_data());
    let (d, out) = (data.path(), tempfile::tempdir().unwrap());
    let o = out.path();
    let now = chrono::Utc::now().timestamp_micros();
    land_attack(d, now, "rewritten", "v1", now - 120_000_000);
    let first = run(d, o, &[]);
    assert_eq!(alerts_for(d, o, "v1"), 1, "{first}");
    // The producer rewrites the object with more records (same key).
    std::thread::sleep(Duration::from_millis(1_100));
    let rel = format!("{}/rewritten.parquet", firehose_hour(now));
    cwl_object(&d.join("eks_cloudwatch"), &rel, &[(AUDIT, anonymous_pod_create("v1", now - 120_000_000)), (AUDIT, anonymous_pod_create("v2", now - 60_000_000))]);
    let second = run(d, o, &[]);
    assert_eq!(n(&second, "objects_new"), 1, "the new version is read: {second}");
    assert_eq!((alerts_for(d, o, "v1"), alerts_for(d, o, "v2")), (1, 1), "v1 is not duplicated, v2 is found");
}

#[test]
fn regression_half_uploaded_object_is_read_when_complete() {
    let data = dataset(15, start_of_data());
    let (d, out) = (data.path(), tempfile::tempdir().unwrap());
    let o = out.path();
    let now = chrono::Utc::now().timestamp_micros();
    let path = d.join("eks_cloudwatch").join(format!("{}/in-flight.parquet", firehose_hour(now)));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"").unwrap();
    let first = run_with_code(d, o, &[], 3);
    assert_eq!(n(&first, "objects_rejected"), 1, "the empty upload is rejected: {first}");
    std::thread::sleep(Duration::from_millis(1_100));
    land_attack(d, now, "in-flight", "completed-1", now - 60_000_000);
    let second = run(d, o, &[]);
    assert_eq!(n(&second, "objects_new"), 1, "{second}");
    assert_eq!(alerts_for(d, o, "completed-1"), 1);
}

#[test]
fn regression_objects_landing_late_into_old_partitions_are_evaluated() {
    let data = dataset(16, start_of_data());
    let (d, out) = (data.path(), tempfile::tempdir().unwrap());
    let o = out.path();
    let first = run(d, o, &[]);
    assert_eq!(first["mode"], "continue", "{first}");
    let now = chrono::Utc::now().timestamp_micros();
    // Within `run.late_reach` (24h) of the window, and three days old (a sweep's reach).
    land_attack(d, now - 20 * HOUR, "late-20h", "late-20h", now - 20 * HOUR);
    land_attack(d, now - 72 * HOUR, "late-3d", "late-3d", now - 72 * HOUR);
    let second = run(d, o, &[]);
    assert_eq!(second["mode"], "sweep", "no sweep has run yet: {second}");
    assert_eq!((n(&second, "objects_new"), n(&second, "objects_late")), (2, 2), "{second}");
    assert_eq!((alerts_for(d, o, "late-20h"), alerts_for(d, o, "late-3d")), (1, 1));

    // A sweep is not due for a day: a run lists back `late_reach` only, and the next sweep
    // (here with the clock a day on) finds what landed further back.
    land_attack(d, now - 20 * HOUR, "late-20h-b", "late-20h-b", now - 20 * HOUR);
    land_attack(d, now - 72 * HOUR, "late-3d-b", "late-3d-b", now - 72 * HOUR);
    let third = run(d, o, &[]);
    assert_eq!((third["mode"].as_str(), n(&third, "objects_new"), n(&third, "objects_late")), (Some("continue"), 1, 1), "{third}");
    let config = auditlake::Config::from_file(&d.join("auditlake.toml")).unwrap();
    let mut config = config;
    config.output.location = Some(o.to_string_lossy().into_owned());
    let rules = auditlake::rules::RulePack::bundled().unwrap();
    let opts = auditlake::run::RunOptions { now: Some(chrono::Utc::now().timestamp_micros() + 25 * HOUR), ..Default::default() };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let swept = runtime.block_on(auditlake::run::run(&config, &rules, &opts)).unwrap();
    assert_eq!((swept.record.mode.as_str(), swept.record.objects_new, swept.record.objects_late), ("sweep", 1, 1), "{:?}", swept.record);
    assert_eq!((alerts_for(d, o, "late-20h-b"), alerts_for(d, o, "late-3d-b")), (1, 1));
}

/// A copy of the bundled rule pack plus one rule `probe` with `sql` as its query.
fn pack_with_probe(dir: &Path, sql: Option<&str>) -> std::path::PathBuf {
    let pack = dir.join("queries");
    let src = auditlake::rules::default_rules_dir().unwrap();
    copy_dir(&src, &pack);
    let probe = pack.join("execution/probe.sql");
    match sql {
        Some(sql) => {
            let header = "/*\nid = \"probe\"\ntitle = \"Probe rule\"\ndescription = \"A rule under test.\"\nkind = \"alert\"\nseverity = \"high\"\nattack = [\"T1610\"]\nfalse_positives = \"None.\"\nremediation = \"None.\"\n*/\n";
            std::fs::write(&probe, format!("{header}{sql}\n")).unwrap();
        }
        None => {
            let _ = std::fs::remove_file(&probe);
        }
    }
    pack
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if !entry.file_name().to_string_lossy().starts_with("probe.") {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

const PROBE_OK: &str = "SELECT * FROM k8s_events WHERE verb = 'create' AND obj_resource = 'pods' AND actor = 'system:anonymous'";

#[test]
fn regression_one_failing_rule_does_not_fail_the_pack() {
    for (case, broken) in [
        ("invalid SQL", "SELECT * FROM no_such_table WHERE verb = 'create'"),
        ("fails while running", "SELECT * FROM k8s_events WHERE verb = 'create' AND CAST(user_name AS INT) > 0"),
    ] {
        let data = dataset(17, start_of_data());
        let (d, out, rules_dir) = (data.path(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let o = out.path();
        let now = chrono::Utc::now().timestamp_micros();
        land_attack(d, now, "attack", "probe-1", now - 60_000_000);
        let pack = pack_with_probe(rules_dir.path(), Some(broken));
        let pack_arg = pack.to_string_lossy().into_owned();

        let partial = run_with_code(d, o, &["--rules", &pack_arg], 4);
        assert_eq!(partial["status"], "partial", "{case}: {partial}");
        let failed: Value = serde_json::from_str(partial["failed_rules"].as_str().unwrap()).unwrap();
        assert!(failed["probe"].as_str().is_some_and(|e| !e.is_empty()), "{case}: the failing rule and its error are named: {failed}");
        assert_eq!(failed.as_object().unwrap().len(), 1, "{case}: {failed}");
        assert_eq!(alerts_for(d, o, "probe-1"), 1, "{case}: the other rules ran");
        let logged = rows(d, o, "SELECT status, failed_rules FROM runs WHERE status = 'partial'");
        assert_eq!(logged.len(), 1, "{case}: {logged:?}");

        // Retried over the same objects while it still fails...
        let again = run_with_code(d, o, &["--rules", &pack_arg], 4);
        assert!(n(&again, "objects_retried") > 0, "{case}: {again}");
        // ...until it is fixed: then it runs over them once and the run is whole again.
        let fixed = pack_with_probe(rules_dir.path(), Some(PROBE_OK));
        let fixed_arg = fixed.to_string_lossy().into_owned();
        let retried = run_with_code(d, o, &["--rules", &fixed_arg], 0);
        assert!(n(&retried, "objects_retried") > 0, "{case}: {retried}");
        let probe_alerts = n(&rows(d, o, "SELECT count(*) AS n FROM alerts WHERE rule_id = 'probe' AND array_has(audit_ids, 'probe-1')")[0], "n");
        assert_eq!(probe_alerts, 1, "{case}: the fixed rule found the anonymous pod");
        let quiet = run_with_code(d, o, &["--rules", &fixed_arg], 0);
        assert_eq!(n(&quiet, "objects_retried"), 0, "{case}: nothing left to retry: {quiet}");

        // The same as one clean run with the fixed pack.
        let clean = tempfile::tempdir().unwrap();
        run_with_code(d, clean.path(), &["--rules", &fixed_arg], 0);
        assert_eq!(outputs(d, o), outputs(d, clean.path()), "{case}");
    }
}

#[test]
fn regression_disabled_failing_rule_is_no_longer_retried() {
    let data = dataset(18, start_of_data());
    let (d, out, rules_dir) = (data.path(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let o = out.path();
    let pack = pack_with_probe(rules_dir.path(), Some("SELECT * FROM nowhere"));
    run_with_code(d, o, &["--rules", &pack.to_string_lossy()], 4);
    let without = pack_with_probe(rules_dir.path(), None);
    let next = run_with_code(d, o, &["--rules", &without.to_string_lossy()], 0);
    assert_eq!(n(&next, "objects_retried"), 0, "{next}");
    let after = run_with_code(d, o, &["--rules", &without.to_string_lossy()], 0);
    assert_eq!(n(&after, "objects_retried"), 0, "the pending rule was dropped, not carried: {after}");
}

#[test]
fn regression_run_with_rules_dir_reads_that_packs_allowlists() {
    let data = dataset(19, start_of_data());
    let (d, out, rules_dir) = (data.path(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let o = out.path();
    let now = chrono::Utc::now().timestamp_micros();
    land_attack(d, now, "attack", "quiet-1", now - 60_000_000);
    let quiet = format!("{PROBE_OK} AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'probe_quiet')");
    let pack = pack_with_probe(rules_dir.path(), Some(&quiet));
    // The pack's own allow-list (not the bundled pack's, which has no such list) quiets the probe.
    let lists = pack.join("allowlists.toml");
    let text = std::fs::read_to_string(&lists).unwrap();
    std::fs::write(&lists, format!("probe_quiet = [\"system:anonymous\"]\n{text}")).unwrap();
    run_with_code(d, o, &["--rules", &pack.to_string_lossy()], 0);
    let probe = n(&rows(d, o, "SELECT count(*) AS n FROM alerts WHERE rule_id = 'probe'")[0], "n");
    assert_eq!(probe, 0, "the probe rule read DIR's allow-lists");
    assert_eq!(alerts_for(d, o, "quiet-1"), 1, "the bundled anonymous_pod_write still fires");
}

#[test]
fn regression_answer_killed_before_its_escalation_is_escalated_by_the_next_run() {
    let data = dataset(20, start_of_data());
    let (d, out) = (data.path(), tempfile::tempdir().unwrap());
    let o = out.path();
    run(d, o, &[]);
    let id = rows(d, o, "SELECT id FROM duet_queue WHERE status = 'pending' ORDER BY id LIMIT 1")[0]["id"].as_str().unwrap().to_owned();
    // What an `--unexpected` answer killed after its update and before its escalation leaves.
    let outputs = auditlake::sinks::OutputTables::at(&o.to_string_lossy(), &Default::default()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let table = outputs.duet.load().await.unwrap();
        let sets = [("status", "'unexpected'".to_owned()), ("answered_by", "'dana'".to_owned()), ("answered_at", auditlake::sinks::sql_timestamp(chrono::Utc::now().timestamp_micros()))];
        outputs.duet.update(table, &format!("id = '{id}'"), &sets).await.unwrap();
    });
    let escalations = |d: &Path| n(&rows(d, o, &format!("SELECT count(*) AS n FROM alerts WHERE duet_id = '{id}'"))[0], "n");
    assert_eq!(escalations(d), 0);
    run(d, o, &[]);
    assert_eq!(escalations(d), 1, "the next run escalates the unexpected answer");
    let remediation = &rows(d, o, &format!("SELECT remediation FROM alerts WHERE duet_id = '{id}'"))[0]["remediation"];
    assert!(remediation.as_str().unwrap().starts_with("dana answered"), "{remediation}");
    run(d, o, &[]);
    assert_eq!(escalations(d), 1, "once");
}
