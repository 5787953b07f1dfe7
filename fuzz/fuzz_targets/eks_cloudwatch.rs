//! `eks_cloudwatch`: each input line is one CloudWatch row's `message` (the audit event as JSON text).
#![no_main]

mod common;

use auditlake::sources::SourceFormat;
use auditlake::sources::synthetic::{CloudWatchRow, eks_cloudwatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rows: Vec<CloudWatchRow> = common::lines(data)
        .into_iter()
        .map(|m| CloudWatchRow { log_stream: Some("kube-apiserver-audit-fuzz".into()), timestamp: None, message: Some(m) })
        .collect();
    common::check(SourceFormat::EksCloudwatch, &eks_cloudwatch(&rows).expect("a CloudWatch batch"));
});
