//! The time and duration parsers and the JSON event decoder, on the input as text.
#![no_main]

use auditlake::config::{MAX_DURATION_MICROS, parse_duration_micros};
use auditlake::normalize::parse_audit_event;
use auditlake::normalize::time::{parse_timestamp_micros, supported_event_time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(t) = parse_timestamp_micros(&text) {
        assert_eq!(supported_event_time(t), Some(t), "{text:?}");
    }
    if let Ok(d) = parse_duration_micros(&text) {
        assert!((0..=MAX_DURATION_MICROS).contains(&d), "{text:?} -> {d}");
    }
    if let Ok(e) = parse_audit_event(&text) {
        for t in [e.stage_time, e.request_received_time, e.legacy_time].into_iter().flatten() {
            assert_eq!(supported_event_time(t), Some(t), "{text:?}");
        }
    }
});
