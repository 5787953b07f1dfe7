#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud { Eks, Aks }
#[derive(Clone, Debug)]
pub struct ClusterSpec { pub name: String, pub cloud: Cloud, pub account: String, pub region: String, pub resource_group: String }
#[derive(Clone, Debug)]
pub struct EventMeta { pub audit_id: String, pub stage: &'static str, pub event_time_micros: i64 }
pub struct BenignTraffic { n: u64, name: String }
impl BenignTraffic {
    pub fn new(cluster: &ClusterSpec, seed: u64) -> Self { BenignTraffic { n: seed, name: cluster.name.clone() } }
    pub fn next_event(&mut self, t: i64, out: &mut String) -> EventMeta {
        self.n += 1;
        let id = format!("{}-{}", self.name, self.n);
        let ts = crate::normalize::time::format_micros(t);
        out.clear();
        out.push_str(&format!(r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{{"username":"u","groups":["g"]}},"sourceIPs":["10.0.0.1"],"userAgent":"x","objectRef":{{"resource":"pods","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestObject":{{"a":1}},"requestReceivedTimestamp":"{ts}","stageTimestamp":"{ts}","annotations":{{"authorization.k8s.io/decision":"allow"}}}}"#));
        EventMeta { audit_id: id, stage: "ResponseComplete", event_time_micros: t }
    }
}
pub struct ScenarioEvents { pub scenario: &'static str, pub detections: &'static [&'static str], pub description: &'static str, pub events: Vec<(EventMeta, String)> }
pub const SCENARIOS: &[&str] = &["a","b","c","d","e","f","g","h","i","j"];
pub fn scenario(name: &str, cluster: &ClusterSpec, t: i64, seed: u64) -> Option<ScenarioEvents> {
    let mut b = BenignTraffic { n: seed * 1000, name: format!("{}-{name}", cluster.name) };
    let mut s = String::new();
    let m = b.next_event(t, &mut s);
    Some(ScenarioEvents { scenario: "x", detections: &["D1"], description: "d", events: vec![(m, s)] })
}
