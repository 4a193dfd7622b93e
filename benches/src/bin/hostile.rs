//! `hostile`: the figures of issue 12 — how the real `snspmt` binary holds up against hostile
//! clients and an overloaded upstream panel. Three scenarios, each on a fresh server process:
//!
//! 1. **logins**: `N` (300) parallel `POST /api/auth/login` with unknown e-mails, each on its own
//!    connection, with the login rate limit off (`SNSPMT_LOGIN_RATE=0`) so that the password
//!    hashing itself is what is pushed. Figures: the server's peak RSS (`VmHWM`), the slowest
//!    answer, and the statuses (only 401, 429 and 503 are acceptable).
//! 2. **trickle**: `N` connections that send a request head announcing a body, then one byte of
//!    it every 10 s, while `/health` is probed on fresh connections every 250 ms. The server runs
//!    under `ulimit -n 256` (`--fd-limit`), so that `N` idle sockets are more than it may open.
//!    Figure: the slowest `/health` answer once every trickler is connected.
//! 3. **burst**: `N` orders placed at once against a stub panel that answers HTTP 429 to every
//!    request beyond 64 in flight (and takes 20 ms per request otherwise). Figures: orders that
//!    ended `unknown`, orders never submitted, orders submitted more than once, the time until
//!    every order reached the panel.
//!
//! ```text
//! cargo build --release -p snspmt-http --bin snspmt
//! cargo run --release -p snspmt-benches --bin hostile -- \
//!     [--clients 300] [--trickle-seconds 30] [--fd-limit 256] [--backends sqlite,postgres] [--scenarios logins,trickle,burst]
//! ```
//!
//! The `snspmt` binary is looked up next to this one. Each figure is printed beside its target
//! with `met` or `missed`; the program exits non-zero only when money or submissions are wrong
//! (a duplicate submission, a balance that differs from its ledger), never on a time.

use std::collections::HashMap;
use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use snspmt_core::order::OrderStatus;
use snspmt_store::testing::PgTestSchema;
use snspmt_store::{OrderFilter, SqliteStore, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type BoxError = Box<dyn Error + Send + Sync>;
type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

const ADMIN: &str = "hostile-admin-token-0123456789";
const PANEL_KEY: &str = "hostile-panel-key";
/// The stub panel refuses (HTTP 429) every request beyond this many in flight.
const PANEL_LIMIT: usize = 64;

/// One line of the report.
struct Figure {
    scenario: String,
    name: &'static str,
    value: String,
    target: &'static str,
    met: bool,
}

/// A `snspmt serve` child process.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts the server; with `fd_limit`, under that limit of open files (`ulimit -n`).
    fn start(
        binary: &std::path::Path,
        database_url: &str,
        env: &[(&str, String)],
        fd_limit: Option<u32>,
    ) -> Result<Server, BoxError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut cmd = match fd_limit {
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.arg("-c").arg(format!("ulimit -n {n} && exec \"$0\" serve")).arg(binary);
                sh
            }
            None => {
                let mut direct = Command::new(binary);
                direct.arg("serve");
                direct
            }
        };
        cmd.env("SNSPMT_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", database_url)
            .env("ADMIN_TOKEN", ADMIN)
            .env("SNSPMT_LOG", "warn")
            .env("SNSPMT_LOGIN_RATE", "0")
            .env("SNSPMT_REGISTER_RATE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Ok(Server { child: cmd.spawn()?, port })
    }

    /// The peak resident set of the server process, in MiB (`VmHWM`).
    fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build_http()
}

/// One request; `None` on a transport error or after `timeout`.
async fn call(
    client: &HttpClient,
    url: String,
    method: Method,
    headers: &[(&str, String)],
    body: Option<Value>,
    timeout: Duration,
) -> Option<(u16, Value)> {
    let mut req = Request::builder().method(method).uri(url).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = req.body(Full::new(Bytes::from(body))).ok()?;
    let resp = tokio::time::timeout(timeout, client.request(req)).await.ok()?.ok()?;
    let status = resp.status().as_u16();
    let bytes = tokio::time::timeout(timeout, resp.into_body().collect()).await.ok()?.ok()?.to_bytes();
    Some((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

async fn wait_healthy(client: &HttpClient, server: &Server) -> Result<(), BoxError> {
    for _ in 0..300 {
        let probe = call(client, server.url("/health"), Method::GET, &[], None, Duration::from_secs(1));
        if let Some((200, _)) = probe.await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the server did not come up within 15 s".into())
}

/// Scenario 1: parallel logins with unknown e-mails.
async fn logins(
    binary: &std::path::Path,
    database_url: &str,
    clients: usize,
    label: &str,
) -> Result<Vec<Figure>, BoxError> {
    let server = Server::start(binary, database_url, &[], None)?;
    let http = client();
    wait_healthy(&http, &server).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (http, url) = (http.clone(), server.url("/api/auth/login"));
        tasks.push(tokio::spawn(async move {
            let at = Instant::now();
            let body = json!({"email": format!("nobody-{i}@example.test"), "password": "not-the-password-1"});
            let answer = call(&http, url, Method::POST, &[], Some(body), Duration::from_secs(30)).await;
            (answer.map(|a| a.0), at.elapsed())
        }));
    }
    let mut statuses: HashMap<String, usize> = HashMap::new();
    let mut slowest = Duration::ZERO;
    for t in tasks {
        let (status, took) = t.await?;
        slowest = slowest.max(took);
        let key = status.map_or_else(|| "no answer".to_owned(), |s| s.to_string());
        *statuses.entry(key).or_default() += 1;
    }
    let wall = started.elapsed();
    let rss = server.peak_rss_mib().unwrap_or(f64::NAN);
    let acceptable = statuses.keys().all(|s| matches!(s.as_str(), "401" | "429" | "503"));
    let mut seen: Vec<_> = statuses.into_iter().collect();
    seen.sort();
    let seen = seen.iter().map(|(s, n)| format!("{n}×{s}")).collect::<Vec<_>>().join(", ");
    let scenario = format!("{label}: {clients} parallel unknown-e-mail logins");
    Ok(vec![
        Figure {
            scenario: scenario.clone(),
            name: "peak RSS",
            value: format!("{rss:.1} MiB"),
            target: "< 150 MiB",
            met: rss < 150.0,
        },
        Figure {
            scenario: scenario.clone(),
            name: "slowest answer",
            value: format!("{:.2} s (all in {:.2} s)", slowest.as_secs_f64(), wall.as_secs_f64()),
            target: "< 5 s",
            met: slowest < Duration::from_secs(5),
        },
        Figure { scenario, name: "answers", value: seen, target: "only 401/429/503", met: acceptable },
    ])
}

/// Scenario 2: trickling bodies while `/health` is probed.
async fn trickle(
    binary: &std::path::Path,
    database_url: &str,
    clients: usize,
    seconds: u64,
    fd_limit: u32,
    label: &str,
) -> Result<Vec<Figure>, BoxError> {
    let server = Server::start(binary, database_url, &[], Some(fd_limit))?;
    let http = client();
    wait_healthy(&http, &server).await?;
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse()?;
    let closed = Arc::new(AtomicUsize::new(0));
    let connected = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tricklers = Vec::new();
    for _ in 0..clients {
        let (closed, connected) = (closed.clone(), connected.clone());
        tricklers.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(addr).await else { return };
            connected.fetch_add(1, Ordering::Relaxed);
            let head = "POST /api/register HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                        content-length: 1000\r\n\r\n{";
            if s.write_all(head.as_bytes()).await.is_err() {
                closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let mut buf = [0u8; 512];
            while Instant::now() < deadline {
                // Wait 10 s, or until the server answers or closes.
                match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        closed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Ok(Ok(_)) => continue,
                    Err(_) => {}
                }
                if s.write_all(b" ").await.is_err() {
                    closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }));
    }
    // Let every trickler connect, then probe.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut slowest = Duration::ZERO;
    let (mut probes, mut failed) = (0u32, 0u32);
    let mut failures: HashMap<String, usize> = HashMap::new();
    while Instant::now() < deadline {
        let at = Instant::now();
        let answer = call(&http, server.url("/health"), Method::GET, &[], None, Duration::from_secs(5)).await;
        probes += 1;
        match answer {
            Some((200, _)) => slowest = slowest.max(at.elapsed()),
            other => {
                failed += 1;
                let why = other.map_or_else(|| "no answer".to_owned(), |(s, b)| format!("{s} {}", b["code"]));
                *failures.entry(why).or_default() += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for t in tricklers {
        let _ = t.await;
    }
    let scenario = format!(
        "{label}: {clients} trickling bodies for {seconds} s, server limited to {fd_limit} open files \
         ({} connected, {} cut off by the server)",
        connected.load(Ordering::Relaxed),
        closed.load(Ordering::Relaxed)
    );
    Ok(vec![Figure {
        scenario,
        name: "slowest /health",
        value: format!(
            "{:.1} ms over {probes} probes, {failed} failed {failures:?}",
            slowest.as_secs_f64() * 1000.0
        ),
        target: "< 100 ms, none failed",
        met: slowest < Duration::from_millis(100) && failed == 0,
    }])
}

/// The stub panel of scenario 3: answers `add` with a fresh id after 20 ms, refuses (429) every
/// request beyond [`PANEL_LIMIT`] in flight, and counts the adds per link.
struct Panel {
    url: String,
    in_flight: AtomicUsize,
    refused: AtomicUsize,
    next_id: AtomicU64,
    links: Mutex<HashMap<String, usize>>,
}

impl Panel {
    async fn start() -> Result<Arc<Panel>, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/api/v2", listener.local_addr()?);
        let panel = Arc::new(Panel {
            url,
            in_flight: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            links: Mutex::new(HashMap::new()),
        });
        let serving = panel.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let panel = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let panel = panel.clone();
                        async move { Ok::<_, Infallible>(panel.answer(req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(panel)
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let reply = |status: u16, body: String| {
            let mut resp = Response::new(Full::new(Bytes::from(body)));
            *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
            resp
        };
        if self.in_flight.fetch_add(1, Ordering::SeqCst) >= PANEL_LIMIT {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return reply(429, "Too Many Requests".into());
        }
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        let answer = if form.get("key").map(String::as_str) != Some(PANEL_KEY) {
            json!({"error": "Invalid API key"})
        } else {
            match form.get("action").map(String::as_str) {
                Some("add") => {
                    let link = form.get("link").cloned().unwrap_or_default();
                    *self.links.lock().unwrap_or_else(|e| e.into_inner()).entry(link).or_default() += 1;
                    json!({"order": self.next_id.fetch_add(1, Ordering::Relaxed)})
                }
                Some("status") if form.contains_key("orders") => {
                    let ids = form.get("orders").map(String::as_str).unwrap_or_default();
                    let map: serde_json::Map<String, Value> =
                        ids.split(',').map(|id| (id.to_owned(), in_progress())).collect();
                    Value::Object(map)
                }
                Some("status") => in_progress(),
                Some("balance") => json!({"balance": "1000000.00", "currency": "USD"}),
                _ => json!({"error": "Incorrect request"}),
            }
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        reply(200, answer.to_string())
    }

    fn links(&self) -> HashMap<String, usize> {
        self.links.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn in_progress() -> Value {
    json!({"charge": "0.00", "start_count": "0", "status": "In progress", "remains": "0", "currency": "USD"})
}

/// Scenario 3: a burst of orders against a panel limited to [`PANEL_LIMIT`] in flight.
async fn burst(
    binary: &std::path::Path,
    database_url: &str,
    store: &dyn Store,
    clients: usize,
    label: &str,
) -> Result<(Vec<Figure>, Vec<String>), BoxError> {
    let panel = Panel::start().await?;
    let env = [
        ("SMMKINGS_API_URL", panel.url.clone()),
        ("SMMKINGS_API_KEY", PANEL_KEY.to_owned()),
        ("SNSPMT_SYNC_INTERVAL_SECS", "1".to_owned()),
        ("SNSPMT_UPSTREAM_TIMEOUT_MS", "5000".to_owned()),
    ];
    let server = Server::start(binary, database_url, &env, None)?;
    let http = client();
    wait_healthy(&http, &server).await?;
    let admin = [("x-admin-token", ADMIN.to_owned())];
    let long = Duration::from_secs(30);
    let svc = json!({"provider_service_id": "1", "name": "burst", "price_per_1000": 1000,
                     "min_quantity": 10, "max_quantity": 100000});
    let (_, b) = call(&http, server.url("/api/admin/services"), Method::POST, &admin, Some(svc), long)
        .await
        .ok_or("create the service")?;
    let service_id = b.pointer("/service/service_id").and_then(Value::as_i64).ok_or("no service id")?;
    let user = json!({"user_id": "burst-user", "email": "burst-user@example.test"});
    let (_, b) = call(&http, server.url("/api/register"), Method::POST, &[], Some(user), long)
        .await
        .ok_or("register")?;
    let token = format!("Bearer {}", b["token"].as_str().ok_or_else(|| format!("no token in {b}"))?);
    let adjust = json!({"points_adjustment": 10_000_000, "reason": "bench"});
    call(&http, server.url("/api/admin/users/burst-user"), Method::PUT, &admin, Some(adjust), long)
        .await
        .ok_or("credit the user")?;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (http, url, token) = (http.clone(), server.url("/api/orders"), token.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"service_id": service_id, "link": format!("https://example.test/{i}"), "quantity": 100});
            let headers = [("authorization", token), ("idempotency-key", format!("burst-{i}"))];
            call(&http, url, Method::POST, &headers, Some(body), Duration::from_secs(60)).await.map(|a| a.0)
        }));
    }
    let mut placed = 0usize;
    let mut refusals: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        match t.await? {
            Some(200 | 201) => placed += 1,
            other => *refusals.entry(format!("{other:?}")).or_default() += 1,
        }
    }
    let placing = started.elapsed();
    // Every placed order reaches the panel, or the wait ends.
    let wait_until = Instant::now() + Duration::from_secs(180);
    while panel.links().len() < placed && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let submitted_in = started.elapsed();
    // A little longer, so that a late duplicate would be seen.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let links = panel.links();
    let twice = links.values().filter(|n| **n > 1).count();
    let orders = store.orders(OrderFilter { limit: 1_000_000, ..Default::default() }).await?.rows;
    let count = |s: OrderStatus| orders.iter().filter(|o| o.status == s).count();
    let unknown = count(OrderStatus::Unknown);
    let never = orders.len().saturating_sub(links.len());
    let mut problems = Vec::new();
    if twice > 0 {
        problems.push(format!("{label}: {twice} orders were submitted more than once"));
    }
    let mismatches = store.ledger_mismatches().await?;
    if !mismatches.is_empty() {
        problems.push(format!("{label}: balances differ from their ledgers: {mismatches:?}"));
    }
    let scenario = format!(
        "{label}: {clients} orders at once, panel refuses beyond {PANEL_LIMIT} in flight \
         ({placed} placed in {:.2} s, refused {refusals:?}; the panel answered 429 {} times)",
        placing.as_secs_f64(),
        panel.refused.load(Ordering::Relaxed)
    );
    let figures = vec![
        Figure {
            scenario: scenario.clone(),
            name: "orders unknown",
            value: unknown.to_string(),
            target: "0",
            met: unknown == 0,
        },
        Figure {
            scenario: scenario.clone(),
            name: "submitted exactly once",
            value: format!("{} of {} ({twice} twice, {never} never)", links.len() - twice, orders.len()),
            target: "all",
            met: twice == 0 && never == 0 && placed == clients,
        },
        Figure {
            scenario,
            name: "all at the panel after",
            value: format!("{:.2} s", submitted_in.as_secs_f64()),
            target: "(measured)",
            met: never == 0,
        },
    ];
    Ok((figures, problems))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let clients: usize = flag("--clients").and_then(|v| v.parse().ok()).unwrap_or(300);
    let seconds: u64 = flag("--trickle-seconds").and_then(|v| v.parse().ok()).unwrap_or(30);
    let fd_limit: u32 = flag("--fd-limit").and_then(|v| v.parse().ok()).unwrap_or(256);
    let backends = flag("--backends").unwrap_or_else(|| "sqlite,postgres".into());
    let scenarios = flag("--scenarios").unwrap_or_else(|| "logins,trickle,burst".into());
    let binary = match std::env::current_exe() {
        Ok(p) => p.with_file_name("snspmt"),
        Err(e) => {
            eprintln!("hostile: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !binary.exists() {
        eprintln!("hostile: build the server first: cargo build --release -p snspmt-http --bin snspmt");
        return ExitCode::FAILURE;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hostile: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let mut figures = Vec::new();
        let mut problems = Vec::new();
        for backend in backends.split(',') {
            for scenario in scenarios.split(',') {
                let (url, store, _keep): (String, Arc<dyn Store>, Option<PgTestSchema>) = match backend {
                    "sqlite" => {
                        let path = std::env::temp_dir()
                            .join(format!("snspmt-hostile-{}-{scenario}.db", std::process::id()));
                        let store = SqliteStore::open(&path.to_string_lossy())?;
                        snspmt_store::Maintenance::migrate(&store, snspmt_store::Millis::EPOCH).await?;
                        (format!("sqlite://{}", path.display()), Arc::new(store), None)
                    }
                    "postgres" => {
                        let url = std::env::var("SNSPMT_TEST_POSTGRES_URL")
                            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
                        let schema = PgTestSchema::create(&url, 4).await?;
                        (schema.url_with_search_path(), Arc::new(schema.store.clone()), Some(schema))
                    }
                    other => return Err::<_, BoxError>(format!("unknown backend {other}").into()),
                };
                eprintln!("hostile: {backend} {scenario} …");
                match scenario {
                    "logins" => figures.extend(logins(&binary, &url, clients, backend).await?),
                    "trickle" => {
                        figures.extend(trickle(&binary, &url, clients, seconds, fd_limit, backend).await?)
                    }
                    "burst" => {
                        let (f, p) = burst(&binary, &url, store.as_ref(), clients, backend).await?;
                        figures.extend(f);
                        problems.extend(p);
                    }
                    other => return Err(format!("unknown scenario {other}").into()),
                }
                if let Some(path) = url.strip_prefix("sqlite://") {
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{path}{suffix}"));
                    }
                }
            }
        }
        Ok((figures, problems))
    });
    match result {
        Ok((figures, problems)) => {
            let mut scenario = String::new();
            for f in &figures {
                if f.scenario != scenario {
                    println!("\n{}", f.scenario);
                    scenario.clone_from(&f.scenario);
                }
                let verdict = if f.met { "met" } else { "missed" };
                println!("  {:<24} {:<48} target {:<22} {verdict}", f.name, f.value, f.target);
            }
            for p in &problems {
                println!("PROBLEM: {p}");
            }
            if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("hostile: {e}");
            ExitCode::FAILURE
        }
    }
}
