//! Calls to upstream services. The wire formats are codecs in `snspmt_core::upstream`; this
//! module only moves bytes: `ureq` on tokio's blocking pool, with explicit timeouts.

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
    ureq::AgentBuilder::new().timeout_connect(t.connect).timeout_read(t.read).timeout_write(t.read).build()
}

/// POSTs `body` with `content_type` to `url`. Blocking: call it on the blocking pool.
pub fn post(agent: &ureq::Agent, url: &str, content_type: &str, body: &str) -> Result<Answer, CallError> {
    let resp = match agent.post(url).set("Content-Type", content_type).send_string(body) {
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
