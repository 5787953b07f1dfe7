//! Reading landed objects inside a DataFusion plan: each plan partition streams a group of objects,
//! decodes them through their source adapter, drops duplicates and out-of-window rows, and routes
//! rejects to the report (or, for the `rejects` table, to its output).

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray, new_null_array};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType};
use datafusion::execution::TaskContext;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use futures::future::BoxFuture;
// ParquetObjectReader is deprecated in parquet 59 in favour of hand-written AsyncFileReaders; it
// still does exactly what is needed here (ranged GETs through object_store).
#[allow(deprecated)]
use datafusion::parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;
use object_store::ObjectStore;
use tokio::sync::mpsc::Sender;

use super::report::{ScanReport, SourceCounts};
use super::window::TimeWindow;
use crate::config::SourceConfig;
use crate::normalize::record::Text;
use crate::normalize::schema::{AUDIT_ID, CLUSTER, EVENT_TIME, SOURCE, SOURCE_NAME, STAGE};
use crate::normalize::{AuditEventBuilder, Envelope};
use crate::sources::layout::Layout;
use crate::sources::listing::{LandedObject, SourceLocation, first_objects};
use crate::sources::{BatchContext, BatchOutput, Reject, SkippedRows};
use crate::Result;

/// Columns of the `rejects` table.
pub const REJECT_COLUMNS: [&str; 7] = [SOURCE_NAME, SOURCE, "object", "row", "field", "reason", "record"];
/// Lineage columns appended to each raw source table.
pub const RAW_OBJECT_COLUMN: &str = "_object";
pub const RAW_ROW_COLUMN: &str = "_row";

/// The `rejects` table schema.
pub fn rejects_schema() -> SchemaRef {
    let [source_name, source, object, row, field, reason, record] = REJECT_COLUMNS;
    Arc::new(Schema::new(vec![
        Field::new(source_name, DataType::Utf8, false),
        Field::new(source, DataType::Utf8, false),
        Field::new(object, DataType::Utf8, false),
        Field::new(row, DataType::Int64, true),
        Field::new(field, DataType::Utf8, true),
        Field::new(reason, DataType::Utf8, false),
        Field::new(record, DataType::Utf8, true),
    ]))
}

/// A configured source, resolved to its store, location and layout.
#[derive(Debug)]
pub struct ResolvedSource {
    pub config: SourceConfig,
    pub location: SourceLocation,
    pub layout: Layout,
    pub store: Arc<dyn ObjectStore>,
    /// Upper margin when pruning landing partitions, microseconds.
    pub lateness: i64,
    /// Lower margin when pruning landing partitions, microseconds.
    pub clock_skew: i64,
}

impl ResolvedSource {
    /// The event times an object's partition can hold, `(from, to)` exclusive: a record lands
    /// between `clock_skew` before and `lateness` after its event. `None` when the key has no time.
    pub fn event_span(&self, object: &LandedObject) -> Option<(i64, i64)> {
        let (start, end) = object.partition.as_ref()?.time_span?;
        Some((start.saturating_sub(self.lateness), end.saturating_add(self.clock_skew)))
    }
}

/// What a scan produces.
#[derive(Debug, Clone)]
pub enum ScanOutput {
    /// Normalized `audit_events` rows.
    Events,
    /// `rejects` rows.
    Rejects,
    /// The source's own columns (adapted to `schema`) plus lineage columns.
    Raw(SchemaRef),
}

/// State shared by every partition of one scan.
#[derive(Debug)]
pub struct ScanShared {
    pub output: ScanOutput,
    /// Exact event-time bounds `[from, to)` rows must fall in (Events only).
    pub window: TimeWindow,
    pub report: Arc<ScanReport>,
    pub batch_size: usize,
    /// Keys `(cluster, audit_id, stage)` already emitted by this scan, as 128-bit hashes.
    pub seen: Mutex<SeenKeys>,
}

/// One plan partition: a group of objects read in order.
#[derive(Debug)]
pub struct ObjectGroup {
    pub schema: SchemaRef,
    pub objects: Vec<(Arc<ResolvedSource>, LandedObject)>,
    pub shared: Arc<ScanShared>,
}

impl PartitionStream for ObjectGroup {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder = RecordBatchReceiverStream::builder(Arc::clone(&self.schema), 2);
        let tx = builder.tx();
        let objects = self.objects.clone();
        let shared = Arc::clone(&self.shared);
        builder.spawn(async move {
            for (source, object) in objects {
                let mut counts = SourceCounts { objects_opened: 1, ..SourceCounts::default() };
                let keep_going = read_object(&source, &object, &shared, &tx, &mut counts).await;
                shared.report.add(&source.config.name, &counts);
                if !keep_going {
                    break;
                }
            }
            Ok(())
        });
        builder.build()
    }
}

/// The 128-bit key `(cluster, audit_id, stage)` of an event, for dropping duplicate deliveries.
/// Fields are length-prefixed into `buf` so that no two keys encode alike; XXH3 makes a collision
/// (a distinct event dropped as a duplicate) vanishingly unlikely at any window size.
fn key_hash(buf: &mut Vec<u8>, cluster: Option<&str>, audit_id: &str, stage: Option<&str>) -> u128 {
    buf.clear();
    for field in [cluster, Some(audit_id), stage] {
        match field {
            Some(f) => {
                buf.push(1);
                buf.extend_from_slice(&(f.len() as u32).to_le_bytes());
                buf.extend_from_slice(f.as_bytes());
            }
            None => buf.push(0),
        }
    }
    twox_hash::XxHash3_128::oneshot(buf)
}

/// Keys are hashes already: the set uses their bits as they are instead of hashing them again.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, i: u128) {
        self.0 = (i as u64) ^ ((i >> 64) as u64);
    }
}

/// Keys of the events a scan has emitted.
pub type SeenKeys = HashSet<u128, BuildHasherDefault<KeyHasher>>;

/// Keeps rows inside the window and not seen before; counts what it drops.
fn filter_events(batch: &RecordBatch, shared: &ScanShared, counts: &mut SourceCounts) -> datafusion::error::Result<RecordBatch> {
    let schema = batch.schema();
    let col = |name: &str| -> datafusion::error::Result<&ArrayRef> { Ok(batch.column(schema.index_of(name)?)) };
    let times = col(EVENT_TIME)?.as_primitive::<TimestampMicrosecondType>();
    let clusters = col(CLUSTER)?.as_string::<i32>();
    let ids = col(AUDIT_ID)?.as_string::<i32>();
    let stages = col(STAGE)?.as_string::<i32>();
    enum Row {
        OutOfWindow,
        /// No audit id to de-duplicate by: kept.
        NoId,
        Key(u128),
    }
    // Keys are hashed before taking the lock the scan's partitions share.
    let mut buf = Vec::with_capacity(128);
    let rows: Vec<Row> = (0..batch.num_rows())
        .map(|i| {
            if !shared.window.contains(times.value(i)) {
                counts.rows_out_of_window += 1;
                return Row::OutOfWindow;
            }
            if ids.is_null(i) {
                return Row::NoId;
            }
            let cluster = clusters.is_valid(i).then(|| clusters.value(i));
            let stage = stages.is_valid(i).then(|| stages.value(i));
            Row::Key(key_hash(&mut buf, cluster, ids.value(i), stage))
        })
        .collect();
    let mut seen = shared.seen.lock().expect("dedup set lock poisoned");
    let mask: BooleanArray = rows
        .into_iter()
        .map(|row| {
            Some(match row {
                Row::OutOfWindow => false,
                Row::NoId => true,
                Row::Key(k) => {
                    let fresh = seen.insert(k);
                    if !fresh {
                        counts.duplicates_dropped += 1;
                    }
                    fresh
                }
            })
        })
        .collect();
    drop(seen);
    Ok(filter_record_batch(batch, &mask)?)
}

fn rejects_batch(source: &ResolvedSource, rejects: &[Reject]) -> datafusion::error::Result<RecordBatch> {
    let s = |f: &dyn Fn(&Reject) -> Option<String>| -> ArrayRef { Arc::new(rejects.iter().map(f).collect::<StringArray>()) };
    let name = source.config.name.clone();
    let format = source.config.format.as_str();
    Ok(RecordBatch::try_new(
        rejects_schema(),
        vec![
            s(&|_| Some(name.clone())),
            s(&|_| Some(format.to_owned())),
            s(&|r| Some(r.object.clone())),
            Arc::new(rejects.iter().map(|r| r.row).collect::<Int64Array>()),
            s(&|r| r.field.clone()),
            s(&|r| Some(r.reason.clone())),
            s(&|r| r.record.clone()),
        ],
    )?)
}

/// Conforms a raw batch to the table schema: columns by name (ignoring case), cast where the
/// types differ, null where absent; then appends the lineage columns.
fn adapt_raw(batch: &RecordBatch, schema: &SchemaRef, object: &str, first_row: i64) -> datafusion::error::Result<RecordBatch> {
    let n = batch.num_rows();
    let bschema = batch.schema();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let col = match f.name().as_str() {
            RAW_OBJECT_COLUMN => Arc::new(StringArray::from(vec![object; n])) as ArrayRef,
            RAW_ROW_COLUMN => Arc::new(Int64Array::from_iter_values(first_row..first_row + n as i64)),
            name => match bschema.fields().iter().position(|b| b.name().eq_ignore_ascii_case(name)) {
                Some(i) if batch.column(i).data_type() == f.data_type() => Arc::clone(batch.column(i)),
                Some(i) => cast(batch.column(i), f.data_type()).unwrap_or_else(|_| new_null_array(f.data_type(), n)),
                None => new_null_array(f.data_type(), n),
            },
        };
        cols.push(col);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), cols)?)
}

fn object_defaults<'a>(source: &'a ResolvedSource, object: &'a LandedObject) -> Envelope<'a> {
    let part = object.partition.as_ref();
    let pick = |p: Option<&'a String>, c: &'a Option<String>| p.or(c.as_ref()).map(|s| Text::Borrowed(s.as_str()));
    let cfg = &source.config;
    Envelope {
        cloud_account: pick(part.and_then(|p| p.account.as_ref()), &cfg.account),
        region: pick(part.and_then(|p| p.region.as_ref()), &cfg.region),
        cluster: pick(part.and_then(|p| p.cluster.as_ref()), &cfg.cluster),
        ingest_time: part
            .and_then(|p| p.time_span)
            .map(|(start, _)| start)
            .or_else(|| Some(object.meta.last_modified.timestamp_micros())),
        fallback_time: None,
    }
}

/// `metadata` reading the text columns at `paths` as string views (Parquet then hands out views
/// of its decompressed pages instead of copying each value). Unchanged when no such column is a
/// string, or when the reader refuses the hint (a copy reads the same values).
fn read_as_views(metadata: ArrowReaderMetadata, paths: &[&[&str]]) -> ArrowReaderMetadata {
    fn as_view(field: &Field, path: &[&str]) -> Option<Field> {
        let (first, rest) = path.split_first()?;
        if !field.name().eq_ignore_ascii_case(first) {
            return None;
        }
        match (field.data_type(), rest) {
            (DataType::Utf8 | DataType::LargeUtf8, []) => Some(field.clone().with_data_type(DataType::Utf8View)),
            (DataType::Struct(children), [_, ..]) => {
                let mut changed = false;
                let children: Vec<Field> = children
                    .iter()
                    .map(|c| as_view(c, rest).inspect(|_| changed = true).unwrap_or_else(|| c.as_ref().clone()))
                    .collect();
                changed.then(|| field.clone().with_data_type(DataType::Struct(children.into())))
            }
            _ => None,
        }
    }
    let schema = metadata.schema();
    let mut changed = false;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let mut field = f.as_ref().clone();
            for path in paths {
                if let Some(v) = as_view(&field, path) {
                    field = v;
                    changed = true;
                }
            }
            field
        })
        .collect();
    if !changed {
        return metadata;
    }
    let hint = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    ArrowReaderMetadata::try_new(Arc::clone(metadata.metadata()), ArrowReaderOptions::new().with_schema(hint)).unwrap_or(metadata)
}

/// The schema of the first readable object of a source, if any.
#[allow(deprecated)]
pub(crate) async fn sample_schema(source: &ResolvedSource) -> Result<Option<SchemaRef>> {
    for meta in first_objects(source.store.as_ref(), &source.location, &source.config.extension, 5).await? {
        let reader = ParquetObjectReader::new(Arc::clone(&source.store), meta.location.clone()).with_file_size(meta.size);
        if let Ok(b) = ParquetRecordBatchStreamBuilder::new(reader).await {
            return Ok(Some(Arc::clone(b.schema())));
        }
    }
    Ok(None)
}

/// Reads one object into `tx`. Returns false when the consumer has gone away.
#[allow(deprecated)]
async fn read_object(
    source: &ResolvedSource,
    object: &LandedObject,
    shared: &ScanShared,
    tx: &Sender<datafusion::error::Result<RecordBatch>>,
    counts: &mut SourceCounts,
) -> bool {
    let fetched = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = CountingReader {
        inner: ParquetObjectReader::new(Arc::clone(&source.store), object.meta.location.clone()).with_file_size(object.meta.size),
        size: object.meta.size,
        fetched: Arc::clone(&fetched),
    };
    counts.bytes_read += object.meta.size;
    let keep_going = read_batches(source, object, shared, tx, counts, reader).await;
    counts.bytes_fetched += fetched.load(std::sync::atomic::Ordering::Relaxed);
    keep_going
}

/// Reads an object through `reader` (ranged GETs of the footer and the projected column chunks).
#[allow(deprecated)]
async fn read_batches(
    source: &ResolvedSource,
    object: &LandedObject,
    shared: &ScanShared,
    tx: &Sender<datafusion::error::Result<RecordBatch>>,
    counts: &mut SourceCounts,
    mut reader: CountingReader,
) -> bool {
    let mut rejects: Vec<Reject> = Vec::new();
    let mut skipped = SkippedRows::new();
    let object_reject = |reason: String, field: Option<String>, rejects: &mut Vec<Reject>, counts: &mut SourceCounts| {
        counts.objects_rejected += 1;
        rejects.push(Reject::new(&object.url, None, field, &reason, None));
    };
    let metadata = match ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new()).await {
        Ok(m) => m,
        Err(e) if is_transient(&e) => return fail_transient(object, e, tx).await,
        Err(e) => {
            object_reject(format!("not a readable Parquet object: {e}"), None, &mut rejects, counts);
            return flush_rejects(source, shared, tx, &mut rejects).await;
        }
    };
    let adapter = source.config.format.adapter();
    let metadata = match &shared.output {
        ScanOutput::Raw(_) => metadata,
        _ => read_as_views(metadata, adapter.text_read_as_views()),
    };
    let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata);
    let mask = match &shared.output {
        ScanOutput::Raw(_) => ProjectionMask::all(),
        _ => match adapter.columns_to_read(builder.schema()) {
            Ok(cols) => ProjectionMask::roots(builder.parquet_schema(), cols),
            Err(e) => {
                object_reject(format!("{} is not in {} format: {}", object.url, source.config.format, e.reason), Some(e.field), &mut rejects, counts);
                return flush_rejects(source, shared, tx, &mut rejects).await;
            }
        },
    };
    let mut stream = match builder.with_projection(mask).with_batch_size(shared.batch_size).build() {
        Ok(s) => s,
        Err(e) => {
            object_reject(format!("cannot read Parquet object: {e}"), None, &mut rejects, counts);
            return flush_rejects(source, shared, tx, &mut rejects).await;
        }
    };
    let defaults = object_defaults(source, object);
    let mut rows = AuditEventBuilder::new(source.config.format.as_str(), &source.config.name);
    let mut first_row = 0i64;
    while let Some(batch) = stream.next().await {
        let batch = match batch {
            Ok(b) => b,
            Err(e) if is_transient(&e) => return fail_transient(object, e, tx).await,
            Err(e) => {
                object_reject(format!("Parquet object unreadable from row {first_row} on: {e}"), None, &mut rejects, counts);
                break;
            }
        };
        counts.rows_read += batch.num_rows() as u64;
        let ctx = BatchContext { object: &object.url, first_row, defaults: defaults.clone() };
        let before = rejects.len();
        let out = match &shared.output {
            ScanOutput::Raw(schema) => adapt_raw(&batch, schema, &object.url, first_row).map(|b| vec![b]),
            _ => {
                let mut sink = BatchOutput { rows: &mut rows, rejects: &mut rejects, skipped: &mut skipped };
                let normalized = adapter.normalize(&batch, &ctx, &mut sink).and_then(|()| rows.finish_batches());
                counts.rows_skipped += skipped.values().sum::<u64>();
                shared.report.add_skipped(&skipped);
                skipped.clear();
                match normalized {
                    Ok(batches) => batches.iter().map(|b| filter_events(b, shared, counts)).collect::<datafusion::error::Result<Vec<_>>>(),
                    Err(e) => {
                        object_reject(format!("cannot normalize rows {first_row}..{}: {e}", first_row + batch.num_rows() as i64), None, &mut rejects, counts);
                        break;
                    }
                }
            }
        };
        counts.rows_rejected += (rejects.len() - before) as u64;
        first_row += batch.num_rows() as i64;
        // Rejects leave batch by batch: what the scan holds does not grow with an object's rejects.
        if !flush_rejects(source, shared, tx, &mut rejects).await {
            return false;
        }
        if matches!(shared.output, ScanOutput::Rejects) {
            continue;
        }
        let out = match out {
            Ok(batches) => batches.into_iter().filter(|b| b.num_rows() > 0).map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        for b in out {
            if tx.send(b).await.is_err() {
                return false;
            }
        }
    }
    flush_rejects(source, shared, tx, &mut rejects).await
}

/// A Parquet reader that counts the bytes it fetches from the store (footer and column chunks), so
/// reports show what projection and range reads saved.
struct CountingReader {
    #[allow(deprecated)]
    inner: ParquetObjectReader,
    size: u64,
    fetched: Arc<std::sync::atomic::AtomicU64>,
}

impl CountingReader {
    fn count(&self, n: usize) {
        self.fetched.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

impl AsyncFileReader for CountingReader {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> BoxFuture<'_, datafusion::parquet::errors::Result<bytes::Bytes>> {
        Box::pin(async move {
            let b = self.inner.get_bytes(range).await?;
            self.count(b.len());
            Ok(b)
        })
    }

    fn get_byte_ranges(&mut self, ranges: Vec<std::ops::Range<u64>>) -> BoxFuture<'_, datafusion::parquet::errors::Result<Vec<bytes::Bytes>>> {
        Box::pin(async move {
            let parts = self.inner.get_byte_ranges(ranges).await?;
            self.count(parts.iter().map(bytes::Bytes::len).sum());
            Ok(parts)
        })
    }

    fn get_metadata<'a>(&'a mut self, options: Option<&'a ArrowReaderOptions>) -> BoxFuture<'a, datafusion::parquet::errors::Result<Arc<ParquetMetaData>>> {
        Box::pin(async move {
            let size = self.size;
            // One GET for the footer in the common case (metadata under 64 KiB).
            let reader = ParquetMetaDataReader::new().with_prefetch_hint(Some(64 * 1024)).with_metadata_options(options.map(|o| o.metadata_options().clone()));
            Ok(Arc::new(reader.load_and_finish(self, size).await?))
        })
    }
}

/// Whether a read failed because of the store (network, throttling, a vanished object) rather
/// than the object's content. Such failures must fail the query, retryably: rejecting the object
/// would record it as processed and lose its events.
fn is_transient(e: &datafusion::parquet::errors::ParquetError) -> bool {
    matches!(e, datafusion::parquet::errors::ParquetError::External(inner) if inner.downcast_ref::<object_store::Error>().is_some())
}

/// Fails the scan with a store error naming the object. Returns false: stop reading.
async fn fail_transient(object: &LandedObject, e: datafusion::parquet::errors::ParquetError, tx: &Sender<datafusion::error::Result<RecordBatch>>) -> bool {
    let msg = format!("reading {} failed (retryable): {e}", object.url);
    let _ = tx.send(Err(datafusion::error::DataFusionError::External(msg.into()))).await;
    false
}

/// Hands `rejects` on (drained): to the `rejects` table's output when scanning it, else to the
/// report, which counts them all and keeps a bounded number. Returns false when the consumer
/// has gone away.
async fn flush_rejects(source: &ResolvedSource, shared: &ScanShared, tx: &Sender<datafusion::error::Result<RecordBatch>>, rejects: &mut Vec<Reject>) -> bool {
    if rejects.is_empty() {
        return true;
    }
    if matches!(shared.output, ScanOutput::Rejects) {
        let batch = rejects_batch(source, rejects);
        rejects.clear();
        return tx.send(batch).await.is_ok();
    }
    shared.report.record_rejects(&source.config.name, source.config.format.as_str(), rejects);
    true
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{StringViewArray, StructArray};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    /// A Parquet object with a top-level text column, a struct holding one, and an integer.
    fn object() -> bytes::Bytes {
        let log: ArrayRef = Arc::new(StringArray::from(vec![r#"{"verb":"get"}"#, r#"{"verb":"list"}"#]));
        let properties = StructArray::from(vec![(Arc::new(Field::new("log", DataType::Utf8, true)), log)]);
        let batch = RecordBatch::try_from_iter([
            ("Message", Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef),
            ("properties", Arc::new(properties) as ArrayRef),
            ("other", Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef),
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ])
        .unwrap();
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        buf.into()
    }

    #[test]
    fn parsed_text_columns_are_read_as_views_of_the_pages() {
        let bytes = object();
        let metadata = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new()).unwrap();
        let metadata = read_as_views(metadata, &[&["message"], &["properties", "log"], &["n"]]);
        let mut reader = ParquetRecordBatchReaderBuilder::new_with_metadata(bytes, metadata).build().unwrap();
        let batch = reader.next().unwrap().unwrap();
        let message = batch.column_by_name("Message").unwrap();
        assert_eq!(message.data_type(), &DataType::Utf8View);
        assert_eq!(message.as_any().downcast_ref::<StringViewArray>().unwrap().value(1), "b");
        let log = batch.column_by_name("properties").unwrap().as_struct().column_by_name("log").unwrap().clone();
        assert_eq!(log.data_type(), &DataType::Utf8View);
        assert_eq!(log.as_string_view().value(0), r#"{"verb":"get"}"#);
        // Columns not named, and non-text ones, read as they are.
        assert_eq!(batch.column_by_name("other").unwrap().data_type(), &DataType::Utf8);
        assert_eq!(batch.column_by_name("n").unwrap().data_type(), &DataType::Int64);
    }

    #[test]
    fn no_text_column_to_parse_leaves_the_schema_alone() {
        let bytes = object();
        let metadata = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new()).unwrap();
        let before = Arc::clone(metadata.schema());
        assert_eq!(read_as_views(metadata, &[&["properties"], &["missing"]]).schema(), &before);
    }
}
