//! Random bodies through every POST and PUT route of the real server, as a user and as the
//! admin: whatever arrives, the answer is never a 500, and every error has the §4 body.

mod common;

use hyper::{Method, StatusCode};
use serde_json::{json, Map, Value};

use common::{Backend, TestServer, ADMIN_TOKEN};

/// A small deterministic generator (no dependency, repeatable failures).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn value(&mut self, depth: u32) -> Value {
        let keys = [
            "amount",
            "price",
            "user_id",
            "service_id",
            "package_id",
            "link",
            "quantity",
            "runs",
            "interval",
            "coupon_id",
            "status",
            "email",
            "password",
            "name",
            "order_ids",
            "code",
            "scheduled_datetime",
            "split_days",
            "split_quantity",
            "points_adjustment",
            "reason",
            "steps",
            "title",
            "content",
            "access_token",
            "id_token",
            "ordr_idxx",
            "enc_data",
            "action",
            "discount_type",
            "discount_value",
        ];
        match self.below(if depth > 2 { 7 } else { 9 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.next() as i64 - (1 << 30)),
            3 => json!([i64::MAX, i64::MIN, -1, 0, 1, 1_000_000_000_000i64][self.below(6) as usize]),
            4 => json!(1e300 * (self.below(3) as f64 - 1.0)),
            5 => json!(
                [
                    "",
                    "x",
                    "https://x.com/a",
                    "REF12345678",
                    "2026-11-27 10:00",
                    "../../etc/passwd",
                    "<script>",
                    "한글",
                    "\u{0}"
                ][self.below(9) as usize]
            ),
            6 => json!("a".repeat(self.below(3000) as usize)),
            7 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let mut m = Map::new();
                for _ in 0..self.below(6) {
                    let k = keys[self.below(keys.len() as u64) as usize];
                    m.insert(k.to_owned(), self.value(depth + 1));
                }
                Value::Object(m)
            }
        }
    }

    fn body(&mut self) -> Vec<u8> {
        match self.below(6) {
            0 => (0..self.below(64)).map(|_| self.next() as u8).collect(),
            1 => br#"{"amount": "#.to_vec(),
            _ => self.value(0).to_string().into_bytes(),
        }
    }
}

async fn random_bodies_never_break_the_server(backend: Backend) {
    let Some(s) = TestServer::start(backend, "fuzz_bodies").await else { return };
    let token = s.register("fuzzer").await;
    s.adjust("fuzzer", 1_000_000).await;
    let bearer = format!("Bearer {token}");
    let mut rng = Lcg(0x5eed_u64 + backend as u64);
    let mut sent = 0;
    for route in snspmt_http::router::routes() {
        let (method, pattern) = (route.method.as_str(), route.pattern);
        if !matches!(method, "POST" | "PUT") || pattern.contains("upload") {
            continue;
        }
        let path = pattern.replace("{user_id}", "fuzzer").replace("{id}", "1");
        let m: Method = method.parse().expect("method");
        for i in 0..12 {
            let body = rng.body();
            let auth: Vec<(&str, &str)> = if i % 2 == 0 {
                vec![("authorization", bearer.as_str()), ("x-cron-token", ADMIN_TOKEN)]
            } else {
                vec![("x-admin-token", ADMIN_TOKEN)]
            };
            let (status, _, b) = s.raw(m.clone(), &path, &auth, body.clone()).await;
            sent += 1;
            assert_ne!(
                status,
                StatusCode::INTERNAL_SERVER_ERROR,
                "{method} {path} with {:?}: {b}",
                String::from_utf8_lossy(&body)
            );
            if status.as_u16() >= 400 && status != StatusCode::SEE_OTHER {
                assert!(
                    b["code"].is_string() && b["error"].is_string() && b["message"].is_string(),
                    "{method} {path} {status} with {:?}: {b}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }
    assert!(sent > 500, "{sent} requests");
    s.assert_ledger_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_random_bodies_never_break_the_server() {
    random_bodies_never_break_the_server(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_random_bodies_never_break_the_server() {
    random_bodies_never_break_the_server(Backend::Postgres).await;
}
