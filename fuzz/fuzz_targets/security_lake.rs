//! `security_lake`: each input line is one OCSF row, `time` (epoch milliseconds, or anything: then
//! absent) then tab-separated `unmapped` entries `key=value`.
#![no_main]

mod common;

use auditlake::sources::SourceFormat;
use auditlake::sources::synthetic::{SecurityLakeRow, security_lake};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rows: Vec<SecurityLakeRow> = common::lines(data)
        .iter()
        .map(|line| {
            let mut fields = line.split('\t');
            let time = fields.next().and_then(|t| t.parse().ok());
            let unmapped = fields.map(|kv| kv.split_once('=').unwrap_or((kv, ""))).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            SecurityLakeRow { time, unmapped: Some(unmapped), request_data: None }
        })
        .collect();
    common::check(SourceFormat::SecurityLake, &security_lake(&rows).expect("an OCSF batch"));
});
