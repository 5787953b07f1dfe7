//! The pack over generated clusters: every labeled attack scenario is caught by a rule implementing
//! its catalogue id, and no alert-kind rule fires on the benign background (kubelets, controllers,
//! probes, privileged-by-design DaemonSets, EKS/AKS managed identities).

use std::collections::{BTreeMap, BTreeSet};

use auditlake::engine::detect::run_rules;
use auditlake::generate::{GenerateOptions, generate};
use auditlake::rules::{RuleKind, default_rules_dir, load_rules};
use auditlake::{AuditLake, Config, TimeWindow};

#[tokio::test]
async fn scenarios_are_caught_and_benign_traffic_raises_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenerateOptions { out: dir.path().to_path_buf(), events: 40_000, seed: 11, hours: 3, ..GenerateOptions::default() };
    let summary = generate(&opts).unwrap();
    let config = Config::from_toml(auditlake::config::EMBEDDED_DEFAULT, dir.path()).unwrap();
    let lake = AuditLake::open(&config, TimeWindow::default()).await.unwrap();
    let rules = load_rules(&default_rules_dir().unwrap()).unwrap();
    let results = run_rules(&lake, &rules).await;
    let mut hits: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (id, r) in results {
        hits.insert(id.clone(), r.unwrap_or_else(|e| panic!("rule {id} failed: {e}")).audit_ids());
    }

    let scenario_ids: BTreeSet<String> = summary.scenarios.iter().flat_map(|s| s.audit_ids.iter().cloned()).collect();
    let mut missed = Vec::new();
    for s in &summary.scenarios {
        let ids: BTreeSet<String> = s.audit_ids.iter().cloned().collect();
        let catching: Vec<&str> = rules
            .iter()
            .filter(|r| r.meta.catalog.iter().any(|c| s.detections.contains(c)))
            .filter(|r| !hits[&r.meta.id].is_disjoint(&ids))
            .map(|r| r.meta.id.as_str())
            .collect();
        println!("{:<40} {:<16} {:<14} caught by {:?}", s.scenario, s.format, s.detections.join(","), catching);
        if catching.is_empty() {
            missed.push(format!("{} in {} ({}) expected {:?}", s.scenario, s.cluster, s.format, s.detections));
        }
    }

    println!("\nhits per rule on benign traffic (scenario evidence excluded):");
    let mut false_alerts = Vec::new();
    for r in &rules {
        let benign: Vec<&String> = hits[&r.meta.id].iter().filter(|id| !scenario_ids.contains(*id)).collect();
        if !benign.is_empty() {
            println!("  {:<44} {:?} {}", r.meta.id, r.meta.kind, benign.len());
            if r.meta.kind == RuleKind::Alert {
                false_alerts.push(format!("{}: {} benign events, e.g. {:?}", r.meta.id, benign.len(), benign.iter().take(3).collect::<Vec<_>>()));
            }
        }
    }
    assert!(missed.is_empty(), "scenarios not caught:\n  {}", missed.join("\n  "));
    assert!(false_alerts.is_empty(), "alert rules fired on benign traffic:\n  {}", false_alerts.join("\n  "));
}
