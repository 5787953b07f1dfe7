//! Partition layouts: how a source's object keys encode landing time (and sometimes cluster,
//! account, region), so that a time-bounded read lists and opens only the partitions that can hold it.
//!
//! A layout is a pattern of path segments with tokens: `{YYYY}` `{MM}` `{DD}` `{HH}` `{mm}`
//! (time), `{cluster}` `{account}` `{region}` (values for the envelope), `{*}` (anything in one
//! segment). A leading `**/` lets the pattern start below any number of other segments (AKS puts
//! the ARM resource id first). Presets cover the landings in docs/config.md.

use regex::Regex;

use crate::normalize::time::days_from_civil;
use crate::{Error, Result};

/// Preset layouts by name.
pub const PRESETS: &[(&str, &str)] = &[
    ("firehose", "{YYYY}/{MM}/{DD}/{HH}"),
    ("hive", "dt={YYYY}-{MM}-{DD}/hour={HH}"),
    ("aks", "**/y={YYYY}/m={MM}/d={DD}/h={HH}/m={mm}"),
    ("security_lake", "region={region}/accountId={account}/eventDay={YYYY}{MM}{DD}"),
    ("none", ""),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Cluster,
    Account,
    Region,
}

#[derive(Debug, Clone)]
struct SegmentPattern {
    regex: Regex,
    tokens: Vec<Token>,
}

/// A compiled partition layout.
#[derive(Debug, Clone)]
pub struct Layout {
    spec: String,
    segments: Vec<SegmentPattern>,
    /// The pattern may start at any depth (`**/`).
    floating: bool,
}

/// What a matched object path says about its partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionValues {
    /// Start and end (exclusive) of the partition's time span, microseconds since the epoch.
    pub time_span: Option<(i64, i64)>,
    pub cluster: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
}

/// Captured time components of a (possibly partial) match.
#[derive(Debug, Default, Clone, Copy)]
struct TimeParts {
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    hour: Option<i64>,
    minute: Option<i64>,
}

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

impl TimeParts {
    /// The span these components pin down; `None` when no year was captured.
    fn span(&self) -> Option<(i64, i64)> {
        let year = self.year?;
        let Some(month) = self.month else {
            return Some((days_from_civil(year, 1, 1) * DAY, days_from_civil(year + 1, 1, 1) * DAY));
        };
        let Some(day) = self.day else {
            let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
            return Some((days_from_civil(year, month, 1) * DAY, days_from_civil(ny, nm, 1) * DAY));
        };
        let day_start = days_from_civil(year, month, day) * DAY;
        match self.hour {
            None => Some((day_start, day_start + DAY)),
            // A minute folder still holds up to an hour of appends (AKS `m=00/PT1H.json`), so the
            // span stays an hour from the folder's start: over-inclusive, never lossy.
            Some(h) => {
                let start = day_start + h * HOUR + self.minute.unwrap_or(0) * 60_000_000;
                Some((start, start + HOUR))
            }
        }
    }
}

impl Layout {
    /// Compiles a preset name or a custom pattern.
    pub fn parse(spec: &str) -> Result<Self> {
        let pattern = PRESETS
            .iter()
            .find(|(name, _)| *name == spec)
            .map(|(_, p)| *p)
            .unwrap_or(spec);
        let (floating, body) = match pattern.strip_prefix("**/") {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let mut segments = Vec::new();
        for seg in body.trim_matches('/').split('/').filter(|s| !s.is_empty()) {
            segments.push(compile_segment(seg).map_err(|e| Error::Config(format!("layout '{spec}': {e}")))?);
        }
        Ok(Layout {
            spec: spec.to_owned(),
            segments,
            floating,
        })
    }

    /// The layout as written in config.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// True when the layout says nothing about time (every object must be opened).
    pub fn has_time(&self) -> bool {
        self.segments.iter().any(|s| s.tokens.contains(&Token::Year))
    }

    fn start_index(&self, segs: &[&str]) -> Option<usize> {
        if !self.floating {
            return Some(0);
        }
        let first = self.segments.first()?;
        segs.iter().position(|s| first.regex.is_match(s))
    }

    /// Matches the directory segments of an object path (relative to the source root). `None` when
    /// the path does not follow the layout.
    pub fn match_path(&self, dir_segments: &[&str]) -> Option<PartitionValues> {
        if self.segments.is_empty() {
            return Some(PartitionValues::default());
        }
        let start = self.start_index(dir_segments)?;
        let segs = dir_segments.get(start..start + self.segments.len())?;
        let mut values = PartitionValues::default();
        let time = self.capture(segs, &mut values)?;
        values.time_span = time.span();
        Some(values)
    }

    /// Whether a directory (segments relative to the source root) can still hold objects of a
    /// partition overlapping `[from, to)`. Directories outside the layout are kept (never lossy).
    pub fn directory_may_overlap(&self, dir_segments: &[&str], from: i64, to: i64) -> bool {
        if self.segments.is_empty() {
            return true;
        }
        let Some(start) = self.start_index(dir_segments) else { return true };
        let seen = &dir_segments[start..];
        let n = seen.len().min(self.segments.len());
        let mut scratch = PartitionValues::default();
        match self.capture(&seen[..n], &mut scratch) {
            // A directory that breaks an anchored layout holds nothing the layout describes;
            // keep it only when the pattern floats (the real start may be deeper).
            None => self.floating,
            Some(time) => match time.span() {
                Some((s, e)) => s < to && from < e,
                None => true,
            },
        }
    }

    fn capture(&self, segs: &[&str], values: &mut PartitionValues) -> Option<TimeParts> {
        let mut t = TimeParts::default();
        for (seg, pat) in segs.iter().zip(&self.segments) {
            let caps = pat.regex.captures(seg)?;
            for (i, token) in pat.tokens.iter().enumerate() {
                let v = caps.get(i + 1)?.as_str();
                let num = || v.parse::<i64>().ok();
                match token {
                    Token::Year => t.year = Some(num()?),
                    Token::Month => t.month = Some(num()?).filter(|m| (1..=12).contains(m)),
                    Token::Day => t.day = Some(num()?).filter(|d| (1..=31).contains(d)),
                    Token::Hour => t.hour = Some(num()?).filter(|h| (0..24).contains(h)),
                    Token::Minute => t.minute = Some(num()?).filter(|m| (0..60).contains(m)),
                    Token::Cluster => values.cluster = Some(v.to_owned()),
                    Token::Account => values.account = Some(v.to_owned()),
                    Token::Region => values.region = Some(v.to_owned()),
                }
            }
        }
        Some(t)
    }
}

fn compile_segment(seg: &str) -> Result<SegmentPattern, String> {
    let mut re = String::from("^");
    let mut tokens = Vec::new();
    let mut rest = seg;
    while let Some(open) = rest.find('{') {
        re.push_str(&regex::escape(&rest[..open]));
        let close = rest[open..].find('}').ok_or_else(|| format!("unclosed '{{' in '{seg}'"))? + open;
        let name = &rest[open + 1..close];
        let (group, token) = match name {
            "YYYY" => (r"(\d{4})", Some(Token::Year)),
            "MM" => (r"(\d{2})", Some(Token::Month)),
            "DD" => (r"(\d{2})", Some(Token::Day)),
            "HH" => (r"(\d{2})", Some(Token::Hour)),
            "mm" => (r"(\d{2})", Some(Token::Minute)),
            "cluster" => (r"([^/]+?)", Some(Token::Cluster)),
            "account" => (r"([^/]+?)", Some(Token::Account)),
            "region" => (r"([^/]+?)", Some(Token::Region)),
            "*" => (r"[^/]*?", None),
            other => return Err(format!("unknown token '{{{other}}}' (expected YYYY, MM, DD, HH, mm, cluster, account, region or *)")),
        };
        re.push_str(group);
        tokens.extend(token);
        rest = &rest[close + 1..];
    }
    re.push_str(&regex::escape(rest));
    re.push('$');
    Ok(SegmentPattern {
        regex: Regex::new(&re).map_err(|e| e.to_string())?,
        tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::time::parse_timestamp_micros;

    fn t(s: &str) -> i64 {
        parse_timestamp_micros(s).unwrap()
    }

    #[test]
    fn firehose_hours() {
        let l = Layout::parse("firehose").unwrap();
        let p = l.match_path(&["2024", "05", "01", "13"]).unwrap();
        assert_eq!(p.time_span, Some((t("2024-05-01T13:00:00Z"), t("2024-05-01T14:00:00Z"))));
        assert!(l.match_path(&["2024", "05"]).is_none());
        assert!(l.directory_may_overlap(&["2024", "05"], t("2024-05-01T00:00:00Z"), t("2024-05-02T00:00:00Z")));
        assert!(!l.directory_may_overlap(&["2024", "04"], t("2024-05-01T00:00:00Z"), t("2024-05-02T00:00:00Z")));
        assert!(!l.directory_may_overlap(&["2024", "05", "01", "12"], t("2024-05-01T13:00:00Z"), t("2024-05-01T14:00:00Z")));
    }

    #[test]
    fn aks_floats_below_the_resource_id_and_repeats_m() {
        let l = Layout::parse("aks").unwrap();
        let dirs = ["resourceId=", "SUBSCRIPTIONS", "X", "MANAGEDCLUSTERS", "C", "y=2024", "m=11", "d=15", "h=21", "m=00"];
        let p = l.match_path(&dirs).unwrap();
        assert_eq!(p.time_span, Some((t("2024-11-15T21:00:00Z"), t("2024-11-15T22:00:00Z"))));
        assert!(l.directory_may_overlap(&dirs[..5], 0, 1));
        assert!(!l.directory_may_overlap(&dirs[..6], 0, 1));
    }

    #[test]
    fn security_lake_and_hive_and_custom() {
        let l = Layout::parse("security_lake").unwrap();
        let p = l.match_path(&["region=us-east-1", "accountId=123456789012", "eventDay=20240501"]).unwrap();
        assert_eq!(p.account.as_deref(), Some("123456789012"));
        assert_eq!(p.region.as_deref(), Some("us-east-1"));
        assert_eq!(p.time_span.unwrap().0, t("2024-05-01T00:00:00Z"));
        let h = Layout::parse("hive").unwrap();
        assert!(h.match_path(&["dt=2024-05-01", "hour=07"]).is_some());
        let c = Layout::parse("{cluster}/{YYYY}/{MM}/{DD}").unwrap();
        assert_eq!(c.match_path(&["prod", "2024", "05", "01"]).unwrap().cluster.as_deref(), Some("prod"));
        assert!(Layout::parse("{YYYY}/{week}").is_err());
        assert!(!Layout::parse("none").unwrap().has_time());
    }
}
