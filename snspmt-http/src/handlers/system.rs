//! Health, public configuration and deployment status.

use hyper::StatusCode;
use serde_json::json;
use snspmt_store::Store;

use super::{json, ok, Reply};
use crate::router::Raw;
use crate::App;

pub async fn health(app: &App) -> Reply {
    match app.store.ping().await {
        Ok(()) => ok(json!({"status": "ok", "database": "ok"})),
        Err(e) => {
            crate::log::error(&format!("health: database ping failed: {e}"));
            Ok(json(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({
                    "status": "error",
                    "database": "unavailable",
                    "error": "database unavailable",
                    "message": "database unavailable",
                    "code": "unavailable",
                }),
            ))
        }
    }
}

/// `GET /metrics`: the Prometheus text format.
pub async fn metrics(app: &App) -> Reply {
    let now = app.clock.now();
    let counts = app.store.ops_counts(now - super::purchases::APPROVING_TOO_LONG_MS).await?;
    let gauges = crate::metrics::Gauges {
        due_jobs: counts.due_jobs,
        submitting_jobs: counts.submitting_jobs,
        unknown_orders: counts.unknown_orders,
        purchases_needing_attention: counts.purchases_needing_attention,
        ledger: counts.ledger,
    };
    let mut resp =
        hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(app.metrics.render(&gauges))));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(resp)
}

pub async fn config(app: &App) -> Reply {
    ok(serde_json::to_value(&app.config.firebase).unwrap_or_default())
}

pub async fn deployment_status(app: &App) -> Reply {
    let store: &dyn Store = &*app.store;
    let schema_version = store.schema_version().await?;
    let c = &app.config;
    ok(json!({
        "success": true,
        "version": env!("CARGO_PKG_VERSION"),
        "database": store.backend(),
        "schema_version": schema_version,
        "simulate": c.simulate,
        "integrations": {
            "smm_panel": c.smm_api_key.is_some(),
            "kcp": c.kcp.site_cd.is_some() && c.kcp.cert_info.is_some(),
            "kakao": c.kakao_app_id.is_some(),
            "google": c.google.client_id.is_some(),
            "firebase": !c.firebase.firebase_api_key.is_empty(),
            "cron_token": c.cron_token.is_some(),
        },
    }))
}

crate::router::route_table! {
    Health: GET "/api/health", Public, "health", reply Raw,
        |app, _, _| health(app);
    HealthRoot: GET "/health", Public, "health", reply Raw,
        |app, _, _| health(app);
    Config: GET "/api/config", Public, "config", reply Raw,
        |app, _, _| config(app);
    DeploymentStatus: GET "/api/deployment-status", Public, "deployment_status", reply Raw,
        |app, _, _| deployment_status(app);
    Metrics: GET "/metrics", Metrics, "metrics", reply Raw,
        |app, _, _| metrics(app);
    OpenApi: GET "/api/openapi.json", Public, "openapi", reply Raw,
        |_, _, _| async { crate::handlers::ok(crate::openapi::document()) };
}
