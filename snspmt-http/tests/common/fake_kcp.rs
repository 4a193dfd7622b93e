//! A loopback fake of NHN KCP standard payment (protocols §2, fake in §2.8).
//!
//! Routes (all `POST`; other methods get 405, other paths 404):
//! - `/std/tradeReg/register` (and the legacy `/trade/register.do`): the trade registration
//!   (§2.2). JSON only; answers `Code`/`Message`/`approvalKey`/`traceNo`/`PayUrl`/
//!   `paymentMethod`/`request_URI`, HTTP 200 even on failure.
//! - `/gw/enc/v1/payment`: the approval (§2.5). JSON only; answers `res_cd`/`res_msg` and, on
//!   success, a card-shaped body whose values are all strings.
//! - `/pay/mobileGW.kcp`: a stand-in for the browser step (the payment window). Most tests
//!   call [`FakeKcp::authenticate`] instead; see [`FakeKcp::pay_url`].
//!
//! The browser step is [`FakeKcp::authenticate`]: it mints a single-use opaque
//! `enc_data`/`enc_info` pair tied to the registered order and the authenticated amount, and
//! answers the fields KCP makes the browser post to `Ret_URL` (§2.4). Encode them with
//! [`FakeKcp::euc_kr_body`] (what KCP sends without `encoding_trans`) or
//! [`FakeKcp::utf8_body`].
//!
//! Faults are queued per route (`"register"`, `"payment"`, `"pay"`) and consumed (FIFO)
//! before the normal logic. Every request is recorded when received, faulted or not.
//!
//! Error codes: `S005`, `S000` and `M112` are codes the original hit on the real register
//! API and `9562` is the legacy library's "tran_cd not set"; the others ([`CODE_DUPLICATE`],
//! [`CODE_BAD_PARAM`], [`CODE_INVALID_ENC_DATA`], [`CODE_ENC_DATA_USED`],
//! [`CODE_AMOUNT_MISMATCH`], [`CODE_ORDER_MISMATCH`]) are invented: KCP publishes no catalogue.
//! Tests should only rely on "not `0000`".
//!
//! Not modelled: the cancel API (`/gw/mod/v1/cancel`, needs RSA), non-card methods.

#![allow(dead_code)]

// Each fake loads the shared server as its own private copy, so that it also compiles
// when a self-test includes the fake's file alone; `tests/common` loads it twice
// (once per fake), which `duplicate_mod` would flag.
#[allow(clippy::duplicate_mod)]
#[path = "fake_http.rs"]
mod fake_http;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fake_http::{HttpRequest, HttpResponse, Outcome};
use rand::Rng;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// KCP's public test site code; the only one the fake accepts.
pub const SITE_CD: &str = "T0000";

/// The only service certificate the fake accepts in `kcp_cert_info` (after the same
/// one-line normalisation KCP expects: literal `\n`/`\r` and line breaks removed, lines
/// trimmed).
pub const CERT_INFO: &str = "-----BEGIN CERTIFICATE-----MIIFAKE-----END CERTIFICATE-----";

/// `tran_cd` of a normal payment.
pub const TRAN_CD: &str = "00100000";
/// Success, in every API and in the `Ret_URL` post.
pub const CODE_OK: &str = "0000";
/// `Ret_URL` `res_cd` when the user cancelled in the payment window.
pub const CODE_USER_CANCEL: &str = "3001";
/// The body is not JSON (a form body, say).
pub const CODE_NOT_JSON: &str = "S005";
/// `kcp_cert_info` missing or not the configured certificate.
pub const CODE_CERT: &str = "S000";
/// Register: a required field is missing or invalid (`site_cd`, `ordr_idxx`, `good_mny`,
/// `good_name`, `pay_method`, `Ret_URL`).
pub const CODE_REGISTER_PARAM: &str = "M112";
/// Register: this `ordr_idxx` was registered before. (Invented.)
pub const CODE_DUPLICATE: &str = "M113";
/// Approval: `tran_cd` missing or wrong.
pub const CODE_TRAN_CD: &str = "9562";
/// Approval: another required field is missing or invalid (`site_cd`, `enc_data`,
/// `enc_info`, `ordr_mony`, `pay_type`). (Invented.)
pub const CODE_BAD_PARAM: &str = "9501";
/// Approval: `enc_data` (or its `enc_info`) was never minted. (Invented.)
pub const CODE_INVALID_ENC_DATA: &str = "9999";
/// Approval: `enc_data` was already used. (Invented.)
pub const CODE_ENC_DATA_USED: &str = "8998";
/// Approval: `ordr_mony` is not the authenticated amount. (Invented.)
pub const CODE_AMOUNT_MISMATCH: &str = "8999";
/// Approval: `ordr_no` is not the authenticated order. (Invented.)
pub const CODE_ORDER_MISMATCH: &str = "8997";

const JSON_UTF8: &str = "application/json;charset=UTF-8";
const REGISTER_PATH: &str = "/std/tradeReg/register";
const LEGACY_REGISTER_PATH: &str = "/trade/register.do";
const PAYMENT_PATH: &str = "/gw/enc/v1/payment";
const PAY_WINDOW_PATH: &str = "/pay/mobileGW.kcp";

/// One request as received (whatever happened to it afterwards).
#[derive(Clone, Debug)]
pub struct KcpRequest {
    /// The request target's path (without the query).
    pub path: String,
    /// The value of the `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body parsed as JSON, if it is JSON (whatever the `Content-Type`).
    pub json: Option<Value>,
    /// The raw body.
    pub body: Vec<u8>,
    /// `POST`, `GET`, …
    pub method: String,
}

impl KcpRequest {
    /// A string field of the JSON body.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.json.as_ref()?.get(name)?.as_str()
    }
}

/// A successful approval (KCP charged the card).
#[derive(Clone, Debug)]
pub struct KcpApproval {
    /// The fresh 14-digit KCP transaction number.
    pub tno: String,
    /// The request's `ordr_no`, if it sent one.
    pub ordr_no: Option<String>,
    /// The amount charged: the authenticated amount (= the request's `ordr_mony`).
    pub amount: i64,
    pub enc_data: String,
    /// The order the `enc_data` belongs to.
    pub ordr_idxx: String,
    /// The `amount` in the answer (differs from `amount` under [`FakeKcp::set_answer_amount`]).
    pub answered_amount: i64,
}

/// A trade registration the fake accepted.
#[derive(Clone, Debug)]
pub struct KcpRegistration {
    pub ordr_idxx: String,
    pub site_cd: String,
    pub good_mny: i64,
    pub good_name: String,
    pub pay_method: String,
    pub ret_url: String,
    pub approval_key: String,
    pub trace_no: String,
    /// The path it was registered on (the current or the legacy URL).
    pub path: String,
}

/// A scripted outcome for the next request of one route.
#[derive(Clone, Debug)]
pub enum KcpFault {
    /// Sleep, then behave normally: with a client timeout shorter than this, an approval
    /// still happens (commit-then-timeout).
    Delay(Duration),
    /// Close the socket without any response; nothing happens (the `enc_data` stays unused).
    DropConnection,
    /// Apply the request (register the order, record the approval and use up the
    /// `enc_data`), then close without a response.
    CommitThenDrop,
    /// Answer this status, content type and body; nothing happens.
    Http { status: u16, content_type: &'static str, body: String },
    /// HTTP 200 with exactly this body (`text/html` when it starts with `<`, else
    /// `application/json`); nothing happens.
    Raw(String),
}

/// A minted `enc_data`.
struct Auth {
    ordr_idxx: String,
    amount: i64,
    enc_info: String,
    used: bool,
}

struct State {
    base: String,
    registrations: BTreeMap<String, KcpRegistration>,
    auths: HashMap<String, Auth>,
    approvals: Vec<KcpApproval>,
    tnos: HashSet<String>,
    faults: HashMap<String, VecDeque<KcpFault>>,
    /// (route, request), in arrival order.
    requests: Vec<(String, KcpRequest)>,
    answer_amount: Option<i64>,
    answer_order_no: Option<String>,
    decline: Option<(String, String)>,
}

/// A running fake KCP. Dropping it stops accepting connections.
pub struct FakeKcp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `{base}/std/tradeReg/register`
    pub register_url: String,
    /// `{base}/trade/register.do` (the legacy register URL; same behaviour, except that
    /// `kcp_cert_info` is optional there, like KCP's old sample).
    pub legacy_register_url: String,
    /// `{base}/gw/enc/v1/payment`
    pub payment_url: String,
    /// `{base}/pay/mobileGW.kcp`: the `PayUrl` the register answers. A `POST` with
    /// `approval_key`, `ordr_idxx`, optionally `good_mny` (the authenticated amount) and
    /// `encoding_trans=UTF-8` (form or JSON) answers [`FakeKcp::authenticate`]'s fields as an
    /// `application/x-www-form-urlencoded` body (EUC-KR unless `encoding_trans=UTF-8`); with
    /// `res_cd=3001` it answers [`FakeKcp::canceled_form`].
    pub pay_url: String,
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

impl Drop for FakeKcp {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl FakeKcp {
    /// Binds 127.0.0.1:0 and spawns the server on the current tokio runtime.
    pub async fn start() -> FakeKcp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("fake kcp: bind");
        let addr = listener.local_addr().expect("fake kcp: local addr");
        let base = format!("http://{addr}");
        let state = Arc::new(Mutex::new(State {
            base: base.clone(),
            registrations: BTreeMap::new(),
            auths: HashMap::new(),
            approvals: Vec::new(),
            tnos: HashSet::new(),
            faults: HashMap::new(),
            requests: Vec::new(),
            answer_amount: None,
            answer_order_no: None,
            decline: None,
        }));
        let accept_state = state.clone();
        let accept = fake_http::spawn(listener, "fake-kcp", move |req| {
            let state = accept_state.clone();
            async move { handle(&state, req).await }
        });
        FakeKcp {
            register_url: format!("{base}{REGISTER_PATH}"),
            legacy_register_url: format!("{base}{LEGACY_REGISTER_PATH}"),
            payment_url: format!("{base}{PAYMENT_PATH}"),
            pay_url: format!("{base}{PAY_WINDOW_PATH}"),
            base,
            addr,
            state,
            accept,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Queues a fault for the next request of `route`: `"register"` (both register URLs),
    /// `"payment"` or `"pay"` (the payment-window stand-in).
    pub fn push_fault(&self, route: &str, fault: KcpFault) {
        assert!(
            matches!(route, "register" | "payment" | "pay"),
            "fake kcp: unknown route {route:?} (register | payment | pay)"
        );
        self.lock().faults.entry(route.to_owned()).or_default().push_back(fault);
    }

    /// Faults queued and not yet consumed, over all routes.
    pub fn pending_faults(&self) -> usize {
        self.lock().faults.values().map(VecDeque::len).sum()
    }

    /// The requests received on `route` (`"register"`, `"payment"`, `"pay"`, or `"other"`
    /// for unknown paths), in order, faulted or not.
    pub fn requests(&self, route: &str) -> Vec<KcpRequest> {
        self.lock().requests.iter().filter(|(r, _)| r == route).map(|(_, q)| q.clone()).collect()
    }

    /// Waits until at least `n` requests were received on `route`; false on timeout.
    pub async fn wait_for_requests(&self, route: &str, n: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.lock().requests.iter().filter(|(r, _)| r == route).count() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The successful approvals, in order.
    pub fn approvals(&self) -> Vec<KcpApproval> {
        self.lock().approvals.clone()
    }

    /// The accepted trade registrations, by `ordr_idxx`.
    pub fn registrations(&self) -> Vec<KcpRegistration> {
        self.lock().registrations.values().cloned().collect()
    }

    pub fn registration(&self, ordr_idxx: &str) -> Option<KcpRegistration> {
        self.lock().registrations.get(ordr_idxx).cloned()
    }

    /// Knob: approvals answer this `amount` (and `card_mny`) instead of the approved one.
    pub fn set_answer_amount(&self, amount: Option<i64>) {
        self.lock().answer_amount = amount;
    }

    /// Knob: approvals answer this `order_no` (and `ca_order_id`) instead of the order's.
    pub fn set_answer_order_no(&self, order_no: Option<&str>) {
        self.lock().answer_order_no = order_no.map(str::to_owned);
    }

    /// Knob: approvals that pass validation answer this `res_cd`/`res_msg` (e.g.
    /// `("8101", "카드 한도 초과")`) instead of approving; the `enc_data` is used up.
    pub fn set_decline(&self, code: Option<(&str, &str)>) {
        self.lock().decline = code.map(|(c, m)| (c.to_owned(), m.to_owned()));
    }

    /// The browser step: the user authenticated `ordr_idxx` (registered before; panics
    /// otherwise) for `amount` (default: the registered `good_mny`). Mints a single-use
    /// opaque `enc_data`/`enc_info` tied to them and answers the `Ret_URL` form fields
    /// (§2.4): `res_cd=0000`, `res_msg=정상처리`, `tran_cd=00100000`, `enc_data`, `enc_info`,
    /// `ordr_idxx`, `site_cd`, `good_mny` (= `amount`), `trace_no`,
    /// `use_pay_method=100000000000`, `pay_method=CARD`, `Ret_URL`, buyer and card fields.
    pub fn authenticate(&self, ordr_idxx: &str, amount: Option<i64>) -> Vec<(String, String)> {
        let mut st = self.lock();
        let reg = st
            .registrations
            .get(ordr_idxx)
            .unwrap_or_else(|| panic!("fake kcp: authenticate: {ordr_idxx:?} was never registered"))
            .clone();
        mint(&mut st, &reg, amount.unwrap_or(reg.good_mny))
    }

    /// The user pressed cancel in the payment window: the `res_cd=3001` form (empty
    /// `enc_data`/`enc_info`/`tran_cd`). Does not need a registration.
    pub fn canceled_form(&self, ordr_idxx: &str) -> Vec<(String, String)> {
        let st = self.lock();
        canceled(st.registrations.get(ordr_idxx), ordr_idxx)
    }

    /// Encodes a `Ret_URL` form as KCP does without `encoding_trans`:
    /// `application/x-www-form-urlencoded`, non-ASCII characters percent-encoded as EUC-KR
    /// bytes (from a small fixed table of Hangul syllables; others become `?`, i.e. `%3F`), so
    /// the body is not UTF-8 once decoded.
    pub fn euc_kr_body(fields: &[(String, String)]) -> Vec<u8> {
        let mut out = String::new();
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            euc_kr_encode_into(&mut out, k);
            out.push('=');
            euc_kr_encode_into(&mut out, v);
        }
        out.into_bytes()
    }

    /// The same fields as a UTF-8 form body (as with `encoding_trans=UTF-8`).
    pub fn utf8_body(fields: &[(String, String)]) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .finish()
            .into_bytes()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------

fn route_of(path: &str) -> &'static str {
    match path {
        REGISTER_PATH | LEGACY_REGISTER_PATH => "register",
        PAYMENT_PATH => "payment",
        PAY_WINDOW_PATH => "pay",
        _ => "other",
    }
}

async fn handle(state: &Mutex<State>, req: HttpRequest) -> Outcome {
    let path = req.path().to_owned();
    let route = route_of(&path);
    let recorded = KcpRequest {
        path: path.clone(),
        content_type: req.header("content-type").map(str::to_owned),
        json: serde_json::from_slice(&req.body).ok(),
        body: req.body.clone(),
        method: req.method.clone(),
    };
    let is_post = req.method.eq_ignore_ascii_case("POST");
    let fault = {
        let mut st = lock(state);
        st.requests.push((route.to_owned(), recorded.clone()));
        if route != "other" && is_post {
            st.faults.get_mut(route).and_then(VecDeque::pop_front)
        } else {
            None
        }
    };
    if route == "other" {
        return Outcome::Respond(HttpResponse::html_status(404));
    }
    if !is_post {
        return Outcome::Respond(HttpResponse::html_status(405));
    }
    let mut drop_after = false;
    match fault {
        None => {}
        Some(KcpFault::Delay(d)) => tokio::time::sleep(d).await,
        Some(KcpFault::DropConnection) => return Outcome::Drop,
        Some(KcpFault::CommitThenDrop) => drop_after = true,
        Some(KcpFault::Http { status, content_type, body }) => {
            return Outcome::Respond(HttpResponse { status, content_type, body })
        }
        Some(KcpFault::Raw(body)) => {
            let content_type =
                if body.trim_start().starts_with('<') { "text/html" } else { "application/json" };
            return Outcome::Respond(HttpResponse { status: 200, content_type, body });
        }
    }
    let resp = {
        let mut st = lock(state);
        match route {
            "register" => register(&mut st, &recorded),
            "payment" => payment(&mut st, &recorded),
            _ => pay_window(&mut st, &recorded),
        }
    };
    if drop_after {
        Outcome::Drop
    } else {
        Outcome::Respond(resp)
    }
}

fn kcp_json(v: Value) -> HttpResponse {
    HttpResponse { status: 200, content_type: JSON_UTF8, body: v.to_string() }
}

/// The JSON object of a request; `None` for a form/multipart body or a body that is not a
/// JSON object.
fn json_object(req: &KcpRequest) -> Option<&Map<String, Value>> {
    let ct = req.content_type.as_deref().unwrap_or_default().to_ascii_lowercase();
    if ct.contains("x-www-form-urlencoded") || ct.contains("multipart/") {
        return None;
    }
    req.json.as_ref()?.as_object()
}

/// A string field: absent, `null` or "" → `Ok(None)`; not a string → `Err` (KCP's values
/// are all strings).
fn text<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, ()> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(()),
    }
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `kcp_cert_info` as KCP wants it: one line.
fn normalize_cert(pem: &str) -> String {
    pem.replace("\\r", "\n").replace("\\n", "\n").lines().map(str::trim).collect()
}

// ---------------------------------------------------------------------------------------
// Trade register
// ---------------------------------------------------------------------------------------

fn register_error(code: &str, message: &str) -> HttpResponse {
    kcp_json(json!({ "Code": code, "Message": message }))
}

fn register(st: &mut State, req: &KcpRequest) -> HttpResponse {
    let Some(obj) = json_object(req) else { return register_error(CODE_NOT_JSON, "Not json format") };
    let legacy = req.path == LEGACY_REGISTER_PATH;
    match text(obj, "kcp_cert_info") {
        Ok(None) if legacy => {}
        Ok(None) | Err(()) => return register_error(CODE_CERT, "kcp_cert_info is required"),
        Ok(Some(cert)) if normalize_cert(cert) != CERT_INFO => {
            return register_error(CODE_CERT, "invalid kcp_cert_info")
        }
        Ok(Some(_)) => {}
    }
    let field = |name: &str| text(obj, name).ok().flatten();
    let bad = |name: &str| register_error(CODE_REGISTER_PARAM, &format!("invalid parameter: {name}"));
    if field("site_cd") != Some(SITE_CD) {
        return bad("site_cd");
    }
    let Some(ordr_idxx) = field("ordr_idxx")
        .filter(|o| o.len() <= 40 && o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    else {
        return bad("ordr_idxx");
    };
    let Some(good_mny) = field("good_mny").and_then(digits).filter(|m| *m > 0) else {
        return bad("good_mny");
    };
    let Some(good_name) = field("good_name").filter(|n| !n.trim().is_empty()) else {
        return bad("good_name");
    };
    let Some(pay_method) = field("pay_method")
        .filter(|m| matches!(*m, "CARD" | "BANK" | "VCNT" | "MOBX" | "TPNT" | "GIFT" | "AUTH"))
    else {
        return bad("pay_method");
    };
    let Some(ret_url) = field("Ret_URL").filter(|u| {
        (u.starts_with("http://") || u.starts_with("https://")) && !u.chars().any(char::is_whitespace)
    }) else {
        return bad("Ret_URL");
    };
    if st.registrations.contains_key(ordr_idxx) {
        return register_error(CODE_DUPLICATE, "duplicate ordr_idxx");
    }
    let approval_key = format!("{}=", random_chars(43, B64));
    let trace_no = format!("{SITE_CD}{}", random_chars(11, UPPER_ALNUM));
    let pay_url = format!("{}{PAY_WINDOW_PATH}", st.base);
    st.registrations.insert(
        ordr_idxx.to_owned(),
        KcpRegistration {
            ordr_idxx: ordr_idxx.to_owned(),
            site_cd: SITE_CD.to_owned(),
            good_mny,
            good_name: good_name.to_owned(),
            pay_method: pay_method.to_owned(),
            ret_url: ret_url.to_owned(),
            approval_key: approval_key.clone(),
            trace_no: trace_no.clone(),
            path: req.path.clone(),
        },
    );
    kcp_json(json!({
        "Code": CODE_OK,
        "Message": "정상처리",
        "approvalKey": approval_key,
        "traceNo": trace_no,
        "PayUrl": pay_url,
        "paymentMethod": pay_method,
        "request_URI": format!("{pay_url}?approval_key={}", urlencode(&approval_key)),
    }))
}

// ---------------------------------------------------------------------------------------
// The browser step
// ---------------------------------------------------------------------------------------

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn mint(st: &mut State, reg: &KcpRegistration, amount: i64) -> Vec<(String, String)> {
    let enc_data = loop {
        let candidate = random_chars(160, URL_SAFE);
        if !st.auths.contains_key(&candidate) {
            break candidate;
        }
    };
    let enc_info = random_chars(48, URL_SAFE);
    st.auths.insert(
        enc_data.clone(),
        Auth { ordr_idxx: reg.ordr_idxx.clone(), amount, enc_info: enc_info.clone(), used: false },
    );
    let amount = amount.to_string();
    pairs(&[
        ("tran_cd", TRAN_CD),
        ("card_code", "CCLG"),
        ("kcp_select_card_code", "CCLG"),
        ("enc_data", &enc_data),
        ("enc_info", &enc_info),
        ("card_pay_method", "MPI"),
        ("card_mask_no", "461954"),
        ("card_point_use", "N"),
        ("app_pay_type", "I"),
        ("escw_used", "N"),
        ("req_tx", "pay"),
        ("trace_no", &reg.trace_no),
        ("buyr_tel1", ""),
        ("buyr_tel2", "010-0000-0000"),
        ("buyr_mail", "buyer@example.com"),
        ("buyr_name", "홍길동"),
        ("param_opt_1", ""),
        ("param_opt_2", ""),
        ("param_opt_3", ""),
        ("good_name", &reg.good_name),
        ("pay_method", "CARD"),
        ("site_cd", &reg.site_cd),
        ("good_mny", &amount),
        ("ordr_idxx", &reg.ordr_idxx),
        ("encoding_trans", ""),
        ("use_pay_method", "100000000000"),
        ("Ret_URL", &reg.ret_url),
        ("res_cd", CODE_OK),
        ("res_msg", "정상처리"),
    ])
}

fn canceled(reg: Option<&KcpRegistration>, ordr_idxx: &str) -> Vec<(String, String)> {
    pairs(&[
        ("tran_cd", ""),
        ("enc_data", ""),
        ("enc_info", ""),
        ("req_tx", "pay"),
        ("trace_no", reg.map(|r| r.trace_no.as_str()).unwrap_or_default()),
        ("good_name", reg.map(|r| r.good_name.as_str()).unwrap_or_default()),
        ("pay_method", "CARD"),
        ("site_cd", SITE_CD),
        ("good_mny", &reg.map(|r| r.good_mny.to_string()).unwrap_or_default()),
        ("ordr_idxx", ordr_idxx),
        ("encoding_trans", ""),
        ("use_pay_method", ""),
        ("Ret_URL", reg.map(|r| r.ret_url.as_str()).unwrap_or_default()),
        ("res_cd", CODE_USER_CANCEL),
        ("res_msg", "사용자 취소"),
    ])
}

/// `POST /pay/mobileGW.kcp`: the payment-window stand-in.
fn pay_window(st: &mut State, req: &KcpRequest) -> HttpResponse {
    let fields: HashMap<String, String> = match json_object(req) {
        Some(obj) => obj
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
            .collect(),
        None => form_urlencoded::parse(&req.body).into_owned().collect(),
    };
    let get = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let bad = |why: &str| HttpResponse { status: 400, content_type: "text/plain", body: why.to_owned() };
    let Some(reg) = st.registrations.get(get("ordr_idxx")).cloned() else {
        return bad("unknown ordr_idxx");
    };
    if get("approval_key") != reg.approval_key {
        return bad("invalid approval_key");
    }
    let form = if get("res_cd") == CODE_USER_CANCEL {
        canceled(Some(&reg), &reg.ordr_idxx)
    } else {
        let amount = match get("good_mny") {
            "" => reg.good_mny,
            text => match digits(text) {
                Some(a) => a,
                None => return bad("invalid good_mny"),
            },
        };
        mint(st, &reg, amount)
    };
    let body = if get("encoding_trans").eq_ignore_ascii_case("UTF-8") {
        FakeKcp::utf8_body(&form)
    } else {
        FakeKcp::euc_kr_body(&form)
    };
    HttpResponse {
        status: 200,
        content_type: "application/x-www-form-urlencoded",
        body: String::from_utf8(body).expect("percent-encoded bodies are ASCII"),
    }
}

// ---------------------------------------------------------------------------------------
// Approval
// ---------------------------------------------------------------------------------------

fn payment_error(code: &str, message: &str) -> HttpResponse {
    kcp_json(json!({ "res_cd": code, "res_msg": message, "res_en_msg": message }))
}

fn payment(st: &mut State, req: &KcpRequest) -> HttpResponse {
    let Some(obj) = json_object(req) else { return payment_error(CODE_NOT_JSON, "Not json format") };
    let bad = |name: &str| payment_error(CODE_BAD_PARAM, &format!("invalid parameter: {name}"));
    let Ok(tran_cd) = text(obj, "tran_cd") else { return payment_error(CODE_TRAN_CD, "tran_cd error") };
    let Some(tran_cd) = tran_cd else { return payment_error(CODE_TRAN_CD, "tran_cd not set") };
    match text(obj, "kcp_cert_info") {
        Ok(Some(cert)) if normalize_cert(cert) == CERT_INFO => {}
        Ok(Some(_)) => return payment_error(CODE_CERT, "invalid kcp_cert_info"),
        _ => return payment_error(CODE_CERT, "kcp_cert_info is required"),
    }
    if text(obj, "site_cd") != Ok(Some(SITE_CD)) {
        return bad("site_cd");
    }
    let Ok(Some(enc_data)) = text(obj, "enc_data") else { return bad("enc_data") };
    let Ok(Some(enc_info)) = text(obj, "enc_info") else { return bad("enc_info") };
    let Some(ordr_mony) = text(obj, "ordr_mony").ok().flatten().and_then(digits) else {
        return bad("ordr_mony");
    };
    let Ok(pay_type) = text(obj, "pay_type") else { return bad("pay_type") };
    let Ok(ordr_no) = text(obj, "ordr_no") else { return bad("ordr_no") };

    let Some(auth) = st.auths.get_mut(enc_data) else {
        return payment_error(CODE_INVALID_ENC_DATA, "invalid enc_data");
    };
    if auth.enc_info != enc_info {
        return payment_error(CODE_INVALID_ENC_DATA, "invalid enc_info");
    }
    if auth.used {
        return payment_error(CODE_ENC_DATA_USED, "enc_data already used");
    }
    if tran_cd != TRAN_CD {
        return payment_error(CODE_TRAN_CD, "tran_cd error");
    }
    if pay_type.is_some_and(|p| p != "PACA") {
        return bad("pay_type");
    }
    if ordr_no.is_some_and(|o| o != auth.ordr_idxx) {
        return payment_error(CODE_ORDER_MISMATCH, "ordr_no mismatch");
    }
    // From here on the authentication is consumed, whatever the outcome.
    auth.used = true;
    let (ordr_idxx, amount) = (auth.ordr_idxx.clone(), auth.amount);
    if ordr_mony != amount {
        return payment_error(CODE_AMOUNT_MISMATCH, "결제금액 불일치 (amount mismatch)");
    }
    if let Some((code, msg)) = &st.decline {
        return kcp_json(json!({ "res_cd": code, "res_msg": msg, "res_en_msg": "declined" }));
    }
    let trace_no = st.registrations.get(&ordr_idxx).map(|r| r.trace_no.clone()).unwrap_or_default();
    let answered = st.answer_amount.unwrap_or(amount);
    let order_no = st.answer_order_no.clone().unwrap_or_else(|| ordr_idxx.clone());
    let app_time = kst_now();
    let tno = loop {
        let candidate = format!("{}{}", &app_time[2..8], random_chars(8, DIGITS));
        if st.tnos.insert(candidate.clone()) {
            break candidate;
        }
    };
    let app_no = random_chars(8, DIGITS);
    let vat = answered / 11;
    st.approvals.push(KcpApproval {
        tno: tno.clone(),
        ordr_no: ordr_no.map(str::to_owned),
        amount,
        enc_data: enc_data.to_owned(),
        ordr_idxx,
        answered_amount: answered,
    });
    let s = |n: i64| n.to_string();
    kcp_json(json!({
        "order_no": order_no,
        "mall_taxno": "1138521083",
        "partcanc_yn": "Y",
        "noinf": "N",
        "res_msg": "정상처리",
        "coupon_mny": "0",
        "pg_txid": format!("{}MK{}{}", &app_time[4..14], tno, app_no),
        "card_bin_type_01": "0",
        "trace_no": trace_no,
        "card_mny": s(answered),
        "res_vat_mny": s(vat),
        "ca_order_id": order_no,
        "res_tax_flag": "TG01",
        "acqu_name": "신한카드",
        "card_no": "461954******7815",
        "quota": "00",
        "van_cd": "VNKC",
        "acqu_cd": "CCLG",
        "amount": s(answered),
        "cert_no": tno,
        "van_apptime": app_time,
        "use_point": "0",
        "res_free_mny": "0",
        "pay_method": "PACA",
        "card_bin_bank_cd": "0301",
        "bizx_numb": "0040905630",
        "res_cd": CODE_OK,
        "escw_yn": "N",
        "join_cd": "0000",
        "app_time": app_time,
        "tno": tno,
        "card_bin_type_02": "1",
        "card_cd": "CCLG",
        "res_en_msg": "processing completed",
        "card_name": "신한카드",
        "mcht_taxno": "1138521083",
        "res_green_deposit_mny": "0",
        "res_tax_mny": s(answered - vat),
        "app_no": app_no,
    }))
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const DIGITS: &[u8] = b"0123456789";

fn random_chars(n: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::thread_rng();
    (0..n).map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())])).collect()
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Now in KST (UTC+9), `yyyyMMddHHmmss`.
fn kst_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64) + 9 * 3600;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The EUC-KR (KS X 1001) bytes of the Hangul syllables the fake and its tests use.
fn euc_kr(c: char) -> Option<[u8; 2]> {
    Some(match c {
        '결' => [0xB0, 0xE1],
        '과' => [0xB0, 0xFA],
        '구' => [0xB1, 0xB8],
        '길' => [0xB1, 0xE6],
        '도' => [0xB5, 0xB5],
        '동' => [0xB5, 0xBF],
        '드' => [0xB5, 0xE5],
        '리' => [0xB8, 0xAE],
        '매' => [0xB8, 0xC5],
        '사' => [0xBB, 0xE7],
        '상' => [0xBB, 0xF3],
        '소' => [0xBC, 0xD2],
        '스' => [0xBD, 0xBA],
        '신' => [0xBD, 0xC5],
        '용' => [0xBF, 0xEB],
        '원' => [0xBF, 0xF8],
        '인' => [0xC0, 0xCE],
        '자' => [0xC0, 0xDA],
        '전' => [0xC0, 0xFC],
        '정' => [0xC1, 0xA4],
        '제' => [0xC1, 0xA6],
        '처' => [0xC3, 0xB3],
        '초' => [0xC3, 0xCA],
        '충' => [0xC3, 0xE6],
        '취' => [0xC3, 0xEB],
        '카' => [0xC4, 0xAB],
        '테' => [0xC5, 0xD7],
        '트' => [0xC6, 0xAE],
        '포' => [0xC6, 0xF7],
        '품' => [0xC7, 0xB0],
        '한' => [0xC7, 0xD1],
        '홍' => [0xC8, 0xAB],
        _ => return None,
    })
}

/// Form-encodes `s` (`application/x-www-form-urlencoded`: unreserved `*-._` and
/// alphanumerics kept, space as `+`) with EUC-KR bytes for non-ASCII.
fn euc_kr_encode_into(out: &mut String, s: &str) {
    let hex = |out: &mut String, b: u8| out.push_str(&format!("%{b:02X}"));
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '*' | '-' | '.' | '_') {
            out.push(c);
        } else if c == ' ' {
            out.push('+');
        } else if c.is_ascii() {
            hex(out, c as u8);
        } else if let Some([a, b]) = euc_kr(c) {
            hex(out, a);
            hex(out, b);
        } else {
            hex(out, b'?');
        }
    }
}
