//! A month in production, simulated with an injected clock: scheduled runs over landings that
//! arrive on time, hours late into old partitions, days late (found by a sweep), twice,
//! overwritten, and half-uploaded then completed; runs killed at random points; overlapping
//! runs; DUET items answered, answered concurrently, and left to expire; a rule that starts
//! failing and is fixed. Invariants are checked after every tick, and at the end the outputs
//! must equal one clean run over everything that landed.
//!
//! The clock ticks every five minutes around each landing, answer and fault, and every six hours
//! in between: the quiet ticks of a real month would each find nothing new, and running all 8,640
//! of them would take hours in CI without exercising anything the quiet ticks here do not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auditlake::Config;
use auditlake::generate::{GenerateOptions, generate};
use auditlake::rules::RulePack;
use auditlake::run::answer::{Answer, answer};
use auditlake::run::{RunOptions, run};
use auditlake::sinks::OutputTables;
use auditlake::sinks::runs::RunStatus;
use auditlake::sinks::delta::records_from_batches;
use auditlake::sources::SourceFormat;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::scheduled::HOUR;
use crate::util::write_parquet;

const MINUTE: i64 = 60_000_000;
const DAY: i64 = 24 * HOUR;
/// 2026-10-01T00:00:00Z: the simulated month.
const MONTH_START: i64 = 1_790_812_800_000_000;

/// How an object reaches the landing location.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Delivery {
    OnTime,
    /// Hours after its partition closed (within `run.late_reach`).
    HoursLate,
    /// Days after (only a sweep lists a partition that old).
    DaysLate,
    /// Delivered again under a second name two hours later.
    Twice,
    /// First written with half of its records, overwritten with all of them later.
    Overwritten,
    /// Seen while uploading (zero bytes), completed later.
    HalfUploaded,
}

/// One write into the landing location at a simulated time.
struct Write {
    at: i64,
    rel: String,
    bytes: Vec<u8>,
}

/// Generated objects (eks_cloudwatch, Firehose layout) of three busy stretches of the month,
/// each with a delivery, scheduled as writes.
fn plan_writes(staging: &Path, rng: &mut SmallRng) -> Vec<Write> {
    let mut writes = Vec::new();
    for (i, day) in [1i64, 9, 19].into_iter().enumerate() {
        let dir = staging.join(format!("stretch-{i}"));
        let opts = GenerateOptions {
            out: dir.clone(),
            events: 900,
            seed: 100 + i as u64,
            hours: 4,
            start_micros: MONTH_START + day * DAY + 8 * HOUR,
            formats: vec![SourceFormat::EksCloudwatch],
            ..GenerateOptions::default()
        };
        generate(&opts).unwrap();
        let root = dir.join("eks_cloudwatch");
        for path in crate::util::parquet_files(&root) {
            let rel = path.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
            let hour = partition_time(&rel);
            let bytes = std::fs::read(&path).unwrap();
            let delivery = [Delivery::OnTime, Delivery::HoursLate, Delivery::DaysLate, Delivery::Twice, Delivery::Overwritten, Delivery::HalfUploaded][rng.random_range(0..6)];
            let on_time = hour + HOUR + rng.random_range(1..10) * MINUTE;
            match delivery {
                Delivery::OnTime => writes.push(Write { at: on_time, rel, bytes }),
                Delivery::HoursLate => writes.push(Write { at: hour + 5 * HOUR, rel, bytes }),
                Delivery::DaysLate => writes.push(Write { at: hour + 3 * DAY, rel, bytes }),
                Delivery::Twice => {
                    writes.push(Write { at: on_time + 2 * HOUR, rel: rel.replace(".parquet", "-redelivered.parquet"), bytes: bytes.clone() });
                    writes.push(Write { at: on_time, rel, bytes });
                }
                Delivery::Overwritten => {
                    writes.push(Write { at: on_time, rel: rel.clone(), bytes: first_half(&bytes) });
                    writes.push(Write { at: on_time + 30 * MINUTE, rel, bytes });
                }
                Delivery::HalfUploaded => {
                    writes.push(Write { at: on_time, rel: rel.clone(), bytes: Vec::new() });
                    writes.push(Write { at: on_time + 20 * MINUTE, rel, bytes });
                }
            }
        }
    }
    writes.sort_by_key(|w| w.at);
    writes
}

/// The start of the Firehose hour partition `YYYY/MM/DD/HH/...`.
fn partition_time(rel: &str) -> i64 {
    let p: Vec<&str> = rel.split('/').collect();
    auditlake::normalize::time::parse_timestamp_micros(&format!("{}-{}-{}T{}:00:00Z", p[0], p[1], p[2], p[3])).unwrap()
}

/// A Parquet object with the first half of `bytes`' rows.
fn first_half(bytes: &[u8]) -> Vec<u8> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes)).unwrap().build().unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let all = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let tmp = tempfile::NamedTempFile::new().unwrap();
    write_parquet(tmp.path(), &all.slice(0, all.num_rows() / 2));
    std::fs::read(tmp.path()).unwrap()
}

fn land(lake: &Path, w: &Write) {
    let path = lake.join("eks_cloudwatch").join(&w.rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &w.bytes).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(UNIX_EPOCH + Duration::from_micros(w.at as u64)).unwrap();
}

fn config(lake: &Path, out: &Path) -> Config {
    let text = format!(
        "[scan]\nlateness = \"6h\"\n\n[[source]]\nname = \"eks\"\nformat = \"eks_cloudwatch\"\nlocation = \"eks_cloudwatch\"\nlayout = \"firehose\"\nregion = \"us-east-1\"\n\n[run]\ninitial_lookback = \"all\"\n\n[output]\nlocation = \"{}\"\n\n[duet]\ndue_in = \"72h\"\n",
        out.display()
    );
    Config::from_toml(&text, lake).unwrap()
}

/// The bundled pack plus `probe` (an anonymous pod write, like `anonymous_pod_write`) with `sql`.
fn pack(sql: &str) -> RulePack {
    let mut pack = RulePack::bundled().unwrap();
    let mut probe = pack.rules.iter().find(|r| r.meta.id == "anonymous_pod_write").unwrap().clone();
    probe.meta.id = "probe".into();
    probe.sql = sql.into();
    pack.rules.push(probe);
    pack
}

/// What a deployment's outputs hold, for comparing against a clean run and between ticks.
#[derive(Debug, Default, PartialEq)]
struct State {
    /// Detection alerts: id → (event count, audit ids).
    alerts: BTreeMap<String, (i64, Vec<String>)>,
    /// DUET items: id → (status, answered_by, answered_at, due_by).
    duet: BTreeMap<String, (String, Option<String>, Option<i64>, i64)>,
    escalations: BTreeSet<String>,
}

async fn query(outputs: &OutputTables, table: &str, sql: &str) -> Vec<Value> {
    let table = outputs.by_name(table).unwrap();
    records_from_batches(&table.query(sql).await.unwrap()).unwrap()
}

async fn state(outputs: &OutputTables) -> State {
    let mut s = State::default();
    for r in query(outputs, "alerts", "SELECT alert_id, alert_type, event_count, audit_ids, duet_id FROM t").await {
        let id = r["alert_id"].as_str().unwrap().to_owned();
        if r["alert_type"] == "escalation" {
            assert!(s.escalations.insert(r["duet_id"].as_str().unwrap().to_owned()), "one escalation per item");
            continue;
        }
        let ids = r["audit_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        assert!(s.alerts.insert(id.clone(), (r["event_count"].as_i64().unwrap(), ids)).is_none(), "duplicate alert {id}");
    }
    for r in query(outputs, "duet_queue", "SELECT id, status, answered_by, answered_at, due_by FROM t").await {
        let v = (r["status"].as_str().unwrap().to_owned(), r["answered_by"].as_str().map(str::to_owned), r["answered_at"].as_i64(), r["due_by"].as_i64().unwrap());
        assert!(s.duet.insert(r["id"].as_str().unwrap().to_owned(), v).is_none(), "duplicate DUET item");
    }
    s
}

/// Everything the simulation remembers between ticks to check the invariants.
#[derive(Default)]
struct Memory {
    answered: BTreeMap<String, (String, Option<String>, Option<i64>)>,
    expired: BTreeSet<String>,
    /// Whether the customer will ever answer an item.
    decided: BTreeMap<String, bool>,
    /// Completed runs that were `partial`.
    partial_ticks: usize,
    killed: usize,
    concurrent_answers: usize,
}

fn check_tick(now: i64, before: &Memory, after: &State, last_run_ok: bool) {
    for (id, answered) in &before.answered {
        let (status, by, at, _) = &after.duet[id];
        assert_eq!(&(status.clone(), by.clone(), *at), answered, "answered item {id} changed");
    }
    for id in &before.expired {
        assert_eq!(after.duet[id].0, "expired", "expired item {id} changed");
    }
    if last_run_ok {
        for (id, (status, _, _, due_by)) in &after.duet {
            assert!(!(status == "pending" && *due_by < now), "item {id} is past due but pending at {now}");
        }
    }
    for (id, (status, ..)) in &after.duet {
        assert_eq!(after.escalations.contains(id), status == "unexpected", "item {id} is {status}: escalated iff unexpected");
    }
}

#[test]
fn a_month_in_production() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(simulate());
}

async fn simulate() {
    let mut rng = SmallRng::seed_from_u64(2026);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (staging, lake, out) = (dirs[0].path(), dirs[1].path(), dirs[2].path());
    let writes = plan_writes(staging, &mut rng);
    let cfg = config(lake, out);
    let outputs = OutputTables::new(&cfg).unwrap();
    let probe_ok = pack("SELECT * FROM k8s_events WHERE verb = 'create' AND obj_resource = 'pods' AND actor = 'system:anonymous'");
    let probe_broken = pack("SELECT * FROM k8s_events WHERE verb = 'create' AND CAST(user_name AS INT) > 0");
    // The probe rule fails for a day of the second busy stretch, then is fixed.
    let (broken_from, broken_to) = (MONTH_START + 9 * DAY + 9 * HOUR, MONTH_START + 10 * DAY + 9 * HOUR);

    let mut ticks: BTreeSet<i64> = (0..30 * 4).map(|i| MONTH_START + i * 6 * HOUR).collect();
    for w in &writes {
        let base = w.at.div_euclid(5 * MINUTE) * 5 * MINUTE;
        ticks.extend((1..=3).map(|k| base + k * 5 * MINUTE));
    }
    ticks.extend([broken_from, broken_to, broken_to + 5 * MINUTE]);
    let mut memory = Memory::default();
    let mut next_write = 0;
    let mut runs = 0;
    for &now in &ticks {
        while next_write < writes.len() && writes[next_write].at <= now {
            land(lake, &writes[next_write]);
            next_write += 1;
        }
        let rules = if (broken_from..broken_to).contains(&now) { &probe_broken } else { &probe_ok };
        let opts = RunOptions { now: Some(now), ..RunOptions::default() };
        let roll: f64 = rng.random();
        let mut completed = Vec::new();
        let killed = roll < 0.08;
        if killed {
            // Killed at a random point: the process is gone, nothing after the kill happens.
            memory.killed += 1;
            let budget = Duration::from_millis(rng.random_range(20..1_500));
            if let Ok(done) = tokio::time::timeout(budget, run(&cfg, rules, &opts)).await {
                completed.push(done.unwrap());
            }
        } else if roll < 0.14 {
            // Two runs of the same tick at once (a slow run overlapping the next cron tick).
            let (a, b) = tokio::join!(run(&cfg, rules, &opts), run(&cfg, rules, &opts));
            runs += 1;
            completed.extend([a.unwrap(), b.unwrap()]);
        } else {
            completed.push(run(&cfg, rules, &opts).await.unwrap_or_else(|e| panic!("run at {now} failed: {e}")));
        }
        runs += 1;
        for summary in &completed {
            let r = &summary.record;
            if r.status == RunStatus::Partial {
                memory.partial_ticks += 1;
                assert!((broken_from..broken_to).contains(&now), "only the broken rule fails: {r:?}");
                assert!(r.failed_rules.contains("probe"), "{r:?}");
            }
        }
        let result = completed.first();

        // Answers: now and then one, sometimes two at once for the same item.
        let after = state(&outputs).await;
        check_tick(now, &memory, &after, result.is_some());
        // Half of the items are never answered: they are left to expire.
        for id in after.duet.keys() {
            if !memory.decided.contains_key(id) {
                memory.decided.insert(id.clone(), rng.random_bool(0.5));
            }
        }
        let pending: Vec<&String> = after.duet.iter().filter(|(k, v)| v.0 == "pending" && memory.decided[*k]).map(|(k, _)| k).collect();
        if !pending.is_empty() && rng.random_bool(0.3) {
            let id = pending[rng.random_range(0..pending.len())].clone();
            let mk = |expected: bool, by: &str| Answer { id: id.clone(), expected, by: by.into(), note: None, force: false, now };
            if rng.random_bool(0.4) {
                memory.concurrent_answers += 1;
                let (yes, no) = (mk(true, "alice"), mk(false, "bob"));
                let (a, b) = tokio::join!(answer(&outputs, &yes), answer(&outputs, &no));
                assert!(a.is_ok() != b.is_ok(), "exactly one concurrent answer wins: {a:?} / {b:?}");
            } else {
                answer(&outputs, &mk(rng.random_bool(0.5), "carol")).await.unwrap();
            }
        }
        let after = state(&outputs).await;
        for (id, (status, by, at, _)) in &after.duet {
            match status.as_str() {
                "expected" | "unexpected" => {
                    memory.answered.insert(id.clone(), (status.clone(), by.clone(), *at));
                }
                "expired" => {
                    memory.expired.insert(id.clone());
                }
                _ => {}
            }
        }
    }
    assert_eq!(next_write, writes.len());
    // A last, unkilled tick after everything landed.
    let end = *ticks.last().unwrap() + 5 * MINUTE;
    let last = run(&cfg, &probe_ok, &RunOptions { now: Some(end), ..RunOptions::default() }).await.unwrap();
    assert_ne!(last.record.status, RunStatus::Partial);
    let simulated = state(&outputs).await;

    // The run log: every partial run recorded, no uncovered arrivals, every expiry counted once.
    let log = query(&outputs, "runs", "SELECT status, arrival_from, arrival_to, duet_expired, failed_rules FROM t ORDER BY arrival_to").await;
    // A run killed after its `runs` row committed is logged though the caller never saw it finish.
    let logged_partial = log.iter().filter(|r| r["status"] == "partial").count();
    assert!((memory.partial_ticks..=memory.partial_ticks + memory.killed).contains(&logged_partial), "partial runs are logged: {logged_partial} logged, {} seen", memory.partial_ticks);
    let mut covered: Option<i64> = None;
    let mut spans: Vec<(i64, i64)> = log.iter().filter(|r| r["status"] != "failed").map(|r| (r["arrival_from"].as_i64().unwrap_or(i64::MIN), r["arrival_to"].as_i64().unwrap())).collect();
    spans.sort();
    for (from, to) in spans {
        assert!(covered.is_none_or(|c| from <= c), "a gap in coverage before {from}");
        covered = Some(covered.map_or(to, |c| c.max(to)));
    }
    let expired_total: i64 = log.iter().map(|r| r["duet_expired"].as_i64().unwrap_or(0)).sum();
    let expired_now = simulated.duet.values().filter(|v| v.0 == "expired").count() as i64;
    assert_eq!(expired_total, expired_now, "every expired item expired once");
    assert!(memory.partial_ticks > 0 && memory.killed > 0 && memory.concurrent_answers > 0 && expired_now > 0 && !memory.answered.is_empty(), "the month exercised every fault: {} partial, {} killed, {} concurrent answers, {} expired, {} answered", memory.partial_ticks, memory.killed, memory.concurrent_answers, expired_now, memory.answered.len());

    // Every version of every object as it finally landed was evaluated, with no rule left pending.
    let ledger = query(&outputs, "processed_objects", "SELECT object, size, pending_rules, processed_at FROM t").await;
    for path in crate::util::parquet_files(&lake.join("eks_cloudwatch")) {
        let url = format!("file://{}", path.display());
        let size = std::fs::metadata(&path).unwrap().len() as i64;
        let latest = ledger.iter().filter(|r| r["object"] == url.as_str() && r["size"] == size).max_by_key(|r| r["processed_at"].as_i64()).unwrap_or_else(|| panic!("{url} ({size} bytes) was never evaluated"));
        assert!(latest["pending_rules"].as_array().is_none_or(Vec::is_empty), "{url}: {latest}");
    }

    // Equal to one clean run over everything that landed.
    let clean_out = tempfile::tempdir().unwrap();
    let clean_cfg = config(lake, clean_out.path());
    run(&clean_cfg, &probe_ok, &RunOptions { now: Some(end), ..RunOptions::default() }).await.unwrap();
    let clean = state(&OutputTables::new(&clean_cfg).unwrap()).await;
    assert_eq!(simulated.alerts, clean.alerts, "alerts equal a single clean run");
    assert_eq!(simulated.duet.keys().collect::<Vec<_>>(), clean.duet.keys().collect::<Vec<_>>(), "DUET items equal a single clean run");
    assert!(simulated.alerts.keys().any(|k| !k.is_empty()) && runs > 100, "{runs} runs");
    eprintln!(
        "month: {runs} runs over {} ticks, {} writes, {} killed, {} partial, {} answered ({} concurrently), {} expired, {} alerts, {} DUET items",
        ticks.len(),
        writes.len(),
        memory.killed,
        memory.partial_ticks,
        memory.answered.len(),
        memory.concurrent_answers,
        expired_now,
        simulated.alerts.len(),
        simulated.duet.len()
    );
    let _ = (PathBuf::new(), SystemTime::now());
}
