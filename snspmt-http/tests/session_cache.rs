//! The session cache (issue 16): a revoked session or a changed user is seen at once by the
//! process that changed it, a balance is never served older than the last posting of this
//! process, and what another process (a second store on the same database) changes is seen
//! when the cache's TTL has passed. The price cache beside it keeps the same promises.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use snspmt_core::{LedgerKind, Points};
use snspmt_http::clock::ManualClock;
use snspmt_http::{App, Config};
use snspmt_store::testing::{postgres_url, PgTestSchema};
use snspmt_store::Millis;
use snspmt_store::{Maintenance, PgStore, Posting, SqliteStore, Store};
use tokio::sync::oneshot;

const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
const START: i64 = 1_800_000_000_000;

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A server over one store, with a manual clock, and a second store on the same database (what
/// another server process would write through).
struct Server {
    addr: SocketAddr,
    app: Arc<App>,
    clock: Arc<ManualClock>,
    other: Arc<dyn Store>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
    _schema: Option<PgTestSchema>,
    _file: Option<TempFile>,
}

struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Server {
    async fn start(backend: Backend, test: &str, vars: &[(&str, &str)]) -> Option<Server> {
        let (store, other, schema, file): (Arc<dyn Store>, Arc<dyn Store>, _, _) = match backend {
            Backend::Sqlite => {
                let path =
                    std::env::temp_dir().join(format!("snspmt-cache-{test}-{}.db", std::process::id()));
                let file = TempFile(path.clone());
                let path = path.to_str().expect("utf-8 path").to_owned();
                let store = SqliteStore::open(&path).expect("sqlite");
                store.migrate(Millis(0)).await.expect("migrate");
                let other = SqliteStore::open(&path).expect("second sqlite");
                (Arc::new(store), Arc::new(other), None, Some(file))
            }
            Backend::Postgres => {
                let url = postgres_url(test)?;
                let schema = PgTestSchema::create(&url, 8).await.expect("postgres schema");
                let other = PgStore::connect(&schema.url_with_search_path(), 2).await.expect("second pool");
                (Arc::new(schema.store.clone()), Arc::new(other), Some(schema), None)
            }
        };
        let mut env: HashMap<String, String> = HashMap::new();
        for (k, v) in [
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("SNSPMT_LOG", "error"),
            ("SNSPMT_LOGIN_RATE", "0"),
            ("SNSPMT_REGISTER_RATE", "0"),
            ("SNSPMT_WORKERS", "0"),
        ]
        .into_iter()
        .chain(vars.iter().copied())
        {
            env.insert(k.into(), v.into());
        }
        let config =
            Config::from_lookup(|k| env.get(k).cloned(), || unreachable!("token set")).expect("config");
        let clock = Arc::new(ManualClock::new(Millis(START)));
        let app = Arc::new(App::new(store, config).with_clock(clock.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(snspmt_http::serve(listener, app.clone(), async move {
            let _ = rx.await;
        }));
        Some(Server {
            addr,
            app,
            clock,
            other,
            client: Client::builder(TokioExecutor::new()).build_http(),
            stop: Some(tx),
            _schema: schema,
            _file: file,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("content-type", "application/json");
        match bearer {
            Some(t) => req = req.header("authorization", format!("Bearer {t}")),
            None => req = req.header("x-admin-token", ADMIN_TOKEN),
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let resp = self
            .client
            .request(req.body(Full::new(Bytes::from(body))).expect("request"))
            .await
            .expect("answer");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn register(&self, user_id: &str) -> String {
        let body = json!({"user_id": user_id, "email": format!("{user_id}@example.test")});
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("http://{}/api/register", self.addr))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let resp = self.client.request(req).await.expect("answer");
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        v["token"].as_str().expect("token").to_owned()
    }

    async fn admin_update(&self, user_id: &str, body: Value) {
        let (status, b) =
            self.call(Method::PUT, &format!("/api/admin/users/{user_id}"), None, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{b}");
    }

    async fn points(&self, token: &str) -> (StatusCode, i64) {
        let (status, body) = self.call(Method::GET, "/api/points", Some(token), None).await;
        (status, body["points"].as_i64().unwrap_or(-1))
    }

    fn credit(user_id: &str, amount: i64, event: &str) -> Posting {
        Posting {
            user_id: user_id.into(),
            kind: LedgerKind::AdminAdjust,
            amount: Points(amount),
            reference: None,
            description: "test".into(),
            event_ref: Some(event.into()),
            audit: None,
        }
    }
}

async fn logout_revokes_at_once(s: Server) {
    let token = s.register("kim").await;
    let other = s.register("lee").await;
    assert_eq!(s.points(&token).await, (StatusCode::OK, 0));
    assert_eq!(
        s.app.sessions.get(&snspmt_http::auth::token_hash(&token), Millis(START)).map(|u| u.user_id),
        Some("kim".into())
    );
    let (status, _) = s.call(Method::POST, "/api/auth/logout", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s.points(&token).await.0,
        StatusCode::UNAUTHORIZED,
        "the cached session is gone with the logout"
    );
    assert_eq!(s.points(&other).await, (StatusCode::OK, 0), "another session stays");
}

async fn admin_changes_are_seen_at_once(s: Server) {
    let token = s.register("kim").await;
    let (status, _) = s.call(Method::GET, "/api/admin/users", Some(&token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    s.admin_update("kim", json!({"is_admin": true})).await;
    let (status, body) = s.call(Method::GET, "/api/admin/users", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "made admin, at once: {body}");
    s.admin_update("kim", json!({"is_admin": false})).await;
    let (status, _) = s.call(Method::GET, "/api/admin/users", Some(&token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no longer admin, at once");
    // A credit by the admin is the balance at once.
    s.admin_update("kim", json!({"points_adjustment": 500, "reason": "test"})).await;
    assert_eq!(s.points(&token).await, (StatusCode::OK, 500));
}

async fn balances_are_written_through(s: Server) {
    let token = s.register("kim").await;
    s.admin_update("kim", json!({"points_adjustment": 1_000, "reason": "test"})).await;
    assert_eq!(s.points(&token).await, (StatusCode::OK, 1_000));
    for (i, expected) in [(0, 993), (1, 986)] {
        let key = format!("k{i}");
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("http://{}/api/points/deduct", s.addr))
            .header("authorization", format!("Bearer {token}"))
            .header("idempotency-key", key.as_str())
            .body(Full::new(Bytes::from(json!({"amount": 7}).to_string())))
            .expect("request");
        assert_eq!(s.client.request(req).await.expect("answer").status(), StatusCode::OK);
        assert_eq!(s.points(&token).await, (StatusCode::OK, expected));
    }
    let (status, _) =
        s.call(Method::POST, "/api/points/deduct", Some(&token), Some(json!({"amount": 6}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.points(&token).await, (StatusCode::OK, 980));
    // Refused: the balance stays, cached or not.
    let (status, _) =
        s.call(Method::POST, "/api/points/deduct", Some(&token), Some(json!({"amount": 981}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(s.points(&token).await, (StatusCode::OK, 980));
    // A posting of this process outside any request (a job, a refund) is seen too.
    s.app.store.post(Server::credit("kim", 20, "job:1"), None, Millis(START)).await.expect("post");
    assert_eq!(s.points(&token).await, (StatusCode::OK, 1_000));
}

async fn another_process_is_seen_after_the_ttl(s: Server) {
    let token = s.register("kim").await;
    assert_eq!(s.points(&token).await, (StatusCode::OK, 0));
    // Another process credits kim and revokes the session: not told to this one.
    s.other.post(Server::credit("kim", 300, "other:1"), None, Millis(START)).await.expect("post");
    assert_eq!(s.points(&token).await, (StatusCode::OK, 0), "cached");
    s.clock.advance(4_999);
    assert_eq!(s.points(&token).await, (StatusCode::OK, 0), "still within the TTL");
    s.clock.advance(1);
    assert_eq!(s.points(&token).await, (StatusCode::OK, 300), "reloaded after the TTL");
    assert!(s.other.revoke_session(&snspmt_http::auth::token_hash(&token)).await.expect("revoke"));
    s.clock.advance(5_000);
    assert_eq!(s.points(&token).await.0, StatusCode::UNAUTHORIZED, "revoked elsewhere, seen after the TTL");
}

async fn cache_off_reads_every_time(s: Server) {
    assert!(!s.app.sessions.enabled());
    let token = s.register("kim").await;
    assert_eq!(s.points(&token).await, (StatusCode::OK, 0));
    s.other.post(Server::credit("kim", 300, "other:1"), None, Millis(START)).await.expect("post");
    assert_eq!(s.points(&token).await, (StatusCode::OK, 300), "no cache: read at once");
    assert!(s.app.sessions.is_empty());
}

async fn bounded_in_size(s: Server) {
    let mut tokens = Vec::new();
    for i in 0..6 {
        let token = s.register(&format!("u{i}")).await;
        assert_eq!(s.points(&token).await, (StatusCode::OK, 0));
        let (sessions, users) = s.app.sessions.len();
        assert!(sessions <= 3 && users <= 3, "{sessions} sessions, {users} users");
        tokens.push(token);
    }
    // Every session still works (read again when it was dropped).
    for token in &tokens {
        assert_eq!(s.points(token).await, (StatusCode::OK, 0));
    }
}

/// The price cache: what this process changes (a service's price, a user's discount or own
/// price, a service taken off sale) is charged at once; what another process changes, after
/// the TTL.
async fn prices_are_revoked_through_and_expire(s: Server) {
    let s = &s;
    let token = s.register("kim").await;
    s.admin_update("kim", json!({"points_adjustment": 100_000, "reason": "test"})).await;
    let service = json!({"provider_service_id": "1", "name": "likes", "category": "Instagram",
        "price_per_1000": 1000, "min_quantity": 10, "max_quantity": 100000});
    let (status, b) = s.call(Method::POST, "/api/admin/services", None, Some(service)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let svc = b["service"]["service_id"].as_i64().expect("service id");
    let charged = || async {
        let order = json!({"service_id": svc, "link": "https://instagram.com/kim", "quantity": 1000});
        let (status, b) = s.call(Method::POST, "/api/orders", Some(&token), Some(order)).await;
        (status == StatusCode::OK).then(|| b["final_price"].as_i64().expect("final price"))
    };
    let admin = move |method: Method, path: String, body: Value| async move {
        let (status, b) = s.call(method, &path, None, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {b}");
    };
    assert_eq!(charged().await, Some(1000));
    assert!(!s.app.prices.is_empty(), "the book and the service are kept");
    admin(Method::PUT, format!("/api/admin/services/{svc}"), json!({"price_per_1000": 2000})).await;
    assert_eq!(charged().await, Some(2000), "a new catalogue price, at once");
    admin(Method::PUT, "/api/admin/users/kim/rates".into(), json!({"discount_bps": 1000})).await;
    assert_eq!(charged().await, Some(1800), "a new discount, at once");
    let own = format!("/api/admin/users/kim/service-prices/{svc}");
    admin(Method::PUT, own, json!({"price_per_1000": 700})).await;
    assert_eq!(charged().await, Some(700), "an own price, at once");
    // Another process changes kim's price and takes the service off sale: not told to this one.
    let audit = || snspmt_store::NewAudit {
        actor: "test".into(),
        action: "test".into(),
        target: None,
        detail: "{}".into(),
    };
    let now = Millis(START);
    s.other.set_service_price("kim", svc, Points(300), audit(), now).await.expect("price elsewhere");
    assert_eq!(charged().await, Some(700), "cached");
    s.clock.advance(4_999);
    assert_eq!(charged().await, Some(700), "still within the TTL");
    s.clock.advance(1);
    assert_eq!(charged().await, Some(300), "reloaded after the TTL");
    let mut off = s.app.store.service(svc).await.expect("read").expect("service");
    off.is_active = false;
    let off = snspmt_store::NewService {
        provider_service_id: off.provider_service_id,
        name: off.name,
        category: off.category,
        platform: off.platform,
        service_type: off.service_type,
        price_per_1000: off.price_per_1000,
        min_quantity: off.min_quantity,
        max_quantity: off.max_quantity,
        dripfeed: off.dripfeed,
        refill: off.refill,
        cancel: off.cancel,
        is_active: false,
        description: off.description,
    };
    s.other.update_service(svc, off, audit(), now).await.expect("off sale elsewhere");
    assert_eq!(charged().await, Some(300), "still on sale here, within the TTL");
    s.clock.advance(5_000);
    assert_eq!(charged().await, None, "off sale, seen after the TTL");
}

/// With the cache off, every order reads its prices.
async fn prices_uncached_are_read_every_time(s: Server) {
    let token = s.register("kim").await;
    s.admin_update("kim", json!({"points_adjustment": 100_000, "reason": "test"})).await;
    let service = json!({"provider_service_id": "1", "name": "likes", "category": "Instagram",
        "price_per_1000": 1000, "min_quantity": 10, "max_quantity": 100000});
    let (_, b) = s.call(Method::POST, "/api/admin/services", None, Some(service)).await;
    let svc = b["service"]["service_id"].as_i64().expect("service id");
    let order = json!({"service_id": svc, "link": "https://instagram.com/kim", "quantity": 1000});
    let (_, b) = s.call(Method::POST, "/api/orders", Some(&token), Some(order.clone())).await;
    assert_eq!(b["final_price"], 1000, "{b}");
    let audit =
        snspmt_store::NewAudit { actor: "t".into(), action: "t".into(), target: None, detail: "{}".into() };
    s.other.set_service_price("kim", svc, Points(300), audit, Millis(START)).await.expect("price elsewhere");
    let (_, b) = s.call(Method::POST, "/api/orders", Some(&token), Some(order)).await;
    assert_eq!(b["final_price"], 300, "no cache: read at once: {b}");
    assert!(s.app.prices.is_empty());
}

macro_rules! both {
    ($($case:ident $(, $var:literal = $val:literal)*);* $(;)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(s) = super::Server::start(super::Backend::Sqlite, stringify!($case), &[$(($var, $val)),*]).await
                    else { return };
                    super::$case(s).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(s) = super::Server::start(super::Backend::Postgres, stringify!($case), &[$(($var, $val)),*]).await
                    else { return };
                    super::$case(s).await;
                }
            )*
        }
    };
}

both! {
    logout_revokes_at_once;
    admin_changes_are_seen_at_once;
    balances_are_written_through;
    another_process_is_seen_after_the_ttl, "SNSPMT_SESSION_CACHE_SECS" = "5";
    cache_off_reads_every_time, "SNSPMT_SESSION_CACHE_SECS" = "0";
    bounded_in_size, "SNSPMT_SESSION_CACHE_SIZE" = "3";
    prices_are_revoked_through_and_expire, "SNSPMT_SESSION_CACHE_SECS" = "5";
    prices_uncached_are_read_every_time, "SNSPMT_SESSION_CACHE_SECS" = "0";
}
