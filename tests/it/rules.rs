//! The rule pack: every rule validates and passes its own fixtures (what `auditlake rules validate`
//! and `rules test` check), through the library and through the CLI.

use assert_cmd::Command;
use auditlake::rules::Allowlists;
use auditlake::engine::check::{plan_rule, test_rule};
use auditlake::rules::fixtures::{Expect, fixture_path};
use auditlake::rules::{RuleKind, default_rules_dir, load_rules, pack_problems};
use serde_json::Value;

#[tokio::test]
async fn every_rule_is_valid_and_passes_its_fixtures() {
    let dir = default_rules_dir().unwrap();
    let rules = load_rules(&dir).unwrap();
    let allowlists = Allowlists::for_rules_dir(&dir).unwrap();
    let mut problems: Vec<String> = pack_problems(&rules).into_iter().flat_map(|(id, ps)| ps.into_iter().map(move |p| format!("{id}: {p}"))).collect();
    for rule in &rules {
        if let Err(e) = plan_rule(rule, &allowlists).await {
            problems.push(e.to_string());
            continue;
        }
        assert!(fixture_path(rule).is_file(), "{} has no fixtures", rule.meta.id);
        let cases = test_rule(rule, &allowlists).await.unwrap();
        assert!(cases.iter().any(|c| c.expect == Expect::Hit) && cases.iter().any(|c| c.expect == Expect::Miss), "{} needs hit and miss fixtures", rule.meta.id);
        for c in cases.iter().filter(|c| !c.passed) {
            problems.push(format!("{}: {:?} case '{}' returned {:?}", rule.meta.id, c.expect, c.name, c.hits));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn rules_cli_lists_validates_and_tests() {
    let out = Command::cargo_bin("auditlake").unwrap().args(["rules", "list", "--format", "json"]).assert().success().get_output().stdout.clone();
    let rules: Vec<Value> = String::from_utf8_lossy(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rules.len() >= 50, "the pack has {} rules", rules.len());
    assert!(rules.iter().all(|r| r["attack"].as_array().is_some_and(|a| !a.is_empty())));
    let kinds: Vec<RuleKind> = rules.iter().map(|r| serde_json::from_value(r["kind"].clone()).unwrap()).collect();
    assert!(kinds.contains(&RuleKind::Alert) && kinds.contains(&RuleKind::Duet));
    Command::cargo_bin("auditlake").unwrap().args(["rules", "validate"]).assert().success();
    Command::cargo_bin("auditlake").unwrap().args(["rules", "test"]).assert().success().stdout(predicates::str::contains(" 0 failed"));
}

#[test]
fn a_failing_fixture_fails_rules_test() {
    let dir = tempfile::tempdir().unwrap();
    let tactic = dir.path().join("execution");
    std::fs::create_dir_all(&tactic).unwrap();
    let src = default_rules_dir().unwrap().join("execution");
    std::fs::copy(src.join("exec_reverse_shell.sql"), tactic.join("exec_reverse_shell.sql")).unwrap();
    // A "miss" case that is in fact a reverse shell.
    let fixtures = std::fs::read_to_string(src.join("exec_reverse_shell.fixtures.jsonl")).unwrap();
    let flipped = fixtures.replacen("\"expect\": \"hit\"", "\"expect\": \"miss\"", 1);
    std::fs::write(tactic.join("exec_reverse_shell.fixtures.jsonl"), flipped).unwrap();
    Command::cargo_bin("auditlake").unwrap().args(["rules", "test", "--rules"]).arg(dir.path()).assert().code(1).stdout(predicates::str::contains("FAILED exec_reverse_shell"));
}
