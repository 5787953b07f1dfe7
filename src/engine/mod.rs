//! The query engine: a DataFusion session with `audit_events`, `rejects` and one raw table per
//! configured source registered over the landed objects.

pub mod report;
pub mod scan;
pub mod tables;

use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
#[allow(deprecated)]
use datafusion::parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};

pub use report::{ScanReport, SourceCounts};
pub use scan::ResolvedSource;
pub use tables::{AuditEventsTable, RawSourceTable, TimeWindow};

use crate::config::{Config, SourceConfig, parse_duration_micros};
use crate::normalize::schema::{AUDIT_EVENTS_TABLE, REJECTS_TABLE};
use crate::normalize::time::parse_timestamp_micros;
use crate::sources::layout::Layout;
use crate::sources::listing::{SourceLocation, first_objects};
use crate::{Error, Result};
use scan::ScanOutput;

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

/// Builds the object store for a source location, from the standard environment plus the
/// source's `storage` options.
fn build_store(location: &SourceLocation, source: &SourceConfig) -> Result<Option<Arc<dyn ObjectStore>>> {
    let url = location.url();
    let bad_key = |k: &str| Error::Config(format!("source '{}': unknown storage option '{k}'", source.name));
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "file" | "memory" => return Ok(None),
        "s3" | "s3a" => {
            let mut b = AmazonS3Builder::from_env().with_url(url.as_str());
            for (k, v) in &source.storage {
                b = b.with_config(AmazonS3ConfigKey::from_str(k).map_err(|_| bad_key(k))?, v);
            }
            Arc::new(b.build()?)
        }
        "az" | "adl" | "azure" | "abfs" | "abfss" => {
            let mut b = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
            for (k, v) in &source.storage {
                b = b.with_config(AzureConfigKey::from_str(k).map_err(|_| bad_key(k))?, v);
            }
            Arc::new(b.build()?)
        }
        "gs" => {
            let mut b = GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
            for (k, v) in &source.storage {
                b = b.with_config(GoogleConfigKey::from_str(k).map_err(|_| bad_key(k))?, v);
            }
            Arc::new(b.build()?)
        }
        other => return Err(Error::Config(format!("source '{}': unsupported URL scheme '{other}'", source.name))),
    };
    Ok(Some(store))
}

/// The schema of the first readable object of a source, if any.
#[allow(deprecated)]
async fn sample_schema(source: &ResolvedSource) -> Result<Option<SchemaRef>> {
    for meta in first_objects(source.store.as_ref(), &source.location, &source.config.extension, 5).await? {
        let reader = ParquetObjectReader::new(Arc::clone(&source.store), meta.location.clone()).with_file_size(meta.size);
        if let Ok(b) = ParquetRecordBatchStreamBuilder::new(reader).await {
            return Ok(Some(Arc::clone(b.schema())));
        }
    }
    Ok(None)
}

/// A DataFusion session over the configured sources.
pub struct AuditLake {
    ctx: SessionContext,
    report: Arc<ScanReport>,
    sources: Vec<Arc<ResolvedSource>>,
}

impl AuditLake {
    /// Opens a session over `config`'s sources, restricted to `window` (event time).
    pub async fn open(config: &Config, window: TimeWindow) -> Result<Self> {
        let session = SessionConfig::new()
            .with_information_schema(true)
            .set_str("datafusion.sql_parser.dialect", "PostgreSQL");
        let mut ctx = SessionContext::new_with_config(session);
        datafusion_functions_json::register_all(&mut ctx)?;
        let report = Arc::new(ScanReport::default());
        let default_lateness = parse_duration_micros(&config.scan.lateness)?;
        let clock_skew = parse_duration_micros(&config.scan.clock_skew)?;
        let mut sources = Vec::new();
        for sc in &config.sources {
            let location = SourceLocation::parse(&config.resolve_location(sc))?;
            if let Some(store) = build_store(&location, sc)? {
                ctx.register_object_store(location.url(), store);
            }
            let store = ctx.runtime_env().object_store(&location.store_url)?;
            let lateness = match &sc.lateness {
                Some(l) => parse_duration_micros(l)?,
                None => default_lateness,
            };
            sources.push(Arc::new(ResolvedSource {
                config: sc.clone(),
                layout: Layout::parse(&sc.layout)?,
                location,
                store,
                lateness,
                clock_skew,
            }));
        }
        let batch = config.scan.batch_size;
        ctx.register_table(AUDIT_EVENTS_TABLE, Arc::new(AuditEventsTable::new(sources.clone(), window, ScanOutput::Events, Arc::clone(&report), batch)))?;
        ctx.register_table(REJECTS_TABLE, Arc::new(AuditEventsTable::new(sources.clone(), window, ScanOutput::Rejects, Arc::new(ScanReport::default()), batch)))?;
        for source in &sources {
            let schema = sample_schema(source).await?;
            let raw = RawSourceTable::new(Arc::clone(source), schema, window, Arc::new(ScanReport::default()), batch);
            ctx.register_table(source.config.name.as_str(), Arc::new(raw))?;
        }
        Ok(AuditLake { ctx, report, sources })
    }

    /// The DataFusion session, for callers that register more tables or UDFs.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// What scans of `audit_events` have read, dropped and rejected so far.
    pub fn report(&self) -> &ScanReport {
        &self.report
    }

    /// The resolved sources.
    pub fn sources(&self) -> &[Arc<ResolvedSource>] {
        &self.sources
    }

    /// Plans a SQL statement.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        Ok(self.ctx.sql(sql).await?)
    }
}
