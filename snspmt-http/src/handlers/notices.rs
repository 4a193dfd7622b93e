//! Notices: admin CRUD, and the ones showing now. Also the input checks shared with the blog.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use snspmt_store::{Millis, NewAudit, NewNotice, Notice};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{PageQuery, Paging};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::Req;
use crate::router::Json;
use crate::views::{self, NoticeView};
use crate::App;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_NOTICE_CHARS: usize = 20_000;
pub const MAX_URL_LEN: usize = 2048;
/// The popup types: the original client's `notice` (shown to visitors, the default) and `login`
/// (shown after sign-in, with `login_popup_image_url`), and our display styles beside them.
pub const POPUP_TYPES: [&str; 5] = ["notice", "login", "modal", "banner", "toast"];

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(d)?))
}

/// A one-line text (a title): trimmed, 1..=`max` characters, no control characters.
pub fn line(field: &'static str, s: &str, max: usize) -> Result<String, ApiError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ApiError::invalid_field(field, "missing_field", format!("{field} must not be empty")));
    }
    if t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            field,
            "invalid_text",
            format!("{field} is over {max} characters or has control characters"),
        ));
    }
    Ok(t.to_owned())
}

/// A text body: at most `max` characters; tabs and line breaks are the only control
/// characters (everything stored can be written into XML).
pub fn body_text(field: &'static str, s: &str, max: usize) -> Result<String, ApiError> {
    if s.chars().count() > max || s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(ApiError::invalid_field(
            field,
            "invalid_text",
            format!("{field} is over {max} characters or has control characters"),
        ));
    }
    Ok(s.to_owned())
}

/// An image or link URL: our own path (`/uploads/…`) or an `http(s)` URL; never
/// `javascript:` and the like.
pub fn url(field: &'static str, s: &str) -> Result<Option<String>, ApiError> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let lower = t.to_ascii_lowercase();
    let scheme_ok = (t.starts_with('/') && !t.starts_with("//"))
        || lower.starts_with("https://")
        || lower.starts_with("http://");
    if !scheme_ok || t.len() > MAX_URL_LEN || t.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::invalid_field(
            field,
            "invalid_url",
            format!("{field} must be a path or an http(s) URL"),
        ));
    }
    Ok(Some(t.to_owned()))
}

/// An RFC 3339 time as milliseconds.
pub fn time(field: &'static str, s: &str) -> Result<Millis, ApiError> {
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
        .map(Millis)
        .ok_or_else(|| {
            ApiError::invalid_field(field, "invalid_time", format!("{field} must be an RFC 3339 time"))
        })
}

/// A numeric id from the path.
pub fn path_id(what: &str, id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| ApiError::not_found(what))
}

/// A notice as the operator sends it; on update, absent fields keep their value and `null`
/// clears a nullable one. On create, `title` is required.
#[derive(Deserialize, JsonSchema)]
pub struct NoticeBody {
    /// One line, 1 to 200 characters.
    title: Option<String>,
    /// At most 20,000 characters; empty by default.
    content: Option<String>,
    /// Our own path (`/uploads/…`) or an http(s) URL.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    image_url: Option<Option<String>>,
    /// The image of a `login` popup: our own path or an http(s) URL.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    login_popup_image_url: Option<Option<String>>,
    /// `notice` by default.
    #[schemars(extend("enum" = ["notice", "login", "modal", "banner", "toast", null]))]
    popup_type: Option<String>,
    /// `true` by default.
    is_active: Option<bool>,
    /// RFC 3339; `null`: shown from the start.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    starts_at: Option<Option<String>>,
    /// RFC 3339, after `starts_at`; `null`: never ends.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    ends_at: Option<Option<String>>,
}

/// The body over `base` (update) or over the defaults (create).
fn merged(body: NoticeBody, base: Option<&Notice>) -> Result<NewNotice, ApiError> {
    let title = match (body.title.as_deref(), base) {
        (Some(t), _) => line("title", t, MAX_TITLE_CHARS)?,
        (None, Some(b)) => b.title.clone(),
        (None, None) => return Err(ApiError::invalid_field("title", "missing_field", "title is required")),
    };
    let content = match (body.content.as_deref(), base) {
        (Some(c), _) => body_text("content", c, MAX_NOTICE_CHARS)?,
        (None, Some(b)) => b.content.clone(),
        (None, None) => String::new(),
    };
    let image_url = match body.image_url {
        Some(Some(u)) => url("image_url", &u)?,
        Some(None) => None,
        None => base.and_then(|b| b.image_url.clone()),
    };
    let login_popup_image_url = match body.login_popup_image_url {
        Some(Some(u)) => url("login_popup_image_url", &u)?,
        Some(None) => None,
        None => base.and_then(|b| b.login_popup_image_url.clone()),
    };
    let popup_type = match (body.popup_type.as_deref(), base) {
        (Some(p), _) => {
            POPUP_TYPES.iter().find(|t| **t == p.trim()).map(|t| (*t).to_owned()).ok_or_else(|| {
                ApiError::invalid_field(
                    "popup_type",
                    "invalid_popup_type",
                    "popup_type must be notice, login, modal, banner or toast",
                )
            })?
        }
        (None, Some(b)) => b.popup_type.clone(),
        (None, None) => POPUP_TYPES[0].to_owned(),
    };
    let moment = |field: &'static str, v: Option<Option<String>>, old: Option<Millis>| match v {
        Some(Some(s)) => time(field, &s).map(Some),
        Some(None) => Ok(None),
        None => Ok(old),
    };
    let starts_at = moment("starts_at", body.starts_at, base.and_then(|b| b.starts_at))?;
    let ends_at = moment("ends_at", body.ends_at, base.and_then(|b| b.ends_at))?;
    if let (Some(s), Some(e)) = (starts_at, ends_at) {
        if e <= s {
            return Err(ApiError::invalid_field(
                "ends_at",
                "invalid_window",
                "ends_at must be after starts_at",
            ));
        }
    }
    Ok(NewNotice {
        title,
        content,
        image_url,
        popup_type,
        is_active: body.is_active.or(base.map(|b| b.is_active)).unwrap_or(true),
        starts_at,
        ends_at,
        login_popup_image_url,
    })
}

fn audit(caller: &Caller, action: &str, target: Option<String>, n: Option<&NewNotice>) -> NewAudit {
    NewAudit {
        actor: caller.actor(),
        action: action.into(),
        target,
        detail: match n {
            Some(n) => json!({"title": n.title, "is_active": n.is_active, "popup_type": n.popup_type,
                "starts_at": n.starts_at, "ends_at": n.ends_at,
                "login_popup_image_url": n.login_popup_image_url})
            .to_string(),
            None => "{}".into(),
        },
    }
}

/// The notices showing now.
#[derive(Serialize, JsonSchema)]
pub struct ActiveNotices {
    success: bool,
    notices: Vec<NoticeView>,
}

pub async fn active(app: &App) -> Result<Json<ActiveNotices>, ApiError> {
    let notices = app.store.active_notices(app.clock.now()).await?;
    Ok(Json(ActiveNotices { success: true, notices: notices.iter().map(views::notice).collect() }))
}

/// A page of notices.
#[derive(Serialize, JsonSchema)]
pub struct Notices {
    success: bool,
    notices: Vec<NoticeView>,
    /// How many there are in all.
    total: i64,
    limit: i64,
    offset: i64,
}

pub async fn list(app: &App, req: &Req) -> Result<Json<Notices>, ApiError> {
    let query: PageQuery = req.query_as()?;
    let paging = Paging::of(query.limit, query.offset)?;
    let page = app.store.notices(paging.limit, paging.offset).await?;
    Ok(Json(Notices {
        success: true,
        notices: page.rows.iter().map(views::notice).collect(),
        total: page.total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// One notice.
#[derive(Serialize, JsonSchema)]
pub struct OneNotice {
    notice: NoticeView,
}

pub async fn get(app: &App, id: &str) -> Result<Json<OneNotice>, ApiError> {
    let id = path_id("notice", id)?;
    let notice = app.store.notice(id).await?.ok_or_else(|| ApiError::not_found("notice"))?;
    Ok(Json(OneNotice { notice: views::notice(&notice) }))
}

/// A notice after a change.
#[derive(Serialize, JsonSchema)]
pub struct NoticeChanged {
    success: bool,
    notice: NoticeView,
}

/// The notice is gone.
#[derive(Serialize, JsonSchema)]
pub struct NoticeDeleted {
    success: bool,
}

pub async fn create(app: &App, caller: &Caller, req: &Req) -> Result<Json<NoticeChanged>, ApiError> {
    let notice = merged(req.json()?, None)?;
    let audit = audit(caller, "notices.create", None, Some(&notice));
    let stored = app.store.create_notice(notice, audit, app.clock.now()).await?;
    Ok(Json(NoticeChanged { success: true, notice: views::notice(&stored) }))
}

pub async fn update(
    app: &App,
    caller: &Caller,
    id: &str,
    req: &Req,
) -> Result<Json<NoticeChanged>, ApiError> {
    let id = path_id("notice", id)?;
    let body: NoticeBody = req.json()?;
    let base = app.store.notice(id).await?.ok_or_else(|| ApiError::not_found("notice"))?;
    let notice = merged(body, Some(&base))?;
    let audit = audit(caller, "notices.update", Some(id.to_string()), Some(&notice));
    let stored = app.store.update_notice(id, notice, audit, app.clock.now()).await?;
    Ok(Json(NoticeChanged { success: true, notice: views::notice(&stored) }))
}

pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<Json<NoticeDeleted>, ApiError> {
    let id = path_id("notice", id)?;
    let audit = audit(caller, "notices.delete", Some(id.to_string()), None);
    app.store.delete_notice(id, audit, app.clock.now()).await.map_err(|e| match e {
        snspmt_store::StoreError::NotFound => ApiError::not_found("notice"),
        other => other.into(),
    })?;
    Ok(Json(NoticeDeleted { success: true }))
}

crate::router::route_table! {
    ActiveNotices: GET "/api/notices/active", Public, "notices.active",
        reply Json<ActiveNotices>,
        |app, _, _| active(app);
    AdminNotices: GET "/api/admin/notices", Admin, "admin.notices",
        query PageQuery, reply Json<Notices>,
        |app, _, req| list(app, req);
    AdminCreateNotice: POST "/api/admin/notices", Admin, "admin.notices.create",
        body NoticeBody, reply Json<NoticeChanged>,
        |app, caller, req| create(app, caller, req);
    AdminNotice: GET "/api/admin/notices/{id}", Admin, "admin.notices.get",
        reply Json<OneNotice>,
        |app, _, _, id| get(app, id);
    AdminUpdateNotice: PUT "/api/admin/notices/{id}", Admin, "admin.notices.update",
        body NoticeBody, reply Json<NoticeChanged>,
        |app, caller, req, id| update(app, caller, id, req);
    AdminDeleteNotice: DELETE "/api/admin/notices/{id}", Admin, "admin.notices.delete",
        reply Json<NoticeDeleted>,
        |app, caller, _, id| delete(app, caller, id);
}
