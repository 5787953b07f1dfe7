//! Property tests of the input boundary: the time and duration parsers, the JSON event decoder and
//! every source adapter, fed arbitrary text, numbers and nesting. None may panic or overflow; every
//! failure is a `None`, an `Err` or a reject naming its field; every row in is an event or a reject
//! out; every event time out is in the supported range.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::TimeUnit;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::Value;

use crate::config::{MAX_DURATION_MICROS, parse_duration_micros};
use crate::normalize::parse_audit_event;
use crate::normalize::time::{format_micros, parse_timestamp_micros, supported_event_time};
use crate::sources::SourceFormat;
use crate::sources::synthetic::{self, AksRow, CloudWatchRow, K8sAuditColumns, SecurityLakeRow, TimeColumn};

/// Text that is a timestamp, nearly one (odd offsets, multi-byte characters, year 0000), or anything.
fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{4}-[01][0-9]-[0-3][0-9]([T ][0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{0,12})?)?([Zz]|[+-][0-9€é:+]{0,6})?",
        any::<String>(),
    ]
}

/// Epoch counts: anything, the extremes, and plausible milliseconds.
fn epoch_count() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), Just(i64::MAX), Just(i64::MIN), -100_000_000_000_000i64..300_000_000_000_000]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(any::<String>(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body: some JSON, or arrays or objects nested up to 400 deep (past serde_json's limit of 128).
fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        (1usize..400).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d))),
        (1usize..400).prop_map(|d| format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d))),
    ]
}

/// An audit event as JSON text, its fields of the right type or not.
fn event_text() -> impl Strategy<Value = String> {
    (
        option::of(prop_oneof![any::<String>().prop_map(Value::from), json_value()]),
        option::of(prop_oneof![time_text().prop_map(Value::from), json_value()]),
        option::of(time_text()),
        option::of(json_value()),
        option::of(body()),
        json_value(),
    )
        .prop_map(|(audit_id, stage, received, status, body, other)| {
            let mut m = serde_json::Map::new();
            let fields = [("auditID", audit_id), ("stageTimestamp", stage), ("requestReceivedTimestamp", received.map(Value::from)), ("responseStatus", status), ("x-other", Some(other))];
            for (k, v) in fields {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            // The body goes in as text: a deep one would overflow building it as a `Value`.
            let mut text = Value::Object(m).to_string();
            if let Some(b) = body {
                text.pop();
                text.push_str(&format!(",\"requestObject\":{b}}}"));
            }
            text
        })
}

/// What a landing's JSON text column may hold: an event, an event cut short, or anything.
fn message() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => event_text(),
        1 => any::<String>(),
        1 => (event_text(), any::<usize>()).prop_map(|(t, at)| {
            let mut cut = at % (t.len() + 1);
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            t[..cut].to_owned()
        }),
    ]
}

/// A flattened `unmapped` key: a body path of any depth (up to thousands of segments), or anything.
fn unmapped_key() -> impl Strategy<Value = String> {
    prop_oneof![
        vec("[a-z]{1,3}(\\[\\])?", 1..40).prop_map(|segs| format!("requestObject.{}", segs.join("."))),
        (1usize..3000, any::<bool>()).prop_map(|(d, arrays)| format!("responseObject.{}z", if arrays { "a[]." } else { "a." }.repeat(d))),
        "annotations\\.[a-z./]{0,12}",
        any::<String>(),
    ]
}

fn check(format: SourceFormat, batch: &RecordBatch) -> Result<(), TestCaseError> {
    synthetic::check_normalize(format, batch).map(drop).map_err(TestCaseError::fail)
}

proptest! {
    #[test]
    fn timestamps_parse_into_the_supported_range_or_not_at_all(s in prop_oneof![time_text(), any::<String>()]) {
        if let Some(t) = parse_timestamp_micros(&s) {
            prop_assert_eq!(supported_event_time(t), Some(t));
        }
    }

    #[test]
    fn rfc3339_timestamps_round_trip(y in 1i64..=9999, mo in 1i64..=12, d in 1i64..=28, h in 0i64..24, mi in 0i64..60, s in 0i64..60, us in 0i64..1_000_000) {
        let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z");
        let t = parse_timestamp_micros(&text);
        prop_assert!(t.is_some(), "{}", text);
        prop_assert_eq!(t.map(format_micros), Some(text));
    }

    #[test]
    fn durations_parse_within_the_maximum_or_not_at_all(s in prop_oneof![any::<String>(), "([0-9]{1,22}[smhd]){1,4}", "[0-9smhd ]{0,30}"]) {
        if let Ok(d) = parse_duration_micros(&s) {
            prop_assert!((0..=MAX_DURATION_MICROS).contains(&d), "{} -> {}", s, d);
        }
    }

    #[test]
    fn json_events_decode_or_name_the_field(text in message()) {
        match parse_audit_event(&text) {
            Ok(e) => {
                for t in [e.stage_time, e.request_received_time, e.legacy_time].into_iter().flatten() {
                    prop_assert_eq!(supported_event_time(t), Some(t));
                }
            }
            Err(e) => prop_assert!(!e.field.is_empty()),
        }
    }

    #[test]
    fn eks_cloudwatch_rows_become_events_or_rejects(rows in vec(
        (prop_oneof![4 => Just(Some("kube-apiserver-audit-1".to_owned())), 1 => option::of(any::<String>())], option::of(epoch_count()), option::of(message()))
            .prop_map(|(log_stream, timestamp, message)| CloudWatchRow { log_stream, timestamp, message }),
        0..8,
    )) {
        check(SourceFormat::EksCloudwatch, &synthetic::eks_cloudwatch(&rows).expect("a batch"))?;
    }

    #[test]
    fn aks_diagnostics_rows_become_events_or_rejects(rows in vec(
        (option::of(time_text()), prop_oneof![Just(Some("kube-audit".to_owned())), Just(Some("kube-audit-admin".to_owned())), option::of(any::<String>())], option::of(message()))
            .prop_map(|(time, category, log)| AksRow { time, category, log }),
        0..8,
    )) {
        check(SourceFormat::AksDiagnostics, &synthetic::aks_diagnostics(&rows).expect("a batch"))?;
    }

    #[test]
    fn security_lake_rows_become_events_or_rejects(rows in vec(
        (option::of(epoch_count()), option::of(vec((unmapped_key(), "[a-z0-9,]{0,12}"), 0..6)), option::of(body()))
            .prop_map(|(time, unmapped, request_data)| SecurityLakeRow { time, unmapped, request_data }),
        0..6,
    )) {
        check(SourceFormat::SecurityLake, &synthetic::security_lake(&rows).expect("a batch"))?;
    }

    #[test]
    fn k8s_audit_rows_become_events_or_rejects(columns in (0usize..10).prop_flat_map(|n| {
        let time_column = move || prop_oneof![
            vec(option::of(time_text()), n).prop_map(TimeColumn::Text),
            vec(option::of(epoch_count()), n).prop_map(TimeColumn::Int64),
            vec(option::of(any::<u64>()), n).prop_map(TimeColumn::UInt64),
            (prop_oneof![Just(TimeUnit::Second), Just(TimeUnit::Millisecond), Just(TimeUnit::Microsecond), Just(TimeUnit::Nanosecond)], vec(option::of(epoch_count()), n))
                .prop_map(|(unit, v)| TimeColumn::Timestamp(unit, v)),
        ];
        (vec(option::of(any::<String>()), n), time_column(), time_column(), vec(option::of(body()), n))
            .prop_map(|(audit_id, stage_timestamp, request_received_timestamp, request_object)| K8sAuditColumns { audit_id, stage_timestamp, request_received_timestamp, request_object })
    })) {
        check(SourceFormat::K8sAudit, &synthetic::k8s_audit(&columns).expect("a batch"))?;
    }
}
