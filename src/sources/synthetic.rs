//! Record batches of each landed format built from plain values, and one call that normalizes a
//! batch: what the property tests and the fuzz targets (`fuzz/`) feed the adapters. Only the
//! columns the adapters' failure paths depend on are filled; the rest are absent, as they may be
//! in a real landing.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array, MapBuilder, StringArray, StringBuilder, StructArray, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit, TimestampMicrosecondType};
use datafusion::arrow::record_batch::RecordBatch;

use super::{BatchContext, BatchOutput, Reject, SkippedRows, SourceFormat};
use crate::Result;
use crate::normalize::builder;
use crate::normalize::record::Text;
use crate::normalize::AuditEventBuilder;
use crate::normalize::schema::{EVENT_TIME, REQUEST_RECEIVED_TIME};
use crate::normalize::time::supported_event_time;

/// The object every synthetic batch claims to come from.
pub const OBJECT: &str = "file:///synthetic/part-0.parquet";

/// One CloudWatch Logs row (`eks_cloudwatch`).
#[derive(Debug, Clone, Default)]
pub struct CloudWatchRow {
    pub log_stream: Option<String>,
    /// Epoch milliseconds.
    pub timestamp: Option<i64>,
    pub message: Option<String>,
}

/// One Azure diagnostic record (`aks_diagnostics`) with `properties.log` as text.
#[derive(Debug, Clone, Default)]
pub struct AksRow {
    pub time: Option<String>,
    pub category: Option<String>,
    pub log: Option<String>,
}

/// One OCSF row (`security_lake`).
#[derive(Debug, Clone, Default)]
pub struct SecurityLakeRow {
    /// `time`, epoch milliseconds.
    pub time: Option<i64>,
    pub unmapped: Option<Vec<(String, String)>>,
    /// `api.request.data`, JSON text (OCSF 1.5).
    pub request_data: Option<String>,
}

/// A time column of a typed landing, in one of the types landings use.
#[derive(Debug, Clone)]
pub enum TimeColumn {
    Text(Vec<Option<String>>),
    Int64(Vec<Option<i64>>),
    UInt64(Vec<Option<u64>>),
    Timestamp(TimeUnit, Vec<Option<i64>>),
}

impl TimeColumn {
    fn array(&self) -> Result<ArrayRef> {
        Ok(match self {
            TimeColumn::Text(v) => Arc::new(StringArray::from(v.clone())),
            TimeColumn::Int64(v) => Arc::new(Int64Array::from(v.clone())),
            TimeColumn::UInt64(v) => Arc::new(UInt64Array::from(v.clone())),
            // Int64 to timestamp reinterprets the counts: no value is lost on the way in.
            TimeColumn::Timestamp(unit, v) => cast(&Int64Array::from(v.clone()), &DataType::Timestamp(*unit, Some("UTC".into())))?,
        })
    }
}

/// The columns of a typed landing (`k8s_audit`) that can fail to decode, plus its required ones.
#[derive(Debug, Clone)]
pub struct K8sAuditColumns {
    pub audit_id: Vec<Option<String>>,
    pub stage_timestamp: TimeColumn,
    pub request_received_timestamp: TimeColumn,
    /// JSON text.
    pub request_object: Vec<Option<String>>,
}

fn strings<'a>(v: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(v.collect::<StringArray>())
}

fn struct_of(children: Vec<(&str, ArrayRef)>) -> ArrayRef {
    Arc::new(StructArray::from(
        children.into_iter().map(|(name, a)| (Arc::new(Field::new(name, a.data_type().clone(), true)), a)).collect::<Vec<_>>(),
    ))
}

/// CloudWatch rows of the log group of cluster `synthetic`.
pub fn eks_cloudwatch(rows: &[CloudWatchRow]) -> Result<RecordBatch> {
    Ok(RecordBatch::try_from_iter([
        ("logGroup", strings(rows.iter().map(|_| Some("/aws/eks/synthetic/cluster")))),
        ("logStream", strings(rows.iter().map(|r| r.log_stream.as_deref()))),
        ("timestamp", Arc::new(rows.iter().map(|r| r.timestamp).collect::<Int64Array>()) as ArrayRef),
        ("message", strings(rows.iter().map(|r| r.message.as_deref()))),
    ])?)
}

/// Diagnostic records of one AKS cluster.
pub fn aks_diagnostics(rows: &[AksRow]) -> Result<RecordBatch> {
    const ID: &str = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/SYNTHETIC";
    Ok(RecordBatch::try_from_iter([
        ("time", strings(rows.iter().map(|r| r.time.as_deref()))),
        ("resourceId", strings(rows.iter().map(|_| Some(ID)))),
        ("category", strings(rows.iter().map(|r| r.category.as_deref()))),
        ("properties", struct_of(vec![("log", strings(rows.iter().map(|r| r.log.as_deref())))])),
    ])?)
}

/// OCSF rows with `unmapped` as a map column.
pub fn security_lake(rows: &[SecurityLakeRow]) -> Result<RecordBatch> {
    let mut unmapped = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for r in rows {
        let kv: Option<Vec<(Text<'_>, Text<'_>)>> = r.unmapped.as_ref().map(|kv| kv.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str()))).collect());
        builder::pairs(&mut unmapped, kv.as_ref())?;
    }
    let request = struct_of(vec![("data", strings(rows.iter().map(|r| r.request_data.as_deref())))]);
    Ok(RecordBatch::try_from_iter([
        ("api", struct_of(vec![("operation", strings(rows.iter().map(|_| Some("create")))), ("request", request)])),
        ("time", Arc::new(rows.iter().map(|r| r.time).collect::<Int64Array>()) as ArrayRef),
        ("unmapped", Arc::new(unmapped.finish()) as ArrayRef),
    ])?)
}

/// A typed landing (audit Event fields as columns).
pub fn k8s_audit(c: &K8sAuditColumns) -> Result<RecordBatch> {
    Ok(RecordBatch::try_from_iter([
        ("auditID", strings(c.audit_id.iter().map(Option::as_deref))),
        ("verb", strings(c.audit_id.iter().map(|_| Some("get")))),
        ("stageTimestamp", c.stage_timestamp.array()?),
        ("requestReceivedTimestamp", c.request_received_timestamp.array()?),
        ("requestObject", strings(c.request_object.iter().map(Option::as_deref))),
    ])?)
}

/// Normalizes `batch` with `format`'s adapter: the `audit_events` batches, the rejects, and how
/// many rows were skipped as another log category.
pub fn normalize(format: SourceFormat, batch: &RecordBatch) -> Result<(Vec<RecordBatch>, Vec<Reject>, u64)> {
    let ctx = BatchContext { object: OBJECT, ..BatchContext::default() };
    let (mut rows, mut rejects, mut skipped) = (AuditEventBuilder::new(format.as_str(), "synthetic"), Vec::new(), SkippedRows::default());
    format.adapter().normalize(batch, &ctx, &mut BatchOutput { rows: &mut rows, rejects: &mut rejects, skipped: &mut skipped })?;
    Ok((rows.finish_batches()?, rejects, skipped.values().sum()))
}

/// Normalizes `batch` and checks what every adapter promises: the batch does not fail, every row
/// comes out as an event, as a reject naming its row and field, or skipped as another log
/// category, and every time in the output is a supported event time. Returns the number of
/// events, or the promise broken.
pub fn check_normalize(format: SourceFormat, batch: &RecordBatch) -> std::result::Result<usize, String> {
    let n = batch.num_rows();
    let (events, rejects, skipped) = normalize(format, batch).map_err(|e| format!("the batch failed: {e}"))?;
    let emitted: usize = events.iter().map(RecordBatch::num_rows).sum();
    if emitted + rejects.len() + skipped as usize != n {
        return Err(format!("{n} rows in, {emitted} events, {} rejects and {skipped} skipped out: {rejects:?}", rejects.len()));
    }
    if let Some(r) = rejects.iter().find(|r| r.field.is_none() || !r.row.is_some_and(|row| (0..n as i64).contains(&row))) {
        return Err(format!("a reject without its field or row: {r:?}"));
    }
    for b in &events {
        for column in [EVENT_TIME, REQUEST_RECEIVED_TIME] {
            let times = b.column_by_name(column).ok_or_else(|| format!("no {column} column"))?;
            let times = times.as_primitive_opt::<TimestampMicrosecondType>().ok_or_else(|| format!("{column} is not microseconds"))?;
            if let Some(t) = times.iter().flatten().find(|t| supported_event_time(*t).is_none()) {
                return Err(format!("{column} {t} is outside the supported range"));
            }
        }
    }
    Ok(emitted)
}
