//! What every adapter target shares: the input's lines, and the check of what normalizing promises.

use auditlake::sources::SourceFormat;
use auditlake::sources::synthetic::check_normalize;
use datafusion::arrow::record_batch::RecordBatch;

/// The input's lines as text (invalid UTF-8 replaced: landed text columns are UTF-8).
pub fn lines(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == b'\n').map(|l| String::from_utf8_lossy(l).into_owned()).collect()
}

/// Normalizes `batch`; a broken promise is a crash for the fuzzer to report.
pub fn check(format: SourceFormat, batch: &RecordBatch) {
    if let Err(broken) = check_normalize(format, batch) {
        panic!("{format}: {broken}");
    }
}
