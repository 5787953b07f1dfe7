//! Decoding of an `audit.k8s.io` Event held as typed Parquet columns (the `k8s_audit` format, and AKS
//! records whose `properties.log` landed as a struct). Readers are resolved once per batch.

use super::columns::{ColumnTree, EpochUnit, JsonReader, PairsReader, StrListReader, StrReader, TimeReader};
use super::json_event::FieldError;
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

    /// Decodes row `row`. Errors name the field that does not decode.
    pub fn event(&self, row: usize) -> Result<AuditEvent<'_>, FieldError> {
        let impersonated = self.impersonated.get(row);
        let code = match self.code.get(row) {
            Some(c) => Some(i32::try_from(c).map_err(|_| {
                FieldError::new("responseStatus.code", format!("{c} is not an HTTP status code"))
            })?),
            None => None,
        };
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
            stage_time: self.stage_time.get(row)?,
            request_received_time: self.received_time.get(row)?,
            legacy_time: self.legacy_time.get(row)?,
            flattened_extra: None,
        })
    }
}
