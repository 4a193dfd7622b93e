//! `/admin/referral`: referrer codes (register one for a user), each referrer's commission
//! rate and book, paying commission, and the withdrawal requests to approve or reject.

use hyper::Method;
use serde_json::{json, Value};

use super::kit::{parse_int, Body, Cell, Field, Form, Page, Row, Section, Table};
use super::{badge, here, int, key, num, points, t, text, unknown_op, Done};
use crate::console::{group_thousands, list as rows, urlencode, Failure, Pager, Visit};
use crate::error::ApiError;

pub async fn page(v: &Visit) -> Result<Page, Failure> {
    let here = here(v);
    let mut pager = Pager::from_visit(v, 20);
    let overview = v
        .api(Method::GET, &format!("/api/admin/referral/commission-overview?{}", pager.api_query()), None)
        .await?;
    pager.total = int(&overview, "total");
    let totals = overview.get("totals").cloned().unwrap_or(Value::Null);
    let mut referrers = Table::new(
        v.lang,
        &["코드", "회원", "#요율 (bp)", "#사용 횟수", "#적립", "#지급", "#출금 대기", "#잔액", ""],
        t(v, "등록된 추천인 코드가 없습니다."),
    );
    for r in rows(&overview, "referrers") {
        let user = text(r, "user_id");
        let code = text(r, "code");
        let balance = int(r, "current_balance");
        let mut row = Row::new(
            format!("referrer-{code}"),
            vec![
                Cell::text(code.clone()),
                Cell::link(format!("/admin/users/{}", urlencode(&user)), text(r, "email")),
                num(int(r, "commission_rate_bps")),
                num(int(r, "usage_count")),
                points(int(r, "total_earned")),
                points(int(r, "total_paid")),
                points(int(r, "pending_withdrawal")),
                points(balance),
            ],
        )
        .action(
            Form::post(format!("rate-{code}"), &here, "rate", t(v, "요율 저장"))
                .hidden("user_id", user.clone())
                .field(
                    Field::number("commission_rate_bps", "").value(int(r, "commission_rate_bps").to_string()),
                )
                .confirm(t(v, "이 추천인의 수수료율을 바꿀까요? 앞으로의 주문에 적용됩니다."))
                .inline(),
        );
        if balance > 0 {
            row = row.action(
                Form::post(format!("pay-{code}"), &here, "pay", t(v, "수수료 지급"))
                    .hidden("user_id", user.clone())
                    .field(Field::number("amount", "").value(balance.to_string()))
                    .field(Field::text("notes", "").placeholder(t(v, "메모")))
                    .money(t(v, "이 추천인에게 수수료를 지급할까요?"))
                    .inline(),
            );
        }
        referrers.row(row);
    }

    let requests =
        v.api(Method::GET, "/api/admin/withdrawal-requests?status=requested&limit=100", None).await?;
    let mut withdrawals = Table::new(
        v.lang,
        &["번호", "회원", "#금액", "계좌", "상태", "일시", ""],
        t(v, "처리할 출금 신청이 없습니다."),
    );
    for w in rows(&requests, "requests") {
        let id = int(w, "request_id");
        let user = text(w, "user_id");
        let amount = group_thousands(int(w, "amount"));
        withdrawals.row(
            Row::new(
                format!("withdrawal-{id}"),
                vec![
                    Cell::text(format!("#{id}")),
                    Cell::link(format!("/admin/users/{}", urlencode(&user)), user.clone()),
                    points(int(w, "amount")),
                    Cell::text(format!(
                        "{} {} ({})",
                        text(w, "bank_name"),
                        text(w, "account_number"),
                        text(w, "account_holder")
                    )),
                    badge(v, &text(w, "status")),
                    Cell::muted(text(w, "created_at")),
                ],
            )
            .action(
                Form::post(format!("approve-withdrawal-{id}"), &here, "withdrawal", t(v, "지급 완료"))
                    .hidden("request_id", id.to_string())
                    .hidden("action", "approve")
                    .field(Field::text("admin_notes", "").placeholder(t(v, "메모")))
                    .money(format!(
                        "{} {amount} P",
                        t(v, "계좌로 송금했습니까? 출금을 지급 완료로 처리합니다:")
                    ))
                    .inline(),
            )
            .action(
                Form::post(format!("reject-withdrawal-{id}"), &here, "withdrawal", t(v, "거절"))
                    .hidden("request_id", id.to_string())
                    .hidden("action", "reject")
                    .confirm(t(v, "이 출금 신청을 거절할까요? 금액은 수수료 잔액으로 돌아갑니다."))
                    .inline()
                    .danger(),
            ),
        );
    }

    let paid = v.api(Method::GET, "/api/admin/referral/payment-history?limit=20", None).await?;
    let mut payments = Table::new(
        v.lang,
        &["일시", "회원", "#금액", "종류", "메모", "처리자"],
        t(v, "지급 내역이 없습니다."),
    );
    for p in rows(&paid, "payments") {
        let user = text(p, "user_id");
        payments.row(Row::new(
            format!("payment-{}", int(p, "id")),
            vec![
                Cell::muted(text(p, "created_at")),
                Cell::link(format!("/admin/users/{}", urlencode(&user)), user.clone()),
                points(int(p, "amount")),
                Cell::text(match text(p, "kind").as_str() {
                    "withdrawal" => t(v, "출금"),
                    _ => t(v, "직접 지급"),
                }),
                Cell::text(text(p, "notes")),
                Cell::muted(text(p, "paid_by")),
            ],
        ));
    }

    Ok(Page::new(t(v, "추천인"))
        .section(
            Section::new("totals", t(v, "수수료 합계"))
                .fact(t(v, "적립"), points(int(&totals, "total_earned")))
                .fact(t(v, "지급"), points(int(&totals, "total_paid")))
                .fact(t(v, "출금 대기"), points(int(&totals, "pending_withdrawal")))
                .fact(t(v, "잔액"), points(int(&totals, "current_balance"))),
        )
        .section(Section::new("withdrawals", t(v, "출금 신청")).table(withdrawals))
        .section(Section::new("referrers", t(v, "추천인 코드")).table(referrers).pager(pager))
        .section(Section::new("payments", t(v, "최근 지급 내역")).table(payments))
        .section(
            Section::new("register", t(v, "추천인 코드 등록"))
                .note(t(v, "회원 ID나 이메일로 회원을 지정합니다. 요율은 bp 단위입니다 (1000 = 10%)."))
                .form(
                    Form::post("register-referrer", &here, "register", t(v, "등록"))
                        .field(Field::text("user_id", t(v, "회원 ID")))
                        .field(Field::text("email", t(v, "이메일")))
                        .field(Field::number("commission_rate_bps", t(v, "요율 (bp)")).value("1000")),
                ),
        ))
}

pub async fn act(v: &Visit, op: &str) -> Result<Done, ApiError> {
    match op {
        "register" => {
            let body = Body::of(v).text("user_id").text("email").int("commission_rate_bps")?.value();
            let r = v.api(Method::POST, "/api/admin/referral/register", Some(&body)).await?;
            Ok(Done {
                flash: format!("{} {}", t(v, "코드를 등록했습니다:"), text(&r, "code")), to: None
            })
        }
        "rate" => {
            let body = Body::of(v).text("user_id").int_required("commission_rate_bps")?.value();
            v.api(Method::PUT, "/api/admin/referral/update-commission-rate", Some(&body)).await?;
            Ok(Done::said(v, "저장했습니다."))
        }
        "pay" => {
            let body = Body::of(v).text("user_id").int_required("amount")?.text("notes").value();
            v.api_keyed(Method::POST, "/api/admin/referral/pay-commission", Some(&body), key(v)).await?;
            Ok(Done::said(v, "수수료를 지급했습니다."))
        }
        "withdrawal" => {
            let id = parse_int(v.lang, "request_id", v.f("request_id").unwrap_or(""))?;
            let mut body = json!({"request_id": id, "action": v.f("action").unwrap_or("")});
            if let Some(n) = v.f("admin_notes") {
                body["admin_notes"] = Value::from(n);
            }
            v.api_keyed(Method::POST, "/api/admin/process-withdrawal", Some(&body), key(v)).await?;
            Ok(Done::said(v, "처리했습니다."))
        }
        _ => Err(unknown_op(v)),
    }
}
