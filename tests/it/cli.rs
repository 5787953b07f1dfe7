//! The `auditlake` binary driven the way users drive it.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

use crate::util::*;

fn auditlake() -> Command {
    let mut cmd = Command::cargo_bin("auditlake").unwrap();
    cmd.env_remove("AUDITLAKE_CONFIG");
    cmd
}

/// Runs `auditlake query --format json <args>` successfully and returns its rows.
fn query_rows(args: &[&str]) -> Vec<Value> {
    let out = auditlake().args(["query", "--format", "json"]).args(args).assert().success().get_output().stdout.clone();
    json_lines(&out)
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn sample_data_shows_all_four_formats_with_no_config() {
    // Run from elsewhere: the embedded default still finds the bundled sample data.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = auditlake()
        .current_dir(elsewhere.path())
        .args(["query", "--format", "json", "SELECT source, count(*) AS n FROM audit_events GROUP BY source ORDER BY source"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rows = json_lines(&out);
    let sources: Vec<&str> = rows.iter().map(|r| r["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["aks_diagnostics", "eks_cloudwatch", "k8s_audit", "security_lake"]);
    assert!(rows.iter().all(|r| r["n"].as_i64().unwrap() > 1000), "{rows:?}");
}

#[test]
fn raw_source_tables_keep_lineage() {
    let rows = query_rows(&["SELECT \"logGroup\", _object, _row FROM eks_cloudwatch ORDER BY _object, _row LIMIT 1"]);
    assert_eq!(rows[0]["logGroup"], "/aws/eks/prod-payments/cluster");
    assert_eq!(rows[0]["_row"], 0);
    assert!(rows[0]["_object"].as_str().unwrap().starts_with("file:///"));
}

#[test]
fn output_formats_write_files() {
    let dir = tempfile::tempdir().unwrap();
    for (format, file) in [("csv", "out.csv"), ("json", "out.json"), ("parquet", "out.parquet"), ("table", "out.txt")] {
        let path = dir.path().join(file);
        auditlake()
            .args(["query", "--format", format, "--output"])
            .arg(&path)
            .arg("SELECT verb, count(*) AS n FROM audit_events GROUP BY verb ORDER BY n DESC LIMIT 3")
            .assert()
            .success();
        let bytes = std::fs::read(&path).unwrap();
        match format {
            "csv" => assert!(String::from_utf8_lossy(&bytes).starts_with("verb,n\n")),
            "json" => assert_eq!(json_lines(&bytes).len(), 3),
            "parquet" => assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1")),
            _ => assert!(String::from_utf8_lossy(&bytes).contains("| verb")),
        }
    }
}

#[test]
fn sql_from_a_file_and_a_time_window() {
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("q.sql");
    std::fs::write(&sql, "SELECT min(event_time) AS lo, max(event_time) AS hi, count(*) AS n FROM audit_events").unwrap();
    let row = &query_rows(&["--from", "2026-11-01T01:00:00Z", "--to", "2026-11-01T02:00:00Z", "-f", sql.to_str().unwrap()])[0];
    assert!(row["lo"].as_str().unwrap() >= "2026-11-01T01:00:00", "{row}");
    assert!(row["hi"].as_str().unwrap() < "2026-11-01T02:00:00", "{row}");
    assert!(row["n"].as_i64().unwrap() > 0);
}

#[test]
fn usage_and_config_errors_exit_2() {
    auditlake().args(["query", "SELEC nonsense"]).assert().code(2).stderr(predicate::str::contains("auditlake:"));
    auditlake().args(["query", "SELECT * FROM no_such_table"]).assert().code(2);
    auditlake().args(["query", "--config", "/nonexistent/auditlake.toml", "SELECT 1"]).assert().code(2).stderr(predicate::str::contains("/nonexistent/auditlake.toml"));
    auditlake().args(["query", "--from", "last tuesday", "SELECT 1"]).assert().code(2).stderr(predicate::str::contains("invalid time"));
    auditlake().args(["query", "--bogus-flag"]).assert().code(2);
}

#[test]
fn strict_mode_exits_3_on_rejected_input_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let batch = string_batch(vec![
        ("logGroup", vec![Some("/aws/eks/prod/cluster".into())]),
        ("logStream", vec![Some("kube-apiserver-audit-x".into())]),
        ("message", vec![Some("{not json".into())]),
    ]);
    write_parquet(&dir.path().join("eks/a.parquet"), &batch);
    let config = write_config(dir.path(), &[src("eks", "eks_cloudwatch", "eks")]);
    let q = "SELECT count(*) FROM audit_events";
    auditlake().args(["query", "--config"]).arg(&config).arg(q).assert().success().stderr(predicate::str::contains("1 record(s) and 0 object(s) rejected").and(predicate::str::contains("a.parquet row 0 field 'message'")));
    auditlake().args(["query", "--strict", "--config"]).arg(&config).arg(q).assert().code(3);
    let out = auditlake().args(["query", "--format", "json", "--config"]).arg(&config).arg("SELECT \"row\", field, record FROM rejects").assert().success().get_output().stdout.clone();
    assert_eq!(json_lines(&out), vec![serde_json::json!({"row": 0, "field": "message", "record": "{not json"})]);
}

#[test]
fn generate_writes_every_format_and_the_labels() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen");
    auditlake().args(["generate", "--events", "4000", "--seed", "7", "--hours", "2", "--out"]).arg(&out).assert().success();
    let labels = read_jsonl(&out.join("labels.jsonl"));
    assert!(labels.len() >= 40, "ten or more scenarios per format: {}", labels.len());
    // The bundled config works on any generated directory.
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/sample_data/auditlake.toml"), out.join("auditlake.toml")).unwrap();
    let res = auditlake()
        .args(["query", "--strict", "--stats", "--format", "json", "--config"])
        .arg(out.join("auditlake.toml"))
        .arg("SELECT source, count(*) AS n FROM audit_events GROUP BY source ORDER BY source")
        .assert()
        .success()
        .get_output()
        .clone();
    let rows = json_lines(&res.stdout);
    assert_eq!(rows.len(), 4, "{rows:?}");
    // Every scenario's evidence is in audit_events, in its cluster.
    let ids: Vec<String> = labels.iter().flat_map(|l| l["audit_ids"].as_array().unwrap().iter().map(|v| format!("'{}'", v.as_str().unwrap()))).collect();
    let sql = format!("SELECT count(DISTINCT audit_id) AS n FROM audit_events WHERE audit_id IN ({})", ids.join(","));
    let found = auditlake().args(["query", "--format", "json", "--config"]).arg(out.join("auditlake.toml")).arg(sql).assert().success().get_output().stdout.clone();
    assert_eq!(json_lines(&found)[0]["n"].as_u64().unwrap() as usize, ids.len());
    // Same seed, same data.
    let again = dir.path().join("again");
    auditlake().args(["generate", "--events", "4000", "--seed", "7", "--hours", "2", "--out"]).arg(&again).assert().success();
    assert_eq!(std::fs::read_to_string(out.join("labels.jsonl")).unwrap(), std::fs::read_to_string(again.join("labels.jsonl")).unwrap());
}

#[test]
fn bench_measures_every_phase_over_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let bench = |shape: &str| {
        let out = auditlake().args(["bench", "--events", "3000", "--hours", "2", "--naive", "--json", "--shapes", shape, "--dir"]).arg(dir.path()).assert().success().get_output().stdout.clone();
        json_lines(&out)
    };
    // The typed shape keeps bodies as JSON text: (a) parses them, decoding alone is reported too.
    let typed = bench("k8s_audit");
    let phases: Vec<&str> = typed.iter().map(|m| m["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["bare_scan", "decode_only", "full_pack", "plan_pack", "one_query_per_rule"]);
    let events = typed[0]["events"].as_i64().unwrap();
    assert!(events >= 3000, "{typed:?}");
    assert_eq!(typed[0]["events"], typed[1]["events"], "both bare scans count the same events");
    // The pack and one query per rule find the same hits, and some.
    assert!(typed[2]["hits"].as_u64().unwrap() > 0 && typed[2]["hits"] == typed[4]["hits"], "{typed:?}");
    assert_eq!(typed[2]["rules"], typed[4]["rules"]);
    // Planning the pack alone is measured too, reading no data.
    assert_eq!(typed[3]["rules"], typed[2]["rules"]);
    assert!(typed[3]["seconds"].as_f64().unwrap() > 0.0 && typed[3]["objects_opened"] == 0, "{typed:?}");
    // A JSON-text shape parses the bodies while decoding: no separate decode-only phase.
    let eks = bench("eks_cloudwatch");
    let phases: Vec<&str> = eks.iter().map(|m| m["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["bare_scan", "full_pack", "plan_pack", "one_query_per_rule"]);
    assert!(eks[1]["hits"].as_u64().unwrap() > 0 && eks[1]["hits"] == eks[3]["hits"], "{eks:?}");
}

#[test]
fn scheduler_usage_errors_exit_2_and_the_example_config_is_valid() {
    let out = tempfile::tempdir().unwrap();
    let out = out.path().to_str().unwrap();
    // A window needs both ends; an unknown DUET id and a bad time are usage errors, not retryable.
    auditlake().args(["run", "--output-location", out, "--start", "2026-11-01"]).assert().code(2);
    auditlake().args(["run", "--output-location", out, "--start", "yesterday-ish", "--end", "now"]).assert().code(2);
    auditlake().args(["duet", "answer", "nope", "--expected", "--by", "x", "--output-location", out]).assert().code(2);
    // Reading outputs that do not exist yet is not an error.
    auditlake().args(["duet", "list", "--output-location", out]).assert().success().stdout(predicate::str::contains("0 rows"));
    auditlake().args(["runs", "--output-location", out]).assert().success().stdout(predicate::str::contains("no runs yet"));
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/prod.toml");
    auditlake::Config::from_file(&example).unwrap();
}

/// A landing with one EKS object and its config.
fn eks_landing() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("eks/a.parquet"), &string_batch(vec![("logStream", vec![Some("kube-apiserver-audit-1".into())]), ("message", vec![Some("{}".into())])]));
    let config = write_config(dir.path(), &[src("eks", "eks_cloudwatch", "eks")]);
    (dir, config)
}

/// `auditlake run` over `config` into `out`.
fn run_into(config: &std::path::Path, out: &std::path::Path) -> assert_cmd::assert::Assert {
    auditlake().args(["run", "--config"]).arg(config).arg("--output-location").arg(out).assert()
}

#[test]
fn regression_unwritable_output_location_exits_2_not_retryable() {
    let (dir, config) = eks_landing();
    // A file where the output directory should be, and a file where one of its parents should be.
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "x").unwrap();
    for out in [file.clone(), file.join("out")] {
        run_into(&config, &out).code(2).stderr(predicate::str::contains("cannot be written").and(predicate::str::contains("not retryable")));
    }
}

#[test]
fn regression_empty_output_location_is_a_usage_error() {
    auditlake().args(["run", "--output-location", ""]).assert().code(2).stderr(predicate::str::contains("--output-location is empty"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("auditlake.toml");
    std::fs::write(&config, "[output]\nlocation = \"\"\n").unwrap();
    auditlake().args(["run", "--config"]).arg(&config).assert().code(2).stderr(predicate::str::contains("output.location is empty"));
}

#[test]
fn regression_output_location_inside_a_source_is_a_config_error_naming_both() {
    let (dir, config) = eks_landing();
    let source = dir.path().join("eks");
    for (out, relation) in [(source.join("out"), "is inside"), (source.clone(), "is the same as"), (dir.path().to_path_buf(), "contains")] {
        let named = predicate::str::contains(relation).and(predicate::str::contains("source 'eks'")).and(predicate::str::contains(out.to_str().unwrap()));
        run_into(&config, &out).code(2).stderr(named);
    }
    // Nothing was written into the landing.
    assert!(!source.join("out").exists() && !source.join("runs").exists());
}

#[tokio::test]
async fn regression_runs_table_from_before_the_skipped_columns_still_takes_appends() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("eks/a.parquet"), &string_batch(vec![("logStream", vec![Some("authenticator-0a1b2c3d".into())]), ("message", vec![Some("x".into())])]));
    let config = write_config(dir.path(), &[src("eks", "eks_cloudwatch", "eks")]);
    let out = dir.path().join("out");
    // A `runs` table as an earlier version wrote it: without `rows_skipped` and `skipped`.
    let current = auditlake::sinks::runs::schema();
    let old = std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(current.fields().iter().filter(|f| !f.name().contains("skipped")).cloned().collect::<Vec<_>>()));
    assert_eq!(old.fields().len() + 2, current.fields().len());
    let url = url::Url::from_directory_path(out.join("runs")).unwrap();
    let runs = auditlake::sinks::DeltaOutput::new("runs", url, Default::default(), old.clone(), &["date"]);
    let earlier = auditlake::sinks::RunRecord { run_id: "earlier".into(), date: "2026-11-01".into(), status: auditlake::sinks::runs::RunStatus::Ok, mode: auditlake::sinks::runs::RunMode::Continue, hits: "{}".into(), version: "0.0.9".into(), ..Default::default() };
    let table = runs.load().await.unwrap();
    runs.append(table, auditlake::sinks::delta::records_to_batch(&old, &[earlier]).unwrap()).await.unwrap();

    run_into(&config, &out).success();
    let rows = query_rows(&["--config", config.to_str().unwrap(), "--output-location", out.to_str().unwrap(), "SELECT run_id, rows_skipped, skipped FROM runs ORDER BY started_at"]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0], serde_json::json!({"run_id": "earlier"}));
    assert_eq!((rows[1]["rows_skipped"].as_i64(), rows[1]["skipped"].as_str()), (Some(1), Some(r#"{"authenticator":1}"#)));
    auditlake().args(["runs", "--format", "json", "--output-location"]).arg(&out).arg("--config").arg(&config).assert().success();
}
