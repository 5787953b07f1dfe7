//! What a scan read, skipped, dropped and rejected: counted per source while the query runs, so the
//! CLI can report it, `--strict` can fail on it and a run can write its rejects without reading
//! the input a second time.
//!
//! Rejects are kept in bounded memory whatever their number: every reject is counted, by source,
//! object, field and kind (its reason with the values masked); the first [`KEPT_PER_KIND`] of each
//! kind in each object, and at most [`MAX_KEPT_REJECTS`] in all, are kept whole (as excerpts);
//! the others of a kind in an object become one summary with their count and row range, which is
//! where the full records are found in the landed object.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::sources::{Reject, SkippedRows};

/// How many rejects [`ScanReport::samples`] returns, as examples for the CLI's message.
pub const REJECT_SAMPLES: usize = 20;
/// Rejects kept whole per report (a run); past it rejects are only counted, in summaries.
pub const MAX_KEPT_REJECTS: usize = 10_000;
/// Rejects of one kind kept whole per object; the rest of that kind in the object are summarized.
/// Per object, so that which rows are kept does not depend on how partitions interleave.
pub const KEPT_PER_KIND: u64 = 100;
/// Log categories counted by name per report; past it further names count as `other`.
pub const MAX_SKIPPED_CATEGORIES: usize = 100;
/// Longest reject kind, in bytes.
const MAX_KIND_BYTES: usize = 120;

/// Counters for one source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceCounts {
    pub objects_listed: u64,
    pub objects_opened: u64,
    pub objects_rejected: u64,
    pub rows_read: u64,
    pub rows_rejected: u64,
    /// Rows of other log categories (not audit events), skipped.
    pub rows_skipped: u64,
    pub rows_out_of_window: u64,
    pub duplicates_dropped: u64,
    /// Size of the objects read.
    pub bytes_read: u64,
    /// Bytes actually fetched from the store (footers and the projected column chunks).
    pub bytes_fetched: u64,
}

impl SourceCounts {
    fn add(&mut self, o: &SourceCounts) {
        self.objects_listed += o.objects_listed;
        self.objects_opened += o.objects_opened;
        self.objects_rejected += o.objects_rejected;
        self.rows_read += o.rows_read;
        self.rows_rejected += o.rows_rejected;
        self.rows_skipped += o.rows_skipped;
        self.rows_out_of_window += o.rows_out_of_window;
        self.duplicates_dropped += o.duplicates_dropped;
        self.bytes_read += o.bytes_read;
        self.bytes_fetched += o.bytes_fetched;
    }
}

/// Shared, thread-safe scan report.
#[derive(Debug, Default)]
pub struct ScanReport {
    inner: Mutex<ReportInner>,
}

#[derive(Debug, Default)]
struct ReportInner {
    per_source: BTreeMap<String, SourceCounts>,
    skipped: SkippedRows,
    kept: Vec<SourcedReject>,
    groups: BTreeMap<GroupKey, Group>,
}

/// A reject with the source it came from. `rows` is 1, or for a summary the rejects it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcedReject {
    pub source_name: String,
    /// The source's format.
    pub source: &'static str,
    pub reject: Reject,
    pub rows: u64,
}

/// Rejects of one kind: how many, which object first showed them, and a reason as example.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectKind {
    pub source_name: String,
    pub field: Option<String>,
    /// The reason with quoted values and numbers masked.
    pub kind: String,
    pub count: u64,
    pub object: String,
    pub row: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    source_name: String,
    object: String,
    field: Option<String>,
    kind: String,
}

/// The rejects of one kind in one object.
#[derive(Debug)]
struct Group {
    source: &'static str,
    seen: u64,
    first_row: Option<i64>,
    /// Rejects counted but not kept, their row range and the first one's reason.
    summarized: u64,
    rows: Option<(i64, i64)>,
    example: String,
}

/// A reason's kind: its text with quoted values (`'x'`, `"x"`, `` `x` ``) shown as `…` and numbers
/// as `N`, so that one bad timestamp format or one type mismatch is one kind whatever the values.
pub fn reject_kind(reason: &str) -> String {
    let mut out = String::new();
    let mut chars = reason.chars();
    while let Some(c) = chars.next() {
        if out.len() >= MAX_KIND_BYTES {
            break;
        }
        match c {
            '\'' | '"' | '`' => {
                // An excerpt can end inside the quote: then the rest of the text is the value.
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                }
                out.push(c);
                out.push('…');
                out.push(c);
            }
            d if d.is_ascii_digit() => {
                if !out.ends_with('N') {
                    out.push('N');
                }
            }
            c => out.push(c),
        }
    }
    out
}

impl ScanReport {
    /// Adds counts for `source`.
    pub fn add(&self, source: &str, counts: &SourceCounts) {
        let mut inner = self.inner.lock().expect("report lock poisoned");
        inner.per_source.entry(source.to_owned()).or_default().add(counts);
    }

    /// Adds rows skipped per log category.
    pub fn add_skipped(&self, skipped: &SkippedRows) {
        let mut inner = self.inner.lock().expect("report lock poisoned");
        for (category, n) in skipped {
            let known = inner.skipped.contains_key(category) || inner.skipped.len() < MAX_SKIPPED_CATEGORIES;
            let key = if known { category.clone() } else { "other".to_owned() };
            *inner.skipped.entry(key).or_default() += n;
        }
    }

    /// Rows skipped per log category, over all sources.
    pub fn skipped(&self) -> SkippedRows {
        self.inner.lock().expect("report lock poisoned").skipped.clone()
    }

    /// Takes `rejects` of `source_name` (format `source`): counts every one, keeps the first of
    /// each kind in each object up to the limits, summarizes the rest.
    pub fn record_rejects(&self, source_name: &str, source: &'static str, rejects: &mut Vec<Reject>) {
        if rejects.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().expect("report lock poisoned");
        let ReportInner { kept, groups, .. } = &mut *inner;
        for r in rejects.drain(..) {
            let key = GroupKey { source_name: source_name.to_owned(), object: r.object.clone(), field: r.field.clone(), kind: reject_kind(&r.reason) };
            let group = groups.entry(key).or_insert_with(|| Group { source, seen: 0, first_row: r.row, summarized: 0, rows: None, example: String::new() });
            group.seen += 1;
            if group.seen <= KEPT_PER_KIND && kept.len() < MAX_KEPT_REJECTS {
                kept.push(SourcedReject { source_name: source_name.to_owned(), source, reject: r, rows: 1 });
                continue;
            }
            group.summarized += 1;
            if group.example.is_empty() {
                group.example = r.reason;
            }
            if let Some(row) = r.row {
                group.rows = Some(group.rows.map_or((row, row), |(a, b)| (a.min(row), b.max(row))));
            }
        }
    }

    /// The rejects kept whole, then one summary per object and kind for those only counted.
    pub fn rejects(&self) -> Vec<SourcedReject> {
        let inner = self.inner.lock().expect("report lock poisoned");
        let mut out = inner.kept.clone();
        for (key, g) in inner.groups.iter().filter(|(_, g)| g.summarized > 0) {
            let rows = g.rows.map(|(a, b)| format!(" in rows {a}..={b}")).unwrap_or_default();
            let reason = format!("{} more rejects of this kind{rows}, counted but not kept one by one; the first: {}", g.summarized, g.example);
            out.push(SourcedReject {
                source_name: key.source_name.clone(),
                source: g.source,
                reject: Reject::new(&key.object, g.rows.map(|(a, _)| a), key.field.clone(), &reason, None),
                rows: g.summarized,
            });
        }
        out
    }

    /// Rejects per source, field and kind, with the first object that showed each.
    pub fn reject_kinds(&self) -> Vec<RejectKind> {
        let inner = self.inner.lock().expect("report lock poisoned");
        let mut kinds: BTreeMap<(&str, &Option<String>, &str), RejectKind> = BTreeMap::new();
        for (key, g) in &inner.groups {
            kinds
                .entry((key.source_name.as_str(), &key.field, key.kind.as_str()))
                .and_modify(|k| k.count += g.seen)
                .or_insert_with(|| RejectKind {
                    source_name: key.source_name.clone(),
                    field: key.field.clone(),
                    kind: key.kind.clone(),
                    count: g.seen,
                    object: key.object.clone(),
                    row: g.first_row,
                });
        }
        kinds.into_values().collect()
    }

    /// Logs one warning per kind of reject, with its count (never one line per reject).
    pub fn log_rejects(&self) {
        for k in self.reject_kinds() {
            let field = k.field.as_deref().unwrap_or("-");
            tracing::warn!(source = %k.source_name, field, count = k.count, first_object = %k.object, first_row = ?k.row, "{} input record(s) or object(s) rejected: {}", k.count, k.kind);
        }
    }

    /// Counts per source.
    pub fn per_source(&self) -> BTreeMap<String, SourceCounts> {
        self.inner.lock().expect("report lock poisoned").per_source.clone()
    }

    /// Totals over all sources.
    pub fn totals(&self) -> SourceCounts {
        let mut t = SourceCounts::default();
        for c in self.per_source().values() {
            t.add(c);
        }
        t
    }

    /// The first rejects kept, with their source.
    pub fn samples(&self) -> Vec<(String, Reject)> {
        let inner = self.inner.lock().expect("report lock poisoned");
        inner.kept.iter().take(REJECT_SAMPLES).map(|r| (r.source_name.clone(), r.reject.clone())).collect()
    }

    /// Rejected rows plus rejected objects.
    pub fn rejected(&self) -> u64 {
        let t = self.totals();
        t.rows_rejected + t.objects_rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(object: &str, row: i64, reason: &str) -> Reject {
        Reject::new(object, Some(row), Some("message".into()), reason, Some("{bad"))
    }

    #[test]
    fn kinds_mask_values_and_numbers() {
        assert_eq!(reject_kind("timestamp 'the first of May' does not parse"), "timestamp '…' does not parse");
        assert_eq!(reject_kind("invalid type: string \"abc\", expected i32 at line 1 column 5521"), "invalid type: string \"…\", expected iN at line N column N");
        // An excerpt cut inside the quoted value.
        assert_eq!(reject_kind("invalid type: string \"aaaa… [52428800 bytes in all]"), "invalid type: string \"…\"");
    }

    #[test]
    fn regression_two_hundred_thousand_rejects_keep_bounded_rows_and_count_every_one() {
        let report = ScanReport::default();
        for object in ["a", "b"] {
            for chunk in 0..100 {
                let mut batch: Vec<Reject> = (0..1000).map(|i| reject(object, chunk * 1000 + i, &format!("timestamp '{i}' does not parse"))).collect();
                report.record_rejects("eks", "eks_cloudwatch", &mut batch);
                assert!(batch.is_empty());
            }
        }
        let rejects = report.rejects();
        // The first KEPT_PER_KIND of the kind in each object, and one summary per object.
        assert_eq!(rejects.len(), 2 * KEPT_PER_KIND as usize + 2);
        assert_eq!(rejects.iter().map(|r| r.rows).sum::<u64>(), 200_000);
        let summary = rejects.last().unwrap();
        assert_eq!((summary.reject.object.as_str(), summary.reject.row, summary.rows), ("b", Some(100), 99_900));
        assert!(summary.reject.reason.starts_with("99900 more rejects of this kind in rows 100..=99999"), "{}", summary.reject.reason);
        assert_eq!(summary.reject.record, None);
        let kinds = report.reject_kinds();
        assert_eq!(kinds.len(), 1);
        assert_eq!((kinds[0].count, kinds[0].object.as_str(), kinds[0].row), (200_000, "a", Some(0)));
    }

    #[test]
    fn kept_rejects_stop_at_the_run_limit() {
        let report = ScanReport::default();
        for object in 0..(MAX_KEPT_REJECTS / KEPT_PER_KIND as usize + 5) {
            let mut batch: Vec<Reject> = (0..KEPT_PER_KIND as i64).map(|i| reject(&object.to_string(), i, "not a JSON object")).collect();
            report.record_rejects("eks", "eks_cloudwatch", &mut batch);
        }
        let rejects = report.rejects();
        assert_eq!(rejects.iter().filter(|r| r.rows == 1).count(), MAX_KEPT_REJECTS);
        assert_eq!(rejects.iter().map(|r| r.rows).sum::<u64>(), (MAX_KEPT_REJECTS + 5 * KEPT_PER_KIND as usize) as u64);
    }
}
