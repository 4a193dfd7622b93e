//! Calls to upstream services. The wire formats are codecs in `snspmt_core::upstream`; this
//! module only moves bytes, with explicit timeouts: `ureq` on tokio's blocking pool, and
//! [`AsyncHttp`] on the runtime for an `http://` SMM panel.

pub mod kcp;
pub mod limit;
pub mod oauth;
pub mod simulated;
pub mod smm;

use std::io::Read;
use std::time::Duration;

/// The most of an upstream answer we read.
pub const MAX_UPSTREAM_BODY: u64 = 1024 * 1024;

/// How a call failed before an answer arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Nothing reached the upstream (DNS, connection refused): safe to retry anything.
    NotSent(String),
    /// The request may have reached the upstream (timeout, dropped connection, a body cut
    /// short): a non-idempotent call has an unknown outcome.
    Sent(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::NotSent(m) => write!(f, "not sent: {m}"),
            CallError::Sent(m) => write!(f, "sent, no answer: {m}"),
        }
    }
}

impl std::error::Error for CallError {}

/// An answer: the HTTP status and (at most [`MAX_UPSTREAM_BODY`] of) the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Timeouts of upstream calls.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
}

/// A blocking HTTP agent for upstream calls.
pub fn agent(t: Timeouts) -> ureq::Agent {
    // The overall deadline matters: the per-read timeouts are not re-applied to a pooled
    // connection, so without it a reused connection could wait for ever.
    ureq::AgentBuilder::new()
        .timeout_connect(t.connect)
        .timeout_read(t.read)
        .timeout_write(t.read)
        .timeout(t.connect + t.read)
        // Concurrent submissions reuse kept-alive connections (ureq keeps one per host by default,
        // so a burst opened a connection — against a real panel a TLS handshake — per call).
        .max_idle_connections(256)
        .max_idle_connections_per_host(64)
        .build()
}

/// POSTs `body` with `content_type` to `url`. Blocking: call it on the blocking pool.
pub fn post(agent: &ureq::Agent, url: &str, content_type: &str, body: &str) -> Result<Answer, CallError> {
    answer(agent.post(url).set("Content-Type", content_type).send_string(body))
}

/// GETs `url`, with `Authorization: Bearer <token>` when a token is given. Blocking: call it
/// on the blocking pool.
pub fn get(agent: &ureq::Agent, url: &str, bearer: Option<&str>) -> Result<Answer, CallError> {
    let mut req = agent.get(url);
    if let Some(token) = bearer {
        req = req.set("Authorization", &format!("Bearer {token}"));
    }
    answer(req.call())
}

/// An HTTP client that waits without a thread: the submission path's calls to the panel (each
/// `add` on the blocking pool cost two thread hand-offs, and on this 2-core machine the pool's
/// threads took 15 % of the CPU of an order benchmark). Plain `http://` only (no TLS here): an
/// `https://` panel is called through [`post`] on the blocking pool.
pub struct AsyncHttp {
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    timeouts: Timeouts,
}

impl AsyncHttp {
    pub fn new(t: Timeouts) -> AsyncHttp {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_connect_timeout(Some(t.connect));
        connector.set_nodelay(true);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(connector);
        AsyncHttp { client, timeouts: t }
    }

    /// Whether `url` is one this client calls (`http://`).
    pub fn serves(url: &str) -> bool {
        url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://"))
    }

    /// [`post`] without blocking a thread, with the same reading of failures: a call that never
    /// connected was not sent; any later failure, the timeout included, may have reached it.
    pub async fn post(&self, url: &str, content_type: &str, body: String) -> Result<Answer, CallError> {
        use http_body_util::BodyExt;
        let request = hyper::Request::post(url)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .map_err(|e| CallError::NotSent(format!("{url}: {e}")))?;
        let call = async {
            let resp = self.client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    CallError::NotSent(format!("{url}: {e}"))
                } else {
                    CallError::Sent(format!("{url}: {e}"))
                }
            })?;
            let status = resp.status().as_u16();
            let limit = usize::try_from(MAX_UPSTREAM_BODY).unwrap_or(usize::MAX);
            let body = http_body_util::Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| CallError::Sent(format!("reading the answer: {e}")))?;
            Ok(Answer { status, body: body.to_bytes().to_vec() })
        };
        let patience = self.timeouts.connect + self.timeouts.read;
        tokio::time::timeout(patience, call)
            .await
            .unwrap_or_else(|_| Err(CallError::Sent(format!("{url}: no answer within {patience:?}"))))
    }
}

fn answer(result: Result<ureq::Response, ureq::Error>) -> Result<Answer, CallError> {
    let resp = match result {
        Ok(resp) => resp,
        Err(ureq::Error::Status(_, resp)) => resp,
        Err(ureq::Error::Transport(t)) => {
            return Err(match t.kind() {
                ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::InvalidUrl => {
                    CallError::NotSent(t.to_string())
                }
                _ => CallError::Sent(t.to_string()),
            })
        }
    };
    let status = resp.status();
    let mut body = Vec::new();
    resp.into_reader()
        .take(MAX_UPSTREAM_BODY)
        .read_to_end(&mut body)
        .map_err(|e| CallError::Sent(format!("reading the answer: {e}")))?;
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> ureq::Agent {
        agent(Timeouts { connect: Duration::from_millis(300), read: Duration::from_millis(300) })
    }

    #[test]
    fn a_refused_connection_was_not_sent() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let url = format!("http://127.0.0.1:{}/api/v2", port.expect("port"));
        assert!(matches!(post(&quick(), &url, "text/plain", "x"), Err(CallError::NotSent(_))));
    }

    #[test]
    fn a_silent_upstream_may_have_received_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/api/v2", listener.local_addr().expect("addr"));
        // Accept and read, never answer.
        let keeper = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            std::thread::sleep(Duration::from_millis(800));
        });
        assert!(matches!(post(&quick(), &url, "text/plain", "x"), Err(CallError::Sent(_))));
        keeper.join().expect("keeper");
    }

    /// A pooled keep-alive connection must time out like a new one (ureq's per-read timeouts
    /// alone did not cover it).
    /// A panel that answers `{}` once, then holds the next request on the same connection
    /// unanswered for 1.5 s.
    fn answers_once_then_holds() -> (String, std::thread::JoinHandle<()>) {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/api/v2", listener.local_addr().expect("addr"));
        let keeper = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
            let _ = stream.read(&mut buf);
            std::thread::sleep(Duration::from_millis(1500));
        });
        (url, keeper)
    }

    #[test]
    fn a_reused_connection_times_out_too() {
        let (url, keeper) = answers_once_then_holds();
        let agent = quick();
        assert_eq!(post(&agent, &url, "text/plain", "x").map(|a| a.body), Ok(b"{}".to_vec()));
        let started = std::time::Instant::now();
        assert!(matches!(post(&agent, &url, "text/plain", "x"), Err(CallError::Sent(_))));
        assert!(started.elapsed() < Duration::from_millis(1200), "took {:?}", started.elapsed());
        keeper.join().expect("keeper");
    }

    fn awaited() -> AsyncHttp {
        AsyncHttp::new(Timeouts { connect: Duration::from_millis(300), read: Duration::from_millis(300) })
    }

    #[tokio::test]
    async fn an_awaited_call_reads_failures_as_the_blocking_one_does() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let refused = format!("http://127.0.0.1:{}/api/v2", port.expect("port"));
        assert!(matches!(
            awaited().post(&refused, "text/plain", "x".into()).await,
            Err(CallError::NotSent(_))
        ));
        assert!(matches!(
            awaited().post("http://[::1/api", "text/plain", "x".into()).await,
            Err(CallError::NotSent(_))
        ));
        assert!(AsyncHttp::serves("HTTP://127.0.0.1/") && !AsyncHttp::serves("https://smmkings.com/api/v2"));

        let (url, keeper) = answers_once_then_holds();
        let http = awaited();
        let first = http.post(&url, "text/plain", "x".into()).await;
        assert_eq!(first, Ok(Answer { status: 200, body: b"{}".to_vec() }));
        let started = std::time::Instant::now();
        assert!(matches!(http.post(&url, "text/plain", "x".into()).await, Err(CallError::Sent(_))));
        assert!(started.elapsed() < Duration::from_millis(1200), "took {:?}", started.elapsed());
        keeper.join().expect("keeper");
    }
}
