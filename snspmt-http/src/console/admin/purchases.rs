//! `/admin/purchases`: bank transfers to approve or reject, and the KCP payments an operator
//! must settle by hand (an approval whose answer was lost, an amount mismatch, one approving
//! for too long).

use hyper::Method;
use serde_json::{json, Value};

use super::kit::{parse_int, Cell, Field, Form, Page, Row, Section, Table};
use super::{badge, here, int, key, points, t, text, unknown_op, Done};
use crate::console::{list as rows, urlencode, Failure, Pager, Visit};
use crate::error::ApiError;

/// The purchase statuses, in lifecycle order, for the filter.
fn statuses() -> impl Iterator<Item = &'static str> {
    snspmt_core::purchase::PurchaseStatus::ALL.iter().map(|s| s.as_str())
}

/// A purchase status badge (two statuses only purchases have get their own labels).
fn purchase_badge(v: &Visit, status: &str) -> Cell {
    match status {
        "amount_mismatch" => Cell::Badge("unknown".into(), t(v, "금액 불일치")),
        "approval_unknown" => Cell::Badge("unknown".into(), t(v, "승인 결과 모름")),
        s => badge(v, s),
    }
}

fn status_label(v: &Visit, status: &str) -> String {
    match purchase_badge(v, status) {
        Cell::Badge(_, label) => label,
        _ => status.to_owned(),
    }
}

pub async fn list(v: &Visit) -> Result<Page, Failure> {
    let here = here(v);
    let mut pager = Pager::from_visit(v, 20);
    let mut query = pager.api_query();
    let status = v.q("status").filter(|s| statuses().any(|k| k == *s));
    let method = v.q("method").filter(|m| matches!(*m, "bank" | "kcp"));
    let user = v.q("user_id");
    if let Some(s) = status {
        query.push_str(&format!("&status={s}"));
    }
    if let Some(m) = method {
        query.push_str(&format!("&method={m}"));
    }
    if let Some(u) = user {
        query.push_str(&format!("&user_id={}", urlencode(u)));
    }
    let page = v.api(Method::GET, &format!("/api/admin/purchases?{query}"), None).await?;
    pager.total = int(&page, "total");
    let attention = v.api(Method::GET, "/api/admin/purchases?attention=1&limit=50", None).await?;

    let mut kcp = Table::new(
        v.lang,
        &["번호", "회원", "#금액", "상태", "KCP", "일시", ""],
        t(v, "정산이 필요한 카드 결제가 없습니다."),
    );
    for p in rows(&attention, "purchases") {
        let id = int(p, "purchase_id");
        let row = Row::new(
            format!("attention-{id}"),
            vec![
                Cell::text(format!("#{id}")),
                user_cell(p),
                points(int(p, "amount")),
                purchase_badge(v, &text(p, "status")),
                Cell::muted(format!("{} {}", text(p, "ordr_idxx"), text(p, "res_msg"))),
                Cell::muted(text(p, "created_at")),
            ],
        )
        .action(
            Form::post(format!("settle-{id}"), &here, "settle", t(v, "정산"))
                .hidden("purchase_id", id.to_string())
                .field(Field::select(
                    "outcome",
                    "",
                    vec![
                        ("approved".into(), t(v, "결제됨 (포인트 지급)")),
                        ("failed".into(), t(v, "결제 안 됨")),
                    ],
                ))
                .field(Field::text("tno", "").placeholder(t(v, "KCP 거래번호")))
                .money(t(v, "KCP 관리자 화면에서 확인한 결과로 정산합니다. 계속할까요?"))
                .inline(),
        );
        kcp.row(row);
    }

    let mut options = vec![(String::new(), t(v, "전체"))];
    options.extend(statuses().map(|s| ((*s).to_owned(), status_label(v, s))));
    let filters = Form::get("purchase-filter", &v.path, t(v, "적용"))
        .field(Field::select("status", t(v, "상태"), options).value(status.unwrap_or("")))
        .field(
            Field::select(
                "method",
                t(v, "방법"),
                vec![
                    (String::new(), t(v, "전체")),
                    ("bank".into(), t(v, "무통장 입금")),
                    ("kcp".into(), t(v, "카드 (KCP)")),
                ],
            )
            .value(method.unwrap_or("")),
        )
        .field(Field::text("user_id", t(v, "회원 ID")).value(user.unwrap_or("")));

    let mut table = Table::new(
        v.lang,
        &["번호", "회원", "방법", "#포인트", "#입금액", "입금자명", "상태", "일시", ""],
        t(v, "충전 신청이 없습니다."),
    );
    for p in rows(&page, "purchases") {
        let id = int(p, "purchase_id");
        let status = text(p, "status");
        let method = text(p, "method");
        let mut row = Row::new(
            format!("purchase-{id}"),
            vec![
                Cell::text(format!("#{id}")),
                user_cell(p),
                Cell::text(if method == "bank" { t(v, "무통장 입금") } else { t(v, "카드 (KCP)") }),
                points(int(p, "amount")),
                Cell::Num(format!("{} 원", crate::console::group_thousands(int(p, "price")))),
                Cell::text(format!("{} {}", text(p, "buyer_name"), text(p, "bank_info"))),
                purchase_badge(v, &status),
                Cell::muted(text(p, "created_at")),
            ],
        );
        if status == "pending" && method == "bank" {
            let amount = crate::console::group_thousands(int(p, "amount"));
            row = row
                .action(
                    Form::post(format!("approve-{id}"), &here, "decide", t(v, "승인"))
                        .hidden("purchase_id", id.to_string())
                        .hidden("status", "approved")
                        .money(format!("{} {amount} P", t(v, "입금을 확인했습니까? 포인트를 지급합니다:")))
                        .inline(),
                )
                .action(
                    Form::post(format!("reject-{id}"), &here, "decide", t(v, "거절"))
                        .hidden("purchase_id", id.to_string())
                        .hidden("status", "rejected")
                        .confirm(t(v, "이 충전 신청을 거절할까요?"))
                        .inline()
                        .danger(),
                );
        }
        table.row(row);
    }
    Ok(Page::new(t(v, "충전 신청"))
        .section(
            Section::new("kcp-attention", t(v, "확인이 필요한 카드 결제"))
                .note(t(v, "승인 결과를 받지 못했거나 금액이 맞지 않는 결제입니다. KCP 관리자 화면에서 확인한 뒤 정산하세요."))
                .table(kcp),
        )
        .section(Section::new("purchases", t(v, "전체 신청")).filters(filters).table(table).pager(pager)))
}

/// The buyer: their e-mail (or id), linked to their profile.
fn user_cell(p: &Value) -> Cell {
    let user = text(p, "user_id");
    let shown = match text(p, "email") {
        e if e.is_empty() => user.clone(),
        e => e,
    };
    Cell::link(format!("/admin/users/{}", urlencode(&user)), shown)
}

pub async fn act(v: &Visit, op: &str) -> Result<Done, ApiError> {
    let id = parse_int(v.lang, "purchase_id", v.f("purchase_id").unwrap_or(""))?;
    match op {
        "decide" => {
            let status = v.f("status").unwrap_or("");
            v.api_keyed(
                Method::PUT,
                &format!("/api/admin/purchases/{id}"),
                Some(&json!({"status": status})),
                key(v),
            )
            .await?;
            Ok(Done::said(
                v,
                if status == "approved" {
                    "승인했습니다. 포인트가 지급되었습니다."
                } else {
                    "거절했습니다."
                },
            ))
        }
        "settle" => {
            let mut body = json!({"outcome": v.f("outcome").unwrap_or("")});
            if let Some(tno) = v.f("tno") {
                body["tno"] = Value::from(tno);
            }
            v.api_keyed(Method::POST, &format!("/api/admin/purchases/{id}/settle"), Some(&body), key(v))
                .await?;
            Ok(Done::said(v, "정산했습니다."))
        }
        _ => Err(unknown_op(v)),
    }
}
