//! One output Delta table: created on first use, read through DataFusion, written by small,
//! partition-pruned MERGEs or appends. Every write runs in a conflict-retry loop: on a concurrent
//! commit the table is reloaded and the caller's rows recomputed against it (the delta-rs
//! maintainers' rule for non-append writes, delta-io/delta-rs#584), so two runs racing on the same
//! window cannot both insert the same id.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::json::ArrayWriter;
use datafusion::arrow::json::reader::ReaderBuilder;
use datafusion::prelude::SessionContext;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::{Error, Result};

/// How many times a write is recomputed after losing a commit race.
const MAX_ATTEMPTS: u32 = 8;

/// An output table: where it is, its schema and partitioning.
#[derive(Debug, Clone)]
pub struct DeltaOutput {
    pub name: &'static str,
    pub url: Url,
    storage: HashMap<String, String>,
    schema: SchemaRef,
    partition_columns: &'static [&'static str],
}

/// Whether a Delta error means another writer committed first (so: reload and retry).
fn is_conflict(e: &DeltaTableError) -> bool {
    matches!(e, DeltaTableError::Transaction { .. } | DeltaTableError::VersionAlreadyExists(_))
        || e.to_string().to_ascii_lowercase().contains("conflict")
}

impl DeltaOutput {
    pub fn new(name: &'static str, url: Url, storage: HashMap<String, String>, schema: SchemaRef, partition_columns: &'static [&'static str]) -> Self {
        DeltaOutput { name, url, storage, schema, partition_columns }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn err(&self, e: DeltaTableError) -> Error {
        if is_conflict(&e) {
            return Error::delta(self.url.as_str(), e);
        }
        self.permanent_as_such(Error::delta(self.url.as_str(), e))
    }

    /// `e` as [`Error::OutputUnwritable`] when retrying cannot fix it (the scheduler must not
    /// retry a run into a location it may not write).
    fn permanent_as_such(&self, e: Error) -> Error {
        match crate::error::permanent_io_cause(&e) {
            Some(reason) => Error::OutputUnwritable { location: self.url.to_string(), reason },
            None => e,
        }
    }

    /// Opens the table, creating it (empty, with its schema) when it does not exist yet.
    pub async fn load(&self) -> Result<DeltaTable> {
        if let Ok(path) = self.url.to_file_path() {
            std::fs::create_dir_all(&path).map_err(|e| self.permanent_as_such(Error::io(format!("creating {}", path.display()), e)))?;
        }
        for attempt in 0..MAX_ATTEMPTS {
            if let Some(table) = self.load_existing().await? {
                match self.add_missing_columns(table).await {
                    Ok(table) => return Ok(table),
                    Err(e) if is_conflict(&e) => {
                        backoff(attempt).await;
                        continue;
                    }
                    Err(e) => return Err(self.err(e)),
                }
            }
            let table = DeltaTableBuilder::from_url(self.url.clone()).map_err(|e| self.err(e))?.with_storage_options(self.storage.clone()).build().map_err(|e| self.err(e))?;
            let created = table
                .write(vec![RecordBatch::new_empty(Arc::clone(&self.schema))])
                .with_save_mode(SaveMode::Ignore)
                .with_partition_columns(self.partition_columns.iter().copied())
                .with_table_name(self.name)
                .await;
            match created {
                Ok(t) => return Ok(t),
                Err(e) if is_conflict(&e) => backoff(attempt).await,
                Err(e) => return Err(self.err(e)),
            }
        }
        Err(Error::Output(format!("{}: could not create the table after {MAX_ATTEMPTS} attempts", self.url)))
    }

    /// Adds the columns of this version's schema that an older table lacks (new columns are
    /// nullable), so tables written by an earlier auditlake keep working: an empty append with
    /// schema merging commits only the new schema.
    async fn add_missing_columns(&self, table: DeltaTable) -> Result<DeltaTable, DeltaTableError> {
        let existing: std::collections::HashSet<String> = table.snapshot()?.schema().fields().map(|f| f.name().clone()).collect();
        if self.schema.fields().iter().all(|f| existing.contains(f.name())) {
            return Ok(table);
        }
        tracing::info!(table = self.name, "adding the columns this version writes to an older table");
        table
            .write(vec![RecordBatch::new_empty(Arc::clone(&self.schema))])
            .with_save_mode(SaveMode::Append)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Merge)
            .with_partition_columns(self.partition_columns.iter().copied())
            .await
    }

    /// Opens the table if it exists (readers never create tables).
    pub async fn load_existing(&self) -> Result<Option<DeltaTable>> {
        if let Ok(path) = self.url.to_file_path()
            && !path.join("_delta_log").is_dir()
        {
            return Ok(None);
        }
        let mut table = DeltaTableBuilder::from_url(self.url.clone()).map_err(|e| self.err(e))?.with_storage_options(self.storage.clone()).build().map_err(|e| self.err(e))?;
        // Checking first keeps delta-rs from logging a missing table as an error.
        if !table.verify_deltatable_existence().await.map_err(|e| self.err(e))? {
            return Ok(None);
        }
        table.load().await.map_err(|e| self.err(e))?;
        Ok(Some(table))
    }

    /// Runs `sql` with the table registered as `t` (in a fresh session).
    pub async fn query_table(&self, table: &DeltaTable, sql: &str) -> Result<Vec<RecordBatch>> {
        let ctx = crate::engine::session::new_context()?;
        table.update_datafusion_session(&ctx.state()).map_err(|e| self.err(e))?;
        let provider = table.table_provider().await?;
        ctx.register_table("t", provider)?;
        Ok(ctx.sql(sql).await?.collect().await?)
    }

    /// Runs `sql` over the current table (`t`); no rows when it does not exist yet.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        match self.load_existing().await? {
            Some(table) => self.query_table(&table, sql).await,
            None => Ok(Vec::new()),
        }
    }

    /// Reads rows of `sql` over `t` as records.
    pub async fn query_records<T: DeserializeOwned>(&self, table: &DeltaTable, sql: &str) -> Result<Vec<T>> {
        let batches = self.query_table(table, sql).await?;
        records_from_batches(&batches)
    }

    /// Writes with retries: `make` gets the freshly loaded table and returns the write's future
    /// (or `None` when there is nothing to write). Conflicts reload and call `make` again.
    pub async fn write_with_retry<F, Fut, T>(&self, mut make: F) -> Result<Option<T>>
    where
        F: FnMut(DeltaTable) -> Fut,
        Fut: Future<Output = Result<Option<(DeltaTable, T)>>>,
    {
        let mut last = None;
        for attempt in 0..MAX_ATTEMPTS {
            let table = self.load().await?;
            match make(table).await {
                Ok(out) => return Ok(out.map(|(_, t)| t)),
                Err(Error::Delta { source, .. }) if is_conflict(&source) => {
                    tracing::info!(table = self.name, attempt, "concurrent commit; recomputing the write");
                    last = Some(*source);
                    backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Output(format!("{}: gave up after {MAX_ATTEMPTS} commit conflicts (last: {})", self.url, last.map(|e| e.to_string()).unwrap_or_default())))
    }

    /// MERGEs `rows` into `table` on `key` (and the partition columns, which prunes the target to
    /// the partitions the rows touch): matched rows are replaced when `update` is set, the rest
    /// inserted.
    pub async fn merge(&self, table: DeltaTable, rows: RecordBatch, key: &str, update: bool) -> Result<DeltaTable> {
        let ctx = SessionContext::new();
        let source = ctx.read_batch(rows)?;
        let mut predicate = format!("target.{key} = source.{key}");
        for p in self.partition_columns {
            predicate = format!("target.{p} = source.{p} AND {predicate}");
        }
        let columns: Vec<String> = self.schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut builder = table.merge(source, predicate).with_source_alias("source").with_target_alias("target");
        if update {
            builder = builder
                .when_matched_update(|u| columns.iter().fold(u, |u, c| u.update(c.as_str(), format!("source.\"{c}\""))))
                .map_err(|e| self.err(e))?;
        }
        builder = builder
            .when_not_matched_insert(|i| columns.iter().fold(i, |i, c| i.set(c.as_str(), format!("source.\"{c}\""))))
            .map_err(|e| self.err(e))?;
        let (table, metrics) = builder.await.map_err(|e| self.err(e))?;
        tracing::debug!(table = self.name, inserted = metrics.num_target_rows_inserted, updated = metrics.num_target_rows_updated, "merged");
        Ok(table)
    }

    /// Appends `rows`. Columns added to the schema since the table was created are added to it
    /// (schema evolution only ever adds nullable columns), so tables of older versions keep working.
    pub async fn append(&self, table: DeltaTable, rows: RecordBatch) -> Result<DeltaTable> {
        table
            .write(vec![rows])
            .with_save_mode(SaveMode::Append)
            .with_schema_mode(SchemaMode::Merge)
            .with_partition_columns(self.partition_columns.iter().copied())
            .await
            .map_err(|e| self.err(e))
    }

    /// Sets `sets` (column, SQL expression) on rows matching `predicate`.
    pub async fn update(&self, table: DeltaTable, predicate: &str, sets: &[(&str, String)]) -> Result<(DeltaTable, usize)> {
        let mut builder = table.update().with_predicate(predicate.to_owned());
        for (c, e) in sets {
            builder = builder.with_update(*c, e.clone());
        }
        let (table, metrics) = builder.await.map_err(|e| self.err(e))?;
        Ok((table, metrics.num_updated_rows))
    }

    /// Appends `rows` (nothing when empty), retrying lost commit races.
    pub async fn append_records<T: Serialize>(&self, rows: &[T]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = self.batch(rows)?;
        self.write_with_retry(|delta| {
            let batch = batch.clone();
            async move { Ok(Some((self.append(delta, batch).await?, ()))) }
        })
        .await?;
        Ok(())
    }

    /// Inserts the `rows` whose `key` is not in the table yet (nothing when empty), retrying lost
    /// commit races against the winner's table.
    pub async fn insert_new_records<T: Serialize>(&self, rows: &[T], key: &str) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = self.batch(rows)?;
        self.write_with_retry(|delta| {
            let batch = batch.clone();
            async move { Ok(Some((self.merge(delta, batch, key, false).await?, ()))) }
        })
        .await?;
        Ok(())
    }

    /// Builds a batch of this table's schema from records.
    pub fn batch<T: Serialize>(&self, rows: &[T]) -> Result<RecordBatch> {
        records_to_batch(&self.schema, rows)
    }
}

async fn backoff(attempt: u32) {
    let jitter = rand::random::<u64>() % 50;
    tokio::time::sleep(Duration::from_millis((25u64 << attempt.min(6)) + jitter)).await;
}

/// Registers the output tables that exist in `ctx`, under their names (`rejects` as
/// `run_rejects`, since `rejects` is the live view over the sources).
pub async fn register_outputs(ctx: &SessionContext, outputs: &super::OutputTables) -> Result<Vec<&'static str>> {
    let mut names = Vec::new();
    for t in outputs.all() {
        if let Some(table) = t.load_existing().await? {
            table.update_datafusion_session(&ctx.state()).map_err(|e| t.err(e))?;
            let provider = table.table_provider().await?;
            let name = if t.name == "rejects" { "run_rejects" } else { t.name };
            ctx.register_table(name, provider)?;
            names.push(name);
        }
    }
    Ok(names)
}

/// Serializes records into a batch of `schema` (timestamps as epoch microseconds).
pub fn records_to_batch<T: Serialize>(schema: &SchemaRef, rows: &[T]) -> Result<RecordBatch> {
    let mut decoder = ReaderBuilder::new(Arc::clone(schema)).build_decoder()?;
    decoder.serialize(rows)?;
    Ok(decoder.flush()?.unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(schema))))
}

/// Reads records back (timestamps as epoch microseconds).
pub fn records_from_batches<T: DeserializeOwned>(batches: &[RecordBatch]) -> Result<Vec<T>> {
    let mut writer = ArrayWriter::new(Vec::new());
    for b in batches {
        let cols: Vec<ArrayRef> = b
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Timestamp(..) => cast(c, &DataType::Int64),
                _ => Ok(Arc::clone(c)),
            })
            .collect::<std::result::Result<_, _>>()?;
        let fields: Vec<_> = b
            .schema()
            .fields()
            .iter()
            .zip(&cols)
            .map(|(f, c)| Arc::new(f.as_ref().clone().with_data_type(c.data_type().clone())))
            .collect();
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(fields));
        writer.write(&RecordBatch::try_new(schema, cols)?)?;
    }
    writer.finish()?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::Output(format!("reading output rows: {e}")))
}
