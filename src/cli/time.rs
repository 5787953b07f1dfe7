//! Time arguments of the command line (`--from`, `--to`, `--start`, `--end`).

use auditlake::config::parse_duration_micros;
use auditlake::normalize::time::parse_timestamp_micros;
use auditlake::{Error, Result};

/// Parses a `--from`/`--to` value: RFC 3339, a date, `now`, or relative to now (`-2h`, `-7d`).
pub fn parse_time_arg(s: &str, now_micros: i64) -> Result<i64> {
    let s = s.trim();
    if s == "now" {
        return Ok(now_micros);
    }
    if let Some(rel) = s.strip_prefix('-') {
        return parse_duration_micros(rel)
            .map(|d| now_micros - d)
            .map_err(|_| Error::InvalidTime(s.to_owned()));
    }
    parse_timestamp_micros(s).ok_or_else(|| Error::InvalidTime(s.to_owned()))
}
