//! The OpenAPI 3.1 document, generated from the router's route list ([`ROUTES`]) and each
//! endpoint's access level, served at `GET /api/openapi.json`. A test reads the router's
//! source and checks that the routed paths and the listed ones are the same, so the document
//! cannot drift from the router.

use hyper::Method;
use serde_json::{json, Map, Value};

use crate::router::{self, Access, ROUTES};

fn security(access: Access) -> Value {
    match access {
        Access::Public => json!([]),
        Access::User => json!([{"bearer": []}]),
        Access::UserOrAdmin => json!([{"bearer": []}, {"adminToken": []}]),
        Access::Admin => json!([{"adminToken": []}, {"bearer": []}]),
        Access::Cron => json!([{"cronToken": []}, {"adminToken": []}]),
        Access::Metrics => json!([{"bearer": []}, {"adminToken": []}]),
    }
}

fn error_responses() -> Map<String, Value> {
    let mut m = Map::new();
    for (code, what) in [
        ("400", "Invalid input (`code` names the problem, `field` the field)"),
        ("401", "Missing or invalid credentials"),
        ("403", "Not yours"),
        ("404", "No such resource or route"),
        ("405", "Method not allowed"),
        ("409", "State conflict (`price_changed`, `already_processed`, `idempotency_key_reused`, …)"),
        ("413", "Body too large"),
        ("429", "Rate limited"),
        ("502", "An upstream answered badly"),
        ("503", "Upstream not configured, the database is unavailable, or `overloaded` (see `Retry-After`)"),
    ] {
        m.insert(
            code.into(),
            json!({"description": what, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    m
}

/// `(type, required)` of a body field.
type Field = (&'static str, &'static str, bool);

/// The request body of every POST and PUT route: `None` for those that take no body. A test
/// checks this table names exactly the POST and PUT routes of [`ROUTES`].
const BODIES: &[(&str, &str, Option<&[Field]>)] = &[
    (
        "POST",
        "/api/register",
        Some(&[
            ("user_id", "string", false),
            ("email", "string", true),
            ("name", "string", false),
            ("display_name", "string", false),
            ("password", "string", false),
        ]),
    ),
    ("POST", "/api/auth/login", Some(&[("email", "string", true), ("password", "string", true)])),
    ("POST", "/api/auth/logout", None),
    (
        "POST",
        "/api/v2",
        Some(&[
            ("key", "string", false),
            ("action", "string", true),
            ("service", "integer", false),
            ("link", "string", false),
            ("quantity", "integer", false),
            ("runs", "integer", false),
            ("interval", "integer", false),
            ("comments", "string", false),
            ("order", "integer", false),
            ("orders", "string", false),
            ("refill", "integer", false),
            ("refills", "string", false),
            ("request_id", "string", false),
            ("usernames", "string", false),
            ("hashtags", "string", false),
            ("hashtag", "string", false),
            ("username", "string", false),
            ("media", "string", false),
            ("answer_number", "integer", false),
            ("groups", "string", false),
            ("min", "integer", false),
            ("max", "integer", false),
            ("posts", "integer", false),
            ("old_posts", "integer", false),
            ("delay", "integer", false),
            ("expiry", "string", false),
            ("country", "string", false),
            ("device", "integer", false),
            ("type_of_traffic", "integer", false),
            ("google_keyword", "string", false),
            ("referring_url", "string", false),
        ]),
    ),
    ("POST", "/api/user/api-keys", Some(&[("name", "string", false)])),
    ("POST", "/api/user/api-keys/{id}/rotate", None),
    ("PUT", "/api/admin/users/{user_id}/api-access", Some(&[("enabled", "boolean", true)])),
    ("POST", "/api/auth/verify-email", Some(&[("token", "string", true)])),
    ("POST", "/api/auth/resend-verification", None),
    (
        "POST",
        "/api/points/deduct",
        Some(&[("amount", "integer", true), ("description", "string", false), ("user_id", "string", false)]),
    ),
    (
        "PUT",
        "/api/admin/users/{user_id}",
        Some(&[
            ("email", "string", false),
            ("name", "string", false),
            ("display_name", "string", false),
            ("is_admin", "boolean", false),
            ("points_adjustment", "integer", false),
            ("reason", "string", false),
        ]),
    ),
    ("POST", "/api/admin/migrate-database", None),
    (
        "POST",
        "/api/smm-panel",
        Some(&[
            ("action", "string", true),
            ("service", "string", false),
            ("link", "string", false),
            ("quantity", "integer", false),
            ("comments", "string", false),
            ("runs", "integer", false),
            ("interval", "integer", false),
            ("order", "string", false),
            ("orders", "array", false),
        ]),
    ),
    (
        "POST",
        "/api/admin/services",
        Some(&[
            ("provider_service_id", "string", true),
            ("name", "string", true),
            ("category", "string", false),
            ("platform", "string", false),
            ("type", "string", false),
            ("price_per_1000", "integer", true),
            ("min_quantity", "integer", true),
            ("max_quantity", "integer", true),
            ("dripfeed", "boolean", false),
            ("refill", "boolean", false),
            ("cancel", "boolean", false),
            ("is_active", "boolean", false),
            ("description", "string", false),
        ]),
    ),
    (
        "POST",
        "/api/admin/services/import",
        Some(&[("usd_krw", "integer", true), ("markup_bps", "integer", true)]),
    ),
    (
        "PUT",
        "/api/admin/services/{id}",
        Some(&[
            ("provider_service_id", "string", false),
            ("name", "string", false),
            ("category", "string", false),
            ("platform", "string", false),
            ("type", "string", false),
            ("price_per_1000", "integer", false),
            ("min_quantity", "integer", false),
            ("max_quantity", "integer", false),
            ("dripfeed", "boolean", false),
            ("refill", "boolean", false),
            ("cancel", "boolean", false),
            ("is_active", "boolean", false),
            ("description", "string", false),
        ]),
    ),
    ("POST", "/api/orders", Some(ORDER)),
    ("POST", "/api/orders/check-status", Some(&[("order_ids", "array", true), ("user_id", "string", false)])),
    ("POST", "/api/orders/{id}/cancel", None),
    ("POST", "/api/orders/{id}/refill", None),
    (
        "PUT",
        "/api/orders/{id}/status",
        Some(&[("status", "string", true), ("smm_panel_order_id", "string", false)]),
    ),
    (
        "POST",
        "/api/admin/orders/{id}/resolve",
        Some(&[("smm_panel_order_id", "string", false), ("action", "string", false)]),
    ),
    ("POST", "/api/cron/sync-order-status", None),
    ("POST", "/api/cron/process-scheduled-orders", None),
    (
        "POST",
        "/api/points/purchase",
        Some(&[
            ("amount", "integer", true),
            ("price", "integer", true),
            ("buyer_name", "string", false),
            ("bank_info", "string", false),
            ("user_id", "string", false),
        ]),
    ),
    (
        "POST",
        "/api/points/purchase-kcp/register",
        Some(&[
            ("amount", "integer", true),
            ("price", "integer", true),
            ("good_name", "string", false),
            ("pay_method", "string", false),
            ("user_id", "string", false),
        ]),
    ),
    ("POST", "/api/points/purchase-kcp/payment-form", Some(&[("ordr_idxx", "string", true)])),
    (
        "POST",
        "/api/points/purchase-kcp/return",
        Some(&[
            ("ordr_idxx", "string", true),
            ("res_cd", "string", true),
            ("res_msg", "string", false),
            ("enc_data", "string", false),
            ("enc_info", "string", false),
            ("tran_cd", "string", false),
        ]),
    ),
    (
        "POST",
        "/api/points/purchase-kcp/approve",
        Some(&[
            ("ordr_idxx", "string", true),
            ("enc_data", "string", true),
            ("enc_info", "string", true),
            ("tran_cd", "string", true),
        ]),
    ),
    ("PUT", "/api/admin/purchases/{id}", Some(&[("status", "string", true)])),
    (
        "POST",
        "/api/admin/purchases/{id}/settle",
        Some(&[("outcome", "string", true), ("tno", "string", false)]),
    ),
    ("POST", "/api/scheduled-orders", Some(ORDER)),
    (
        "POST",
        "/api/admin/packages",
        Some(&[
            ("name", "string", true),
            ("description", "string", false),
            ("price", "integer", true),
            ("steps", "array", true),
            ("is_active", "boolean", false),
        ]),
    ),
    (
        "PUT",
        "/api/admin/packages/{id}",
        Some(&[
            ("name", "string", false),
            ("description", "string", false),
            ("price", "integer", false),
            ("steps", "array", false),
            ("is_active", "boolean", false),
        ]),
    ),
    ("POST", "/api/orders/start-package-processing", Some(&[("order_id", "integer", true)])),
    ("POST", "/api/admin/reprocess-package-orders", None),
    ("POST", "/api/cron/process-split-deliveries", None),
    ("POST", "/api/cron/process-package-steps", None),
    (
        "POST",
        "/api/auth/kakao-login",
        Some(&[("access_token", "string", true), ("id_token", "string", false)]),
    ),
    ("POST", "/api/auth/google-login", Some(&[("id_token", "string", true)])),
    ("POST", "/api/admin/notices", Some(NOTICE)),
    ("PUT", "/api/admin/notices/{id}", Some(NOTICE)),
    ("POST", "/api/blog/posts", Some(POST)),
    ("PUT", "/api/blog/posts/{id}", Some(POST)),
    ("POST", "/api/admin/upload-image", Some(&[("image", "binary", true)])),
    ("POST", "/api/referral/use-code", Some(&[("code", "string", true), ("user_id", "string", false)])),
    (
        "POST",
        "/api/referral/issue-coupon",
        Some(&[("referral_code", "string", true), ("user_id", "string", false)]),
    ),
    (
        "POST",
        "/api/referral/withdrawal-request",
        Some(&[
            ("amount", "integer", true),
            ("bank_name", "string", true),
            ("account_number", "string", true),
            ("account_holder", "string", true),
            ("user_id", "string", false),
        ]),
    ),
    (
        "POST",
        "/api/user/coupons/add-by-code",
        Some(&[("coupon_code", "string", true), ("user_id", "string", false)]),
    ),
    ("POST", "/api/admin/coupons", Some(COUPON)),
    ("PUT", "/api/admin/coupons/{id}", Some(COUPON)),
    (
        "POST",
        "/api/admin/referral/register",
        Some(&[
            ("user_id", "string", false),
            ("email", "string", false),
            ("commission_rate_bps", "integer", false),
        ]),
    ),
    (
        "POST",
        "/api/admin/referral/pay-commission",
        Some(&[
            ("user_id", "string", false),
            ("email", "string", false),
            ("amount", "integer", true),
            ("notes", "string", false),
        ]),
    ),
    (
        "PUT",
        "/api/admin/referral/update-commission-rate",
        Some(&[
            ("user_id", "string", false),
            ("email", "string", false),
            ("commission_rate_bps", "integer", true),
        ]),
    ),
    (
        "POST",
        "/api/admin/process-withdrawal",
        Some(&[
            ("request_id", "integer", true),
            ("action", "string", true),
            ("admin_notes", "string", false),
        ]),
    ),
    // Lines `service_id|link|quantity` as one text or an array of lines (or a text/plain body).
    ("POST", "/api/orders/mass", Some(&[("orders", "string", true)])),
    ("PUT", "/api/admin/users/{user_id}/rates", Some(&[("discount_bps", "integer", true)])),
    ("PUT", "/api/admin/users/{user_id}/service-prices/{id}", Some(&[("price_per_1000", "integer", true)])),
];

const ORDER: &[Field] = &[
    ("service_id", "integer", false),
    ("package_id", "integer", false),
    ("link", "string", true),
    ("quantity", "integer", false),
    ("comments", "string", false),
    ("runs", "integer", false),
    ("interval", "integer", false),
    ("coupon_id", "integer", false),
    ("price", "integer", false),
    ("total_price", "integer", false),
    ("is_scheduled", "boolean", false),
    ("scheduled_datetime", "string", false),
    ("split_days", "integer", false),
    ("split_quantity", "integer", false),
    ("package_steps", "array", false),
    ("defer_start", "boolean", false),
    ("user_id", "string", false),
    ("usernames", "string", false),
    ("hashtags", "string", false),
    ("hashtag", "string", false),
    ("username", "string", false),
    ("media", "string", false),
    ("answer_number", "integer", false),
    ("groups", "string", false),
    ("min", "integer", false),
    ("max", "integer", false),
    ("posts", "integer", false),
    ("old_posts", "integer", false),
    ("delay", "integer", false),
    ("expiry", "string", false),
    ("country", "string", false),
    ("device", "integer", false),
    ("type_of_traffic", "integer", false),
    ("google_keyword", "string", false),
    ("referring_url", "string", false),
];

const NOTICE: &[Field] = &[
    ("title", "string", false),
    ("content", "string", false),
    ("image_url", "string", false),
    ("popup_type", "string", false),
    ("login_popup_image_url", "string", false),
    ("is_active", "boolean", false),
    ("starts_at", "string", false),
    ("ends_at", "string", false),
];

const POST: &[Field] = &[
    ("title", "string", false),
    ("content", "string", false),
    ("excerpt", "string", false),
    ("category", "string", false),
    ("tags", "array", false),
    ("thumbnail_url", "string", false),
    ("is_published", "boolean", false),
];

const COUPON: &[Field] = &[
    ("code", "string", false),
    ("name", "string", false),
    ("discount_type", "string", false),
    ("discount_value", "integer", false),
    ("min_order_amount", "integer", false),
    ("valid_from", "string", false),
    ("valid_until", "string", false),
    ("max_uses", "integer", false),
    ("is_active", "boolean", false),
];

/// The request body of a route, as an OpenAPI `requestBody`.
fn request_body(method: &str, pattern: &str) -> Option<Value> {
    let (_, _, fields) = BODIES.iter().find(|(m, p, _)| *m == method && *p == pattern)?;
    let fields = (*fields)?;
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, kind, req) in fields {
        let schema = match *kind {
            "binary" => json!({"type": "string", "format": "binary"}),
            "array" => json!({"type": "array", "items": {}}),
            k => json!({"type": k}),
        };
        properties.insert((*name).to_owned(), schema);
        if *req {
            required.push(json!(name));
        }
    }
    let schema = json!({"type": "object", "properties": properties, "required": required});
    let content = match pattern {
        "/api/admin/upload-image" => json!({"multipart/form-data": {"schema": schema}}),
        "/api/points/purchase-kcp/return" => json!({"application/x-www-form-urlencoded": {"schema": schema}}),
        _ => json!({"application/json": {"schema": schema}}),
    };
    Some(json!({"required": true, "content": content}))
}

/// The actions of the reseller API.
const RESELLER_ACTIONS: [&str; 7] =
    ["services", "add", "status", "refill", "refill_status", "cancel", "balance"];

const RESELLER_DESCRIPTION: &str = "The SMM panel API v2 that reseller software speaks (see the README's \
\"Reseller API\"). The key comes as `key` (body or query) or `X-Api-Key`. Every answer is HTTP 200 JSON; \
a logical error is `{\"error\": \"<conventional text>\"}` (`Invalid API key`, `Incorrect order ID`, \
`Not enough funds on balance`, `Quantity less than minimal N`, ...). Actions: `services` -> \
`[{service, name, type, category, rate, min, max, dripfeed, refill, cancel}]`; `add` -> `{order}`; \
`status` (`order` or `orders`) -> `{charge, start_count, status, remains, currency}` or an object keyed \
by id; `refill` -> `{refill}`; `refill_status` -> `{status}`; `cancel` (`orders`) -> \
`[{order, cancel}]`; `balance` -> `{balance, currency}`. Money is a decimal string in KRW.";

/// The reseller API's operation: its own key, its actions, a form or JSON body (or a query
/// string), errors as HTTP 200 `{"error"}` and 429 over the key's rate.
fn reseller_operation(op: &mut Map<String, Value>, method: &str) {
    op.insert("summary".into(), json!("Reseller API (SMM panel API v2)"));
    op.insert("description".into(), json!(RESELLER_DESCRIPTION));
    op.insert("security".into(), json!([{"resellerKey": []}, {}]));
    let action = json!({"type": "string", "enum": RESELLER_ACTIONS});
    if method == "GET" {
        let mut params = vec![
            json!({"name": "action", "in": "query", "required": true, "schema": action}),
            json!({"name": "key", "in": "query", "required": false, "schema": {"type": "string"}}),
        ];
        for name in
            ["service", "link", "quantity", "runs", "interval", "order", "orders", "refill", "refills"]
        {
            params
                .push(json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}}));
        }
        op.insert("parameters".into(), Value::Array(params));
    } else if let Some(mut body) = request_body(method, "/api/v2") {
        let schema = body["content"]["application/json"]["schema"].clone();
        let mut schema = schema;
        schema["properties"]["action"] = action;
        body["content"] = json!({
            "application/x-www-form-urlencoded": {"schema": schema.clone()},
            "application/json": {"schema": schema},
        });
        op.insert("requestBody".into(), body);
    }
    let answer = json!({"description": "The action's answer, or {\"error\": text}", "content": {"application/json": {"schema": {}}}});
    let limited = json!({"description": "Over the key's rate (`SNSPMT_API_RATE`): {\"error\": \"Too many requests\"} with Retry-After",
                         "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}});
    op.insert("responses".into(), json!({"200": answer, "429": limited}));
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, pattern) in ROUTES {
        let sample = pattern.replace("{user_id}", "x").replace("{id}", "1").replace("{name}", "x");
        let Ok(m) = method.parse::<Method>() else { continue };
        let Ok(endpoint) = router::route(&m, &sample) else { continue };
        let mut op = Map::new();
        op.insert("operationId".into(), json!(format!("{}_{}", endpoint.name(), method.to_lowercase())));
        op.insert("summary".into(), json!(endpoint.name()));
        op.insert("security".into(), security(endpoint.access()));
        let params: Vec<Value> = pattern
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(body) = request_body(method, pattern) {
            op.insert("requestBody".into(), body);
        }
        let mut responses = error_responses();
        responses.insert("200".into(), json!({"description": "Success", "content": {"application/json": {"schema": {"type": "object"}}}}));
        op.insert("responses".into(), Value::Object(responses));
        if *pattern == "/api/v2" {
            reseller_operation(&mut op, method);
        }
        let entry = paths.entry(pattern.to_string()).or_insert_with(|| json!({}));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(method.to_lowercase(), Value::Object(op));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "snspmt", "version": env!("CARGO_PKG_VERSION"),
                 "description": "SNS-marketing reseller panel API. Money is integer points (1 point = 1 KRW)."},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Session token from register or login"},
                "adminToken": {"type": "apiKey", "in": "header", "name": "X-Admin-Token"},
                "cronToken": {"type": "apiKey", "in": "header", "name": "X-Cron-Token"},
                "resellerKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                                "description": "A key from POST /api/user/api-keys; also accepted as the `key` parameter"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message", "code"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "code": {"type": "string"},
                        "field": {"type": "string"},
                    },
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every `["seg", …] => on(method, [(M::GET, …), …])` arm of the router's source, as
    /// `(METHOD, /path/{param})`.
    fn routed() -> BTreeSet<(String, String)> {
        let source = include_str!("router.rs");
        let body = source.split("match segs.as_slice() {").nth(1).expect("the route match");
        let body = body.split("_ => Err(ApiError::no_such_route())").next().expect("its end");
        let mut out = BTreeSet::new();
        let mut path: Option<String> = None;
        for line in body.lines() {
            let t = line.trim();
            if t.starts_with('[') && t.contains("] ") {
                let end = t.find("] =>").or_else(|| t.find("] if")).unwrap_or(0);
                let pats = t[..end + 1].to_owned();
                // `["api", "health"] | ["health"]`: the first alternative names the route.
                let first = pats.split(" | ").next().unwrap_or("").trim_matches(|c| c == '[' || c == ']');
                let segs: Vec<String> =
                    first
                        .split(", ")
                        .map(|s| {
                            if s.starts_with('"') {
                                s.trim_matches('"').to_owned()
                            } else {
                                format!("{{{s}}}")
                            }
                        })
                        .collect();
                path = Some(format!("/{}", segs.join("/")));
                for alt in pats.split(" | ").skip(1) {
                    let segs: Vec<&str> = alt
                        .trim_matches(|c| c == '[' || c == ']')
                        .split(", ")
                        .map(|s| s.trim_matches('"'))
                        .collect();
                    for m in methods(t) {
                        out.insert((m, format!("/{}", segs.join("/"))));
                    }
                }
            }
            if let Some(p) = &path {
                for m in methods(t) {
                    out.insert((m, p.clone()));
                }
            }
        }
        out
    }

    fn methods(line: &str) -> Vec<String> {
        line.split("(M::").skip(1).filter_map(|s| s.split(',').next()).map(str::to_owned).collect()
    }

    fn normalise(p: &str) -> String {
        p.split('/').map(|s| if s.starts_with('{') { "{}" } else { s }).collect::<Vec<_>>().join("/")
    }

    #[test]
    fn the_document_matches_the_router() {
        let routed: BTreeSet<(String, String)> =
            routed().into_iter().map(|(m, p)| (m, normalise(&p))).collect();
        let listed: BTreeSet<(String, String)> =
            ROUTES.iter().map(|(m, p)| ((*m).to_owned(), normalise(p))).collect();
        let missing: Vec<_> = routed.difference(&listed).collect();
        let extra: Vec<_> = listed.difference(&routed).collect();
        assert!(missing.is_empty(), "routed but not documented: {missing:?}");
        assert!(extra.is_empty(), "documented but not routed: {extra:?}");
        assert!(routed.len() > 80, "the router's source was read ({} routes)", routed.len());
        let doc = document();
        let ops: usize = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|v| v.as_object().map_or(0, Map::len))
            .sum();
        assert_eq!(ops, ROUTES.len(), "every listed route is an operation");
        assert_eq!(doc["paths"]["/api/orders"]["post"]["security"], json!([{"bearer": []}]));
        assert_eq!(doc["paths"]["/api/health"]["get"]["security"], json!([]));
        let deduct = &doc["paths"]["/api/points/deduct"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"];
        assert_eq!(deduct["required"], json!(["amount"]));
        assert_eq!(deduct["properties"]["amount"]["type"], "integer");
    }

    #[test]
    fn every_post_and_put_route_has_its_body_described() {
        let writes: BTreeSet<(&str, &str)> =
            ROUTES.iter().filter(|(m, _)| matches!(*m, "POST" | "PUT")).map(|(m, p)| (*m, *p)).collect();
        let described: BTreeSet<(&str, &str)> = BODIES.iter().map(|(m, p, _)| (*m, *p)).collect();
        assert_eq!(writes, described, "BODIES must name exactly the POST and PUT routes");
        assert_eq!(described.len(), BODIES.len(), "no route twice");
    }

    #[test]
    fn the_reseller_api_is_described_with_its_key_and_actions() {
        let doc = document();
        let post = &doc["paths"]["/api/v2"]["post"];
        assert_eq!(post["security"][0], json!({"resellerKey": []}));
        let form = &post["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
        assert_eq!(form["properties"]["action"]["enum"], json!(RESELLER_ACTIONS));
        assert!(post["requestBody"]["content"]["application/json"].is_object());
        assert!(post["responses"]["429"].is_object());
        let get = &doc["paths"]["/api/v2"]["get"];
        let names: Vec<&str> =
            get["parameters"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
        assert!(names.contains(&"action") && names.contains(&"orders"), "{names:?}");
        assert_eq!(doc["components"]["securitySchemes"]["resellerKey"]["name"], "X-Api-Key");
    }
}
