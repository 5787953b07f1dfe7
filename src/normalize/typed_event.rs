//! Decoding of an `audit.k8s.io` Event held as typed Parquet columns (the `k8s_audit` format, and AKS
//! records whose `properties.log` landed as a struct). Readers are resolved once per batch.

use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, Int32Array};

use super::builder::EventArrays;
use super::columns::{ColumnTree, EpochUnit, JsonReader, PairsReader, StrListReader, StrReader, TimeReader, whole};
use super::json_event::{FieldError, checked_body};
use super::record::{AuditEvent, ObjectRef, ResponseStatus, UserInfo};
use crate::Result;

/// Column paths of the audit Event that a typed landing must have.
pub const REQUIRED_PATHS: &[&[&str]] = &[&["auditID"], &["verb"]];
/// At least one of these time columns must exist.
pub const TIME_PATHS: &[&[&str]] = &[&["stageTimestamp"], &["requestReceivedTimestamp"], &["timestamp"]];

/// Names the first required audit-event column `tree` lacks.
pub fn missing_required(tree: &ColumnTree) -> Option<String> {
    for p in REQUIRED_PATHS {
        if !tree.has(p) {
            return Some(p.join("."));
        }
    }
    if !TIME_PATHS.iter().any(|p| tree.has(p)) {
        return Some("stageTimestamp".to_owned());
    }
    None
}

struct UserColumns {
    name: StrReader,
    uid: StrReader,
    groups: StrListReader,
    extra: PairsReader,
}

impl UserColumns {
    fn resolve(tree: &ColumnTree, root: &str) -> Result<Self> {
        Ok(UserColumns {
            name: StrReader::new(tree.find(&[root, "username"]))?,
            uid: StrReader::new(tree.find(&[root, "uid"]))?,
            groups: StrListReader::new(tree.find(&[root, "groups"]), None)?,
            extra: PairsReader::new(tree.find(&[root, "extra"]))?,
        })
    }

    fn get(&self, row: usize) -> UserInfo<'_> {
        UserInfo {
            name: self.name.text(row),
            uid: self.uid.text(row),
            groups: self.groups.get(row),
            extra: self.extra.get_lists(row),
        }
    }
}

/// The fields of one row that can fail to decode.
struct CheckedFields {
    code: Option<i32>,
    stage_time: Option<i64>,
    received_time: Option<i64>,
    legacy_time: Option<i64>,
}

/// A batch decoded column by column: its columns, which rows to keep, and why the others were
/// rejected (row, error).
pub struct DecodedColumns {
    pub arrays: EventArrays,
    pub keep: Option<BooleanArray>,
    pub rejects: Vec<(usize, FieldError)>,
}

/// Readers for every audit Event field of one batch.
pub struct TypedEventColumns {
    audit_id: StrReader,
    stage: StrReader,
    level: StrReader,
    verb: StrReader,
    request_uri: StrReader,
    user: UserColumns,
    impersonated: UserColumns,
    source_ips: StrListReader,
    user_agent: StrReader,
    obj: [StrReader; 6],
    code: super::columns::IntReader,
    status: [StrReader; 3],
    annotations: PairsReader,
    request_object: JsonReader,
    response_object: JsonReader,
    stage_time: TimeReader,
    received_time: TimeReader,
    legacy_time: TimeReader,
}

impl TypedEventColumns {
    /// Resolves the readers against `tree` (a batch, or a struct column holding the event).
    pub fn resolve(tree: &ColumnTree) -> Result<Self> {
        let s = |p: &[&str]| StrReader::new(tree.find(p));
        let t = |p: &str| TimeReader::new(tree.find(&[p]), p, EpochUnit::Millis);
        Ok(TypedEventColumns {
            audit_id: s(&["auditID"])?,
            stage: s(&["stage"])?,
            level: s(&["level"])?,
            verb: s(&["verb"])?,
            request_uri: s(&["requestURI"])?,
            user: UserColumns::resolve(tree, "user")?,
            impersonated: UserColumns::resolve(tree, "impersonatedUser")?,
            source_ips: StrListReader::new(tree.find(&["sourceIPs"]), None)?,
            user_agent: s(&["userAgent"])?,
            obj: [
                s(&["objectRef", "apiGroup"])?,
                s(&["objectRef", "apiVersion"])?,
                s(&["objectRef", "resource"])?,
                s(&["objectRef", "subresource"])?,
                s(&["objectRef", "namespace"])?,
                s(&["objectRef", "name"])?,
            ],
            code: super::columns::IntReader::new(tree.find(&["responseStatus", "code"]))?,
            status: [
                s(&["responseStatus", "status"])?,
                s(&["responseStatus", "reason"])?,
                s(&["responseStatus", "message"])?,
            ],
            annotations: PairsReader::new(tree.find(&["annotations"]))?,
            request_object: JsonReader::new(tree.find(&["requestObject"]))?,
            response_object: JsonReader::new(tree.find(&["responseObject"]))?,
            stage_time: t("stageTimestamp")?,
            received_time: t("requestReceivedTimestamp")?,
            legacy_time: t("timestamp")?,
        })
    }

    /// The row's fields that can fail to decode (its response code and times; bodies too deep
    /// are checked but passed on as they are), in the order errors are reported.
    fn checked(&self, row: usize) -> Result<CheckedFields, FieldError> {
        let code = match self.code.get(row) {
            Some(c) => Some(i32::try_from(c).map_err(|_| {
                FieldError::new("responseStatus.code", format!("{c} is not an HTTP status code"))
            })?),
            None => None,
        };
        let checked = CheckedFields {
            code,
            stage_time: self.stage_time.get(row)?,
            received_time: self.received_time.get(row)?,
            legacy_time: self.legacy_time.get(row)?,
        };
        checked_body("requestObject", self.request_object.get(row))?;
        checked_body("responseObject", self.response_object.get(row))?;
        Ok(checked)
    }

    /// Decodes the first `n` rows column by column, rejecting the rows that do not decode (or
    /// have no time and no `fallback_time`) with the error [`event`](Self::event) would give.
    /// Same rows as decoding each with `event`, without building them one by one.
    pub fn decode_all(&self, n: usize, fallback_time: Option<i64>) -> Result<DecodedColumns> {
        let mut event_time = Vec::with_capacity(n);
        let mut received = Vec::with_capacity(n);
        let mut codes = Vec::with_capacity(n);
        let mut rejects = Vec::new();
        for row in 0..n {
            let checked = self.checked(row).and_then(|c| {
                let own = AuditEvent::event_time_of(c.stage_time, c.received_time, c.legacy_time);
                AuditEvent::filed_time(own, fallback_time).map(|t| (c, t))
            });
            match checked {
                Ok((c, t)) => {
                    event_time.push(t);
                    received.push(c.received_time);
                    codes.push(c.code);
                }
                Err(e) => {
                    rejects.push((row, e));
                    event_time.push(0);
                    received.push(None);
                    codes.push(None);
                }
            }
        }
        let keep = (!rejects.is_empty()).then(|| {
            let mut keep = vec![true; n];
            for (row, _) in &rejects {
                keep[*row] = false;
            }
            BooleanArray::from(keep)
        });
        let s = |r: &StrReader| whole::strings(r, n);
        let [g, v, r, sr, ns, nm] = &self.obj;
        let [st, reason, msg] = &self.status;
        let arrays = EventArrays {
            event_time,
            request_received_time: received,
            audit_id: s(&self.audit_id)?,
            stage: s(&self.stage)?,
            level: s(&self.level)?,
            verb: s(&self.verb)?,
            request_uri: s(&self.request_uri)?,
            user_name: s(&self.user.name)?,
            user_uid: s(&self.user.uid)?,
            user_groups: whole::string_list(&self.user.groups, n)?,
            user_extra: whole::list_map(&self.user.extra, n)?,
            // An impersonated user with no field set reads as absent, which changes neither column.
            impersonated_user_name: s(&self.impersonated.name)?,
            impersonated_user_groups: whole::string_list(&self.impersonated.groups, n)?,
            source_ips: whole::string_list(&self.source_ips, n)?,
            user_agent: s(&self.user_agent)?,
            object_ref: [s(g)?, s(v)?, s(r)?, s(sr)?, s(ns)?, s(nm)?],
            response_code: Arc::new(Int32Array::from(codes)),
            response: [s(st)?, s(reason)?, s(msg)?],
            annotations: whole::string_map(&self.annotations, n)?,
            request_object: whole::json(&self.request_object, n)?,
            response_object: whole::json(&self.response_object, n)?,
        };
        Ok(DecodedColumns { arrays, keep, rejects })
    }

    /// Decodes row `row`. Errors name the field that does not decode.
    pub fn event(&self, row: usize) -> Result<AuditEvent<'_>, FieldError> {
        let impersonated = self.impersonated.get(row);
        let CheckedFields { code, stage_time, received_time, legacy_time } = self.checked(row)?;
        let [g, v, r, sr, ns, n] = &self.obj;
        let [st, reason, msg] = &self.status;
        Ok(AuditEvent {
            audit_id: self.audit_id.text(row),
            stage: self.stage.text(row),
            level: self.level.text(row),
            verb: self.verb.text(row),
            request_uri: self.request_uri.text(row),
            user: self.user.get(row),
            impersonated_user: (impersonated != UserInfo::default()).then_some(impersonated),
            source_ips: self.source_ips.get(row),
            user_agent: self.user_agent.text(row),
            object_ref: ObjectRef {
                api_group: g.text(row),
                api_version: v.text(row),
                resource: r.text(row),
                subresource: sr.text(row),
                namespace: ns.text(row),
                name: n.text(row),
            },
            response: ResponseStatus {
                code,
                status: st.text(row),
                reason: reason.text(row),
                message: msg.text(row),
            },
            annotations: self.annotations.get_strings(row),
            request_object: self.request_object.get(row),
            response_object: self.response_object.get(row),
            stage_time,
            request_received_time: received_time,
            legacy_time,
            flattened_extra: None,
        })
    }
}
