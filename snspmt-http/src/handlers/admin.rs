//! The admin API of the foundation: users, the points ledger, migrations, the audit log.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use snspmt_core::{validate, LedgerKind, Millis};
use snspmt_store::{LedgerFilter, NewAudit, Posting, ProfilePatch};

use super::{PageQuery, Paging};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Json;
use crate::views::{self, AuditEntryView, LedgerEntryView, UserView};
use crate::App;

/// `GET /api/admin/users`.
#[derive(Deserialize, JsonSchema)]
pub struct UsersQuery {
    /// Only users whose id, e-mail, name or display name contains this text (any case).
    search: Option<String>,
    /// At most this many rows: 1 to 200, default 50.
    limit: Option<u32>,
    /// Skip this many rows first (default 0).
    offset: Option<u32>,
}

/// A page of users.
#[derive(Serialize, JsonSchema)]
pub struct UsersPage {
    users: Vec<UserView>,
    /// How many users match in all.
    total: i64,
    limit: i64,
    offset: i64,
}

pub async fn users(app: &App, req: &Req) -> Result<Json<UsersPage>, ApiError> {
    let query: UsersQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.list_users(query.search.as_deref(), paging.limit, paging.offset).await?;
    Ok(Json(UsersPage {
        users: page.rows.iter().map(views::user).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// A field that is present, `null` included (serde alone reads `null` as absent).
fn present_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// `PUT /api/admin/users/{user_id}`: the fields to change; at least one.
#[derive(Deserialize, JsonSchema)]
pub struct UpdateUser {
    /// Absent: unchanged; `null`: removed; a string: the new address.
    #[serde(default, deserialize_with = "present_value")]
    #[schemars(with = "Option<String>")]
    email: Option<Value>,
    name: Option<String>,
    display_name: Option<String>,
    is_admin: Option<bool>,
    /// Points to add (negative: to take) through the ledger; needs `reason`.
    points_adjustment: Option<i64>,
    /// Why the balance changes (kept in the ledger and the audit log).
    reason: Option<String>,
    /// Refused (400 `balance_not_writable`): a balance is never overwritten, only adjusted
    /// through the ledger with `points_adjustment`.
    points: Option<Value>,
    /// Refused like `points`.
    balance: Option<Value>,
}

/// The account after the change.
#[derive(Serialize, JsonSchema)]
pub struct UserUpdated {
    success: bool,
    user: UserView,
}

pub async fn update_user(
    app: &App,
    caller: &Caller,
    user_id: &str,
    req: &Req,
) -> Result<Json<UserUpdated>, ApiError> {
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
    Ok(Json(UserUpdated { success: true, user: views::user(&user) }))
}

/// `GET /api/admin/transactions`.
#[derive(Deserialize, JsonSchema)]
pub struct TransactionsQuery {
    /// Only this user's rows.
    user_id: Option<String>,
    /// Only rows of this kind.
    kind: Option<LedgerKind>,
    /// At most this many rows: 1 to 200, default 50.
    limit: Option<u32>,
    /// Skip this many rows first (default 0).
    offset: Option<u32>,
}

/// A page of the points ledger, newest first.
#[derive(Serialize, JsonSchema)]
pub struct TransactionsPage {
    transactions: Vec<LedgerEntryView>,
    /// How many rows match in all.
    total: i64,
    limit: i64,
    offset: i64,
}

pub async fn transactions(app: &App, req: &Req) -> Result<Json<TransactionsPage>, ApiError> {
    let query: TransactionsQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let filter =
        LedgerFilter { user_id: query.user_id, kind: query.kind, limit: paging.limit, offset: paging.offset };
    let page = app.store.ledger(filter).await?;
    Ok(Json(TransactionsPage {
        transactions: page.rows.iter().map(views::ledger_entry).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// What the migration did.
#[derive(Serialize, JsonSchema)]
pub struct Migrated {
    success: bool,
    /// The migrations applied now (none when the schema was current).
    applied: Vec<String>,
    /// The schema version after.
    version: i64,
}

pub async fn migrate_database(app: &App, caller: &Caller) -> Result<Json<Migrated>, ApiError> {
    let now = app.clock.now();
    let report = app.store.migrate(now).await?;
    let audit = NewAudit {
        actor: caller.actor(),
        action: "database.migrate".into(),
        target: None,
        detail: json!({"applied": report.applied, "version": report.version}).to_string(),
    };
    app.store.record_audit(audit, now).await?;
    Ok(Json(Migrated { success: true, applied: report.applied, version: report.version }))
}

/// A page of the audit log, newest first.
#[derive(Serialize, JsonSchema)]
pub struct AuditLogPage {
    entries: Vec<AuditEntryView>,
    /// How many entries there are in all.
    total: i64,
    limit: i64,
    offset: i64,
}

pub async fn audit_log(app: &App, req: &Req) -> Result<Json<AuditLogPage>, ApiError> {
    let query: PageQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.audit_log(paging.limit, paging.offset).await?;
    Ok(Json(AuditLogPage {
        entries: page.rows.iter().map(views::audit_entry).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// Milliseconds of the start of the day and of the month containing `now`, in the
/// configured time zone (`SNSPMT_TZ_OFFSET`).
pub fn day_and_month_start(now: Millis, tz_offset_minutes: i32) -> (Millis, Millis) {
    let offset = i64::from(tz_offset_minutes) * 60_000;
    let local = now.plus_ms(offset).0;
    let day = local.div_euclid(86_400_000);
    let today_start = day * 86_400_000 - offset;
    let date = time::OffsetDateTime::from_unix_timestamp(day * 86_400).map(|t| t.date()).ok();
    let month_start = date
        .and_then(|d| d.replace_day(1).ok())
        .map(|first| first.midnight().assume_utc().unix_timestamp() * 1000 - offset)
        .unwrap_or(today_start);
    (Millis(today_start), Millis(month_start))
}

/// The dashboard's figures. Revenue is in points, as the ledger defines it; "today" and "this
/// month" are in the configured time zone (`SNSPMT_TZ_OFFSET`).
#[derive(Clone, Serialize, JsonSchema)]
pub struct Figures {
    total_users: i64,
    total_orders: i64,
    /// Points, all time.
    total_revenue: i64,
    /// Purchases waiting for an operator.
    pending_purchases: i64,
    today_orders: i64,
    /// Points.
    today_revenue: i64,
    /// Points, this month.
    monthly_sales: i64,
}

/// The dashboard: the figures, once at the top and once under `stats` (the original client's
/// place).
#[derive(Serialize, JsonSchema)]
pub struct Dashboard {
    success: bool,
    #[serde(flatten)]
    figures: Figures,
    stats: Figures,
}

/// The dashboard: totals, and today's and this month's orders and revenue (ledger-defined).
pub async fn stats(app: &App) -> Result<Json<Dashboard>, ApiError> {
    let now = app.clock.now();
    let (today_start, month_start) = day_and_month_start(now, app.config.tz_offset_minutes);
    let s = app.store.dashboard_stats(today_start, month_start).await?;
    let figures = Figures {
        total_users: s.total_users,
        total_orders: s.total_orders,
        total_revenue: s.total_revenue,
        pending_purchases: s.pending_purchases,
        today_orders: s.today_orders,
        today_revenue: s.today_revenue,
        monthly_sales: s.monthly_sales,
    };
    Ok(Json(Dashboard { success: true, stats: figures.clone(), figures }))
}

crate::router::route_table! {
    AdminUsers: GET "/api/admin/users", Admin, "admin.users", query UsersQuery, reply Json<UsersPage>,
        |app, _, req| users(app, req);
    AdminUpdateUser: PUT "/api/admin/users/{user_id}", Admin, "admin.users.update", body UpdateUser,
        reply Json<UserUpdated>,
        |app, caller, req, user_id| update_user(app, caller, user_id, req);
    AdminTransactions: GET "/api/admin/transactions", Admin, "admin.transactions", query TransactionsQuery,
        reply Json<TransactionsPage>,
        |app, _, req| transactions(app, req);
    AdminMigrateDatabase: POST "/api/admin/migrate-database", Admin, "admin.migrate_database",
        reply Json<Migrated>,
        |app, caller, _| migrate_database(app, caller);
    AdminAuditLog: GET "/api/admin/audit-log", Admin, "admin.audit_log", query PageQuery,
        reply Json<AuditLogPage>,
        |app, _, req| audit_log(app, req);
    AdminStats: GET "/api/admin/stats", Admin, "admin.stats", reply Json<Dashboard>,
        |app, _, _| stats(app);
}

#[cfg(test)]
mod tests {
    use super::{day_and_month_start, Millis};

    #[test]
    fn days_and_months_in_the_configured_zone() {
        // 2024-03-01T00:30:00+09:00 is 2024-02-29T15:30:00Z.
        let now = 1_709_220_600_000;
        let (day, month) = day_and_month_start(Millis(now), 540);
        assert_eq!(day, Millis(1_709_218_800_000), "2024-03-01T00:00+09:00");
        assert_eq!(month, day, "the first of the month");
        let (day, month) = day_and_month_start(Millis(now), 0);
        assert_eq!(day, Millis(1_709_164_800_000), "2024-02-29T00:00Z");
        assert_eq!(month, Millis(1_706_745_600_000), "2024-02-01T00:00Z");
    }
}
