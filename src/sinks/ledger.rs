//! The `processed_objects` table: every landed object a run has evaluated. A run lists what
//! landed, skips what is here, and appends what it evaluated after its outputs are committed, so a
//! crash between the two re-evaluates (idempotently) rather than skips.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
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
    ]))
}
