//! `security_lake`: Amazon Security Lake EKS_AUDIT 2.0 rows, OCSF 1.1 API Activity (class 6003).
//! Also reads the OCSF 1.5 variant, where request/response bodies arrive as JSON text in
//! `api.request.data` / `api.response.data` and the cluster in `unmapped['eks_cluster_name']`.

use std::borrow::Cow;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;

use super::{BatchContext, BatchOutput, SourceAdapter, SourceFormat, column_indices, has_column};
use crate::Result;
use crate::normalize::columns::{ColumnTree, EpochUnit, IntReader, JsonReader, PairsReader, StrListReader, StrReader, TimeReader};
use crate::normalize::record::{AuditEvent, ObjectRef, ResponseStatus, Text, UserInfo};
use crate::normalize::FieldError;
use crate::normalize::json_event::{MAX_BODY_DEPTH, checked_body};

const TOP_LEVEL: &[&str] = &[
    "metadata", "api", "message", "http_request", "actor", "cloud", "src_endpoint", "resources",
    "time", "time_dt", "start_time_dt", "unmapped", "accountid", "region",
];
const ANNOTATION_PREFIX: &str = "annotations.";
const CLUSTER_KEY: &str = "eks_cluster_name";

/// Rebuilds an approximate body (`requestObject` / `responseObject`) from OCSF 1.1's flattened
/// `unmapped` keys, so body-based detections work on Security Lake rows too. Flattening loses
/// information: array values are comma-joined, so element `i` of a one-level array gets the
/// `i`-th value, and deeper arrays collect all values in their first element. Scalars that read
/// as booleans or integers become those.
///
/// At most [`MAX_BODY_DEPTH`] levels deep: a key with more segments keeps those past the limit
/// as one dotted key at the deepest level. The row and the value are kept, not rejected: dropping
/// the row over one key would let a crafted object hide its event, and the key also stays whole in
/// `flattened_extra`.
pub fn unflatten_body(unmapped: &[(Text<'_>, Text<'_>)], prefix: &str) -> Option<String> {
    use serde_json::{Map, Value};
    fn scalar(s: &str) -> Value {
        match s {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => s.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(s.to_owned())),
        }
    }
    /// Walks down `segs` from `node`, creating what is missing, and places `values` at the end.
    /// A loop, not recursion: keys arrive from the landing with any number of segments.
    fn place(mut node: &mut Value, mut segs: &[&str], values: &[&str], mut arrays_seen: usize) {
        while let Some((seg, rest)) = segs.split_first() {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            let map = node.as_object_mut().expect("made an object above");
            match seg.strip_suffix("[]") {
                None if rest.is_empty() => {
                    map.insert((*seg).to_owned(), scalar(values.first().copied().unwrap_or("")));
                    return;
                }
                None => node = map.entry((*seg).to_owned()).or_insert(Value::Null),
                Some(name) => {
                    let arr = map.entry(name.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
                    if !arr.is_array() {
                        *arr = Value::Array(Vec::new());
                    }
                    let items = arr.as_array_mut().expect("made an array above");
                    if rest.is_empty() {
                        items.extend(values.iter().map(|v| scalar(v)));
                        return;
                    }
                    if arrays_seen == 0 && !rest.iter().any(|r| r.ends_with("[]")) {
                        for (i, v) in values.iter().enumerate() {
                            while items.len() <= i {
                                items.push(Value::Object(Map::new()));
                            }
                            // `rest` has no array segment, so this call walks straight down and
                            // never gets here again: the recursion is one level deep.
                            place(&mut items[i], rest, &[v], arrays_seen + 1);
                        }
                        return;
                    }
                    if items.is_empty() {
                        items.push(Value::Object(Map::new()));
                    }
                    node = &mut items[0];
                    arrays_seen += 1;
                }
            }
            segs = rest;
        }
    }
    let lead = format!("{prefix}.");
    let mut root = Value::Object(Map::new());
    let mut any = false;
    for (k, v) in unmapped {
        let Some(path) = k.strip_prefix(lead.as_str()) else { continue };
        let mut segs: Vec<&str> = path.split('.').collect();
        // Levels each segment but the last adds below the root: an object, or an array and the
        // object in it. Two levels stay for the root and the last key (at most an array).
        let mut levels = 0;
        let fit = segs[..segs.len() - 1]
            .iter()
            .take_while(|s| {
                levels += if s.ends_with("[]") { 2 } else { 1 };
                levels <= MAX_BODY_DEPTH - 2
            })
            .count();
        let deepest: String;
        if fit < segs.len() - 1 {
            deepest = segs[fit..].join(".");
            segs.truncate(fit);
            segs.push(&deepest);
        }
        let values: Vec<&str> = if path.contains("[]") { v.split(',').collect() } else { vec![v.as_ref()] };
        place(&mut root, &segs, &values, 0);
        any = true;
    }
    any.then(|| root.to_string())
}

/// Reads Security Lake OCSF API Activity rows of EKS audit logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecurityLakeSource;

/// The account id inside an AWS ARN (`arn:aws:sts::123456789012:assumed-role/...`).
pub fn account_from_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.next()? == "arn").then_some(())?;
    parts.nth(3).filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
}

struct Columns {
    audit_id: StrReader,
    stage: StrReader,
    level: StrReader,
    verb: StrReader,
    path: StrReader,
    user_name: StrReader,
    user_uid: StrReader,
    user_uid_alt: StrReader,
    groups: StrListReader,
    credential_uid: StrReader,
    issuer: StrReader,
    session_uid: StrReader,
    cloud_account: StrReader,
    src_ip: StrReader,
    intermediate_ips: StrListReader,
    user_agent: StrReader,
    res_namespace: StrListReader,
    res_name: StrListReader,
    res_type: StrListReader,
    api_group: StrReader,
    api_version: StrReader,
    code: IntReader,
    resp_message: StrReader,
    resp_error: StrReader,
    resp_error_message: StrReader,
    request_data: JsonReader,
    response_data: JsonReader,
    time: TimeReader,
    time_dt: TimeReader,
    start_time: TimeReader,
    unmapped: PairsReader,
    account: StrReader,
    region: StrReader,
}

impl Columns {
    fn resolve(tree: &ColumnTree) -> Result<Self> {
        let s = |p: &[&str]| StrReader::new(tree.find(p));
        let list = |p: &[&str], child: Option<&str>| StrListReader::new(tree.find(p), child);
        Ok(Columns {
            audit_id: s(&["api", "request", "uid"])?,
            stage: s(&["message"])?,
            level: s(&["metadata", "log_level"])?,
            verb: s(&["api", "operation"])?,
            path: s(&["http_request", "url", "path"])?,
            user_name: s(&["actor", "user", "name"])?,
            user_uid: s(&["actor", "user", "uid"])?,
            user_uid_alt: s(&["actor", "user", "uid_alt"])?,
            groups: list(&["actor", "user", "groups"], Some("name"))?,
            credential_uid: s(&["actor", "session", "credential_uid"])?,
            issuer: s(&["actor", "session", "issuer"])?,
            session_uid: s(&["actor", "session", "uid"])?,
            cloud_account: s(&["cloud", "account", "uid"])?,
            src_ip: s(&["src_endpoint", "ip"])?,
            intermediate_ips: list(&["src_endpoint", "intermediate_ips"], None)?,
            user_agent: s(&["http_request", "user_agent"])?,
            res_namespace: list(&["resources"], Some("namespace"))?,
            res_name: list(&["resources"], Some("name"))?,
            res_type: list(&["resources"], Some("type"))?,
            api_group: s(&["api", "group", "name"])?,
            api_version: s(&["api", "version"])?,
            code: IntReader::new(tree.find(&["api", "response", "code"]))?,
            resp_message: s(&["api", "response", "message"])?,
            resp_error: s(&["api", "response", "error"])?,
            resp_error_message: s(&["api", "response", "error_message"])?,
            request_data: JsonReader::new(tree.find(&["api", "request", "data"]))?,
            response_data: JsonReader::new(tree.find(&["api", "response", "data"]))?,
            time: TimeReader::new(tree.find(&["time"]), "time", EpochUnit::Millis)?,
            time_dt: TimeReader::new(tree.find(&["time_dt"]), "time_dt", EpochUnit::Millis)?,
            start_time: TimeReader::new(tree.find(&["start_time_dt"]), "start_time_dt", EpochUnit::Millis)?,
            unmapped: PairsReader::new(tree.find(&["unmapped"]))?,
            account: s(&["accountid"])?,
            region: s(&["region"])?,
        })
    }

    fn event(&self, row: usize, unmapped: &Option<Vec<(Text<'_>, Text<'_>)>>) -> Result<AuditEvent<'_>, FieldError> {
        let lookup = |key: &str| -> Option<Text<'static>> {
            unmapped.as_ref()?.iter().find(|(k, _)| k == key).map(|(_, v)| Cow::Owned(v.to_string()))
        };
        let mut extra: Vec<(Text<'_>, Vec<Text<'_>>)> = Vec::new();
        for (key, v) in [
            ("accessKeyId", self.credential_uid.text(row)),
            ("canonicalArn", self.issuer.text(row)),
            ("sessionName", self.session_uid.text(row)),
            ("arn", self.cloud_account.text(row)),
            ("principalId", self.user_uid_alt.text(row)),
        ] {
            if let Some(v) = v {
                extra.push((Cow::Borrowed(key), vec![v]));
            }
        }
        let mut ips: Vec<Text<'_>> = self.src_ip.text(row).into_iter().collect();
        ips.extend(self.intermediate_ips.get(row).unwrap_or_default());
        // OCSF 1.1 concatenates resource and subresource into `type`; the separator is not
        // specified, so only a `/` split is trusted, else the flattened original field.
        let res_type = self.res_type.first(row);
        let (resource, subresource) = match res_type.as_deref().and_then(|t| t.split_once('/')) {
            Some((r, s)) => (Some(Cow::Owned(r.to_owned())), Some(Cow::Owned(s.to_owned()))),
            None => (res_type, lookup("objectRef.subresource")),
        };
        let annotations: Vec<(Text<'_>, Text<'_>)> = unmapped
            .iter()
            .flatten()
            .filter_map(|(k, v)| Some((Cow::Owned(k.strip_prefix(ANNOTATION_PREFIX)?.to_owned()), Cow::Owned(v.to_string()))))
            .collect();
        let impersonated = lookup("impersonatedUser.username").map(|name| UserInfo {
            name: Some(name),
            groups: lookup("impersonatedUser.groups[]").map(|g| g.split(',').map(|s| Cow::Owned(s.to_owned())).collect()),
            ..UserInfo::default()
        });
        let code = match self.code.get(row) {
            Some(c) => Some(i32::try_from(c).map_err(|_| FieldError::new("api.response.code", format!("{c} is not an HTTP status code")))?),
            None => None,
        };
        Ok(AuditEvent {
            audit_id: self.audit_id.text(row),
            stage: self.stage.text(row),
            level: self.level.text(row),
            verb: self.verb.text(row),
            request_uri: self.path.text(row),
            user: UserInfo {
                name: self.user_name.text(row),
                uid: self.user_uid.text(row),
                groups: self.groups.get(row),
                extra: (!extra.is_empty()).then_some(extra),
            },
            impersonated_user: impersonated,
            source_ips: (!ips.is_empty()).then_some(ips),
            user_agent: self.user_agent.text(row),
            object_ref: ObjectRef {
                api_group: self.api_group.text(row),
                api_version: self.api_version.text(row),
                resource,
                subresource,
                namespace: self.res_namespace.first(row),
                name: self.res_name.first(row),
            },
            response: ResponseStatus {
                code,
                status: self.resp_error_message.text(row),
                reason: self.resp_error.text(row),
                message: self.resp_message.text(row),
            },
            annotations: (!annotations.is_empty()).then_some(annotations),
            request_object: checked_body("api.request.data", self.request_data.get(row))?.or_else(|| unmapped.as_deref().and_then(|u| unflatten_body(u, "requestObject")).map(Cow::Owned)),
            response_object: checked_body("api.response.data", self.response_data.get(row))?.or_else(|| unmapped.as_deref().and_then(|u| unflatten_body(u, "responseObject")).map(Cow::Owned)),
            stage_time: self.time.get(row)?.or(self.time_dt.get(row)?),
            request_received_time: self.start_time.get(row)?,
            legacy_time: None,
            flattened_extra: None,
        })
    }
}

impl SourceAdapter for SecurityLakeSource {
    fn format(&self) -> SourceFormat {
        SourceFormat::SecurityLake
    }

    fn columns_to_read(&self, file_schema: &Schema) -> Result<Vec<usize>, FieldError> {
        if !has_column(file_schema, "api") {
            return Err(FieldError::new("api", "required column is missing"));
        }
        if !has_column(file_schema, "time") && !has_column(file_schema, "time_dt") {
            return Err(FieldError::new("time", "required column is missing"));
        }
        Ok(column_indices(file_schema, TOP_LEVEL))
    }

    fn normalize(&self, batch: &RecordBatch, ctx: &BatchContext<'_>, out: &mut BatchOutput<'_>) -> Result<()> {
        let cols = Columns::resolve(&ColumnTree::from_batch(batch))?;
        for row in 0..batch.num_rows() {
            let unmapped = cols.unmapped.get_strings(row);
            let cluster = unmapped
                .iter()
                .flatten()
                .find(|(k, _)| k == CLUSTER_KEY)
                .map(|(_, v)| Cow::Owned(v.to_string()));
            let account = cols
                .account
                .text(row)
                .or_else(|| cols.cloud_account.get(row).and_then(account_from_arn).map(Cow::Borrowed));
            let env = ctx.envelope(account, cols.region.text(row), cluster, None);
            let event = cols.event(row, &unmapped).map(|mut e| {
                e.flattened_extra = unmapped.clone();
                e
            });
            out.emit(ctx, row, &env, event, None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_rebuilt_from_unmapped() {
        let u: Vec<(Text<'_>, Text<'_>)> = vec![
            ("requestObject.kind".into(), "Pod".into()),
            ("requestObject.spec.hostPID".into(), "true".into()),
            ("requestObject.spec.containers[].name".into(), "a,b".into()),
            ("requestObject.spec.containers[].securityContext.privileged".into(), "true".into()),
            ("requestObject.spec.volumes[].hostPath.path".into(), "/".into()),
            ("requestObject.rules[].verbs[]".into(), "get,list".into()),
            ("annotations.authorization.k8s.io/decision".into(), "allow".into()),
        ];
        let body: serde_json::Value = serde_json::from_str(&unflatten_body(&u, "requestObject").unwrap()).unwrap();
        assert_eq!(body["spec"]["hostPID"], true);
        assert_eq!(body["spec"]["containers"][1]["name"], "b");
        assert_eq!(body["spec"]["containers"][0]["securityContext"]["privileged"], true);
        assert_eq!(body["spec"]["volumes"][0]["hostPath"]["path"], "/");
        assert_eq!(body["rules"][0]["verbs"], serde_json::json!(["get", "list"]));
        assert_eq!(unflatten_body(&u, "responseObject"), None);
    }

    /// Depth of the deepest object or array in `v` (walked with a stack: `v` may be deep).
    fn depth(v: &serde_json::Value) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(v, 0)];
        while let Some((v, d)) = stack.pop() {
            deepest = deepest.max(d);
            match v {
                serde_json::Value::Object(m) => stack.extend(m.values().map(|c| (c, d + 1))),
                serde_json::Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
                _ => {}
            }
        }
        deepest
    }

    #[test]
    fn regression_unmapped_key_with_10k_segments_does_not_overflow_the_stack() {
        let deep = format!("requestObject.{}leaf", "a.".repeat(10_000));
        let deep_arrays = format!("requestObject.{}leaf", "b[].".repeat(10_000));
        let u: Vec<(Text<'_>, Text<'_>)> = vec![
            (deep.into(), "x".into()),
            (deep_arrays.into(), "1,2".into()),
            ("requestObject.kind".into(), "Pod".into()),
        ];
        let text = unflatten_body(&u, "requestObject").unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["kind"], "Pod");
        assert!(depth(&body) <= MAX_BODY_DEPTH, "{}", depth(&body));
        // The segments past the limit are one key at the deepest level, holding the value.
        let mut node = &body;
        for _ in 0..MAX_BODY_DEPTH - 2 {
            node = &node["a"];
        }
        let rest = format!("{}leaf", "a.".repeat(10_000 - (MAX_BODY_DEPTH - 2)));
        assert_eq!(node[rest.as_str()], "x");
    }

    #[test]
    fn account_comes_from_an_arn() {
        assert_eq!(account_from_arn("arn:aws:sts::123456789012:assumed-role/r/i-1"), Some("123456789012"));
        assert_eq!(account_from_arn("arn:aws:iam::abc:role/x"), None);
        assert_eq!(account_from_arn("123456789012"), None);
    }
}
