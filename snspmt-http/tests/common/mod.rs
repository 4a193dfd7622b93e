//! A real server on 127.0.0.1:0 over SQLite or PostgreSQL, and a small JSON client.

#![allow(dead_code)]

pub mod browser;
pub mod fake_kcp;
pub mod fake_oauth;
pub mod fake_smm;
pub mod openapi;
pub mod world;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use snspmt_http::{App, Config};
use snspmt_store::testing::{postgres_url, PgTestSchema};
use snspmt_store::{Maintenance, Millis, SqliteStore, Store};
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server. Dropping it stops the server (and drops its PostgreSQL schema).
pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    /// Every mail the server sent (the server's mailer is this outbox).
    pub outbox: Arc<Outbox>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
    _schema: Option<PgTestSchema>,
}

impl TestServer {
    /// Starts a server, or `None` when the backend is PostgreSQL and none is configured.
    pub async fn start(backend: Backend, test: &str) -> Option<TestServer> {
        Self::start_with(backend, test, &[]).await
    }

    pub async fn start_with(backend: Backend, test: &str, vars: &[(&str, &str)]) -> Option<TestServer> {
        Self::start_app(backend, test, vars, |app| app).await
    }

    /// Starts a server whose `App` the test may change before it serves (another clock, a
    /// wrapped upstream transport).
    pub async fn start_app(
        backend: Backend,
        test: &str,
        vars: &[(&str, &str)],
        customize: impl FnOnce(App) -> App,
    ) -> Option<TestServer> {
        let (store, schema): (Arc<dyn Store>, _) = match backend {
            Backend::Sqlite => {
                let s = SqliteStore::open_temporary().expect("sqlite");
                s.migrate(Millis(0)).await.expect("migrate");
                (Arc::new(s), None)
            }
            Backend::Postgres => {
                let url = postgres_url(test)?;
                let schema = PgTestSchema::create(&url, 16).await.expect("postgres schema");
                (Arc::new(schema.store.clone()), Some(schema))
            }
        };
        // Bound first, so that a variable may name the server's own address (`{addr}`).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
        // Only errors: `cargo test` stays quiet (a failing test's own output says what happened).
        env.insert("SNSPMT_LOG".into(), "error".into());
        // Tests register many users from 127.0.0.1: no rate limits unless a test sets them.
        env.insert("SNSPMT_LOGIN_RATE".into(), "0".into());
        env.insert("SNSPMT_REGISTER_RATE".into(), "0".into());
        env.insert("SNSPMT_API_RATE".into(), "0".into());
        for (k, v) in vars {
            env.insert((*k).into(), v.replace("{addr}", &addr.to_string()));
        }
        let config =
            Config::from_lookup(|k| env.get(k).cloned(), || unreachable!("token set")).expect("config");
        let outbox = Arc::new(Outbox::default());
        let app = Arc::new(customize(App::new(store.clone(), config).with_mailer(outbox.clone())));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(snspmt_http::serve(listener, app, async move {
            let _ = rx.await;
        }));
        let client = Client::builder(TokioExecutor::new()).build_http();
        Some(TestServer { addr, store, outbox, client, stop: Some(tx), _schema: schema })
    }

    /// Sends a request with a raw body; answers the status, headers and JSON body
    /// (`Value::Null` when the body is not JSON).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (StatusCode, HeaderMap, Value) {
        let (status, headers, bytes) = self.raw_bytes(method, path, headers, body).await;
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, json)
    }

    /// Like [`TestServer::raw`], with the body as bytes (HTML, XML, images).
    pub async fn raw_bytes(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut req = Request::builder().method(method).uri(format!("http://{}{}", self.addr, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).expect("request");
        let resp = self.client.request(req).await.expect("response");
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (parts.status, parts.headers, bytes)
    }

    /// Declares a body of `len` bytes, sends only its first kilobyte, and answers the status the
    /// server gives (a server may refuse an oversized body before reading it, so the client
    /// must not insist on writing it all).
    pub async fn oversized(&self, path: &str, len: usize, headers: &[(&str, &str)]) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.expect("connect");
        let mut head = format!("POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {len}\r\n", self.addr);
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.expect("head");
        let _ = stream.write_all(&vec![b'x'; 1024.min(len)]).await;
        let mut buf = vec![0u8; 1024];
        let n = stream.read(&mut buf).await.expect("answer");
        let text = String::from_utf8_lossy(&buf[..n]);
        text.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status line")
    }

    /// A JSON request as a user (`token`), the admin (`admin`), or nobody.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bearer;
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        match auth {
            Auth::None => {}
            Auth::Bearer(t) => {
                bearer = format!("Bearer {t}");
                headers.push(("authorization", bearer.as_str()));
            }
            Auth::Admin => headers.push(("x-admin-token", ADMIN_TOKEN)),
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, _, json) = self.raw(method, path, &headers, body).await;
        (status, json)
    }

    /// Registers `user_id` (e-mail `<user_id>@example.test`, no password) and returns its
    /// session token.
    /// A service for the fake panel's service `provider` at `price_per_1000` points (min 10,
    /// max 100,000, category Instagram), with the fields of `extra` over those; answers its id.
    pub async fn create_service(&self, provider: &str, price_per_1000: i64, extra: Value) -> i64 {
        let mut body = serde_json::json!({
            "provider_service_id": provider, "name": format!("service {provider}"), "category": "Instagram",
            "price_per_1000": price_per_1000, "min_quantity": 10, "max_quantity": 100000,
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, b) = self.call(Method::POST, "/api/admin/services", Auth::Admin, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{b}");
        b["service"]["service_id"].as_i64().expect("service id")
    }

    /// An order as the operator sees it.
    pub async fn admin_order(&self, id: i64) -> Value {
        let (status, b) = self.call(Method::GET, &format!("/api/orders/{id}"), Auth::Admin, None).await;
        assert_eq!(status, StatusCode::OK, "{b}");
        b["order"].clone()
    }

    /// Waits until the order's submission settled (it left `pending` and `submitting`).
    pub async fn settled_order(&self, id: i64) -> Value {
        for _ in 0..500 {
            let o = self.admin_order(id).await;
            if !matches!(o["status"].as_str(), Some("pending" | "submitting")) {
                return o;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("order {id} never settled: {}", self.admin_order(id).await);
    }

    /// A registered user credited with `points`; answers their session token.
    pub async fn customer(&self, user_id: &str, points: i64) -> String {
        let token = self.register(user_id).await;
        if points > 0 {
            assert_eq!(self.adjust(user_id, points).await.0, StatusCode::OK);
        }
        token
    }

    pub async fn register(&self, user_id: &str) -> String {
        let body = serde_json::json!({"user_id": user_id, "email": format!("{user_id}@example.test")});
        let (status, body) = self.call(Method::POST, "/api/register", Auth::None, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "register {user_id}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Verifies `email` with the token of the last verification mail sent to it.
    pub async fn verify_email(&self, email: &str) {
        let token =
            self.outbox.last_token(email).unwrap_or_else(|| panic!("no verification mail to {email}"));
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/verify-email",
                Auth::None,
                Some(serde_json::json!({"token": token})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "verify {email}: {body}");
    }

    /// Credits (or debits) a user through the admin API.
    pub async fn adjust(&self, user_id: &str, amount: i64) -> (StatusCode, Value) {
        self.call(
            Method::PUT,
            &format!("/api/admin/users/{user_id}"),
            Auth::Admin,
            Some(serde_json::json!({"points_adjustment": amount, "reason": "test"})),
        )
        .await
    }

    /// Posts a KCP `Ret_URL` form body; answers the result named in the 303's redirect.
    pub async fn kcp_return(&self, body: Vec<u8>) -> String {
        let content_type = [("content-type", "application/x-www-form-urlencoded")];
        let (status, headers, _) =
            self.raw(Method::POST, "/api/points/purchase-kcp/return", &content_type, body).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let location = headers.get("location").and_then(|v| v.to_str().ok()).expect("location").to_owned();
        assert!(location.contains("/points?ordr_idxx="), "{location}");
        location.rsplit("result=").next().unwrap_or_default().to_owned()
    }

    /// Purchase `id` as the admin list shows it.
    pub async fn admin_purchase(&self, id: i64) -> Value {
        let (_, b) = self.call(Method::GET, "/api/admin/purchases?limit=200", Auth::Admin, None).await;
        b["purchases"]
            .as_array()
            .expect("list")
            .iter()
            .find(|p| p["purchase_id"] == id)
            .cloned()
            .expect("purchase")
    }

    pub async fn points(&self, token: &str) -> i64 {
        let (status, body) = self.call(Method::GET, "/api/points", Auth::Bearer(token), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["points"].as_i64().expect("points")
    }

    /// Every balance equals the sum of its ledger rows, and none is negative.
    pub async fn assert_ledger_consistent(&self) {
        let mismatches = self.store.ledger_mismatches().await.expect("mismatches");
        assert!(mismatches.is_empty(), "balance != ledger sum: {mismatches:?}");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A mailer that keeps what it is given.
#[derive(Default)]
pub struct Outbox {
    pub mails: std::sync::Mutex<Vec<snspmt_http::mailer::Mail>>,
}

impl Outbox {
    pub fn to(&self, email: &str) -> Vec<snspmt_http::mailer::Mail> {
        self.mails.lock().expect("outbox").iter().filter(|m| m.to == email).cloned().collect()
    }

    /// The `token` of the link in the last mail to `email`.
    pub fn last_token(&self, email: &str) -> Option<String> {
        let link = self.to(email).pop()?.link?;
        let (_, query) = link.split_once('?')?;
        form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned())
    }
}

impl snspmt_http::mailer::Mailer for Outbox {
    fn send(&self, mail: &snspmt_http::mailer::Mail) -> Result<(), String> {
        self.mails.lock().map_err(|_| "poisoned".to_owned())?.push(mail.clone());
        Ok(())
    }
}

#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Admin,
}

/// The error body of §4: `error`, `message` and `code` are all strings.
pub fn assert_error_body(body: &Value, code: &str) {
    assert_eq!(body["code"].as_str(), Some(code), "body: {body}");
    assert!(body["error"].is_string() && body["message"].is_string(), "error body shape: {body}");
}

/// Generates one test per backend for each `async fn case(server: TestServer)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(s) = $crate::common::TestServer::start($crate::common::Backend::Sqlite, stringify!($case)).await
                    else { return };
                    super::$case(s).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(s) = $crate::common::TestServer::start($crate::common::Backend::Postgres, stringify!($case)).await
                    else { return };
                    super::$case(s).await;
                }
            )*
        }
    };
}

/// A server wired to a fresh fake SMM panel (upstream timeout 500 ms).
pub struct Harness {
    pub server: TestServer,
    pub smm: fake_smm::FakeSmm,
}

impl Harness {
    pub async fn start(backend: Backend, test: &str) -> Option<Harness> {
        Self::start_app(backend, test, |app| app).await
    }

    /// A harness whose server reads a clock the test moves, starting at `start`.
    pub async fn with_clock(
        backend: Backend,
        test: &str,
        start: i64,
    ) -> Option<(Harness, Arc<snspmt_http::clock::ManualClock>)> {
        let clock = Arc::new(snspmt_http::clock::ManualClock::new(Millis(start)));
        let c = clock.clone();
        let h = Self::start_app(backend, test, move |app| app.with_clock(c)).await?;
        Some((h, clock))
    }

    pub async fn start_app(
        backend: Backend,
        test: &str,
        customize: impl FnOnce(App) -> App,
    ) -> Option<Harness> {
        let smm = fake_smm::FakeSmm::start().await;
        let vars = [
            ("SMMKINGS_API_URL", smm.url.as_str()),
            ("SMMKINGS_API_KEY", fake_smm::FAKE_KEY),
            ("SNSPMT_UPSTREAM_TIMEOUT_MS", "500"),
            ("CRON_TOKEN", CRON_TOKEN),
        ];
        let server = TestServer::start_app(backend, test, &vars, customize).await?;
        Some(Harness { server, smm })
    }
}

pub const CRON_TOKEN: &str = "test-cron-token-0123456789";

/// Generates one test per backend for each `async fn case(h: Harness)`.
#[macro_export]
macro_rules! on_both_backends_with_smm {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(h) = $crate::common::Harness::start($crate::common::Backend::Sqlite, stringify!($case)).await
                    else { return };
                    super::$case(h).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(h) = $crate::common::Harness::start($crate::common::Backend::Postgres, stringify!($case)).await
                    else { return };
                    super::$case(h).await;
                }
            )*
        }
    };
}

/// A server wired to a fresh fake KCP (upstream timeout 500 ms).
pub struct KcpHarness {
    pub server: TestServer,
    pub kcp: fake_kcp::FakeKcp,
}

impl KcpHarness {
    pub async fn start(backend: Backend, test: &str) -> Option<KcpHarness> {
        let kcp = fake_kcp::FakeKcp::start().await;
        let vars = [
            ("KCP_SITE_CD", fake_kcp::SITE_CD),
            ("KCP_CERT_INFO", fake_kcp::CERT_INFO),
            ("KCP_REGISTER_URL", kcp.register_url.as_str()),
            ("KCP_PAYMENT_URL", kcp.payment_url.as_str()),
            ("SNSPMT_PUBLIC_URL", "https://panel.example"),
            ("SNSPMT_UPSTREAM_TIMEOUT_MS", "500"),
        ];
        let server = TestServer::start_with(backend, test, &vars).await?;
        Some(KcpHarness { server, kcp })
    }
}

/// Generates one test per backend for each `async fn case(h: KcpHarness)`.
#[macro_export]
macro_rules! on_both_backends_with_kcp {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(h) = $crate::common::KcpHarness::start($crate::common::Backend::Sqlite, stringify!($case)).await
                    else { return };
                    super::$case(h).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(h) = $crate::common::KcpHarness::start($crate::common::Backend::Postgres, stringify!($case)).await
                    else { return };
                    super::$case(h).await;
                }
            )*
        }
    };
}

/// A server wired to a fresh fake Kakao and Google (upstream timeout 500 ms), uploading into a
/// directory of its own.
pub struct OauthHarness {
    pub server: TestServer,
    pub oauth: fake_oauth::FakeOauth,
    pub upload_dir: std::path::PathBuf,
}

pub const PUBLIC_URL: &str = "https://panel.example";

impl OauthHarness {
    pub async fn start(backend: Backend, test: &str) -> Option<OauthHarness> {
        Self::start_app(backend, test, |app| app).await
    }

    pub async fn start_app(
        backend: Backend,
        test: &str,
        customize: impl FnOnce(App) -> App,
    ) -> Option<OauthHarness> {
        let oauth = fake_oauth::FakeOauth::start().await;
        let upload_dir = std::env::temp_dir().join(format!(
            "snspmt-uploads-{}-{test}-{:?}-{}",
            std::process::id(),
            backend,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let (tokeninfo, token) = (oauth.tokeninfo_url(), oauth.token_url());
        let dir = upload_dir.to_string_lossy().into_owned();
        let vars = [
            ("KAKAO_API_URL", oauth.url.as_str()),
            ("KAKAO_APP_ID", fake_oauth::KAKAO_APP_ID),
            ("GOOGLE_CLIENT_ID", fake_oauth::GOOGLE_CLIENT_ID),
            ("GOOGLE_CLIENT_SECRET", fake_oauth::GOOGLE_CLIENT_SECRET),
            ("GOOGLE_TOKENINFO_URL", tokeninfo.as_str()),
            ("GOOGLE_TOKEN_URL", token.as_str()),
            ("SNSPMT_PUBLIC_URL", PUBLIC_URL),
            ("SNSPMT_UPLOAD_DIR", dir.as_str()),
            ("SNSPMT_UPSTREAM_TIMEOUT_MS", "500"),
        ];
        let server = TestServer::start_app(backend, test, &vars, customize).await?;
        Some(OauthHarness { server, oauth, upload_dir })
    }
}

impl Drop for OauthHarness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.upload_dir);
    }
}

/// Generates one test per backend for each `async fn case(h: OauthHarness)`.
#[macro_export]
macro_rules! on_both_backends_with_oauth {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(h) = $crate::common::OauthHarness::start($crate::common::Backend::Sqlite, stringify!($case)).await
                    else { return };
                    super::$case(h).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(h) = $crate::common::OauthHarness::start($crate::common::Backend::Postgres, stringify!($case)).await
                    else { return };
                    super::$case(h).await;
                }
            )*
        }
    };
}

/// Generates `mod case { fn sqlite(); fn postgres() }` for each `async fn case(backend: Backend)`.
#[macro_export]
macro_rules! on_each_backend {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$case($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$case($crate::common::Backend::Postgres).await;
            }
        }
    )*};
}
