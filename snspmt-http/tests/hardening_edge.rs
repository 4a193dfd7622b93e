//! Issue 12, the server's edge and content, through the real server on SQLite and PostgreSQL:
//! trickled bodies cut off while `/health` answers, slow heads and idle connections closed,
//! connections over the cap refused early, framing errors answered with the JSON error body,
//! CORS, blog HTML sanitized, and every admin write audited.
//!
//! The socket-level checks run on both backends too: they are cheap, and `/health` reads the
//! database, so "health answers under load" means something on each.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use snspmt_store::Millis;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::fake_smm::{self, FakeSmm};
use common::world::{ok, world, World};
use common::{assert_error_body, Auth, Backend, TestServer, ADMIN_TOKEN, CRON_TOKEN};
use snspmt_http::router::{self, Access};

on_each_backend!(
    trickled_bodies_are_cut_off_and_health_still_answers,
    slow_heads_and_idle_connections_are_closed,
    connections_over_the_cap_are_refused_early,
    trickling_clients_at_the_cap_make_room,
    framing_errors_get_the_json_error_body,
    valid_requests_still_pipeline_through_the_checks,
    cors_answers_listed_origins_only,
    blog_html_is_sanitized_on_write_and_read,
    every_admin_write_is_audited,
);

async fn start(backend: Backend, test: &str, vars: &[(&str, &str)]) -> Option<TestServer> {
    TestServer::start_with(backend, test, vars).await
}

/// Writes `request` (a refused write is ignored: the server may answer and close first) and
/// reads until the server closes, at most `limit`. `None` when the server did not close.
async fn exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(request).await;
    read_to_close(&mut stream, limit).await
}

async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| String::from_utf8_lossy(&out).into_owned())
}

/// The responses in a raw answer: (status, JSON body or `Null`) each.
fn responses(raw: &str) -> Vec<(u16, Value)> {
    raw.split("HTTP/1.1 ")
        .filter(|part| !part.is_empty())
        .map(|part| {
            let status = part.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
            let body = part.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
            (status, serde_json::from_str(body).unwrap_or(Value::Null))
        })
        .collect()
}

async fn health_within(s: &TestServer, limit: Duration) -> Duration {
    let started = Instant::now();
    let (status, _, _) = tokio::time::timeout(limit, s.raw(Method::GET, "/health", &[], ""))
        .await
        .unwrap_or_else(|_| panic!("/health did not answer within {limit:?}"));
    assert_eq!(status, StatusCode::OK);
    started.elapsed()
}

async fn trickled_bodies_are_cut_off_and_health_still_answers(backend: Backend) {
    let Some(s) = start(
        backend,
        "trickled_bodies_are_cut_off_and_health_still_answers",
        &[("SNSPMT_BODY_TIMEOUT_MS", "1000")],
    )
    .await
    else {
        return;
    };
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{",
        s.addr
    );
    let mut clients = Vec::new();
    for _ in 0..300 {
        let stream = TcpStream::connect(s.addr).await.expect("connect");
        let head = head.clone();
        clients.push(tokio::spawn(async move {
            let (mut rd, mut wr) = stream.into_split();
            wr.write_all(head.as_bytes()).await.expect("head");
            // One byte every 200 ms, until the server has answered.
            let trickle = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if wr.write_all(b" ").await.is_err() {
                        break;
                    }
                }
            });
            let mut out = Vec::new();
            let done = tokio::time::timeout(Duration::from_secs(10), async {
                let mut buf = [0u8; 1024];
                loop {
                    match rd.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => out.extend_from_slice(&buf[..n]),
                    }
                }
            })
            .await;
            trickle.abort();
            (done.is_ok(), String::from_utf8_lossy(&out).into_owned())
        }));
    }
    // While all 300 trickle, the health probe answers.
    health_within(&s, Duration::from_secs(2)).await;
    let mut cut = 0;
    for c in clients {
        let (closed, raw) = c.await.expect("client");
        assert!(closed, "the server closed the trickling connection");
        let answers = responses(&raw);
        assert_eq!(answers.len(), 1, "{raw}");
        assert_eq!(answers[0].0, 408, "{raw}");
        assert_error_body(&answers[0].1, "body_timeout");
        cut += 1;
    }
    assert_eq!(cut, 300);
    health_within(&s, Duration::from_secs(2)).await;
}

async fn slow_heads_and_idle_connections_are_closed(backend: Backend) {
    let Some(s) =
        start(backend, "slow_heads_and_idle_connections_are_closed", &[("SNSPMT_HEADER_TIMEOUT_MS", "300")])
            .await
    else {
        return;
    };
    // A head trickled one header line every 100 ms never completes: closed, without a hang.
    let mut slow = TcpStream::connect(s.addr).await.expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\n").await.expect("line");
    let trickle = async {
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes()).await.is_err() {
                return true;
            }
        }
        false
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(5), trickle).await.unwrap_or(false),
        "the slow head was cut"
    );
    // An idle keep-alive connection is closed after its answer.
    let mut idle = TcpStream::connect(s.addr).await.expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n").await.expect("request");
    let raw = read_to_close(&mut idle, Duration::from_secs(5)).await.expect("the idle connection is closed");
    assert_eq!(responses(&raw).first().map(|r| r.0), Some(200), "{raw}");
}

async fn connections_over_the_cap_are_refused_early(backend: Backend) {
    let Some(s) =
        start(backend, "connections_over_the_cap_are_refused_early", &[("SNSPMT_MAX_CONNECTIONS", "8")])
            .await
    else {
        return;
    };
    // Eight keep-alive connections, each answered once and kept open.
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut c = TcpStream::connect(s.addr).await.expect("connect");
        c.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n").await.expect("request");
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).await.expect("answer");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
        held.push(c);
    }
    // The ninth is answered 503 at once, with Retry-After, and closed.
    let raw = exchange(s.addr, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n", Duration::from_secs(5))
        .await
        .expect("the refused connection is closed");
    let answers = responses(&raw);
    assert_eq!(answers.len(), 1, "{raw}");
    assert_eq!(answers[0].0, 503, "{raw}");
    assert_error_body(&answers[0].1, "too_many_connections");
    assert!(raw.to_ascii_lowercase().contains("\r\nretry-after: "), "{raw}");
    // Once the held connections have idled past the shedding age, a newcomer is served in the
    // place of the oldest, which is closed.
    tokio::time::sleep(snspmt_http::conns::SHED_MIN_AGE + Duration::from_millis(100)).await;
    let raw = exchange(s.addr, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n", Duration::from_secs(5))
        .await
        .unwrap_or_default();
    assert!(raw.starts_with("HTTP/1.1 200"), "an idle connection makes room: {raw}");
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), held[0].read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the oldest idle connection was closed: {closed:?}");
}

/// Trickling clients holding every slot do not lock the health probe out: the slowest make room.
async fn trickling_clients_at_the_cap_make_room(backend: Backend) {
    let Some(s) =
        start(backend, "trickling_clients_at_the_cap_make_room", &[("SNSPMT_MAX_CONNECTIONS", "16")]).await
    else {
        return;
    };
    let mut tricklers = Vec::new();
    for _ in 0..40 {
        let Ok(mut c) = TcpStream::connect(s.addr).await else { continue };
        let head = b"POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
        let _ = c.write_all(head).await;
        tricklers.push(c);
    }
    tokio::time::sleep(snspmt_http::conns::SHED_MIN_AGE + Duration::from_millis(100)).await;
    for _ in 0..5 {
        let raw =
            exchange(s.addr, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n", Duration::from_secs(5))
                .await
                .unwrap_or_default();
        assert!(raw.starts_with("HTTP/1.1 200"), "health beside 40 tricklers and a cap of 16: {raw}");
    }
}

async fn framing_errors_get_the_json_error_body(backend: Backend) {
    let Some(s) = start(backend, "framing_errors_get_the_json_error_body", &[]).await else { return };
    let many_headers = format!(
        "GET /health HTTP/1.1\r\nHost: t\r\n{}\r\n",
        (0..200).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()
    );
    let big_head = format!("GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "a".repeat(70_000));
    let cases: Vec<(String, u16, &str)> = vec![
        (
            "POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
                .into(),
            400,
            "invalid_content_length",
        ),
        (
            "POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n".into(),
            400,
            "invalid_content_length",
        ),
        (
            "POST /api/auth/login HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n".into(),
            400,
            "invalid_transfer_encoding",
        ),
        ("THIS IS NOT HTTP\r\n\r\n".into(), 400, "malformed_request"),
        ("GET /health HTTP/1.1\r\nBad Header: v\r\n\r\n".into(), 400, "malformed_request"),
        (many_headers, 431, "too_many_headers"),
        (big_head, 431, "headers_too_large"),
    ];
    for (request, status, code) in cases {
        let raw = exchange(s.addr, request.as_bytes(), Duration::from_secs(5))
            .await
            .expect("closed after the answer");
        let answers = responses(&raw);
        assert_eq!(answers.len(), 1, "{code}: {raw}");
        assert_eq!(answers[0].0, status, "{raw}");
        assert_error_body(&answers[0].1, code);
        assert!(raw.contains("content-type: application/json"), "{raw}");
    }
    // On a keep-alive connection: the valid request first is answered, then the error, then close.
    let pipelined = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n\
        POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}\
        GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    let raw = exchange(s.addr, pipelined.as_bytes(), Duration::from_secs(5)).await.expect("closed");
    let answers = responses(&raw);
    assert_eq!(answers.iter().map(|a| a.0).collect::<Vec<_>>(), [200, 400], "{raw}");
    assert_error_body(&answers[1].1, "invalid_content_length");
}

async fn valid_requests_still_pipeline_through_the_checks(backend: Backend) {
    let Some(s) = start(backend, "valid_requests_still_pipeline_through_the_checks", &[]).await else {
        return;
    };
    let login = r#"{"email":"nobody@example.com","password":"wrong-password"}"#;
    let request = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{login}\
         POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x};ext=1\r\n{login}\r\n0\r\nX-Trailer: t\r\n\r\n\
         GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        login.len(),
        login.len(),
    );
    let raw = exchange(s.addr, request.as_bytes(), Duration::from_secs(10)).await.expect("closed");
    let answers = responses(&raw);
    assert_eq!(answers.iter().map(|a| a.0).collect::<Vec<_>>(), [401, 401, 200], "{raw}");
    assert_eq!(answers[2].1["status"], "ok");
}

async fn cors_answers_listed_origins_only(backend: Backend) {
    let vars = [("SNSPMT_CORS_ORIGINS", "https://app.example, http://localhost:3000")];
    let Some(s) = start(backend, "cors_answers_listed_origins_only", &vars).await else { return };
    let preflight = |origin: &'static str, path: &'static str| {
        let s = &s;
        async move {
            s.raw(
                Method::OPTIONS,
                path,
                &[
                    ("origin", origin),
                    ("access-control-request-method", "PUT"),
                    ("access-control-request-headers", "authorization, content-type"),
                ],
                "",
            )
            .await
        }
    };
    let (status, h, _) = preflight("https://app.example", "/api/blog/posts/7").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-methods"], "GET, PUT, DELETE");
    let allowed = h["access-control-allow-headers"].to_str().expect("ascii").to_ascii_lowercase();
    for want in ["authorization", "content-type", "idempotency-key", "x-admin-token", "x-request-id"] {
        assert!(allowed.contains(want), "{want} in {allowed}");
    }
    assert!(h.contains_key("access-control-max-age"));
    assert!(h.get_all("vary").iter().any(|v| v == "Origin"));
    assert!(!h.contains_key("access-control-allow-credentials"), "no credentials mode");
    // Another origin: 403 with the JSON body, no CORS header.
    let (status, h, body) = preflight("https://evil.example", "/api/points").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error_body(&body, "cors_origin_not_allowed");
    assert!(!h.contains_key("access-control-allow-origin"));
    // Actual responses carry the origin and the exposed headers, success or error alike.
    for (path, status) in [("/api/health", StatusCode::OK), ("/api/points", StatusCode::UNAUTHORIZED)] {
        let (st, h, _) = s.raw(Method::GET, path, &[("origin", "http://localhost:3000")], "").await;
        assert_eq!(st, status);
        assert_eq!(h["access-control-allow-origin"], "http://localhost:3000");
        let exposed = h["access-control-expose-headers"].to_str().expect("ascii").to_ascii_lowercase();
        assert!(exposed.contains("x-request-id") && exposed.contains("retry-after"), "{exposed}");
    }
    let (_, h, _) = s.raw(Method::GET, "/api/health", &[("origin", "https://evil.example")], "").await;
    assert!(!h.contains_key("access-control-allow-origin"));
    // An OPTIONS that is no preflight is still 405.
    let (status, _, body) = s.raw(Method::OPTIONS, "/api/points", &[], "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_body(&body, "method_not_allowed");
    drop(s);

    // Without SNSPMT_CORS_ORIGINS: same-origin only, no CORS header at all.
    let Some(s) = start(backend, "cors_answers_listed_origins_only_off", &[]).await else { return };
    let (status, h, _) = s
        .raw(
            Method::OPTIONS,
            "/api/points",
            &[("origin", "https://app.example"), ("access-control-request-method", "GET")],
            "",
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!h.keys().any(|k| k.as_str().starts_with("access-control-")));
    let (_, h, _) = s.raw(Method::GET, "/api/health", &[("origin", "https://app.example")], "").await;
    assert!(!h.keys().any(|k| k.as_str().starts_with("access-control-") || k == "vary"), "{h:?}");
}

const DIRTY: &str = "<h2>Title</h2><p>Some <strong>bold</strong>, <em>em</em> and <code>code</code>.\
    <script>alert('x')</script></p><img src=\"https://cdn.example/a.png\" onerror=\"alert(1)\" alt=\"a\">\
    <a href=\"javascript:alert(2)\">bad</a><a href=\"https://example.com/\">good</a>\
    <ul><li>one</li></ul><pre>pre</pre><blockquote>quote</blockquote>\
    <table><thead><tr><th>h</th></tr></thead><tbody><tr><td>d</td></tr></tbody></table>\
    <div onclick=\"alert(3)\" style=\"x\">div</div><iframe src=\"https://evil.example\"></iframe>";

fn assert_clean(content: &str) {
    for bad in ["<script", "alert(", "onerror", "onclick", "javascript:", "<iframe", "style="] {
        assert!(!content.contains(bad), "{bad} left in {content}");
    }
    for kept in [
        "<h2>Title</h2>",
        "<strong>bold</strong>",
        "<em>em</em>",
        "<code>code</code>",
        "<img src=\"https://cdn.example/a.png\" alt=\"a\">",
        "href=\"https://example.com/\"",
        "<ul><li>one</li></ul>",
        "<pre>pre</pre>",
        "<blockquote>quote</blockquote>",
        "<th>h</th>",
        "<td>d</td>",
        "<p>",
    ] {
        assert!(content.contains(kept), "{kept} lost from {content}");
    }
}

async fn blog_html_is_sanitized_on_write_and_read(backend: Backend) {
    let Some(s) = start(backend, "blog_html_is_sanitized_on_write_and_read", &[]).await else { return };
    let (status, b) = s
        .call(
            Method::POST,
            "/api/blog/posts",
            Auth::Admin,
            Some(json!({"title": "t", "content": DIRTY, "is_published": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_clean(b["post"]["content"].as_str().expect("content"));
    let id = b["post"]["post_id"].as_i64().expect("id");
    // Stored clean: the row itself holds no script.
    let stored = s.store.blog_post(id).await.expect("read").expect("row");
    assert_clean(&stored.content);
    assert!(!stored.excerpt.contains("<script"), "{}", stored.excerpt);

    // A row written before sanitizing (straight into the store) is served clean.
    let old = snspmt_store::NewPost {
        title: "old".into(),
        content: DIRTY.into(),
        excerpt: "old".into(),
        category: String::new(),
        tags: Vec::new(),
        thumbnail_url: None,
        is_published: true,
    };
    let audit = snspmt_store::NewAudit {
        actor: "test".into(),
        action: "blog.create".into(),
        target: None,
        detail: "{}".into(),
    };
    let old = s.store.create_post(old, audit, Millis(1_700_000_000_000)).await.expect("old row");
    let (_, b) = s.call(Method::GET, &format!("/api/blog/posts/{}", old.post_id), Auth::None, None).await;
    assert_clean(b["post"]["content"].as_str().expect("content"));
    let (_, list) = s.call(Method::GET, "/api/blog/posts", Auth::None, None).await;
    for p in list["posts"].as_array().expect("posts") {
        assert_clean(p["content"].as_str().expect("content"));
    }
    let (_, list) = s.call(Method::GET, "/api/admin/blog/posts", Auth::Admin, None).await;
    assert_eq!(list["posts"].as_array().map(Vec::len), Some(2));
    for p in list["posts"].as_array().expect("posts") {
        assert_clean(p["content"].as_str().expect("content"));
    }
    // An update that leaves the content as it was stores the old row clean.
    let (status, b) = s
        .call(
            Method::PUT,
            &format!("/api/blog/posts/{}", old.post_id),
            Auth::Admin,
            Some(json!({"title": "o"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_clean(&s.store.blog_post(old.post_id).await.expect("read").expect("row").content);
}

// ---------------------------------------------------------------------------------------------
// Every admin write is audited.

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82";

/// Admin routes that write nothing although their method is not GET, and so leave no audit
/// row. None today: the SMM proxy's reads (`services`, `balance`, `status`) go through the
/// same POST route as its writes, and the walk calls it with a write (`add`).
const NOT_WRITES: &[(&str, &str)] = &[];

enum Body {
    Json(Value),
    Empty,
    Upload(Vec<u8>),
}

/// The successful call the walk makes for an admin write route; `None` for a route it does not
/// know (a new admin write needs a case here, and an audit row).
fn call_for(w: &World, method: &str, pattern: &str) -> Option<(String, Body)> {
    let path = |id: i64| pattern.replace("{id}", &id.to_string());
    let json = |v: Value| Body::Json(v);
    Some(match (method, pattern) {
        ("PUT", "/api/admin/users/{user_id}") => {
            (pattern.replace("{user_id}", "bob"), json(json!({"display_name": "Bob"})))
        }
        ("POST", "/api/admin/migrate-database") => (pattern.into(), Body::Empty),
        ("POST", "/api/smm-panel") => (
            pattern.into(),
            json(
                json!({"action": "add", "service": "1", "link": "https://instagram.com/p", "quantity": 100}),
            ),
        ),
        ("POST", "/api/admin/services") => (
            pattern.into(),
            json(json!({"provider_service_id": "2", "name": "likes", "category": "Instagram",
                "price_per_1000": 500, "min_quantity": 10, "max_quantity": 10_000})),
        ),
        ("POST", "/api/admin/services/import") => {
            (pattern.into(), json(json!({"usd_krw": 1400, "markup_bps": 5000})))
        }
        ("PUT", "/api/admin/services/{id}") => (path(w.service), json(json!({"name": "followers+"}))),
        ("DELETE", "/api/admin/services/{id}") => (path(w.spare_service), Body::Empty),
        ("PUT", "/api/orders/{id}/status") => (path(w.live_order), json(json!({"status": "canceled"}))),
        ("POST", "/api/admin/orders/{id}/resolve") => {
            (path(w.unknown_order), json(json!({"action": "fail"})))
        }
        ("PUT", "/api/admin/purchases/{id}") => (path(w.purchase), json(json!({"status": "approved"}))),
        ("POST", "/api/admin/purchases/{id}/settle") => {
            (path(w.unknown_purchase), json(json!({"tno": "23732987373372", "outcome": "approved"})))
        }
        ("POST", "/api/admin/packages") => (
            pattern.into(),
            json(json!({"name": "p2", "price": 50, "steps": [{"service_id": w.service, "quantity": 10}]})),
        ),
        ("PUT", "/api/admin/packages/{id}") => (path(w.package), json(json!({"name": "p1+"}))),
        ("DELETE", "/api/admin/packages/{id}") => (path(w.spare_package), Body::Empty),
        ("POST", "/api/admin/reprocess-package-orders") => (pattern.into(), Body::Empty),
        ("POST", "/api/admin/notices") => {
            (pattern.into(), json(json!({"title": "n2", "content": "c", "popup_type": "modal"})))
        }
        ("PUT", "/api/admin/notices/{id}") => (path(w.notice), json(json!({"title": "n1+"}))),
        ("DELETE", "/api/admin/notices/{id}") => (path(w.notice), Body::Empty),
        ("POST", "/api/blog/posts") => (pattern.into(), json(json!({"title": "b2", "content": "<p>x</p>"}))),
        ("PUT", "/api/blog/posts/{id}") => (path(w.post), json(json!({"title": "b1+"}))),
        ("DELETE", "/api/blog/posts/{id}") => (path(w.post), Body::Empty),
        ("POST", "/api/admin/upload-image") => {
            let mut body =
                b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\
                Content-Type: image/png\r\n\r\n"
                    .to_vec();
            body.extend_from_slice(PNG);
            body.extend_from_slice(b"\r\n--BOUNDARY--\r\n");
            (pattern.into(), Body::Upload(body))
        }
        ("POST", "/api/admin/coupons") => {
            (pattern.into(), json(json!({"code": "AUDIT2", "discount_type": "fixed", "discount_value": 100})))
        }
        ("PUT", "/api/admin/coupons/{id}") => (path(w.coupon), json(json!({"name": "c1+"}))),
        ("DELETE", "/api/admin/coupons/{id}") => (path(w.coupon), Body::Empty),
        ("POST", "/api/admin/referral/register") => {
            (pattern.into(), json(json!({"email": "carol@example.com"})))
        }
        ("POST", "/api/admin/referral/pay-commission") => {
            (pattern.into(), json(json!({"user_id": "alice", "amount": 100})))
        }
        ("PUT", "/api/admin/referral/update-commission-rate") => {
            (pattern.into(), json(json!({"email": "alice@example.com", "commission_rate_bps": 2000})))
        }
        ("POST", "/api/admin/process-withdrawal") => {
            (pattern.into(), json(json!({"request_id": w.withdrawal, "action": "approve"})))
        }
        ("DELETE", "/api/admin/api-keys/{id}") => (pattern.replace("{id}", &w.api_key), Body::Empty),
        ("PUT", "/api/admin/users/{user_id}/api-access") => {
            (pattern.replace("{user_id}", "bob"), json(json!({"enabled": false})))
        }
        ("PUT", "/api/admin/users/{user_id}/rates") => {
            (pattern.replace("{user_id}", "bob"), json(json!({"discount_bps": 500})))
        }
        ("PUT", "/api/admin/users/{user_id}/service-prices/{id}") => {
            (path(w.service).replace("{user_id}", "bob"), json(json!({"price_per_1000": 700})))
        }
        // Runs after the PUT above (ROUTES order), which gave bob a price to remove.
        ("DELETE", "/api/admin/users/{user_id}/service-prices/{id}") => {
            (path(w.service).replace("{user_id}", "bob"), Body::Empty)
        }
        _ => return None,
    })
}

async fn audit_total(s: &TestServer) -> (i64, Value) {
    let b = ok(s, Method::GET, "/api/admin/audit-log?limit=1", Auth::Admin, None).await;
    (b["total"].as_i64().expect("total"), b["entries"][0].clone())
}

async fn every_admin_write_is_audited(backend: Backend) {
    let smm = FakeSmm::start().await;
    let upload_dir = std::env::temp_dir().join(format!(
        "snspmt-hardening-edge-{}-{backend:?}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let dir = upload_dir.to_string_lossy().into_owned();
    let vars = [
        ("SMMKINGS_API_URL", smm.url.as_str()),
        ("SMMKINGS_API_KEY", fake_smm::FAKE_KEY),
        ("SNSPMT_UPSTREAM_TIMEOUT_MS", "500"),
        ("CRON_TOKEN", CRON_TOKEN),
        ("SNSPMT_UPLOAD_DIR", dir.as_str()),
    ];
    let Some(s) = start(backend, "every_admin_write_is_audited", &vars).await else { return };
    let w = world(&s, &smm).await;

    let mut walked = Vec::new();
    let mut unknown = Vec::new();
    for route in router::routes() {
        let (method, pattern) = (&route.method.as_str(), &route.pattern);
        if route.access != Access::Admin || *method == "GET" || NOT_WRITES.contains(&(*method, *pattern)) {
            continue;
        }
        let Some((path, body)) = call_for(&w, method, pattern) else {
            unknown.push(format!("{method} {pattern}"));
            continue;
        };
        let (before, _) = audit_total(&s).await;
        let m: Method = method.parse().expect("method");
        let (status, answer) = match body {
            Body::Json(v) => s.call(m, &path, Auth::Admin, Some(v)).await,
            Body::Empty => s.call(m, &path, Auth::Admin, None).await,
            Body::Upload(bytes) => {
                let headers = [
                    ("content-type", "multipart/form-data; boundary=BOUNDARY"),
                    ("x-admin-token", ADMIN_TOKEN),
                ];
                let (status, _, json) = s.raw(m, &path, &headers, bytes).await;
                (status, json)
            }
        };
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        let (after, newest) = audit_total(&s).await;
        assert!(after > before, "{method} {pattern} succeeded without an audit row ({answer})");
        let text = newest.to_string();
        assert!(newest["action"].as_str().is_some_and(|a| !a.is_empty()), "{text}");
        assert!(
            !text.contains(fake_smm::FAKE_KEY) && !text.contains(ADMIN_TOKEN),
            "a secret in the audit: {text}"
        );
        walked.push(format!("{method} {pattern}"));
    }
    assert!(unknown.is_empty(), "admin writes the audit walk does not know (add a case): {unknown:?}");
    assert!(walked.len() >= 28, "{walked:?}");
    let _ = std::fs::remove_dir_all(&upload_dir);
}
