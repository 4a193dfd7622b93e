//! The OpenAPI document against the server itself: every example the document gives validates
//! against the schema it illustrates, and a real answer of every GET route, over a world of one
//! of everything, validates against the schema the document gives for its status. Objects are
//! checked closed (`additionalProperties: false` is added to every object schema with
//! `properties`), so a field the server sends and the document does not name fails too.

mod common;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use common::fake_smm::{self, FakeSmm};
use common::openapi::Document;
use common::world::{ok, settled, world};
use common::{Auth, Backend, TestServer, CRON_TOKEN};
use snspmt_http::router::{self, Access};

/// GET routes whose answer is not JSON (described by their content type only) or described by
/// hand (the reseller API, whose answer depends on `action`).
const NOT_JSON: &[&str] = &[
    "/api/v2",
    "/metrics",
    "/sitemap.xml",
    "/rss.xml",
    "/uploads/{name}",
    "/api/points/purchase-kcp/simulated-window",
    "/api/auth/google-callback",
    "/api/openapi.json",
];

/// GET routes that cannot answer 200 in this world, and why; their error answer is still
/// validated against the document.
const NOT_OK: &[(&str, &str)] = &[
    ("/api/auth/verify-email", "needs the token of a verification mail; called with a wrong one"),
    ("/api/auth/google-state", "Google sign-in is not configured in this server"),
];

/// Every `examples` the document gives, with the schema it sits in.
fn examples(v: &Value, out: &mut Vec<(Value, Value)>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(list)) = m.get("examples") {
                let mut schema = v.clone();
                if let Some(o) = schema.as_object_mut() {
                    o.remove("examples");
                }
                for e in list {
                    out.push((schema.clone(), e.clone()));
                }
            }
            m.values().for_each(|x| examples(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| examples(x, out)),
        _ => {}
    }
}

#[test]
fn every_documented_example_fits_its_schema() {
    let d = Document::new();
    let mut found = Vec::new();
    examples(&d.doc, &mut found);
    assert!(found.len() >= 5, "the document gives examples ({} found)", found.len());
    let misfits: Vec<String> = found
        .iter()
        .flat_map(|(schema, e)| {
            d.misfits(schema, e).into_iter().map(move |m| format!("{e} in {schema}: {m}"))
        })
        .collect();
    assert!(misfits.is_empty(), "{}", misfits.join("\n\n"));
    // And a wrong example would be caught: the check is not vacuous.
    let (schema, example) = &found[0];
    let mut wrong = example.clone();
    if let Some(o) = wrong.as_object_mut() {
        o.insert("no_such_field_anywhere".into(), json!(1));
    } else {
        wrong = json!({"no_such_field_anywhere": 1});
    }
    assert!(!d.misfits(schema, &wrong).is_empty(), "{schema} accepts {wrong}");
}

async fn every_get_answer_fits_the_document(backend: Backend) {
    let smm = FakeSmm::start().await;
    let vars = [
        ("SMMKINGS_API_URL", smm.url.as_str()),
        ("SMMKINGS_API_KEY", fake_smm::FAKE_KEY),
        ("SNSPMT_UPSTREAM_TIMEOUT_MS", "500"),
        ("CRON_TOKEN", CRON_TOKEN),
    ];
    let Some(s) = TestServer::start_with(backend, "openapi_every_get", &vars).await else { return };
    let w = world(&s, &smm).await;
    let (alice, bob) = (w.alice.clone(), w.bob.clone());
    // A split order, whose progress the package route shows.
    let body = json!({"service_id": w.service, "link": "https://instagram.com/split", "split_days": 3, "split_quantity": 100});
    let split = ok(&s, Method::POST, "/api/orders", Auth::Bearer(&bob), Some(body)).await["order_id"]
        .as_i64()
        .expect("split id");
    settled(&s, w.live_order).await;
    let publish = json!({"is_published": true});
    ok(&s, Method::PUT, &format!("/api/blog/posts/{}", w.post), Auth::Admin, Some(publish)).await;
    let code = ok(&s, Method::GET, "/api/referral/my-codes", Auth::Bearer(&alice), None).await["codes"][0]
        ["code"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();

    let d = Document::new();
    let (status, served) = s.call(Method::GET, "/api/openapi.json", Auth::None, None).await;
    assert_eq!((status, &served), (StatusCode::OK, &d.doc), "the served document is the generated one");
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    for route in router::routes().filter(|r| r.method == Method::GET) {
        if NOT_JSON.contains(&route.pattern) {
            continue;
        }
        let id = match route.pattern {
            p if p.starts_with("/api/admin/services/") => w.service,
            p if p.starts_with("/api/admin/packages/") => w.package,
            p if p.starts_with("/api/admin/notices/") => w.notice,
            p if p.starts_with("/api/blog/posts/") => w.post,
            p if p.starts_with("/api/admin/coupons/") => w.coupon,
            p if p.ends_with("/package-progress") => split,
            _ => w.live_order,
        };
        let mut path = route.pattern.replace("{id}", &id.to_string()).replace("{user_id}", "bob");
        match route.pattern {
            "/api/referral/validate-code" => path.push_str(&format!("?code={code}")),
            "/api/auth/verify-email" => path.push_str("?token=wrong"),
            "/api/admin/audit-log" | "/api/admin/transactions" | "/api/admin/orders" => {
                path.push_str("?limit=5")
            }
            _ => {}
        }
        let auth = match route.access {
            Access::Public => Auth::None,
            Access::User | Access::UserOrAdmin => Auth::Bearer(&bob),
            Access::Admin | Access::Cron | Access::Metrics => Auth::Admin,
        };
        let (status, body) = s.call(Method::GET, &path, auth, None).await;
        let expect_ok = !NOT_OK.iter().any(|(p, _)| *p == route.pattern);
        if expect_ok != (status == StatusCode::OK) {
            problems.push(format!("GET {path}: {status} {body}"));
        }
        let found = d.problems("GET", route.pattern, status.as_u16(), &body);
        problems.extend(found.into_iter().map(|p| format!("GET {path}: {p}")));
        checked.push(route.pattern);
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n\n"));
    assert!(checked.len() >= 50, "the GET routes were walked ({})", checked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_every_get_answer_fits_the_document() {
    every_get_answer_fits_the_document(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_every_get_answer_fits_the_document() {
    every_get_answer_fits_the_document(Backend::Postgres).await;
}
