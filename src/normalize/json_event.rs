//! One-pass decoding of an `audit.k8s.io` Event held as JSON text (CloudWatch `message`, AKS
//! `properties.log`, OCSF `api.request.data`).
//!
//! The text is parsed exactly once, with serde borrowing strings from the input wherever they carry
//! no escapes; request and response bodies stay raw JSON slices. This is the product's hot path.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::record::{AuditEvent, ObjectRef, ResponseStatus, Text, UserInfo};
use super::time::parse_event_time;

/// Why a record could not be decoded, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the offending field (`.` when the record as a whole is bad).
    pub field: String,
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field '{}': {}", self.field, self.reason)
    }
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error for an event nested in column `prefix` (`message`, `properties.log`).
    pub fn within(self, prefix: &str) -> Self {
        let field = if self.field == "." { prefix.to_owned() } else { format!("{prefix}.{}", self.field) };
        FieldError { field, reason: self.reason }
    }
}

/// A string that borrows from the input unless it had escapes.
struct JStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for JStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON array of strings (null elements skipped).
struct JStrs<'a>(Vec<Text<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for JStrs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<Option<JStr<'a>>> = Vec::deserialize(d)?;
        Ok(JStrs(v.into_iter().flatten().map(|s| s.0).collect()))
    }
}

/// A JSON object kept as ordered key/value pairs (no hashing on the hot path).
struct JPairs<'a, V>(Vec<(Text<'a>, V)>);

impl<'de: 'a, 'a, V: Deserialize<'de>> Deserialize<'de> for JPairs<'a, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PairsVisitor<'a, V>(std::marker::PhantomData<(&'a (), V)>);
        impl<'de: 'a, 'a, V: Deserialize<'de>> Visitor<'de> for PairsVisitor<'a, V> {
            type Value = JPairs<'a, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some((k, v)) = map.next_entry::<JStr<'a>, V>()? {
                    out.push((k.0, v));
                }
                Ok(JPairs(out))
            }
            // An empty array where an object is expected is common in hand-written fixtures.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
                }
                Ok(JPairs(Vec::new()))
            }
        }
        d.deserialize_map(PairsVisitor(std::marker::PhantomData))
    }
}

/// Annotation values are strings by spec; tolerate non-string scalars by keeping their JSON text.
struct JScalarText<'a>(Option<Text<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for JScalarText<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'de RawValue = Deserialize::deserialize(d)?;
        let text = raw.get();
        if text == "null" {
            return Ok(JScalarText(None));
        }
        if text.starts_with('"') {
            let s: JStr<'a> = serde_json::from_str(text).map_err(de::Error::custom)?;
            return Ok(JScalarText(Some(s.0)));
        }
        Ok(JScalarText(Some(Cow::Borrowed(text))))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUser<'a> {
    #[serde(borrow)]
    username: Option<JStr<'a>>,
    #[serde(borrow)]
    uid: Option<JStr<'a>>,
    #[serde(borrow)]
    groups: Option<JStrs<'a>>,
    #[serde(borrow)]
    extra: Option<JPairs<'a, Option<JStrs<'a>>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawObjectRef<'a> {
    #[serde(borrow)]
    resource: Option<JStr<'a>>,
    #[serde(borrow)]
    namespace: Option<JStr<'a>>,
    #[serde(borrow)]
    name: Option<JStr<'a>>,
    #[serde(borrow)]
    api_group: Option<JStr<'a>>,
    #[serde(borrow)]
    api_version: Option<JStr<'a>>,
    #[serde(borrow)]
    subresource: Option<JStr<'a>>,
}

#[derive(Deserialize)]
struct RawStatus<'a> {
    code: Option<i32>,
    #[serde(borrow)]
    status: Option<JStr<'a>>,
    #[serde(borrow)]
    reason: Option<JStr<'a>>,
    #[serde(borrow)]
    message: Option<JStr<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent<'a> {
    #[serde(borrow)]
    level: Option<JStr<'a>>,
    #[serde(rename = "auditID", borrow)]
    audit_id: Option<JStr<'a>>,
    #[serde(borrow)]
    stage: Option<JStr<'a>>,
    #[serde(rename = "requestURI", borrow)]
    request_uri: Option<JStr<'a>>,
    #[serde(borrow)]
    verb: Option<JStr<'a>>,
    #[serde(borrow)]
    user: Option<RawUser<'a>>,
    #[serde(borrow)]
    impersonated_user: Option<RawUser<'a>>,
    #[serde(rename = "sourceIPs", borrow)]
    source_ips: Option<JStrs<'a>>,
    #[serde(borrow)]
    user_agent: Option<JStr<'a>>,
    #[serde(borrow)]
    object_ref: Option<RawObjectRef<'a>>,
    #[serde(borrow)]
    response_status: Option<RawStatus<'a>>,
    #[serde(borrow)]
    request_object: Option<&'a RawValue>,
    #[serde(borrow)]
    response_object: Option<&'a RawValue>,
    #[serde(borrow)]
    request_received_timestamp: Option<JStr<'a>>,
    #[serde(borrow)]
    stage_timestamp: Option<JStr<'a>>,
    #[serde(borrow)]
    timestamp: Option<JStr<'a>>,
    #[serde(borrow)]
    annotations: Option<JPairs<'a, JScalarText<'a>>>,
}

fn text(s: Option<JStr<'_>>) -> Option<Text<'_>> {
    s.map(|s| s.0)
}

fn user(u: RawUser<'_>) -> UserInfo<'_> {
    UserInfo {
        name: text(u.username),
        uid: text(u.uid),
        groups: u.groups.map(|g| g.0),
        extra: u.extra.map(|e| {
            e.0.into_iter()
                .map(|(k, v)| (k, v.map(|v| v.0).unwrap_or_default()))
                .collect()
        }),
    }
}

/// The deepest a request or response body may nest (objects and arrays): serde_json's own default
/// limit, so that every body in `audit_events` parses with serde_json's defaults (and with the
/// JSON functions rules call, whose parser stops at 200).
pub const MAX_BODY_DEPTH: usize = 128;

/// True when JSON text `json` nests objects and arrays more than `limit` deep.
pub fn nests_deeper_than(json: &str, limit: usize) -> bool {
    let b = json.as_bytes();
    // The usual case, decided in one cheap pass: too few brackets to nest that deep.
    if b.iter().filter(|&&c| c == b'{' || c == b'[').count() <= limit {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &c in b {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A body column's value, or an error naming `field` when it nests deeper than
/// [`MAX_BODY_DEPTH`]. serde_json skips a body it keeps raw without a depth limit, so without this
/// check any depth would pass into `audit_events`.
pub fn checked_body<'a>(field: &str, body: Option<Text<'a>>) -> Result<Option<Text<'a>>, FieldError> {
    match body {
        Some(b) if nests_deeper_than(&b, MAX_BODY_DEPTH) => {
            Err(FieldError::new(field, format!("nests deeper than {MAX_BODY_DEPTH} levels")))
        }
        other => Ok(other),
    }
}

/// Raw JSON of a body, `None` for an explicit `null`.
fn body<'a>(field: &str, v: Option<&'a RawValue>) -> Result<Option<Text<'a>>, FieldError> {
    checked_body(field, v.map(RawValue::get).filter(|s| *s != "null").map(Cow::Borrowed))
}

fn time(field: &str, v: Option<JStr<'_>>) -> Result<Option<i64>, FieldError> {
    match v {
        None => Ok(None),
        Some(s) if s.0.is_empty() => Ok(None),
        Some(s) => parse_event_time(field, &s.0).map(Some),
    }
}

/// Decodes one audit event from JSON text. Errors name the offending field.
pub fn parse_audit_event(json: &str) -> Result<AuditEvent<'_>, FieldError> {
    // Some landings (AKS `properties.log`) end the text with a newline; serde accepts trailing
    // whitespace, so no copy is needed.
    let raw: RawEvent<'_> = match serde_json::from_str(json) {
        Ok(raw) => raw,
        Err(first) => return Err(explain(json, first)),
    };
    let (stage_time, request_received_time, legacy_time) = (
        time("stageTimestamp", raw.stage_timestamp)?,
        time("requestReceivedTimestamp", raw.request_received_timestamp)?,
        time("timestamp", raw.timestamp)?,
    );
    let status = raw.response_status;
    Ok(AuditEvent {
        audit_id: text(raw.audit_id),
        stage: text(raw.stage),
        level: text(raw.level),
        verb: text(raw.verb),
        request_uri: text(raw.request_uri),
        user: raw.user.map(user).unwrap_or_default(),
        impersonated_user: raw.impersonated_user.map(user),
        source_ips: raw.source_ips.map(|s| s.0),
        user_agent: text(raw.user_agent),
        object_ref: raw
            .object_ref
            .map(|o| ObjectRef {
                api_group: text(o.api_group),
                api_version: text(o.api_version),
                resource: text(o.resource),
                subresource: text(o.subresource),
                namespace: text(o.namespace),
                name: text(o.name),
            })
            .unwrap_or_default(),
        response: status
            .map(|s| ResponseStatus {
                code: s.code,
                status: text(s.status),
                reason: text(s.reason),
                message: text(s.message),
            })
            .unwrap_or_default(),
        annotations: raw.annotations.map(|a| {
            a.0.into_iter()
                .filter_map(|(k, v)| v.0.map(|v| (k, v)))
                .collect()
        }),
        request_object: body("requestObject", raw.request_object)?,
        response_object: body("responseObject", raw.response_object)?,
        stage_time,
        request_received_time,
        legacy_time,
        flattened_extra: None,
    })
}

/// Re-parses a failed record with path tracking so the error names the field. Only runs on the
/// error path, so the hot path pays nothing for it.
fn explain(json: &str, first: serde_json::Error) -> FieldError {
    if !json.trim_start().starts_with('{') {
        return FieldError::new(".", format!("not a JSON object: {first}"));
    }
    // Only a well-formed document with a wrongly typed value has a field to blame.
    if !first.is_data() {
        return FieldError::new(".", format!("not valid JSON: {first}"));
    }
    let mut de = serde_json::Deserializer::from_str(json);
    match serde_path_to_error::deserialize::<_, RawEvent<'_>>(&mut de) {
        Err(e) if !e.path().to_string().is_empty() && e.path().to_string() != "." => {
            FieldError::new(e.path().to_string(), e.inner().to_string())
        }
        _ => FieldError::new(".", format!("not valid JSON: {first}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/default/pods/web/exec?command=sh\u0026container=web","verb":"create","user":{"username":"alice","uid":"u1","groups":["dev","system:authenticated"],"extra":{"arn":["arn:aws:sts::1:assumed-role/x/y"]}},"impersonatedUser":{"username":"system:admin","groups":["system:masters"]},"sourceIPs":["1.2.3.4","10.0.0.1"],"userAgent":"kubectl/v1.30.0","objectRef":{"resource":"pods","namespace":"default","name":"web","apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"code":101},"requestObject":{"a":[1,2]},"requestReceivedTimestamp":"2024-11-15T21:00:00.100000Z","stageTimestamp":"2024-11-15T21:00:00.200000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC"}}
"#;

    #[test]
    fn decodes_every_field_once() {
        let e = parse_audit_event(EVENT).unwrap();
        assert_eq!(e.audit_id.as_deref(), Some("a1"));
        assert_eq!(e.stage.as_deref(), Some("ResponseStarted"));
        assert_eq!(e.request_uri.as_deref(), Some("/api/v1/namespaces/default/pods/web/exec?command=sh&container=web"));
        assert_eq!(e.user.groups.as_ref().unwrap().len(), 2);
        assert_eq!(e.user.extra.as_ref().unwrap()[0].1[0], "arn:aws:sts::1:assumed-role/x/y");
        assert_eq!(e.impersonated_user.as_ref().unwrap().name.as_deref(), Some("system:admin"));
        assert_eq!(e.object_ref.subresource.as_deref(), Some("exec"));
        assert_eq!(e.response.code, Some(101));
        assert_eq!(e.request_object.as_deref(), Some(r#"{"a":[1,2]}"#));
        assert_eq!(e.response_object, None);
        assert_eq!(e.annotation("authorization.k8s.io/decision"), Some("allow"));
        assert_eq!(e.event_time(), Some(1_731_704_400_200_000));
        // Unescaped strings are borrowed, not copied.
        assert!(matches!(e.verb, Some(Cow::Borrowed(_))));
    }

    #[test]
    fn errors_name_the_field() {
        let bad_code = r#"{"auditID":"x","responseStatus":{"code":"forbidden"}}"#;
        let err = parse_audit_event(bad_code).unwrap_err();
        assert_eq!(err.field, "responseStatus.code");
        let bad_time = r#"{"auditID":"x","stageTimestamp":"last tuesday"}"#;
        assert_eq!(parse_audit_event(bad_time).unwrap_err().field, "stageTimestamp");
        let not_json = "I1115 21:00:00.000 klog line from kube-apiserver";
        assert_eq!(parse_audit_event(not_json).unwrap_err().field, ".");
        assert_eq!(parse_audit_event("{\"verb\":").unwrap_err().field, ".");
    }

    #[test]
    fn regression_deeply_nested_request_object_is_a_reject_not_a_crash() {
        let deep = |d: usize| format!("{}1{}", "{\"a\":[".repeat(d / 2), "]}".repeat(d / 2));
        let event = |body: &str| format!(r#"{{"auditID":"x","stageTimestamp":"2024-05-01T10:00:00Z","requestObject":{body},"responseObject":{body}}}"#);
        for depth in [MAX_BODY_DEPTH + 2, 100_000] {
            let err = parse_audit_event(&event(&deep(depth))).unwrap_err();
            assert_eq!(err.field, "requestObject");
            assert!(err.reason.contains("deeper than 128"), "{}", err.reason);
        }
        let (body, text) = (deep(MAX_BODY_DEPTH), event(&deep(MAX_BODY_DEPTH)));
        assert_eq!(parse_audit_event(&text).unwrap().request_object.as_deref(), Some(body.as_str()));
        // Brackets inside strings are not nesting.
        let brackets = format!(r#"{{"s":"{}"}}"#, "[{".repeat(200));
        assert_eq!(parse_audit_event(&event(&brackets)).unwrap().request_object.as_deref(), Some(brackets.as_str()));
        // Unknown fields and whole documents of any depth are skipped or refused, never recursed into.
        let unknown = format!(r#"{{"auditID":"x","x":{}}}"#, deep(100_000));
        assert_eq!(parse_audit_event(&unknown).unwrap().audit_id.as_deref(), Some("x"));
        assert_eq!(parse_audit_event(&"[".repeat(100_000)).unwrap_err().field, ".");
        assert_eq!(parse_audit_event(&format!("{{\"user\":{}", "{\"a\":".repeat(100_000))).unwrap_err().field, ".");
    }
}
