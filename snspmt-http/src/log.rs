//! Log lines: one per request (with its request id), life-cycle events, warnings and errors.
//! Plain text on standard error, or with `SNSPMT_LOG_FORMAT=json` one JSON object a line on
//! standard output (the generated admin token, printed once on standard error, is never there).
//! Never given a secret: callers pass paths without query strings and no header values.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

static JSON: AtomicBool = AtomicBool::new(false);
/// `SNSPMT_LOG=error`: only errors (and requests answered 500) are written.
static ERRORS_ONLY: AtomicBool = AtomicBool::new(false);

/// With `on`, every later line below ERROR is dropped (`SNSPMT_LOG=error`; what the test
/// servers use, so that `cargo test` stays quiet).
pub fn errors_only(on: bool) {
    ERRORS_ONLY.store(on, Ordering::Relaxed);
}

fn dropped(level: &str) -> bool {
    level != "ERROR" && ERRORS_ONLY.load(Ordering::Relaxed)
}

/// Switches every later line to JSON.
pub fn use_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

fn now() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default()
}

/// A line: JSON lines on standard output (the stream a collector reads), text on standard
/// error.
fn write(line: &str) {
    if JSON.load(Ordering::Relaxed) {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    } else {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

fn line(level: &str, msg: &str) {
    if dropped(level) {
        return;
    }
    if JSON.load(Ordering::Relaxed) {
        write(&json!({"ts": now(), "level": level, "msg": msg}).to_string());
    } else {
        write(&format!("{} {level} {msg}", now()));
    }
}

pub fn info(msg: &str) {
    line("INFO", msg);
}

pub fn warn(msg: &str) {
    line("WARN", msg);
}

pub fn error(msg: &str) {
    line("ERROR", msg);
}

tokio::task_local! {
    /// The id of the request being served, for the life-cycle lines it causes.
    static REQUEST_ID: String;
}

/// Runs `fut` with `request_id` as the request of every [`event`] it logs.
pub async fn with_request_id<F: std::future::Future>(request_id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(request_id, fut).await
}

/// The id of the request being served, if any: background work that a request starts takes
/// it along ([`with_request_id`]) so that its lines name that request.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A life-cycle event (`order.submission`, `order.settled`, `sync.batch`, `cron.run`, …)
/// with its fields and the id of the request that caused it (`request_id`, absent for the
/// worker's own rounds): in JSON mode one object on standard output (the log stream a
/// collector reads; nothing secret is ever written there), otherwise a line on standard error.
pub fn event(name: &str, mut fields: serde_json::Value) {
    if dropped("INFO") {
        return;
    }
    if let (Some(map), Some(id)) = (fields.as_object_mut(), current_request_id()) {
        map.entry("request_id").or_insert(id.into());
    }
    match fields {
        serde_json::Value::Object(map) if JSON.load(Ordering::Relaxed) => {
            let mut line = serde_json::Map::new();
            line.insert("ts".into(), now().into());
            line.insert("level".into(), "INFO".into());
            line.insert("msg".into(), name.into());
            line.extend(map);
            write(&serde_json::Value::Object(line).to_string());
        }
        serde_json::Value::Object(map) => {
            let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
            write(&format!("{} INFO {name} {}", now(), pairs.join(" ")));
        }
        other => line("INFO", &format!("{name} {other}")),
    }
}

/// The line of one request.
pub struct RequestLine<'a> {
    pub level: &'static str,
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub micros: u128,
    pub endpoint: &'a str,
}

pub fn request(r: &RequestLine<'_>) {
    if dropped(r.level) && r.status != 500 {
        return;
    }
    write(&request_line(r, JSON.load(Ordering::Relaxed), &now()));
}

/// The text of a request's line at time `ts`.
fn request_line(r: &RequestLine<'_>, json: bool, ts: &str) -> String {
    if json {
        json!({
            "ts": ts, "level": r.level, "msg": "request", "request_id": r.request_id, "method": r.method,
            "path": r.path, "status": r.status, "duration_us": r.micros as u64, "endpoint": r.endpoint,
        })
        .to_string()
    } else {
        format!(
            "{ts} {} {} {} {} {}us ({}) id={}",
            r.level, r.method, r.path, r.status, r.micros, r.endpoint, r.request_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let r = RequestLine {
            level: "INFO",
            request_id: "abc123",
            method: "POST",
            path: "/api/orders",
            status: 201,
            micros: 1234,
            endpoint: "orders.place",
        };
        let v: serde_json::Value =
            serde_json::from_str(&request_line(&r, true, "T")).expect("one JSON object");
        assert_eq!(v["request_id"], "abc123");
        assert_eq!((v["status"].as_u64(), v["duration_us"].as_u64()), (Some(201), Some(1234)));
        assert_eq!(v["path"], "/api/orders");
        let plain = request_line(&r, false, "T");
        assert_eq!(plain, "T INFO POST /api/orders 201 1234us (orders.place) id=abc123");
        assert!(!plain.contains('\n'));
    }
}
