//! The `processed_objects` table: every version of a landed object a run has evaluated. A run
//! lists what landed, skips the versions recorded here, and appends what it evaluated after its
//! outputs are committed, so a crash between the two re-evaluates (idempotently) rather than skips.
//!
//! A version is the object's URL, size and ETag: an object seen while still uploading, or
//! overwritten later, is a new version and is read again. Rows are only appended; for one
//! version the latest row (by `processed_at`) is its state, which matters for `pending_rules`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use object_store::ObjectMeta;
use serde::{Deserialize, Serialize};

/// One row of `processed_objects`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessedObject {
    /// Full object URL.
    pub object: String,
    /// Partition: UTC date the object landed (last modified).
    pub date: String,
    pub source_name: String,
    pub size: i64,
    pub last_modified: i64,
    pub e_tag: Option<String>,
    pub run_id: String,
    pub processed_at: i64,
    /// Rules that failed when this version was evaluated: the next runs evaluate them over it
    /// again until they succeed or leave the pack. Empty (or absent in tables written before the
    /// column existed) when every rule ran.
    #[serde(default)]
    pub pending_rules: Option<Vec<String>>,
}

/// Which version of a landed object: what the ledger is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectVersion {
    pub url: String,
    pub size: i64,
    pub e_tag: Option<String>,
}

impl ObjectVersion {
    /// The version a listing shows.
    pub fn of(url: &str, meta: &ObjectMeta) -> Self {
        ObjectVersion { url: url.to_owned(), size: meta.size as i64, e_tag: meta.e_tag.clone() }
    }
}

impl ProcessedObject {
    pub fn version(&self) -> ObjectVersion {
        ObjectVersion { url: self.object.clone(), size: self.size, e_tag: self.e_tag.clone() }
    }

    /// The rules still to run over this version.
    pub fn pending(&self) -> &[String] {
        self.pending_rules.as_deref().unwrap_or_default()
    }
}

/// Each version's current state: its latest row.
pub fn latest_by_version(rows: Vec<ProcessedObject>) -> HashMap<ObjectVersion, ProcessedObject> {
    let mut out: HashMap<ObjectVersion, ProcessedObject> = HashMap::new();
    for row in rows {
        match out.get(&row.version()) {
            Some(known) if known.processed_at >= row.processed_at => {}
            _ => {
                out.insert(row.version(), row);
            }
        }
    }
    out
}

/// The `processed_objects` schema.
pub fn schema() -> SchemaRef {
    let ts = |n: &str| Field::new(n, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false);
    Arc::new(Schema::new(vec![
        Field::new("object", DataType::Utf8, false),
        Field::new("date", DataType::Utf8, false),
        Field::new("source_name", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        ts("last_modified"),
        Field::new("e_tag", DataType::Utf8, true),
        Field::new("run_id", DataType::Utf8, false),
        ts("processed_at"),
        Field::new("pending_rules", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(size: i64, at: i64, pending: &[&str]) -> ProcessedObject {
        ProcessedObject {
            object: "s3://b/o.parquet".into(),
            date: "2026-11-01".into(),
            source_name: "s".into(),
            size,
            last_modified: 0,
            e_tag: Some(format!("e{size}")),
            run_id: "r".into(),
            processed_at: at,
            pending_rules: Some(pending.iter().map(|p| (*p).to_owned()).collect()),
        }
    }

    #[test]
    fn a_version_is_url_size_and_etag_and_its_latest_row_wins() {
        let latest = latest_by_version(vec![row(0, 1, &[]), row(10, 2, &["r1"]), row(10, 5, &[]), row(10, 3, &["r1"])]);
        assert_eq!(latest.len(), 2, "the zero-byte upload and the completed object are two versions");
        let done = &latest[&row(10, 0, &[]).version()];
        assert_eq!((done.processed_at, done.pending()), (5, &[][..]));
    }
}
