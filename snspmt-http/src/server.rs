//! The hyper server: accept loop, per-request pipeline, graceful shutdown.
//!
//! Pipeline: route → authenticate → read the body through a limit → dispatch (one
//! exhaustive match) → log. Every failure becomes the JSON error body in one place.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::auth;
use crate::conns::{self, Conns, Working};
use crate::error::ApiError;
use crate::handlers;
use crate::request::{Peer, Req};
use crate::router;
use crate::{cors, framing, log, App};

pub use crate::router::MAX_BODY;
/// Requests slower than this are logged as warnings.
pub const SLOW_REQUEST: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` completes, then lets open requests finish
/// (up to 10 s). The one entry point for `main` and tests.
///
/// The edge against slow and numerous clients (`Config::edge`):
/// - at most `max_connections` connections are served at once; one more is accepted, answered
///   503 `too_many_connections` with `Retry-After` and closed at once (see [`refuse`]), so the
///   process never runs out of descriptors and an attack cannot queue work — unless an open
///   connection is idle or still receiving its request, in which case the oldest such one is
///   closed to make room ([`crate::conns`]): idle and trickling clients cannot hold every slot;
/// - a request head (and an idle keep-alive connection's next one) must arrive within
///   `header_timeout_ms`, or hyper closes the connection (slowloris);
/// - a body must arrive within `body_timeout_ms` of its head, or the answer is 408
///   `body_timeout` and the connection is closed ([`read_body`]);
/// - every connection's request heads are checked before hyper reads them, so framing errors
///   get the JSON error body ([`crate::framing`]).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    if app.config.log_errors_only {
        log::errors_only(true);
    }
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(app.config.edge.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let conns = Arc::new(Conns::default());
    let header_timeout = Duration::from_millis(app.config.edge.header_timeout_ms);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of descriptors and the like: say so, breathe, go on.
                        log::warn(&format!("accept failed: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let slot = match slots.clone().try_acquire_owned() {
                    Ok(slot) => Some(slot),
                    // A full house: the slowest idle client makes room, when there is one.
                    Err(_) if conns.shed_one(conns::SHED_MIN_AGE) => {
                        let freed = tokio::time::timeout(SHED_WAIT, slots.clone().acquire_owned()).await;
                        freed.ok().and_then(Result::ok)
                    }
                    Err(_) => None,
                };
                let Some(slot) = slot else {
                    app.metrics.request("connection_refused", 503, Duration::ZERO);
                    refuse(stream, &refusals);
                    continue;
                };
                let conn_state = conns.open();
                let _ = stream.set_nodelay(true);
                let framing = framing::Shared::new();
                let app = app.clone();
                let seen = framing.clone();
                let this = conn_state.clone();
                let service = service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(Peer(peer));
                    req.extensions_mut().insert(Working(this.clone()));
                    let (app, this) = (app.clone(), this.clone());
                    let refused = seen.take(req.uri().path());
                    async move {
                        let resp = match refused {
                            Some(e) => framing_response(&app, e),
                            None => handle(&app, req).await,
                        };
                        this.set_working(false);
                        Ok::<_, Infallible>(resp)
                    }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(TokioIo::new(framing::Guarded::new(stream, framing)), service);
                let conn = graceful.watch(conn);
                let conns = conns.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = conn => {}
                        () = conn_state.shed() => {}
                    }
                    conns.close(&conn_state);
                    drop(slot);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => log::warn("shutdown: connections still open after 10 s"),
    }
    Ok(())
}

/// How long a newcomer waits for the slot of a connection asked to make room.
const SHED_WAIT: Duration = Duration::from_millis(200);

/// Refused connections being answered at once; beyond them, a refused connection is closed
/// without an answer.
const REFUSALS_AT_ONCE: usize = 64;

/// Answers a connection over the cap: a canned 503 JSON with `Retry-After`, the write side
/// closed, and what the client sent read and dropped for at most a second (closing a socket
/// with unread input would reset it and could lose the answer). No request is parsed, nothing
/// is allocated beyond the answer, and at most [`REFUSALS_AT_ONCE`] run at a time.
fn refuse(stream: tokio::net::TcpStream, refusals: &Arc<Semaphore>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(permit) = refusals.clone().try_acquire_owned() else { return };
    tokio::spawn(async move {
        let mut stream = stream;
        let body = ApiError::new(
            hyper::StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            "the server has too many open connections; retry shortly",
        )
        .body()
        .to_string();
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\n\
             retry-after: 1\r\ncache-control: no-store\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(answer.as_bytes()).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 2048];
            let mut drained = 0;
            while drained < 64 * 1024 {
                match stream.read(&mut sink).await? {
                    0 => break,
                    n => drained += n,
                }
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
        drop(permit);
    });
}

/// The answer to a request head refused by [`framing::Guarded`]: the JSON error body, and the
/// connection closed after it.
fn framing_response(app: &App, e: framing::FramingError) -> Response<Full<Bytes>> {
    let mut resp = error_response(&ApiError::new(e.status, e.code, e.message));
    app.metrics.request("framing_error", e.status.as_u16(), Duration::ZERO);
    let headers = resp.headers_mut();
    headers.insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
    headers.insert("cache-control", hyper::header::HeaderValue::from_static("no-store"));
    if let Ok(v) = hyper::header::HeaderValue::from_str(&request_id(&hyper::HeaderMap::new())) {
        headers.insert("x-request-id", v);
    }
    resp
}

/// One request, start to end. Never fails: errors are answers. Generic over the body so that
/// tests and the fuzz target can drive the whole pipeline without a socket.
pub async fn handle<B>(app: &Arc<App>, req: Request<B>) -> Response<Full<Bytes>>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let request_id = request_id(req.headers());
    let origin = cors::allowed_origin(&app.config.edge.cors_origins, req.headers());
    let outcome = if cors::is_preflight(&method, req.headers()) {
        cors::preflight(&path, origin.clone())
            .map(|r| ("cors.preflight", r))
            .map_err(|e| ("cors.preflight", e))
    } else {
        log::with_request_id(request_id.clone(), respond(app, req)).await
    };
    let (name, mut resp) = match outcome {
        Ok((name, resp)) => (name, resp),
        Err((name, e)) => (name, error_response(&e)),
    };
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    app.metrics.request(name, status, elapsed);
    let level = if elapsed >= SLOW_REQUEST {
        Some("WARN")
    } else if app.config.log_requests || status >= 500 {
        Some("INFO")
    } else {
        None
    };
    if let Some(level) = level {
        log::request(&log::RequestLine {
            level,
            request_id: &request_id,
            method: method.as_str(),
            path: &path,
            status,
            micros: elapsed.as_micros(),
            endpoint: name,
        });
    }
    let headers = resp.headers_mut();
    if let Ok(v) = hyper::header::HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", v);
    }
    // Handlers may choose their caching (uploaded images); everything else is not stored.
    if !resp.headers().contains_key(hyper::header::CACHE_CONTROL) {
        resp.headers_mut().insert("cache-control", hyper::header::HeaderValue::from_static("no-store"));
    }
    cors::decorate(resp.headers_mut(), !app.config.edge.cors_origins.is_empty(), origin);
    resp
}

/// The caller's `X-Request-Id` when it is a sane token (≤ 64 of `[A-Za-z0-9._-]`), else a new
/// random one.
fn request_id(headers: &hyper::HeaderMap) -> String {
    let given = headers.get("x-request-id").and_then(|v| v.to_str().ok()).filter(|v| {
        !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    });
    match given {
        Some(v) => v.to_owned(),
        None => snspmt_core::lower_hex(&rand::random::<u64>().to_be_bytes()),
    }
}

type Outcome = Result<(&'static str, Response<Full<Bytes>>), (&'static str, ApiError)>;

async fn respond<B>(app: &Arc<App>, req: Request<B>) -> Outcome
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    #[cfg(feature = "console")]
    if crate::console::claims(req.uri().path()) {
        return crate::console::respond(app, req).await;
    }
    let matched = router::route(req.method(), req.uri().path()).map_err(|e| ("unrouted", e))?;
    let route = matched.route;
    let name = route.name;
    let caller = auth::authenticate(app, req.headers(), route.access).await.map_err(|e| (name, e))?;
    let (parts, body) = req.into_parts();
    let deadline = Duration::from_millis(app.config.edge.body_timeout_ms);
    let body = read_body(&parts.headers, body, route.body_limit, deadline).await.map_err(|e| (name, e))?;
    if let Some(Working(conn)) = parts.extensions.get::<Working>() {
        // The request is whole: its connection is working, not to be shed.
        conn.set_working(true);
    }
    let mut req = Req::new(parts.uri.path().to_owned(), parts.uri.query(), parts.headers, body);
    req.peer = parts.extensions.get::<Peer>().map(|p| p.0);
    req.refuse_nul().map_err(|e| (name, e))?;
    (route.handler)(app, &caller, &req, &matched.params).await.map(|r| (name, r)).map_err(|e| (name, e))
}

/// The body, read within `deadline` (counted from now, when the head has been read): a client
/// trickling its body holds its connection no longer than that.
async fn read_body<B>(
    headers: &hyper::HeaderMap,
    body: B,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    let read = tokio::time::timeout(deadline, Limited::new(body, limit).collect());
    match read.await.map_err(|_| ApiError::body_timeout())? {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(ApiError::payload_too_large(limit))
        }
        Err(_) => Err(ApiError::bad_request("invalid_body", "the request body could not be read")),
    }
}

fn error_response(e: &ApiError) -> Response<Full<Bytes>> {
    let mut resp = handlers::json(e.status, &e.body());
    if e.status == hyper::StatusCode::REQUEST_TIMEOUT {
        // The rest of the body may still be on its way: the connection cannot be reused.
        resp.headers_mut()
            .insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
    }
    if let Some(allow) = e.allow.as_deref().and_then(|a| hyper::header::HeaderValue::from_str(a).ok()) {
        resp.headers_mut().insert(hyper::header::ALLOW, allow);
    }
    if let Some(secs) = e.retry_after {
        resp.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from(secs));
    }
    resp
}
