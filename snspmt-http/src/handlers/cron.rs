//! Cron endpoints: the same work as the in-process workers, for deployments that run it
//! from outside (`SNSPMT_WORKERS=0`). Safe to call concurrently from many places.

use serde_json::json;

use super::{ok, Reply};
use crate::{jobs, App};

pub async fn sync_order_status(app: &App) -> Reply {
    let report = jobs::sync_due(app, 10_000).await?;
    ok(json!({
        "success": true,
        "processed": report.checked,
        "settled": report.settled,
        "calls": report.calls,
        "failed_calls": report.failed_calls,
    }))
}

/// Submits every due job (new orders waiting, retries whose time has come).
pub async fn process_due_orders(app: &App) -> Reply {
    let processed = jobs::submit_due(app, 1_000).await?;
    ok(json!({"success": true, "processed": processed}))
}
