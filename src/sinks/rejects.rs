//! The output `rejects` table: every input object or row a run could not use, with the object,
//! row and field, so nothing is lost silently. Keyed by a hash of (object, row, field, reason):
//! re-runs do not add copies.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

/// One row of the output `rejects` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectRecord {
    pub reject_id: String,
    /// Partition: UTC date of the run that found it.
    pub date: String,
    pub source_name: String,
    pub source: String,
    pub object: String,
    pub row: Option<i64>,
    pub field: Option<String>,
    pub reason: String,
    pub record: Option<String>,
    pub run_id: String,
}

/// The output `rejects` schema.
pub fn schema() -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        s("reject_id", false),
        s("date", false),
        s("source_name", false),
        s("source", false),
        s("object", false),
        Field::new("row", DataType::Int64, true),
        s("field", true),
        s("reason", false),
        s("record", true),
        s("run_id", false),
    ]))
}
