//! Outputs of scheduled runs: Delta Lake tables under one output location.
//!
//! - `alerts/`: one row per alert (deterministic id; repeats and re-evaluations update it),
//! - `duet_queue/`: one row per DUET item (inserted once; answers are never overwritten by runs),
//! - `runs/`: one row per run (window, counts, hits per rule, status),
//! - `rejects/`: every rejected input object and row, with where it came from,
//! - `processed_objects/`: the ledger of landed objects already evaluated (exactly-once input).
//!
//! All are partitioned by a `date` column (`YYYY-MM-DD`) so writes touch few partitions.

pub mod alerts;
pub mod delta;
pub mod duet;
pub mod ledger;
pub mod rejects;
pub mod runs;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Once;

use sha2::{Digest, Sha256};
use url::Url;

pub use alerts::{AlertRecord, Finding};
pub use delta::DeltaOutput;
pub use duet::{DuetItem, DuetStatus};
pub use runs::RunRecord;

use crate::config::Config;
use crate::{Error, Result};

/// The output tables of one deployment.
#[derive(Debug, Clone)]
pub struct OutputTables {
    pub location: String,
    pub alerts: DeltaOutput,
    pub duet: DeltaOutput,
    pub runs: DeltaOutput,
    pub rejects: DeltaOutput,
    pub ledger: DeltaOutput,
}

static REGISTER_HANDLERS: Once = Once::new();

/// Turns a location (URL or local path) into a directory URL ending in `/`.
fn directory_url(location: &str) -> Result<Url> {
    let url = if location.contains("://") {
        Url::parse(location).map_err(|e| Error::Config(format!("output location '{location}': {e}")))?
    } else {
        let path = std::path::absolute(location).map_err(|e| Error::io(format!("output location {location}"), e))?;
        Url::from_directory_path(&path).map_err(|()| Error::Config(format!("output location '{location}' is not a usable path")))?
    };
    let mut s = url.to_string();
    if !s.ends_with('/') {
        s.push('/');
    }
    Url::parse(&s).map_err(|e| Error::Config(format!("output location '{location}': {e}")))
}

impl OutputTables {
    /// The tables under the configured output location (nothing is created until first written).
    pub fn new(config: &Config) -> Result<Self> {
        Self::at(&config.output_location(), &config.output.storage)
    }

    /// The tables under `location`, with object-store `storage` options.
    pub fn at(location: &str, storage: &std::collections::BTreeMap<String, String>) -> Result<Self> {
        REGISTER_HANDLERS.call_once(|| {
            deltalake::aws::register_handlers(None);
            deltalake::azure::register_handlers(None);
        });
        let base = directory_url(location)?;
        let storage: HashMap<String, String> = storage.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let table = |name: &'static str, schema, parts| -> Result<DeltaOutput> {
            let url = base.join(&format!("{name}/")).map_err(|e| Error::Config(format!("output location '{location}': {e}")))?;
            Ok(DeltaOutput::new(name, url, storage.clone(), schema, parts))
        };
        Ok(OutputTables {
            location: location.to_owned(),
            alerts: table("alerts", alerts::schema(), &["date"])?,
            duet: table("duet_queue", duet::schema(), &["date"])?,
            runs: table("runs", runs::schema(), &["date"])?,
            rejects: table("rejects", rejects::schema(), &["date"])?,
            ledger: table("processed_objects", ledger::schema(), &["date"])?,
        })
    }

    /// Every table, for commands that list or read them all.
    pub fn all(&self) -> [&DeltaOutput; 5] {
        [&self.alerts, &self.duet, &self.runs, &self.rejects, &self.ledger]
    }

    /// The table called `name`.
    pub fn by_name(&self, name: &str) -> Option<&DeltaOutput> {
        self.all().into_iter().find(|t| t.name == name)
    }
}

/// A deterministic id: the first 128 bits of SHA-256 over the parts, hex.
pub fn stable_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `YYYY-MM-DD` of an epoch-microsecond time (UTC): the partition value.
pub fn date_of(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "1970-01-01".into())
}

/// RFC 3339 text of an epoch-microsecond time.
pub fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Quotes a SQL string literal.
pub fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `a, b, c` as quoted SQL literals.
pub fn sql_list<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    values.into_iter().map(sql_str).collect::<Vec<_>>().join(", ")
}

/// A SQL literal of the output tables' timestamp type (`Timestamp(µs, "UTC")`) at `micros`.
/// `to_timestamp_micros` yields a zone-less timestamp, which Delta's update and merge predicates
/// refuse to compare with a UTC column (DataFusion's query planner would coerce; they do not).
pub fn sql_timestamp(micros: i64) -> String {
    format!("arrow_cast({micros}, 'Timestamp(Microsecond, Some(\"UTC\"))')")
}

/// Epoch microseconds of "now".
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

impl FromStr for DuetStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(DuetStatus::Pending),
            "expected" => Ok(DuetStatus::Expected),
            "unexpected" => Ok(DuetStatus::Unexpected),
            "expired" => Ok(DuetStatus::Expired),
            other => Err(Error::Config(format!("unknown DUET status '{other}' (pending, expected, unexpected, expired)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_unambiguous() {
        assert_eq!(stable_id(&["a", "bc"]), stable_id(&["a", "bc"]));
        assert_ne!(stable_id(&["ab", "c"]), stable_id(&["a", "bc"]));
        assert_eq!(stable_id(&["x"]).len(), 32);
        assert_eq!(date_of(1_780_000_000_000_000), "2026-05-28");
        assert_eq!(sql_list(["a", "o'b"]), "'a', 'o''b'");
    }
}
