//! What a scan read, dropped and rejected: counted per source while the query runs, so the CLI can
//! report it and `--strict` can fail on it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::sources::Reject;

/// How many rejects are kept in memory as examples; the `rejects` table has all of them.
pub const REJECT_SAMPLES: usize = 20;

/// Counters for one source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceCounts {
    pub objects_listed: u64,
    pub objects_opened: u64,
    pub objects_rejected: u64,
    pub rows_read: u64,
    pub rows_rejected: u64,
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
    samples: Vec<(String, Reject)>,
}

impl ScanReport {
    /// Adds counts for `source`.
    pub fn add(&self, source: &str, counts: &SourceCounts) {
        let mut inner = self.inner.lock().expect("report lock poisoned");
        inner.per_source.entry(source.to_owned()).or_default().add(counts);
    }

    /// Keeps the first few rejects as examples for the CLI's message.
    pub fn sample_rejects(&self, source: &str, rejects: &[Reject]) {
        let mut inner = self.inner.lock().expect("report lock poisoned");
        for r in rejects {
            if inner.samples.len() >= REJECT_SAMPLES {
                break;
            }
            inner.samples.push((source.to_owned(), r.clone()));
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

    /// The first rejects seen, with their source.
    pub fn samples(&self) -> Vec<(String, Reject)> {
        self.inner.lock().expect("report lock poisoned").samples.clone()
    }

    /// Rejected rows plus rejected objects.
    pub fn rejected(&self) -> u64 {
        let t = self.totals();
        t.rows_rejected + t.objects_rejected
    }
}
