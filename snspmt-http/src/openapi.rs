//! The OpenAPI 3.1 document, served at `GET /api/openapi.json`, generated from the route
//! tables ([`router::routes`]): each row's access level, path parameters, and the JSON schemas
//! of its query, body and answer types (derived with `schemars`).

use schemars::generate::{Contract, SchemaSettings};
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use snspmt_core::upstream::smm::{ParamKind, ServiceType, MAX_TEXT_CHARS};

use crate::router::{self, Access, Generators};

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

/// The schema of every type-specific order parameter (§1.2), from the core's table of what
/// each service type takes ([`ServiceType::spec`]): its kind, range and the types that take it.
pub fn type_parameters() -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for t in ServiceType::KNOWN.iter() {
        let Some(spec) = t.spec() else { continue };
        for p in spec.params {
            let entry = out.entry(p.name).or_insert_with(|| {
                let mut schema = match p.kind {
                    ParamKind::Text => json!({"type": "string", "maxLength": MAX_TEXT_CHARS}),
                    ParamKind::Lines => json!({"type": "string", "description": "one per line"}),
                    ParamKind::Comments => json!({"type": "string", "description": "one comment per line"}),
                    ParamKind::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
                    ParamKind::OneOf(values) => json!({"type": "integer", "enum": values}),
                    ParamKind::Date => json!({"type": "string", "description": "a date d/m/Y (31/12/2026)"}),
                };
                schema["x-service-types"] = json!([]);
                schema
            });
            if let Some(types) = entry["x-service-types"].as_array_mut() {
                types.push(json!(t.as_str()));
            }
        }
    }
    out
}

/// The reseller API's own parameters, beside the type-specific ones.
fn reseller_body() -> Value {
    let mut properties = Map::new();
    for (name, schema) in [
        ("key", json!({"type": "string", "description": "the API key (or the X-Api-Key header)"})),
        ("action", json!({"type": "string", "enum": RESELLER_ACTIONS})),
        ("service", json!({"type": "integer", "description": "add: the service id"})),
        ("link", json!({"type": "string"})),
        ("quantity", json!({"type": "integer"})),
        ("runs", json!({"type": "integer", "description": "drip-feed: how many runs"})),
        ("interval", json!({"type": "integer", "description": "drip-feed: minutes between runs"})),
        ("order", json!({"type": "integer", "description": "status, refill, cancel: one order id"})),
        (
            "orders",
            json!({"type": "string", "description": "status, refill, cancel: comma-separated ids (at most 100)"}),
        ),
        ("refill", json!({"type": "integer", "description": "refill_status: one refill id"})),
        ("refills", json!({"type": "string", "description": "refill_status: comma-separated ids"})),
        (
            "request_id",
            json!({"type": "string", "description": "add: a retry with the same id replays the first answer"}),
        ),
    ] {
        properties.insert(name.into(), schema);
    }
    for (name, schema) in type_parameters() {
        properties.entry(name).or_insert(schema);
    }
    json!({"type": "object", "properties": properties, "required": ["action"]})
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
    } else {
        let schema = reseller_body();
        op.insert(
            "requestBody".into(),
            json!({"required": true, "content": {
                "application/x-www-form-urlencoded": {"schema": schema.clone()},
                "application/json": {"schema": schema},
            }}),
        );
    }
    let answer = json!({"description": "The action's answer, or {\"error\": text}", "content": {"application/json": {"schema": {}}}});
    let limited = json!({"description": "Over the key's rate (`SNSPMT_API_RATE`): {\"error\": \"Too many requests\"} with Retry-After",
                         "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}});
    op.insert("responses".into(), json!({"200": answer, "429": limited}));
}

/// The image upload: a multipart form with one file field.
fn upload_body() -> Value {
    let file = json!({"type": "string", "format": "binary", "description": "a PNG, JPEG, GIF or WebP image, at most 10 MiB"});
    let mut properties = Map::new();
    properties.insert(crate::handlers::uploads::FIELD.into(), file);
    properties.insert(
        crate::handlers::uploads::ALT_FIELD.into(),
        json!({"description": "the same, under the original client's name"}),
    );
    json!({"required": true, "content": {"multipart/form-data": {"schema": {"type": "object", "properties": properties}}}})
}

/// Follows a `$ref` into the generator's definitions.
fn resolve<'a>(gen: &'a SchemaGenerator, schema: &'a Value) -> &'a Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .and_then(|name| gen.definitions().get(name))
        .unwrap_or(schema)
}

/// The query parameters of an object schema, one per property.
fn query_parameters(gen: &SchemaGenerator, schema: &Value) -> Vec<Value> {
    let object = resolve(gen, schema);
    let required: Vec<&str> =
        object["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let Some(props) = object["properties"].as_object() else { return Vec::new() };
    props
        .iter()
        .map(|(name, schema)| {
            let mut p = json!({"name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": schema});
            if let Some(d) = schema.get("description") {
                p["description"] = d.clone();
            }
            p
        })
        .collect()
}

/// The generators of the document, their references pointing into `#/components/schemas`.
fn generators() -> Generators {
    let settings = |contract: Contract| {
        SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.contract = contract;
        })
    };
    Generators {
        input: settings(Contract::Deserialize).into_generator(),
        output: settings(Contract::Serialize).into_generator(),
    }
}

/// The definitions of both generators, and the names of types whose read and written schemas
/// differ (a test requires none: such a type would need two names).
fn definitions(gens: &mut Generators) -> (Map<String, Value>, Vec<String>) {
    let mut out: Map<String, Value> = gens.output.take_definitions(true).into_iter().collect();
    let mut differ = Vec::new();
    for (name, schema) in gens.input.take_definitions(true) {
        match out.get(&name) {
            Some(existing) if *existing != schema => differ.push(name),
            Some(_) => {}
            None => {
                out.insert(name, schema);
            }
        }
    }
    (out, differ)
}

/// The document.
pub fn document() -> Value {
    let mut gens = generators();
    let mut paths = Map::new();
    for route in router::routes() {
        let method = route.method.as_str();
        let pattern = route.pattern;
        let doc = (route.doc)(&mut gens);
        let mut op = Map::new();
        op.insert("operationId".into(), json!(route.op));
        op.insert("summary".into(), json!(route.name));
        op.insert("security".into(), security(route.access));
        let mut params: Vec<Value> = route
            .params
            .iter()
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if let Some(query) = &doc.query {
            params.extend(query_parameters(&gens.input, query));
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        match doc.body {
            Some((content_type, schema)) => {
                op.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {content_type: {"schema": schema}}}),
                );
            }
            None if route.op == "AdminUploadImage" => {
                op.insert("requestBody".into(), upload_body());
            }
            None => {
                if let Some(body) = request_body(method, pattern) {
                    op.insert("requestBody".into(), body);
                }
            }
        }
        let mut responses = error_responses();
        let success = match doc.reply {
            Some((content_type, schema)) => {
                json!({"description": "Success", "content": {content_type: {"schema": schema}}})
            }
            None => json!({"description": "Success"}),
        };
        responses.insert(doc.status.to_string(), success);
        op.insert("responses".into(), Value::Object(responses));
        if pattern == "/api/v2" {
            reseller_operation(&mut op, method);
        }
        let entry = paths.entry(pattern.to_string()).or_insert_with(|| json!({}));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(method.to_lowercase(), Value::Object(op));
        }
    }
    let (mut schemas, _) = definitions(&mut gens);
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error", "message", "code"],
            "properties": {
                "error": {"type": "string"},
                "message": {"type": "string"},
                "code": {"type": "string"},
                "field": {"type": "string"},
            },
        }),
    );
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
            "schemas": schemas,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn no_type_is_read_and_written_with_two_schemas() {
        let mut gens = generators();
        for route in router::routes() {
            (route.doc)(&mut gens);
        }
        let (schemas, differ) = definitions(&mut gens);
        assert!(differ.is_empty(), "read and written differently: {differ:?}");
        assert!(schemas.len() > 50, "{} schemas", schemas.len());
    }

    #[test]
    fn every_route_is_an_operation() {
        let doc = document();
        let ops: usize = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|v| v.as_object().map_or(0, Map::len))
            .sum();
        assert_eq!(ops, router::routes().count(), "every route is an operation");
        assert!(ops > 100, "the tables were read ({ops} routes)");
        assert_eq!(doc["paths"]["/api/orders"]["post"]["security"], json!([{"bearer": []}]));
        assert_eq!(doc["paths"]["/api/orders"]["post"]["operationId"], "PlaceOrder");
        assert_eq!(doc["paths"]["/api/health"]["get"]["security"], json!([]));
        let deduct = &doc["paths"]["/api/points/deduct"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"];
        let deduct = if let Some(r) = deduct["$ref"].as_str() {
            &doc["components"]["schemas"][r.rsplit('/').next().expect("name")]
        } else {
            deduct
        };
        assert_eq!(deduct["required"], json!(["amount"]));
        assert_eq!(deduct["properties"]["amount"]["type"], "integer");
    }

    #[test]
    fn every_post_and_put_route_has_its_body_described() {
        let writes: BTreeSet<(&str, &str)> = router::routes()
            .filter(|r| matches!(r.method.as_str(), "POST" | "PUT"))
            .map(|r| (r.method.as_str(), r.pattern))
            .collect();
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
