//! `trickle`: 300 clients trickling request bodies while a health probe measures `/health`.
//!
//! ```sh
//! cargo run --release -p snspmt-benches --bin trickle -- [--clients N] [--probe-seconds S]
//! ```
//!
//! Per backend (SQLite, and PostgreSQL from `SNSPMT_TEST_POSTGRES_URL` when it answers) the real
//! server runs with its default edge settings (`SNSPMT_BODY_TIMEOUT_MS` 15 s). `N` clients (300)
//! each send a `POST /api/auth/login` head declaring a 100-byte body, then one byte every 10 s.
//! Meanwhile a probe opens a new connection every 100 ms for `S` seconds (12) and times
//! `GET /health`. Then the program waits for the body deadline and counts the clients that got
//! `408 body_timeout` and a closed connection. It exits non-zero when a probe failed or took
//! 100 ms or more, or when a client was not cut off.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use snspmt_http::{App, Config};
use snspmt_store::testing::{PgTestSchema, POSTGRES_URL_VAR};
use snspmt_store::{Maintenance, SqliteStore, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const PROBE_LIMIT: Duration = Duration::from_millis(100);

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let clients = arg("--clients", 300) as usize;
    let probe_for = Duration::from_secs(arg("--probe-seconds", 12));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "snspmt trickle benchmark: {clients} clients trickling a body (1 byte / 10 s), /health probed \
         every 100 ms for {} s, {} CPUs; server and clients share this process\n",
        probe_for.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<10} {:>7} {:>8} {:>8} {:>8} {:>7} {:>10} {:>8}",
        "backend", "probes", "p50 ms", "p99 ms", "max ms", "failed", "cut (408)", "cut s"
    );
    let mut ok = true;
    for backend in ["sqlite", "postgres"] {
        match rt.block_on(run(backend, clients, probe_for)) {
            Ok(Some(line)) => ok &= line,
            Ok(None) => println!("{backend:<10} skipped (PostgreSQL did not answer)"),
            Err(e) => {
                println!("{backend:<10} error: {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run(backend: &str, clients: usize, probe_for: Duration) -> Result<Option<bool>, BoxError> {
    let mut schema = None;
    let store: Arc<dyn Store> = if backend == "sqlite" {
        let s = SqliteStore::open_temporary()?;
        s.migrate(0).await?;
        Arc::new(s)
    } else {
        let url = std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.is_empty());
        let url = url.unwrap_or_else(|| DEFAULT_PG_URL.to_owned());
        match tokio::time::timeout(Duration::from_secs(5), PgTestSchema::create(&url, 16)).await {
            Ok(Ok(s)) => {
                let store = Arc::new(s.store.clone());
                schema = Some(s);
                store
            }
            _ => return Ok(None),
        }
    };
    let vars = [("ADMIN_TOKEN", "bench-admin-token-0123456789"), ("SNSPMT_LOG", "warn")];
    let config = Config::from_lookup(
        |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()),
        || unreachable!("token set"),
    )?;
    let body_timeout = Duration::from_millis(config.edge.body_timeout_ms);
    let app = Arc::new(App::new(store, config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(snspmt_http::serve(listener, app, async move {
        let _ = stopped.await;
    }));

    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{"
    );
    let started = Instant::now();
    let mut tricklers = Vec::new();
    for _ in 0..clients {
        let stream = TcpStream::connect(addr).await?;
        let head = head.clone();
        tricklers.push(tokio::spawn(async move {
            let (mut rd, mut wr) = stream.into_split();
            if wr.write_all(head.as_bytes()).await.is_err() {
                return (false, Duration::ZERO);
            }
            let trickle = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    if wr.write_all(b" ").await.is_err() {
                        break;
                    }
                }
            });
            let mut out = Vec::new();
            let mut buf = [0u8; 1024];
            let read = tokio::time::timeout(Duration::from_secs(60), async {
                while let Ok(n @ 1..) = rd.read(&mut buf).await {
                    out.extend_from_slice(&buf[..n]);
                }
            })
            .await;
            trickle.abort();
            let text = String::from_utf8_lossy(&out);
            (
                read.is_ok() && text.starts_with("HTTP/1.1 408") && text.contains("body_timeout"),
                started.elapsed(),
            )
        }));
    }

    let mut times = Vec::new();
    let mut failed = 0;
    let probe_end = Instant::now() + probe_for;
    while Instant::now() < probe_end {
        let t = Instant::now();
        let answered = tokio::time::timeout(Duration::from_secs(2), async {
            let mut s = TcpStream::connect(addr).await.ok()?;
            s.write_all(b"GET /health HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n").await.ok()?;
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.ok()?;
            Some(out.starts_with(b"HTTP/1.1 200"))
        })
        .await;
        let took = t.elapsed();
        if answered == Ok(Some(true)) {
            times.push(took);
        } else {
            failed += 1;
        }
        tokio::time::sleep(Duration::from_millis(100).saturating_sub(took)).await;
    }
    let mut cut = 0;
    let mut last_cut = Duration::ZERO;
    for t in tricklers {
        let (was_cut, at) = t.await?;
        if was_cut {
            cut += 1;
            last_cut = last_cut.max(at);
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    drop(schema);

    times.sort();
    let pct = |p: f64| -> f64 {
        if times.is_empty() {
            return f64::NAN;
        }
        let i = ((times.len() as f64 - 1.0) * p).round() as usize;
        times[i].as_secs_f64() * 1000.0
    };
    let max = times.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!(
        "{backend:<10} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>6}/{:<3} {:>8.1}",
        times.len() + failed,
        pct(0.5),
        pct(0.99),
        max,
        failed,
        cut,
        clients,
        last_cut.as_secs_f64()
    );
    let slow = times.iter().filter(|d| **d >= PROBE_LIMIT).count();
    if slow > 0 {
        println!("  {slow} probes took {} ms or more", PROBE_LIMIT.as_millis());
    }
    println!("  body deadline {} s", body_timeout.as_secs());
    Ok(Some(failed == 0 && slow == 0 && cut == clients))
}
