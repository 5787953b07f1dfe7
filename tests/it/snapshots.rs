//! What the CLI prints, as snapshots (insta, files in `tests/it/snapshots/`): `rules list`, `run`
//! over the bundled sample data, then `duet list` and `runs`. Run ids, clock times, durations and
//! the output path are masked; everything else must stay as it is, or the change is reviewed
//! (`cargo insta review`, or `INSTA_UPDATE=always` and a look at the diff).

use std::path::Path;

use assert_cmd::Command;

/// `auditlake ARGS` over the bundled sample data, writing to `out` when given.
fn auditlake(args: &[&str], out: Option<&Path>) -> Command {
    let mut cmd = Command::cargo_bin("auditlake").unwrap();
    cmd.env_remove("AUDITLAKE_CONFIG").env_remove("AUDITLAKE_OUTPUT").env_remove("AUDITLAKE_LOG").env("NO_COLOR", "1");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
    if let Some(out) = out {
        cmd.env("AUDITLAKE_OUTPUT", out);
    }
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().get_output().stdout.clone()).unwrap()
}

/// Masks what changes from run to run (ids, clock, durations, paths), not what the run found.
fn masks(out: &Path) -> Vec<(String, &'static str)> {
    vec![
        (regex_escape(&out.to_string_lossy()), "[output]"),
        (r"\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{8}".into(), "[run-id]"),
        (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?Z?".into(), "[time]"),
        (r"\d+ ms".into(), "[n] ms"),
    ]
}

fn regex_escape(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '/' || c == '_' { c.to_string() } else { format!("\\{c}") }).collect()
}

#[test]
fn cli_output_snapshots() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    let filters = masks(o);
    let filters: Vec<(&str, &str)> = filters.iter().map(|(r, w)| (r.as_str(), *w)).collect();
    insta::with_settings!({ filters => filters.clone(), prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("rules_list", stdout(&mut auditlake(&["rules", "list"], None)));
        insta::assert_snapshot!("run_sample_data", stdout(&mut auditlake(&["run"], Some(o))));
        insta::assert_snapshot!("run_again_finds_nothing_new", stdout(&mut auditlake(&["run"], Some(o))));
        insta::assert_snapshot!("duet_list_pending", stdout(&mut auditlake(&["duet", "list", "--status", "pending", "--limit", "12"], Some(o))));
    });
    // The run log's last column is each run's duration.
    let mut with_ms = filters.clone();
    with_ms.push((r"(?m) +\d+$", " [ms]"));
    insta::with_settings!({ filters => with_ms, prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("runs", stdout(&mut auditlake(&["runs"], Some(o))));
    });
}
