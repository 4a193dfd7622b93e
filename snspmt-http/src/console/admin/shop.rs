//! What the panel sells: `/admin/services` (import from the panel with a markup, create,
//! edit, deactivate), `/admin/packages` and `/admin/coupons` (create, edit, deactivate or
//! delete).

use hyper::Method;
use serde_json::{json, Value};

use super::kit::{parse_int, path_id, Body, Cell, Field, Form, Page, Row, Section, Table};
use super::{badge, here, int, num, points, t, text, unknown_op, Done};
use crate::console::{list as rows, urlencode, Failure, Pager, Visit};
use crate::error::ApiError;

/// `active` / `inactive` as a badge.
fn active(v: &Visit, o: &Value, field: &str) -> Cell {
    badge(v, if o.get(field) == Some(&Value::Bool(true)) { "active" } else { "inactive" })
}

fn flag(o: Option<&Value>, field: &str) -> bool {
    o.and_then(|o| o.get(field)) == Some(&Value::Bool(true))
}

fn field_text(o: Option<&Value>, field: &str) -> String {
    o.map(|o| text(o, field)).unwrap_or_default()
}

/// `from ~ until`, or "always" when neither is set.
pub fn period(v: &Visit, o: &Value, from: &str, until: &str) -> String {
    match (text(o, from), text(o, until)) {
        (f, u) if f.is_empty() && u.is_empty() => t(v, "상시"),
        (f, u) => format!("{f} ~ {u}"),
    }
}

// ---- services ----

fn service_form(v: &Visit, id: &str, here: &str, op: &str, s: Option<&Value>) -> Form {
    let mut f = Form::post(id, here, op, if s.is_some() { t(v, "저장") } else { t(v, "만들기") })
        .field(
            Field::text("provider_service_id", t(v, "패널 서비스 번호"))
                .value(field_text(s, "provider_service_id")),
        )
        .field(Field::text("name", t(v, "이름")).value(field_text(s, "name")))
        .field(Field::text("category", t(v, "카테고리")).value(field_text(s, "category")))
        .field(Field::text("platform", t(v, "플랫폼")).value(field_text(s, "platform")))
        .field(Field::text("type", t(v, "유형")).value(field_text(s, "type")).placeholder("default"))
        .field(
            Field::number("price_per_1000", t(v, "1000개당 포인트")).value(field_text(s, "price_per_1000")),
        )
        .field(Field::number("min_quantity", t(v, "최소 수량")).value(field_text(s, "min_quantity")))
        .field(Field::number("max_quantity", t(v, "최대 수량")).value(field_text(s, "max_quantity")))
        .field(Field::check("dripfeed", t(v, "드립피드"), flag(s, "dripfeed")))
        .field(Field::check("refill", t(v, "리필"), flag(s, "refill")))
        .field(Field::check("cancel", t(v, "취소"), flag(s, "cancel")))
        .field(Field::textarea("description", t(v, "설명")).value(field_text(s, "description")));
    if s.is_some() {
        f = f.field(Field::check("is_active", t(v, "판매 중"), flag(s, "is_active")));
    }
    f
}

fn service_body(v: &Visit, editing: bool) -> Result<Value, ApiError> {
    let mut b = Body::of(v)
        .text("provider_service_id")
        .text("name")
        .text("category")
        .text("platform")
        .text("type")
        .int("price_per_1000")?
        .int("min_quantity")?
        .int("max_quantity")?
        .check("dripfeed")
        .check("refill")
        .check("cancel")
        .text_or_empty("description");
    if editing {
        b = b.check("is_active");
    }
    Ok(b.value())
}

pub async fn services(v: &Visit) -> Result<Page, Failure> {
    let here = here(v);
    let mut pager = Pager::from_visit(v, 30);
    let mut query = pager.api_query();
    let only_active = v.q("active") == Some("1");
    if only_active {
        query.push_str("&active=1");
    }
    if let Some(c) = v.q("category") {
        query.push_str(&format!("&category={}", urlencode(c)));
    }
    let page = v.api(Method::GET, &format!("/api/admin/services?{query}"), None).await?;
    pager.total = int(&page, "total");
    let filters = Form::get("service-filter", &v.path, t(v, "적용"))
        .field(Field::text("category", t(v, "카테고리")).value(v.q("category").unwrap_or("")))
        .field(Field::check("active", t(v, "판매 중만"), only_active));
    let mut table = Table::new(
        v.lang,
        &["번호", "패널 번호", "이름", "카테고리", "#1000개당", "#수량", "상태", ""],
        t(v, "서비스가 없습니다. 패널에서 가져오세요."),
    );
    for s in rows(&page, "services") {
        let id = int(s, "service_id");
        let mut row = Row::new(
            format!("service-{id}"),
            vec![
                Cell::link(format!("/admin/services/{id}"), format!("#{id}")),
                Cell::muted(text(s, "provider_service_id")),
                Cell::text(text(s, "name")),
                Cell::text(format!("{} · {}", text(s, "platform"), text(s, "category"))),
                points(int(s, "price_per_1000")),
                Cell::Num(format!("{}–{}", int(s, "min_quantity"), int(s, "max_quantity"))),
                active(v, s, "is_active"),
            ],
        );
        if s.get("is_active") == Some(&Value::Bool(true)) {
            row = row.action(
                Form::post(format!("deactivate-{id}"), &here, "deactivate", t(v, "판매 중지"))
                    .hidden("service_id", id.to_string())
                    .confirm(t(v, "이 서비스의 판매를 중지할까요?"))
                    .inline()
                    .danger(),
            );
        }
        table.row(row);
    }
    Ok(Page::new(t(v, "서비스"))
        .section(
            Section::new("import", t(v, "패널에서 가져오기"))
                .note(t(v, "패널의 달러 가격에 환율과 마진을 곱해 포인트 가격을 정합니다. 마진은 bp 단위입니다 (10000 = +100%)."))
                .form(
                    Form::post("import", &here, "import", t(v, "가져오기"))
                        .field(Field::number("usd_krw", t(v, "환율 (원/달러)")).value("1400").required())
                        .field(Field::number("markup_bps", t(v, "마진 (bp)")).value("5000").required())
                        .confirm(t(v, "패널의 서비스를 가져와 가격을 갱신할까요?")),
                ),
        )
        .section(Section::new("services", t(v, "서비스 목록")).filters(filters).table(table).pager(pager))
        .section(Section::new("create", t(v, "서비스 추가")).form(service_form(v, "create-service", &here, "create", None))))
}

pub async fn services_act(v: &Visit, op: &str) -> Result<Done, ApiError> {
    match op {
        "import" => {
            let body = Body::of(v).int_required("usd_krw")?.int_required("markup_bps")?.value();
            let r = v.api(Method::POST, "/api/admin/services/import", Some(&body)).await?;
            Ok(Done {
                flash: format!(
                    "{} {} / {} {}",
                    t(v, "새 서비스"),
                    int(&r, "inserted"),
                    t(v, "갱신"),
                    int(&r, "updated")
                ),
                to: None,
            })
        }
        "create" => {
            let r = v.api(Method::POST, "/api/admin/services", Some(&service_body(v, false)?)).await?;
            let id = int(r.get("service").unwrap_or(&Value::Null), "service_id");
            Ok(Done::said(v, "저장했습니다.").to(format!("/admin/services/{id}")))
        }
        "deactivate" => {
            let id = parse_int(v.lang, "service_id", v.f("service_id").unwrap_or(""))?;
            v.api(Method::DELETE, &format!("/api/admin/services/{id}"), None).await?;
            Ok(Done::said(v, "판매를 중지했습니다."))
        }
        _ => Err(unknown_op(v)),
    }
}

pub async fn service(v: &Visit, raw: &str) -> Result<Page, Failure> {
    let id = path_id(raw)?;
    let here = here(v);
    let r = v.api(Method::GET, &format!("/api/admin/services/{id}"), None).await?;
    let s = r.get("service").cloned().unwrap_or(Value::Null);
    Ok(Page::new(format!("{} #{id} {}", t(v, "서비스"), text(&s, "name")))
        .back("/admin/services", t(v, "목록으로"))
        .section(
            Section::new("service-facts", "")
                .fact(t(v, "상태"), active(v, &s, "is_active"))
                .fact(t(v, "유형"), Cell::text(text(&s, "type")))
                .fact(t(v, "1000개당 포인트"), points(int(&s, "price_per_1000")))
                .fact(t(v, "일시"), Cell::muted(text(&s, "updated_at"))),
        )
        .section(Section::new("edit", t(v, "수정")).form(service_form(
            v,
            "edit-service",
            &here,
            "update",
            Some(&s),
        ))))
}

pub async fn service_act(v: &Visit, raw: &str, op: &str) -> Result<Done, ApiError> {
    let id = path_id(raw)?;
    match op {
        "update" => {
            v.api(Method::PUT, &format!("/api/admin/services/{id}"), Some(&service_body(v, true)?)).await?;
            Ok(Done::said(v, "저장했습니다."))
        }
        _ => Err(unknown_op(v)),
    }
}

// ---- packages ----

/// Steps as the form shows them: one line each, `service_id, quantity, repeat, delay_minutes, name`.
fn steps_text(p: Option<&Value>) -> String {
    p.map(|p| {
        rows(p, "steps")
            .iter()
            .map(|s| {
                format!(
                    "{}, {}, {}, {}, {}",
                    int(s, "service_id"),
                    int(s, "quantity"),
                    int(s, "repeat"),
                    int(s, "delay_minutes"),
                    text(s, "name")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
    .unwrap_or_default()
}

/// The steps typed into the form, or 400 naming `steps`.
fn parse_steps(v: &Visit, raw: &str) -> Result<Vec<Value>, ApiError> {
    let bad = |line: usize| {
        ApiError::invalid_field(
            "steps",
            "invalid_steps",
            format!(
                "{} {line}",
                t(v, "단계는 한 줄에 하나씩 '서비스 번호, 수량, 반복, 지연(분), 이름' 형식입니다. 줄:")
            ),
        )
    };
    let mut steps = Vec::new();
    for (n, line) in raw.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.splitn(5, ',').map(str::trim).collect();
        let number = |i: usize| -> Result<Option<i64>, ApiError> {
            match parts.get(i).filter(|p| !p.is_empty()) {
                Some(p) => p.parse::<i64>().map(Some).map_err(|_| bad(n + 1)),
                None => Ok(None),
            }
        };
        let (Some(service), Some(quantity)) = (number(0)?, number(1)?) else { return Err(bad(n + 1)) };
        let mut step = json!({"service_id": service, "quantity": quantity});
        if let Some(r) = number(2)? {
            step["repeat"] = Value::from(r);
        }
        if let Some(d) = number(3)? {
            step["delay_minutes"] = Value::from(d);
        }
        if let Some(name) = parts.get(4).filter(|p| !p.is_empty()) {
            step["name"] = Value::from(*name);
        }
        steps.push(step);
    }
    Ok(steps)
}

fn package_form(v: &Visit, id: &str, here: &str, op: &str, p: Option<&Value>) -> Form {
    let mut f = Form::post(id, here, op, if p.is_some() { t(v, "저장") } else { t(v, "만들기") })
        .field(Field::text("name", t(v, "이름")).value(field_text(p, "name")).required())
        .field(Field::textarea("description", t(v, "설명")).value(field_text(p, "description")))
        .field(Field::number("price", t(v, "가격 (포인트)")).value(field_text(p, "price")).required())
        .field(
            Field::textarea("steps", t(v, "단계 (한 줄에 하나: 서비스 번호, 수량, 반복, 지연(분), 이름)"))
                .value(steps_text(p))
                .required(),
        );
    if p.is_some() {
        f = f.field(Field::check("is_active", t(v, "판매 중"), flag(p, "is_active")));
    }
    f
}

fn package_body(v: &Visit, editing: bool) -> Result<Value, ApiError> {
    let steps = parse_steps(v, v.f("steps").unwrap_or(""))?;
    let mut b = Body::of(v).text("name").text_or_empty("description").int("price")?.set("steps", steps);
    if editing {
        b = b.check("is_active");
    }
    Ok(b.value())
}

pub async fn packages(v: &Visit) -> Result<Page, Failure> {
    let here = here(v);
    let mut pager = Pager::from_visit(v, 30);
    let page = v.api(Method::GET, &format!("/api/admin/packages?{}", pager.api_query()), None).await?;
    pager.total = int(&page, "total");
    let mut table =
        Table::new(v.lang, &["번호", "이름", "#가격", "#단계", "상태", ""], t(v, "패키지가 없습니다."));
    for p in rows(&page, "packages") {
        let id = int(p, "package_id");
        let mut row = Row::new(
            format!("package-{id}"),
            vec![
                Cell::link(format!("/admin/packages/{id}"), format!("#{id}")),
                Cell::text(text(p, "name")),
                points(int(p, "price")),
                num(rows(p, "steps").len() as i64),
                active(v, p, "is_active"),
            ],
        );
        if p.get("is_active") == Some(&Value::Bool(true)) {
            row = row.action(
                Form::post(format!("deactivate-{id}"), &here, "deactivate", t(v, "판매 중지"))
                    .hidden("package_id", id.to_string())
                    .confirm(t(v, "이 패키지의 판매를 중지할까요?"))
                    .inline()
                    .danger(),
            );
        }
        table.row(row);
    }
    Ok(Page::new(t(v, "패키지")).section(Section::new("packages", "").table(table).pager(pager)).section(
        Section::new("create", t(v, "패키지 추가")).form(package_form(
            v,
            "create-package",
            &here,
            "create",
            None,
        )),
    ))
}

pub async fn packages_act(v: &Visit, op: &str) -> Result<Done, ApiError> {
    match op {
        "create" => {
            let r = v.api(Method::POST, "/api/admin/packages", Some(&package_body(v, false)?)).await?;
            let id = int(r.get("package").unwrap_or(&Value::Null), "package_id");
            Ok(Done::said(v, "저장했습니다.").to(format!("/admin/packages/{id}")))
        }
        "deactivate" => {
            let id = parse_int(v.lang, "package_id", v.f("package_id").unwrap_or(""))?;
            v.api(Method::DELETE, &format!("/api/admin/packages/{id}"), None).await?;
            Ok(Done::said(v, "판매를 중지했습니다."))
        }
        _ => Err(unknown_op(v)),
    }
}

pub async fn package(v: &Visit, raw: &str) -> Result<Page, Failure> {
    let id = path_id(raw)?;
    let here = here(v);
    let r = v.api(Method::GET, &format!("/api/admin/packages/{id}"), None).await?;
    let p = r.get("package").cloned().unwrap_or(Value::Null);
    Ok(Page::new(format!("{} #{id} {}", t(v, "패키지"), text(&p, "name")))
        .back("/admin/packages", t(v, "목록으로"))
        .section(Section::new("edit", t(v, "수정")).form(package_form(
            v,
            "edit-package",
            &here,
            "update",
            Some(&p),
        ))))
}

pub async fn package_act(v: &Visit, raw: &str, op: &str) -> Result<Done, ApiError> {
    let id = path_id(raw)?;
    match op {
        "update" => {
            v.api(Method::PUT, &format!("/api/admin/packages/{id}"), Some(&package_body(v, true)?)).await?;
            Ok(Done::said(v, "저장했습니다."))
        }
        _ => Err(unknown_op(v)),
    }
}

// ---- coupons ----

fn coupon_form(v: &Visit, id: &str, here: &str, op: &str, c: Option<&Value>) -> Form {
    let mut f = Form::post(id, here, op, if c.is_some() { t(v, "저장") } else { t(v, "만들기") })
        .field(Field::text("code", t(v, "코드")).value(field_text(c, "code")).required())
        .field(Field::text("name", t(v, "이름")).value(field_text(c, "name")))
        .field(
            Field::select(
                "discount_type",
                t(v, "할인 방식"),
                vec![("percentage".into(), t(v, "비율 (%)")), ("fixed".into(), t(v, "정액 (포인트)"))],
            )
            .value(field_text(c, "discount_type")),
        )
        .field(
            Field::number("discount_value", t(v, "할인 값"))
                .value(field_text(c, "discount_value"))
                .required(),
        )
        .field(
            Field::number("min_order_amount", t(v, "최소 주문 금액"))
                .value(field_text(c, "min_order_amount")),
        )
        .field(Field::text("valid_from", t(v, "시작 (RFC 3339)")).value(field_text(c, "valid_from")))
        .field(Field::text("valid_until", t(v, "종료 (RFC 3339)")).value(field_text(c, "valid_until")))
        .field(
            Field::number("max_uses", t(v, "최대 발급 수 (비우면 무제한)")).value(field_text(c, "max_uses")),
        );
    f = f.field(Field::check("is_active", t(v, "사용"), c.is_none() || flag(c, "is_active")));
    f
}

fn coupon_body(v: &Visit) -> Result<Value, ApiError> {
    let mut b = Body::of(v)
        .text("code")
        .text("name")
        .text("discount_type")
        .int("discount_value")?
        .int("min_order_amount")?
        .int("max_uses")?
        .check("is_active");
    for field in ["valid_from", "valid_until", "max_uses"] {
        if b.raw(field).is_none() {
            b = b.set(field, Value::Null);
        }
    }
    for field in ["valid_from", "valid_until"] {
        if let Some(x) = b.raw(field) {
            b = b.set(field, x);
        }
    }
    Ok(b.value())
}

pub async fn coupons(v: &Visit) -> Result<Page, Failure> {
    let here = here(v);
    let mut pager = Pager::from_visit(v, 30);
    let page = v.api(Method::GET, &format!("/api/admin/coupons?{}", pager.api_query()), None).await?;
    pager.total = int(&page, "total");
    let mut table = Table::new(
        v.lang,
        &["코드", "이름", "할인", "#최소 주문", "#발급", "기간", "상태", ""],
        t(v, "쿠폰이 없습니다."),
    );
    for c in rows(&page, "coupons") {
        let id = int(c, "coupon_id");
        let discount = if text(c, "discount_type") == "percentage" {
            format!("{}%", int(c, "discount_value"))
        } else {
            format!("{} P", crate::console::group_thousands(int(c, "discount_value")))
        };
        let uses = match c.get("max_uses").and_then(Value::as_i64) {
            Some(m) => format!("{} / {m}", int(c, "used_count")),
            None => int(c, "used_count").to_string(),
        };
        let mut row = Row::new(
            format!("coupon-{id}"),
            vec![
                Cell::link(format!("/admin/coupons/{id}"), text(c, "code")),
                Cell::text(text(c, "name")),
                Cell::text(discount),
                points(int(c, "min_order_amount")),
                Cell::Num(uses),
                Cell::muted(period(v, c, "valid_from", "valid_until")),
                active(v, c, "is_active"),
            ],
        );
        if c.get("is_active") == Some(&Value::Bool(true)) {
            row = row.action(
                Form::post(format!("delete-{id}"), &here, "delete", t(v, "사용 중지"))
                    .hidden("coupon_id", id.to_string())
                    .confirm(t(v, "이 쿠폰을 사용 중지할까요? 이미 받은 쿠폰은 그대로입니다."))
                    .inline()
                    .danger(),
            );
        }
        table.row(row);
    }
    Ok(Page::new(t(v, "쿠폰")).section(Section::new("coupons", "").table(table).pager(pager)).section(
        Section::new("create", t(v, "쿠폰 추가")).form(coupon_form(
            v,
            "create-coupon",
            &here,
            "create",
            None,
        )),
    ))
}

pub async fn coupons_act(v: &Visit, op: &str) -> Result<Done, ApiError> {
    match op {
        "create" => {
            v.api(Method::POST, "/api/admin/coupons", Some(&coupon_body(v)?)).await?;
            Ok(Done::said(v, "저장했습니다."))
        }
        "delete" => {
            let id = parse_int(v.lang, "coupon_id", v.f("coupon_id").unwrap_or(""))?;
            v.api(Method::DELETE, &format!("/api/admin/coupons/{id}"), None).await?;
            Ok(Done::said(v, "사용 중지했습니다."))
        }
        _ => Err(unknown_op(v)),
    }
}

pub async fn coupon(v: &Visit, raw: &str) -> Result<Page, Failure> {
    let id = path_id(raw)?;
    let here = here(v);
    let r = v.api(Method::GET, &format!("/api/admin/coupons/{id}"), None).await?;
    let c = r.get("coupon").cloned().unwrap_or(Value::Null);
    Ok(Page::new(format!("{} {}", t(v, "쿠폰"), text(&c, "code")))
        .back("/admin/coupons", t(v, "목록으로"))
        .section(Section::new("edit", t(v, "수정")).form(coupon_form(
            v,
            "edit-coupon",
            &here,
            "update",
            Some(&c),
        )))
        .section(
            Section::new("delete", "").form(
                Form::post("delete-coupon", &here, "delete", t(v, "사용 중지"))
                    .confirm(t(v, "이 쿠폰을 사용 중지할까요? 이미 받은 쿠폰은 그대로입니다."))
                    .danger(),
            ),
        ))
}

pub async fn coupon_act(v: &Visit, raw: &str, op: &str) -> Result<Done, ApiError> {
    let id = path_id(raw)?;
    match op {
        "update" => {
            v.api(Method::PUT, &format!("/api/admin/coupons/{id}"), Some(&coupon_body(v)?)).await?;
            Ok(Done::said(v, "저장했습니다."))
        }
        "delete" => {
            v.api(Method::DELETE, &format!("/api/admin/coupons/{id}"), None).await?;
            Ok(Done::said(v, "사용 중지했습니다.").to("/admin/coupons"))
        }
        _ => Err(unknown_op(v)),
    }
}
