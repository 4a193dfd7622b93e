//! `load`: an in-process HTTP load benchmark for the snspmt server.
//!
//! ```text
//! cargo run --release -p snspmt-benches --bin load -- \
//!     [--seconds N] [--connections C] [--users U] [--backends sqlite,postgres]
//! ```
//!
//! One process holds two tokio runtimes: a *server* runtime that runs a minimal hyper 1
//! hello-world server and the real snspmt server ([`snspmt_http::serve`]) once per storage
//! backend, each on `127.0.0.1:0`, and a *load* runtime that drives them over real TCP
//! sockets with `C` keep-alive HTTP/1.1 connections (`hyper::client::conn::http1`), one task
//! per connection, one request at a time per connection (closed loop).
//!
//! Each scenario runs for a warm-up second and then `N` measured seconds. Latencies of the
//! measured successful requests are kept exactly (one `u32` of microseconds per request) and
//! merged at the end for p50/p99. A non-2xx answer, a transport error or a timeout is an error;
//! errors are counted over the whole scenario, warm-up included, and listed under the table.
//!
//! Scenarios: `GET /` on the hello-world server (the floor: what hyper and this machine cost
//! without any application), then per backend `GET /api/points` and `POST /api/points/deduct`
//! (every other deduct carries a unique `Idempotency-Key`, so both the plain and the
//! idempotent path are measured). Users are created through the HTTP API and credited a large
//! balance by the admin endpoint; after the run every user's balance is checked against the
//! deducts that succeeded, and a mismatch makes the program exit non-zero.
//!
//! Then, per backend, a second snspmt server on the same store, configured with the fake SMM
//! panel of snspmt-http's tests (`tests/common/fake_smm.rs`, on loopback), runs
//! `POST /api/orders` (one service, a unique link per order). The server submits each order
//! to the panel in the background; after the run the program waits for every accepted order
//! to reach the fake and checks that none was sent twice (a duplicate makes it exit
//! non-zero). It then tops the orders in progress up to 10,000, marks a fifth of them ended
//! at the fake, and times one `POST /api/cron/sync-order-status`, which asks the panel about
//! them 100 per call and settles those that ended.
//!
//! The program measures and prints; it never judges a time. The load generator shares the CPU
//! with the server, so absolute numbers are a lower bound of what the server alone could do;
//! the ratio to hello-world is the more portable figure.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::error::Error;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use snspmt_http::clock::{Clock, SystemClock};
use snspmt_http::{App, Config};
use snspmt_store::testing::{PgTestSchema, POSTGRES_URL_VAR};
use snspmt_store::{Maintenance, SqliteStore, Store};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The fake SMM panel of snspmt-http's integration tests, shared rather than copied.
#[path = "../../../snspmt-http/tests/common/fake_smm.rs"]
mod fake_smm;

use fake_smm::{FakeSmm, FAKE_KEY};

type BoxError = Box<dyn Error + Send + Sync>;

/// Un-measured time at the start of every scenario (connections open, caches warm).
const WARMUP: Duration = Duration::from_secs(1);
/// A request slower than this is abandoned and counted as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for PostgreSQL before reporting it as skipped.
const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections of the PostgreSQL pool (what `snspmt_store::open` uses in production).
const PG_POOL_SIZE: usize = 16;
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The balance every bench user starts with; deducts of 1 never exhaust it.
const INITIAL_POINTS: i64 = 100_000_000;
const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";
const HELLO_BODY: &[u8] = b"Hello, World!";
/// Units per bench order: the minimum of the fake's service 1, so an order costs 1 point.
const ORDER_QUANTITY: i64 = 10;
/// Orders in progress when the status sync is timed (the most one sync round takes).
const SYNC_ORDERS: usize = 10_000;
/// Orders per upstream status call (`smm::MAX_BULK`).
const STATUS_BATCH: usize = 100;
/// How long to wait for background submissions to reach the fake panel.
const SUBMIT_WAIT: Duration = Duration::from_secs(60);
/// How long to wait for the answer of the timed `POST /api/cron/sync-order-status`; a later
/// answer is reported, not judged.
const SYNC_TIMEOUT: Duration = Duration::from_secs(300);

const USAGE: &str = "usage: load [--seconds N] [--connections C] [--users U] [--backends sqlite,postgres]

  --seconds N       measured seconds per scenario, after 1 s of warm-up (default 5)
  --connections C   concurrent keep-alive connections (default 32)
  --users U         bench users the connections are spread over (default 16)
  --backends LIST   comma-separated: sqlite, postgres (default both)

PostgreSQL comes from SNSPMT_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test);
a fresh schema is created there and dropped afterwards.";

fn main() -> Result<ExitCode, BoxError> {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => {
            eprintln!("load: {e}\n\n{USAGE}");
            return Ok(ExitCode::from(2));
        }
    };
    let server_rt = tokio::runtime::Builder::new_multi_thread().thread_name("server").enable_all().build()?;
    let load_rt = tokio::runtime::Builder::new_multi_thread().thread_name("load").enable_all().build()?;

    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "snspmt load benchmark: {} s measured (+{} s warm-up) per scenario, {} connections, {} users, \
         {cpus} CPUs; server and load generator share this process",
        args.seconds,
        WARMUP.as_secs(),
        args.connections,
        args.users
    );

    let mut lines = Vec::new();
    let mut verdicts = Vec::new();

    reset_peak_rss();
    let hello = start_server(&server_rt, hello_serve)?;
    let measured = run_scenario(&load_rt, &args, hello.addr, Scenario::Hello, Arc::new(Vec::new()), None)?;
    stop_server(&server_rt, hello)?;
    let hello_rps = measured.rps(Kind::Plain);
    lines.push(Line::Rows { backend: "hyper", scenario: Scenario::Hello, measured, rss_kb: peak_rss_kb() });

    for &backend in &args.backends {
        reset_peak_rss();
        let outcome = run_backend(backend, &args, &server_rt, &load_rt)?;
        let rss_kb = peak_rss_kb();
        match outcome {
            BackendOutcome::Skipped(reason) => lines.push(Line::Skipped { backend: backend.name(), reason }),
            BackendOutcome::Ran(ran) => {
                let Ran { points, deduct, verdict, orders } = *ran;
                lines.push(Line::Rows {
                    backend: backend.name(),
                    scenario: Scenario::Points,
                    measured: points,
                    rss_kb,
                });
                lines.push(Line::Rows {
                    backend: backend.name(),
                    scenario: Scenario::Deduct,
                    measured: deduct,
                    rss_kb,
                });
                lines.push(Line::Rows {
                    backend: backend.name(),
                    scenario: Scenario::Orders,
                    measured: orders.measured,
                    rss_kb,
                });
                verdicts.push(verdict);
                verdicts.extend(orders.verdicts);
            }
        }
    }
    server_rt.shutdown_timeout(Duration::from_secs(5));
    load_rt.shutdown_timeout(Duration::from_secs(5));

    let pgbench = if args.backends.iter().any(|b| b.name() == "postgres") {
        Some(snspmt_benches::ext::pgbench_tps(args.connections, args.seconds))
    } else {
        None
    };
    print_table(&lines, hello_rps, pgbench.as_ref().and_then(|r| r.as_ref().ok().copied()));
    match pgbench {
        Some(Ok(tps)) => println!(
            "pgbench: TPC-B-like, {} clients, 2 threads, {} s, same PostgreSQL: {tps:.0} tps (the `vs pgbench` column)\n",
            args.connections, args.seconds
        ),
        Some(Err(e)) => println!("pgbench: skipped ({e})\n"),
        None => {}
    }
    let mut ok = true;
    for v in &verdicts {
        println!("{}", v.text);
        ok &= v.ok;
    }
    match peak_rss_kb() {
        Some(kb) => println!("peak RSS (VmHWM): {kb} kB ({:.1} MiB)", kb as f64 / 1024.0),
        None => println!("peak RSS: unavailable (no VmHWM in /proc/self/status)"),
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

// ---------------------------------------------------------------------------------------------
// Arguments

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

struct Args {
    seconds: u64,
    connections: usize,
    users: usize,
    backends: Vec<Backend>,
}

impl Args {
    /// `Ok(None)` for `--help`.
    fn parse(args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
        let mut parsed = Args {
            seconds: 5,
            connections: 32,
            users: 16,
            backends: vec![Backend::Sqlite, Backend::Postgres],
        };
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg, None),
            };
            if flag == "-h" || flag == "--help" {
                return Ok(None);
            }
            if !["--seconds", "--connections", "--users", "--backends"].contains(&flag.as_str()) {
                return Err(format!("unknown option {flag}"));
            }
            let value = match inline.or_else(|| args.next()) {
                Some(v) => v,
                None => return Err(format!("{flag} needs a value")),
            };
            let positive = |v: &str| match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{flag} must be a positive integer, not {v:?}")),
            };
            match flag.as_str() {
                "--seconds" => parsed.seconds = positive(&value)? as u64,
                "--connections" => parsed.connections = positive(&value)?,
                "--users" => parsed.users = positive(&value)?,
                "--backends" => {
                    parsed.backends = Vec::new();
                    for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        let b = match name {
                            "sqlite" => Backend::Sqlite,
                            "postgres" | "postgresql" => Backend::Postgres,
                            other => return Err(format!("unknown backend {other:?} (sqlite, postgres)")),
                        };
                        if !parsed.backends.contains(&b) {
                            parsed.backends.push(b);
                        }
                    }
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(Some(parsed))
    }
}

// ---------------------------------------------------------------------------------------------
// Servers

struct RunningServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Binds `127.0.0.1:0` on the server runtime and spawns `serve(listener, shutdown)` there.
fn start_server<F, Fut>(rt: &Runtime, serve: F) -> Result<RunningServer, BoxError>
where
    F: FnOnce(TcpListener, oneshot::Receiver<()>) -> Fut,
    Fut: Future<Output = std::io::Result<()>> + Send + 'static,
{
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let task = rt.spawn(serve(listener, stopped));
    Ok(RunningServer { addr, stop, task })
}

/// Asks the server to stop and waits until it has (open connections finish first).
fn stop_server(rt: &Runtime, server: RunningServer) -> Result<(), BoxError> {
    // The receiver is gone only if the server already stopped; its result says why.
    let _ = server.stop.send(());
    rt.block_on(server.task)??;
    Ok(())
}

/// A minimal hyper 1 server with snspmt's accept loop and connection settings, answering every
/// request with a small fixed body.
async fn hello_serve(listener: TcpListener, stop: oneshot::Receiver<()>) -> std::io::Result<()> {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(s) => s,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = service_fn(|_req: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(HELLO_BODY))))
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), service);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut stop => break,
        }
    }
    Ok(())
}

/// The results of one backend that could be run.
struct Ran {
    points: Measured,
    deduct: Measured,
    verdict: Verdict,
    orders: OrdersRan,
}

enum BackendOutcome {
    Skipped(String),
    Ran(Box<Ran>),
}

/// Opens the backend's store, runs the snspmt server on it, sets the users up, runs the
/// scenarios and checks the balances.
fn run_backend(
    backend: Backend,
    args: &Args,
    server_rt: &Runtime,
    load_rt: &Runtime,
) -> Result<BackendOutcome, BoxError> {
    eprintln!("{}: opening the store", backend.name());
    // Dropped (schema and all) only after the server has stopped.
    let mut pg_schema = None;
    let (store, database_url): (Arc<dyn Store>, String) = match backend {
        Backend::Sqlite => {
            let store = SqliteStore::open_temporary()?;
            server_rt.block_on(store.migrate(SystemClock.now()))?;
            (Arc::new(store), "sqlite::memory:".to_owned())
        }
        Backend::Postgres => {
            let url = std::env::var(POSTGRES_URL_VAR)
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| DEFAULT_PG_URL.to_owned());
            let created = server_rt.block_on(async {
                tokio::time::timeout(PG_CONNECT_TIMEOUT, PgTestSchema::create(&url, PG_POOL_SIZE)).await
            });
            let schema = match created {
                Ok(Ok(schema)) => schema,
                Ok(Err(e)) => return Ok(BackendOutcome::Skipped(format!("{}: {e}", redact_url(&url)))),
                Err(_) => {
                    return Ok(BackendOutcome::Skipped(format!(
                        "no answer from {} within {} s",
                        redact_url(&url),
                        PG_CONNECT_TIMEOUT.as_secs()
                    )))
                }
            };
            let store = Arc::new(schema.store.clone());
            pg_schema = Some(schema);
            (store, url)
        }
    };
    let config = bench_config(&database_url, &[])?;
    let server =
        start_snspmt(server_rt, Arc::new(App::new(store.clone(), config).with_mailer(Arc::new(NoMail))))?;

    let result = (|| -> Result<_, BoxError> {
        eprintln!("{}: registering and crediting {} users", backend.name(), args.users);
        let tokens = Arc::new(load_rt.block_on(setup_users(server.addr, args.users))?);
        let points = run_scenario(load_rt, args, server.addr, Scenario::Points, tokens.clone(), None)?;
        let deduct = run_scenario(load_rt, args, server.addr, Scenario::Deduct, tokens.clone(), None)?;
        let verdict = load_rt.block_on(verify_balances(backend, server.addr, &tokens, &deduct))?;
        Ok((tokens, points, deduct, verdict))
    })();
    stop_server(server_rt, server)?;
    let (tokens, points, deduct, verdict) = result?;
    // The orders run on the same store and users, after the balance check.
    let orders = run_orders(backend, args, server_rt, load_rt, store, &database_url, tokens)?;
    drop(pg_schema);
    Ok(BackendOutcome::Ran(Box::new(Ran { points, deduct, verdict, orders })))
}

/// Drops verification mail (the log-only mailer would write a line per registered user).
struct NoMail;

impl snspmt_http::mailer::Mailer for NoMail {
    fn send(&self, _: &snspmt_http::mailer::Mail) -> Result<(), String> {
        Ok(())
    }
}

/// The snspmt configuration of the bench servers, plus `extra` variables.
fn bench_config(database_url: &str, extra: &[(&str, String)]) -> Result<Config, BoxError> {
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("SNSPMT_LOG", "warn".to_owned()),
        ("SNSPMT_ADDR", "127.0.0.1:0".to_owned()),
        // `serve` starts no background workers; the orders scenario spawns them as the binary does.
        ("SNSPMT_WORKERS", "0".to_owned()),
        // The bench registers and logs in many users from one address: no rate limits.
        ("SNSPMT_LOGIN_RATE", "0".to_owned()),
        ("SNSPMT_REGISTER_RATE", "0".to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
    ]);
    vars.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    // ADMIN_TOKEN is set, so the random-token fallback is never called.
    Ok(Config::from_lookup(|k| vars.get(k).cloned(), || ADMIN_TOKEN.to_owned())?)
}

/// Runs `snspmt_http::serve` for `app` on the server runtime.
fn start_snspmt(rt: &Runtime, app: Arc<App>) -> Result<RunningServer, BoxError> {
    start_server(rt, move |listener, stop| async move {
        snspmt_http::serve(listener, app, async move {
            let _ = stop.await;
        })
        .await
    })
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Client

type Sender = SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

struct Reply {
    status: StatusCode,
    /// `Idempotent-Replayed: true`: the answer of an earlier request; nothing moved.
    replayed: bool,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// `HTTP 409 insufficient_points`, for error reports.
    fn describe(&self) -> String {
        match self.json().get("code").and_then(Value::as_str) {
            Some(code) => format!("HTTP {} {code}", self.status.as_u16()),
            None => format!("HTTP {}", self.status.as_u16()),
        }
    }
}

async fn send(sender: &mut Sender, req: Request<Full<Bytes>>) -> Result<Reply, BoxError> {
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let replayed = resp.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(Reply { status, replayed, body })
}

fn request(
    method: Method,
    path: &str,
    headers: &[(&str, HeaderValue)],
    body: Option<&Value>,
) -> Result<Request<Full<Bytes>>, BoxError> {
    let mut builder = Request::builder().method(method).uri(path).header(HOST, "127.0.0.1");
    for (name, value) in headers {
        builder = builder.header(*name, value.clone());
    }
    let body = match body {
        Some(v) => {
            builder = builder.header(CONTENT_TYPE, "application/json");
            Bytes::from(serde_json::to_vec(v)?)
        }
        None => Bytes::new(),
    };
    Ok(builder.body(Full::new(body))?)
}

/// One setup request that must succeed.
async fn call(sender: &mut Sender, req: Request<Full<Bytes>>, what: &str) -> Result<Value, BoxError> {
    let reply = send(sender, req).await?;
    if !reply.status.is_success() {
        return Err(format!("{what}: {} {}", reply.describe(), String::from_utf8_lossy(&reply.body)).into());
    }
    Ok(reply.json())
}

fn user_id(i: usize) -> String {
    format!("bench-{i}")
}

/// Registers `users` users and credits each [`INITIAL_POINTS`]; returns their bearer headers.
async fn setup_users(addr: SocketAddr, users: usize) -> Result<Vec<HeaderValue>, BoxError> {
    let mut sender = connect(addr).await?;
    let admin = HeaderValue::from_static(ADMIN_TOKEN);
    let mut bearers = Vec::with_capacity(users);
    for i in 0..users {
        let id = user_id(i);
        let req = request(
            Method::POST,
            "/api/register",
            &[],
            Some(&json!({ "user_id": id, "email": format!("{id}@bench.test") })),
        )?;
        let registered = call(&mut sender, req, &format!("register {id}")).await?;
        let token = registered
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("register {id}: no token in {registered}"))?;
        bearers.push(HeaderValue::try_from(format!("Bearer {token}"))?);
        let req = request(
            Method::PUT,
            &format!("/api/admin/users/{id}"),
            &[("x-admin-token", admin.clone())],
            Some(&json!({ "points_adjustment": INITIAL_POINTS, "reason": "bench" })),
        )?;
        call(&mut sender, req, &format!("credit {id}")).await?;
    }
    Ok(bearers)
}

// ---------------------------------------------------------------------------------------------
// Load

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Hello,
    Points,
    Deduct,
    Orders,
}

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::Hello => "GET / (hello world)",
            Scenario::Points => "GET /api/points",
            Scenario::Deduct => "POST /api/points/deduct",
            Scenario::Orders => "POST /api/orders",
        }
    }
}

/// Which latency series a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Every hello, points and orders request; deducts without an `Idempotency-Key`.
    Plain = 0,
    /// Deducts with an `Idempotency-Key`.
    Keyed = 1,
}

struct Plan {
    scenario: Scenario,
    addr: SocketAddr,
    bearers: Arc<Vec<HeaderValue>>,
    measure_from: Instant,
    deadline: Instant,
    /// `POST /api/orders` only.
    orders: Option<OrderPlan>,
    /// When set, the connections together start at most this many requests.
    budget: Option<AtomicUsize>,
}

/// What the orders of a run look like.
#[derive(Clone)]
struct OrderPlan {
    service_id: i64,
    /// Keeps links unique across runs: `https://instagram.com/p/<tag><conn>-<n>`.
    tag: String,
}

/// What one connection saw, and after merging, what a scenario saw.
#[derive(Default)]
struct Measured {
    /// Microseconds of each measured successful request, by [`Kind`].
    latencies: [Vec<u32>; 2],
    /// Failures over the whole scenario (warm-up included), by description.
    errors: BTreeMap<String, u64>,
    /// Successful deducts that moved points, per user index (warm-up included).
    deducted: BTreeMap<usize, u64>,
    /// Deducts whose outcome is unknown (timeout or transport error), per user index.
    in_doubt: BTreeMap<usize, u64>,
    /// Orders answered 2xx: (order id, link) (warm-up included).
    placed: Vec<(i64, String)>,
    /// Links of orders whose outcome is unknown (timeout or transport error).
    placed_in_doubt: Vec<String>,
    /// When the last measured request finished.
    last_done: Option<Instant>,
    measure_from: Option<Instant>,
    seconds: f64,
}

impl Measured {
    fn error(&mut self, what: String) {
        *self.errors.entry(what).or_default() += 1;
    }

    fn merge(&mut self, other: Measured) {
        for (mine, theirs) in self.latencies.iter_mut().zip(other.latencies) {
            mine.extend(theirs);
        }
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        for (u, n) in other.deducted {
            *self.deducted.entry(u).or_default() += n;
        }
        for (u, n) in other.in_doubt {
            *self.in_doubt.entry(u).or_default() += n;
        }
        self.placed.extend(other.placed);
        self.placed_in_doubt.extend(other.placed_in_doubt);
        self.last_done = self.last_done.max(other.last_done);
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The measured window: from the end of the warm-up to the last measured answer.
    fn window(&self) -> f64 {
        match (self.measure_from, self.last_done) {
            (Some(from), Some(last)) if last > from => (last - from).as_secs_f64(),
            _ => self.seconds,
        }
    }

    fn count(&self, kind: Option<Kind>) -> usize {
        match kind {
            Some(k) => self.latencies[k as usize].len(),
            None => self.latencies.iter().map(Vec::len).sum(),
        }
    }

    fn rps(&self, kind: Kind) -> f64 {
        self.count(Some(kind)) as f64 / self.window()
    }

    fn rps_all(&self) -> f64 {
        self.count(None) as f64 / self.window()
    }

    /// Nearest-rank percentiles (ms) of one series, or of all when `kind` is `None`.
    fn percentiles(&self, kind: Option<Kind>, qs: [f64; 2]) -> [Option<f64>; 2] {
        let mut all: Vec<u32> = match kind {
            Some(k) => self.latencies[k as usize].clone(),
            None => self.latencies.concat(),
        };
        all.sort_unstable();
        qs.map(|q| {
            let rank = ((q * all.len() as f64).ceil() as usize).clamp(1, all.len().max(1));
            all.get(rank - 1).map(|us| f64::from(*us) / 1000.0)
        })
    }
}

/// Runs one scenario on the load runtime: warm-up, then `args.seconds` measured.
fn run_scenario(
    rt: &Runtime,
    args: &Args,
    addr: SocketAddr,
    scenario: Scenario,
    bearers: Arc<Vec<HeaderValue>>,
    orders: Option<OrderPlan>,
) -> Result<Measured, BoxError> {
    eprintln!("running {} for {} s (+{} s warm-up)", scenario.label(), args.seconds, WARMUP.as_secs());
    let seconds = Duration::from_secs(args.seconds);
    rt.block_on(async {
        let measure_from = Instant::now() + WARMUP;
        let deadline = measure_from + seconds;
        let plan = Plan { scenario, addr, bearers, measure_from, deadline, orders, budget: None };
        run_plan(plan, args.connections).await
    })
}

/// Runs `plan` on `connections` connections (call it on the load runtime).
async fn run_plan(plan: Plan, connections: usize) -> Result<Measured, BoxError> {
    let mut total = Measured {
        measure_from: Some(plan.measure_from),
        seconds: (plan.deadline - plan.measure_from).as_secs_f64(),
        ..Default::default()
    };
    let plan = Arc::new(plan);
    let tasks: Vec<_> = (0..connections).map(|conn| tokio::spawn(drive(plan.clone(), conn))).collect();
    for task in tasks {
        total.merge(task.await?);
    }
    Ok(total)
}

/// A request to send, with what the connection needs to know about it.
struct Next {
    req: Request<Full<Bytes>>,
    kind: Kind,
    /// The order's link, for `POST /api/orders`.
    link: Option<String>,
}

/// Builds the next request of a connection.
fn next_request(plan: &Plan, conn: usize, n: u64) -> Result<Next, BoxError> {
    let bearer = |conn: usize| -> Result<HeaderValue, BoxError> {
        let bearers = &plan.bearers;
        bearers.get(conn % bearers.len().max(1)).cloned().ok_or_else(|| "no bench users".into())
    };
    Ok(match plan.scenario {
        Scenario::Hello => Next { req: request(Method::GET, "/", &[], None)?, kind: Kind::Plain, link: None },
        Scenario::Points => Next {
            req: request(Method::GET, "/api/points", &[("authorization", bearer(conn)?)], None)?,
            kind: Kind::Plain,
            link: None,
        },
        Scenario::Deduct => {
            let mut headers = vec![("authorization", bearer(conn)?)];
            // Every other deduct carries a unique key, so both store paths are measured.
            let kind = if n % 2 == 1 {
                headers.push(("idempotency-key", HeaderValue::try_from(format!("bench-{conn}-{n}"))?));
                Kind::Keyed
            } else {
                Kind::Plain
            };
            let req = request(Method::POST, "/api/points/deduct", &headers, Some(&json!({ "amount": 1 })))?;
            Next { req, kind, link: None }
        }
        Scenario::Orders => {
            let order = plan.orders.as_ref().ok_or("an orders run without an order plan")?;
            let link = format!("https://instagram.com/p/{}{conn}-{n}", order.tag);
            let body = json!({ "service_id": order.service_id, "link": link, "quantity": ORDER_QUANTITY });
            let req = request(Method::POST, "/api/orders", &[("authorization", bearer(conn)?)], Some(&body))?;
            Next { req, kind: Kind::Plain, link: Some(link) }
        }
    })
}

/// One connection: sequential requests until the deadline; reconnects after a transport error.
async fn drive(plan: Arc<Plan>, conn: usize) -> Measured {
    let mut seen = Measured::default();
    let user = conn % plan.bearers.len().max(1);
    let mut sender: Option<Sender> = None;
    let mut n: u64 = 0;
    while Instant::now() < plan.deadline {
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match tokio::time::timeout(REQUEST_TIMEOUT, connect(plan.addr)).await {
                Ok(Ok(s)) => sender.insert(s),
                Ok(Err(e)) => {
                    seen.error(format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(_) => {
                    seen.error("connect: timeout".to_owned());
                    continue;
                }
            },
        };
        if let Some(budget) = &plan.budget {
            if budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1)).is_err()
            {
                break;
            }
        }
        let Next { req, kind, link } = match next_request(&plan, conn, n) {
            Ok(r) => r,
            Err(e) => {
                seen.error(format!("request: {e}"));
                break;
            }
        };
        n += 1;
        let started = Instant::now();
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, send(s, req)).await;
        let done = Instant::now();
        match outcome {
            Ok(Ok(reply)) if reply.status.is_success() => {
                if plan.scenario == Scenario::Deduct && !reply.replayed {
                    *seen.deducted.entry(user).or_default() += 1;
                }
                if let Some(link) = link {
                    match reply.json().get("order_id").and_then(Value::as_i64) {
                        Some(id) => seen.placed.push((id, link)),
                        None => seen.error(format!("HTTP {} without an order_id", reply.status.as_u16())),
                    }
                }
                if started >= plan.measure_from {
                    let us = u32::try_from((done - started).as_micros()).unwrap_or(u32::MAX);
                    seen.latencies[kind as usize].push(us);
                    seen.last_done = Some(done);
                }
            }
            Ok(Ok(reply)) => seen.error(reply.describe()),
            Ok(Err(e)) => {
                if plan.scenario == Scenario::Deduct {
                    *seen.in_doubt.entry(user).or_default() += 1;
                }
                seen.placed_in_doubt.extend(link);
                seen.error(format!("transport: {e}"));
                sender = None;
            }
            Err(_) => {
                if plan.scenario == Scenario::Deduct {
                    *seen.in_doubt.entry(user).or_default() += 1;
                }
                seen.placed_in_doubt.extend(link);
                seen.error(format!("timeout after {} s", REQUEST_TIMEOUT.as_secs()));
                sender = None;
            }
        }
    }
    seen
}

// ---------------------------------------------------------------------------------------------
// Verification

struct Verdict {
    ok: bool,
    text: String,
}

/// Every user's balance must be [`INITIAL_POINTS`] minus the deducts that succeeded for them
/// (a deduct in doubt may or may not have moved a point).
async fn verify_balances(
    backend: Backend,
    addr: SocketAddr,
    bearers: &[HeaderValue],
    deduct: &Measured,
) -> Result<Verdict, BoxError> {
    let mut sender = connect(addr).await?;
    let mut mismatches = Vec::new();
    let mut total = 0u64;
    for (i, bearer) in bearers.iter().enumerate() {
        let req = request(Method::GET, "/api/points", &[("authorization", bearer.clone())], None)?;
        let answer = call(&mut sender, req, &format!("balance of {}", user_id(i))).await?;
        let points = answer.get("points").and_then(Value::as_i64);
        let done = deduct.deducted.get(&i).copied().unwrap_or(0);
        let doubt = deduct.in_doubt.get(&i).copied().unwrap_or(0);
        total += done;
        let expected_max = INITIAL_POINTS - i64::try_from(done)?;
        let expected_min = expected_max - i64::try_from(doubt)?;
        match points {
            Some(p) if (expected_min..=expected_max).contains(&p) => {}
            Some(p) if doubt == 0 => {
                mismatches.push(format!("{}: balance {p}, expected {expected_max}", user_id(i)))
            }
            Some(p) => mismatches
                .push(format!("{}: balance {p}, expected {expected_min}..={expected_max}", user_id(i))),
            None => mismatches.push(format!("{}: no points in {answer}", user_id(i))),
        }
    }
    let doubt: u64 = deduct.in_doubt.values().sum();
    let doubt_note = if doubt > 0 { format!(", {doubt} with unknown outcome") } else { String::new() };
    Ok(if mismatches.is_empty() {
        Verdict {
            ok: true,
            text: format!(
                "balance check {}: OK ({} users, {total} successful deducts{doubt_note})",
                backend.name(),
                bearers.len()
            ),
        }
    } else {
        Verdict {
            ok: false,
            text: format!(
                "balance check {}: MISMATCH ({total} successful deducts{doubt_note})\n  {}",
                backend.name(),
                mismatches.join("\n  ")
            ),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Orders

/// The results of the orders scenarios of one backend.
struct OrdersRan {
    measured: Measured,
    /// The submission check, then the status sync.
    verdicts: Vec<Verdict>,
}

/// Starts a fake SMM panel and a second snspmt server on the same store that submits to it,
/// runs `POST /api/orders`, checks the submissions and times a status sync.
fn run_orders(
    backend: Backend,
    args: &Args,
    server_rt: &Runtime,
    load_rt: &Runtime,
    store: Arc<dyn Store>,
    database_url: &str,
    bearers: Arc<Vec<HeaderValue>>,
) -> Result<OrdersRan, BoxError> {
    let fake = server_rt.block_on(FakeSmm::start());
    let panel = [("SMMKINGS_API_URL", fake.url.clone()), ("SMMKINGS_API_KEY", FAKE_KEY.to_owned())];
    let config = bench_config(database_url, &panel)?;
    let app = Arc::new(App::new(store, config).with_mailer(Arc::new(NoMail)));
    // The binary's in-process workers: orders the panel's limiter could not take at once are sent
    // by the submission worker (every 2 s). The status sync worker waits an hour: the bench
    // measures its own sync.
    {
        let _runtime = server_rt.enter();
        snspmt_http::jobs::spawn_workers(app.clone(), Duration::from_secs(3600));
    }
    let server = start_snspmt(server_rt, app)?;
    let result = (|| -> Result<OrdersRan, BoxError> {
        let service_id = load_rt.block_on(create_service(server.addr))?;
        let plan = OrderPlan { service_id, tag: String::new() };
        let measured =
            run_scenario(load_rt, args, server.addr, Scenario::Orders, bearers.clone(), Some(plan))?;
        let ended = Instant::now();
        eprintln!("{}: waiting for the submissions to reach the fake panel", backend.name());
        let check = load_rt.block_on(check_submissions(backend, &fake, &measured, ended, SUBMIT_WAIT));
        let placed = measured.placed.clone();
        let sync = StatusSync { backend, addr: server.addr, bearers, fake: &fake, service_id };
        let sync = load_rt.block_on(sync.run(args.connections, placed))?;
        Ok(OrdersRan { measured, verdicts: vec![check, sync] })
    })();
    stop_server(server_rt, server)?;
    drop(fake);
    result
}

fn admin_header() -> (&'static str, HeaderValue) {
    ("x-admin-token", HeaderValue::from_static(ADMIN_TOKEN))
}

/// Creates the one service the bench orders: the fake's service 1 ("Default"), 1 point per
/// 1000 units (so an order costs 1 point).
async fn create_service(addr: SocketAddr) -> Result<i64, BoxError> {
    let mut sender = connect(addr).await?;
    let body = json!({
        "provider_service_id": "1",
        "name": "Bench followers",
        "price_per_1000": 1,
        "min_quantity": ORDER_QUANTITY,
        "max_quantity": 100_000,
    });
    let req = request(Method::POST, "/api/admin/services", &[admin_header()], Some(&body))?;
    let created = call(&mut sender, req, "create the bench service").await?;
    let id = created.pointer("/service/service_id").and_then(Value::as_i64);
    id.ok_or_else(|| format!("create the bench service: no service_id in {created}").into())
}

/// How many `add` requests the fake received per link.
fn links_received(fake: &FakeSmm) -> HashMap<String, usize> {
    let mut links: HashMap<String, usize> = HashMap::new();
    for r in fake.requests_for("add") {
        *links.entry(r.get("link").unwrap_or_default().to_owned()).or_default() += 1;
    }
    links
}

/// Up to `n` items, for a report.
fn examples<T: std::fmt::Display>(items: impl IntoIterator<Item = T>, n: usize) -> String {
    items.into_iter().take(n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// Waits (at most `wait` after `ended`) until the fake panel has an `add` for every order
/// answered 2xx, then compares the links it received with those orders. Only a link sent
/// twice fails the check.
async fn check_submissions(
    backend: Backend,
    fake: &FakeSmm,
    measured: &Measured,
    ended: Instant,
    wait: Duration,
) -> Verdict {
    let accepted: HashSet<&str> = measured.placed.iter().map(|(_, l)| l.as_str()).collect();
    let deadline = ended + wait;
    let received = loop {
        let late = Instant::now() >= deadline;
        // Counting orders is cheap; the links are compared only once the count is there.
        if fake.order_count() >= accepted.len() || late {
            let received = links_received(fake);
            if late || accepted.iter().all(|l| received.contains_key(*l)) {
                break received;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let waited = ended.elapsed().as_secs_f64();
    let missing: Vec<&str> = accepted.iter().copied().filter(|l| !received.contains_key(*l)).collect();
    let mut duplicates: Vec<(&str, usize)> =
        received.iter().filter(|(_, n)| **n > 1).map(|(l, n)| (l.as_str(), *n)).collect();
    duplicates.sort_unstable();
    let extra_adds: usize = duplicates.iter().map(|(_, n)| n - 1).sum();
    let in_doubt: HashSet<&str> = measured.placed_in_doubt.iter().map(String::as_str).collect();
    let doubt_arrived = in_doubt.iter().filter(|l| received.contains_key(**l)).count();
    let unexpected =
        received.keys().filter(|l| !accepted.contains(l.as_str()) && !in_doubt.contains(l.as_str())).count();

    let mut text = format!(
        "orders {}: {} accepted, {} submitted upstream, {extra_adds} duplicates",
        backend.name(),
        accepted.len(),
        accepted.len() - missing.len()
    );
    if missing.is_empty() {
        text.push_str(&format!(" (all at the fake {waited:.2} s after the load ended)"));
    } else {
        text.push_str(&format!(
            "; MISSING after {:.0} s: {} (e.g. {})",
            wait.as_secs_f64(),
            missing.len(),
            examples(&missing, 3)
        ));
    }
    if !in_doubt.is_empty() {
        text.push_str(&format!(
            "; {} with unknown outcome, {doubt_arrived} of them at the fake",
            in_doubt.len()
        ));
    }
    if unexpected > 0 {
        text.push_str(&format!("; {unexpected} links the bench never sent an order for"));
    }
    if !duplicates.is_empty() {
        let shown = duplicates.iter().map(|(l, n)| format!("{l} x{n}"));
        text.push_str(&format!("; DUPLICATE SUBMISSIONS: {}", examples(shown, 5)));
    }
    Verdict { ok: duplicates.is_empty(), text }
}

/// The status sync scenario of one backend.
struct StatusSync<'a> {
    backend: Backend,
    addr: SocketAddr,
    bearers: Arc<Vec<HeaderValue>>,
    fake: &'a FakeSmm,
    service_id: i64,
}

impl StatusSync<'_> {
    /// Tops the orders in progress up to [`SYNC_ORDERS`], ends a fifth of those the sync will
    /// take at the fake, and times `POST /api/cron/sync-order-status`. `known` are the orders
    /// placed so far (order id, link).
    async fn run(&self, connections: usize, mut known: Vec<(i64, String)>) -> Result<Verdict, BoxError> {
        let name = self.backend.name();
        let mut in_progress = self.wait_in_progress().await?;
        let mut notes = Vec::new();
        for round in 1..=3 {
            if in_progress >= SYNC_ORDERS {
                break;
            }
            let need = SYNC_ORDERS - in_progress;
            eprintln!("{name}: placing {need} more orders for the status sync");
            let started = Instant::now();
            let plan = Plan {
                scenario: Scenario::Orders,
                addr: self.addr,
                bearers: self.bearers.clone(),
                measure_from: started,
                deadline: started + SUBMIT_WAIT,
                orders: Some(OrderPlan { service_id: self.service_id, tag: format!("fill{round}-") }),
                budget: Some(AtomicUsize::new(need)),
            };
            let before = self.fake.order_count();
            let fill = run_plan(plan, connections).await?;
            eprintln!(
                "{name}: {} orders placed in {:.1} s, {} errors",
                fill.placed.len(),
                started.elapsed().as_secs_f64(),
                fill.error_count()
            );
            if fill.error_count() > 0 {
                let shown = fill.errors.iter().map(|(what, n)| format!("{what} x{n}"));
                notes.push(format!("topping up: {}", examples(shown, 3)));
            }
            let want = before + fill.placed.len();
            if !self.fake.wait_for_orders(want, SUBMIT_WAIT).await {
                notes.push(format!("only {} of {want} orders reached the fake", self.fake.order_count()));
            }
            known.extend(fill.placed);
            in_progress = self.wait_in_progress().await?;
        }

        // The sync takes the orders never checked, lowest order id first. When every order in
        // progress is one of `known`, those are the first `target` of them, and exactly the
        // ones ended here settle.
        known.sort_unstable();
        let target = in_progress.min(SYNC_ORDERS);
        let exact = in_progress == known.len();
        let fake_ids: HashMap<String, i64> = self.fake.orders().into_iter().map(|o| (o.link, o.id)).collect();
        let (mut completed, mut partial) = (0i64, 0i64);
        for (rank, (_, link)) in known.iter().take(target).enumerate() {
            let Some(&id) = fake_ids.get(link) else { continue };
            match rank % 10 {
                0 => {
                    self.fake.set_status(id, "Completed", 0);
                    completed += 1;
                }
                5 => {
                    self.fake.set_status(id, "Partial", ORDER_QUANTITY / 2 - 1);
                    partial += 1;
                }
                _ => {}
            }
        }

        eprintln!("{name}: syncing the status of {target} orders");
        let status_before = self.fake.requests_for("status").len();
        let mut sender = connect(self.addr).await?;
        let (mut processed, mut settled, mut calls, mut failed, mut rounds) = (0i64, 0i64, 0i64, 0i64, 0);
        let started = Instant::now();
        loop {
            rounds += 1;
            let req = request(Method::POST, "/api/cron/sync-order-status", &[admin_header()], None)?;
            let Ok(answer) = tokio::time::timeout(SYNC_TIMEOUT, call(&mut sender, req, "status sync")).await
            else {
                let text = format!(
                    "status sync {name}: no answer within {} s ({target} orders in progress)",
                    SYNC_TIMEOUT.as_secs()
                );
                return Ok(Verdict { ok: true, text });
            };
            let answer = answer?;
            let field = |k: &str| answer.get(k).and_then(Value::as_i64).unwrap_or(0);
            processed += field("processed");
            settled += field("settled");
            calls += field("calls");
            failed += field("failed_calls");
            // One round takes up to 10,000 orders; another is needed only if it took fewer.
            if field("processed") == 0 || processed >= target as i64 || rounds >= 5 {
                break;
            }
        }
        let elapsed = started.elapsed();
        let status_calls = self.fake.requests_for("status").len() - status_before;

        let expected_calls = (processed + STATUS_BATCH as i64 - 1) / STATUS_BATCH as i64;
        let ms = elapsed.as_secs_f64() * 1000.0;
        let rate = processed as f64 / elapsed.as_secs_f64().max(1e-9);
        let mut text = format!(
            "status sync {name}: {processed} orders in {ms:.0} ms ({rate:.0} orders/s), {calls} upstream calls \
             (≤ {expected_calls} expected), {settled} settled"
        );
        let expected_settled = completed + partial;
        let settled_ok = !exact || failed > 0 || settled == expected_settled;
        if exact {
            text.push_str(&format!(
                " ({expected_settled} expected: {completed} Completed, {partial} Partial at the fake)"
            ));
        } else {
            text.push_str(&format!(
                " ({completed} Completed, {partial} Partial at the fake; {in_progress} orders were in progress \
                 and the bench knows {} of them, so the expected count is unknown)",
                known.len()
            ));
        }
        if rounds > 1 {
            notes.push(format!("{rounds} cron calls"));
        }
        if status_calls as i64 != calls {
            notes.push(format!("the fake saw {status_calls} status requests"));
        }
        if failed > 0 {
            notes.push(format!("{failed} upstream calls failed"));
        }
        if in_progress < SYNC_ORDERS {
            notes.push(format!("only {in_progress} orders were in progress"));
        }
        let calls_ok = calls <= expected_calls && status_calls as i64 <= expected_calls;
        if !calls_ok {
            notes.push("MORE UPSTREAM CALLS THAN BATCHES".to_owned());
        }
        if !settled_ok {
            notes.push(format!("SETTLED {settled}, EXPECTED {expected_settled}"));
        }
        if !notes.is_empty() {
            text.push_str(&format!("; {}", notes.join("; ")));
        }
        Ok(Verdict { ok: calls_ok && settled_ok, text })
    }

    /// Waits (at most [`SUBMIT_WAIT`]) until the server has as many orders in progress as the
    /// fake panel has orders, and answers how many it has.
    async fn wait_in_progress(&self) -> Result<usize, BoxError> {
        let deadline = Instant::now() + SUBMIT_WAIT;
        let mut sender = connect(self.addr).await?;
        loop {
            let want = self.fake.order_count();
            let req = request(
                Method::GET,
                "/api/admin/orders?status=in_progress&limit=1",
                &[admin_header()],
                None,
            )?;
            let page = call(&mut sender, req, "count the orders in progress").await?;
            let total =
                page.get("total").and_then(Value::as_u64).ok_or_else(|| format!("no total in {page}"))?;
            let total = usize::try_from(total)?;
            if total >= want || Instant::now() >= deadline {
                return Ok(total);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Report

#[allow(clippy::large_enum_variant)] // a handful of lines, printed once
enum Line {
    /// `rss_kb`: the process's peak resident set while this backend's scenarios ran.
    Rows {
        backend: &'static str,
        scenario: Scenario,
        measured: Measured,
        rss_kb: Option<u64>,
    },
    Skipped {
        backend: &'static str,
        reason: String,
    },
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

fn print_table(lines: &[Line], hello_rps: f64, pgbench_tps: Option<f64>) {
    let ratio = |rps: f64| if hello_rps > 0.0 { format!("{:.2}", rps / hello_rps) } else { "-".to_owned() };
    println!();
    println!(
        "{:<42} {:<9} {:>10} {:>9} {:>9} {:>7} {:>9} {:>11} {:>9}",
        "scenario", "backend", "req/s", "p50 ms", "p99 ms", "errors", "vs hello", "vs pgbench", "peak MiB"
    );
    println!("{}", "-".repeat(42 + 9 + 10 + 9 + 9 + 7 + 9 + 11 + 9 + 8));
    #[allow(clippy::too_many_arguments)]
    fn row(
        label: &str,
        backend: &str,
        rps: f64,
        p: [Option<f64>; 2],
        errors: String,
        vs: String,
        vs_pg: String,
        rss: String,
    ) {
        let line = format!(
            "{label:<42} {backend:<9} {rps:>10.0} {:>9} {:>9} {errors:>7} {vs:>9} {vs_pg:>11} {rss:>9}",
            ms(p[0]),
            ms(p[1])
        );
        println!("{}", line.trim_end());
    }
    for line in lines {
        match line {
            Line::Skipped { backend, reason } => println!("{backend}: skipped ({reason})"),
            Line::Rows { backend, scenario, measured: m, rss_kb } => {
                let all = m.rps_all();
                let vs_pg = match (*backend, pgbench_tps) {
                    ("postgres", Some(tps)) if tps > 0.0 => format!("{:.2}", all / tps),
                    _ => String::new(),
                };
                let rss = rss_kb.map(|kb| format!("{:.1}", kb as f64 / 1024.0)).unwrap_or_default();
                row(
                    scenario.label(),
                    backend,
                    all,
                    m.percentiles(None, [0.50, 0.99]),
                    m.error_count().to_string(),
                    ratio(all),
                    vs_pg,
                    rss,
                );
                if *scenario == Scenario::Deduct {
                    for (label, kind) in
                        [("  without Idempotency-Key", Kind::Plain), ("  with Idempotency-Key", Kind::Keyed)]
                    {
                        let p = m.percentiles(Some(kind), [0.50, 0.99]);
                        row(
                            label,
                            backend,
                            m.rps(kind),
                            p,
                            String::new(),
                            String::new(),
                            String::new(),
                            String::new(),
                        );
                    }
                }
            }
        }
    }
    for line in lines {
        if let Line::Rows { backend, scenario, measured, .. } = line {
            for (what, n) in &measured.errors {
                println!("errors {backend} {}: {what} x{n}", scenario.label());
            }
        }
    }
    println!();
}

/// The process's peak resident set size in kB (`VmHWM`), on Linux.
/// Resets the peak resident set (`VmHWM`) to the current size (Linux: `5` to `clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        Args::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        let a = parse(&[]).ok().flatten().map(|a| (a.seconds, a.connections, a.users, a.backends.len()));
        assert_eq!(a, Some((5, 32, 16, 2)));
        let a = parse(&["--seconds", "3", "--connections=8", "--backends", "postgres"]).ok().flatten();
        let a = a.map(|a| (a.seconds, a.connections, a.backends));
        assert_eq!(a, Some((3, 8, vec![Backend::Postgres])));
        assert!(matches!(parse(&["--help"]), Ok(None)));
        assert!(parse(&["--seconds", "0"]).is_err());
        assert!(parse(&["--backends", "mysql"]).is_err());
        assert!(parse(&["--seconds"]).is_err());
        assert_eq!(parse(&["--bogus"]).err(), Some("unknown option --bogus".to_owned()));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut m = Measured::default();
        m.latencies[0] = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(m.percentiles(Some(Kind::Plain), [0.50, 0.99]), [Some(50.0), Some(99.0)]);
        assert_eq!(m.percentiles(Some(Kind::Keyed), [0.50, 0.99]), [None, None]);
    }

    #[test]
    fn submissions_check_finds_duplicates_and_missing_orders() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let verdict = rt.block_on(async {
            let fake = FakeSmm::start().await;
            let url: hyper::Uri = fake.url.parse().unwrap();
            let mut sender = connect(fake.addr).await.unwrap();
            for link in ["https://x.com/a", "https://x.com/b", "https://x.com/a"] {
                let add =
                    json!({ "key": FAKE_KEY, "action": "add", "service": 1, "link": link, "quantity": 10 });
                let req = request(Method::POST, url.path(), &[], Some(&add)).unwrap();
                call(&mut sender, req, "add").await.unwrap();
            }
            let mut m = Measured::default();
            for (id, link) in [(1, "https://x.com/a"), (2, "https://x.com/b"), (3, "https://x.com/c")] {
                m.placed.push((id, link.to_owned()));
            }
            check_submissions(Backend::Sqlite, &fake, &m, Instant::now(), Duration::ZERO).await
        });
        assert!(!verdict.ok);
        assert!(verdict.text.starts_with("orders sqlite: 3 accepted, 2 submitted upstream, 1 duplicates"));
        assert!(verdict.text.contains("MISSING after 0 s: 1 (e.g. https://x.com/c)"));
        assert!(verdict.text.contains("DUPLICATE SUBMISSIONS: https://x.com/a x2"));
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://postgres@h/db"), "postgres://postgres@h/db");
    }
}
