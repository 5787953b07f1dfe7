//! Long rule-pack windows (backfills, `bench`) evaluated in event-time chunks, so that what a
//! pack run holds — the scan's set of event keys for dropping duplicates, the aggregation rules'
//! groups — is bounded by the chunk and not by the window.
//!
//! For records that land within `lateness`, chunking changes no result: chunk boundaries are epoch-aligned to a multiple of every rule's
//! bucket, so a bucket never straddles two chunks; each chunk's scan also reads `margin` (the
//! longest bucket or sequence span of the pack) before the chunk, so a sequence whose later event
//! falls in the chunk sees its earlier one; and a chunk keeps only the results whose `event_time`
//! falls inside it, so what its margin re-reads is reported by the chunk it belongs to. Each chunk
//! lists only the partitions that can hold its events, so the data read twice is the partitions
//! within the lateness and margin of each boundary.

use datafusion::arrow::array::{BooleanArray, RecordBatch, TimestampMicrosecondArray};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, TimeUnit};

use super::window::TimeWindow;
use crate::Result;
use crate::normalize::schema::EVENT_TIME;

/// One chunk of a window: the events it reads and the results it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Results with `event_time` in here belong to this chunk.
    pub keep: TimeWindow,
    /// The event-time window its scan reads: `keep` plus the margin before it.
    pub scan: TimeWindow,
}

/// The most chunks one pack run is split into: a window needing more (a record stamped in the
/// year 9999 stretching a backfill's extent, a typo in `--end`) is refused up front instead of
/// being ground through for days. 10,000 daily chunks are 27 years.
pub const MAX_CHUNKS: u64 = 10_000;

/// How many chunks [`split`] makes of `[from, to)`, computed without making them.
pub fn count(from: i64, to: i64, len: i64) -> u64 {
    if from >= to || len <= 0 {
        return 0;
    }
    let first = from.div_euclid(len) as i128;
    let last = (to - 1).div_euclid(len) as i128;
    (last - first + 1) as u64
}

/// Splits `[from, to)` at multiples of `len` (epoch-aligned); each chunk's scan starts `margin`
/// earlier, but never before `from`. End pieces shorter than a quarter chunk join their neighbour.
pub fn split(from: i64, to: i64, len: i64, margin: i64) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        let end = (start.div_euclid(len) + 1).saturating_mul(len).min(to);
        let keep = TimeWindow { from: Some(start), to: Some(end) };
        let scan = TimeWindow { from: Some(start.saturating_sub(margin).max(from)), to: Some(end) };
        out.push(Chunk { keep, scan });
        start = end;
    }
    // A sliver at either end (an open window's edge is the lateness margin around the landed
    // partitions) joins its neighbour: each chunk lists the partitions around it again.
    let short = |c: &Chunk| c.keep.to.unwrap_or(i64::MAX).saturating_sub(c.keep.from.unwrap_or(i64::MIN)) < len / 4;
    if out.len() >= 2 && short(&out[0]) {
        let first = out.remove(0);
        out[0].keep.from = first.keep.from;
        out[0].scan.from = first.scan.from;
    }
    if out.len() >= 2 && out.last().is_some_and(short) {
        let last = out.pop().expect("two chunks");
        let end = out.len() - 1;
        out[end].keep.to = last.keep.to;
        out[end].scan.to = last.scan.to;
    }
    out
}

/// The rows of `batches` whose `event_time` lies in `window`. Results without an `event_time`
/// column (not a rule's contract, but possible for ad-hoc queries) are kept whole.
pub fn keep_in(batches: Vec<RecordBatch>, window: TimeWindow) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let Ok(i) = b.schema().index_of(EVENT_TIME) else {
            out.push(b);
            continue;
        };
        let times = cast(b.column(i), &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let Some(times) = times.as_any().downcast_ref::<TimestampMicrosecondArray>() else {
            out.push(b);
            continue;
        };
        let mask: BooleanArray = times.iter().map(|t| Some(t.is_some_and(|t| window.contains(t)))).collect();
        let kept = filter_record_batch(&b, &mask)?;
        if kept.num_rows() > 0 {
            out.push(kept);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    const H: i64 = 3_600_000_000;

    #[test]
    fn chunks_are_aligned_cover_the_window_and_scan_a_margin_before() {
        let chunks = split(5 * H + 7, 60 * H, 24 * H, 300_000_000);
        let keeps: Vec<(i64, i64)> = chunks.iter().map(|c| (c.keep.from.unwrap(), c.keep.to.unwrap())).collect();
        assert_eq!(keeps, [(5 * H + 7, 24 * H), (24 * H, 48 * H), (48 * H, 60 * H)]);
        // The first chunk cannot read before the window; the others read the margin.
        assert_eq!(chunks[0].scan, chunks[0].keep);
        assert_eq!(chunks[1].scan.from, Some(24 * H - 300_000_000));
        assert_eq!(chunks[2].scan.to, Some(60 * H));
        assert!(split(10, 10, 24 * H, 0).is_empty());
        assert_eq!(count(5 * H + 7, 60 * H, 24 * H), 3);
        assert_eq!(count(0, 24 * H, 24 * H), 1);
        assert_eq!(count(i64::MIN, i64::MAX, 24 * H), 213_503_984, "no overflow at the extremes");
        // Slivers at the edges (here an hour before and five minutes after) join their neighbour.
        let day = split(-H, 24 * H + 300_000_000, 24 * H, 0);
        assert_eq!(day.len(), 1);
        assert_eq!((day[0].keep.from, day[0].keep.to), (Some(-H), Some(24 * H + 300_000_000)));
        let two = split(-H, 48 * H + 300_000_000, 24 * H, 60);
        assert_eq!(two.iter().map(|c| (c.keep.from.unwrap(), c.scan.from.unwrap())).collect::<Vec<_>>(), [(-H, -H), (24 * H, 24 * H - 60)]);
        assert_eq!(two[1].keep.to, Some(48 * H + 300_000_000));
    }

    #[test]
    fn results_are_kept_by_event_time() {
        let schema = Arc::new(Schema::new(vec![
            Field::new(EVENT_TIME, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
            Field::new("n", DataType::Int64, false),
        ]));
        let times = TimestampMicrosecondArray::from(vec![Some(5), Some(10), None, Some(19), Some(20)]).with_timezone("UTC");
        let b = RecordBatch::try_new(schema, vec![Arc::new(times), Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5]))]).unwrap();
        let kept = keep_in(vec![b], TimeWindow { from: Some(10), to: Some(20) }).unwrap();
        let n = kept[0].column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(n.values().to_vec(), vec![2, 4]);
    }
}
