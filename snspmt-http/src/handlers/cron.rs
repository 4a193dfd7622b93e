//! Cron endpoints: the same work as the in-process workers, for deployments that run it
//! from outside (`SNSPMT_WORKERS=0`). Safe to call concurrently from many places.

use schemars::JsonSchema;
use serde::Serialize;

use crate::error::ApiError;
use crate::router::Json;
use crate::{jobs, log, App};

/// Answers a cron call, with one life-cycle log line of what it did.
fn ran<T: Serialize>(app: &App, job: &str, answer: T) -> Result<Json<T>, ApiError> {
    if app.config.log_requests {
        let mut fields = serde_json::to_value(&answer).unwrap_or_default();
        if let Some(map) = fields.as_object_mut() {
            map.remove("success");
            map.insert("job".into(), job.into());
        }
        log::event("cron.run", fields);
    }
    Ok(Json(answer))
}

/// What a status sync did.
#[derive(Serialize, JsonSchema)]
pub struct Synced {
    pub success: bool,
    /// Orders asked about.
    pub processed: i64,
    /// Orders that reached an end (completed, partial, canceled).
    pub settled: i64,
    /// Upstream calls made.
    pub calls: i64,
    /// Batches that failed (their orders stay as they were).
    pub failed_calls: i64,
}

pub async fn sync_order_status(app: &App) -> Result<Json<Synced>, ApiError> {
    let report = jobs::sync_due(app, 10_000).await?;
    let answer = Synced {
        success: true,
        processed: report.checked,
        settled: report.settled,
        calls: report.calls,
        failed_calls: report.failed_calls,
    };
    ran(app, "sync-order-status", answer)
}

/// What a submission run sent.
#[derive(Serialize, JsonSchema)]
pub struct Processed {
    pub success: bool,
    /// Submissions made.
    pub processed: i64,
    /// Of them, orders (only from `process-scheduled-orders`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders: Option<i64>,
    /// Of them, parts of package and split orders (only from `process-scheduled-orders`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<i64>,
}

/// Submits every due job (new and scheduled orders, retries whose time has come), and the
/// due parts of package and split orders.
pub async fn process_due_orders(app: &App) -> Result<Json<Processed>, ApiError> {
    let orders = jobs::submit_due(app, 1_000).await?;
    let parts = jobs::submit_due_parts(app, None, 1_000).await?;
    let answer =
        Processed { success: true, processed: orders + parts, orders: Some(orders), parts: Some(parts) };
    ran(app, "process-scheduled-orders", answer)
}

/// Submits the due days of split deliveries.
pub async fn process_split_deliveries(app: &App) -> Result<Json<Processed>, ApiError> {
    let processed = jobs::submit_due_parts(app, Some(snspmt_store::PartKind::Split), 1_000).await?;
    ran(app, "process-split-deliveries", Processed { success: true, processed, orders: None, parts: None })
}

/// Submits the due steps of package orders.
pub async fn process_package_steps(app: &App) -> Result<Json<Processed>, ApiError> {
    let processed = jobs::submit_due_parts(app, Some(snspmt_store::PartKind::Package), 1_000).await?;
    ran(app, "process-package-steps", Processed { success: true, processed, orders: None, parts: None })
}

crate::router::route_table! {
    CronSyncOrderStatus: POST "/api/cron/sync-order-status", Cron, "cron.sync_order_status",
        reply Json<Synced>,
        |app, _, _| sync_order_status(app);
    CronProcessScheduledOrders: POST "/api/cron/process-scheduled-orders", Cron,
        "cron.process_scheduled_orders", reply Json<Processed>,
        |app, _, _| process_due_orders(app);
    CronProcessSplitDeliveries: POST "/api/cron/process-split-deliveries", Cron,
        "cron.process_split_deliveries", reply Json<Processed>,
        |app, _, _| process_split_deliveries(app);
    CronProcessPackageSteps: POST "/api/cron/process-package-steps", Cron, "cron.process_package_steps",
        reply Json<Processed>,
        |app, _, _| process_package_steps(app);
}
