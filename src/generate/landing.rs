//! Lands generated clusters in the four source formats and their real layouts: EKS CloudWatch rows
//! under Firehose's `YYYY/MM/DD/HH/`, typed audit columns under Hive partitions, Security Lake OCSF
//! under `region=/accountId=/eventDay=`, AKS diagnostic records under the ARM resource id and
//! `y=/m=/d=/h=/m=00/PT1H`. Records land by arrival time (some late, a few delivered twice), exactly
//! the conditions the reader must handle.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::json::ReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::traffic::{BenignTraffic, Cloud, ClusterSpec, EventMeta, SCENARIOS, scenario};
use super::ocsf::ocsf_row;
use crate::normalize::schema::map_of;
use crate::normalize::time::{format_micros, parse_timestamp_micros};
use crate::sources::SourceFormat;
use crate::{Error, Result};

const HOUR: i64 = 3_600_000_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Output directory (created).
    pub out: PathBuf,
    /// Total events over all formats (scenario events come on top).
    pub events: u64,
    pub seed: u64,
    /// Start of the generated period, microseconds since the epoch.
    pub start_micros: i64,
    /// Length of the generated period.
    pub hours: u32,
    /// Clusters per format.
    pub clusters_per_format: usize,
    /// Fraction of records delivered twice (EKS CloudWatch and AKS, which deliver at least once).
    pub duplicate_rate: f64,
    /// Formats to land (all four by default); the events are split between them.
    pub formats: Vec<SourceFormat>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            out: PathBuf::from("sample_data"),
            events: 20_000,
            seed: 42,
            start_micros: parse_timestamp_micros("2026-11-01T00:00:00Z").expect("valid constant"),
            hours: 6,
            clusters_per_format: 1,
            duplicate_rate: 0.003,
            formats: SourceFormat::ALL.to_vec(),
        }
    }
}

/// One labeled attack-scenario instance written to `labels.jsonl`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct ScenarioLabel {
    pub scenario: String,
    pub detections: Vec<String>,
    pub description: String,
    pub format: String,
    pub cluster: String,
    pub audit_ids: Vec<String>,
    pub first_event_time: String,
}

/// What was written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerateSummary {
    /// Distinct events per format (duplicates not counted).
    pub events: BTreeMap<String, u64>,
    /// Extra duplicate deliveries per format.
    pub duplicates: BTreeMap<String, u64>,
    pub objects: u64,
    pub bytes: u64,
    pub scenarios: Vec<ScenarioLabel>,
}

/// The file name of the scenario labels inside the output directory.
pub const LABELS_FILE: &str = "labels.jsonl";

/// The cluster generated for `format` (index `i`), with names the bundled config expects.
pub fn cluster_for(format: SourceFormat, i: usize) -> ClusterSpec {
    let suffix = if i == 0 { String::new() } else { format!("-{i}") };
    let (name, cloud, account, region, rg) = match format {
        SourceFormat::EksCloudwatch => ("prod-payments", Cloud::Eks, "123456789012", "us-east-1", ""),
        SourceFormat::K8sAudit => ("analytics-eu", Cloud::Eks, "210987654321", "eu-west-1", ""),
        SourceFormat::SecurityLake => ("lake-cluster", Cloud::Eks, "345678901234", "us-east-1", ""),
        SourceFormat::AksDiagnostics => ("aks-prod-weu", Cloud::Aks, "0b62a232-5c4e-4f2b-9d61-7c1f0a3e8b11", "westeurope", "rg-aks-prod"),
    };
    ClusterSpec {
        name: format!("{name}{suffix}"),
        cloud,
        account: account.into(),
        region: region.into(),
        resource_group: rg.into(),
    }
}

/// One generated record waiting to be written.
struct GenRow {
    json: String,
    meta: EventMeta,
    arrival: i64,
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t, true)))
}

fn strukt(fields: Vec<Field>) -> DataType {
    DataType::Struct(Fields::from(fields))
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

/// CloudWatch Logs rows as Firehose lands them in Parquet.
pub fn eks_cloudwatch_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("owner"),
        utf8("logGroup"),
        utf8("logStream"),
        utf8("id"),
        Field::new("timestamp", DataType::Int64, true),
        utf8("message"),
    ]))
}

/// The audit Event as nested camelCase columns (what a Spark/Glue job writes).
pub fn k8s_audit_schema() -> SchemaRef {
    let user = |with_extra: bool| {
        let mut f = vec![utf8("username"), utf8("uid"), Field::new("groups", list_of(DataType::Utf8), true)];
        if with_extra {
            f.push(Field::new("extra", map_of(list_of(DataType::Utf8)), true));
        }
        strukt(f)
    };
    Arc::new(Schema::new(vec![
        utf8("kind"),
        utf8("apiVersion"),
        utf8("level"),
        utf8("auditID"),
        utf8("stage"),
        utf8("requestURI"),
        utf8("verb"),
        Field::new("user", user(true), true),
        Field::new("impersonatedUser", user(false), true),
        Field::new("sourceIPs", list_of(DataType::Utf8), true),
        utf8("userAgent"),
        Field::new(
            "objectRef",
            strukt(["resource", "namespace", "name", "uid", "apiGroup", "apiVersion", "resourceVersion", "subresource"].map(utf8).to_vec()),
            true,
        ),
        Field::new(
            "responseStatus",
            strukt(vec![utf8("status"), utf8("message"), utf8("reason"), Field::new("code", DataType::Int32, true)]),
            true,
        ),
        utf8("requestObject"),
        utf8("responseObject"),
        Field::new("requestReceivedTimestamp", utc_micros(), true),
        Field::new("stageTimestamp", utc_micros(), true),
        Field::new("annotations", map_of(DataType::Utf8), true),
    ]))
}

/// Security Lake EKS_AUDIT 2.0 columns (Glue schema in landing.md §2.2), partition columns excluded.
pub fn ocsf_schema() -> SchemaRef {
    let named = |n: &str| Field::new(n, strukt(vec![utf8("name")]), true);
    Arc::new(Schema::new(vec![
        Field::new(
            "metadata",
            strukt(vec![
                utf8("log_level"),
                Field::new("product", strukt(vec![utf8("version"), utf8("vendor_name"), utf8("name"), named("feature")]), true),
                Field::new("profiles", list_of(DataType::Utf8), true),
                utf8("version"),
            ]),
            true,
        ),
        Field::new(
            "api",
            strukt(vec![
                Field::new("request", strukt(vec![utf8("uid")]), true),
                utf8("operation"),
                utf8("version"),
                Field::new(
                    "response",
                    strukt(vec![Field::new("code", DataType::Int32, true), utf8("message"), utf8("error"), utf8("error_message")]),
                    true,
                ),
                named("group"),
            ]),
            true,
        ),
        utf8("message"),
        Field::new("http_request", strukt(vec![Field::new("url", strukt(vec![utf8("path")]), true), utf8("user_agent")]), true),
        Field::new(
            "actor",
            strukt(vec![
                Field::new(
                    "user",
                    strukt(vec![
                        utf8("name"),
                        utf8("uid"),
                        Field::new("groups", list_of(strukt(vec![utf8("name")])), true),
                        Field::new("type_id", DataType::Int32, true),
                    ]),
                    true,
                ),
                Field::new("session", strukt(vec![utf8("credential_uid"), utf8("issuer"), utf8("uid")]), true),
            ]),
            true,
        ),
        Field::new("cloud", strukt(vec![Field::new("account", strukt(vec![utf8("uid")]), true), utf8("provider")]), true),
        Field::new("src_endpoint", strukt(vec![utf8("ip"), Field::new("intermediate_ips", list_of(DataType::Utf8), true)]), true),
        Field::new(
            "resources",
            list_of(strukt(["namespace", "name", "uid", "version", "type"].map(utf8).to_vec())),
            true,
        ),
        Field::new("start_time_dt", utc_micros(), true),
        Field::new("time_dt", utc_micros(), true),
        Field::new("time", DataType::Int64, true),
        Field::new("severity_id", DataType::Int32, true),
        utf8("severity"),
        utf8("class_name"),
        Field::new("class_uid", DataType::Int32, true),
        utf8("category_name"),
        Field::new("category_uid", DataType::Int32, true),
        utf8("activity_name"),
        Field::new("activity_id", DataType::Int32, true),
        utf8("type_name"),
        Field::new("type_uid", DataType::Int64, true),
        Field::new("unmapped", map_of(DataType::Utf8), true),
    ]))
}

/// AKS diagnostic-setting records (as an export to Parquet keeps them).
pub fn aks_diagnostics_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("time"),
        utf8("resourceId"),
        utf8("category"),
        utf8("operationName"),
        Field::new("properties", strukt(["log", "stream", "pod", "containerID"].map(utf8).to_vec()), true),
        utf8("serviceBuild"),
    ]))
}

/// The landing schema of `format`.
pub fn landing_schema(format: SourceFormat) -> SchemaRef {
    match format {
        SourceFormat::EksCloudwatch => eks_cloudwatch_schema(),
        SourceFormat::K8sAudit => k8s_audit_schema(),
        SourceFormat::SecurityLake => ocsf_schema(),
        SourceFormat::AksDiagnostics => aks_diagnostics_schema(),
    }
}

/// Decodes JSON objects (one per line) against `schema` with arrow-json.
pub fn decode_json_lines(schema: &SchemaRef, lines: impl Iterator<Item = String>) -> Result<RecordBatch> {
    let lines: Vec<String> = lines.collect();
    let mut decoder = ReaderBuilder::new(Arc::clone(schema)).with_batch_size(lines.len().max(1)).build_decoder()?;
    for line in lines {
        decoder.decode(line.as_bytes())?;
        decoder.decode(b"\n")?;
    }
    Ok(decoder.flush()?.unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(schema))))
}

/// Rewrites an audit event so its bodies are JSON text (typed landings keep bodies as strings).
/// Only the top level is parsed; everything else stays raw text.
fn bodies_as_text(json: &str) -> Result<String> {
    use serde_json::value::RawValue;
    if !json.contains("\"requestObject\":{") && !json.contains("\"responseObject\":{") {
        return Ok(json.to_owned());
    }
    let invalid = |e: serde_json::Error| Error::Config(format!("generated invalid JSON: {e}"));
    let top: BTreeMap<String, Box<RawValue>> = serde_json::from_str(json).map_err(invalid)?;
    let mut out = String::with_capacity(json.len() + 64);
    out.push('{');
    for (i, (k, v)) in top.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k).map_err(invalid)?);
        out.push(':');
        let raw = v.get();
        if (k == "requestObject" || k == "responseObject") && raw.starts_with('{') {
            out.push_str(&serde_json::to_string(raw).map_err(invalid)?);
        } else {
            out.push_str(raw);
        }
    }
    out.push('}');
    Ok(out)
}

fn hex_id(rng: &mut SmallRng, len: usize) -> String {
    (0..len).map(|_| char::from_digit(rng.random_range(0..16), 16).expect("digit < 16")).collect()
}

/// Encodes rows of one partition into the format's landing batch.
fn encode(format: SourceFormat, cluster: &ClusterSpec, rows: &[GenRow], rng: &mut SmallRng) -> Result<RecordBatch> {
    let schema = landing_schema(format);
    Ok(match format {
        SourceFormat::EksCloudwatch => {
            // Two API-server instances, each with its own stable stream name.
            let mut stream_rng = SmallRng::seed_from_u64(cluster.name.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
            let streams = [format!("kube-apiserver-audit-{}", hex_id(&mut stream_rng, 32)), format!("kube-apiserver-audit-{}", hex_id(&mut stream_rng, 32))];
            let col = |f: &dyn Fn(usize, &GenRow) -> String| -> ArrayRef { Arc::new(rows.iter().enumerate().map(|(i, r)| Some(f(i, r))).collect::<StringArray>()) };
            RecordBatch::try_new(
                schema,
                vec![
                    col(&|_, _| cluster.account.clone()),
                    col(&|_, _| format!("/aws/eks/{}/cluster", cluster.name)),
                    col(&|_, r| streams[usize::from(r.meta.audit_id.bytes().last().unwrap_or(0)) % 2].clone()),
                    col(&|i, r| format!("{:020}{:036}", r.meta.event_time_micros / 1000, i)),
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.meta.event_time_micros / 1000 + 3))),
                    col(&|_, r| r.json.clone()),
                ],
            )?
        }
        SourceFormat::K8sAudit => {
            let lines = rows.iter().map(|r| bodies_as_text(&r.json)).collect::<Result<Vec<_>>>()?;
            decode_json_lines(&schema, lines.into_iter())?
        }
        SourceFormat::SecurityLake => {
            let mut lines = Vec::with_capacity(rows.len());
            for r in rows {
                let v: serde_json::Value = serde_json::from_str(&r.json).map_err(|e| Error::Config(format!("generated invalid JSON: {e}")))?;
                let start = v.get("requestReceivedTimestamp").and_then(|s| s.as_str()).and_then(parse_timestamp_micros).unwrap_or(r.meta.event_time_micros);
                lines.push(ocsf_row(&v, r.meta.event_time_micros / 1000, start / 1000).to_string());
            }
            decode_json_lines(&schema, lines.into_iter())?
        }
        SourceFormat::AksDiagnostics => {
            let resource_id = format!(
                "/SUBSCRIPTIONS/{}/RESOURCEGROUPS/{}/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/{}",
                cluster.account, cluster.resource_group, cluster.name
            )
            .to_uppercase();
            let pod = format!("kube-apiserver-{}-{}", hex_id(rng, 10), hex_id(rng, 5));
            let container = hex_id(rng, 64);
            let strs = |f: &dyn Fn(&GenRow) -> String| -> ArrayRef { Arc::new(rows.iter().map(|r| Some(f(r))).collect::<StringArray>()) };
            let props = StructArray::from(vec![
                (Arc::new(utf8("log")), strs(&|r| format!("{}\n", r.json))),
                (Arc::new(utf8("stream")), strs(&|_| "stdout".into())),
                (Arc::new(utf8("pod")), strs(&|_| pod.clone())),
                (Arc::new(utf8("containerID")), strs(&|_| container.clone())),
            ]);
            RecordBatch::try_new(
                schema,
                vec![
                    // Azure writes 7-9 fractional digits; keep 9 like the real blob.
                    strs(&|r| format!("{}{:03}Z", format_micros(r.meta.event_time_micros + 312).trim_end_matches('Z'), 959)),
                    strs(&|_| resource_id.clone()),
                    strs(&|_| "kube-audit".into()),
                    strs(&|_| "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read".into()),
                    Arc::new(props),
                    strs(&|_| "na".into()),
                ],
            )?
        }
    })
}

/// The object path (relative to the output root) of a partition.
fn partition_path(format: SourceFormat, cluster: &ClusterSpec, hour: i64, retry: bool, rng: &mut SmallRng) -> String {
    let t = chrono::DateTime::from_timestamp_micros(hour).expect("generated time in range");
    let (y, m, d, h) = (t.format("%Y"), t.format("%m"), t.format("%d"), t.format("%H"));
    let r = if retry { "-retry" } else { "" };
    match format {
        SourceFormat::EksCloudwatch => format!(
            "eks_cloudwatch/{y}/{m}/{d}/{h}/{}-audit-stream-1-{y}-{m}-{d}-{h}-00-00-{}{r}.parquet",
            cluster.name,
            hex_id(rng, 12)
        ),
        SourceFormat::K8sAudit => format!("k8s_audit/cluster={}/dt={y}-{m}-{d}/hour={h}/part-00000{r}.parquet", cluster.name),
        SourceFormat::SecurityLake => format!(
            "security_lake/region={}/accountId={}/eventDay={y}{m}{d}/{}-{h}{r}.parquet",
            cluster.region, cluster.account, cluster.name
        ),
        SourceFormat::AksDiagnostics => format!(
            "aks_diagnostics/insights-logs-kube-audit/resourceId=/SUBSCRIPTIONS/{}/RESOURCEGROUPS/{}/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/{}/y={y}/m={m}/d={d}/h={h}/m=00/PT1H{}.parquet",
            cluster.account.to_uppercase(),
            cluster.resource_group.to_uppercase(),
            cluster.name.to_uppercase(),
            if retry { "_1" } else { "" }
        ),
    }
}

/// Rows waiting for a partition's object, and the object's writer once opened.
type OpenPartition = (Vec<GenRow>, Option<ArrowWriter<File>>);

/// What one cluster's generation wrote.
struct ClusterOutcome {
    written: u64,
    duplicates: u64,
    objects: u64,
    bytes: u64,
    labels: Vec<ScenarioLabel>,
}

/// Open partitions of one cluster: rows buffered per (arrival hour, retry) and written in row groups.
struct PartitionWriters<'a> {
    root: &'a Path,
    format: SourceFormat,
    cluster: &'a ClusterSpec,
    open: BTreeMap<(i64, bool), OpenPartition>,
    rng: SmallRng,
    objects: u64,
    bytes: u64,
}

const FLUSH_ROWS: usize = 16_384;

impl PartitionWriters<'_> {
    fn push(&mut self, row: GenRow, retry: bool) -> Result<()> {
        let hour = row.arrival.div_euclid(HOUR) * HOUR;
        let entry = self.open.entry((hour, retry)).or_insert_with(|| (Vec::new(), None));
        entry.0.push(row);
        if entry.0.len() >= FLUSH_ROWS {
            self.flush((hour, retry), false)?;
        }
        Ok(())
    }

    fn flush(&mut self, key: (i64, bool), close: bool) -> Result<()> {
        let Some((rows, writer)) = self.open.get_mut(&key) else { return Ok(()) };
        if !rows.is_empty() {
            let batch = encode(self.format, self.cluster, rows, &mut self.rng)?;
            rows.clear();
            if writer.is_none() {
                let rel = partition_path(self.format, self.cluster, key.0, key.1, &mut self.rng);
                let path = self.root.join(rel);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
                }
                let file = File::create(&path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
                    .set_max_row_group_row_count(Some(131_072))
                    .build();
                *writer = Some(ArrowWriter::try_new(file, batch.schema(), Some(props))?);
            }
            writer.as_mut().expect("writer opened above").write(&batch)?;
        }
        if close && let Some((_, Some(w))) = self.open.remove(&key) {
            let meta = w.close()?;
            self.objects += 1;
            self.bytes += meta.row_groups().iter().map(|g| g.compressed_size() as u64).sum::<u64>();
        }
        Ok(())
    }

    /// Closes partitions whose hour ended more than `keep` before `now`.
    fn close_before(&mut self, now: i64, keep: i64) -> Result<()> {
        let old: Vec<_> = self.open.keys().copied().filter(|(h, _)| h + HOUR + keep < now).collect();
        for k in old {
            self.flush(k, true)?;
        }
        Ok(())
    }
}

/// Arrival delay after the event: mostly seconds, some minutes, a few hours-late stragglers.
fn arrival_delay(rng: &mut SmallRng) -> i64 {
    let p: f64 = rng.random();
    let secs = if p < 0.97 {
        rng.random_range(2..120)
    } else if p < 0.995 {
        rng.random_range(120..900)
    } else {
        rng.random_range(1200..5400)
    };
    secs * 1_000_000 + rng.random_range(0..1_000_000)
}

const MAX_DELAY: i64 = 5400 * 1_000_000 + 1_000_000;

/// Generates one cluster's landing.
fn generate_cluster(opts: &GenerateOptions, format: SourceFormat, cluster: &ClusterSpec, events: u64, seed: u64) -> Result<ClusterOutcome> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut benign = BenignTraffic::new(cluster, seed ^ 0x5eed);
    let span = i64::from(opts.hours) * HOUR;
    let start = opts.start_micros;
    // Scenario instances spread evenly over the period.
    let mut labels = Vec::new();
    let mut pending: Vec<GenRow> = Vec::new();
    for (k, name) in SCENARIOS.iter().enumerate() {
        let at = start + (k as i64 + 1) * span / (SCENARIOS.len() as i64 + 1);
        let Some(sc) = scenario(name, cluster, at, seed.wrapping_add(k as u64)) else { continue };
        labels.push(ScenarioLabel {
            scenario: sc.scenario.to_owned(),
            detections: sc.detections.iter().map(|d| d.to_string()).collect(),
            description: sc.description.to_owned(),
            format: format.as_str().to_owned(),
            cluster: cluster.name.clone(),
            audit_ids: sc.events.iter().map(|(m, _)| m.audit_id.clone()).collect(),
            first_event_time: sc.events.first().map(|(m, _)| format_micros(m.event_time_micros)).unwrap_or_default(),
        });
        for (meta, json) in sc.events {
            pending.push(GenRow { json, meta, arrival: 0 });
        }
    }
    pending.sort_by_key(|r| std::cmp::Reverse(r.meta.event_time_micros));
    let mut writers = PartitionWriters { root: &opts.out, format, cluster, open: BTreeMap::new(), rng: SmallRng::seed_from_u64(seed ^ 0xf11e), objects: 0, bytes: 0 };
    let dup_allowed = matches!(format, SourceFormat::EksCloudwatch | SourceFormat::AksDiagnostics);
    let (mut written, mut dups) = (0u64, 0u64);
    let mut buf = String::with_capacity(4096);
    let step = (span / events.max(1) as i64).max(1);
    let mut emit = |row: GenRow, rng: &mut SmallRng, writers: &mut PartitionWriters<'_>| -> Result<()> {
        let mut row = row;
        row.arrival = row.meta.event_time_micros + arrival_delay(rng);
        if dup_allowed && rng.random_bool(opts.duplicate_rate) {
            let again = GenRow { json: row.json.clone(), meta: row.meta.clone(), arrival: row.arrival + rng.random_range(1..300) * 1_000_000 };
            writers.push(again, true)?;
            dups += 1;
        }
        writers.push(row, false)?;
        written += 1;
        Ok(())
    };
    for i in 0..events {
        let t = start + i as i64 * step + rng.random_range(0..step);
        while pending.last().is_some_and(|r| r.meta.event_time_micros <= t) {
            let row = pending.pop().expect("checked non-empty");
            emit(row, &mut rng, &mut writers)?;
        }
        let meta = benign.next_event(t, &mut buf);
        emit(GenRow { json: buf.clone(), meta, arrival: 0 }, &mut rng, &mut writers)?;
        if i % 4096 == 0 {
            writers.close_before(t, MAX_DELAY + 300 * 1_000_000)?;
        }
    }
    while let Some(row) = pending.pop() {
        emit(row, &mut rng, &mut writers)?;
    }
    writers.close_before(i64::MAX - 2 * HOUR - MAX_DELAY, 0)?;
    Ok(ClusterOutcome { written, duplicates: dups, objects: writers.objects, bytes: writers.bytes, labels })
}

/// Generates every format's clusters into `opts.out` and writes `labels.jsonl`.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateSummary> {
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(format!("creating {}", opts.out.display()), e))?;
    let formats = if opts.formats.is_empty() { SourceFormat::ALL.to_vec() } else { opts.formats.clone() };
    let clusters = opts.clusters_per_format.max(1);
    let mut jobs: Vec<(SourceFormat, ClusterSpec, u64, u64)> = Vec::new();
    for (fi, f) in formats.iter().enumerate() {
        for ci in 0..clusters {
            let share = opts.events / (formats.len() * clusters) as u64;
            let seed = opts.seed.wrapping_mul(1_000_003).wrapping_add((SourceFormat::ALL.iter().position(|x| x == f).unwrap_or(fi) * 1000 + ci) as u64);
            jobs.push((*f, cluster_for(*f, ci), share, seed));
        }
    }
    // The OCSF and typed shapes cost the most to encode: start them first, and let each thread pull
    // the next job when it is done, so no thread idles while another has two heavy ones.
    let cost = |f: &SourceFormat| match f {
        SourceFormat::SecurityLake => 0,
        SourceFormat::K8sAudit => 1,
        _ => 2,
    };
    jobs.sort_by_key(|j| cost(&j.0));
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(jobs.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(SourceFormat, ClusterOutcome)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    while let Some((f, c, n, seed)) = jobs.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                        done.push(generate_cluster(opts, *f, c, *n, *seed).map(|r| (*f, r)));
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|_| vec![Err(Error::Config("generator thread panicked".into()))])).collect()
    });
    let mut summary = GenerateSummary::default();
    for r in results {
        let (format, outcome) = r?;
        *summary.events.entry(format.as_str().into()).or_default() += outcome.written;
        *summary.duplicates.entry(format.as_str().into()).or_default() += outcome.duplicates;
        summary.objects += outcome.objects;
        summary.bytes += outcome.bytes;
        summary.scenarios.extend(outcome.labels);
    }
    summary.scenarios.sort_by(|a, b| (&a.format, &a.cluster, &a.first_event_time).cmp(&(&b.format, &b.cluster, &b.first_event_time)));
    let mut text = String::new();
    for l in &summary.scenarios {
        text.push_str(&serde_json::to_string(l).map_err(|e| Error::Config(e.to_string()))?);
        text.push('\n');
    }
    let path = opts.out.join(LABELS_FILE);
    std::fs::write(&path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(summary)
}
