//! Cron endpoints: the same work as the in-process workers, for deployments that run it
//! from outside (`SNSPMT_WORKERS=0`). Safe to call concurrently from many places.

use serde_json::json;

use super::{ok, Reply};
use crate::router::Raw;
use crate::{jobs, log, App};

/// Answers a cron call, with one life-cycle log line of what it did.
fn ran(app: &App, job: &str, answer: serde_json::Value) -> Reply {
    if app.config.log_requests {
        let mut fields = answer.clone();
        if let Some(map) = fields.as_object_mut() {
            map.remove("success");
            map.insert("job".into(), job.into());
        }
        log::event("cron.run", fields);
    }
    ok(answer)
}

pub async fn sync_order_status(app: &App) -> Reply {
    let report = jobs::sync_due(app, 10_000).await?;
    let answer = json!({
        "success": true,
        "processed": report.checked,
        "settled": report.settled,
        "calls": report.calls,
        "failed_calls": report.failed_calls,
    });
    ran(app, "sync-order-status", answer)
}

/// Submits every due job (new and scheduled orders, retries whose time has come), and the
/// due parts of package and split orders.
pub async fn process_due_orders(app: &App) -> Reply {
    let orders = jobs::submit_due(app, 1_000).await?;
    let parts = jobs::submit_due_parts(app, None, 1_000).await?;
    ran(
        app,
        "process-scheduled-orders",
        json!({"success": true, "processed": orders + parts, "orders": orders, "parts": parts}),
    )
}

/// Submits the due days of split deliveries.
pub async fn process_split_deliveries(app: &App) -> Reply {
    let processed = jobs::submit_due_parts(app, Some(snspmt_store::PartKind::Split), 1_000).await?;
    ran(app, "process-split-deliveries", json!({"success": true, "processed": processed}))
}

/// Submits the due steps of package orders.
pub async fn process_package_steps(app: &App) -> Reply {
    let processed = jobs::submit_due_parts(app, Some(snspmt_store::PartKind::Package), 1_000).await?;
    ran(app, "process-package-steps", json!({"success": true, "processed": processed}))
}

crate::router::route_table! {
    CronSyncOrderStatus: POST "/api/cron/sync-order-status", Cron, "cron.sync_order_status", reply Raw,
        |app, _, _| sync_order_status(app);
    CronProcessScheduledOrders: POST "/api/cron/process-scheduled-orders", Cron, "cron.process_scheduled_orders", reply Raw,
        |app, _, _| process_due_orders(app);
    CronProcessSplitDeliveries: POST "/api/cron/process-split-deliveries", Cron, "cron.process_split_deliveries", reply Raw,
        |app, _, _| process_split_deliveries(app);
    CronProcessPackageSteps: POST "/api/cron/process-package-steps", Cron, "cron.process_package_steps", reply Raw,
        |app, _, _| process_package_steps(app);
}
