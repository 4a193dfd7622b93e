//! The admin API of the foundation: users, the points ledger, migrations, the audit log.

use serde::Deserialize;
use serde_json::{json, Value};
use snspmt_core::{validate, LedgerKind};
use snspmt_store::{LedgerFilter, NewAudit, Posting, ProfilePatch};

use super::{ok, Paging, Reply};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Raw;
use crate::{views, App};

pub async fn users(app: &App, req: &Req) -> Reply {
    let paging = Paging::from(req)?;
    let page = app.store.list_users(req.query("search"), paging.limit, paging.offset).await?;
    ok(json!({
        "users": page.rows.iter().map(views::user).collect::<Vec<_>>(),
        "total": page.total,
        "limit": paging.limit,
        "offset": paging.offset,
    }))
}

/// A field that is present, `null` included (serde alone reads `null` as absent).
fn present_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct UpdateUser {
    /// Absent: unchanged; `null`: removed; a string: the new address.
    #[serde(default, deserialize_with = "present_value")]
    email: Option<Value>,
    name: Option<String>,
    display_name: Option<String>,
    is_admin: Option<bool>,
    points_adjustment: Option<i64>,
    reason: Option<String>,
    /// Refused: a balance is never overwritten, only adjusted through the ledger.
    points: Option<Value>,
    balance: Option<Value>,
}

pub async fn update_user(app: &App, caller: &Caller, user_id: &str, req: &Req) -> Reply {
    let body: UpdateUser = req.json()?;
    if body.points.is_some() || body.balance.is_some() {
        return Err(ApiError::invalid_field(
            if body.points.is_some() { "points" } else { "balance" },
            "balance_not_writable",
            "a balance cannot be set; send points_adjustment with a reason",
        ));
    }
    let email = match body.email {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(validate::email(&s)?)),
        Some(_) => {
            return Err(ApiError::invalid_field("email", "invalid_type", "email must be a string or null"))
        }
    };
    let patch = ProfilePatch {
        email,
        name: body.name.as_deref().map(|n| validate::short_text("name", n)).transpose()?.map(str::to_owned),
        display_name: body
            .display_name
            .as_deref()
            .map(|n| validate::short_text("display_name", n))
            .transpose()?
            .map(str::to_owned),
        is_admin: body.is_admin,
    };
    let reason = body.reason.as_deref().map(validate::description).transpose()?.filter(|r| !r.is_empty());
    let adjustment = match body.points_adjustment {
        None => None,
        Some(v) => {
            let amount = validate::adjustment("points_adjustment", v)?;
            let reason = reason.ok_or_else(|| {
                ApiError::invalid_field("reason", "reason_required", "a points adjustment needs a reason")
            })?;
            Some(Posting {
                user_id: user_id.to_owned(),
                kind: LedgerKind::AdminAdjust,
                amount,
                reference: Some(format!("admin:{}", caller.actor())),
                description: reason.to_owned(),
                event_ref: None,
                audit: None,
            })
        }
    };
    if patch.is_empty() && adjustment.is_none() {
        return Err(ApiError::bad_request("nothing_to_update", "the body changes nothing"));
    }
    let audit = NewAudit {
        actor: caller.actor(),
        action: "users.update".into(),
        target: Some(user_id.to_owned()),
        detail: json!({
            "email": patch.email,
            "name": patch.name,
            "display_name": patch.display_name,
            "is_admin": patch.is_admin,
            "points_adjustment": body.points_adjustment,
            "reason": reason,
        })
        .to_string(),
    };
    let user = app.store.update_user(user_id, patch, adjustment, audit, app.clock.now()).await?;
    ok(json!({"success": true, "user": views::user(&user)}))
}

pub async fn transactions(app: &App, req: &Req) -> Reply {
    let paging = Paging::from(req)?;
    let kind = req.query_parsed::<LedgerKind>("kind", "a ledger kind (purchase, order_charge, …)")?;
    let filter = LedgerFilter {
        user_id: req.query("user_id").map(str::to_owned),
        kind,
        limit: paging.limit,
        offset: paging.offset,
    };
    let page = app.store.ledger(filter).await?;
    ok(json!({
        "transactions": page.rows.iter().map(views::ledger_entry).collect::<Vec<_>>(),
        "total": page.total,
        "limit": paging.limit,
        "offset": paging.offset,
    }))
}

pub async fn migrate_database(app: &App, caller: &Caller) -> Reply {
    let now = app.clock.now();
    let report = app.store.migrate(now).await?;
    let audit = NewAudit {
        actor: caller.actor(),
        action: "database.migrate".into(),
        target: None,
        detail: json!({"applied": report.applied, "version": report.version}).to_string(),
    };
    app.store.record_audit(audit, now).await?;
    ok(json!({"success": true, "applied": report.applied, "version": report.version}))
}

pub async fn audit_log(app: &App, req: &Req) -> Reply {
    let paging = Paging::from(req)?;
    let page = app.store.audit_log(paging.limit, paging.offset).await?;
    ok(json!({
        "entries": page.rows.iter().map(views::audit_entry).collect::<Vec<_>>(),
        "total": page.total,
        "limit": paging.limit,
        "offset": paging.offset,
    }))
}

/// Milliseconds of the start of the day and of the month containing `now`, in the
/// configured time zone (`SNSPMT_TZ_OFFSET`).
pub fn day_and_month_start(now: i64, tz_offset_minutes: i32) -> (i64, i64) {
    let offset = i64::from(tz_offset_minutes) * 60_000;
    let local = now + offset;
    let day = local.div_euclid(86_400_000);
    let today_start = day * 86_400_000 - offset;
    let date = time::OffsetDateTime::from_unix_timestamp(day * 86_400).map(|t| t.date()).ok();
    let month_start = date
        .and_then(|d| d.replace_day(1).ok())
        .map(|first| first.midnight().assume_utc().unix_timestamp() * 1000 - offset)
        .unwrap_or(today_start);
    (today_start, month_start)
}

/// The dashboard: totals, and today's and this month's orders and revenue (ledger-defined).
pub async fn stats(app: &App) -> Reply {
    let now = app.clock.now();
    let (today_start, month_start) = day_and_month_start(now, app.config.tz_offset_minutes);
    let s = app.store.dashboard_stats(today_start, month_start).await?;
    ok(json!({
        "success": true,
        "total_users": s.total_users,
        "total_orders": s.total_orders,
        "total_revenue": s.total_revenue,
        "pending_purchases": s.pending_purchases,
        "today_orders": s.today_orders,
        "today_revenue": s.today_revenue,
        "monthly_sales": s.monthly_sales,
        "stats": {
            "total_users": s.total_users,
            "total_orders": s.total_orders,
            "total_revenue": s.total_revenue,
            "pending_purchases": s.pending_purchases,
            "today_orders": s.today_orders,
            "today_revenue": s.today_revenue,
            "monthly_sales": s.monthly_sales,
        },
    }))
}

crate::router::route_table! {
    AdminUsers: GET "/api/admin/users", Admin, "admin.users", reply Raw,
        |app, _, req| users(app, req);
    AdminUpdateUser: PUT "/api/admin/users/{user_id}", Admin, "admin.users.update", reply Raw,
        |app, caller, req, user_id| update_user(app, caller, user_id, req);
    AdminTransactions: GET "/api/admin/transactions", Admin, "admin.transactions", reply Raw,
        |app, _, req| transactions(app, req);
    AdminMigrateDatabase: POST "/api/admin/migrate-database", Admin, "admin.migrate_database", reply Raw,
        |app, caller, _| migrate_database(app, caller);
    AdminAuditLog: GET "/api/admin/audit-log", Admin, "admin.audit_log", reply Raw,
        |app, _, req| audit_log(app, req);
    AdminStats: GET "/api/admin/stats", Admin, "admin.stats", reply Raw,
        |app, _, _| stats(app);
}

#[cfg(test)]
mod tests {
    use super::day_and_month_start;

    #[test]
    fn days_and_months_in_the_configured_zone() {
        // 2024-03-01T00:30:00+09:00 is 2024-02-29T15:30:00Z.
        let now = 1_709_220_600_000;
        let (day, month) = day_and_month_start(now, 540);
        assert_eq!(day, 1_709_218_800_000, "2024-03-01T00:00+09:00");
        assert_eq!(month, day, "the first of the month");
        let (day, month) = day_and_month_start(now, 0);
        assert_eq!(day, 1_709_164_800_000, "2024-02-29T00:00Z");
        assert_eq!(month, 1_706_745_600_000, "2024-02-01T00:00Z");
    }
}
