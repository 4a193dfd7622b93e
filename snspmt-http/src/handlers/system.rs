//! Health, public configuration and deployment status.

use hyper::StatusCode;
use schemars::JsonSchema;
use serde::Serialize;
use snspmt_store::Store;

use crate::error::ApiError;
use crate::router::{Json, Raw, Text};
use crate::App;

/// The server and its database answer.
#[derive(Serialize, JsonSchema)]
pub struct Health {
    /// Always `ok` here (a failed database ping is a 503 with `status: error`).
    #[schemars(extend("enum" = ["ok"]))]
    status: &'static str,
    #[schemars(extend("enum" = ["ok"]))]
    database: &'static str,
}

/// 200 when the database answers a ping; 503 `unavailable` (with `status: error` and
/// `database: unavailable`) when it does not.
pub async fn health(app: &App) -> Result<Json<Health>, ApiError> {
    match app.store.ping().await {
        Ok(()) => Ok(Json(Health { status: "ok", database: "ok" })),
        Err(e) => {
            crate::log::error(&format!("health: database ping failed: {e}"));
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "database unavailable")
                .with("status", "error")
                .with("database", "unavailable"))
        }
    }
}

/// `GET /metrics`: the Prometheus text format.
pub async fn metrics(app: &App) -> Result<Raw, ApiError> {
    let now = app.clock.now();
    let counts = app.store.ops_counts(now.minus_ms(super::purchases::APPROVING_TOO_LONG_MS)).await?;
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

/// The web client's public configuration (Firebase); empty strings when not configured.
#[derive(Serialize, JsonSchema)]
pub struct PublicConfig {
    firebase_api_key: String,
    firebase_auth_domain: String,
    firebase_project_id: String,
}

pub async fn config(app: &App) -> Result<Json<PublicConfig>, ApiError> {
    let f = &app.config.firebase;
    Ok(Json(PublicConfig {
        firebase_api_key: f.firebase_api_key.clone(),
        firebase_auth_domain: f.firebase_auth_domain.clone(),
        firebase_project_id: f.firebase_project_id.clone(),
    }))
}

/// Which integrations are configured (never their secrets).
#[derive(Serialize, JsonSchema)]
pub struct Integrations {
    /// The SMM panel's API key is set.
    smm_panel: bool,
    /// KCP's site code and certificate are set.
    kcp: bool,
    /// Kakao login's app id is set.
    kakao: bool,
    /// Google login's client id is set.
    google: bool,
    /// The Firebase API key is set.
    firebase: bool,
    /// `CRON_TOKEN` is set.
    cron_token: bool,
}

/// What runs: the version, the database and its schema, the integrations configured.
#[derive(Serialize, JsonSchema)]
pub struct DeploymentStatus {
    success: bool,
    /// The server's version.
    version: &'static str,
    /// The database backend.
    #[schemars(extend("enum" = ["sqlite", "postgres"]))]
    database: &'static str,
    /// The schema version (the last migration applied).
    schema_version: i64,
    /// The SMM panel and KCP are simulated (`SNSPMT_SIMULATE=1`).
    simulate: bool,
    integrations: Integrations,
}

pub async fn deployment_status(app: &App) -> Result<Json<DeploymentStatus>, ApiError> {
    let store: &dyn Store = &*app.store;
    let schema_version = store.schema_version().await?;
    let c = &app.config;
    Ok(Json(DeploymentStatus {
        success: true,
        version: env!("CARGO_PKG_VERSION"),
        database: store.backend(),
        schema_version,
        simulate: c.simulate,
        integrations: Integrations {
            smm_panel: c.smm_api_key.is_some(),
            kcp: c.kcp.site_cd.is_some() && c.kcp.cert_info.is_some(),
            kakao: c.kakao_app_id.is_some(),
            google: c.google.client_id.is_some(),
            firebase: !c.firebase.firebase_api_key.is_empty(),
            cron_token: c.cron_token.is_some(),
        },
    }))
}

crate::router::route_table! {
    Health: GET "/api/health", Public, "health", reply Json<Health>,
        |app, _, _| health(app);
    HealthRoot: GET "/health", Public, "health", reply Json<Health>,
        |app, _, _| health(app);
    Config: GET "/api/config", Public, "config", reply Json<PublicConfig>,
        |app, _, _| config(app);
    DeploymentStatus: GET "/api/deployment-status", Public, "deployment_status", reply Json<DeploymentStatus>,
        |app, _, _| deployment_status(app);
    Metrics: GET "/metrics", Metrics, "metrics", reply Text,
        |app, _, _| async move { metrics(app).await.map(Text) };
    OpenApi: GET "/api/openapi.json", Public, "openapi", reply Json<serde_json::Value>,
        |_, _, _| async { Ok(Json(crate::openapi::document())) };
}
