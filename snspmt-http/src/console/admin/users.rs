//! `/admin/users`: search, and a user's page: profile and admin flag, points adjustment with
//! a reason (through the ledger), per-user rates, reseller API access, and their recent
//! orders, purchases and ledger rows.

use hyper::Method;
use serde_json::{json, Value};

use super::kit::{Body, Cell, Field, Form, Page, Row, Section, Table};
use super::{badge, here, int, key, num, points, t, text, unknown_op, Done};
use crate::console::{group_thousands, list as rows, urlencode, Failure, Pager, Visit};
use crate::error::ApiError;

pub async fn list(v: &Visit) -> Result<Page, Failure> {
    let mut pager = Pager::from_visit(v, 20);
    let mut query = pager.api_query();
    let search = v.q("search");
    if let Some(s) = search {
        query.push_str(&format!("&search={}", urlencode(s)));
    }
    let page = v.api(Method::GET, &format!("/api/admin/users?{query}"), None).await?;
    pager.total = int(&page, "total");
    let filters = Form::get("user-search", &v.path, t(v, "검색"))
        .field(Field::text("search", "").value(search.unwrap_or("")).placeholder(t(v, "ID, 이메일, 이름")));
    let mut table = Table::new(
        v.lang,
        &["회원 ID", "이메일", "이름", "#보유 포인트", "관리자", "가입일"],
        t(v, "회원이 없습니다."),
    );
    for u in rows(&page, "users") {
        let id = text(u, "user_id");
        table.row(Row::new(
            format!("user-{id}"),
            vec![
                Cell::link(format!("/admin/users/{}", urlencode(&id)), id.clone()),
                Cell::text(text(u, "email")),
                Cell::text(text(u, "display_name")),
                points(int(u, "points")),
                Cell::text(if u.get("is_admin") == Some(&Value::Bool(true)) {
                    t(v, "관리자")
                } else {
                    String::new()
                }),
                Cell::muted(text(u, "created_at")),
            ],
        ));
    }
    Ok(Page::new(t(v, "회원")).section(Section::new("users", "").filters(filters).table(table).pager(pager)))
}

pub async fn detail(v: &Visit, id: &str) -> Result<Page, Failure> {
    let here = here(v);
    let enc = urlencode(id);
    let answer = v.api(Method::GET, &format!("/api/users/{enc}"), None).await?;
    let u = answer.get("user").cloned().unwrap_or(Value::Null);
    let is_admin = u.get("is_admin") == Some(&Value::Bool(true));
    let balance = int(&u, "points");
    let profile = Section::new("profile", "")
        .fact(t(v, "회원 ID"), Cell::text(text(&u, "user_id")))
        .fact(t(v, "이메일"), Cell::text(text(&u, "email")))
        .fact(t(v, "보유 포인트"), points(balance))
        .fact(t(v, "관리자"), Cell::text(if is_admin { t(v, "예") } else { t(v, "아니요") }))
        .fact(t(v, "가입일"), Cell::muted(text(&u, "created_at")));

    let adjust = Section::new("adjust", t(v, "포인트 조정"))
        .note(format!("{} {} P", t(v, "현재 잔액:"), group_thousands(balance)))
        .form(
            Form::post("adjust", &here, "adjust", t(v, "포인트 조정"))
                .field(Field::number("points_adjustment", t(v, "더하거나 뺄 포인트 (빼려면 -)")).required())
                .field(Field::text("reason", t(v, "사유")).required())
                .money(t(v, "이 회원의 포인트를 조정할까요? 원장에 사유와 함께 기록됩니다.")),
        );

    let edit = Section::new("edit", t(v, "회원 정보")).form(
        Form::post("profile", &here, "profile", t(v, "저장"))
            .field(Field::text("display_name", t(v, "이름")).value(text(&u, "display_name")))
            .field(Field::text("email", t(v, "이메일")).value(text(&u, "email")))
            .field(Field::check("is_admin", t(v, "관리자 권한"), is_admin))
            .confirm(t(v, "회원 정보를 저장할까요? 관리자 권한도 함께 바뀝니다.")),
    );

    let rates = v.api(Method::GET, &format!("/api/admin/users/{enc}/rates"), None).await?;
    let mut prices = Table::new(
        v.lang,
        &["서비스", "#기본 가격", "#회원 가격", "일시", ""],
        t(v, "회원별 가격이 없습니다."),
    );
    for p in rows(&rates, "service_prices") {
        let sid = int(p, "service_id");
        prices.row(
            Row::new(
                format!("price-{sid}"),
                vec![
                    Cell::text(format!("#{sid} {}", text(p, "service_name"))),
                    points(int(p, "base_price_per_1000")),
                    points(int(p, "price_per_1000")),
                    Cell::muted(text(p, "updated_at")),
                ],
            )
            .action(
                Form::post(format!("unprice-{sid}"), &here, "unprice", t(v, "삭제"))
                    .hidden("service_id", sid.to_string())
                    .confirm(t(v, "이 회원별 가격을 삭제할까요?"))
                    .inline()
                    .danger(),
            ),
        );
    }
    let rates_section = Section::new("rates", t(v, "회원별 요율"))
        .note(t(v, "할인은 bp 단위입니다 (100 = 1%). 회원별 가격은 1000개당 포인트입니다."))
        .form(
            Form::post("discount", &here, "discount", t(v, "할인 저장"))
                .field(
                    Field::number("discount_bps", t(v, "할인 (bp)"))
                        .value(int(&rates, "discount_bps").to_string()),
                )
                .confirm(t(v, "이 회원의 할인율을 바꿀까요?")),
        )
        .table(prices)
        .form(
            Form::post("service-price", &here, "price", t(v, "회원별 가격 저장"))
                .field(Field::number("service_id", t(v, "서비스 번호")).required())
                .field(Field::number("price_per_1000", t(v, "1000개당 포인트")).required())
                .confirm(t(v, "이 서비스의 회원별 가격을 저장할까요?")),
        );

    let access = Section::new("api-access", t(v, "API 사용")).form(
        Form::post("api-access", &here, "api_access", t(v, "저장"))
            .field(
                Field::select(
                    "enabled",
                    t(v, "리셀러 API"),
                    vec![
                        (String::new(), t(v, "선택하세요")),
                        ("1".into(), t(v, "허용")),
                        ("0".into(), t(v, "차단")),
                    ],
                )
                .required(),
            )
            .confirm(t(v, "이 회원의 API 사용을 바꿀까요?")),
    );

    let orders = v.api(Method::GET, &format!("/api/admin/orders?user_id={enc}&limit=10"), None).await?;
    let mut order_table = Table::new(
        v.lang,
        &["주문 번호", "서비스", "#수량", "#금액", "상태", "일시"],
        t(v, "주문이 없습니다."),
    );
    for o in rows(&orders, "orders") {
        let oid = int(o, "order_id");
        order_table.row(Row::new(
            format!("user-order-{oid}"),
            vec![
                Cell::link(format!("/admin/orders/{oid}"), format!("#{oid}")),
                Cell::text(text(o, "service_name")),
                num(int(o, "quantity")),
                points(int(o, "final_price")),
                badge(v, &text(o, "status")),
                Cell::muted(text(o, "created_at")),
            ],
        ));
    }
    let ledger = v.api(Method::GET, &format!("/api/admin/transactions?user_id={enc}&limit=20"), None).await?;
    let mut ledger_table =
        Table::new(v.lang, &["일시", "종류", "#금액", "#잔액", "설명"], t(v, "내역이 없습니다."));
    for e in rows(&ledger, "transactions") {
        ledger_table.row(Row::new(
            format!("ledger-{}", int(e, "id")),
            vec![
                Cell::muted(text(e, "created_at")),
                Cell::text(ledger_kind(v, &text(e, "kind"))),
                points(int(e, "amount")),
                points(int(e, "balance_after")),
                Cell::text(text(e, "description")),
            ],
        ));
    }
    Ok(Page::new(format!("{} {}", t(v, "회원"), text(&u, "display_name")))
        .back("/admin/users", t(v, "목록으로"))
        .section(profile)
        .section(adjust)
        .section(edit)
        .section(rates_section)
        .section(access)
        .section(Section::new("user-orders", t(v, "최근 주문")).table(order_table).note(format!(
            "{}: {}",
            t(v, "전체 주문"),
            group_thousands(int(&orders, "total"))
        )))
        .section(Section::new("ledger", t(v, "포인트 내역")).table(ledger_table)))
}

/// A ledger row's kind, as the operator reads it.
fn ledger_kind(v: &Visit, kind: &str) -> String {
    match kind {
        "purchase" => t(v, "충전"),
        "order_charge" => t(v, "주문 결제"),
        "order_refund" => t(v, "주문 환불"),
        "deduct" => t(v, "차감"),
        "admin_adjust" => t(v, "관리자 조정"),
        other => other.to_owned(),
    }
}

pub async fn act(v: &Visit, id: &str, op: &str) -> Result<Done, ApiError> {
    let enc = urlencode(id);
    let user = format!("/api/admin/users/{enc}");
    match op {
        "adjust" => {
            let body = Body::of(v).int_required("points_adjustment")?.text("reason").value();
            v.api_keyed(Method::PUT, &user, Some(&body), key(v)).await?;
            Ok(Done::said(v, "포인트를 조정했습니다."))
        }
        "profile" => {
            let mut body = Body::of(v).text("display_name").check("is_admin").value();
            body["email"] = match v.f("email") {
                Some(e) => Value::from(e),
                None => Value::Null,
            };
            v.api(Method::PUT, &user, Some(&body)).await?;
            Ok(Done::said(v, "저장했습니다."))
        }
        "discount" => {
            let body = Body::of(v).int_required("discount_bps")?.value();
            v.api(Method::PUT, &format!("{user}/rates"), Some(&body)).await?;
            Ok(Done::said(v, "저장했습니다."))
        }
        "price" | "unprice" => {
            let service = super::kit::parse_int(v.lang, "service_id", v.f("service_id").unwrap_or(""))?;
            let path = format!("{user}/service-prices/{service}");
            if op == "price" {
                let body = Body::of(v).int_required("price_per_1000")?.value();
                v.api(Method::PUT, &path, Some(&body)).await?;
                Ok(Done::said(v, "저장했습니다."))
            } else {
                v.api(Method::DELETE, &path, None).await?;
                Ok(Done::said(v, "삭제했습니다."))
            }
        }
        "api_access" => {
            let enabled = match v.f("enabled") {
                Some("1") => true,
                Some("0") => false,
                _ => return Err(ApiError::invalid_field("enabled", "missing_field", t(v, "선택하세요"))),
            };
            let body = json!({"enabled": enabled});
            v.api(Method::PUT, &format!("{user}/api-access"), Some(&body)).await?;
            Ok(Done::said(v, "저장했습니다."))
        }
        _ => Err(unknown_op(v)),
    }
}
