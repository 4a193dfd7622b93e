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
        ("503", "Upstream not configured, or the database is unavailable"),
    ] {
        m.insert(
            code.into(),
            json!({"description": what, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    m
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
        if matches!(*method, "POST" | "PUT") {
            op.insert(
                "requestBody".into(),
                json!({"required": false, "content": {"application/json": {"schema": {"type": "object"}}}}),
            );
        }
        let mut responses = error_responses();
        responses.insert("200".into(), json!({"description": "Success", "content": {"application/json": {"schema": {"type": "object"}}}}));
        op.insert("responses".into(), Value::Object(responses));
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
    }
}
