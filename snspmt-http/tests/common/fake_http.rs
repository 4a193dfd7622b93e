//! A minimal hand-written HTTP/1.1 server for the loopback fakes (`fake_smm`, `fake_kcp`).
//!
//! Written on a bare `tokio::net::TcpListener` so that a fault can close the socket without
//! writing any response. It supports keep-alive (and `Connection: close`), `Expect:
//! 100-continue`, `Content-Length` and chunked request bodies, and always answers with
//! `Content-Length`.
//!
//! Each fake includes this file as a private submodule
//! (`#[path = "fake_http.rs"] mod fake_http;`), so that the fake works both inside
//! `tests/common` and when a self-test includes the fake's file on its own.

#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// One parsed request.
pub struct HttpRequest {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub keep_alive: bool,
}

impl HttpRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// A response; always sent with `Content-Length`.
pub struct HttpResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl HttpResponse {
    /// HTTP 200 `application/json`.
    pub fn json(v: Value) -> HttpResponse {
        HttpResponse { status: 200, content_type: "application/json", body: v.to_string() }
    }

    /// A small HTML error page (`404 Not Found`, …).
    pub fn html_status(status: u16) -> HttpResponse {
        HttpResponse {
            status,
            content_type: "text/html",
            body: format!("<html><body><h1>{status} {}</h1></body></html>", reason(status)),
        }
    }
}

/// What to do with a request.
pub enum Outcome {
    Respond(HttpResponse),
    /// Close the socket without writing anything.
    Drop,
}

/// Spawns the accept loop on the current tokio runtime; each connection is served on its
/// own task and each request is passed to `handler`. `server` is the `Server` header.
pub fn spawn<F, Fut>(listener: TcpListener, server: &'static str, handler: F) -> JoinHandle<()>
where
    F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve_connection(stream, server, handler.clone()));
        }
    })
}

enum Parse {
    Incomplete,
    Bad(&'static str),
    Done(HttpRequest, usize),
}

async fn serve_connection<F, Fut>(stream: TcpStream, server: &'static str, handler: Arc<F>)
where
    F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let mut continue_sent = false;
        let req = loop {
            match parse_request(&buf) {
                Parse::Done(req, used) => {
                    buf.drain(..used);
                    break req;
                }
                Parse::Bad(why) => {
                    let resp = HttpResponse { status: 400, content_type: "text/plain", body: why.to_owned() };
                    let _ = write_all(&stream, &encode_response(&resp, server, false)).await;
                    return;
                }
                Parse::Incomplete => {
                    if !continue_sent && expects_continue(&buf) {
                        continue_sent = true;
                        if write_all(&stream, b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err() {
                            return;
                        }
                    }
                    match read_some(&stream, &mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            }
        };
        let keep_alive = req.keep_alive;
        match handler(req).await {
            Outcome::Drop => return,
            Outcome::Respond(resp) => {
                if write_all(&stream, &encode_response(&resp, server, keep_alive)).await.is_err()
                    || !keep_alive
                {
                    return;
                }
            }
        }
    }
}

/// Whether the buffered request has complete headers including `Expect: 100-continue`.
fn expects_continue(buf: &[u8]) -> bool {
    let Some(end) = find(buf, b"\r\n\r\n") else { return false };
    String::from_utf8_lossy(&buf[..end]).split("\r\n").skip(1).any(|line| {
        line.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("expect") && v.trim().eq_ignore_ascii_case("100-continue")
        })
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_request(buf: &[u8]) -> Parse {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_HEADER_BYTES {
            Parse::Bad("headers too large")
        } else {
            Parse::Incomplete
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Parse::Bad("bad request line");
    };
    let mut headers = Vec::new();
    for line in lines {
        let Some((k, v)) = line.split_once(':') else { return Parse::Bad("bad header") };
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let get = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let connection = get("connection").unwrap_or_default().to_ascii_lowercase();
    let keep_alive = if version.eq_ignore_ascii_case("HTTP/1.0") {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let body_start = end + 4;
    let chunked = get("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    let (body, used) = if chunked {
        match parse_chunked(&buf[body_start..]) {
            ChunkParse::Incomplete => return Parse::Incomplete,
            ChunkParse::Bad => return Parse::Bad("bad chunked body"),
            ChunkParse::Done(body, used) => (body, body_start + used),
        }
    } else {
        let len = match get("content-length") {
            None => 0,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n <= MAX_BODY_BYTES => n,
                _ => return Parse::Bad("bad content-length"),
            },
        };
        if buf.len() < body_start + len {
            return Parse::Incomplete;
        }
        (buf[body_start..body_start + len].to_vec(), body_start + len)
    };
    Parse::Done(
        HttpRequest { method: method.to_owned(), target: target.to_owned(), headers, body, keep_alive },
        used,
    )
}

enum ChunkParse {
    Incomplete,
    Bad,
    Done(Vec<u8>, usize),
}

fn parse_chunked(buf: &[u8]) -> ChunkParse {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(eol) = find(&buf[at..], b"\r\n") else { return ChunkParse::Incomplete };
        let line = String::from_utf8_lossy(&buf[at..at + eol]);
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else { return ChunkParse::Bad };
        at += eol + 2;
        if size == 0 {
            // Trailers (ignored) up to an empty line.
            loop {
                let Some(eol) = find(&buf[at..], b"\r\n") else { return ChunkParse::Incomplete };
                at += eol + 2;
                if eol == 0 {
                    return ChunkParse::Done(body, at);
                }
            }
        }
        if body.len() + size > MAX_BODY_BYTES {
            return ChunkParse::Bad;
        }
        if buf.len() < at + size + 2 {
            return ChunkParse::Incomplete;
        }
        body.extend_from_slice(&buf[at..at + size]);
        if &buf[at + size..at + size + 2] != b"\r\n" {
            return ChunkParse::Bad;
        }
        at += size + 2;
    }
}

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        520 => "Unknown Error",
        521 => "Web Server Is Down",
        522 => "Connection Timed Out",
        524 => "A Timeout Occurred",
        _ => "Status",
    }
}

fn encode_response(resp: &HttpResponse, server: &str, keep_alive: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nServer: {server}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len(),
        if keep_alive { "keep-alive" } else { "close" },
    )
    .into_bytes();
    out.extend_from_slice(resp.body.as_bytes());
    out
}

/// Reads what is available (at least one byte, or 0 at EOF) into `buf`.
async fn read_some(stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut tmp = [0u8; 16 * 1024];
    loop {
        stream.readable().await?;
        match stream.try_read(&mut tmp) {
            Ok(n) => {
                buf.extend_from_slice(&tmp[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

async fn write_all(stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        stream.writable().await?;
        match stream.try_write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
