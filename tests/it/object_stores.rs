//! End to end against real object-store servers on loopback: Amazon S3 (moto's server mode) and
//! Azure Blob (Azurite). Landings are uploaded in their real layouts, `auditlake run` reads them
//! and writes its Delta tables to the same store, and the results must equal a local run over the
//! same files. Sources are never written to. A fault-injecting proxy drops connections during a
//! run; the next run still ends with exactly the reference outputs.
//!
//! The servers are installed by `scripts/test.sh` (`pip install moto[server] azure-storage-blob`,
//! `npm install azurite`); if one cannot be started the test fails and says how to install it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auditlake::generate::{GenerateOptions, generate};
use auditlake::sources::SourceFormat;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::Value;

const AZURITE_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A server process, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_listening(port: u16, what: &str, child: &mut Child) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before listening on port {port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not listen on port {port} within 60 s");
}

fn find_tool(name: &str, env: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let tools = Path::new(&home).join(".cache/auditlake-tools/node_modules/.bin").join(name);
    let on_path = std::env::var("PATH").unwrap_or_default().split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file());
    on_path.or_else(|| tools.is_file().then_some(tools))
}

fn start_moto() -> Server {
    let port = free_port();
    // `moto_server` when its script is on PATH, else the same server through the module.
    let mut cmd = match find_tool("moto_server", "AUDITLAKE_MOTO_SERVER") {
        Some(bin) => Command::new(bin),
        None => {
            let mut c = Command::new("python3");
            c.args(["-m", "moto.server"]);
            c
        }
    };
    let mut child = cmd
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start moto's S3 server ({e}): install it with `pip install 'moto[server]'` (scripts/test.sh does)"));
    wait_listening(port, "moto's S3 server (pip install 'moto[server]')", &mut child);
    Server { child, port }
}

fn start_azurite() -> Server {
    let port = free_port();
    let bin = find_tool("azurite-blob", "AUDITLAKE_AZURITE_BLOB")
        .unwrap_or_else(|| panic!("azurite-blob not found: install it with `npm install --prefix ~/.cache/auditlake-tools azurite` (scripts/test.sh does)"));
    let mut child = Command::new(bin)
        .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--disableTelemetry"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("azurite-blob starts");
    wait_listening(port, "azurite-blob (npm install azurite)", &mut child);
    Server { child, port }
}

/// A TCP proxy to `upstream` that drops connections while `failing` is set.
struct FaultProxy {
    port: u16,
    failing: Arc<AtomicBool>,
    dropped: Arc<AtomicUsize>,
}

fn start_proxy(upstream: u16) -> FaultProxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let failing = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (f, d) = (Arc::clone(&failing), Arc::clone(&dropped));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(client) = conn else { continue };
            if f.load(Ordering::SeqCst) {
                // Read a little of the request, then cut the connection mid-exchange.
                let mut buf = [0u8; 64];
                let _ = (&client).read(&mut buf);
                d.fetch_add(1, Ordering::SeqCst);
                drop(client);
                continue;
            }
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pipe(client, server));
            std::thread::spawn(move || pipe(s2, c2));
        }
    });
    FaultProxy { port, failing, dropped }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn create_bucket(port: u16, bucket: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "creating bucket: {reply}");
}

fn create_container(port: u16, container: &str) {
    let script = format!(
        "from azure.storage.blob import BlobServiceClient\n\
         c = BlobServiceClient.from_connection_string('DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;')\n\
         c.create_container('{container}')\n"
    );
    let out = Command::new("python3").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "creating the Azurite container needs `pip install azure-storage-blob` (scripts/test.sh does): {}", String::from_utf8_lossy(&out.stderr));
}

fn generated(formats: Vec<SourceFormat>, seed: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now().timestamp_micros();
    let hour = 3_600_000_000;
    generate(&GenerateOptions { out: dir.path().to_path_buf(), events: 1_200, seed, hours: 2, start_micros: (now / hour - 3) * hour, formats, ..GenerateOptions::default() }).unwrap();
    dir
}


/// Uploads every landed object below `data/<folder>` to `prefix/<folder>/...` (same keys).
async fn upload(store: &dyn ObjectStore, data: &Path, folder: &str, prefix: &str) -> usize {
    let files = crate::util::parquet_files(&data.join(folder));
    for f in &files {
        let rel = f.strip_prefix(data).unwrap().to_string_lossy().into_owned();
        store.put(&StorePath::from(format!("{prefix}/{rel}")), PutPayload::from(std::fs::read(f).unwrap())).await.unwrap();
    }
    files.len()
}

/// Path, size and ETag of everything under `prefix`.
async fn snapshot(store: &dyn ObjectStore, prefix: &str) -> BTreeMap<String, (u64, Option<String>)> {
    let listed: Vec<_> = store.list(Some(&StorePath::from(prefix))).try_collect().await.unwrap();
    listed.into_iter().map(|m| (m.location.to_string(), (m.size, m.e_tag))).collect()
}

/// Where the Azurite started by the Azure test listens; object_store's emulator mode reads it.
static AZURITE_URL: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn auditlake(config: &Path, env: &[(&str, String)]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("auditlake").unwrap();
    cmd.env_remove("AUDITLAKE_OUTPUT").env("AUDITLAKE_CONFIG", config);
    if let Some(url) = AZURITE_URL.lock().unwrap().as_ref() {
        cmd.env("AZURITE_BLOB_STORAGE_URL", url);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run_json(config: &Path) -> (i32, Value, String) {
    let out = auditlake(config, &[]).args(["run", "--format", "json"]).output().unwrap();
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), summary, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Alert ids with event counts, and DUET ids, from the run's outputs.
fn outputs(config: &Path) -> (BTreeMap<String, i64>, Vec<String>) {
    let q = |sql: &str| -> Vec<Value> {
        let out = auditlake(config, &[]).args(["query", "--format", "json", sql]).assert().success().get_output().stdout.clone();
        String::from_utf8_lossy(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let alerts = q("SELECT alert_id, event_count FROM alerts").into_iter().map(|r| (r["alert_id"].as_str().unwrap().to_owned(), r["event_count"].as_i64().unwrap())).collect();
    let mut duet: Vec<String> = q("SELECT id FROM duet_queue").into_iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    duet.sort();
    (alerts, duet)
}

/// The same landings, read from local disk: what the remote run must produce.
fn local_reference(data: &Path, sources: &str) -> (BTreeMap<String, i64>, Vec<String>) {
    let out = tempfile::tempdir().unwrap();
    let config = data.join("local.toml");
    std::fs::write(&config, format!("[scan]\nlateness = \"6h\"\n[run]\ninitial_lookback = \"all\"\n[output]\nlocation = \"{}\"\n{sources}", out.path().display())).unwrap();
    let (code, summary, err) = run_json(&config);
    assert_eq!(code, 0, "local reference run: {err} {summary}");
    let o = outputs(&config);
    drop(out);
    o
}

const S3_SOURCES: &str = r#"
[[source]]
name = "eks_cloudwatch"
format = "eks_cloudwatch"
location = "{root}/eks_cloudwatch"
layout = "firehose"
region = "us-east-1"
{storage}

[[source]]
name = "eks_typed"
format = "k8s_audit"
location = "{root}/k8s_audit"
layout = "cluster={cluster}/dt={YYYY}-{MM}-{DD}/hour={HH}"
{storage}
"#;

fn s3_storage(port: u16) -> String {
    format!("[source.storage]\nendpoint = \"http://127.0.0.1:{port}\"\nallow_http = \"true\"\nregion = \"us-east-1\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_sources_and_outputs_end_to_end_with_faults() {
    let moto = start_moto();
    create_bucket(moto.port, "landing");
    create_bucket(moto.port, "detections");
    let data = generated(vec![SourceFormat::EksCloudwatch, SourceFormat::K8sAudit], 31);
    let store = AmazonS3Builder::new()
        .with_bucket_name("landing")
        .with_endpoint(format!("http://127.0.0.1:{}", moto.port))
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    let uploaded = upload(&store, data.path(), "eks_cloudwatch", "eks").await + upload(&store, data.path(), "k8s_audit", "eks").await;
    let before = snapshot(&store, "eks").await;

    // Through a proxy that can drop connections.
    let proxy = start_proxy(moto.port);
    let storage = s3_storage(proxy.port);
    let sources = S3_SOURCES.replace("{root}", "s3://landing/eks").replace("{storage}", &storage);
    let output_storage = storage.replace("[source.storage]", "[output.storage]");
    let config = data.path().join("s3.toml");
    std::fs::write(&config, format!("[scan]\nlateness = \"6h\"\n[run]\ninitial_lookback = \"all\"\n[output]\nlocation = \"s3://detections/auditlake\"\n{output_storage}\n{sources}")).unwrap();

    // First run while the store keeps dropping connections: it completes (object_store retries)
    // or fails retryably, never with a usage error.
    proxy.failing.store(true, Ordering::SeqCst);
    let flipper = {
        let failing = Arc::clone(&proxy.failing);
        std::thread::spawn(move || {
            // Faults for a while, then intermittent until the run is over.
            std::thread::sleep(Duration::from_millis(1500));
            for i in 0..40 {
                failing.store(i % 3 == 0, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(150));
            }
            failing.store(false, Ordering::SeqCst);
        })
    };
    let (first_code, first, err) = run_json(&config);
    let code = first_code;
    flipper.join().unwrap();
    assert!(proxy.dropped.load(Ordering::SeqCst) > 0, "the proxy dropped connections");
    assert!(code == 0 || code == 1, "a faulty store gives success or a retryable failure, got {code}: {err}");
    if code == 1 {
        assert!(!err.trim().is_empty(), "a failed run says why");
    }
    // The next run completes; a third finds nothing new.
    let (code, second, err) = run_json(&config);
    assert_eq!(code, 0, "{err}");
    assert_eq!(second["status"], "ok");
    let (code, third, err) = run_json(&config);
    assert_eq!((code, third["objects_new"].as_i64()), (0, Some(0)), "{err} {third}");
    // The run that did the work (the faulty one, if it got through; a failed run's summary
    // counts the objects it listed but fetched nothing durable).
    let worker = if first_code == 0 && first["objects_new"].as_i64().unwrap_or(0) > 0 { &first } else { &second };
    let total_new = worker["objects_new"].as_i64().unwrap();
    // What was fetched is recorded (small objects: footer prefetch plus the column chunks).
    let (fetched, size) = (worker["bytes_fetched"].as_i64().unwrap(), worker["bytes_read"].as_i64().unwrap());
    // (A faulty first run may have recorded the objects before failing; then no run re-reads them.)
    if total_new > 0 {
        assert!(fetched > 0 && fetched <= 2 * size, "fetched {fetched} of {size}");
    }
    assert!(total_new as usize <= uploaded);

    // Same alerts and DUET items as a local run over the same files: nothing lost, nothing doubled.
    let local_sources = S3_SOURCES.replace("{root}", &data.path().display().to_string()).replace("{storage}", "");
    let reference = local_reference(data.path(), &local_sources);
    assert!(!reference.0.is_empty());
    assert_eq!(outputs(&config), reference);
    // `duet list` reads the remote queue.
    auditlake(&config, &[]).args(["duet", "list", "--format", "json"]).assert().success();
    // The source prefix is exactly as it was: nothing written, renamed or deleted.
    assert_eq!(snapshot(&store, "eks").await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_blob_sources_and_outputs_end_to_end() {
    let azurite = start_azurite();
    create_container(azurite.port, "insights-logs-kube-audit");
    create_container(azurite.port, "detections");
    let data = generated(vec![SourceFormat::AksDiagnostics], 37);
    let endpoint = format!("http://127.0.0.1:{}/devstoreaccount1", azurite.port);
    let store = MicrosoftAzureBuilder::new()
        .with_account("devstoreaccount1")
        .with_access_key(AZURITE_KEY)
        .with_container_name("insights-logs-kube-audit")
        .with_endpoint(endpoint.clone())
        .with_allow_http(true)
        .build()
        .unwrap();
    // AKS diagnostic settings write `resourceId=/SUBSCRIPTIONS/.../y=/m=/d=/h=/m=00/PT1H.json`-style
    // keys at the container root; the generator lays them out the same way.
    let folder = "aks_diagnostics/insights-logs-kube-audit";
    let files = crate::util::parquet_files(&data.path().join(folder));
    for f in &files {
        let rel = f.strip_prefix(data.path().join(folder)).unwrap().to_string_lossy().into_owned();
        store.put(&StorePath::from(rel), PutPayload::from(std::fs::read(f).unwrap())).await.unwrap();
    }
    let before = snapshot(&store, "").await;
    // The emulator's well-known account and key; its address comes from AZURITE_BLOB_STORAGE_URL.
    *AZURITE_URL.lock().unwrap() = Some(format!("http://127.0.0.1:{}", azurite.port));
    let storage = "use_emulator = \"true\"\n".to_owned();
    let source = |location: &str, storage: &str| format!("[[source]]\nname = \"aks\"\nformat = \"aks_diagnostics\"\nlocation = \"{location}\"\nlayout = \"aks\"\nregion = \"westeurope\"\n{storage}");
    let config = data.path().join("azure.toml");
    std::fs::write(
        &config,
        format!(
            "[scan]\nlateness = \"6h\"\n[run]\ninitial_lookback = \"all\"\n[output]\nlocation = \"az://detections/auditlake\"\n[output.storage]\n{storage}\n{}",
            source("az://insights-logs-kube-audit/", &format!("[source.storage]\n{storage}"))
        ),
    )
    .unwrap();
    let (code, first, err) = run_json(&config);
    assert_eq!(code, 0, "{err} {first}");
    assert_eq!(first["objects_new"].as_u64().unwrap() as usize, files.len(), "{first}");
    assert!(first["alerts_new"].as_i64().unwrap() > 0, "{first}");
    let (code, again, err) = run_json(&config);
    assert_eq!((code, again["objects_new"].as_i64(), again["alerts_new"].as_i64()), (0, Some(0), Some(0)), "{err}");
    let reference = local_reference(data.path(), &source(&data.path().join(folder).display().to_string(), ""));
    assert_eq!(outputs(&config), reference);
    assert_eq!(snapshot(&store, "").await, before);
}
