//! `soak`: a long mixed load against the real `snspmt` binary, watching its memory (issue 16:
//! "peak RSS ≤ 50 MiB, and flat (±10 %) over a 10-minute mixed soak"). Not a test.
//!
//! ```text
//! cargo build --release -p snspmt-http --bin snspmt
//! cargo run --release -p snspmt-benches --bin soak -- [--minutes 10] [--backend sqlite|postgres] \
//!     [--connections 16] [--users 8] [--sample-seconds 5]
//! ```
//!
//! The server runs as a child process on a fresh database, with a stub panel that accepts every
//! `add` and reports every third order `Completed`, its submission worker on and its status
//! sync every 5 s. `C` keep-alive connections each send one request at a time, in a cycle of
//! ten: six `GET /api/points`, two `POST /api/points/deduct` (one with an `Idempotency-Key`),
//! two `POST /api/orders`. The server's resident set (`VmRSS`) is sampled every few seconds.
//! At the end the program prints the samples' min/max/first/last, and whether every sample
//! after the warm-up (a fifth of the run, at most a minute) stayed within ±10 % of the first one
//! after it (`flat` / `not flat`), then the money check of `wrkload`. It exits 1 only on a
//! money or submission mismatch.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::json;
use snspmt_benches::ext::{
    self, call, client, create_service, drain_cron, money_check, setup_users, wait_for, Answered, BoxError,
    Db, Server, Stub, ORDER_QUANTITY,
};

const USAGE: &str =
    "usage: soak [--minutes M] [--backend sqlite|postgres] [--connections C] [--users U] [--sample-seconds S]

  --minutes M         length of the mixed load, may be fractional (default 10)
  --backend B         sqlite or postgres (default sqlite)
  --connections C     concurrent keep-alive connections (default 16)
  --users U           bench users (default 8)
  --sample-seconds S  seconds between two samples of the server's RSS (default 5)";

/// The band around the level after warm-up that counts as flat.
const FLAT_BAND: f64 = 0.10;

struct Args {
    minutes: f64,
    backend: String,
    connections: usize,
    users: usize,
    sample: Duration,
}

fn parse(args: &[String]) -> Result<Option<Args>, String> {
    let mut a = Args {
        minutes: 10.0,
        backend: "sqlite".into(),
        connections: 16,
        users: 8,
        sample: Duration::from_secs(5),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = || {
            value.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0).ok_or(format!("{flag}: {value}"))
        };
        match flag.as_str() {
            "--minutes" => a.minutes = num()?,
            "--backend" if matches!(value.as_str(), "sqlite" | "postgres") => a.backend.clone_from(value),
            "--connections" => a.connections = num()? as usize,
            "--users" => a.users = (num()? as usize).max(1),
            "--sample-seconds" => a.sample = Duration::from_secs_f64(num()?),
            _ => return Err(format!("unknown flag or value: {flag} {value}")),
        }
    }
    a.connections = a.connections.max(1);
    Ok(Some(a))
}

/// What the load was answered, counted by every connection.
#[derive(Default)]
struct Counts {
    reads: AtomicU64,
    deducts: AtomicU64,
    orders: AtomicU64,
    /// Transport errors, timeouts and 5xx answers: their effect is unknown.
    unknown: AtomicU64,
    /// 4xx answers (nothing applied).
    refused: AtomicU64,
}

/// How the RSS samples went.
struct Memory {
    min: f64,
    max: f64,
    first: f64,
    last: f64,
    level: f64,
    flat: bool,
    worst: f64,
}

/// Samples after `warmup` must stay within ±[`FLAT_BAND`] of the first of them.
fn judge(samples: &[(Duration, f64)], warmup: Duration) -> Option<Memory> {
    let values: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let after: Vec<f64> = samples.iter().filter(|s| s.0 >= warmup).map(|s| s.1).collect();
    let level = *after.first()?;
    let worst = after.iter().map(|v| (v - level).abs() / level).fold(0.0, f64::max);
    Some(Memory {
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(0.0, f64::max),
        first: *values.first()?,
        last: *values.last()?,
        level,
        flat: worst <= FLAT_BAND,
        worst,
    })
}

/// The first sample, the first of every later minute, and the last.
fn by_minute(samples: &[(Duration, f64)]) -> Vec<(Duration, f64)> {
    let mut picked: Vec<(Duration, f64)> = Vec::new();
    for &(at, v) in samples {
        let minute = at.as_secs() / 60;
        if picked.last().is_none_or(|(last, _)| last.as_secs() / 60 < minute) {
            picked.push((at, v));
        }
    }
    if let (Some(&last), Some(picked_last)) = (samples.last(), picked.last()) {
        if last.0 != picked_last.0 {
            picked.push(last);
        }
    }
    picked
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&raw) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("soak: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(BoxError::from)
        .and_then(|rt| rt.block_on(soak(args)));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn soak(args: Args) -> Result<bool, BoxError> {
    let binary = ext::server_binary()?;
    let db = Db::create(&args.backend, "soak").await?;
    let stub = Stub::start(Some(3)).await?;
    let mut env = stub.env();
    env.push(("SNSPMT_WORKERS", "1".into()));
    env.push(("SNSPMT_SYNC_INTERVAL_SECS", "5".into()));
    let server = Arc::new(Server::start(&binary, &db, &env).await?);
    let http = client();
    let tokens = Arc::new(setup_users(&http, &server, "soak", args.users).await?);
    let service_id = create_service(&http, &server).await?;

    let length = Duration::from_secs_f64(args.minutes * 60.0);
    let warmup = (length / 5).min(Duration::from_secs(60));
    println!(
        "snspmt soak: {:.1} min on {}, {} connections, {} users; RSS sampled every {:.0} s, flat = within ±{:.0} % \
         of the first sample after {:.0} s of warm-up",
        args.minutes,
        args.backend,
        args.connections,
        args.users,
        args.sample.as_secs_f64(),
        FLAT_BAND * 100.0,
        warmup.as_secs_f64()
    );
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for conn in 0..args.connections {
        let (server, tokens, counts, stop) = (server.clone(), tokens.clone(), counts.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let bearer = format!("Bearer {}", tokens[(conn + n as usize) % tokens.len()]);
                let key = format!("soak-{conn}-{n}");
                let auth = [("authorization", bearer.as_str())];
                let keyed = [("authorization", bearer.as_str()), ("idempotency-key", key.as_str())];
                let (kind, answer) = match n % 10 {
                    0..=5 => (&counts.reads, call(&http, &server.url("/api/points"), Method::GET, &auth, None).await),
                    6 | 7 => {
                        let headers: &[(&str, &str)] = if n % 10 == 6 { &auth } else { &keyed };
                        let body = json!({"amount": 1});
                        (&counts.deducts, call(&http, &server.url("/api/points/deduct"), Method::POST, headers, Some(body)).await)
                    }
                    _ => {
                        let body = json!({"service_id": service_id, "link": format!("https://instagram.com/p/soak-{conn}-{n}"),
                                          "quantity": ORDER_QUANTITY});
                        (&counts.orders, call(&http, &server.url("/api/orders"), Method::POST, &auth, Some(body)).await)
                    }
                };
                match answer {
                    Ok((200..=299, _)) => kind.fetch_add(1, Ordering::Relaxed),
                    Ok((400..=499, _)) => counts.refused.fetch_add(1, Ordering::Relaxed),
                    _ => counts.unknown.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }

    let mut samples = Vec::new();
    let mut next_report = Duration::from_secs(60);
    while started.elapsed() < length {
        tokio::time::sleep(args.sample.min(length.saturating_sub(started.elapsed()))).await;
        let at = started.elapsed();
        let Some(rss) = server.rss_mib() else { return Err("the server is gone".into()) };
        samples.push((at, rss));
        if at >= next_report {
            eprintln!(
                "soak: {:.0} min: RSS {rss:.1} MiB, {} reads, {} deducts, {} orders",
                at.as_secs_f64() / 60.0,
                counts.reads.load(Ordering::Relaxed),
                counts.deducts.load(Ordering::Relaxed),
                counts.orders.load(Ordering::Relaxed)
            );
            next_report += Duration::from_secs(60);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let peak = server.peak_mib();

    // Every order reaches the stub before the check.
    let (all_sent, took) = wait_for(Duration::from_secs(180), || async {
        drain_cron(&http, &server, "/api/cron/process-scheduled-orders").await?;
        Ok(ext::unsent(db.store.as_ref()).await? == 0)
    })
    .await?;
    let server = Arc::try_unwrap(server).map_err(|_| "the server is still shared")?;
    let server_errors = server.stop_and_report("server").await;

    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let orders = ext::all_orders(db.store.as_ref()).await?;
    let mut statuses: HashMap<&str, usize> = HashMap::new();
    for o in &orders {
        *statuses.entry(o.status.as_str()).or_default() += 1;
    }
    let mut statuses: Vec<_> = statuses.into_iter().collect();
    statuses.sort();
    println!(
        "load: {} reads, {} deducts, {} orders answered 2xx; {} refused (4xx), {} unknown; orders by status {statuses:?}; \
         {}",
        load(&counts.reads),
        load(&counts.deducts),
        load(&counts.orders),
        load(&counts.refused),
        load(&counts.unknown),
        if all_sent { format!("all submitted {:.1} s after the load", took.as_secs_f64()) } else { "NOT ALL SUBMITTED".into() }
    );
    match judge(&samples, warmup) {
        Some(m) => println!(
            "RSS: {} samples, min {:.1} MiB, max {:.1} MiB, first {:.1} MiB, last {:.1} MiB, level after warm-up {:.1} MiB, \
             worst {:+.1} % → {}; peak (VmHWM) {}",
            samples.len(),
            m.min,
            m.max,
            m.first,
            m.last,
            m.level,
            m.worst * 100.0,
            if m.flat { "flat" } else { "not flat" },
            peak.map_or_else(|| "-".to_owned(), |p| format!("{p:.1} MiB"))
        ),
        None => println!("RSS: too few samples after the warm-up to judge ({})", samples.len()),
    }
    if let Some(line) = server_errors {
        println!("{line}");
    }
    let minutes: Vec<String> = by_minute(&samples)
        .iter()
        .map(|(at, v)| format!("{:.1} min {v:.1}", at.as_secs_f64() / 60.0))
        .collect();
    println!("RSS by minute (MiB): {}", minutes.join(", "));
    let answered = Answered {
        deducts: load(&counts.deducts),
        orders: load(&counts.orders),
        unknown: load(&counts.unknown),
    };
    let verdict = money_check(&args.backend, &db, args.users, answered, Some(&stub)).await?;
    println!("{}", verdict.text);
    Ok(verdict.ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_is_within_ten_percent_of_the_level_after_warm_up() {
        let s = |v: &[f64]| {
            v.iter().enumerate().map(|(i, v)| (Duration::from_secs(i as u64 * 10), *v)).collect::<Vec<_>>()
        };
        // The warm-up's growth does not count; 10 % either side does.
        let m = judge(&s(&[5.0, 20.0, 30.0, 33.0, 27.0]), Duration::from_secs(20)).unwrap();
        assert!(m.flat);
        assert_eq!((m.min, m.max, m.first, m.last, m.level), (5.0, 33.0, 5.0, 27.0, 30.0));
        let m = judge(&s(&[5.0, 20.0, 30.0, 33.5]), Duration::from_secs(20)).unwrap();
        assert!(!m.flat);
        assert!(judge(&s(&[5.0]), Duration::from_secs(20)).is_none());
    }

    #[test]
    fn one_sample_a_minute() {
        let at = |s: u64, v: f64| (Duration::from_secs(s), v);
        let samples = [at(5, 1.0), at(30, 2.0), at(62, 3.0), at(65, 4.0), at(125, 5.0), at(130, 6.0)];
        assert_eq!(by_minute(&samples), vec![at(5, 1.0), at(62, 3.0), at(125, 5.0), at(130, 6.0)]);
        assert_eq!(by_minute(&samples[..1]), vec![at(5, 1.0)]);
        assert!(by_minute(&[]).is_empty());
    }

    #[test]
    fn arguments() {
        let p = |a: &[&str]| parse(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        let a = p(&[]).unwrap().unwrap();
        assert_eq!((a.minutes, a.backend.as_str(), a.connections), (10.0, "sqlite", 16));
        let a = p(&["--minutes", "0.5", "--backend", "postgres"]).unwrap().unwrap();
        assert_eq!((a.minutes, a.backend.as_str()), (0.5, "postgres"));
        assert!(p(&["--backend", "mysql"]).is_err());
        assert!(p(&["--minutes", "-1"]).is_err());
    }
}
