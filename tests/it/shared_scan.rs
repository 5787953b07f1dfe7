//! The rule pack runs over one shared scan: every landed object is opened once however many rules
//! there are, and every rule returns exactly what it returns as a query of its own.

use std::collections::BTreeMap;

use auditlake::generate::{GenerateOptions, generate};
use auditlake::rules::fixtures::hit_ids;
use auditlake::rules::{Rule, default_rules_dir, load_rules};
use auditlake::engine::ObjectScope;
use auditlake::{AuditLake, Config, TimeWindow};

#[tokio::test]
async fn the_pack_reads_each_object_once_and_matches_one_query_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    generate(&GenerateOptions { out: dir.path().to_path_buf(), events: 2_000, seed: 5, hours: 2, ..GenerateOptions::default() }).unwrap();
    let config = Config::from_toml(auditlake::config::EMBEDDED_DEFAULT, dir.path()).unwrap();
    let rules = load_rules(&default_rules_dir().unwrap()).unwrap();
    let refs: Vec<&Rule> = rules.iter().collect();

    let shared = AuditLake::open(&config, TimeWindow::default()).await.unwrap();
    let results = shared.run_shared(&refs).await.unwrap();
    let totals = shared.report().totals();
    let listed = totals.objects_listed;
    assert!(listed > 8, "{totals:?}");
    // The guard: one scan for the whole pack, not one per rule.
    assert_eq!(totals.objects_opened, listed, "every object opened exactly once for {} rules: {totals:?}", rules.len());

    let separate = AuditLake::open(&config, TimeWindow::default()).await.unwrap();
    let mut expected = BTreeMap::new();
    for rule in &rules {
        let batches = separate.sql(&rule.sql).await.unwrap().collect().await.unwrap();
        expected.insert(rule.meta.id.clone(), (batches.iter().map(|b| b.num_rows()).sum::<usize>(), hit_ids(&batches)));
    }
    assert!(separate.report().totals().objects_opened >= listed * rules.len() as u64, "the naive plan scans once per rule (or more)");
    let got: BTreeMap<String, _> = results.into_iter().map(|(id, b)| (id, (b.iter().map(|b| b.num_rows()).sum::<usize>(), hit_ids(&b)))).collect();
    assert_eq!(got.len(), rules.len());
    assert_eq!(got, expected);
    assert!(got.values().filter(|(n, _)| *n > 0).count() > 15, "the generated scenarios fire many rules");
}

#[tokio::test]
async fn evaluating_in_chunks_changes_no_result() {
    let dir = tempfile::tempdir().unwrap();
    generate(&GenerateOptions { out: dir.path().to_path_buf(), events: 3_000, seed: 11, hours: 7, ..GenerateOptions::default() }).unwrap();
    let mut config = Config::from_toml(auditlake::config::EMBEDDED_DEFAULT, dir.path()).unwrap();
    // The generator delivers a few records up to 90 minutes late: inside this margin.
    config.scan.lateness = "2h".into();
    let rules = load_rules(&default_rules_dir().unwrap()).unwrap();
    let refs: Vec<&Rule> = rules.iter().collect();
    let per_rule = |pack: auditlake::engine::pack::PackResults| -> BTreeMap<String, (usize, _)> {
        pack.results.into_iter().map(|(id, b)| (id, (b.iter().map(|b| b.num_rows()).sum::<usize>(), hit_ids(&b)))).collect()
    };

    config.scan.chunk = "0".into();
    let whole = AuditLake::open(&config, TimeWindow::default()).await.unwrap();
    let one_pass = whole.run_pack(&refs, TimeWindow::default(), ObjectScope::Listing).await.unwrap();
    assert_eq!(one_pass.chunks, 1);
    let opened_once = whole.report().totals().objects_opened;

    config.scan.chunk = "1h".into();
    let chunked = AuditLake::open(&config, TimeWindow::default()).await.unwrap();
    let in_chunks = chunked.run_pack(&refs, TimeWindow::default(), ObjectScope::Listing).await.unwrap();
    assert!(in_chunks.chunks >= 6, "7 hours in 1-hour chunks: {}", in_chunks.chunks);
    // Partitions near a boundary are read by both chunks.
    let opened = chunked.report().totals().objects_opened;
    assert!(opened > opened_once, "{opened} objects opened in chunks, {opened_once} in one pass");

    let (expected, got) = (per_rule(one_pass), per_rule(in_chunks));
    assert!(expected.values().filter(|(n, _)| *n > 0).count() > 15, "the generated scenarios fire many rules");
    assert_eq!(got, expected);
}

#[tokio::test]
async fn only_the_footer_and_needed_column_chunks_are_fetched() {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::record_batch::RecordBatch;
    use std::sync::Arc;

    // CloudWatch rows with a large column the adapter never reads (as Firehose record metadata can be).
    let dir = tempfile::tempdir().unwrap();
    let n = 2_000;
    let event = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"ID","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{"username":"alice"},"sourceIPs":["10.0.0.1"],"stageTimestamp":"2026-11-01T10:00:00Z"}"#;
    let col = |v: Vec<String>| Arc::new(StringArray::from(v)) as ArrayRef;
    let batch = RecordBatch::try_from_iter(vec![
        ("logGroup", col(vec!["/aws/eks/prod/cluster".to_owned(); n])),
        ("logStream", col(vec!["kube-apiserver-audit-0123456789abcdef".to_owned(); n])),
        ("message", col((0..n).map(|i| event.replace("ID", &format!("id-{i}"))).collect())),
        ("unused_blob", col((0..n).map(|i| format!("{i:x}").repeat(400)).collect())),
    ])
    .unwrap();
    let path = dir.path().join("eks/2026/11/01/10/part.parquet");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let config = Config::from_toml("[[source]]\nname = \"eks\"\nformat = \"eks_cloudwatch\"\nlocation = \"eks\"\nlayout = \"firehose\"\n", dir.path()).unwrap();
    let lake = AuditLake::open(&config, TimeWindow::default()).await.unwrap();
    let rows = lake.sql("SELECT count(*) FROM audit_events").await.unwrap().collect().await.unwrap();
    assert_eq!(rows[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap().value(0), n as i64);
    let t = lake.report().totals();
    assert!(t.bytes_fetched > 0 && t.bytes_fetched * 4 < t.bytes_read, "fetched {} of {} bytes: the unused column must not be read", t.bytes_fetched, t.bytes_read);
}
