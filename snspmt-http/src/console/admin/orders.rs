//! `/admin/orders`: every order with filters, and an order's page with its parts, the
//! resolution of an `unknown` outcome (the panel took it, or it failed and is refunded) and
//! the operator's status change.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::kit::{parse_int, path_id, Cell, Field, Form, Page, Row, Section, Table};
use super::{badge, here, int, key, num, points, t, text, unknown_op, Done};
use crate::console::{i18n, list as rows, urlencode, Failure, Pager, Visit};
use crate::error::ApiError;

/// Our order statuses, in lifecycle order.
fn statuses() -> impl Iterator<Item = &'static str> {
    snspmt_core::order::OrderStatus::ALL.iter().map(|s| s.as_str())
}

/// An order in a short list (the dashboard's).
pub struct Brief {
    pub order_id: i64,
    pub user_id: String,
    pub service_name: String,
    pub final_price: i64,
    pub created_at: String,
}

impl Brief {
    pub fn of(o: &Value) -> Brief {
        Brief {
            order_id: int(o, "order_id"),
            user_id: text(o, "user_id"),
            service_name: text(o, "service_name"),
            final_price: int(o, "final_price"),
            created_at: text(o, "created_at"),
        }
    }
}

fn status_options(v: &Visit, all: bool) -> Vec<(String, String)> {
    let mut options = if all { vec![(String::new(), t(v, "전체"))] } else { Vec::new() };
    options.extend(statuses().map(|s| ((*s).to_owned(), i18n::status_label(v.lang, s).to_owned())));
    options
}

pub async fn list(v: &Visit) -> Result<Page, Failure> {
    let mut pager = Pager::from_visit(v, 20);
    let mut query = pager.api_query();
    let status = v.q("status").filter(|s| statuses().any(|k| k == *s));
    let user = v.q("user_id");
    if let Some(s) = status {
        query.push_str(&format!("&status={s}"));
    }
    if let Some(u) = user {
        query.push_str(&format!("&user_id={}", urlencode(u)));
    }
    let page = v.api(Method::GET, &format!("/api/admin/orders?{query}"), None).await?;
    pager.total = int(&page, "total");
    let filters = Form::get("order-filter", &v.path, t(v, "적용"))
        .field(Field::select("status", t(v, "상태"), status_options(v, true)).value(status.unwrap_or("")))
        .field(Field::text("user_id", t(v, "회원 ID")).value(user.unwrap_or("")));
    let mut table = Table::new(
        v.lang,
        &["주문 번호", "회원", "서비스", "#수량", "#금액", "상태", "일시"],
        t(v, "주문이 없습니다."),
    );
    for o in rows(&page, "orders") {
        let id = int(o, "order_id");
        let user = text(o, "user_id");
        table.row(Row::new(
            format!("order-{id}"),
            vec![
                Cell::link(format!("/admin/orders/{id}"), format!("#{id}")),
                Cell::link(format!("/admin/users/{}", urlencode(&user)), user.clone()),
                Cell::text(format!("{} · {}", text(o, "service_name"), text(o, "link"))),
                num(int(o, "quantity")),
                points(int(o, "final_price")),
                badge(v, &text(o, "status")),
                Cell::muted(text(o, "created_at")),
            ],
        ));
    }
    Ok(Page::new(t(v, "주문")).section(Section::new("orders", "").filters(filters).table(table).pager(pager)))
}

pub async fn detail(v: &Visit, raw_id: &str) -> Result<Page, Failure> {
    let id = path_id(raw_id)?;
    let here = here(v);
    let answer = v.api(Method::GET, &format!("/api/orders/{id}"), None).await?;
    let o = answer.get("order").cloned().unwrap_or(Value::Null);
    let status = text(&o, "status");
    let user = text(&o, "user_id");
    let mut facts = Section::new("order-facts", "")
        .fact(t(v, "상태"), badge(v, &status))
        .fact(t(v, "회원"), Cell::link(format!("/admin/users/{}", urlencode(&user)), user.clone()))
        .fact(t(v, "서비스"), Cell::text(format!("#{} {}", int(&o, "service_id"), text(&o, "service_name"))))
        .fact(t(v, "링크"), Cell::text(text(&o, "link")))
        .fact(t(v, "수량"), num(int(&o, "quantity")))
        .fact(t(v, "가격"), points(int(&o, "price")))
        .fact(t(v, "할인"), points(int(&o, "discount_amount")))
        .fact(t(v, "결제 금액"), points(int(&o, "final_price")))
        .fact(t(v, "환불 금액"), points(int(&o, "refunded_amount")))
        .fact(t(v, "패널 주문 번호"), Cell::text(text(&o, "smm_panel_order_id")))
        .fact(t(v, "시작 수"), num(int(&o, "start_count")))
        .fact(t(v, "남은 수량"), num(int(&o, "remains")))
        .fact(t(v, "일시"), Cell::muted(text(&o, "created_at")));
    let problem = text(&o, "error");
    if !problem.is_empty() {
        facts = facts.fact(t(v, "오류"), Cell::text(problem));
    }
    let mut page =
        Page::new(format!("{} #{id}", t(v, "주문"))).back("/admin/orders", t(v, "목록으로")).section(facts);

    if status == "unknown" {
        let price = crate::console::group_thousands(int(&o, "final_price"));
        page = page.section(
            Section::new("resolve", t(v, "결과 확인"))
                .note(t(
                    v,
                    "패널에 보낸 뒤 응답을 받지 못한 주문입니다. 패널에서 주문을 찾아 그 번호를 입력하거나, 접수되지 않았다면 실패로 처리해 전액 환불하세요.",
                ))
                .form(
                    Form::post("resolve-accept", &here, "resolve_accept", t(v, "접수됨으로 처리"))
                        .field(Field::text("smm_panel_order_id", t(v, "패널 주문 번호")).required())
                        .confirm(t(v, "이 패널 주문 번호로 진행 중 처리할까요?")),
                )
                .form(
                    Form::post("resolve-fail", &here, "resolve_fail", t(v, "실패 처리 (전액 환불)"))
                        .money(format!("{} {price} P", t(v, "패널에 접수되지 않은 주문으로 처리하고 환불합니다:")))
                        .danger(),
                ),
        );
    }

    match v.api(Method::GET, &format!("/api/orders/{id}/package-progress"), None).await {
        Ok(progress) => {
            let mut parts = Table::new(
                v.lang,
                &["순서", "단계", "서비스", "#수량", "#금액", "상태", "패널 주문 번호", "예정", ""],
                t(v, "내역이 없습니다."),
            );
            for p in rows(&progress, "progress") {
                let index = int(p, "part_index");
                let part_status = text(p, "status");
                let mut row = Row::new(
                    format!("part-{index}"),
                    vec![
                        num(index + 1),
                        Cell::text(text(p, "step_name")),
                        Cell::text(format!("#{}", int(p, "service_id"))),
                        num(int(p, "quantity")),
                        points(int(p, "share")),
                        badge(v, &part_status),
                        Cell::text(text(p, "smm_order_id")),
                        Cell::muted(text(p, "due_at")),
                    ],
                );
                if matches!(part_status.as_str(), "unknown" | "submitting") {
                    row = row.action(
                        Form::post(format!("resolve-part-{index}"), &here, "resolve_part", t(v, "결과 처리"))
                            .hidden("part_index", index.to_string())
                            .field(Field::text("smm_panel_order_id", "").placeholder(t(v, "패널 주문 번호")))
                            .field(Field::select(
                                "outcome",
                                "",
                                vec![
                                    ("accepted".into(), t(v, "접수됨")),
                                    ("fail".into(), t(v, "실패 (환불)")),
                                ],
                            ))
                            .money(t(v, "이 부분 주문의 결과를 처리할까요?"))
                            .inline(),
                    );
                }
                parts.row(row);
            }
            page = page.section(Section::new("parts", t(v, "부분 주문")).table(parts));
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => {}
        Err(e) => return Err(e.into()),
    }

    page = page.section(
        Section::new("set-status", t(v, "상태 변경"))
            .note(t(v, "주문이 할 수 없는 변경은 거절됩니다. 취소·실패는 남은 금액을 환불합니다."))
            .form(
                Form::post("set-status", &here, "set_status", t(v, "상태 변경"))
                    .field(
                        Field::select("status", t(v, "새 상태"), status_options(v, false))
                            .value(status.clone()),
                    )
                    .field(Field::text("smm_panel_order_id", t(v, "패널 주문 번호 (진행 중으로 바꿀 때)")))
                    .money(t(v, "주문 상태를 바꿀까요? 환불이 따를 수 있습니다.")),
            ),
    );
    Ok(page)
}

/// The panel's order id typed in, or 400 naming the field.
fn smm_id(v: &Visit) -> Result<&str, ApiError> {
    v.f("smm_panel_order_id").ok_or_else(|| {
        ApiError::invalid_field("smm_panel_order_id", "missing_field", t(v, "패널 주문 번호를 입력하세요."))
    })
}

pub async fn act(v: &Visit, raw_id: &str, op: &str) -> Result<Done, ApiError> {
    let id = path_id(raw_id)?;
    let resolve = format!("/api/admin/orders/{id}/resolve");
    match op {
        "resolve_accept" => {
            let body = json!({"smm_panel_order_id": smm_id(v)?});
            v.api_keyed(Method::POST, &resolve, Some(&body), key(v)).await?;
            Ok(Done::said(v, "접수된 주문으로 처리했습니다."))
        }
        "resolve_fail" => {
            v.api_keyed(Method::POST, &resolve, Some(&json!({"action": "fail"})), key(v)).await?;
            Ok(Done::said(v, "실패로 처리하고 환불했습니다."))
        }
        "resolve_part" => {
            let part = parse_int(v.lang, "part_index", v.f("part_index").unwrap_or(""))?;
            let body = match v.f("outcome") {
                Some("fail") => json!({"action": "fail", "part_index": part}),
                _ => json!({"smm_panel_order_id": smm_id(v)?, "part_index": part}),
            };
            v.api_keyed(Method::POST, &resolve, Some(&body), key(v)).await?;
            Ok(Done::said(v, "처리했습니다."))
        }
        "set_status" => {
            let mut body = json!({"status": v.f("status").unwrap_or("")});
            if let Some(smm) = v.f("smm_panel_order_id") {
                body["smm_panel_order_id"] = Value::from(smm);
            }
            v.api_keyed(Method::PUT, &format!("/api/orders/{id}/status"), Some(&body), key(v)).await?;
            Ok(Done::said(v, "저장했습니다."))
        }
        _ => Err(unknown_op(v)),
    }
}
