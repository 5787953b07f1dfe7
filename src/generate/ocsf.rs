//! Renders an audit event as the Amazon Security Lake EKS_AUDIT 2.0 row (OCSF 1.1 API Activity)
//! that Security Lake would store for it, following the published field mapping.

use serde_json::{Map, Value, json};

/// Flattens a JSON value into OCSF `unmapped` keys: dotted paths, `[]` for arrays, array values
/// comma-joined (as Security Lake does).
pub fn flatten_unmapped(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten_unmapped(&key, child, out);
            }
        }
        Value::Array(items) => {
            let key = format!("{prefix}[]");
            let mut scalars = Vec::new();
            for item in items {
                match item {
                    Value::Object(_) | Value::Array(_) => flatten_unmapped(&key, item, out),
                    other => scalars.push(scalar_text(other)),
                }
            }
            if !scalars.is_empty() {
                let joined = match out.get(&key) {
                    Some(Value::String(prev)) => format!("{prev},{}", scalars.join(",")),
                    _ => scalars.join(","),
                };
                out.insert(key, Value::String(joined));
            }
        }
        Value::Null => {}
        other => {
            let text = scalar_text(other);
            let joined = match out.get(prefix) {
                // Repeated paths (fields of array elements) are comma-joined too.
                Some(Value::String(prev)) if prefix.contains("[]") => format!("{prev},{text}"),
                _ => text,
            };
            out.insert(prefix.to_owned(), Value::String(joined));
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// The OCSF 1.1 row for an audit event (`event` is the parsed audit.k8s.io Event), as JSON ready for
/// Arrow decoding against [`ocsf_schema`](super::landing::ocsf_schema). `time_ms` is stageTimestamp.
pub fn ocsf_row(event: &Value, time_ms: i64, start_ms: i64) -> Value {
    let get = |p: &[&str]| s(event, p).cloned().unwrap_or(Value::Null);
    let first_extra = |k: &str| s(event, &["user", "extra", k]).and_then(|v| v.get(0)).cloned().unwrap_or(Value::Null);
    let ips: Vec<Value> = s(event, &["sourceIPs"]).and_then(Value::as_array).cloned().unwrap_or_default();
    let groups: Vec<Value> = s(event, &["user", "groups"])
        .and_then(Value::as_array)
        .map(|g| g.iter().map(|n| json!({ "name": n })).collect())
        .unwrap_or_default();
    let mut unmapped = Map::new();
    for key in ["kind", "requestObject", "responseObject", "impersonatedUser"] {
        if let Some(v) = event.get(key) {
            flatten_unmapped(key, v, &mut unmapped);
        }
    }
    if let Some(Value::Object(a)) = event.get("annotations") {
        for (k, v) in a {
            unmapped.insert(format!("annotations.{k}"), Value::String(scalar_text(v)));
        }
    }
    if let Some(sub) = s(event, &["objectRef", "subresource"]) {
        unmapped.insert("objectRef.subresource".into(), sub.clone());
    }
    if ips.len() > 1 {
        unmapped.insert("sourceIPs[]".into(), Value::String(ips.iter().map(scalar_text).collect::<Vec<_>>().join(",")));
    }
    let verb = get(&["verb"]);
    let (activity_id, activity_name) = match verb.as_str().unwrap_or("") {
        "create" => (1, "Create"),
        "get" | "watch" => (2, "Read"),
        "update" | "patch" => (3, "Update"),
        "delete" => (4, "Delete"),
        _ => (0, "Unknown"),
    };
    let resource = s(event, &["objectRef"]).map(|o| {
        json!([{
            "namespace": o.get("namespace"),
            "name": o.get("name"),
            "uid": o.get("uid"),
            "version": o.get("resourceVersion"),
            "type": o.get("resource"),
        }])
    });
    json!({
        "metadata": {
            "log_level": get(&["level"]),
            "product": { "version": get(&["apiVersion"]), "vendor_name": "AWS", "name": "Amazon EKS", "feature": { "name": "Elastic Kubernetes Service" } },
            "profiles": ["cloud", "datetime"],
            "version": "1.1.0",
        },
        "api": {
            "request": { "uid": get(&["auditID"]) },
            "operation": verb,
            "version": get(&["objectRef", "apiVersion"]),
            "response": {
                "code": get(&["responseStatus", "code"]),
                "message": get(&["responseStatus", "message"]),
                "error": get(&["responseStatus", "reason"]),
                "error_message": get(&["responseStatus", "status"]),
            },
            "group": { "name": get(&["objectRef", "apiGroup"]) },
        },
        "message": get(&["stage"]),
        "http_request": { "url": { "path": get(&["requestURI"]) }, "user_agent": get(&["userAgent"]) },
        "actor": {
            "user": { "name": get(&["user", "username"]), "uid": get(&["user", "uid"]), "groups": groups, "type_id": 0 },
            "session": { "credential_uid": first_extra("accessKeyId"), "issuer": first_extra("canonicalArn"), "uid": first_extra("sessionName") },
        },
        "cloud": { "account": { "uid": first_extra("arn") }, "provider": "AWS" },
        "src_endpoint": { "ip": ips.first().cloned().unwrap_or(Value::Null), "intermediate_ips": ips.iter().skip(1).cloned().collect::<Vec<_>>() },
        "resources": resource.unwrap_or(Value::Null),
        "start_time_dt": start_ms * 1000,
        "time_dt": time_ms * 1000,
        "time": time_ms,
        "severity_id": 1,
        "severity": "Informational",
        "class_name": "API Activity",
        "class_uid": 6003,
        "category_name": "Application Activity",
        "category_uid": 6,
        "activity_name": activity_name,
        "activity_id": activity_id,
        "type_name": format!("API Activity: {activity_name}"),
        "type_uid": 600300 + activity_id,
        "unmapped": unmapped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattening_matches_security_lake() {
        let v = json!({"spec": {"containers": [{"name": "a", "securityContext": {"privileged": true}}, {"name": "b"}], "hostNetwork": true}});
        let mut out = Map::new();
        flatten_unmapped("requestObject", &v, &mut out);
        assert_eq!(out["requestObject.spec.containers[].name"], "a,b");
        assert_eq!(out["requestObject.spec.containers[].securityContext.privileged"], "true");
        assert_eq!(out["requestObject.spec.hostNetwork"], "true");
    }
}
