//! What the site says: `/admin/notices` (popups and banners), `/admin/blog` (posts), and the
//! audit log of every operator action (`/admin/audit`).

use hyper::Method;
use serde_json::Value;

use super::kit::{parse_int, path_id, Body, Cell, Field, Form, Page, Row, Section, Table};
use super::{badge, here, int, t, text, unknown_op, Done};
use crate::console::{list as rows, Failure, Pager, Visit};
use crate::error::ApiError;

fn field_text(o: Option<&Value>, field: &str) -> String {
    o.map(|o| text(o, field)).unwrap_or_default()
}

fn flag(o: Option<&Value>, field: &str) -> bool {
    o.and_then(|o| o.get(field)) == Some(&Value::Bool(true))
}

fn active(v: &Visit, o: &Value, field: &str) -> Cell {
    badge(v, if o.get(field) == Some(&Value::Bool(true)) { "active" } else { "inactive" })
}

// ---- notices ----

const POPUP_TYPES: &[(&str, &str)] =
    &[("notice", "공지"), ("modal", "팝업"), ("banner", "배너"), ("toast", "알림"), ("login", "로그인 팝업")];

fn popup_type(v: &Visit, kind: &str) -> String {
    match POPUP_TYPES.iter().find(|(k, _)| *k == kind) {
        Some((_, ko)) => t(v, ko),
        None => kind.to_owned(),
    }
}

fn notice_form(v: &Visit, id: &str, here: &str, op: &str, n: Option<&Value>) -> Form {
    let types = POPUP_TYPES.iter().map(|(k, ko)| ((*k).to_owned(), t(v, ko))).collect();
    Form::post(id, here, op, if n.is_some() { t(v, "저장") } else { t(v, "만들기") })
        .field(Field::text("title", t(v, "제목")).value(field_text(n, "title")).required())
        .field(Field::textarea("content", t(v, "내용")).value(field_text(n, "content")))
        .field(Field::select("popup_type", t(v, "형식"), types).value(field_text(n, "popup_type")))
        .field(Field::text("image_url", t(v, "이미지 주소")).value(field_text(n, "image_url")))
        .field(Field::text("starts_at", t(v, "시작 (RFC 3339)")).value(field_text(n, "starts_at")))
        .field(Field::text("ends_at", t(v, "종료 (RFC 3339)")).value(field_text(n, "ends_at")))
        .field(Field::check("is_active", t(v, "게시"), n.is_none() || flag(n, "is_active")))
}

fn notice_body(v: &Visit) -> Value {
    let mut b = Body::of(v).text("title").text_or_empty("content").text("popup_type").check("is_active");
    for field in ["image_url", "starts_at", "ends_at"] {
        b = match b.raw(field) {
            Some(x) => b.set(field, x),
            None => b.set(field, Value::Null),
        };
    }
    b.value()
}

pub async fn notices(v: &Visit) -> Result<Page, Failure> {
    let here = here(v);
    let mut pager = Pager::from_visit(v, 20);
    let page = v.api(Method::GET, &format!("/api/admin/notices?{}", pager.api_query()), None).await?;
    pager.total = int(&page, "total");
    let mut table =
        Table::new(v.lang, &["번호", "제목", "형식", "기간", "상태", ""], t(v, "공지사항이 없습니다."));
    for n in rows(&page, "notices") {
        let id = int(n, "notice_id");
        table.row(
            Row::new(
                format!("notice-{id}"),
                vec![
                    Cell::link(format!("/admin/notices/{id}"), format!("#{id}")),
                    Cell::text(text(n, "title")),
                    Cell::text(popup_type(v, &text(n, "popup_type"))),
                    Cell::muted(super::shop::period(v, n, "starts_at", "ends_at")),
                    active(v, n, "is_active"),
                ],
            )
            .action(delete_form(v, &format!("delete-notice-{id}"), &here, "notice_id", id)),
        );
    }
    Ok(Page::new(t(v, "공지사항")).section(Section::new("notices", "").table(table).pager(pager)).section(
        Section::new("create", t(v, "공지 추가")).form(notice_form(
            v,
            "create-notice",
            &here,
            "create",
            None,
        )),
    ))
}

fn delete_form(v: &Visit, id: &str, here: &str, field: &str, value: i64) -> Form {
    Form::post(id, here, "delete", t(v, "삭제"))
        .hidden(field, value.to_string())
        .confirm(t(v, "삭제할까요? 되돌릴 수 없습니다."))
        .inline()
        .danger()
}

pub async fn notices_act(v: &Visit, op: &str) -> Result<Done, ApiError> {
    match op {
        "create" => {
            v.api(Method::POST, "/api/admin/notices", Some(&notice_body(v))).await?;
            Ok(Done::said(v, "저장했습니다."))
        }
        "delete" => {
            let id = parse_int(v.lang, "notice_id", v.f("notice_id").unwrap_or(""))?;
            v.api(Method::DELETE, &format!("/api/admin/notices/{id}"), None).await?;
            Ok(Done::said(v, "삭제했습니다."))
        }
        _ => Err(unknown_op(v)),
    }
}

pub async fn notice(v: &Visit, raw: &str) -> Result<Page, Failure> {
    let id = path_id(raw)?;
    let here = here(v);
    let r = v.api(Method::GET, &format!("/api/admin/notices/{id}"), None).await?;
    let n = r.get("notice").cloned().unwrap_or(Value::Null);
    Ok(Page::new(format!("{} #{id}", t(v, "공지사항")))
        .back("/admin/notices", t(v, "목록으로"))
        .section(Section::new("edit", t(v, "수정")).form(notice_form(
            v,
            "edit-notice",
            &here,
            "update",
            Some(&n),
        )))
        .section(Section::new("delete", "").form(delete_form(v, "delete-notice", &here, "notice_id", id))))
}

pub async fn notice_act(v: &Visit, raw: &str, op: &str) -> Result<Done, ApiError> {
    let id = path_id(raw)?;
    match op {
        "update" => {
            v.api(Method::PUT, &format!("/api/admin/notices/{id}"), Some(&notice_body(v))).await?;
            Ok(Done::said(v, "저장했습니다."))
        }
        "delete" => {
            v.api(Method::DELETE, &format!("/api/admin/notices/{id}"), None).await?;
            Ok(Done::said(v, "삭제했습니다.").to("/admin/notices"))
        }
        _ => Err(unknown_op(v)),
    }
}

// ---- blog ----

fn post_form(v: &Visit, id: &str, here: &str, op: &str, p: Option<&Value>) -> Form {
    let tags = p
        .map(|p| rows(p, "tags").iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    Form::post(id, here, op, if p.is_some() { t(v, "저장") } else { t(v, "만들기") })
        .field(Field::text("title", t(v, "제목")).value(field_text(p, "title")).required())
        .field(Field::textarea("content", t(v, "내용 (HTML)")).value(field_text(p, "content")))
        .field(Field::textarea("excerpt", t(v, "요약")).value(field_text(p, "excerpt")))
        .field(Field::text("category", t(v, "카테고리")).value(field_text(p, "category")))
        .field(Field::text("tags", t(v, "태그 (쉼표로 구분)")).value(tags))
        .field(Field::text("thumbnail_url", t(v, "대표 이미지 주소")).value(field_text(p, "thumbnail_url")))
        .field(Field::check("is_published", t(v, "발행"), flag(p, "is_published")))
}

fn post_body(v: &Visit) -> Value {
    let tags: Vec<&str> =
        v.f("tags").unwrap_or("").split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    let mut b = Body::of(v)
        .text("title")
        .text_or_empty("content")
        .text("excerpt")
        .text_or_empty("category")
        .set("tags", tags)
        .check("is_published");
    b = match b.raw("thumbnail_url") {
        Some(x) => b.set("thumbnail_url", x),
        None => b.set("thumbnail_url", Value::Null),
    };
    b.value()
}

pub async fn posts(v: &Visit) -> Result<Page, Failure> {
    let here = here(v);
    let mut pager = Pager::from_visit(v, 20);
    let page = v
        .api(
            Method::GET,
            &format!("/api/admin/blog/posts?page={}&limit={}", pager.page, pager.per_page),
            None,
        )
        .await?;
    pager.total = int(page.get("pagination").unwrap_or(&Value::Null), "total");
    let mut table = Table::new(
        v.lang,
        &["번호", "제목", "카테고리", "#조회", "상태", "일시", ""],
        t(v, "글이 없습니다."),
    );
    for p in rows(&page, "posts") {
        let id = int(p, "post_id");
        let published = p.get("is_published") == Some(&Value::Bool(true));
        table.row(
            Row::new(
                format!("post-{id}"),
                vec![
                    Cell::link(format!("/admin/blog/{id}"), format!("#{id}")),
                    Cell::text(text(p, "title")),
                    Cell::text(text(p, "category")),
                    Cell::Num(int(p, "view_count").to_string()),
                    Cell::Badge(
                        if published { "active" } else { "inactive" }.into(),
                        if published { t(v, "발행") } else { t(v, "초안") },
                    ),
                    Cell::muted(text(p, "created_at")),
                ],
            )
            .action(delete_form(v, &format!("delete-post-{id}"), &here, "post_id", id)),
        );
    }
    Ok(Page::new(t(v, "블로그")).section(Section::new("posts", "").table(table).pager(pager)).section(
        Section::new("create", t(v, "글쓰기")).form(post_form(v, "create-post", &here, "create", None)),
    ))
}

pub async fn posts_act(v: &Visit, op: &str) -> Result<Done, ApiError> {
    match op {
        "create" => {
            let r = v.api(Method::POST, "/api/blog/posts", Some(&post_body(v))).await?;
            let id = int(r.get("post").unwrap_or(&Value::Null), "post_id");
            Ok(Done::said(v, "저장했습니다.").to(format!("/admin/blog/{id}")))
        }
        "delete" => {
            let id = parse_int(v.lang, "post_id", v.f("post_id").unwrap_or(""))?;
            v.api(Method::DELETE, &format!("/api/blog/posts/{id}"), None).await?;
            Ok(Done::said(v, "삭제했습니다."))
        }
        _ => Err(unknown_op(v)),
    }
}

/// Post `id` as the operator's list has it (drafts included; the public read counts a view).
async fn find_post(v: &Visit, id: i64) -> Result<Value, Failure> {
    for page in 1..=100 {
        let answer =
            v.api(Method::GET, &format!("/api/admin/blog/posts?page={page}&limit=100"), None).await?;
        let posts = rows(&answer, "posts");
        if let Some(p) = posts.iter().find(|p| int(p, "post_id") == id) {
            return Ok(p.clone());
        }
        if posts.len() < 100 {
            break;
        }
    }
    Err(Failure::Api(ApiError::not_found("post")))
}

pub async fn post(v: &Visit, raw: &str) -> Result<Page, Failure> {
    let id = path_id(raw)?;
    let here = here(v);
    let p = find_post(v, id).await?;
    Ok(Page::new(format!("{} #{id}", t(v, "블로그")))
        .back("/admin/blog", t(v, "목록으로"))
        .section(Section::new("edit", t(v, "수정")).form(post_form(
            v,
            "edit-post",
            &here,
            "update",
            Some(&p),
        )))
        .section(Section::new("delete", "").form(delete_form(v, "delete-post", &here, "post_id", id))))
}

pub async fn post_act(v: &Visit, raw: &str, op: &str) -> Result<Done, ApiError> {
    let id = path_id(raw)?;
    match op {
        "update" => {
            v.api(Method::PUT, &format!("/api/blog/posts/{id}"), Some(&post_body(v))).await?;
            Ok(Done::said(v, "저장했습니다."))
        }
        "delete" => {
            v.api(Method::DELETE, &format!("/api/blog/posts/{id}"), None).await?;
            Ok(Done::said(v, "삭제했습니다.").to("/admin/blog"))
        }
        _ => Err(unknown_op(v)),
    }
}

// ---- audit log ----

pub async fn audit(v: &Visit) -> Result<Page, Failure> {
    let mut pager = Pager::from_visit(v, 50);
    let page = v.api(Method::GET, &format!("/api/admin/audit-log?{}", pager.api_query()), None).await?;
    pager.total = int(&page, "total");
    let mut table = Table::new(v.lang, &["일시", "처리자", "작업", "대상", "내용"], t(v, "기록이 없습니다."));
    for e in rows(&page, "entries") {
        let detail = match e.get("detail") {
            Some(Value::Object(m)) if m.is_empty() => String::new(),
            Some(Value::Null) | None => String::new(),
            Some(d) => d.to_string(),
        };
        table.row(Row::new(
            format!("audit-{}", int(e, "id")),
            vec![
                Cell::muted(text(e, "created_at")),
                Cell::text(text(e, "actor")),
                Cell::text(text(e, "action")),
                Cell::text(text(e, "target")),
                Cell::muted(detail),
            ],
        ));
    }
    Ok(Page::new(t(v, "감사 로그")).section(Section::new("audit", "").table(table).pager(pager)))
}
