//! Self-test of the loopback NHN KCP fake (`tests/common/fake_kcp.rs`).

#[path = "common/fake_kcp.rs"]
mod fake_kcp;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fake_kcp::{FakeKcp, KcpFault, CERT_INFO, SITE_CD};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

const RET_URL: &str = "https://panel.example/api/points/purchase-kcp/return";

#[derive(Debug)]
struct Resp {
    status: StatusCode,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a fresh client (so a dropped connection is never reused).
async fn send(method: Method, url: &str, content_type: Option<&str>, body: Vec<u8>) -> Result<Resp, String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let req = req.body(Full::new(Bytes::from(body))).expect("request");
    let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.map_err(|e| format!("{e:?}"))?.to_bytes();
    Ok(Resp {
        status: parts.status,
        content_type: parts.headers.get("content-type").map(|v| v.to_str().unwrap().to_owned()),
        body: bytes.to_vec(),
    })
}

async fn post_json(url: &str, body: &Value) -> Result<Resp, String> {
    send(Method::POST, url, Some("application/json; charset=UTF-8"), body.to_string().into_bytes()).await
}

/// A JSON POST that must answer HTTP 200 JSON.
async fn call(url: &str, body: &Value) -> Value {
    let r = post_json(url, body).await.expect("transport");
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.content_type.as_deref().unwrap_or_default().starts_with("application/json"), "{r:?}");
    r.json()
}

fn register_body(ordr_idxx: &str, good_mny: &str) -> Value {
    json!({
        "site_cd": SITE_CD,
        "kcp_cert_info": CERT_INFO,
        "ordr_idxx": ordr_idxx,
        "good_mny": good_mny,
        "good_name": "포인트 \"10,000\"",
        "pay_method": "CARD",
        "Ret_URL": RET_URL,
        "currency": "410",
        "shop_name": "SNS PMT",
        "escw_used": "N",
        "user_agent": "",
    })
}

async fn register(fake: &FakeKcp, ordr_idxx: &str, good_mny: i64) -> Value {
    let v = call(&fake.register_url, &register_body(ordr_idxx, &good_mny.to_string())).await;
    assert_eq!(v["Code"], "0000", "{v}");
    v
}

fn get<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name}"))
}

/// The approval request the merchant sends for a `Ret_URL` form and a DB amount.
fn approval_body(form: &[(String, String)], ordr_mony: i64) -> Value {
    json!({
        "tran_cd": get(form, "tran_cd"),
        "site_cd": SITE_CD,
        "kcp_cert_info": CERT_INFO,
        "enc_data": get(form, "enc_data"),
        "enc_info": get(form, "enc_info"),
        "ordr_mony": ordr_mony.to_string(),
        "pay_type": "PACA",
        "ordr_no": get(form, "ordr_idxx"),
    })
}

async fn approve(fake: &FakeKcp, form: &[(String, String)], ordr_mony: i64) -> Value {
    call(&fake.payment_url, &approval_body(form, ordr_mony)).await
}

/// Registers `ordr_idxx` for `amount` and authenticates it for the same amount.
async fn authenticated(fake: &FakeKcp, ordr_idxx: &str, amount: i64) -> Vec<(String, String)> {
    register(fake, ordr_idxx, amount).await;
    fake.authenticate(ordr_idxx, None)
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' if i + 2 < s.len() => {
                let hex = std::str::from_utf8(&s[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

// --- trade register ---------------------------------------------------------------------

#[tokio::test]
async fn register_form_body_is_s005() {
    let fake = FakeKcp::start().await;
    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("site_cd", SITE_CD), ("kcp_cert_info", CERT_INFO), ("ordr_idxx", "A1")])
        .finish();
    let r = send(
        Method::POST,
        &fake.register_url,
        Some("application/x-www-form-urlencoded"),
        form.clone().into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"Code": "S005", "Message": "Not json format"}));
    // A form body labelled JSON, and JSON labelled as a form, are no better.
    let r =
        send(Method::POST, &fake.register_url, Some("application/json"), form.into_bytes()).await.unwrap();
    assert_eq!(r.json()["Code"], "S005");
    let json_body = register_body("A2", "1000").to_string().into_bytes();
    let r = send(Method::POST, &fake.register_url, Some("application/x-www-form-urlencoded"), json_body)
        .await
        .unwrap();
    assert_eq!(r.json()["Code"], "S005");
    assert!(fake.registrations().is_empty());
    let reqs = fake.requests("register");
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    assert!(reqs[0].json.is_none());
    assert_eq!(reqs[0].path, "/std/tradeReg/register");
}

#[tokio::test]
async fn register_without_cert_is_s000() {
    let fake = FakeKcp::start().await;
    let mut body = register_body("A1", "1000");
    body.as_object_mut().unwrap().remove("kcp_cert_info");
    let v = call(&fake.register_url, &body).await;
    assert_eq!(v["Code"], "S000", "{v}");
    assert!(v["Message"].is_string());
    body["kcp_cert_info"] = json!("");
    assert_eq!(call(&fake.register_url, &body).await["Code"], "S000");
    // The private key is not the certificate.
    body["kcp_cert_info"] =
        json!("-----BEGIN ENCRYPTED PRIVATE KEY-----MIIFAKE-----END ENCRYPTED PRIVATE KEY-----");
    assert_eq!(call(&fake.register_url, &body).await["Code"], "S000");
    assert!(fake.registrations().is_empty());
    // A multi-line PEM (real or literal "\n" line breaks) is the same certificate.
    body["kcp_cert_info"] =
        json!(CERT_INFO.replace("-----MII", "-----\nMII").replace("E-----E", "E\\n-----E"));
    assert_eq!(call(&fake.register_url, &body).await["Code"], "0000");
    // The legacy URL tolerates a missing certificate, like KCP's old sample.
    let mut legacy = register_body("A2", "1000");
    legacy.as_object_mut().unwrap().remove("kcp_cert_info");
    assert_eq!(call(&fake.legacy_register_url, &legacy).await["Code"], "0000");
    assert_eq!(fake.registration("A2").unwrap().path, "/trade/register.do");
    assert_eq!(fake.requests("register").len(), 5);
}

#[tokio::test]
async fn register_validates_fields() {
    let fake = FakeKcp::start().await;
    let cases: &[(&str, Value)] = &[
        ("site_cd", json!("T9999")),
        ("site_cd", Value::Null),
        ("ordr_idxx", json!("")),
        ("ordr_idxx", json!("x".repeat(41))),
        ("ordr_idxx", json!("a b")),
        ("good_mny", json!("1,000")),
        ("good_mny", json!("0")),
        ("good_mny", json!(1000)),
        ("good_mny", Value::Null),
        ("good_name", json!(" ")),
        ("pay_method", json!("card")),
        ("Ret_URL", json!("/relative")),
        ("Ret_URL", Value::Null),
    ];
    for (field, value) in cases {
        let mut body = register_body("A1", "1000");
        if value.is_null() {
            body.as_object_mut().unwrap().remove(*field);
        } else {
            body[*field] = value.clone();
        }
        let v = call(&fake.register_url, &body).await;
        assert_eq!(v["Code"], "M112", "{field}={value}: {v}");
        assert!(v["Message"].as_str().unwrap().contains(field), "{v}");
    }
    assert!(fake.registrations().is_empty());
    register(&fake, "A1", 1000).await;
    let v = call(&fake.register_url, &register_body("A1", "1000")).await;
    assert_eq!(v, json!({"Code": "M113", "Message": "duplicate ordr_idxx"}));
    assert_eq!(fake.registrations().len(), 1);
}

#[tokio::test]
async fn register_success_shape() {
    let fake = FakeKcp::start().await;
    let ordr = "POINT_20240501120000_AB12CD";
    let v = register(&fake, ordr, 10_000).await;
    assert_eq!(v["Message"], "정상처리");
    let key = v["approvalKey"].as_str().unwrap();
    assert_eq!(key.len(), 44);
    assert!(key.ends_with('='));
    let trace = v["traceNo"].as_str().unwrap();
    assert_eq!(trace.len(), 16);
    assert!(trace.starts_with("T0000"));
    assert_eq!(v["PayUrl"], format!("{}/pay/mobileGW.kcp", fake.base));
    assert_eq!(v["PayUrl"].as_str(), Some(fake.pay_url.as_str()));
    assert_eq!(v["paymentMethod"], "CARD");
    assert!(v["request_URI"].is_string());
    assert_eq!(fake.register_url, format!("{}/std/tradeReg/register", fake.base));
    assert_eq!(fake.payment_url, format!("{}/gw/enc/v1/payment", fake.base));
    assert!(fake.base.starts_with("http://127.0.0.1:"));

    let reg = fake.registration(ordr).unwrap();
    assert_eq!(reg.good_mny, 10_000);
    assert_eq!(reg.good_name, "포인트 \"10,000\"");
    assert_eq!(reg.pay_method, "CARD");
    assert_eq!(reg.ret_url, RET_URL);
    assert_eq!(reg.approval_key, key);
    assert_eq!(reg.trace_no, trace);
    // A second registration gets fresh values.
    let w = register(&fake, "OTHER", 10_000).await;
    assert_ne!(w["approvalKey"], v["approvalKey"]);
    assert_ne!(w["traceNo"], v["traceNo"]);
}

// --- browser step and approval ----------------------------------------------------------

#[tokio::test]
async fn register_authenticate_approve() {
    let fake = FakeKcp::start().await;
    let ordr = "POINT_1";
    let reg = register(&fake, ordr, 10_000).await;
    let form = fake.authenticate(ordr, None);
    for (k, v) in [
        ("res_cd", "0000"),
        ("res_msg", "정상처리"),
        ("tran_cd", "00100000"),
        ("ordr_idxx", ordr),
        ("site_cd", SITE_CD),
        ("good_mny", "10000"),
        ("use_pay_method", "100000000000"),
        ("pay_method", "CARD"),
        ("Ret_URL", RET_URL),
    ] {
        assert_eq!(get(&form, k), v, "{k}");
    }
    assert_eq!(get(&form, "trace_no"), reg["traceNo"].as_str().unwrap());
    assert!(get(&form, "enc_data").len() >= 100);
    assert!(!get(&form, "enc_info").is_empty());

    let v = approve(&fake, &form, 10_000).await;
    assert_eq!(v["res_cd"], "0000", "{v}");
    assert_eq!(v["res_msg"], "정상처리");
    assert_eq!(v["amount"], "10000");
    assert_eq!(v["card_mny"], "10000");
    assert_eq!(v["order_no"], ordr);
    assert_eq!(v["pay_method"], "PACA");
    assert_eq!(v["trace_no"], reg["traceNo"]);
    let tno = v["tno"].as_str().unwrap();
    assert_eq!(tno.len(), 14);
    assert!(tno.bytes().all(|b| b.is_ascii_digit()));
    let app_time = v["app_time"].as_str().unwrap();
    assert_eq!(app_time.len(), 14);
    assert!(app_time.starts_with("20"));
    assert_eq!(v["app_no"].as_str().unwrap().len(), 8);
    for (k, val) in v.as_object().unwrap() {
        assert!(val.is_string(), "{k} is not a string: {val}");
    }

    let approvals = fake.approvals();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].tno, tno);
    assert_eq!(approvals[0].amount, 10_000);
    assert_eq!(approvals[0].answered_amount, 10_000);
    assert_eq!(approvals[0].ordr_no.as_deref(), Some(ordr));
    assert_eq!(approvals[0].ordr_idxx, ordr);
    assert_eq!(approvals[0].enc_data, get(&form, "enc_data"));
    let reqs = fake.requests("payment");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].field("ordr_mony"), Some("10000"));

    // A second order gets another tno.
    let form2 = authenticated(&fake, "POINT_2", 5000).await;
    let v2 = approve(&fake, &form2, 5000).await;
    assert_eq!(v2["res_cd"], "0000");
    assert_ne!(v2["tno"], v["tno"]);
    assert_eq!(fake.approvals().len(), 2);
}

#[tokio::test]
async fn enc_data_is_single_use_and_must_be_known() {
    let fake = FakeKcp::start().await;
    let form = authenticated(&fake, "P1", 1000).await;
    assert_eq!(approve(&fake, &form, 1000).await["res_cd"], "0000");
    let again = approve(&fake, &form, 1000).await;
    assert_ne!(again["res_cd"], "0000");
    assert_eq!(again["res_cd"], fake_kcp::CODE_ENC_DATA_USED);
    assert!(again.get("tno").is_none());
    assert_eq!(fake.approvals().len(), 1);

    let mut body = approval_body(&form, 1000);
    body["enc_data"] = json!("never-minted");
    let v = call(&fake.payment_url, &body).await;
    assert_eq!(v["res_cd"], "9999", "{v}");
    assert!(v["res_msg"].as_str().unwrap().contains("enc_data"));

    // enc_info belongs to its enc_data.
    let form2 = fake.authenticate("P1", None);
    let mut body = approval_body(&form2, 1000);
    body["enc_info"] = json!(get(&form, "enc_info"));
    assert_eq!(call(&fake.payment_url, &body).await["res_cd"], "9999");
    // That did not use it up.
    assert_eq!(approve(&fake, &form2, 1000).await["res_cd"], "0000");
    assert_eq!(fake.approvals().len(), 2);
}

#[tokio::test]
async fn ordr_mony_tamper_is_refused() {
    let fake = FakeKcp::start().await;
    register(&fake, "P1", 10_000).await;
    // The browser changed good_mny: the user authenticated 100 KRW.
    let form = fake.authenticate("P1", Some(100));
    assert_eq!(get(&form, "good_mny"), "100");
    let v = approve(&fake, &form, 10_000).await;
    assert_eq!(v["res_cd"], fake_kcp::CODE_AMOUNT_MISMATCH, "{v}");
    assert_ne!(v["res_cd"], "0000");
    assert!(fake.approvals().is_empty());
    // The attempt used up the authentication.
    assert_eq!(approve(&fake, &form, 100).await["res_cd"], fake_kcp::CODE_ENC_DATA_USED);
    assert!(fake.approvals().is_empty());
}

#[tokio::test]
async fn payment_validates_request() {
    let fake = FakeKcp::start().await;
    let form = authenticated(&fake, "P1", 1000).await;
    let base = approval_body(&form, 1000);

    let r = send(
        Method::POST,
        &fake.payment_url,
        Some("application/x-www-form-urlencoded"),
        FakeKcp::utf8_body(&form),
    )
    .await
    .unwrap();
    assert_eq!(r.json()["res_cd"], "S005");

    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        if v.is_null() {
            b.as_object_mut().unwrap().remove(k);
        } else {
            b[k] = v;
        }
        b
    };
    let cases: &[(&str, Value, &str)] = &[
        ("kcp_cert_info", Value::Null, "S000"),
        ("kcp_cert_info", json!("-----BEGIN CERTIFICATE-----OTHER-----END CERTIFICATE-----"), "S000"),
        ("tran_cd", Value::Null, "9562"),
        ("tran_cd", json!("00200000"), "9562"),
        ("site_cd", json!("T9999"), "9501"),
        ("enc_info", Value::Null, "9501"),
        ("enc_data", Value::Null, "9501"),
        ("ordr_mony", Value::Null, "9501"),
        ("ordr_mony", json!(1000), "9501"),
        ("ordr_mony", json!("1,000"), "9501"),
        ("pay_type", json!("PABK"), "9501"),
        ("ordr_no", json!("SOMEONE_ELSE"), fake_kcp::CODE_ORDER_MISMATCH),
    ];
    for (k, v, code) in cases {
        let resp = call(&fake.payment_url, &with(k, v.clone())).await;
        assert_eq!(resp["res_cd"], *code, "{k}={v}: {resp}");
    }
    // None of those used up the enc_data; the older samples' request (no pay_type/ordr_no)
    // approves.
    let mut old_style = base.clone();
    old_style.as_object_mut().unwrap().remove("pay_type");
    old_style.as_object_mut().unwrap().remove("ordr_no");
    let v = call(&fake.payment_url, &old_style).await;
    assert_eq!(v["res_cd"], "0000", "{v}");
    assert_eq!(v["order_no"], "P1");
    assert_eq!(fake.approvals()[0].ordr_no, None);
}

#[tokio::test]
async fn answer_amount_and_order_no_knobs() {
    let fake = FakeKcp::start().await;
    fake.set_answer_amount(Some(1));
    let form = authenticated(&fake, "P1", 10_000).await;
    let v = approve(&fake, &form, 10_000).await;
    assert_eq!(v["res_cd"], "0000");
    assert_eq!(v["amount"], "1");
    let a = &fake.approvals()[0];
    assert_eq!((a.amount, a.answered_amount), (10_000, 1));

    fake.set_answer_amount(None);
    fake.set_answer_order_no(Some("NOT_P2"));
    let form = authenticated(&fake, "P2", 10_000).await;
    let v = approve(&fake, &form, 10_000).await;
    assert_eq!(v["amount"], "10000");
    assert_eq!(v["order_no"], "NOT_P2");
    fake.set_answer_order_no(None);
    let form = authenticated(&fake, "P3", 10_000).await;
    assert_eq!(approve(&fake, &form, 10_000).await["order_no"], "P3");
}

#[tokio::test]
async fn decline_knob() {
    let fake = FakeKcp::start().await;
    fake.set_decline(Some(("8101", "카드 한도 초과")));
    let form = authenticated(&fake, "P1", 10_000).await;
    let v = approve(&fake, &form, 10_000).await;
    assert_eq!(v["res_cd"], "8101");
    assert_eq!(v["res_msg"], "카드 한도 초과");
    assert!(v.get("tno").is_none());
    assert!(fake.approvals().is_empty());
    fake.set_decline(None);
    // The declined authentication is spent; a new one approves.
    assert_eq!(approve(&fake, &form, 10_000).await["res_cd"], fake_kcp::CODE_ENC_DATA_USED);
    let form = fake.authenticate("P1", None);
    assert_eq!(approve(&fake, &form, 10_000).await["res_cd"], "0000");
    assert_eq!(fake.approvals().len(), 1);
}

#[tokio::test]
async fn canceled_form_is_3001() {
    let fake = FakeKcp::start().await;
    register(&fake, "P1", 1000).await;
    let form = fake.canceled_form("P1");
    assert_eq!(get(&form, "res_cd"), "3001");
    assert_eq!(get(&form, "ordr_idxx"), "P1");
    assert_eq!(get(&form, "enc_data"), "");
    assert_eq!(get(&form, "enc_info"), "");
    let body = FakeKcp::euc_kr_body(&form);
    assert!(std::str::from_utf8(&body).unwrap().contains("res_msg=%BB%E7%BF%EB%C0%DA+%C3%EB%BC%D2"));
    // No registration needed.
    assert_eq!(get(&fake.canceled_form("NEVER"), "res_cd"), "3001");
}

#[tokio::test]
#[should_panic(expected = "never registered")]
async fn authenticate_needs_a_registration() {
    let fake = FakeKcp::start().await;
    fake.authenticate("NEVER", None);
}

// --- Ret_URL encodings ------------------------------------------------------------------

#[tokio::test]
async fn euc_kr_and_utf8_bodies() {
    let fake = FakeKcp::start().await;
    let form = authenticated(&fake, "P1", 1004).await;
    let body = FakeKcp::euc_kr_body(&form);
    let text = std::str::from_utf8(&body).expect("the encoded body is ASCII");
    assert!(text.is_ascii());
    assert!(text.contains("res_msg=%C1%A4%BB%F3%C3%B3%B8%AE"), "{text}");
    assert!(text.contains("buyr_name=%C8%AB%B1%E6%B5%BF"), "{text}");
    // 포인트 "10,000"
    assert!(text.contains("good_name=%C6%F7%C0%CE%C6%AE+%2210%2C000%22"), "{text}");
    assert!(text.contains("Ret_URL=https%3A%2F%2Fpanel.example%2Fapi"), "{text}");
    assert!(text.contains("&enc_data="));
    let decoded = percent_decode(&body);
    assert!(std::str::from_utf8(&decoded).is_err(), "EUC-KR must not decode as UTF-8");
    let res_msg = text.split('&').find_map(|p| p.strip_prefix("res_msg=")).unwrap();
    assert_eq!(percent_decode(res_msg.as_bytes()), [0xC1, 0xA4, 0xBB, 0xF3, 0xC3, 0xB3, 0xB8, 0xAE]);
    // ASCII fields survive any decoding.
    let lossy: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    assert_eq!(get(&lossy, "enc_data"), get(&form, "enc_data"));
    assert_eq!(get(&lossy, "ordr_idxx"), "P1");
    assert_ne!(get(&lossy, "res_msg"), "정상처리");
    // Characters outside the table become '?'.
    let odd = FakeKcp::euc_kr_body(&[("x".into(), "é가".into())]);
    assert_eq!(odd, b"x=%3F%3F");

    let utf8 = FakeKcp::utf8_body(&form);
    let parsed: Vec<(String, String)> = form_urlencoded::parse(&utf8).into_owned().collect();
    assert_eq!(parsed, form);
    assert!(std::str::from_utf8(&percent_decode(&utf8)).is_ok());
}

#[tokio::test]
async fn pay_window_route() {
    let fake = FakeKcp::start().await;
    let reg = register(&fake, "P1", 2000).await;
    let key = reg["approvalKey"].as_str().unwrap();
    let body = |pairs: &[(&str, &str)]| {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
    };
    let ct = Some("application/x-www-form-urlencoded");
    let r = send(Method::POST, &fake.pay_url, ct, body(&[("approval_key", key), ("ordr_idxx", "P1")]))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("res_msg=%C1%A4%BB%F3%C3%B3%B8%AE"));
    let form: Vec<(String, String)> = form_urlencoded::parse(&r.body).into_owned().collect();
    assert_eq!(get(&form, "good_mny"), "2000");
    assert_eq!(approve(&fake, &form, 2000).await["res_cd"], "0000");

    let r = send(
        Method::POST,
        &fake.pay_url,
        ct,
        body(&[("approval_key", key), ("ordr_idxx", "P1"), ("encoding_trans", "UTF-8"), ("good_mny", "5")]),
    )
    .await
    .unwrap();
    let form: Vec<(String, String)> = form_urlencoded::parse(&r.body).into_owned().collect();
    assert_eq!(get(&form, "res_msg"), "정상처리");
    assert_eq!(get(&form, "good_mny"), "5");
    assert_eq!(approve(&fake, &form, 2000).await["res_cd"], fake_kcp::CODE_AMOUNT_MISMATCH);

    let r = send(
        Method::POST,
        &fake.pay_url,
        ct,
        body(&[("approval_key", key), ("ordr_idxx", "P1"), ("res_cd", "3001")]),
    )
    .await
    .unwrap();
    assert!(r.text().contains("res_cd=3001"));

    let r = send(Method::POST, &fake.pay_url, ct, body(&[("approval_key", "nope"), ("ordr_idxx", "P1")]))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(fake.requests("pay").len(), 4);
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let fake = FakeKcp::start().await;
    let r = post_json(&format!("{}/gw/mod/v1/cancel", fake.base), &json!({})).await.unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(Method::GET, &fake.register_url, None, Vec::new()).await.unwrap();
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(fake.requests("other").len(), 1);
    assert_eq!(fake.requests("register")[0].method, "GET");
}

// --- faults -----------------------------------------------------------------------------

#[tokio::test]
async fn register_faults() {
    let fake = FakeKcp::start().await;
    fake.push_fault("register", KcpFault::DropConnection);
    fake.push_fault("register", KcpFault::CommitThenDrop);
    fake.push_fault(
        "register",
        KcpFault::Http {
            status: 502,
            content_type: "text/html",
            body: "<html>502 Bad Gateway</html>".into(),
        },
    );
    fake.push_fault("register", KcpFault::Raw("<html>maintenance</html>".into()));
    fake.push_fault("register", KcpFault::Delay(Duration::from_millis(300)));
    assert_eq!(fake.pending_faults(), 5);

    // FIFO: Drop, nothing registered.
    assert!(post_json(&fake.register_url, &register_body("R1", "1000")).await.is_err());
    assert!(fake.registration("R1").is_none());
    // CommitThenDrop: registered, answer lost.
    assert!(post_json(&fake.register_url, &register_body("R2", "1000")).await.is_err());
    assert!(fake.registration("R2").is_some());
    // Http 502.
    let r = post_json(&fake.register_url, &register_body("R3", "1000")).await.unwrap();
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.content_type.as_deref(), Some("text/html"));
    assert_eq!(r.text(), "<html>502 Bad Gateway</html>");
    assert!(fake.registration("R3").is_none());
    // Raw.
    let r = post_json(&fake.register_url, &register_body("R4", "1000")).await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "<html>maintenance</html>"));
    assert_eq!(r.content_type.as_deref(), Some("text/html"));
    assert!(fake.registration("R4").is_none());
    // Delay, then normal.
    let started = Instant::now();
    let v = call(&fake.register_url, &register_body("R5", "1000")).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(v["Code"], "0000");
    assert_eq!(fake.pending_faults(), 0);
    // Every request was recorded.
    assert_eq!(fake.requests("register").len(), 5);
    // Faults are per route.
    fake.push_fault("payment", KcpFault::DropConnection);
    assert_eq!(call(&fake.register_url, &register_body("R6", "1000")).await["Code"], "0000");
    assert_eq!(fake.pending_faults(), 1);
}

#[tokio::test]
async fn payment_drop_and_errors_do_nothing() {
    let fake = FakeKcp::start().await;
    let form = authenticated(&fake, "P1", 1000).await;
    fake.push_fault("payment", KcpFault::DropConnection);
    fake.push_fault(
        "payment",
        KcpFault::Http { status: 503, content_type: "text/html", body: "<h1>503</h1>".into() },
    );
    fake.push_fault("payment", KcpFault::Raw("garbage".into()));
    assert!(post_json(&fake.payment_url, &approval_body(&form, 1000)).await.is_err());
    let r = post_json(&fake.payment_url, &approval_body(&form, 1000)).await.unwrap();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let r = post_json(&fake.payment_url, &approval_body(&form, 1000)).await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "garbage"));
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert!(fake.approvals().is_empty());
    // The enc_data was not used by any of them.
    assert_eq!(approve(&fake, &form, 1000).await["res_cd"], "0000");
    assert_eq!(fake.approvals().len(), 1);
    assert_eq!(fake.requests("payment").len(), 4);
}

#[tokio::test]
async fn payment_commit_then_drop() {
    let fake = FakeKcp::start().await;
    let form = authenticated(&fake, "P1", 1000).await;
    fake.push_fault("payment", KcpFault::CommitThenDrop);
    assert!(post_json(&fake.payment_url, &approval_body(&form, 1000)).await.is_err());
    let approvals = fake.approvals();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].tno.len(), 14);
    assert_eq!(approvals[0].amount, 1000);
    // Retrying the same enc_data does not charge twice.
    assert_eq!(approve(&fake, &form, 1000).await["res_cd"], fake_kcp::CODE_ENC_DATA_USED);
    assert_eq!(fake.approvals().len(), 1);
}

#[tokio::test]
async fn payment_delay_then_approval() {
    let fake = FakeKcp::start().await;
    let form = authenticated(&fake, "P1", 1000).await;
    // Delay then normal: the approval still happens.
    fake.push_fault("payment", KcpFault::Delay(Duration::from_millis(200)));
    let started = Instant::now();
    let v = approve(&fake, &form, 1000).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(v["res_cd"], "0000");

    // With a client timeout shorter than the delay, the client gives up but KCP approves.
    let form = authenticated(&fake, "P2", 1000).await;
    fake.push_fault("payment", KcpFault::Delay(Duration::from_millis(400)));
    let attempt = tokio::time::timeout(
        Duration::from_millis(100),
        post_json(&fake.payment_url, &approval_body(&form, 1000)),
    )
    .await;
    assert!(attempt.is_err(), "the client should have timed out");
    assert_eq!(fake.approvals().len(), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.approvals().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let approvals = fake.approvals();
    assert_eq!(approvals.len(), 2);
    assert_eq!(approvals[1].ordr_idxx, "P2");
    assert!(fake.wait_for_requests("payment", 2, Duration::from_millis(10)).await);
}

#[tokio::test]
#[should_panic(expected = "unknown route")]
async fn push_fault_checks_the_route() {
    let fake = FakeKcp::start().await;
    fake.push_fault("approve", KcpFault::DropConnection);
}

// --- wire -------------------------------------------------------------------------------

/// Sends raw bytes on one connection and reads until the server closes it.
fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_format() {
    let fake = FakeKcp::start().await;
    let addr = fake.addr;
    let body = register_body("W1", "1000").to_string();
    let request = format!(
        "POST /std/tradeReg/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let out = tokio::task::spawn_blocking(move || raw_exchange(addr, request.as_bytes())).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, payload) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains(&format!("Content-Length: {}", payload.len())), "{head}");
    assert!(head.contains("Content-Type: application/json"), "{head}");
    assert_eq!(serde_json::from_str::<Value>(payload).unwrap()["Code"], "0000");

    // A dropped connection closes without a single byte.
    fake.push_fault("register", KcpFault::DropConnection);
    let body = register_body("W2", "1000").to_string();
    let request = format!(
        "POST /std/tradeReg/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let out = tokio::task::spawn_blocking(move || raw_exchange(addr, request.as_bytes())).await.unwrap();
    assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&out));
}
