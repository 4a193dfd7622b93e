//! Crash safety: runs the real `snspmt` binary on SQLite and on PostgreSQL with the fake SMM
//! panel, drives mixed load (orders, deducts, bank purchases and approvals, cron calls),
//! `SIGKILL`s the server at random moments, restarts it, and checks the books:
//!
//! - every balance equals its ledger sum (and none is negative: the schema forbids it);
//! - every order is charged exactly once, and every charge belongs to an order;
//! - the fake panel received no job twice;
//! - pending work resumes after the restart (no order is left `pending`).
//!
//! `cargo build -p snspmt-http --bin snspmt && cargo run -p snspmt-benches --bin crash -- --kills 5`
//! (the `snspmt` binary is looked up next to this one). Exits non-zero when a check fails.

#[path = "../../../snspmt-http/tests/common/fake_smm.rs"]
mod fake_smm;

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use snspmt_core::order::OrderStatus;
use snspmt_core::LedgerKind;
use snspmt_store::testing::PgTestSchema;
use snspmt_store::{LedgerFilter, OrderFilter, SqliteStore, Store};

const ADMIN: &str = "crash-admin-token-0123456789";
type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

struct Server {
    binary: std::path::PathBuf,
    port: u16,
    database_url: String,
    smm_url: String,
    child: Option<Child>,
}

impl Server {
    fn start(&mut self) -> Result<(), Box<dyn Error>> {
        let child = Command::new(&self.binary)
            .arg("serve")
            .env("SNSPMT_ADDR", format!("127.0.0.1:{}", self.port))
            .env("DATABASE_URL", &self.database_url)
            .env("ADMIN_TOKEN", ADMIN)
            .env("SMMKINGS_API_URL", &self.smm_url)
            .env("SMMKINGS_API_KEY", fake_smm::FAKE_KEY)
            .env("SNSPMT_UPSTREAM_TIMEOUT_MS", "2000")
            .env("SNSPMT_SYNC_INTERVAL_SECS", "1")
            .env("SNSPMT_LOG", "warn")
            .env("SNSPMT_REGISTER_RATE", "0")
            .env("SNSPMT_LOGIN_RATE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL: no graceful shutdown, no flush.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn call(
    client: &HttpClient,
    port: u16,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
    body: Value,
) -> Option<(u16, Value)> {
    let mut req = Request::builder().method(method).uri(format!("http://127.0.0.1:{port}{path}"));
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_string()))).ok()?;
    let resp = tokio::time::timeout(Duration::from_secs(5), client.request(req)).await.ok()?.ok()?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.ok()?.to_bytes();
    Some((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

async fn wait_healthy(client: &HttpClient, port: u16) -> Result<(), Box<dyn Error>> {
    for _ in 0..200 {
        if let Some((200, _)) = call(client, port, Method::GET, "/health", &[], Value::Null).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the server did not come up".into())
}

/// One backend's run; answers the problems found.
async fn run(
    name: &str,
    database_url: String,
    store: Arc<dyn Store>,
    kills: u32,
    binary: &std::path::Path,
) -> Result<Vec<String>, Box<dyn Error>> {
    let fake = fake_smm::FakeSmm::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut server =
        Server { binary: binary.to_owned(), port, database_url, smm_url: fake.url.clone(), child: None };
    let client: HttpClient = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build_http();
    server.start()?;
    wait_healthy(&client, port).await?;
    let admin = vec![("x-admin-token", ADMIN.to_owned())];
    let svc = json!({"provider_service_id": "1", "name": "f", "price_per_1000": 100, "min_quantity": 10, "max_quantity": 100000});
    let (_, b) =
        call(&client, port, Method::POST, "/api/admin/services", &admin, svc).await.ok_or("service")?;
    let svc = b["service"]["service_id"].as_i64().ok_or("service id")?;
    let mut tokens = Vec::new();
    for i in 0..4 {
        let (_, b) = call(
            &client,
            port,
            Method::POST,
            "/api/register",
            &[],
            json!({"user_id": format!("{name}-u{i}"), "email": format!("{name}-u{i}@bench.test")}),
        )
        .await
        .ok_or("register")?;
        tokens.push(format!("Bearer {}", b["token"].as_str().ok_or("token")?));
        let adjust = json!({"points_adjustment": 50_000, "reason": "start"});
        call(&client, port, Method::PUT, &format!("/api/admin/users/{name}-u{i}"), &admin, adjust)
            .await
            .ok_or("adjust")?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let seq = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..6 {
        let (client, stop, seq, tokens, admin) =
            (client.clone(), stop.clone(), seq.clone(), tokens.clone(), admin.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let auth = vec![
                    ("authorization", tokens[(n as usize) % tokens.len()].clone()),
                    ("idempotency-key", format!("k-{n}")),
                ];
                match (n + w) % 5 {
                    0 | 1 => {
                        let body =
                            json!({"service_id": svc, "link": format!("https://x.com/{n}"), "quantity": 100});
                        call(&client, port, Method::POST, "/api/orders", &auth, body).await;
                    }
                    2 => {
                        call(&client, port, Method::POST, "/api/points/deduct", &auth, json!({"amount": 3}))
                            .await;
                    }
                    3 => {
                        let body = json!({"amount": 1000, "price": 1000});
                        if let Some((200, b)) =
                            call(&client, port, Method::POST, "/api/points/purchase", &auth, body).await
                        {
                            if let Some(id) = b["purchase_id"].as_i64() {
                                let d = json!({"status": "approved"});
                                call(
                                    &client,
                                    port,
                                    Method::PUT,
                                    &format!("/api/admin/purchases/{id}"),
                                    &admin,
                                    d,
                                )
                                .await;
                            }
                        }
                    }
                    _ => {
                        call(
                            &client,
                            port,
                            Method::POST,
                            "/api/cron/process-scheduled-orders",
                            &admin,
                            Value::Null,
                        )
                        .await;
                        call(&client, port, Method::POST, "/api/cron/sync-order-status", &admin, Value::Null)
                            .await;
                    }
                }
            }
        }));
    }
    // Kill at pseudo-random moments (a small LCG keeps it dependency-free and repeatable).
    let mut rng = 0x2545_f491_4f6c_dd1du64 ^ u64::from(port);
    for k in 0..kills {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let wait = 300 + (rng >> 33) % 1200;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill();
        eprintln!("{name}: kill {} after {wait} ms ({} requests so far)", k + 1, seq.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.start()?;
        wait_healthy(&client, port).await?;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    // Pending work resumes: the restarted server's workers (and a cron call) send what waits.
    let started = Instant::now();
    loop {
        call(&client, port, Method::POST, "/api/cron/process-scheduled-orders", &admin, Value::Null).await;
        let pending = store
            .orders(OrderFilter { status: Some(OrderStatus::Pending), limit: 1, ..Default::default() })
            .await?
            .total;
        if pending == 0 || started.elapsed() > Duration::from_secs(20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.kill();

    let mut problems = Vec::new();
    let mismatches = store.ledger_mismatches().await?;
    if !mismatches.is_empty() {
        problems.push(format!("balances differ from their ledgers: {mismatches:?}"));
    }
    let orders = store.orders(OrderFilter { limit: 1_000_000, ..Default::default() }).await?.rows;
    let charges = store
        .ledger(LedgerFilter { kind: Some(LedgerKind::OrderCharge), limit: 1_000_000, ..Default::default() })
        .await?
        .rows;
    let mut charged: HashMap<String, usize> = HashMap::new();
    for c in &charges {
        *charged.entry(c.reference.clone().unwrap_or_default()).or_default() += 1;
    }
    let order_refs: HashSet<String> = orders.iter().map(|o| format!("order:{}", o.order_id)).collect();
    for o in &orders {
        let n = charged.get(&format!("order:{}", o.order_id)).copied().unwrap_or(0);
        if o.final_price.0 > 0 && n != 1 {
            problems.push(format!("order {} charged {n} times", o.order_id));
        }
    }
    for reference in charged.keys() {
        if !order_refs.contains(reference) {
            problems.push(format!("a charge for {reference}, which does not exist"));
        }
    }
    let adds = fake.requests_for("add");
    let links: HashSet<String> = adds.iter().filter_map(|a| a.get("link").map(str::to_owned)).collect();
    if links.len() != adds.len() {
        problems.push(format!(
            "the panel received {} adds for {} links: a job was sent twice",
            adds.len(),
            links.len()
        ));
    }
    let count = |s: OrderStatus| orders.iter().filter(|o| o.status == s).count();
    if count(OrderStatus::Pending) > 0 {
        problems.push(format!("{} orders still pending after the restart", count(OrderStatus::Pending)));
    }
    println!(
        "{name}: {kills} kills, {} requests; {} orders ({} in progress, {} completed, {} unknown, {} submitting), {} upstream adds; {} problems",
        seq.load(Ordering::Relaxed),
        orders.len(),
        count(OrderStatus::InProgress),
        count(OrderStatus::Completed),
        count(OrderStatus::Unknown),
        count(OrderStatus::Submitting),
        adds.len(),
        problems.len()
    );
    Ok(problems)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let kills: u32 = flag("--kills").and_then(|k| k.parse().ok()).unwrap_or(5);
    let backends = flag("--backends").unwrap_or_else(|| "sqlite,postgres".into());
    let binary = match std::env::current_exe() {
        Ok(p) => p.with_file_name("snspmt"),
        Err(e) => {
            eprintln!("crash: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !binary.exists() {
        eprintln!(
            "crash: build the server first: cargo build -p snspmt-http --bin snspmt ({} missing)",
            binary.display()
        );
        return ExitCode::FAILURE;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("crash: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<Vec<String>, Box<dyn Error>> = rt.block_on(async {
        let mut problems = Vec::new();
        for backend in backends.split(',') {
            match backend {
                "sqlite" => {
                    let path = std::env::temp_dir().join(format!("snspmt-crash-{}.db", std::process::id()));
                    let url = format!("sqlite://{}", path.display());
                    let store = SqliteStore::open(&path.to_string_lossy())?;
                    snspmt_store::Maintenance::migrate(&store, snspmt_store::Millis::EPOCH).await?;
                    let store: Arc<dyn Store> = Arc::new(store);
                    problems.extend(run("sqlite", url, store, kills, &binary).await?);
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                    }
                }
                "postgres" => {
                    let url = std::env::var("SNSPMT_TEST_POSTGRES_URL")
                        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
                    let schema = PgTestSchema::create(&url, 4).await?;
                    let store: Arc<dyn Store> = Arc::new(schema.store.clone());
                    problems
                        .extend(run("postgres", schema.url_with_search_path(), store, kills, &binary).await?);
                }
                other => return Err(format!("unknown backend {other}").into()),
            }
        }
        Ok(problems)
    });
    match result {
        Ok(problems) if problems.is_empty() => {
            println!("crash safety: OK");
            ExitCode::SUCCESS
        }
        Ok(problems) => {
            for p in problems {
                println!("PROBLEM: {p}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("crash: {e}");
            ExitCode::FAILURE
        }
    }
}
