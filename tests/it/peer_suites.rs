//! The peers' own test expectations, run against our pack: Falco's k8s-audit trace files and
//! Panther's EKS/AKS rule fixtures (../shared/reference/samples). Each peer rule is mapped to the
//! rule(s) of ours that cover it; each fixture event runs alone through those rules and must fire
//! (or stay silent) as the peer expects. Prints the score and every exclusion with its reason.

use std::collections::BTreeMap;
use std::path::Path;

use auditlake::engine::Allowlists;
use auditlake::rules::fixtures::{events_batch, hit_ids, session_over};
use auditlake::rules::{Rule, default_rules_dir, load_rules};
use serde_json::Value;

use crate::util::{read_jsonl, reference_dir};

/// Peer rule → our rule ids (fires if any of them fires) and, for the peer's threshold rules, how
/// many copies of the event stand for the peer's threshold.
struct Mapping {
    peer: &'static str,
    ours: &'static [&'static str],
    copies: usize,
}

const fn m(peer: &'static str, ours: &'static [&'static str]) -> Mapping {
    Mapping { peer, ours, copies: 1 }
}

const MAPPINGS: &[Mapping] = &[
    // Filled in below as the pack grows; see PEER_EXCLUSIONS for peer rules with no counterpart.
];

/// Peer rules we deliberately do not map, and why.
const PEER_EXCLUSIONS: &[(&str, &str)] = &[];

/// Falco override files → allow-list changes that reproduce them.
fn falco_overrides(files: &[String], base: &Allowlists) -> Option<Allowlists> {
    let mut a = base.clone();
    for f in files {
        match f.as_str() {
            "falco_rules.yaml" | "k8s_audit_rules.yaml" | "engine_v4_k8s_audit_rules.yaml" | "disallow_kactivity.yaml" => {}
            "trust_nginx_container.yaml" => {
                a.0.entry("privileged_images".into()).or_default().extend(["nginx".to_owned(), "nginx:%".to_owned()]);
            }
            "allow_only_apache_container.yaml" | "engine_v4/allow_only_apache_container.yaml" => {
                a.0.insert("approved_images".into(), vec!["apache".into(), "apache:%".into()]);
            }
            "allow_nginx_container.yaml" | "engine_v4/allow_nginx_container.yaml" => {
                a.0.insert("approved_images".into(), vec!["nginx".into(), "nginx:%".into()]);
            }
            _ => return None,
        }
    }
    Some(a)
}

/// One peer expectation for one event.
struct Case {
    source: String,
    line: usize,
    peer: String,
    fires: bool,
    event: Value,
    allowlists: Allowlists,
}

fn cases(dir: &Path, base: &Allowlists, excluded: &mut Vec<(String, String)>) -> Vec<Case> {
    let mut out = Vec::new();
    // Falco: detect_counts name the rules that fire; detect=false means none of the mapped ones may.
    let events = read_jsonl(&dir.join("falco_k8saudit_trace_files.jsonl"));
    for (i, exp) in read_jsonl(&dir.join("falco_k8saudit_trace_files.expectations.jsonl")).iter().enumerate() {
        for t in exp["expectations"].as_array().unwrap() {
            let files: Vec<String> = t["rules_files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_owned()).collect();
            let test = t["test"].as_str().unwrap();
            let Some(allowlists) = falco_overrides(&files, base) else {
                excluded.push((format!("falco:{} {test}", i + 1), format!("override files {files:?} change Falco-only rules")));
                continue;
            };
            let fired: Vec<String> = t["detect_counts"].as_array().map(|d| d.iter().flat_map(|c| c.as_object().unwrap().keys().cloned()).collect()).unwrap_or_default();
            if t["detect"].as_bool() == Some(true) {
                for peer in fired {
                    out.push(Case { source: "falco".into(), line: i + 1, peer, fires: true, event: events[i].clone(), allowlists: allowlists.clone() });
                }
            } else {
                for mapping in MAPPINGS.iter().filter(|m| !m.peer.contains('.')) {
                    out.push(Case { source: "falco".into(), line: i + 1, peer: mapping.peer.into(), fires: false, event: events[i].clone(), allowlists: allowlists.clone() });
                }
            }
        }
    }
    // Panther: one expected_result per rule test; AKS events are inside properties.log.
    for (file, label) in [("panther_eks_audit", "panther-eks"), ("panther_aks_monitoractivity", "panther-aks")] {
        let events = read_jsonl(&dir.join(format!("{file}.jsonl")));
        for (i, exp) in read_jsonl(&dir.join(format!("{file}.expectations.jsonl"))).iter().enumerate() {
            let raw = &events[i];
            let event = match raw.pointer("/properties/log") {
                Some(Value::String(s)) => serde_json::from_str(s).unwrap(),
                Some(other) => other.clone(),
                None if raw.get("category").is_some() => {
                    excluded.push((format!("{label}:{}", i + 1), "Azure Activity (ARM) record, not a Kubernetes audit event".into()));
                    continue;
                }
                None => raw.clone(),
            };
            for t in exp["expectations"].as_array().unwrap() {
                out.push(Case {
                    source: label.into(),
                    line: i + 1,
                    peer: t["rule_id"].as_str().unwrap().into(),
                    fires: t["expected_result"].as_bool().unwrap(),
                    event: event.clone(),
                    allowlists: base.clone(),
                });
            }
        }
    }
    out
}

async fn fires(rules: &BTreeMap<&str, &Rule>, ours: &[&str], event: &Value, copies: usize, allowlists: &Allowlists) -> bool {
    let mut texts = Vec::new();
    for c in 0..copies {
        let mut e = event.clone();
        let id = e.get("auditID").and_then(Value::as_str).unwrap_or("peer").to_owned();
        e["auditID"] = Value::String(format!("{id}-{c}"));
        texts.push(e.to_string());
    }
    let ctx = session_over(events_batch(&texts).unwrap(), allowlists).await.unwrap();
    for id in ours {
        let rule = rules.get(id).unwrap_or_else(|| panic!("mapping names unknown rule {id}"));
        let batches = ctx.sql(&rule.sql).await.unwrap().collect().await.unwrap();
        if !hit_ids(&batches).is_empty() {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn peer_expectations_are_met() {
    let rules_dir = default_rules_dir().unwrap();
    let pack = load_rules(&rules_dir).unwrap();
    let rules: BTreeMap<&str, &Rule> = pack.iter().map(|r| (r.meta.id.as_str(), r)).collect();
    let base = Allowlists::for_rules_dir(&rules_dir).unwrap();
    let mut excluded = Vec::new();
    let all = cases(&reference_dir().join("samples"), &base, &mut excluded);
    let (mut met, mut failed) = (0, Vec::new());
    for case in &all {
        let Some(mapping) = MAPPINGS.iter().find(|m| m.peer == case.peer) else {
            let why = PEER_EXCLUSIONS.iter().find(|(p, _)| *p == case.peer).map(|(_, w)| *w).unwrap_or("UNMAPPED");
            excluded.push((format!("{}:{} {}", case.source, case.line, case.peer), why.into()));
            continue;
        };
        let got = fires(&rules, mapping.ours, &case.event, mapping.copies, &case.allowlists).await;
        if got == case.fires {
            met += 1;
        } else {
            failed.push(format!("{}:{} {} expected {} but {:?} {}", case.source, case.line, case.peer, if case.fires { "a hit" } else { "silence" }, mapping.ours, if got { "fired" } else { "stayed silent" }));
        }
    }
    println!("peer expectations met: {met}/{} applicable", met + failed.len());
    println!("left out ({}):", excluded.len());
    for (what, why) in &excluded {
        println!("  {what}: {why}");
    }
    assert!(excluded.iter().all(|(_, why)| why != "UNMAPPED"), "every peer rule is mapped or excluded with a reason");
    assert!(failed.is_empty(), "{} peer expectation(s) not met:\n  {}", failed.len(), failed.join("\n  "));
}
