//! `aks_diagnostics`: each input line is one diagnostic record's `properties.log` (the audit event
//! as JSON text).
#![no_main]

mod common;

use auditlake::sources::SourceFormat;
use auditlake::sources::synthetic::{AksRow, aks_diagnostics};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rows: Vec<AksRow> = common::lines(data)
        .into_iter()
        .map(|log| AksRow { time: None, category: Some("kube-audit".into()), log: Some(log) })
        .collect();
    common::check(SourceFormat::AksDiagnostics, &aks_diagnostics(&rows).expect("an AKS batch"));
});
