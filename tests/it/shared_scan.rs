//! The rule pack runs over one shared scan: every landed object is opened once however many rules
//! there are, and every rule returns exactly what it returns as a query of its own.

use std::collections::BTreeMap;

use auditlake::generate::{GenerateOptions, generate};
use auditlake::rules::fixtures::hit_ids;
use auditlake::rules::{Rule, default_rules_dir, load_rules};
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
