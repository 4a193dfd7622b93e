//! Request heads checked before hyper reads them, so that a framing error gets the §4 JSON body.
//!
//! hyper's HTTP/1 server answers a request head it cannot parse (a malformed request line, two
//! different `Content-Length`s, more than 100 headers, a head over its buffer) with a status and
//! an *empty* body, written by hyper itself: the service never sees the request, and hyper
//! offers no hook to change that answer. So the connection's bytes pass through [`Guarded`], an
//! IO wrapper that parses each request head with `httparse` (the parser hyper uses) before hyper
//! does, with the checks hyper adds on top (method, URI, `Content-Length`, `Transfer-Encoding`).
//!
//! - A head that passes is handed to hyper unchanged, and its body is counted through (by
//!   `Content-Length`, or by following the chunked encoding exactly as hyper's decoder does), so
//!   the next head of a keep-alive or pipelined connection is found where hyper will look for it.
//! - A head that fails is never shown to hyper. In its place hyper reads a synthetic request,
//!   `GET <secret path> HTTP/1.1` with `Connection: close`, whose path carries a random nonce of
//!   the connection; the service recognises it and answers the recorded [`FramingError`] as JSON
//!   (400, 414 or 431). hyper orders that answer after the answers to every earlier pipelined
//!   request and then closes the connection; nothing after the bad head is read.
//! - Anything the wrapper cannot follow for certain (a chunk line hyper will refuse too) turns it
//!   into a plain pass-through for the rest of the connection: hyper then fails that body and
//!   closes, as it did before.
//!
//! Heads above [`MAX_HEAD`] bytes are refused with 431 before hyper buffers them.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest request head accepted (request line and headers): 64 KiB.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most headers a request may have (hyper's own limit).
pub const MAX_HEADERS: usize = 100;
/// hyper's limit on the request target.
const MAX_URI_LEN: usize = (u16::MAX - 1) as usize;

/// Why a request head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramingError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: &'static str,
}

impl FramingError {
    const fn bad(code: &'static str, message: &'static str) -> FramingError {
        FramingError { status: StatusCode::BAD_REQUEST, code, message }
    }
}

const MALFORMED: FramingError = FramingError::bad("malformed_request", "the request head is malformed");
const TOO_MANY_HEADERS: FramingError = FramingError {
    status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    code: "too_many_headers",
    message: "the request has too many headers",
};
const HEAD_TOO_LARGE: FramingError = FramingError {
    status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    code: "headers_too_large",
    message: "the request head is too large",
};
const URI_TOO_LONG: FramingError =
    FramingError { status: StatusCode::URI_TOO_LONG, code: "uri_too_long", message: "the URI is too long" };
const BAD_LENGTH: FramingError =
    FramingError::bad("invalid_content_length", "Content-Length is invalid or given twice with other values");
const BAD_TRANSFER_ENCODING: FramingError = FramingError::bad(
    "invalid_transfer_encoding",
    "Transfer-Encoding must end in chunked, and needs HTTP/1.1",
);

/// What the wrapper and the connection's service share.
#[derive(Debug)]
pub struct Shared {
    /// The synthetic request's path, unguessable by a client.
    path: String,
    error: Mutex<Option<FramingError>>,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            path: format!(
                "/.snspmt-framing-error/{:016x}{:016x}",
                rand::random::<u64>(),
                rand::random::<u64>()
            ),
            error: Mutex::new(None),
        })
    }

    /// The refused head's error, when `path` is the synthetic request's.
    pub fn take(&self, path: &str) -> Option<FramingError> {
        if path != self.path {
            return None;
        }
        self.error.lock().ok().and_then(|mut e| e.take())
    }
}

/// hyper's chunked decoder's states (hyper/src/proto/h1/decode.rs), followed byte by byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Start,
    Size,
    SizeLws,
    Extension,
    SizeLf,
    Body,
    BodyCr,
    BodyLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a complete request head.
    Head,
    /// Passing this many body bytes.
    Length(u64),
    /// Following a chunked body (state, the current chunk's remaining size).
    Chunked(Chunk, u64),
    /// Not following any more: bytes pass unchecked.
    Through,
    /// The synthetic request was handed over: nothing more is read.
    Refused,
}

/// A connection's stream with its request heads checked (see the module documentation).
pub struct Guarded<S> {
    inner: S,
    shared: Arc<Shared>,
    state: State,
    /// Bytes read and not classified yet (a partial head).
    inbox: Vec<u8>,
    /// Bytes classified and not yet given to hyper.
    ready: Vec<u8>,
    ready_from: usize,
    /// How much of `inbox` was searched for the end of the head already: a head trickled byte
    /// by byte is searched once, not parsed again for every byte.
    scanned: usize,
    eof: bool,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, shared: Arc<Shared>) -> Guarded<S> {
        Guarded {
            inner,
            shared,
            state: State::Head,
            inbox: Vec::new(),
            ready: Vec::new(),
            ready_from: 0,
            scanned: 0,
            eof: false,
        }
    }

    /// Moves what can be classified from `inbox` to `ready`.
    fn classify(&mut self) {
        loop {
            if self.inbox.is_empty() {
                return;
            }
            match self.state {
                State::Refused => {
                    self.inbox.clear();
                    return;
                }
                State::Through => {
                    self.ready.append(&mut self.inbox);
                    return;
                }
                State::Length(n) => {
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(self.inbox.len());
                    self.ready.extend(self.inbox.drain(..take));
                    self.scanned = 0;
                    let left = n - take as u64;
                    self.state = if left == 0 { State::Head } else { State::Length(left) };
                }
                State::Chunked(..) => self.follow_chunks(),
                State::Head => {
                    // Blank lines before a request line are skipped by hyper: pass them on.
                    let blank = leading_blank_lines(&self.inbox);
                    if blank > 0 {
                        self.ready.extend(self.inbox.drain(..blank));
                        self.scanned = 0;
                        continue;
                    }
                    let complete = head_ends(&self.inbox, self.scanned);
                    self.scanned = self.inbox.len();
                    let checked = match complete {
                        true => check_head(&self.inbox),
                        false if self.inbox.len() > MAX_HEAD => Err(HEAD_TOO_LARGE),
                        false => Ok(None),
                    };
                    if !self.on_head(checked) {
                        return;
                    }
                }
            }
        }
    }

    /// Acts on a head's check: passes a good head on, or puts the synthetic request in place of
    /// a bad one. A head still incomplete changes nothing (the answer is `false`).
    fn on_head(&mut self, checked: Result<Option<(usize, State)>, FramingError>) -> bool {
        match checked {
            Ok(None) => false,
            Ok(Some((len, next))) => {
                self.ready.extend(self.inbox.drain(..len));
                self.scanned = 0;
                self.state = next;
                true
            }
            Err(e) => {
                if let Ok(mut slot) = self.shared.error.lock() {
                    *slot = Some(e);
                }
                self.inbox.clear();
                let head = format!(
                    "GET {} HTTP/1.1\r\nhost: framing.invalid\r\nconnection: close\r\n\r\n",
                    self.shared.path
                );
                self.ready.extend_from_slice(head.as_bytes());
                self.state = State::Refused;
                true
            }
        }
    }

    /// Follows a chunked body through `inbox`, byte by byte except for chunk data.
    fn follow_chunks(&mut self) {
        let State::Chunked(mut chunk, mut size) = self.state else { return };
        let mut i = 0;
        while i < self.inbox.len() {
            if chunk == Chunk::Body {
                let take = usize::try_from(size).unwrap_or(usize::MAX).min(self.inbox.len() - i);
                i += take;
                size -= take as u64;
                if size == 0 {
                    chunk = Chunk::BodyCr;
                }
                continue;
            }
            let b = self.inbox[i];
            i += 1;
            let hex = match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b + 10 - b'a'),
                b'A'..=b'F' => Some(b + 10 - b'A'),
                _ => None,
            };
            let next = match (chunk, b) {
                (Chunk::Start | Chunk::Size, _) if hex.is_some() => {
                    match size.checked_mul(16).and_then(|s| s.checked_add(u64::from(hex.unwrap_or(0)))) {
                        Some(s) => {
                            size = s;
                            Some(Chunk::Size)
                        }
                        None => None,
                    }
                }
                (Chunk::Size | Chunk::SizeLws, b'\t' | b' ') => Some(Chunk::SizeLws),
                (Chunk::Size | Chunk::SizeLws | Chunk::Extension, b';') => Some(Chunk::Extension),
                (Chunk::Size | Chunk::SizeLws | Chunk::Extension, b'\r') => Some(Chunk::SizeLf),
                (Chunk::Extension, b'\n') => None,
                (Chunk::Extension, _) => Some(Chunk::Extension),
                (Chunk::SizeLf, b'\n') if size == 0 => Some(Chunk::EndCr),
                (Chunk::SizeLf, b'\n') => Some(Chunk::Body),
                (Chunk::BodyCr, b'\r') => Some(Chunk::BodyLf),
                (Chunk::BodyLf, b'\n') => {
                    size = 0;
                    Some(Chunk::Start)
                }
                (Chunk::Trailer, b'\r') => Some(Chunk::TrailerLf),
                (Chunk::Trailer, _) => Some(Chunk::Trailer),
                (Chunk::TrailerLf, b'\n') => Some(Chunk::EndCr),
                (Chunk::EndCr, b'\r') => Some(Chunk::EndLf),
                (Chunk::EndCr, _) => Some(Chunk::Trailer),
                (Chunk::EndLf, b'\n') => {
                    // The body is complete: the next byte starts a new head.
                    self.ready.extend(self.inbox.drain(..i));
                    self.scanned = 0;
                    self.state = State::Head;
                    return;
                }
                _ => None,
            };
            match next {
                Some(n) => chunk = n,
                None => {
                    // hyper will refuse this body; stop following.
                    self.state = State::Through;
                    self.ready.append(&mut self.inbox);
                    return;
                }
            }
        }
        self.ready.extend(self.inbox.drain(..i));
        self.scanned = 0;
        self.state = State::Chunked(chunk, size);
    }
}

/// The length of the empty lines (`\r\n` or `\n`) at the start of `buf`.
fn leading_blank_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf.get(i..) {
            Some([b'\n', ..]) => i += 1,
            Some([b'\r', b'\n', ..]) => i += 2,
            _ => return i,
        }
    }
}

/// Whether `buf` holds the end of a head (an empty line, as hyper looks for it), searching only
/// from `scanned` (less the three bytes an end can straddle).
fn head_ends(buf: &[u8], scanned: usize) -> bool {
    let from = scanned.saturating_sub(3).min(buf.len());
    buf[from..].windows(2).any(|w| w == b"\n\n") || buf[from..].windows(3).any(|w| w == b"\n\r\n")
}

/// Parses a request head at the start of `buf`: `None` while incomplete, else its length and
/// how its body is framed.
fn check_head(buf: &[u8]) -> Result<Option<(usize, State)>, FramingError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(HEAD_TOO_LARGE),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(TOO_MANY_HEADERS),
        Err(_) => return Err(MALFORMED),
    };
    if len > MAX_HEAD {
        return Err(HEAD_TOO_LARGE);
    }
    let path = req.path.unwrap_or("");
    if path.len() > MAX_URI_LEN {
        return Err(URI_TOO_LONG);
    }
    hyper::Method::from_bytes(req.method.unwrap_or("").as_bytes()).map_err(|_| MALFORMED)?;
    hyper::Uri::try_from(path).map_err(|_| FramingError::bad("invalid_uri", "the request URI is invalid"))?;
    let http11 = req.version == Some(1);
    // As hyper reads them: the last Transfer-Encoding decides chunked; it makes any
    // Content-Length irrelevant; Content-Lengths must all be the same number.
    let (mut te, mut chunked, mut length): (bool, bool, Option<u64>) = (false, false, None);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return Err(BAD_TRANSFER_ENCODING);
            }
            te = true;
            // hyper reads the value only when it is visible ASCII.
            let text = h.value.iter().all(|b| *b == b'\t' || (0x20..0x7f).contains(b));
            chunked = std::str::from_utf8(h.value)
                .ok()
                .filter(|_| text)
                .and_then(|v| v.rsplit(',').next())
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") && !te {
            let n = digits(h.value).ok_or(BAD_LENGTH)?;
            if length.is_some_and(|prev| prev != n) {
                return Err(BAD_LENGTH);
            }
            length = Some(n);
        }
    }
    if te && !chunked {
        return Err(BAD_TRANSFER_ENCODING);
    }
    let next = match (te, length) {
        (true, _) => State::Chunked(Chunk::Start, 0),
        (false, Some(n)) if n >= u64::MAX - 2 => return Err(BAD_LENGTH),
        (false, Some(0) | None) => State::Head,
        (false, Some(n)) => State::Length(n),
    };
    Ok(Some((len, next)))
}

/// A `Content-Length` value: ASCII digits only, as hyper reads it.
fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready_from < this.ready.len() {
                let n = (this.ready.len() - this.ready_from).min(out.remaining());
                out.put_slice(&this.ready[this.ready_from..this.ready_from + n]);
                this.ready_from += n;
                if this.ready_from == this.ready.len() {
                    this.ready.clear();
                    this.ready_from = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.state == State::Refused {
                // hyper answers the synthetic request and closes; it must not see an EOF
                // before (it would drop the answer as an abandoned request). Meanwhile what
                // the client still sends is read and dropped, so that closing the socket does
                // not reset it (a reset can destroy the answer before the client reads it).
                while !this.eof {
                    let mut sink = [0u8; 8192];
                    let mut buf = ReadBuf::new(&mut sink);
                    match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(())) if !buf.filled().is_empty() => continue,
                        Poll::Ready(_) => this.eof = true,
                        Poll::Pending => break,
                    }
                }
                return Poll::Pending;
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            // Not zeroed first: hyper polls after every answer, and most polls find nothing
            // (zeroing 8 KiB each time was 2 % of a cached `GET`).
            let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
            let mut buf = ReadBuf::uninit(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                    // The client is done: an unfinished head goes to hyper as it is.
                    this.eof = true;
                    this.ready.append(&mut this.inbox);
                }
                Poll::Ready(Ok(())) => {
                    this.inbox.extend_from_slice(buf.filled());
                    this.classify();
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Vec<u8>, State, Option<FramingError>) {
        let shared = Shared::new();
        let mut g = Guarded::new((), shared.clone());
        // Byte by byte and all at once must agree.
        for b in input {
            g.inbox.push(*b);
            g.classify();
        }
        let mut whole = Guarded::new((), Shared::new());
        whole.inbox.extend_from_slice(input);
        whole.classify();
        assert_eq!(whole.state, g.state, "{:?}", String::from_utf8_lossy(input));
        let err = shared.error.lock().ok().and_then(|e| *e);
        (g.ready, g.state, err)
    }

    #[test]
    fn valid_heads_and_bodies_pass_unchanged() {
        let pipelined: &[u8] = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n\
            POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n\
            GET /d HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nxy";
        let (ready, state, err) = run(pipelined);
        assert_eq!(ready, pipelined);
        assert_eq!((state, err), (State::Head, None));
    }

    #[test]
    fn bad_heads_become_the_synthetic_request() {
        let cases: [(&[u8], &str); 6] = [
            (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "invalid_content_length"),
            (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "invalid_content_length"),
            (b"GARBAGE\r\n\r\n", "malformed_request"),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "invalid_transfer_encoding"),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "invalid_transfer_encoding"),
            (b"GET / HTTP/1.1\r\nA: b\r\n\r\n", ""),
        ];
        for (input, code) in cases {
            let (ready, state, err) = run(input);
            if code.is_empty() {
                assert_eq!(err, None);
                continue;
            }
            assert_eq!(err.map(|e| e.code), Some(code), "{:?}", String::from_utf8_lossy(input));
            assert_eq!(state, State::Refused);
            assert!(ready.starts_with(b"GET /.snspmt-framing-error/"));
        }
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: b\r\n".repeat(200));
        assert_eq!(run(many.as_bytes()).2.map(|e| e.status.as_u16()), Some(431));
        let big = format!("GET / HTTP/1.1\r\nX-A: {}", "b".repeat(MAX_HEAD));
        assert_eq!(run(big.as_bytes()).2.map(|e| e.code), Some("headers_too_large"));
    }

    #[test]
    fn blank_lines_before_a_head_pass_and_a_head_is_parsed_once_complete() {
        let input: &[u8] = b"\r\n\nGET /a HTTP/1.1\r\nA: b\r\n\r\n\r\nGET /b HTTP/1.1\n\n";
        let (ready, state, err) = run(input);
        assert_eq!((ready.as_slice(), state, err), (input, State::Head, None));
        // Incomplete: nothing passes yet, and the search resumes where it stopped.
        let mut g = Guarded::new((), Shared::new());
        g.inbox.extend_from_slice(b"GET /a HTTP/1.1\r\nA: b\r\n");
        g.classify();
        assert!(g.ready.is_empty());
        assert_eq!(g.scanned, g.inbox.len());
        assert!(!head_ends(b"GET / HTTP/1.1\r\n", 0));
        assert!(head_ends(b"GET / HTTP/1.1\r\n\r\n", 14));
    }

    #[test]
    fn a_chunked_body_hyper_refuses_is_passed_through() {
        let input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGARBAGE\r\n\r\n";
        let (ready, state, err) = run(input);
        assert_eq!((ready.as_slice(), state, err), (&input[..], State::Through, None));
    }

    #[test]
    fn the_error_is_taken_only_on_the_secret_path() {
        let shared = Shared::new();
        *shared.error.lock().expect("lock") = Some(MALFORMED);
        assert_eq!(shared.take("/.snspmt-framing-error/0"), None);
        let path = shared.path.clone();
        assert_eq!(shared.take(&path), Some(MALFORMED));
        assert_eq!(shared.take(&path), None);
    }
}
