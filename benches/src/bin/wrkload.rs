//! `wrkload`: the figures of issue 16, measured from outside with `wrk` against the real
//! `snspmt` binary (a child process per backend), beside a bare hyper server and pgbench.
//!
//! ```text
//! cargo build --release -p snspmt-http --bin snspmt
//! cargo run --release -p snspmt-benches --bin wrkload -- [--seconds 6] [--warmup 1] \
//!     [--connections 32] [--users 16] [--backends sqlite,postgres] [--parts 10000] [--sync-orders 10000] \
//!     [--flamegraph DIR]
//! ```
//!
//! Per backend, on a fresh database (an SQLite file in a temporary directory, or a PostgreSQL
//! schema dropped afterwards), `wrk -t2 -c32` drives `GET /api/points`, `POST /api/points/deduct`
//! and `POST /api/orders` (the server submits to a stub panel in the bench that accepts every
//! `add` at no cost), then the status sync of 10,000 orders is timed, and 10,000 due parts of
//! split orders placed while no panel was configured are submitted by
//! `POST /api/cron/process-split-deliveries` calls. Each figure is printed beside its target
//! with `met` or `missed`. The program exits 1 only when money or submissions are wrong (the
//! money check after the load), never on a time.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::json;
use snspmt_benches::ext::{
    self, call_ok, client, create_service, drain_cron, money_check, place_orders, run_wrk, setup_users,
    wait_for, wrk_script, Answered, BoxError, Db, Server, Stub, Verdict, WrkRun, ADMIN, ORDER_QUANTITY,
};
use snspmt_core::order::OrderStatus;

const USAGE: &str = "usage: wrkload [--seconds N] [--warmup N] [--connections C] [--users U] \
[--backends sqlite,postgres] [--parts N] [--sync-orders N] [--flamegraph DIR]

  --seconds N       measured seconds per wrk run (default 6)
  --warmup N        un-measured seconds of wrk before each (default 1; 0 for none)
  --connections C   wrk connections, and pgbench clients (default 32; wrk runs 2 threads)
  --users U         bench users the requests rotate over (default 16)
  --backends LIST   sqlite, postgres (default both)
  --parts N         due split-order parts submitted in the parts scenario (default 10000)
  --sync-orders N   orders in progress when the status sync is timed (default 10000)
  --flamegraph DIR  profile the server during each order run (perf record, dwarf call graphs)
                    and write DIR/orders-<pid>.svg (needs perf, and inferno: cargo install inferno)

The snspmt binary is looked up next to this program (or SNSPMT_BIN). PostgreSQL comes from
SNSPMT_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).";

/// Targets of issue 16.
const POINTS_VS_HELLO_SQLITE: f64 = 0.50;
const POINTS_VS_HELLO_PG: f64 = 0.35;
const DEDUCTS_SQLITE: f64 = 10_000.0;
const DEDUCTS_VS_PGBENCH: f64 = 0.60;
const ORDERS_SQLITE: f64 = 5_000.0;
const ORDERS_PG: f64 = 1_500.0;
const PARTS_PER_SECOND: f64 = 1_000.0;
const SYNC_SECONDS_PG: f64 = 3.0;
const PEAK_MIB: f64 = 50.0;
/// Orders per upstream status call.
const STATUS_BATCH: usize = 100;
/// How long the orders' submissions may take to reach the stub after the load.
const SUBMIT_WAIT: Duration = Duration::from_secs(180);

struct Args {
    seconds: u64,
    warmup: u64,
    connections: usize,
    users: usize,
    backends: Vec<String>,
    parts: usize,
    sync_orders: usize,
    /// Where to write a flame graph of each backend's order run (`perf` and inferno's tools).
    flamegraph: Option<PathBuf>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Option<Args>, String> {
        let mut a = Args {
            seconds: 6,
            warmup: 1,
            connections: 32,
            users: 16,
            backends: vec!["sqlite".into(), "postgres".into()],
            parts: 10_000,
            sync_orders: 10_000,
            flamegraph: None,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                return Ok(None);
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let num = || value.parse::<usize>().map_err(|_| format!("{flag}: not a number: {value}"));
            match flag.as_str() {
                "--seconds" => a.seconds = num()?.max(1) as u64,
                "--warmup" => a.warmup = num()? as u64,
                "--connections" => a.connections = num()?.max(2),
                "--users" => a.users = num()?.max(1),
                "--parts" => a.parts = num()?,
                "--sync-orders" => a.sync_orders = num()?,
                "--flamegraph" => a.flamegraph = Some(PathBuf::from(value)),
                "--backends" => {
                    a.backends = value.split(',').map(str::to_owned).collect();
                    if let Some(b) = a.backends.iter().find(|b| !matches!(b.as_str(), "sqlite" | "postgres"))
                    {
                        return Err(format!("unknown backend {b}"));
                    }
                }
                other => return Err(format!("unknown flag {other}")),
            }
        }
        Ok(Some(a))
    }
}

/// One row of the table.
struct Row {
    scenario: String,
    backend: &'static str,
    rate: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    errors: Option<u64>,
    peak_mib: Option<f64>,
    /// `vs hello` and `vs pgbench` are computed when printing, for the rows that have a rate.
    ratios: bool,
    target: String,
    met: Option<bool>,
}

impl Row {
    fn from_wrk(scenario: &str, backend: &'static str, run: &WrkRun, peak: Option<f64>) -> Row {
        Row {
            scenario: scenario.to_owned(),
            backend,
            rate: Some(run.ok_per_second()),
            p50_ms: Some(run.p50_ms),
            p99_ms: Some(run.p99_ms),
            errors: Some(run.errors()),
            peak_mib: peak,
            ratios: true,
            target: String::new(),
            met: None,
        }
    }
}

/// Everything the table needs.
struct Report {
    rows: Vec<Row>,
    lines: Vec<String>,
    verdicts: Vec<Verdict>,
    /// The bare hyper server's rate and pgbench's tps: the ratio columns' denominators.
    hello: f64,
    pg_tps: Option<f64>,
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match Args::parse(&raw) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("wrkload: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wrkload: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(report) => {
            let ok = report.verdicts.iter().all(|v| v.ok);
            print_report(report);
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("wrkload: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<Report, BoxError> {
    let binary = ext::server_binary()?;
    let dir = std::env::temp_dir().join(format!("snspmt-wrk-scripts-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut report =
        Report { rows: Vec::new(), lines: Vec::new(), verdicts: Vec::new(), hello: 0.0, pg_tps: None };
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    report.lines.push(format!(
        "snspmt wrkload: wrk -t2 -c{} -d{}s (+{} s warm-up) per scenario against {} (a child process), \
         {} users, {cpus} CPUs",
        args.connections,
        args.seconds,
        args.warmup,
        binary.display(),
        args.users
    ));

    eprintln!("wrkload: bare hyper …");
    let hello = ext::start_hello().await?;
    let hello_url = format!("http://127.0.0.1:{hello}/");
    if args.warmup > 0 {
        run_wrk(&hello_url, None, args.connections, args.warmup).await?;
    }
    let hello_run = run_wrk(&hello_url, None, args.connections, args.seconds).await?;
    report.rows.push(Row::from_wrk("GET / (bare hyper)", "hyper", &hello_run, None));

    let mut pgbench = None;
    if args.backends.iter().any(|b| b == "postgres") {
        eprintln!("wrkload: pgbench …");
        let (c, s) = (args.connections, args.seconds);
        pgbench = Some(tokio::task::spawn_blocking(move || ext::pgbench_tps(c, s)).await?);
    }
    let pg_tps = pgbench.as_ref().and_then(|r| r.as_ref().ok().copied());

    for backend in &args.backends {
        let backend: &'static str = if backend == "sqlite" { "sqlite" } else { "postgres" };
        if let Err(e) = run_backend(&args, &binary, &dir, backend, pg_tps, &mut report).await {
            report.lines.push(format!("{backend}: stopped early: {e}"));
            report.verdicts.push(Verdict { ok: false, text: format!("{backend}: the run failed: {e}") });
        }
        if let Err(e) = run_parts(&args, &binary, backend, &mut report).await {
            report.lines.push(format!("{backend} parts: stopped early: {e}"));
            report
                .verdicts
                .push(Verdict { ok: false, text: format!("{backend} parts: the run failed: {e}") });
        }
    }
    match &pgbench {
        Some(Ok(tps)) => report.lines.push(format!(
            "pgbench: TPC-B-like, {} clients, 2 threads, {} s, same PostgreSQL: {tps:.0} tps (the `vs pgbench` column)",
            args.connections, args.seconds
        )),
        Some(Err(e)) => report.lines.push(format!("pgbench: skipped ({e})")),
        None => {}
    }
    let _ = std::fs::remove_dir_all(&dir);
    // The ratio columns and the targets that depend on them.
    let hello_rps = hello_run.ok_per_second();
    for row in &mut report.rows {
        if row.scenario == "GET /api/points" {
            let ratio = row.rate.unwrap_or(0.0) / hello_rps.max(1e-9);
            let want = if row.backend == "sqlite" { POINTS_VS_HELLO_SQLITE } else { POINTS_VS_HELLO_PG };
            row.target = format!("≥ {want:.2} × hello");
            row.met = Some(ratio >= want);
        }
        if row.scenario == "POST /api/points/deduct" && row.backend == "postgres" {
            row.target = format!("≥ {DEDUCTS_VS_PGBENCH:.2} × pgbench");
            row.met = pg_tps.map(|tps| row.rate.unwrap_or(0.0) / tps >= DEDUCTS_VS_PGBENCH);
        }
    }
    report.hello = hello_rps;
    report.pg_tps = pg_tps;
    Ok(report)
}

/// Warm-up (its answers counted in `answered`), then the measured run with the server's peak
/// RSS reset before it. `script(tag)` writes the wrk script for a run.
async fn measure(
    args: &Args,
    server: &Server,
    path: &str,
    script: impl Fn(&str) -> Result<PathBuf, BoxError>,
    answered: &mut (u64, u64),
) -> Result<(WrkRun, Option<f64>), BoxError> {
    let url = server.url(path);
    if args.warmup > 0 {
        let warm = run_wrk(&url, Some(&script("w")?), args.connections, args.warmup).await?;
        answered.0 += warm.ok();
        answered.1 += warm.errors() + args.connections as u64;
    }
    server.reset_peak();
    let profile = match &args.flamegraph {
        Some(dir) if path == "/api/orders" => Some(Profile::start(dir, server.pid(), args.seconds)?),
        _ => None,
    };
    let run = run_wrk(&url, Some(&script("m")?), args.connections, args.seconds).await?;
    if let Some(profile) = profile {
        profile.finish().await;
    }
    answered.0 += run.ok();
    answered.1 += run.errors() + args.connections as u64;
    Ok((run, server.peak_mib()))
}

/// `perf record` of the server during a measured run, folded (`<dir>/orders-<pid>.folded`, one
/// stack per line) and drawn (`<dir>/orders-<pid>.svg`) by inferno's `inferno-collapse-perf` and
/// `inferno-flamegraph`.
struct Profile {
    record: tokio::process::Child,
    data: PathBuf,
    svg: PathBuf,
}

impl Profile {
    fn start(dir: &Path, pid: u32, seconds: u64) -> Result<Profile, BoxError> {
        std::fs::create_dir_all(dir)?;
        let data = dir.join(format!("orders-{pid}.perf.data"));
        let record = tokio::process::Command::new("perf")
            .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-o"])
            .arg(&data)
            .args(["-p", &pid.to_string(), "--", "sleep", &seconds.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("perf record: {e} (install perf)"))?;
        Ok(Profile { record, data, svg: dir.join(format!("orders-{pid}.svg")) })
    }

    /// Waits for `perf record` and writes the SVG; says on stderr what failed, never fails the run.
    async fn finish(mut self) {
        let folded = async {
            self.record.wait().await?;
            let folded = self.svg.with_extension("folded");
            let shell = format!(
                "perf script -i '{}' 2>/dev/null | inferno-collapse-perf > '{}' && inferno-flamegraph < '{1}' > '{}'",
                self.data.display(),
                folded.display(),
                self.svg.display()
            );
            let status = tokio::process::Command::new("sh").args(["-c", &shell]).status().await?;
            if !status.success() {
                return Err(format!("{shell}: {status} (cargo install inferno)").into());
            }
            Ok::<_, BoxError>(())
        };
        match folded.await {
            Ok(()) => eprintln!("wrkload: flame graph of the order run: {}", self.svg.display()),
            Err(e) => eprintln!("wrkload: no flame graph: {e}"),
        }
        let _ = std::fs::remove_file(&self.data);
    }
}

fn rss_verdict(row: &mut Row) {
    if let Some(peak) = row.peak_mib {
        if peak > PEAK_MIB {
            row.target = format!(
                "{}{}peak ≤ {PEAK_MIB:.0} MiB",
                row.target,
                if row.target.is_empty() { "" } else { "; " }
            );
            row.met = Some(false);
        } else if row.met.is_none() && row.target.is_empty() {
            row.target = format!("peak ≤ {PEAK_MIB:.0} MiB");
            row.met = Some(true);
        }
    }
}

async fn run_backend(
    args: &Args,
    binary: &Path,
    dir: &Path,
    backend: &'static str,
    pg_tps: Option<f64>,
    report: &mut Report,
) -> Result<(), BoxError> {
    eprintln!("wrkload: {backend}: setup …");
    let db = match Db::create(backend, "wrkload").await {
        Ok(db) => db,
        Err(e) => {
            report.lines.push(format!("{backend}: skipped ({e})"));
            return Ok(());
        }
    };
    let stub = Stub::start(None).await?;
    let mut env = stub.env();
    // The submission worker sends what the placing requests could not; the status sync is
    // parked (its first round runs at start, on no orders) so that the bench times its own.
    env.push(("SNSPMT_WORKERS", "1".into()));
    env.push(("SNSPMT_SYNC_INTERVAL_SECS", "86400".into()));
    let server = Server::start(binary, &db, &env).await?;
    let http = client();
    let tokens = setup_users(&http, &server, "bench", args.users).await?;
    let service_id = create_service(&http, &server).await?;
    let mut answered = Answered::default();

    eprintln!("wrkload: {backend}: GET /api/points …");
    let mut ignored = (0, 0);
    let points = |tag: &str| {
        wrk_script(
            dir,
            &format!("{backend}-points-{tag}"),
            &tokens,
            &format!("{backend}-p{tag}"),
            r#"  return wrk.format("GET", "/api/points", {["Authorization"] = auth}, nil)"#,
        )
    };
    let (run, peak) = measure(args, &server, "/api/points", points, &mut ignored).await?;
    let mut row = Row::from_wrk("GET /api/points", backend, &run, peak);
    rss_verdict(&mut row);
    report.rows.push(row);

    eprintln!("wrkload: {backend}: POST /api/points/deduct …");
    let mut deducts = (0, 0);
    let deduct = |tag: &str| {
        wrk_script(
            dir,
            &format!("{backend}-deduct-{tag}"),
            &tokens,
            &format!("{backend}-d{tag}-{}", std::process::id()),
            r#"  local h = {["Authorization"] = auth, ["Content-Type"] = "application/json"}
  if n % 2 == 0 then h["Idempotency-Key"] = RUN .. "-" .. tid .. "-" .. n end
  return wrk.format("POST", "/api/points/deduct", h, '{"amount":1}')"#,
        )
    };
    let (run, peak) = measure(args, &server, "/api/points/deduct", deduct, &mut deducts).await?;
    answered.deducts = deducts.0;
    answered.unknown += deducts.1;
    let mut row = Row::from_wrk("POST /api/points/deduct", backend, &run, peak);
    if backend == "sqlite" {
        row.target = format!("≥ {DEDUCTS_SQLITE:.0}/s");
        row.met = Some(run.ok_per_second() >= DEDUCTS_SQLITE);
    } else if pg_tps.is_none() {
        row.target = "× pgbench (no pgbench)".into();
    }
    rss_verdict(&mut row);
    report.rows.push(row);

    eprintln!("wrkload: {backend}: POST /api/orders …");
    let mut orders = (0, 0);
    let request = format!(
        r#"  local body = string.format('{{"service_id":{service_id},"link":"https://instagram.com/p/%s-%d-%d","quantity":{ORDER_QUANTITY}}}', RUN, tid, n)
  return wrk.format("POST", "/api/orders", {{["Authorization"] = auth, ["Content-Type"] = "application/json"}}, body)"#
    );
    let order_script = |tag: &str| {
        wrk_script(dir, &format!("{backend}-orders-{tag}"), &tokens, &format!("{backend}-o{tag}"), &request)
    };
    let (run, peak) = measure(args, &server, "/api/orders", order_script, &mut orders).await?;
    let load_ended = Instant::now();
    answered.orders = orders.0;
    answered.unknown += orders.1;
    let mut row = Row::from_wrk("POST /api/orders", backend, &run, peak);
    let want = if backend == "sqlite" { ORDERS_SQLITE } else { ORDERS_PG };
    row.target = format!("≥ {want:.0}/s");
    row.met = Some(run.ok_per_second() >= want);
    rss_verdict(&mut row);
    report.rows.push(row);

    // Every order reaches the stub (the worker sends those the placing request could not).
    let (all_sent, _) = submitted(&http, &server, &db).await?;
    report.lines.push(format!(
        "orders {backend}: {} placed, {}; the last at the stub {:.1} s after the load",
        ext::all_orders(db.store.as_ref()).await?.len(),
        if all_sent { "all submitted" } else { "NOT ALL SUBMITTED within 180 s" },
        load_ended.elapsed().as_secs_f64()
    ));

    // The status sync of `sync_orders` orders in progress.
    server.reset_peak();
    let sync = status_sync(args, &http, &server, &db, &stub, &tokens, service_id, &mut answered).await?;
    let mut row = Row {
        scenario: format!("status sync of {} orders", sync.processed),
        backend,
        rate: None,
        p50_ms: None,
        p99_ms: None,
        errors: Some(sync.failed),
        peak_mib: server.peak_mib(),
        ratios: false,
        target: String::new(),
        met: None,
    };
    let calls_ok = sync.calls <= sync.max_calls && sync.stub_calls <= sync.max_calls;
    let time_ok = backend != "postgres" || sync.seconds <= SYNC_SECONDS_PG;
    row.target = format!(
        "{:.2} s{}, {} calls ≤ {}",
        sync.seconds,
        if backend == "postgres" { format!(" ≤ {SYNC_SECONDS_PG:.0} s") } else { String::new() },
        sync.calls,
        sync.max_calls
    );
    row.met = Some(calls_ok && time_ok);
    rss_verdict(&mut row);
    report.rows.push(row);
    report.lines.push(sync.text);
    report.verdicts.push(Verdict { ok: calls_ok && sync.settled_ok, text: sync.verdict });

    report.lines.extend(server.stop_and_report(backend).await);
    report.verdicts.push(money_check(backend, &db, args.users, answered, Some(&stub)).await?);
    Ok(())
}

/// Waits until no order is pending (every one reached the stub), helping the worker with
/// `POST /api/cron/process-scheduled-orders`; answers whether it happened and how long it took.
async fn submitted(http: &ext::HttpClient, server: &Server, db: &Db) -> Result<(bool, Duration), BoxError> {
    wait_for(SUBMIT_WAIT, || async {
        drain_cron(http, server, "/api/cron/process-scheduled-orders").await?;
        Ok(ext::unsent(db.store.as_ref()).await? == 0)
    })
    .await
}

struct Synced {
    processed: usize,
    seconds: f64,
    calls: usize,
    stub_calls: usize,
    max_calls: usize,
    failed: u64,
    settled_ok: bool,
    text: String,
    verdict: String,
}

/// Tops the orders in progress up to `--sync-orders`, ends a fifth of the first of them at the
/// stub (every 10th `Completed`, every other 10th `Partial` with 4 of 10 left), and times
/// `POST /api/cron/sync-order-status` (the method of `load`'s status sync).
#[allow(clippy::too_many_arguments)]
async fn status_sync(
    args: &Args,
    http: &ext::HttpClient,
    server: &Server,
    db: &Db,
    stub: &Stub,
    tokens: &[String],
    service_id: i64,
    answered: &mut Answered,
) -> Result<Synced, BoxError> {
    let name = db.backend;
    let in_progress = |orders: &[snspmt_store::Order]| {
        orders.iter().filter(|o| o.status == OrderStatus::InProgress).count()
    };
    let have = in_progress(&ext::all_orders(db.store.as_ref()).await?);
    if have < args.sync_orders {
        let need = args.sync_orders - have;
        eprintln!("wrkload: {name}: placing {need} more orders for the status sync …");
        let (ok, errors) = place_orders(server, tokens, need, args.connections, move |i| {
            json!({"service_id": service_id, "link": format!("https://instagram.com/p/fill-{i}"), "quantity": ORDER_QUANTITY})
        })
        .await;
        answered.orders += ok as u64;
        answered.unknown += errors.values().sum::<usize>() as u64;
        submitted(http, server, db).await?;
    }
    let orders = ext::all_orders(db.store.as_ref()).await?;
    let targets: Vec<_> =
        orders.iter().filter(|o| o.status == OrderStatus::InProgress).take(args.sync_orders).collect();
    let (mut completed, mut partial) = (0, 0);
    for (rank, o) in targets.iter().enumerate() {
        let Some(id) = &o.smm_panel_order_id else { continue };
        match rank % 10 {
            0 => {
                stub.set_status(id, "Completed", 0);
                completed += 1;
            }
            5 => {
                stub.set_status(id, "Partial", ORDER_QUANTITY / 2 - 1);
                partial += 1;
            }
            _ => {}
        }
    }
    eprintln!("wrkload: {name}: status sync of {} orders …", targets.len());
    let stub_before = stub.status_calls.load(std::sync::atomic::Ordering::Relaxed);
    let (mut processed, mut settled, mut calls, mut failed) = (0i64, 0i64, 0i64, 0i64);
    let started = Instant::now();
    for _ in 0..5 {
        let answer = call_ok(
            http,
            &server.url("/api/cron/sync-order-status"),
            Method::POST,
            &[("x-admin-token", ADMIN)],
            None,
        )
        .await?;
        let field = |k: &str| answer[k].as_i64().unwrap_or(0);
        processed += field("processed");
        settled += field("settled");
        calls += field("calls");
        failed += field("failed_calls");
        if field("processed") == 0 || processed >= targets.len() as i64 {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let stub_calls = stub.status_calls.load(std::sync::atomic::Ordering::Relaxed) - stub_before;
    let max_calls = (processed as usize).div_ceil(STATUS_BATCH);
    let expected = completed + partial;
    let settled_ok = failed > 0 || settled == expected;
    let text = format!(
        "status sync {name}: {processed} orders in {:.0} ms ({:.0} orders/s), {calls} upstream calls \
         (the stub saw {stub_calls}; ≤ {max_calls} expected), {settled} settled ({expected} expected: \
         {completed} Completed, {partial} Partial at the stub), {failed} failed calls",
        seconds * 1000.0,
        processed as f64 / seconds.max(1e-9)
    );
    let calls_ok = calls as usize <= max_calls && stub_calls <= max_calls;
    let verdict = format!(
        "status sync {name}: {}{}",
        if calls_ok { "OK" } else { "MORE UPSTREAM CALLS THAN BATCHES" },
        if settled_ok { String::new() } else { format!("; SETTLED {settled}, EXPECTED {expected}") }
    );
    Ok(Synced {
        processed: processed as usize,
        seconds,
        calls: calls as usize,
        stub_calls,
        max_calls,
        failed: failed as u64,
        settled_ok,
        text,
        verdict,
    })
}

/// `--parts` split orders (2 days of 10) placed on a server with no panel configured, so that
/// each one's first part stays due; then a server with the stub panel and no worker, and
/// `POST /api/cron/process-split-deliveries` until nothing is left, timed.
async fn run_parts(
    args: &Args,
    binary: &Path,
    backend: &'static str,
    report: &mut Report,
) -> Result<(), BoxError> {
    if args.parts == 0 {
        return Ok(());
    }
    let db = match Db::create(backend, "wrkparts").await {
        Ok(db) => db,
        Err(e) => {
            report.lines.push(format!("{backend} parts: skipped ({e})"));
            return Ok(());
        }
    };
    eprintln!("wrkload: {backend}: placing {} split orders (no panel) …", args.parts);
    let http = client();
    let placing = Server::start(binary, &db, &[]).await?;
    let tokens = setup_users(&http, &placing, "parts", args.users).await?;
    let service_id = create_service(&http, &placing).await?;
    let (ok, errors) = place_orders(&placing, &tokens, args.parts, args.connections, move |i| {
        json!({"service_id": service_id, "link": format!("https://instagram.com/p/part-{i}"),
               "split_days": 2, "split_quantity": ORDER_QUANTITY})
    })
    .await;
    report.lines.extend(placing.stop_and_report(&format!("{backend} parts, placing")).await);
    let answered = Answered { deducts: 0, orders: ok as u64, unknown: errors.values().sum::<usize>() as u64 };
    if !errors.is_empty() {
        report.lines.push(format!("{backend} parts: placing: {errors:?}"));
    }

    let stub = Stub::start(None).await?;
    let server = Server::start(binary, &db, &stub.env()).await?;
    eprintln!("wrkload: {backend}: submitting the due parts …");
    server.reset_peak();
    let started = Instant::now();
    let mut processed = drain_cron(&http, &server, "/api/cron/process-split-deliveries").await?;
    // A call that processes nothing means no part is due; if parts are still missing at the
    // stub, that answer was wrong: say so, and call again (10 times at most, 100 ms apart).
    let mut early_zeros = 0;
    while stub.adds().len() < ok && early_zeros < 10 {
        early_zeros += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        processed += drain_cron(&http, &server, "/api/cron/process-split-deliveries").await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    if early_zeros > 0 {
        report.lines.push(format!(
            "parts {backend}: a cron call processed nothing while parts were still due, {early_zeros} times \
             (the time includes the calls after it, and the 100 ms pauses)"
        ));
    }
    let rate = processed as f64 / seconds.max(1e-9);
    let at_stub = stub.adds().len();
    let mut row = Row {
        scenario: format!("{processed} due parts submitted"),
        backend,
        rate: Some(rate),
        p50_ms: None,
        p99_ms: None,
        errors: Some(ok.abs_diff(at_stub) as u64),
        peak_mib: server.peak_mib(),
        ratios: false,
        target: format!("≥ {PARTS_PER_SECOND:.0}/s"),
        met: Some(rate >= PARTS_PER_SECOND),
    };
    rss_verdict(&mut row);
    report.rows.push(row);
    report.lines.push(format!(
        "parts {backend}: {ok} split orders placed, {processed} parts submitted in {:.0} ms by cron calls, \
         {at_stub} at the stub",
        seconds * 1000.0
    ));
    report.lines.extend(server.stop_and_report(&format!("{backend} parts")).await);
    let mut verdict =
        money_check(&format!("{backend} parts"), &db, args.users, answered, Some(&stub)).await?;
    if at_stub != ok {
        verdict.ok = false;
        verdict.text = format!(
            "parts {backend}: NOT SUBMITTED: {ok} split orders placed, {at_stub} first parts at the stub \
             (the others were never sent: claimed and left `submitting`, or never claimed); {}",
            verdict.text
        );
    }
    report.verdicts.push(verdict);
    Ok(())
}

fn print_report(report: Report) {
    let (hello, pg_tps) = (report.hello, report.pg_tps);
    for l in report.lines.iter().take(1) {
        println!("{l}\n");
    }
    println!(
        "{:<34} {:<9} {:>9} {:>8} {:>8} {:>7} {:>9} {:>11} {:>9}  {:<30} verdict",
        "scenario",
        "backend",
        "rate/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "vs hello",
        "vs pgbench",
        "peak MiB",
        "target",
    );
    println!("{}", "-".repeat(150));
    let opt = |v: Option<f64>, digits: usize| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"));
    for r in &report.rows {
        let vs_hello = r.ratios.then(|| r.rate.unwrap_or(0.0) / hello.max(1e-9));
        let vs_pg = match (r.ratios && r.backend == "postgres", pg_tps) {
            (true, Some(tps)) => Some(r.rate.unwrap_or(0.0) / tps),
            _ => None,
        };
        println!(
            "{:<34} {:<9} {:>9} {:>8} {:>8} {:>7} {:>9} {:>11} {:>9}  {:<30} {}",
            r.scenario,
            r.backend,
            opt(r.rate, 0),
            opt(r.p50_ms, 2),
            opt(r.p99_ms, 2),
            r.errors.map_or_else(|| "-".to_owned(), |e| e.to_string()),
            opt(vs_hello, 2),
            opt(vs_pg, 2),
            opt(r.peak_mib, 1),
            r.target,
            match r.met {
                Some(true) => "met",
                Some(false) => "missed",
                None => "",
            }
        );
    }
    println!();
    for l in report.lines.iter().skip(1) {
        println!("{l}");
    }
    println!();
    for v in &report.verdicts {
        println!("{}", v.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        Args::parse(&args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn arguments() {
        let a = parse(&[]).unwrap().unwrap();
        assert_eq!((a.seconds, a.warmup, a.connections, a.users, a.parts), (6, 1, 32, 16, 10_000));
        let a = parse(&["--seconds", "2", "--backends", "sqlite", "--parts", "0"]).unwrap().unwrap();
        assert_eq!((a.seconds, a.backends.as_slice(), a.parts), (2, &["sqlite".to_owned()][..], 0));
        assert!(parse(&["--backends", "mysql"]).is_err());
        assert!(parse(&["--seconds"]).is_err());
        assert!(parse(&["--help"]).unwrap().is_none());
    }
}
