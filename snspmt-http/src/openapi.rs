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
            None => {}
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

    /// The POST and PUT routes that read no body.
    const NO_BODY: &[&str] = &[
        "Logout",
        "ResendVerification",
        "RotateApiKey",
        "AdminMigrateDatabase",
        "CancelOrder",
        "RefillOrder",
        "CronSyncOrderStatus",
        "CronProcessScheduledOrders",
        "CronProcessSplitDeliveries",
        "CronProcessPackageSteps",
        "AdminReprocessPackageOrders",
    ];

    #[test]
    fn every_post_and_put_route_documents_its_body() {
        let doc = document();
        for r in router::routes().filter(|r| matches!(r.method.as_str(), "POST" | "PUT")) {
            let op = &doc["paths"][r.pattern][r.method.as_str().to_lowercase()];
            let content = op["requestBody"]["content"].as_object();
            assert_eq!(content.is_some(), !NO_BODY.contains(&r.op), "{r:?}: {op}");
            for (kind, media) in content.into_iter().flatten() {
                assert!(media["schema"].is_object(), "{r:?}: {kind} without a schema");
            }
        }
        let place =
            &doc["paths"]["/api/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"];
        let name = place["$ref"].as_str().and_then(|r| r.rsplit('/').next()).expect("a named type");
        let props = &doc["components"]["schemas"][name]["properties"];
        for p in ServiceType::all_param_names() {
            assert!(props[p].is_object(), "the order body names the type parameter {p}: {props}");
        }
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
