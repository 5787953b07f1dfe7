//! The query engine: a DataFusion session with `audit_events`, `rejects` and one raw table per
//! configured source registered over the landed objects, and the rule pack evaluated over it.
//!
//! [`session`] makes the session (settings, fact UDFs and views, allow-lists); [`scan`] reads the
//! landed objects as tables; [`facts`] holds the Kubernetes semantics rules share; [`pack`] runs
//! the whole rule pack over one shared scan. [`AuditLake`] ties them to a [`Config`]'s sources.

pub mod check;
pub mod detect;
pub mod facts;
pub mod pack;
pub mod scan;
pub mod session;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;

pub use scan::report::{ScanReport, SourceCounts};
pub use scan::{AuditEventsTable, ObjectScope, RawSourceTable, ResolvedSource, SourceObject, TimeWindow};

use crate::config::{Config, parse_duration_micros};
use crate::normalize::schema::{AUDIT_EVENTS_TABLE, REJECTS_TABLE};
use crate::rules::allowlists::Allowlists;
use crate::sources::layout::Layout;
use crate::sources::listing::{ListingWindow, SourceLocation};
use crate::sources::store::build_store;
use crate::{Error, Result};
use pack::{PackResults, rule_queries};
use scan::chunks;
use scan::listing::{list_source, list_sources};
use scan::read::{ScanOutput, sample_schema};
use session::{new_context, register_rule_support};

/// A DataFusion session over the configured sources.
pub struct AuditLake {
    ctx: SessionContext,
    report: Arc<ScanReport>,
    sources: Vec<Arc<ResolvedSource>>,
    batch_size: usize,
    allowlists: Allowlists,
    /// The rule pack's own allow-lists (before the config's values were added).
    pack_allowlists: Allowlists,
    /// `scan.chunk`, microseconds (0: no chunking).
    chunk: i64,
}

impl AuditLake {
    /// Opens a session over `config`'s sources, restricted to `window` (event time), with the
    /// bundled rule pack's allow-lists (extended by the config's).
    pub async fn open(config: &Config, window: TimeWindow) -> Result<Self> {
        let pack = match crate::rules::default_rules_dir() {
            Ok(dir) => Allowlists::for_rules_dir(&dir)?,
            Err(_) => Allowlists::default(),
        };
        Self::open_with(config, window, &pack).await
    }

    /// As [`AuditLake::open`], with the allow-lists of the rule pack that will run (`run --rules
    /// DIR` brings its own `allowlists.toml`), extended by the config's.
    pub async fn open_with(config: &Config, window: TimeWindow, pack_allowlists: &Allowlists) -> Result<Self> {
        let ctx = new_context()?;
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
        let mut allowlists = pack_allowlists.clone();
        allowlists.extend(&Allowlists(config.allowlists.clone()));
        register_rule_support(&ctx, &allowlists).await?;
        let chunk = parse_duration_micros(&config.scan.chunk)?;
        Ok(AuditLake { ctx, report, sources, batch_size: batch, allowlists, pack_allowlists: pack_allowlists.clone(), chunk })
    }

    /// Lists the objects that landed (were last modified) in `arrival` (`[from, to)`), descending
    /// only into partitions that can hold them: a partition's objects land between its start minus
    /// the clock skew and its end plus the source's lateness. `reach` lists partitions that much
    /// older too, for objects written late into old partitions.
    pub async fn list_arrivals(&self, arrival: TimeWindow, reach: i64) -> Result<Vec<SourceObject>> {
        let mut out = Vec::new();
        for source in &self.sources {
            let window = match (arrival.from, arrival.to) {
                (None, None) => None,
                (from, to) => Some(ListingWindow {
                    from: from.map_or(i64::MIN, |f| f.saturating_sub(source.lateness).saturating_sub(reach)),
                    to: to.map_or(i64::MAX, |t| t.saturating_add(source.clock_skew)),
                }),
            };
            let listed = list_source(source, window, &ScanReport::default()).await?;
            out.extend(listed.into_iter().filter(|(_, o)| arrival.contains(o.meta.last_modified.timestamp_micros())));
        }
        Ok(out)
    }

    /// The object `url` of source `source_name` as it is now, if it still exists.
    pub async fn head_object(&self, source_name: &str, url: &str) -> Result<Option<SourceObject>> {
        let Some(source) = self.sources.iter().find(|s| s.config.name == source_name) else { return Ok(None) };
        let object = crate::sources::listing::head_object(source.store.as_ref(), &source.location, &source.layout, url).await?;
        Ok(object.map(|o| (Arc::clone(source), o)))
    }

    /// Changes which objects `audit_events` and `rejects` read. With [`ObjectScope::Pinned`] a
    /// scheduled run evaluates exactly its newly landed objects (all their events, whatever their
    /// event time), once.
    pub async fn set_scope(&self, window: TimeWindow, scope: ObjectScope) -> Result<()> {
        let events = AuditEventsTable::new(self.sources.clone(), window, ScanOutput::Events, Arc::clone(&self.report), self.batch_size);
        let rejects = AuditEventsTable::new(self.sources.clone(), window, ScanOutput::Rejects, Arc::new(ScanReport::default()), self.batch_size);
        // The fact views hold a plan bound to the table they were created over: rebuild them too.
        for name in [AUDIT_EVENTS_TABLE, REJECTS_TABLE].into_iter().chain(facts::FACT_VIEWS.iter().map(|(n, _)| *n)) {
            self.ctx.deregister_table(name)?;
        }
        self.ctx.register_table(AUDIT_EVENTS_TABLE, Arc::new(events.with_scope(scope.clone())))?;
        self.ctx.register_table(REJECTS_TABLE, Arc::new(rejects.with_scope(scope)))?;
        facts::register(&self.ctx).await
    }

    /// The DataFusion session, for callers that register more tables or UDFs.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// What scans of `audit_events` have read, dropped and rejected so far.
    pub fn report(&self) -> &ScanReport {
        &self.report
    }

    /// The rule pack's own allow-lists, for opening another session over the same pack.
    pub fn pack_allowlists(&self) -> &Allowlists {
        &self.pack_allowlists
    }

    /// The allow-lists rules see (the pack's defaults plus the config's).
    pub fn allowlists(&self) -> &Allowlists {
        &self.allowlists
    }

    /// Runs `rules` over one shared scan of `audit_events` (see [`pack`]); results per rule id,
    /// or an error naming the first rule that failed.
    pub async fn run_shared(&self, rules: &[&crate::rules::Rule]) -> Result<Vec<(String, Vec<RecordBatch>)>> {
        self.run_queries_shared(&rule_queries(rules)).await?.all_or_error()
    }

    /// Runs `(id, sql)` queries over one shared scan of `audit_events`: results per id, and the
    /// queries that failed (the others still run).
    pub async fn run_queries_shared(&self, queries: &[(&str, &str)]) -> Result<pack::PackOutput> {
        self.plan_pack(queries).await?.execute().await
    }

    /// Plans `(id, sql)` queries over one shared scan of `audit_events` as it is now scoped,
    /// without running them.
    pub async fn plan_pack(&self, queries: &[(&str, &str)]) -> Result<pack::SharedPack> {
        pack::SharedPack::plan(&self.ctx, queries, &self.allowlists).await
    }

    /// Runs `rules` over the events of `window` that `scope` reads, chunk by chunk (see
    /// [`AuditLake::plan_chunks`]), each chunk one shared scan. Results per rule id, in the rules'
    /// order, and the CPU time each rule's plan spent (scan and shared pre-filtering not included),
    /// summed over chunks, most expensive first. Leaves `audit_events` scoped to `window`.
    pub async fn run_pack(&self, rules: &[&crate::rules::Rule], window: TimeWindow, scope: ObjectScope) -> Result<PackResults> {
        let metas: Vec<&crate::rules::RuleMeta> = rules.iter().map(|r| &r.meta).collect();
        let chunks = self.plan_chunks(window, &scope, &metas).await?;
        let queries = rule_queries(rules);
        let mut results: Vec<(String, Vec<RecordBatch>)> = queries.iter().map(|(id, _)| ((*id).to_owned(), Vec::new())).collect();
        let mut cost: BTreeMap<String, std::time::Duration> = BTreeMap::new();
        let mut failed: Vec<pack::RuleFailure> = Vec::new();
        for chunk in &chunks {
            tracing::info!(from = ?chunk.keep.from, to = ?chunk.keep.to, chunks = chunks.len(), "evaluating chunk");
            // Only a chunk narrows the extra objects to those whose partitions can hold its events;
            // in one pass they are all read, late landings included.
            let chunk_scope = if chunks.len() > 1 { scope.within(chunk.scan) } else { scope.clone() };
            self.set_scope(chunk.scan, chunk_scope).await?;
            let pack = self.plan_pack(&queries).await?;
            let plans = pack.plans();
            let output = pack.execute().await?;
            for (id, batches) in output.results {
                let slot = results.iter_mut().find(|(r, _)| *r == id).expect("results come from the pack's queries");
                slot.1.extend(if chunks.len() > 1 { chunks::keep_in(batches, chunk.keep)? } else { batches });
            }
            for f in output.failed {
                if !failed.iter().any(|known| known.id == f.id) {
                    failed.push(f);
                }
            }
            for (id, plan) in plans {
                *cost.entry(id).or_default() += pack::compute_time(&plan);
            }
        }
        if chunks.len() > 1 {
            self.set_scope(window, scope).await?;
        }
        let mut cost: Vec<(String, std::time::Duration)> = cost.into_iter().collect();
        cost.sort_by(|a, b| b.1.cmp(&a.1));
        results.retain(|(id, _)| !failed.iter().any(|f| f.id == *id));
        Ok(PackResults { results, cost, chunks: chunks.len(), failed })
    }

    /// How a pack run over `window` is cut into event-time chunks ([`chunks`]): epoch-aligned spans
    /// of `scan.chunk`, rounded up to whole buckets of `rules`, each scanning the pack's longest
    /// bucket or span before it. One chunk, the window itself, when chunking is off, the window
    /// fits one chunk, the scope is pinned, or an object to read has no time in its key (every
    /// chunk would read it again). An open side of the window is closed at the earliest (latest)
    /// event time the listed partitions can hold; a record landed later than `lateness` after its
    /// event falls outside, and is counted as out of window.
    pub async fn plan_chunks(&self, window: TimeWindow, scope: &ObjectScope, rules: &[&crate::rules::RuleMeta]) -> Result<Vec<chunks::Chunk>> {
        let whole = vec![chunks::Chunk { keep: window, scan: window }];
        let extra: &[SourceObject] = match scope {
            ObjectScope::Listing => &[],
            ObjectScope::ListingPlus(extra) => extra,
            ObjectScope::Pinned(_) => return Ok(whole),
        };
        if self.chunk <= 0 {
            return Ok(whole);
        }
        let align = crate::rules::bucket_alignment(rules.iter().copied());
        let len = (self.chunk + align - 1) / align * align;
        let margin = rules.iter().map(|r| r.context_micros()).max().unwrap_or(0);
        // A bounded window that fits one chunk (every scheduled run's context) needs no listing.
        if let (Some(from), Some(to)) = (window.from, window.to)
            && chunks::split(from, to, len, margin).len() <= 1
        {
            return Ok(whole);
        }
        let listed = list_sources(&self.sources, window, &ScanReport::default()).await?;
        let mut extent: Option<(i64, i64)> = None;
        for (source, object) in listed.iter().chain(extra) {
            let Some((lo, hi)) = source.event_span(object) else { return Ok(whole) };
            extent = Some(extent.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        }
        let Some((lo, hi)) = extent else { return Ok(whole) };
        let (from, to) = (window.from.unwrap_or(lo), window.to.unwrap_or(hi));
        let count = chunks::count(from, to, len);
        if count > chunks::MAX_CHUNKS {
            return Err(Error::Config(format!(
                "event-time window {} .. {} would be evaluated in {count} chunks of {} s (at most {}): narrow the window or raise scan.chunk",
                crate::normalize::time::format_micros(from),
                crate::normalize::time::format_micros(to),
                len / 1_000_000,
                chunks::MAX_CHUNKS
            )));
        }
        let chunks = chunks::split(from, to, len, margin);
        Ok(if chunks.len() > 1 { chunks } else { whole })
    }

    /// The resolved sources.
    pub fn sources(&self) -> &[Arc<ResolvedSource>] {
        &self.sources
    }

    /// Plans a SQL statement, its allow-list subqueries inlined ([`pack::constants::plan_sql`]).
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        Ok(pack::constants::plan_sql(&self.ctx, sql).await?)
    }
}
