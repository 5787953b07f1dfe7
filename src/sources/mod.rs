//! Source adapters: one file per landed format. Each turns record batches read from its landed
//! Parquet objects into `audit_events` rows, and reports every record it cannot turn into one.
//!
//! Adding a format means adding a file here and a variant to [`SourceFormat`]; nothing downstream changes.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::normalize::record::Text;
use crate::normalize::{AuditEvent, AuditEventBuilder, Envelope, FieldError};

pub mod aks_diagnostics;
pub mod eks_cloudwatch;
pub mod k8s_audit;
pub mod layout;
pub mod listing;
pub mod security_lake;
pub mod store;
pub mod synthetic;

pub use aks_diagnostics::AksDiagnosticsSource;
pub use eks_cloudwatch::EksCloudWatchSource;
pub use k8s_audit::K8sAuditSource;
pub use security_lake::SecurityLakeSource;

/// The landed formats auditlake reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// audit.k8s.io Event fields as Parquet columns (nested camelCase or lower-cased/flattened).
    K8sAudit,
    /// One row per CloudWatch Logs event; `message` holds the audit event as JSON text.
    EksCloudwatch,
    /// Amazon Security Lake EKS_AUDIT 2.0 (OCSF 1.1 API Activity).
    SecurityLake,
    /// Azure diagnostic-setting records, categories kube-audit and kube-audit-admin.
    AksDiagnostics,
}

impl SourceFormat {
    pub const ALL: [SourceFormat; 4] = [
        SourceFormat::K8sAudit,
        SourceFormat::EksCloudwatch,
        SourceFormat::SecurityLake,
        SourceFormat::AksDiagnostics,
    ];

    /// The name used in config and in the `source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::K8sAudit => "k8s_audit",
            SourceFormat::EksCloudwatch => "eks_cloudwatch",
            SourceFormat::SecurityLake => "security_lake",
            SourceFormat::AksDiagnostics => "aks_diagnostics",
        }
    }

    /// The adapter for this format.
    pub fn adapter(self) -> &'static dyn SourceAdapter {
        match self {
            SourceFormat::K8sAudit => &K8sAuditSource,
            SourceFormat::EksCloudwatch => &EksCloudWatchSource,
            SourceFormat::SecurityLake => &SecurityLakeSource,
            SourceFormat::AksDiagnostics => &AksDiagnosticsSource,
        }
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SourceFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown source format '{s}' (expected one of k8s_audit, eks_cloudwatch, security_lake, aks_diagnostics)"))
    }
}

/// Longest reject reason kept, in bytes. Parser messages can embed the offending value (a 50 MB
/// string that is not a timestamp), so reasons are cut to an excerpt.
pub const MAX_REASON_BYTES: usize = 512;
/// Longest excerpt of a rejected record kept, in bytes; the whole record stays in the landed
/// object, at the reject's object and row.
pub const MAX_RECORD_BYTES: usize = 4096;

/// A record (or whole object) that could not be normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// URL of the landed object.
    pub object: String,
    /// Row number inside the object (0-based); `None` when the whole object was rejected.
    pub row: Option<i64>,
    /// The offending field, when one can be named.
    pub field: Option<String>,
    /// Why, at most [`MAX_REASON_BYTES`].
    pub reason: String,
    /// An excerpt of the rejected record's text, when it has one (the JSON message, the log
    /// line), at most [`MAX_RECORD_BYTES`].
    pub record: Option<String>,
}

impl Reject {
    /// A reject with its reason and record cut to excerpts, so what a run keeps and logs does
    /// not grow with the size of the bad values.
    pub fn new(object: &str, row: Option<i64>, field: Option<String>, reason: &str, record: Option<&str>) -> Self {
        Reject {
            object: object.to_owned(),
            row,
            field: field.map(|f| excerpt(&f, MAX_REASON_BYTES)),
            reason: excerpt(reason, MAX_REASON_BYTES),
            record: record.map(|r| excerpt(r, MAX_RECORD_BYTES)),
        }
    }
}

/// `text` when it fits in `max` bytes; else its start, cut on a char boundary, followed by a note
/// of its full length, the whole at most `max` bytes.
pub fn excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let note = format!("… [{} bytes in all]", text.len());
    let mut cut = max.saturating_sub(note.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{note}", &text[..cut])
}

/// Rows skipped per log category: records of the landing that are not audit events (the
/// authenticator or scheduler streams of an EKS log group, AKS `guard` logs), keyed by category.
pub type SkippedRows = std::collections::BTreeMap<String, u64>;

/// What the adapter knows about the batch being normalized.
#[derive(Debug, Clone, Default)]
pub struct BatchContext<'a> {
    /// URL of the object the batch came from.
    pub object: &'a str,
    /// Row number (in the object) of the batch's first row.
    pub first_row: i64,
    /// Values known for the whole object: from the partition path, the source config, object metadata.
    pub defaults: Envelope<'a>,
}

impl BatchContext<'_> {
    /// The object's envelope values, overridden per row where the row has its own.
    pub fn envelope<'r>(&'r self, account: Option<Text<'r>>, region: Option<Text<'r>>, cluster: Option<Text<'r>>, fallback_time: Option<i64>) -> Envelope<'r> {
        let d = &self.defaults;
        let borrow = |v: &'r Option<Text<'_>>| v.as_deref().map(Cow::Borrowed);
        Envelope {
            cloud_account: account.or_else(|| borrow(&d.cloud_account)),
            region: region.or_else(|| borrow(&d.region)),
            cluster: cluster.or_else(|| borrow(&d.cluster)),
            ingest_time: d.ingest_time,
            fallback_time: fallback_time.or(d.fallback_time),
        }
    }
}

/// Collects the output of one batch: good rows into the builder, bad ones into `rejects`, rows
/// of other log categories into `skipped`.
pub struct BatchOutput<'o> {
    pub rows: &'o mut AuditEventBuilder,
    pub rejects: &'o mut Vec<Reject>,
    pub skipped: &'o mut SkippedRows,
}

impl BatchOutput<'_> {
    /// Appends a decoded event, or records why it was rejected, with the raw record text.
    pub fn emit(&mut self, ctx: &BatchContext<'_>, row: usize, env: &Envelope<'_>, event: Result<AuditEvent<'_>, FieldError>, record: Option<&str>) -> Result<()> {
        let row_no = ctx.first_row + row as i64;
        let event = event.and_then(|e| AuditEvent::filed_time(e.event_time(), env.fallback_time).map(|t| (e, t)));
        match event {
            Ok((e, t)) => self.rows.append(env, &e, t, ctx.object, row_no),
            Err(err) => {
                self.reject(ctx, row, Some(err.field), &err.reason, record);
                Ok(())
            }
        }
    }

    /// Records a rejected row (reason and record as excerpts).
    pub fn reject(&mut self, ctx: &BatchContext<'_>, row: usize, field: Option<String>, reason: &str, record: Option<&str>) {
        self.rejects.push(Reject::new(ctx.object, Some(ctx.first_row + row as i64), field, reason, record));
    }

    /// Counts a row of another log category: expected in the landing, not an error.
    pub fn skip(&mut self, category: &str) {
        if let Some(n) = self.skipped.get_mut(category) {
            *n += 1;
            return;
        }
        // Names come from the data: bounded so that a stray value cannot grow the counts' keys.
        *self.skipped.entry(excerpt(category, MAX_CATEGORY_BYTES)).or_default() += 1;
    }
}

/// Longest log-category name kept in the skipped counts.
const MAX_CATEGORY_BYTES: usize = 64;

/// One landed format's reader.
pub trait SourceAdapter: Send + Sync {
    fn format(&self) -> SourceFormat;

    /// Indices of the top-level columns of `file_schema` this adapter reads, or an error naming
    /// the required column the file lacks (the object is then rejected whole).
    fn columns_to_read(&self, file_schema: &Schema) -> Result<Vec<usize>, FieldError>;

    /// Normalizes one batch (projected to [`columns_to_read`](Self::columns_to_read)).
    fn normalize(&self, batch: &RecordBatch, ctx: &BatchContext<'_>, out: &mut BatchOutput<'_>) -> Result<()>;

    /// Paths (case-insensitive, through structs) of the text columns the scan reads as string
    /// views of the decompressed Parquet pages instead of copying every value into a new buffer:
    /// JSON events the adapter parses in place (the whole event, ~1.2 KB per row), whose bodies
    /// then stay views of that text, and bodies passed on as they are (`audit_events` holds
    /// bodies as views).
    fn text_read_as_views(&self) -> &'static [&'static [&'static str]] {
        &[]
    }
}

/// Indices of the top-level columns named (case-insensitively) in `wanted`; missing ones are skipped.
pub(crate) fn column_indices(schema: &Schema, wanted: &[&str]) -> Vec<usize> {
    schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| wanted.iter().any(|w| f.name().eq_ignore_ascii_case(w)))
        .map(|(i, _)| i)
        .collect()
}

/// True when `schema` has a top-level column named `name` (ignoring case).
pub(crate) fn has_column(schema: &Schema, name: &str) -> bool {
    schema.fields().iter().any(|f| f.name().eq_ignore_ascii_case(name))
}
