//! The TOML configuration: where each source lands, in which format and layout, and how the scan
//! treats late data. Every field is documented here; `docs/config.md` shows complete examples.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::sources::SourceFormat;
use crate::sources::layout::Layout;
use crate::{Error, Result};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Scan-wide settings.
    #[serde(default)]
    pub scan: ScanConfig,
    /// The landed sources, each becoming part of `audit_events` and a raw table of its own.
    #[serde(rename = "source", default)]
    pub sources: Vec<SourceConfig>,
    /// Extra allow-list values, added to the rule pack's defaults (`queries/allowlists.toml`):
    /// `system_namespaces = ["platform"]`, `privileged_images = ["registry.example.com/agent"]`.
    #[serde(default)]
    pub allowlists: BTreeMap<String, Vec<String>>,
    /// Where scheduled runs write their Delta tables.
    #[serde(default)]
    pub output: OutputConfig,
    /// How scheduled runs pick up newly landed data.
    #[serde(default)]
    pub run: RunConfig,
    /// The DUET ("did you expect this?") queue: deadlines, routing, what an answer does.
    #[serde(default)]
    pub duet: DuetConfig,
    /// Directory that relative `location`s are resolved against (the config file's directory).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// How scans treat time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    /// How long after an event its record may still land (upper margin when pruning partitions
    /// by landing time). Default `1h`; EKS delivery is best effort and usually within minutes.
    #[serde(default = "default_lateness")]
    pub lateness: String,
    /// How much earlier than its event time a record may be filed (clock skew between the API
    /// server and the landing pipeline). Default `5m`.
    #[serde(default = "default_clock_skew")]
    pub clock_skew: String,
    /// Rows per decoded batch. Default 8192.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Longest event-time span one scan of the rule pack covers: longer windows (backfills) are
    /// evaluated chunk by chunk, so memory depends on the chunk, not the window. Default `24h`;
    /// `0` evaluates any window in one pass.
    #[serde(default = "default_chunk")]
    pub chunk: String,
}

fn default_lateness() -> String {
    "1h".into()
}
fn default_clock_skew() -> String {
    "5m".into()
}
fn default_chunk() -> String {
    "24h".into()
}
fn default_batch_size() -> usize {
    8192
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            lateness: default_lateness(),
            clock_skew: default_clock_skew(),
            batch_size: default_batch_size(),
            chunk: default_chunk(),
        }
    }
}

/// Where `auditlake run` writes `alerts`, `duet_queue`, `runs`, `rejects` and its ledger of
/// processed objects (each a Delta table in a folder of that name).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// `s3://bucket/prefix`, `az://container/prefix`, `abfss://...`, or a local directory
    /// (relative to the config file). Default: `auditlake-output` in the working directory.
    pub location: Option<String>,
    /// Object-store options for the output (same keys as a source's `storage`).
    #[serde(default)]
    pub storage: BTreeMap<String, String>,
}

/// How `auditlake run` selects data by arrival.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// How far back the first run (no earlier successful run in the `runs` table) reaches, by
    /// arrival time: a duration such as `24h`, or `all` for everything landed. Default `24h`.
    #[serde(default = "default_initial_lookback")]
    pub initial_lookback: String,
    /// How long landing may trail the clock: objects modified in the last `settle` are left to the
    /// next run, so a run never sees half of an upload burst. Default `0s`.
    #[serde(default = "default_settle")]
    pub settle: String,
    /// How old a partition (by the time its key names) every run still lists for objects that
    /// landed since the last run: an object written late into a partition up to this much older
    /// than the run's arrival window is evaluated by the next run. Default `24h`.
    #[serde(default = "default_late_reach")]
    pub late_reach: String,
    /// How often a run also sweeps older partitions, back to `sweep_reach`, for objects that
    /// landed since the last sweep and were out of `late_reach` (re-uploads, late backfills into
    /// old partitions). `0s` turns sweeps off. Default `24h`.
    #[serde(default = "default_sweep_every")]
    pub sweep_every: String,
    /// How far back (partition time, and landing date for retrying failed rules) a sweep lists.
    /// Objects landing into partitions older than this are never listed. Default `30d`.
    #[serde(default = "default_sweep_reach")]
    pub sweep_reach: String,
}

fn default_initial_lookback() -> String {
    "24h".into()
}
fn default_settle() -> String {
    "0s".into()
}
fn default_late_reach() -> String {
    "24h".into()
}
fn default_sweep_every() -> String {
    "24h".into()
}
fn default_sweep_reach() -> String {
    "30d".into()
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            initial_lookback: default_initial_lookback(),
            settle: default_settle(),
            late_reach: default_late_reach(),
            sweep_every: default_sweep_every(),
            sweep_reach: default_sweep_reach(),
        }
    }
}

/// The DUET queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuetConfig {
    /// How long the customer has to answer before an item expires. Default `72h`.
    #[serde(default = "default_due_in")]
    pub due_in: String,
    /// After an `expected` answer, the same rule, actor and object raise no new pending item for
    /// this long (they are recorded as answered automatically). `0s` turns it off. Default `30d`.
    #[serde(default = "default_expected_suppresses")]
    pub expected_suppresses: String,
    /// Contacts for items no route matches.
    #[serde(default)]
    pub default_contacts: Vec<String>,
    /// Routes, first match wins: `{ cluster = "prod-*", namespace = "payments", contacts = [...] }`.
    #[serde(default, rename = "route")]
    pub routes: Vec<DuetRoute>,
}

fn default_due_in() -> String {
    "72h".into()
}
fn default_expected_suppresses() -> String {
    "30d".into()
}

impl Default for DuetConfig {
    fn default() -> Self {
        DuetConfig { due_in: default_due_in(), expected_suppresses: default_expected_suppresses(), default_contacts: Vec::new(), routes: Vec::new() }
    }
}

/// Where DUET items of a cluster (and namespace) go. Patterns use `*` as a wildcard.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuetRoute {
    #[serde(default = "default_any")]
    pub cluster: String,
    #[serde(default = "default_any")]
    pub namespace: String,
    pub contacts: Vec<String>,
}

fn default_any() -> String {
    "*".into()
}

impl DuetConfig {
    /// The contacts for an item in `cluster`/`namespace`.
    pub fn contacts_for(&self, cluster: &str, namespace: &str) -> Vec<String> {
        self.routes
            .iter()
            .find(|r| glob_match(&r.cluster, cluster) && glob_match(&r.namespace, namespace))
            .map(|r| r.contacts.clone())
            .unwrap_or_else(|| self.default_contacts.clone())
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// One landed source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Name of the source: lower-case letters, digits and `_`; also the name of its raw table.
    pub name: String,
    /// Landed format: `k8s_audit`, `eks_cloudwatch`, `security_lake` or `aks_diagnostics`.
    pub format: SourceFormat,
    /// Where objects land: `s3://bucket/prefix`, `az://container/prefix`,
    /// `abfss://container@account.dfs.core.windows.net/prefix`, `gs://bucket/prefix`, or a local path.
    pub location: String,
    /// Partition layout: `firehose`, `hive`, `aks`, `security_lake`, `none`, or a pattern such as
    /// `{cluster}/{YYYY}/{MM}/{DD}/{HH}` (see docs/config.md). Default `none`.
    #[serde(default = "default_layout")]
    pub layout: String,
    /// Object name suffix to read. Default `.parquet`.
    #[serde(default = "default_extension")]
    pub extension: String,
    /// Cluster name for records that do not carry one (Firehose-converted Parquet, Security Lake 1.1).
    pub cluster: Option<String>,
    /// Cloud account (AWS account id, Azure subscription) for records that do not carry one.
    pub account: Option<String>,
    /// Region for records that do not carry one.
    pub region: Option<String>,
    /// Per-source lateness override (see `scan.lateness`).
    pub lateness: Option<String>,
    /// Object-store options passed to the store builder, e.g. `endpoint`, `region`,
    /// `allow_http`, `access_key_id`. Credentials otherwise come from the standard environment.
    #[serde(default)]
    pub storage: BTreeMap<String, String>,
}

fn default_layout() -> String {
    "none".into()
}
fn default_extension() -> String {
    ".parquet".into()
}

/// The configuration used when none is given: the bundled sample data, one source per format.
pub const EMBEDDED_DEFAULT: &str = include_str!("../sample_data/auditlake.toml");

impl Config {
    /// Reads and validates a config file; relative locations resolve against its directory.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_toml(&text, &base).map_err(|e| match e {
            Error::Config(msg) => Error::Config(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// Parses and validates config text.
    pub fn from_toml(text: &str, base_dir: &Path) -> Result<Self> {
        let mut config: Config = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        config.base_dir = base_dir.to_path_buf();
        config.validate()?;
        Ok(config)
    }

    /// The embedded default config over the bundled sample data. The data is looked up in
    /// `./sample_data`, then next to the executable's source tree.
    pub fn embedded_default() -> Result<Self> {
        let candidates = [
            PathBuf::from("sample_data"),
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_data"),
        ];
        let base = candidates
            .iter()
            .find(|p| p.join("auditlake.toml").is_file())
            .ok_or_else(|| Error::Config("no --config given and the bundled sample_data/ directory was not found; pass --config FILE".into()))?;
        Self::from_toml(EMBEDDED_DEFAULT, base)
    }

    /// Checks every source and reports all problems at once.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        for d in [&self.scan.lateness, &self.scan.clock_skew, &self.scan.chunk] {
            if let Err(e) = parse_duration_micros(d) {
                problems.push(format!("scan: {e}"));
            }
        }
        if self.run.initial_lookback != "all"
            && let Err(e) = parse_duration_micros(&self.run.initial_lookback)
        {
            problems.push(format!("run.initial_lookback: {e} (or \"all\")"));
        }
        for (what, d) in [
            ("run.settle", &self.run.settle),
            ("run.late_reach", &self.run.late_reach),
            ("run.sweep_every", &self.run.sweep_every),
            ("run.sweep_reach", &self.run.sweep_reach),
            ("duet.due_in", &self.duet.due_in),
            ("duet.expected_suppresses", &self.duet.expected_suppresses),
        ] {
            if let Err(e) = parse_duration_micros(d) {
                problems.push(format!("{what}: {e}"));
            }
        }
        if self.scan.batch_size == 0 {
            problems.push("scan.batch_size must be positive".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for s in &self.sources {
            let valid_name = s.name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && s.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid_name {
                problems.push(format!("source '{}': name must be lower-case letters, digits and '_', starting with a letter", s.name));
            }
            if ["audit_events", "rejects"].contains(&s.name.as_str()) {
                problems.push(format!("source '{}': name is reserved", s.name));
            }
            if !names.insert(s.name.clone()) {
                problems.push(format!("source '{}': duplicate name", s.name));
            }
            if let Err(e) = Layout::parse(&s.layout) {
                problems.push(format!("source '{}': {e}", s.name));
            }
            if let Some(l) = &s.lateness
                && let Err(e) = parse_duration_micros(l)
            {
                problems.push(format!("source '{}': {e}", s.name));
            }
        }
        problems.extend(self.output_location_problems());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(problems.join("; ")))
        }
    }

    /// Checks that the output location is given and apart from every source: outputs inside a
    /// source would be read back as landed data (with layout `none`, every run then rejects its
    /// own Delta files), and a source inside the outputs would be scanned from among them.
    pub fn check_output_location(&self) -> Result<()> {
        let problems = self.output_location_problems();
        if problems.is_empty() { Ok(()) } else { Err(Error::Config(problems.join("; "))) }
    }

    fn output_location_problems(&self) -> Vec<String> {
        if self.output.location.as_deref().is_some_and(|l| l.trim().is_empty()) {
            return vec!["output.location is empty: give a directory or URL for the output tables".into()];
        }
        let output = self.output_location();
        let Some(out) = location_key(&output) else { return Vec::new() };
        let mut problems = Vec::new();
        for s in &self.sources {
            let location = self.resolve_location(s);
            let Some(src) = location_key(&location) else { continue };
            if out.0 != src.0 {
                continue;
            }
            let relation = if out.1 == src.1 {
                "is the same as"
            } else if out.1.starts_with(&src.1) {
                "is inside"
            } else if src.1.starts_with(&out.1) {
                "contains"
            } else {
                continue;
            };
            problems.push(format!("output location '{output}' {relation} the location '{location}' of source '{}': outputs must be kept apart from landed data", s.name));
        }
        problems
    }

    /// The output location: the configured one (relative paths against the config directory), else
    /// `auditlake-output` in the working directory.
    pub fn output_location(&self) -> String {
        match &self.output.location {
            Some(loc) if loc.contains("://") || Path::new(loc).is_absolute() => loc.clone(),
            Some(loc) => {
                let joined = self.base_dir.join(loc);
                std::path::absolute(&joined).unwrap_or(joined).to_string_lossy().into_owned()
            }
            None => std::path::absolute("auditlake-output").unwrap_or_else(|_| PathBuf::from("auditlake-output")).to_string_lossy().into_owned(),
        }
    }

    /// A source's location with relative local paths resolved against the config directory.
    pub fn resolve_location(&self, source: &SourceConfig) -> String {
        let loc = &source.location;
        if loc.contains("://") || Path::new(loc).is_absolute() {
            return loc.clone();
        }
        let joined = self.base_dir.join(loc);
        std::path::absolute(&joined).unwrap_or(joined).to_string_lossy().into_owned()
    }
}

/// A location as (store, path segments), for comparing locations: URLs by scheme, host and path;
/// local paths (and `file://` URLs) absolute, with `.` and `..` resolved and symbolic links
/// followed as far as the path exists. `None` when it does not parse.
fn location_key(location: &str) -> Option<(String, Vec<String>)> {
    let segments = |path: &str| -> Vec<String> { path.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect() };
    let path = if location.contains("://") {
        let url = url::Url::parse(location).ok()?;
        if url.scheme() != "file" {
            let store = format!("{}://{}@{}", url.scheme(), url.username(), url.host_str().unwrap_or(""));
            return Some((store, segments(url.path())));
        }
        url.to_file_path().ok()?
    } else {
        std::path::absolute(location).ok()?
    };
    let mut clean = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    // The longest existing ancestor, canonical (so `/tmp/x` and its symlinked real path compare
    // equal), then the rest as written: the output directory may not exist yet.
    let mut existing = clean.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        rest.push(existing.file_name()?.to_os_string());
        existing = existing.parent()?;
    }
    let mut resolved = existing.canonicalize().ok()?;
    resolved.extend(rest.iter().rev());
    Some(("file".into(), resolved.components().filter_map(|c| c.as_os_str().to_str().map(str::to_owned)).filter(|c| c != "/").collect()))
}

/// The longest duration accepted anywhere (lateness, lookbacks, rule buckets and spans): 100 years
/// of 365.25 days, in microseconds. Together with the bounded event times (see
/// [`crate::normalize::time::supported_event_time`]) it keeps every time plus or minus a duration
/// far inside `i64`.
pub const MAX_DURATION_MICROS: i64 = 36_525 * 86_400 * 1_000_000;

/// Parses `90s`, `15m`, `6h`, `7d` (or a sum like `1h30m`) into microseconds, at most
/// [`MAX_DURATION_MICROS`].
pub fn parse_duration_micros(s: &str) -> Result<i64> {
    let bad = || Error::Config(format!("invalid duration '{s}' (use e.g. 90s, 15m, 6h, 7d)"));
    let too_long = || Error::Config(format!("duration '{s}' is longer than the maximum of 100 years (36525d)"));
    let mut total = 0i64;
    let mut num = String::new();
    let mut any = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        // Only digits were collected, so a failure here is an empty number or one past `i64`.
        let n: i64 = match num.parse() {
            Ok(n) => n,
            Err(_) if num.is_empty() => return Err(bad()),
            Err(_) => return Err(too_long()),
        };
        num.clear();
        let unit = match c {
            's' => 1_000_000,
            'm' => 60_000_000,
            'h' => 3_600_000_000,
            'd' => 86_400_000_000,
            _ => return Err(bad()),
        };
        // Checked: an overflow here used to wrap into a negative lateness in release builds.
        total = n.checked_mul(unit).and_then(|us| total.checked_add(us)).filter(|t| *t <= MAX_DURATION_MICROS).ok_or_else(too_long)?;
        any = true;
    }
    if s.trim() == "0" {
        return Ok(0);
    }
    if !num.is_empty() || !any {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_micros("1h30m").unwrap(), 5_400_000_000);
        assert_eq!(parse_duration_micros("7d").unwrap(), 604_800_000_000);
        assert!(parse_duration_micros("10").is_err());
        assert!(parse_duration_micros("1w").is_err());
    }

    #[test]
    fn regression_huge_duration_is_an_error_not_a_negative_lateness() {
        assert_eq!(parse_duration_micros("36525d").unwrap(), MAX_DURATION_MICROS);
        assert_eq!(parse_duration_micros("36524d24h").unwrap(), MAX_DURATION_MICROS);
        for s in ["213503982d", "36525d1s", "36526d", "9223372036854775807s", "99999999999999999999d", "36525d36525d"] {
            let err = parse_duration_micros(s).unwrap_err().to_string();
            assert!(err.contains("maximum of 100 years"), "{s}: {err}");
        }
        let lateness = "[scan]\nlateness = \"213503982d\"\n";
        let err = Config::from_toml(lateness, Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("213503982d") && err.contains("100 years"), "{err}");
    }

    #[test]
    fn duet_routes_first_match_wins() {
        assert!(glob_match("prod-*", "prod-eu") && glob_match("*", "") && glob_match("a*c*e", "abcde"));
        assert!(!glob_match("prod-*", "dev-eu") && !glob_match("a*a", "a"));
        let text = "[duet]\ndefault_contacts = ['soc@x']\n[[duet.route]]\ncluster = 'prod-*'\nnamespace = 'pay*'\ncontacts = ['pay@x']\n";
        let c = Config::from_toml(text, Path::new(".")).unwrap();
        assert_eq!(c.duet.contacts_for("prod-1", "payments"), vec!["pay@x"]);
        assert_eq!(c.duet.contacts_for("prod-1", "web"), vec!["soc@x"]);
    }

    #[test]
    fn regression_output_location_inside_or_around_a_source_is_a_config_error() {
        let dir = std::env::temp_dir().join(format!("auditlake-config-test-{}", std::process::id()));
        let config = |output: &str| format!("[output]\nlocation = \"{output}\"\n[[source]]\nname='eks'\nformat='eks_cloudwatch'\nlocation='landing/eks'\n");
        for (output, relation) in [("landing/eks", "is the same as"), ("landing/eks/out", "is inside"), ("./landing/x/../eks/", "is the same as"), ("landing", "contains")] {
            let err = Config::from_toml(&config(output), &dir).unwrap_err().to_string();
            assert!(err.contains(relation) && err.contains("source 'eks'") && err.contains("landing/eks"), "{output}: {err}");
        }
        Config::from_toml(&config("out"), &dir).unwrap();
        Config::from_toml(&config("landing/eks-out"), &dir).unwrap();
        assert!(Config::from_toml(&config(""), &dir).unwrap_err().to_string().contains("empty"));
        // Same bucket and prefix on a store.
        let s3 = "[output]\nlocation = 's3://lake/eks/out'\n[[source]]\nname='eks'\nformat='eks_cloudwatch'\nlocation='s3://lake/eks/'\n";
        assert!(Config::from_toml(s3, &dir).unwrap_err().to_string().contains("is inside"));
        Config::from_toml(&s3.replace("s3://lake/eks/out", "s3://other/eks/out"), &dir).unwrap();
    }

    #[test]
    fn reports_every_problem_at_once() {
        let text = r#"
[[source]]
name = "Bad-Name"
format = "k8s_audit"
location = "x"
layout = "{YYYY}/{week}"

[[source]]
name = "ok"
format = "eks_cloudwatch"
location = "y"
lateness = "soon"
"#;
        let err = Config::from_toml(text, Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("Bad-Name") && err.contains("week") && err.contains("soon"), "{err}");
        let unknown = "[[source]]\nname='a'\nformat='k8s_audit'\nlocation='x'\ncolour='red'\n";
        assert!(Config::from_toml(unknown, Path::new(".")).unwrap_err().to_string().contains("colour"));
    }
}
