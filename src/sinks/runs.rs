//! The `runs` table: one row per `auditlake run`, written last, as the run's commit marker.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

/// How a run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    #[default]
    Ok,
    /// Completed, some input rejected.
    Rejects,
    /// Completed, but some rules failed: see `failed_rules`; they are retried over the same
    /// objects by later runs.
    Partial,
    /// Nothing of the run counts; the next run covers its window again.
    Failed,
}

impl RunStatus {
    /// The statuses of runs that completed: their arrival window counts as covered.
    pub const COMPLETED: [RunStatus; 3] = [RunStatus::Ok, RunStatus::Rejects, RunStatus::Partial];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Rejects => "rejects",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }

    pub fn is_completed(self) -> bool {
        Self::COMPLETED.contains(&self)
    }
}

/// How a run chose its arrival window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    /// From the last completed run to now.
    #[default]
    Continue,
    /// A continuing run that also listed older partitions (`run.sweep_every`).
    Sweep,
    /// An explicit `--start/--end`.
    Window,
    /// An explicit window, evaluating processed objects again.
    Reprocess,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Continue => "continue",
            RunMode::Sweep => "sweep",
            RunMode::Window => "window",
            RunMode::Reprocess => "reprocess",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::fmt::Display for RunMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One row of `runs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    /// Partition: UTC date the run started.
    pub date: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub status: RunStatus,
    pub mode: RunMode,
    /// Arrival (landing) range this run covered, `[from, to)`; `from` is absent when unbounded.
    pub arrival_from: Option<i64>,
    pub arrival_to: i64,
    /// Event-time range of the newly landed events.
    pub event_from: Option<i64>,
    pub event_to: Option<i64>,
    pub rule_pack_hash: String,
    pub rules: i64,
    pub objects_new: i64,
    pub objects_already_processed: i64,
    pub objects_rejected: i64,
    pub rows_read: i64,
    pub rows_rejected: i64,
    pub duplicates_dropped: i64,
    /// Rows of other log categories (not audit events) skipped; absent in rows older than it.
    #[serde(default)]
    pub rows_skipped: i64,
    /// Skipped rows per log category, as a JSON object `{category: rows}`.
    #[serde(default)]
    pub skipped: String,
    /// Size of the objects read.
    pub bytes_read: i64,
    /// Bytes fetched from the stores: Parquet footers and the column chunks the pack needs.
    pub bytes_fetched: i64,
    /// Hits per rule, as a JSON object `{rule_id: rows}` (rules with hits only).
    pub hits: String,
    pub alerts_new: i64,
    pub alerts_updated: i64,
    pub duet_new: i64,
    pub duet_expired: i64,
    pub duration_ms: i64,
    pub version: String,
    pub error: Option<String>,
    /// New objects found in partitions older than the arrival window (late landings), by the
    /// `run.late_reach` listing or a sweep.
    #[serde(default)]
    pub objects_late: i64,
    /// Objects evaluated again for rules that had failed over them.
    #[serde(default)]
    pub objects_retried: i64,
    /// Rules that failed in this run, as a JSON object `{rule_id: error}` (`{}` when none).
    #[serde(default)]
    pub failed_rules: String,
}

/// The `runs` schema.
pub fn schema() -> SchemaRef {
    let ts = |n: &str, null: bool| Field::new(n, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), null);
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        s("run_id", false),
        s("date", false),
        ts("started_at", false),
        ts("finished_at", false),
        s("status", false),
        s("mode", false),
        ts("arrival_from", true),
        ts("arrival_to", false),
        ts("event_from", true),
        ts("event_to", true),
        s("rule_pack_hash", false),
        i("rules"),
        i("objects_new"),
        i("objects_already_processed"),
        i("objects_rejected"),
        i("rows_read"),
        i("rows_rejected"),
        i("duplicates_dropped"),
        i("bytes_read"),
        i("bytes_fetched"),
        s("hits", false),
        i("alerts_new"),
        i("alerts_updated"),
        i("duet_new"),
        i("duet_expired"),
        i("duration_ms"),
        s("version", false),
        s("error", true),
        // Added later: nullable, so tables written before them still take appends.
        Field::new("rows_skipped", DataType::Int64, true),
        s("skipped", true),
        Field::new("objects_late", DataType::Int64, true),
        Field::new("objects_retried", DataType::Int64, true),
        s("failed_rules", true),
    ]))
}
