//! What the benches that drive the real `snspmt` binary from outside share (`wrkload`, `soak`):
//! the server as a child process and its memory, a fresh database per run, a stub SMM panel, a
//! bare hyper server, `wrk`, `pgbench`, the bench users, and the money check.

use std::collections::HashMap;
use std::convert::Infallible;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde_json::{json, Value};
use snspmt_core::order::OrderStatus;
use snspmt_store::testing::{PgTestSchema, POSTGRES_URL_VAR};
use snspmt_store::{Maintenance, OrderFilter, SqliteStore, Store};
use tokio::net::TcpListener;

pub type BoxError = Box<dyn Error + Send + Sync>;
pub type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub const ADMIN: &str = "ext-bench-admin-token-0123456789";
pub const PANEL_KEY: &str = "ext-bench-panel-key";
/// What every bench user is credited.
pub const CREDIT: i64 = 100_000_000;
/// Units per bench order (the service's minimum).
pub const ORDER_QUANTITY: i64 = 10;
/// Points per 1,000 units of the bench service: an order of 10 costs 10 points.
pub const PRICE_PER_1000: i64 = 1_000;
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The `snspmt` binary next to this program (`target/release/snspmt` for a release bench, the
/// debug one for a debug bench), or `SNSPMT_BIN`.
pub fn server_binary() -> Result<PathBuf, BoxError> {
    if let Some(path) = std::env::var_os("SNSPMT_BIN") {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::current_exe()?.with_file_name("snspmt");
    if !path.exists() {
        let profile = if cfg!(debug_assertions) { "" } else { " --release" };
        return Err(format!(
            "no server binary at {}: cargo build{profile} -p snspmt-http --bin snspmt",
            path.display()
        )
        .into());
    }
    Ok(path)
}

// ---------------------------------------------------------------------------------------------
// The database

/// A fresh database: an SQLite file in a temporary directory, or a PostgreSQL schema (dropped
/// with this value). `store` is the bench's own handle on it, for the checks.
pub struct Db {
    pub backend: &'static str,
    pub url: String,
    pub store: Arc<dyn Store>,
    _schema: Option<PgTestSchema>,
    dir: Option<PathBuf>,
}

impl Db {
    pub async fn create(backend: &str, tag: &str) -> Result<Db, BoxError> {
        match backend {
            "sqlite" => {
                let dir = std::env::temp_dir().join(format!("snspmt-{tag}-{}", std::process::id()));
                std::fs::create_dir_all(&dir)?;
                let path = dir.join("bench.db");
                let store = SqliteStore::open(&path.to_string_lossy())?;
                store.migrate(snspmt_store::Millis::EPOCH).await?;
                Ok(Db {
                    backend: "sqlite",
                    url: format!("sqlite://{}", path.display()),
                    store: Arc::new(store),
                    _schema: None,
                    dir: Some(dir),
                })
            }
            "postgres" => {
                let url = pg_url();
                let schema = tokio::time::timeout(Duration::from_secs(10), PgTestSchema::create(&url, 4))
                    .await
                    .map_err(|_| "PostgreSQL did not answer within 10 s")??;
                Ok(Db {
                    backend: "postgres",
                    url: schema.url_with_search_path(),
                    store: Arc::new(schema.store.clone()),
                    _schema: Some(schema),
                    dir: None,
                })
            }
            other => Err(format!("unknown backend {other} (sqlite, postgres)").into()),
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn pg_url() -> String {
    std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_PG_URL.into())
}

// ---------------------------------------------------------------------------------------------
// The server

/// A `snspmt serve` child process, with the bench's limits off and its log quiet.
pub struct Server {
    child: Child,
    pub port: u16,
    /// The server's stdout and stderr (its start-up lines and errors), removed with it.
    log: PathBuf,
}

impl Server {
    /// Starts the server on a free port and waits until `/health` answers. `env` comes last, so
    /// it may override the defaults (`SNSPMT_WORKERS=0`, no rate limits, `SNSPMT_LOG=error`).
    pub async fn start(binary: &Path, db: &Db, env: &[(&str, String)]) -> Result<Server, BoxError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::env::temp_dir().join(format!("snspmt-bench-{}-{port}.log", std::process::id()));
        let out = std::fs::File::create(&log)?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SNSPMT_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &db.url)
            .env("ADMIN_TOKEN", ADMIN)
            .env("SNSPMT_LOG", "error")
            .env("SNSPMT_WORKERS", "0")
            .env("SNSPMT_LOGIN_RATE", "0")
            .env("SNSPMT_REGISTER_RATE", "0")
            .env("SNSPMT_API_RATE", "0")
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut server = Server { child: cmd.spawn()?, port, log };
        let http = client();
        for _ in 0..600 {
            if let Ok((200, _)) = call(&http, &server.url("/health"), Method::GET, &[], None).await {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("the server exited ({status}): {}", server.log_tail()).into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("the server did not answer /health within 30 s: {}", server.log_tail()).into())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The last lines the server wrote.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }

    /// The lines at ERROR the server wrote (`SNSPMT_LOG=error` writes nothing else after start).
    pub fn errors_logged(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter(|l| l.contains(" ERROR ")).map(str::to_owned).collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resets the peak resident set (`VmHWM`) to the current one.
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5");
    }

    /// The peak resident set since the start or the last [`Server::reset_peak`], in MiB.
    pub fn peak_mib(&self) -> Option<f64> {
        proc_status_kib(self.pid(), "VmHWM:").map(|k| k as f64 / 1024.0)
    }

    /// The resident set now, in MiB.
    pub fn rss_mib(&self) -> Option<f64> {
        proc_status_kib(self.pid(), "VmRSS:").map(|k| k as f64 / 1024.0)
    }

    /// Stops the server with SIGTERM (a graceful shutdown), SIGKILL after 10 s; answers the
    /// lines it logged at ERROR.
    pub async fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.errors_logged();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.errors_logged()
    }

    /// "`label`: the server logged N errors (first: …)", or nothing.
    pub async fn stop_and_report(self, label: &str) -> Option<String> {
        let errors = self.stop().await;
        let first = errors.first()?;
        Some(format!("{label}: the server logged {} errors (first: {first})", errors.len()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// A keep-alive client for setup and checks (not for the measured load).
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(64).build_http()
}

/// One request; the status and the JSON body (`null` if none). A transport error or no answer
/// within 300 s is an error.
pub async fn call(
    http: &HttpClient,
    url: &str,
    method: Method,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Result<(u16, Value), BoxError> {
    let mut req = Request::builder().method(method).uri(url).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default())))?;
    let answer = async {
        let resp = http.request(req).await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok::<_, BoxError>((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    };
    tokio::time::timeout(Duration::from_secs(300), answer).await.map_err(|_| "no answer within 300 s")?
}

/// [`call`], expecting a 2xx.
pub async fn call_ok(
    http: &HttpClient,
    url: &str,
    method: Method,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Result<Value, BoxError> {
    let (status, answer) = call(http, url, method.clone(), headers, body).await?;
    if (200..300).contains(&status) {
        Ok(answer)
    } else {
        Err(format!("{method} {url}: HTTP {status} {answer}").into())
    }
}

/// Registers `n` users (`<prefix>-<i>`), credits each [`CREDIT`] points, and answers their
/// bearer tokens.
pub async fn setup_users(
    http: &HttpClient,
    server: &Server,
    prefix: &str,
    n: usize,
) -> Result<Vec<String>, BoxError> {
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("{prefix}-{i}");
        let user = json!({"user_id": id, "email": format!("{id}@bench.test")});
        let answer = call_ok(http, &server.url("/api/register"), Method::POST, &[], Some(user)).await?;
        tokens.push(answer["token"].as_str().ok_or_else(|| format!("no token in {answer}"))?.to_owned());
        let credit = json!({"points_adjustment": CREDIT, "reason": "bench"});
        let url = server.url(&format!("/api/admin/users/{id}"));
        call_ok(http, &url, Method::PUT, &[("x-admin-token", ADMIN)], Some(credit)).await?;
    }
    Ok(tokens)
}

/// Creates the bench service (the stub's service `1`, 10..100,000 units, [`PRICE_PER_1000`]).
pub async fn create_service(http: &HttpClient, server: &Server) -> Result<i64, BoxError> {
    let svc = json!({"provider_service_id": "1", "name": "bench", "price_per_1000": PRICE_PER_1000,
                     "min_quantity": ORDER_QUANTITY, "max_quantity": 100000});
    let answer = call_ok(
        http,
        &server.url("/api/admin/services"),
        Method::POST,
        &[("x-admin-token", ADMIN)],
        Some(svc),
    )
    .await?;
    answer
        .pointer("/service/service_id")
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("no service id in {answer}").into())
}

/// Places `count` orders with `connections` requests in flight, user `i % tokens` for the
/// `i`-th; `body(i)` is the request body. Answers how many were answered 2xx, and the other
/// answers by kind.
pub async fn place_orders(
    server: &Server,
    tokens: &[String],
    count: usize,
    connections: usize,
    body: impl Fn(usize) -> Value + Send + Sync + 'static,
) -> (usize, HashMap<String, usize>) {
    let next = Arc::new(AtomicUsize::new(0));
    let body = Arc::new(body);
    let tokens = Arc::new(tokens.to_vec());
    let url = server.url("/api/orders");
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (next, body, tokens, url) = (next.clone(), body.clone(), tokens.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let http = client();
            let (mut ok, mut other) = (0usize, HashMap::<String, usize>::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let bearer = format!("Bearer {}", tokens[i % tokens.len()]);
                match call(&http, &url, Method::POST, &[("authorization", &bearer)], Some(body(i))).await {
                    Ok((200..=299, _)) => ok += 1,
                    Ok((status, answer)) => {
                        *other.entry(format!("HTTP {status} {}", answer["code"])).or_default() += 1
                    }
                    Err(e) => *other.entry(e.to_string()).or_default() += 1,
                }
            }
            (ok, other)
        }));
    }
    let (mut ok, mut other) = (0, HashMap::new());
    for t in tasks {
        if let Ok((o, e)) = t.await {
            ok += o;
            for (k, n) in e {
                *other.entry(k).or_default() += n;
            }
        }
    }
    (ok, other)
}

/// Calls `path` (a cron endpoint) until it processes nothing; answers the total processed.
pub async fn drain_cron(http: &HttpClient, server: &Server, path: &str) -> Result<i64, BoxError> {
    let mut total = 0;
    loop {
        let answer =
            call_ok(http, &server.url(path), Method::POST, &[("x-admin-token", ADMIN)], None).await?;
        let n = answer["processed"].as_i64().unwrap_or(0);
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// How many orders have not reached the panel yet (`pending` or `submitting`): two counts, not a
/// read of every order (which, polled while a long run drains, held back PostgreSQL's cleanup).
pub async fn unsent(store: &dyn Store) -> Result<i64, BoxError> {
    let mut n = 0;
    for status in [OrderStatus::Pending, OrderStatus::Submitting] {
        n += store.orders(OrderFilter { status: Some(status), limit: 1, ..Default::default() }).await?.total;
    }
    Ok(n)
}

/// Every order of the store, lowest id first.
pub async fn all_orders(store: &dyn Store) -> Result<Vec<snspmt_store::Order>, BoxError> {
    let mut rows = store.orders(OrderFilter { limit: 10_000_000, ..Default::default() }).await?.rows;
    rows.sort_by_key(|o| o.order_id.0);
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// The stub SMM panel

/// A stub SMM panel that accepts every `add` at no cost (`{"order": n}`), answers statuses
/// (`In progress`, or what [`Stub::set_status`] set), and counts the adds per link.
pub struct Stub {
    pub url: String,
    next_id: AtomicU64,
    adds: Mutex<HashMap<String, u32>>,
    statuses: Mutex<HashMap<String, (String, i64)>>,
    /// With `n`: every order whose id is a multiple of `n` is `Completed` (the soak's settling).
    complete_every: Option<u64>,
    pub status_calls: AtomicUsize,
}

impl Stub {
    pub async fn start(complete_every: Option<u64>) -> Result<Arc<Stub>, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let stub = Arc::new(Stub {
            url: format!("http://{}/api/v2", listener.local_addr()?),
            next_id: AtomicU64::new(1),
            adds: Mutex::new(HashMap::new()),
            statuses: Mutex::new(HashMap::new()),
            complete_every,
            status_calls: AtomicUsize::new(0),
        });
        let serving = stub.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let stub = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let stub = stub.clone();
                        async move { Ok::<_, Infallible>(stub.answer(req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(stub)
    }

    /// The server's environment for this panel.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("SMMKINGS_API_URL", self.url.clone()), ("SMMKINGS_API_KEY", PANEL_KEY.to_owned())]
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let query = req.uri().query().unwrap_or_default().to_owned();
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let form: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .chain(form_urlencoded::parse(&body))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let answer = if form.get("key").map(String::as_str) != Some(PANEL_KEY) {
            json!({"error": "Invalid API key"})
        } else {
            match form.get("action").map(String::as_str) {
                Some("add") => {
                    let link = form.get("link").cloned().unwrap_or_default();
                    *lock(&self.adds).entry(link).or_default() += 1;
                    json!({"order": self.next_id.fetch_add(1, Ordering::Relaxed)})
                }
                Some("status") => {
                    self.status_calls.fetch_add(1, Ordering::Relaxed);
                    match (form.get("orders"), form.get("order")) {
                        (Some(ids), _) => Value::Object(
                            ids.split(',').map(|id| (id.to_owned(), self.status_of(id))).collect(),
                        ),
                        (None, Some(id)) => self.status_of(id),
                        (None, None) => json!({"error": "Incorrect request"}),
                    }
                }
                Some("balance") => json!({"balance": "1000000.00", "currency": "USD"}),
                _ => json!({"error": "Incorrect request"}),
            }
        };
        let mut resp = Response::new(Full::new(Bytes::from(answer.to_string())));
        resp.headers_mut()
            .insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
        resp
    }

    fn status_of(&self, id: &str) -> Value {
        let set = lock(&self.statuses).get(id).cloned();
        let (status, remains) = match set {
            Some(s) => s,
            None => match (self.complete_every, id.parse::<u64>()) {
                (Some(n), Ok(i)) if i % n == 0 => ("Completed".to_owned(), 0),
                _ => ("In progress".to_owned(), 0),
            },
        };
        json!({"charge": "0.00", "start_count": "0", "status": status, "remains": remains.to_string(), "currency": "USD"})
    }

    /// What the next status request answers for the order `id`.
    pub fn set_status(&self, id: &str, status: &str, remains: i64) {
        lock(&self.statuses).insert(id.to_owned(), (status.to_owned(), remains));
    }

    /// `add`s received, per link.
    pub fn adds(&self) -> HashMap<String, u32> {
        lock(&self.adds).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// The bare hyper server

/// A hello-world hyper 1 server, with the accept loop and `http1::Builder` settings of
/// `snspmt_http::serve` (nodelay, `TokioTimer`, 30 s header read timeout): the baseline.
pub async fn start_hello() -> Result<u16, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
                });
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(port)
}

// ---------------------------------------------------------------------------------------------
// wrk and pgbench

/// What one `wrk` run reported (from the bench scripts' `done`).
#[derive(Debug, Clone, Copy, Default)]
pub struct WrkRun {
    /// Responses received (any status).
    pub requests: u64,
    /// Responses with a status ≥ 400.
    pub status_errors: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl WrkRun {
    /// 2xx/3xx answers.
    pub fn ok(&self) -> u64 {
        self.requests.saturating_sub(self.status_errors)
    }

    pub fn ok_per_second(&self) -> f64 {
        self.ok() as f64 / self.seconds.max(1e-9)
    }

    pub fn errors(&self) -> u64 {
        self.status_errors + self.socket_errors
    }
}

/// The `done` hook every bench script ends with: one `WRKJSON {…}` line for [`run_wrk`].
const WRK_DONE: &str = r#"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"status":%d,"socket":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"#;

/// A wrk Lua script. Thread `tid` (1, 2, …) sends its `n`-th request as user
/// `tokens[(n + tid) % #tokens + 1]`; `request_lua` is the body of `request()` and may use
/// `tid`, `n`, `auth` (the `Authorization` value) and `RUN` (this run's unique tag).
pub fn wrk_script(
    dir: &Path,
    name: &str,
    tokens: &[String],
    run: &str,
    request_lua: &str,
) -> Result<PathBuf, BoxError> {
    let list = tokens.iter().map(|t| format!("\"Bearer {t}\"")).collect::<Vec<_>>().join(",");
    let script = format!(
        r#"local tokens = {{{list}}}
RUN = "{run}"
local threads = 0
tid = 0
local n = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function request()
  n = n + 1
  local auth = tokens[(n + tid) % #tokens + 1]
{request_lua}
end
{WRK_DONE}"#
    );
    let path = dir.join(format!("{name}.lua"));
    std::fs::write(&path, script)?;
    Ok(path)
}

/// Runs `wrk -t2 -c<connections> -d<seconds>s --timeout 10s` on `url` with `script`.
pub async fn run_wrk(
    url: &str,
    script: Option<&Path>,
    connections: usize,
    seconds: u64,
) -> Result<WrkRun, BoxError> {
    let mut cmd = tokio::process::Command::new("wrk");
    cmd.args(["-t", "2", "-c", &connections.to_string(), "-d", &format!("{seconds}s"), "--timeout", "10s"]);
    let done_only;
    let script = match script {
        Some(s) => s,
        None => {
            done_only = std::env::temp_dir().join(format!("snspmt-wrk-done-{}.lua", std::process::id()));
            std::fs::write(&done_only, WRK_DONE)?;
            &done_only
        }
    };
    cmd.arg("-s").arg(script).arg(url);
    let out = cmd.output().await.map_err(|e| format!("wrk: {e} (apt-get install wrk)"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("wrk failed: {stdout} {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("WRKJSON "))
        .ok_or_else(|| format!("wrk printed no summary: {stdout}"))?;
    let v: Value = serde_json::from_str(line)?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    Ok(WrkRun {
        requests: n("requests"),
        status_errors: n("status"),
        socket_errors: n("socket"),
        seconds: n("duration_us") as f64 / 1e6,
        p50_ms: n("p50_us") as f64 / 1e3,
        p99_ms: n("p99_us") as f64 / 1e3,
    })
}

/// pgbench's TPC-B-like transactions per second against the bench's PostgreSQL, `clients`
/// clients, 2 threads, in a throw-away database.
pub fn pgbench_tps(clients: usize, seconds: u64) -> Result<f64, String> {
    let db = format!("snspmt_extbench_{}", std::process::id());
    let conn = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"];
    let run = |program: &str, args: &[&str]| -> Result<String, String> {
        let out =
            Command::new(program).args(conn).args(args).output().map_err(|e| format!("{program}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("{program}: {}", String::from_utf8_lossy(&out.stderr).trim()))
        }
    };
    run("createdb", &[&db])?;
    let result = (|| {
        run("pgbench", &["-i", "-q", "-s", "1", &db])?;
        let out = run("pgbench", &["-c", &clients.to_string(), "-j", "2", "-T", &seconds.to_string(), &db])?;
        out.lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| "pgbench printed no tps".to_owned())
    })();
    let _ = run("dropdb", &[&db]);
    result
}

// ---------------------------------------------------------------------------------------------
// The money check

/// The outcome of a check: the line to print, and whether money and submissions are right.
pub struct Verdict {
    pub ok: bool,
    pub text: String,
}

/// What the load was answered.
#[derive(Debug, Default, Clone, Copy)]
pub struct Answered {
    /// Deducts of 1 point answered 2xx.
    pub deducts: u64,
    /// Orders answered 2xx.
    pub orders: u64,
    /// Requests whose outcome the client never learnt (cut by the end of a wrk run, timeouts):
    /// each may or may not have been applied.
    pub unknown: u64,
}

/// Checks the money and the submissions of one database after the load:
/// - every balance equals its ledger, and none is negative;
/// - Σ (credit − balance) = deducts + Σ (order price − refunded), where the deducts and the
///   orders in the store are those answered 2xx, plus at most `unknown` whose answer was lost;
/// - no link reached the stub more than once, and every single order past `pending` reached it
///   (the parts of package and split orders are counted by their scenario).
pub async fn money_check(
    label: &str,
    db: &Db,
    users: usize,
    answered: Answered,
    stub: Option<&Stub>,
) -> Result<Verdict, BoxError> {
    let store = db.store.as_ref();
    let mut problems = Vec::new();
    let mismatches = store.ledger_mismatches().await?;
    if !mismatches.is_empty() {
        problems.push(format!("BALANCES DIFFER FROM THEIR LEDGERS: {mismatches:?}"));
    }
    let orders = all_orders(store).await?;
    let user_ids: std::collections::HashSet<&str> = orders.iter().map(|o| o.user_id.as_str()).collect();
    let mut spent = 0i64;
    let mut counted = 0usize;
    // Every bench user, whether or not it ordered.
    let mut ids: Vec<String> = user_ids.iter().map(|s| (*s).to_owned()).collect();
    for prefix in ["bench", "parts", "soak"] {
        for i in 0..users {
            ids.push(format!("{prefix}-{i}"));
        }
    }
    ids.sort();
    ids.dedup();
    for id in &ids {
        let Some(balance) = store.balance(id).await? else { continue };
        counted += 1;
        if balance.0 < 0 {
            problems.push(format!("NEGATIVE BALANCE {id}: {}", balance.0));
        }
        spent += CREDIT - balance.0;
    }
    let charged: i64 = orders.iter().map(|o| o.final_price.0 - o.refunded_amount.0).sum();
    let deducted = spent - charged;
    let (lo, hi) = (answered.deducts as i64, (answered.deducts + answered.unknown) as i64);
    if deducted < lo || deducted > hi {
        problems.push(format!("DEDUCTED {deducted} POINTS, ANSWERED {lo} (up to {hi} with lost answers)"));
    }
    let placed = orders.len() as u64;
    if placed < answered.orders || placed > answered.orders + answered.unknown {
        problems.push(format!(
            "{placed} ORDERS IN THE STORE, {} ANSWERED (up to {} unknown)",
            answered.orders, answered.unknown
        ));
    }
    let mut stub_text = String::new();
    if let Some(stub) = stub {
        let adds = stub.adds();
        let twice: Vec<_> = adds.iter().filter(|(_, n)| **n > 1).map(|(l, n)| format!("{l} x{n}")).collect();
        if !twice.is_empty() {
            problems.push(format!(
                "DUPLICATE SUBMISSIONS: {}",
                twice.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        let waiting = |s: OrderStatus| {
            matches!(
                s,
                OrderStatus::Pending | OrderStatus::Scheduled | OrderStatus::Failed | OrderStatus::Canceled
            )
        };
        // A package or split order is `processing` before its first part is submitted.
        let multipart = |o: &snspmt_store::Order| o.split_days.is_some() || o.package_id.is_some();
        let missing = orders
            .iter()
            .filter(|o| !waiting(o.status) && !multipart(o) && !adds.contains_key(&o.link))
            .count();
        let unsubmitted = orders.iter().filter(|o| matches!(o.status, OrderStatus::Pending)).count();
        let unknown = orders
            .iter()
            .filter(|o| matches!(o.status, OrderStatus::Unknown | OrderStatus::Submitting))
            .count();
        if missing > 0 {
            problems.push(format!("{missing} ORDERS PAST PENDING NEVER REACHED THE STUB"));
        }
        stub_text = format!(
            ", {} links at the stub, {} twice, {unsubmitted} still pending, {unknown} unknown/submitting",
            adds.len(),
            twice.len()
        );
    }
    let ok = problems.is_empty();
    let text = format!(
        "money {label}: {} ({counted} users, {deducted} points deducted for {} deducts answered, {placed} orders \
         for {} answered, {} answers lost{stub_text}){}",
        if ok { "OK" } else { "MISMATCH" },
        answered.deducts,
        answered.orders,
        answered.unknown,
        if ok { String::new() } else { format!(": {}", problems.join("; ")) }
    );
    Ok(Verdict { ok, text })
}

/// Waits up to `patience` for `f` to hold, polling every 100 ms; answers whether it did and
/// how long it took.
pub async fn wait_for<F, Fut>(patience: Duration, mut f: F) -> Result<(bool, Duration), BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, BoxError>>,
{
    let started = Instant::now();
    loop {
        if f().await? {
            return Ok((true, started.elapsed()));
        }
        if started.elapsed() >= patience {
            return Ok((false, started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
