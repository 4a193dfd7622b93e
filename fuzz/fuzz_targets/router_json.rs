//! Arbitrary bodies through the whole request pipeline (router, authentication, body limit,
//! JSON parsing, handlers, SQLite store) of every POST and PUT route: the answer is never a
//! 500, and an error always has the `{"error", "message", "code"}` body.
#![no_main]

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use libfuzzer_sys::fuzz_target;
use snspmt_http::{App, Config};
use snspmt_store::{Maintenance, Millis, SqliteStore};

const ADMIN: &str = "fuzz-admin-token-0123456789";

struct World {
    rt: tokio::runtime::Runtime,
    app: Arc<App>,
    token: String,
    routes: Vec<(Method, String)>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let store = SqliteStore::open_temporary().expect("store");
        rt.block_on(store.migrate(Millis::EPOCH)).expect("migrate");
        let vars = [("ADMIN_TOKEN", ADMIN), ("SNSPMT_LOG", "warn")];
        let config = Config::from_lookup(
            |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()),
            String::new,
        )
        .expect("config");
        let app = Arc::new(App::new(Arc::new(store), config));
        let register = Request::post("/api/register")
            .body(Full::new(Bytes::from_static(b"{\"user_id\":\"fuzz\",\"email\":\"fuzz@example.test\"}")))
            .expect("request");
        let resp = rt.block_on(snspmt_http::server::handle(&app, register));
        let body = rt.block_on(resp.into_body().collect()).expect("body").to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let token = json["token"].as_str().expect("token").to_owned();
        let routes = snspmt_http::router::routes()
            .filter(|r| matches!(r.method.as_str(), "POST" | "PUT") && !r.pattern.contains("upload"))
            .map(|r| (r.method.clone(), r.pattern.replace("{user_id}", "fuzz").replace("{id}", "1")))
            .collect();
        World { rt, app, token, routes }
    })
}

fuzz_target!(|input: (u8, u8, Vec<u8>)| {
    let w = world();
    let (route, auth, body) = input;
    let (method, path) = &w.routes[usize::from(route) % w.routes.len()];
    let mut req = Request::builder().method(method.clone()).uri(path.as_str());
    req = match auth % 3 {
        0 => req.header("authorization", format!("Bearer {}", w.token)),
        1 => req.header("x-admin-token", ADMIN),
        _ => req,
    };
    let Ok(req) = req.body(Full::new(Bytes::from(body))) else { return };
    let resp = w.rt.block_on(snspmt_http::server::handle(&w.app, req));
    let status = resp.status().as_u16();
    assert_ne!(status, 500, "{method} {path}");
    if status >= 400 && status != 303 {
        let bytes = w.rt.block_on(resp.into_body().collect()).map(|b| b.to_bytes()).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("an error body is JSON");
        assert!(json["code"].is_string() && json["error"].is_string() && json["message"].is_string());
    }
});
