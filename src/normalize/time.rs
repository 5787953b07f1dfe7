//! Lenient timestamp parsing for the formats audit logs use, to microseconds since the epoch (UTC),
//! and the one range every event time must fall in.
//!
//! Hand-written rather than chrono's format parser because it runs once or twice per event on the hot
//! path and must accept every variant seen in landings: `T` or space separator, 0–9 fractional digits,
//! `Z`, `±HH:MM` or no zone (taken as UTC).

use super::json_event::FieldError;

/// The earliest supported event time, 0001-01-01T00:00:00Z, in microseconds since the epoch.
pub const MIN_EVENT_MICROS: i64 = -62_135_596_800_000_000;
/// The latest supported event time, 9999-12-31T23:59:59.999999Z, in microseconds since the epoch.
pub const MAX_EVENT_MICROS: i64 = 253_402_300_799_999_999;
/// [`MIN_EVENT_MICROS`]..=[`MAX_EVENT_MICROS`] as text, for messages and docs.
pub const EVENT_TIME_RANGE: &str = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z";

/// `micros` when it is a supported event time, else `None`.
///
/// The range is what RFC 3339 can write (four-digit years) and what readers of the outputs
/// (pyarrow, Python `datetime`) can represent. Bounding every time that enters the pipeline is what
/// keeps the arithmetic after it (correlation windows, lateness margins, buckets: times plus or
/// minus durations of at most a hundred years) far from `i64` overflow, so nothing downstream has
/// to check.
pub fn supported_event_time(micros: i64) -> Option<i64> {
    (MIN_EVENT_MICROS..=MAX_EVENT_MICROS).contains(&micros).then_some(micros)
}

/// `text` as an event time, or the error every landing gives for it, naming `field`.
pub fn parse_event_time(field: &str, text: &str) -> Result<i64, FieldError> {
    parse_timestamp_micros(text)
        .ok_or_else(|| FieldError::new(field, format!("timestamp '{text}' does not parse, or lies outside {EVENT_TIME_RANGE}")))
}

/// Parses `2024-11-15T21:00:00.146797Z`, `2022-11-29 00:09:04.38`, `2024-11-15T21:00:00.154534959Z`,
/// `2024-01-01T10:00:00+02:00`, `2024-05-01` (midnight UTC). `None` for anything else, and for times
/// outside the [supported range](supported_event_time) (year 0000, or an offset pushing 9999-12-31
/// past the end).
pub fn parse_timestamp_micros(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 10 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[4] != b'-' || b[7] != b'-' || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        return supported_event_time(days * 86_400_000_000);
    }
    if (b[10] != b'T' && b[10] != b't' && b[10] != b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..6 {
            micros *= 10;
        }
    }
    let offset_secs = match b.get(i) {
        None => 0,
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            // On bytes, not `&str` slices: a multi-byte character in the offset (`+€1`) must be a
            // parse failure, and slicing a `&str` inside it panics.
            let rest = i + 1..b.len();
            let (oh, om) = match rest.len() {
                5 if b[i + 3] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?),
                4 => (num(i + 1..i + 3)?, num(i + 3..i + 5)?),
                2 => (num(rest)?, 0),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    // No overflow: four-digit years keep every term within a few times 10^17.
    let secs = days * 86_400 + h * 3600 + m * 60 + sec - offset_secs;
    supported_event_time(secs * 1_000_000 + micros)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats microseconds since the epoch as RFC 3339 with microseconds and `Z`.
pub fn format_micros(micros: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => micros.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_variants_seen_in_landings() {
        let base = parse_timestamp_micros("2024-11-15T21:00:00Z").unwrap();
        assert_eq!(base, 1_731_704_400_000_000);
        assert_eq!(parse_timestamp_micros("2024-11-15T21:00:00.146797Z"), Some(base + 146_797));
        assert_eq!(parse_timestamp_micros("2024-11-15T21:00:00.154534959Z"), Some(base + 154_534));
        assert_eq!(parse_timestamp_micros("2024-11-15 21:00:00.38"), Some(base + 380_000));
        assert_eq!(parse_timestamp_micros("2024-11-15T23:00:00+02:00"), Some(base));
        assert_eq!(parse_timestamp_micros("2024-11-15T20:30:00-0030"), Some(base));
        assert_eq!(parse_timestamp_micros("2024-11-15"), Some(base - 21 * 3_600_000_000));
        assert_eq!(parse_timestamp_micros("1969-12-31T23:59:59Z"), Some(-1_000_000));
    }

    #[test]
    fn rejects_garbage() {
        for s in ["", "yesterday", "2024-13-01T00:00:00Z", "2024-11-15T25:00:00Z", "2024-11-15T21:00:00.Z", "2024-11-15T21:00:00Zjunk", "1700000000"] {
            assert_eq!(parse_timestamp_micros(s), None, "{s}");
        }
    }

    #[test]
    fn regression_offset_with_multibyte_char_is_a_reject_not_a_panic() {
        for s in ["2026-11-01T03:00:00+€1", "2026-11-01T03:00:00+0€", "2026-11-01T03:00:00-€", "2026-11-01T03:00:00+é:00", "2026-11-01T03:00:00+1€00"] {
            assert_eq!(parse_timestamp_micros(s), None, "{s}");
        }
        // A sign inside the offset is not a digit.
        assert_eq!(parse_timestamp_micros("2026-11-01T03:00:00++1:00"), None);
        assert_eq!(parse_timestamp_micros("2026-11-01T03:00:00+24:00"), None);
        // Which the decoders turn into a reject naming the field.
        let event = r#"{"auditID":"x","stageTimestamp":"2026-11-01T03:00:00+€1"}"#;
        assert_eq!(super::super::parse_audit_event(event).unwrap_err().field, "stageTimestamp");
    }

    #[test]
    fn regression_times_outside_the_supported_range_do_not_parse() {
        assert_eq!(parse_timestamp_micros("0001-01-01T00:00:00Z"), Some(MIN_EVENT_MICROS));
        assert_eq!(parse_timestamp_micros("9999-12-31T23:59:59.999999Z"), Some(MAX_EVENT_MICROS));
        assert_eq!(parse_timestamp_micros("9999-12-31T23:59:59.999999+01:00"), Some(MAX_EVENT_MICROS - 3_600_000_000));
        for s in ["0000-12-31T23:59:59Z", "0000-06-01", "9999-12-31T23:00:00-01:00", "0001-01-01T00:00:00+00:01"] {
            assert_eq!(parse_timestamp_micros(s), None, "{s}");
        }
        assert_eq!(supported_event_time(i64::MAX), None);
        assert_eq!(supported_event_time(i64::MIN), None);
    }

    #[test]
    fn formatting_an_unrepresentable_time_does_not_panic() {
        assert_eq!(format_micros(MAX_EVENT_MICROS), "9999-12-31T23:59:59.999999Z");
        assert_eq!(format_micros(MIN_EVENT_MICROS), "0001-01-01T00:00:00.000000Z");
        assert_eq!(format_micros(i64::MAX), i64::MAX.to_string());
        assert_eq!(format_micros(i64::MIN), i64::MIN.to_string());
    }

    #[test]
    fn formats_round_trip() {
        let t = parse_timestamp_micros("2024-11-15T21:00:00.146797Z").unwrap();
        assert_eq!(format_micros(t), "2024-11-15T21:00:00.146797Z");
    }
}
