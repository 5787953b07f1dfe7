//! `k8s_audit`: the input is JSON lines, decoded (as a Spark/Glue landing would hold them) into the
//! typed columns of the landing schema, times as microsecond timestamps; input that does not
//! decode is the landing's problem, not the adapter's, and is skipped.
#![no_main]

mod common;

use auditlake::generate::landing::{decode_json_lines, k8s_audit_schema};
use auditlake::sources::SourceFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = decode_json_lines(&k8s_audit_schema(), common::lines(data).into_iter()) {
        common::check(SourceFormat::K8sAudit, &batch);
    }
});
