//! A loopback fake of the SMM panel API v2 (protocols §1.5).
//!
//! One route, `POST /api/v2` (also `GET` with a query string), answering the PerfectPanel
//! actions `services`, `add`, `status` (single and multi), `refill` (single and multi),
//! `refill_status` (single and multi), `cancel` (bulk) and `balance`. Bodies may be
//! `application/x-www-form-urlencoded` or `application/json`; query parameters are merged
//! under the body. Logical errors are HTTP 200 `{"error": …}`, like the real panels.
//!
//! The server is the minimal hand-written HTTP/1.1 server of `fake_http.rs` (on a
//! `tokio::net::TcpListener`), so that a fault can close the socket without writing any
//! response. It supports keep-alive (and `Connection: close`), `Content-Length` and chunked
//! request bodies, and always answers with `Content-Length`.
//!
//! Faults are queued per action and consumed (FIFO) before the normal logic, including the
//! key check. Every request is recorded when received, faulted or not. Overload knobs: a
//! latency for every request, and a cap on requests answered at once beyond which the fake
//! answers 429 like a rate-limiting proxy in front of a panel.

#![allow(dead_code)]

// Each fake loads the shared server as its own private copy, so that it also compiles
// when a self-test includes the fake's file alone; `tests/common` loads it twice
// (once per fake), which `duplicate_mod` would flag.
#[allow(clippy::duplicate_mod)]
#[path = "fake_http.rs"]
mod fake_http;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fake_http::{HttpRequest, HttpResponse, Outcome};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The only API key the fake accepts.
pub const FAKE_KEY: &str = "fake-smm-key";

/// The default account balance: one million USD, in micros.
pub const DEFAULT_BALANCE_MICROS: i64 = 1_000_000 * 1_000_000;

/// The first order id handed out by `add`.
pub const FIRST_ORDER_ID: i64 = 1000;

/// One request as received (whatever happened to it afterwards).
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `POST`, `GET`, …
    pub method: String,
    /// The value of the `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Query parameters, overridden by the decoded form or JSON object (values stringified:
    /// strings as-is, numbers and booleans as their JSON text, `null` as "", arrays and
    /// objects as JSON text).
    pub form: BTreeMap<String, String>,
    /// The request target's path (without the query).
    pub path: String,
    /// The raw body, decoded lossily as UTF-8.
    pub body: String,
}

impl Recorded {
    /// The `action` field, if any.
    pub fn action(&self) -> Option<&str> {
        self.form.get("action").map(String::as_str)
    }

    /// A field of the decoded form.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.form.get(name).map(String::as_str)
    }

    /// Whether the body was form-encoded (by `Content-Type`).
    pub fn is_form(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
    }

    /// Whether the body was JSON (by `Content-Type`).
    pub fn is_json(&self) -> bool {
        self.content_type.as_deref().is_some_and(|c| c.to_ascii_lowercase().contains("json"))
    }
}

/// An order created by `add`.
#[derive(Clone, Debug)]
pub struct FakeOrder {
    pub id: i64,
    /// The service id as sent by the client.
    pub service: String,
    /// The link ("" for Subscriptions, which have none).
    pub link: String,
    /// Per-run quantity: the number of comment lines for Custom Comments, 1 for Package,
    /// `max` for Subscriptions.
    pub quantity: i64,
    pub runs: Option<i64>,
    pub interval: Option<i64>,
    pub comments: Option<String>,
    pub status: String,
    pub remains: i64,
    /// The current charge as the panel reports it ("0.00900").
    pub charge: String,
    pub start_count: i64,
    /// `username` (Subscriptions and a few Mentions types).
    pub username: Option<String>,
    /// The current charge in micros of USD.
    pub charge_micros: i64,
    /// Every other field sent with `add` (the type's parameters: `usernames`, `answer_number`,
    /// `min`, …), beyond `key`, `action`, `service`, `link`, `quantity`, `runs`, `interval`
    /// and `comments`.
    pub params: BTreeMap<String, String>,
}

/// A scripted outcome for the next request of one action.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Sleep, then behave normally: with a client timeout shorter than this, an `add` still
    /// creates the order (commit-then-timeout).
    Delay(Duration),
    /// Close the socket without any response, creating nothing.
    DropConnection,
    /// Apply the action (e.g. create the order), then close without a response.
    CommitThenDrop,
    /// Answer this status, content type and body; creates nothing.
    Http { status: u16, content_type: &'static str, body: String },
    /// HTTP 200 with exactly this body; creates nothing.
    Raw(String),
    /// HTTP 200 `{"error": msg}`; creates nothing.
    Error(String),
}

/// A seeded catalogue entry.
#[derive(Clone, Debug)]
pub struct FakeService {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub category: String,
    /// Price per 1000 units, as the panel prints it ("0.90").
    pub rate: String,
    pub min: i64,
    pub max: i64,
    pub refill: bool,
    pub cancel: bool,
    pub dripfeed: bool,
}

/// A refill request created by `refill`.
#[derive(Clone, Debug)]
pub struct FakeRefill {
    pub id: i64,
    pub order: i64,
    pub status: String,
}

/// A cancel request created by `cancel`. It does not change the order: the test advances it
/// with [`FakeSmm::set_status`].
#[derive(Clone, Debug)]
pub struct FakeCancel {
    pub id: i64,
    pub order: i64,
}

/// The seeded catalogue (protocols §1.5).
pub fn default_services() -> Vec<FakeService> {
    let s = |id, name: &str, kind: &str, category: &str, rate: &str, min, max, refill, cancel, dripfeed| {
        FakeService {
            id,
            name: name.into(),
            kind: kind.into(),
            category: category.into(),
            rate: rate.into(),
            min,
            max,
            refill,
            cancel,
            dripfeed,
        }
    };
    vec![
        s(1, "Instagram Followers", "Default", "Instagram", "0.90", 10, 100_000, true, true, true),
        s(2, "Custom Comments", "Custom Comments", "Instagram", "8", 1, 1500, false, true, false),
        s(3, "Package", "Package", "Packages", "12.5", 1, 1, false, false, false),
        s(4, "Subscriptions", "Subscriptions", "Instagram", "2", 50, 5000, false, false, false),
        s(5, "Instagram Likes", "Default", "Instagram", "0.25", 10, 50_000, false, false, false),
    ]
}

/// One service of every type an order can carry parameters for (ids 10–21, min 1, max 100000,
/// rate 1.00), for tests to seed with [`FakeSmm::set_services`] beside [`default_services`].
pub fn typed_services() -> Vec<FakeService> {
    [
        (10, "Mentions"),
        (11, "Mentions with Hashtags"),
        (12, "Mentions Custom List"),
        (13, "Mentions Hashtag"),
        (14, "Mentions User Followers"),
        (15, "Mentions Media Likers"),
        (16, "Comment Likes"),
        (17, "Comment Replies"),
        (18, "Poll"),
        (19, "Invites from Groups"),
        (20, "Web Traffic"),
        (21, "Subscriptions"),
    ]
    .into_iter()
    .map(|(id, kind)| FakeService {
        id,
        name: format!("{kind} service"),
        kind: kind.into(),
        category: "Instagram".into(),
        rate: "1.00".into(),
        min: 1,
        max: 100_000,
        refill: false,
        cancel: false,
        dripfeed: kind == "Web Traffic",
    })
    .collect()
}

/// The parameters a panel requires for a type (protocols §1.2), written out here on their own
/// so that the fake checks the client rather than agreeing with it by construction. `kind` is
/// lower-case.
fn required_params(kind: &str) -> &'static [&'static str] {
    match kind {
        "mentions" | "mentions custom list" => &["usernames"],
        "mentions with hashtags" => &["usernames", "hashtags"],
        "mentions hashtag" => &["hashtag"],
        "mentions user followers" | "comment likes" => &["username"],
        "mentions media likers" => &["media"],
        "comment replies" => &["username", "comments"],
        "poll" => &["answer_number"],
        "invites from groups" => &["groups"],
        "web traffic" => &["country", "device", "type_of_traffic"],
        "subscriptions" => &["username", "min", "max", "delay"],
        _ => &[],
    }
}

/// The number of non-blank lines of a field.
fn line_count(form: &BTreeMap<String, String>, name: &str) -> i64 {
    form.get(name).map_or(0, |t| t.split('\n').filter(|l| !l.trim().is_empty()).count() as i64)
}

struct OrderRec {
    order: FakeOrder,
    /// Charge at creation, before any Partial/Canceled reduction.
    full_charge_micros: i64,
}

struct State {
    services: Vec<FakeService>,
    next_order_id: i64,
    orders: BTreeMap<i64, OrderRec>,
    refills: BTreeMap<i64, FakeRefill>,
    cancels: Vec<FakeCancel>,
    balance_micros: i64,
    numbers_as_ints: bool,
    reject_duplicate_links: bool,
    faults: HashMap<String, VecDeque<Fault>>,
    requests: Vec<Recorded>,
    /// Raw `status` entries that replace the computed one for an order (see
    /// [`FakeSmm::set_status_entry`]).
    status_overrides: HashMap<i64, Value>,
    /// Overload: requests beyond this many at once are answered 429 (see
    /// [`FakeSmm::set_max_concurrent`]).
    max_concurrent: Option<usize>,
    /// How long every request takes (see [`FakeSmm::set_latency`]).
    latency: Duration,
    in_flight: usize,
    peak_in_flight: usize,
    throttled: usize,
}

impl State {
    fn new() -> State {
        State {
            services: default_services(),
            next_order_id: FIRST_ORDER_ID,
            orders: BTreeMap::new(),
            refills: BTreeMap::new(),
            cancels: Vec::new(),
            balance_micros: DEFAULT_BALANCE_MICROS,
            numbers_as_ints: false,
            reject_duplicate_links: false,
            faults: HashMap::new(),
            requests: Vec::new(),
            status_overrides: HashMap::new(),
            max_concurrent: None,
            latency: Duration::ZERO,
            in_flight: 0,
            peak_in_flight: 0,
            throttled: 0,
        }
    }
}

/// A running fake panel. Dropping it stops accepting connections.
pub struct FakeSmm {
    /// `http://127.0.0.1:PORT/api/v2`
    pub url: String,
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

impl Drop for FakeSmm {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl FakeSmm {
    /// Binds 127.0.0.1:0 and spawns the server on the current tokio runtime.
    pub async fn start() -> FakeSmm {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("fake smm: bind");
        let addr = listener.local_addr().expect("fake smm: local addr");
        let state = Arc::new(Mutex::new(State::new()));
        let accept_state = state.clone();
        let accept = fake_http::spawn(listener, "fake-smm", move |req| {
            let state = accept_state.clone();
            async move { handle(&state, req).await }
        });
        FakeSmm { url: format!("http://{addr}/api/v2"), addr, state, accept }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Queues a fault for the next request whose `action` is `action` ("add", "status", …).
    pub fn push_fault(&self, action: &str, fault: Fault) {
        self.lock().faults.entry(action.to_owned()).or_default().push_back(fault);
    }

    /// Faults queued and not yet consumed, over all actions.
    pub fn pending_faults(&self) -> usize {
        self.lock().faults.values().map(VecDeque::len).sum()
    }

    /// Every request received, in order (including faulted ones).
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The requests whose `action` field is `action`.
    pub fn requests_for(&self, action: &str) -> Vec<Recorded> {
        self.lock().requests.iter().filter(|r| r.action() == Some(action)).cloned().collect()
    }

    /// The orders created, in id order.
    pub fn orders(&self) -> Vec<FakeOrder> {
        self.lock().orders.values().map(|o| o.order.clone()).collect()
    }

    pub fn order(&self, id: i64) -> Option<FakeOrder> {
        self.lock().orders.get(&id).map(|o| o.order.clone())
    }

    pub fn order_count(&self) -> usize {
        self.lock().orders.len()
    }

    pub fn refills(&self) -> Vec<FakeRefill> {
        self.lock().refills.values().cloned().collect()
    }

    pub fn cancels(&self) -> Vec<FakeCancel> {
        self.lock().cancels.clone()
    }

    pub fn services(&self) -> Vec<FakeService> {
        self.lock().services.clone()
    }

    /// Replaces the catalogue.
    pub fn set_services(&self, services: Vec<FakeService>) {
        self.lock().services = services;
    }

    /// Advances an order ("In progress", "Completed", "Partial", "Canceled", …). The charge
    /// is the full charge, except for `Partial` (reduced pro rata to the delivered units) and
    /// `Canceled`/`Cancelled` (zero); the difference is refunded to the balance.
    ///
    /// Panics when the order does not exist.
    pub fn set_status(&self, id: i64, status: &str, remains: i64) {
        let mut st = self.lock();
        let rec = st.orders.get_mut(&id).unwrap_or_else(|| panic!("fake smm: no order {id}"));
        let total = rec.order.quantity * rec.order.runs.unwrap_or(1).max(1);
        let new_charge = match status.to_ascii_lowercase().as_str() {
            "partial" => {
                let delivered = (total - remains).clamp(0, total);
                if total > 0 {
                    (i128::from(rec.full_charge_micros) * i128::from(delivered) / i128::from(total)) as i64
                } else {
                    0
                }
            }
            "canceled" | "cancelled" => 0,
            _ => rec.full_charge_micros,
        };
        let refund = rec.order.charge_micros - new_charge;
        rec.order.status = status.to_owned();
        rec.order.remains = remains;
        rec.order.charge_micros = new_charge;
        rec.order.charge = format_micros(new_charge);
        st.balance_micros += refund;
    }

    /// Makes `status` answer exactly `entry` for order `id` (in single and multi replies)
    /// instead of the status object computed from the order: unreadable values, odd shapes.
    /// Lasts until [`FakeSmm::clear_status_entry`]. Panics when the order does not exist.
    pub fn set_status_entry(&self, id: i64, entry: Value) {
        let mut st = self.lock();
        assert!(st.orders.contains_key(&id), "fake smm: no order {id}");
        st.status_overrides.insert(id, entry);
    }

    /// Goes back to answering the computed status object for order `id`.
    pub fn clear_status_entry(&self, id: i64) {
        self.lock().status_overrides.remove(&id);
    }

    pub fn set_start_count(&self, id: i64, start_count: i64) {
        let mut st = self.lock();
        let rec = st.orders.get_mut(&id).unwrap_or_else(|| panic!("fake smm: no order {id}"));
        rec.order.start_count = start_count;
    }

    /// Sets a refill's status ("Pending", "In progress", "Completed", "Rejected").
    pub fn set_refill_status(&self, id: i64, status: &str) {
        let mut st = self.lock();
        let r = st.refills.get_mut(&id).unwrap_or_else(|| panic!("fake smm: no refill {id}"));
        r.status = status.to_owned();
    }

    /// The account balance in millionths of USD.
    pub fn set_balance(&self, micros: i64) {
        self.lock().balance_micros = micros;
    }

    pub fn balance(&self) -> i64 {
        self.lock().balance_micros
    }

    /// On: `"order": 123` and status numbers (`charge`, `start_count`, `remains`) as JSON
    /// numbers, single `refill` id as a number, `min`/`max` in `services` as numbers.
    /// Off (the default): all of those as strings.
    pub fn set_numbers_as_ints(&self, on: bool) {
        self.lock().numbers_as_ints = on;
    }

    /// Rejects an `add` whose link already has an active (not Completed/Partial/Canceled)
    /// order with "You have active order with this link. Please wait until order being
    /// completed."
    pub fn set_reject_duplicate_links(&self, on: bool) {
        self.lock().reject_duplicate_links = on;
    }

    /// Overload like a panel behind a rate-limiting proxy: a request arriving while `limit`
    /// others are being answered gets HTTP 429 with an HTML page (nginx's), before the key
    /// check or any queued fault, and creates nothing. `None` (the default) takes any number.
    pub fn set_max_concurrent(&self, limit: Option<usize>) {
        self.lock().max_concurrent = limit;
    }

    /// Every request takes `latency` before it is answered (so that requests overlap).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The most requests that were being answered at once (including those answered 429).
    pub fn peak_concurrent(&self) -> usize {
        self.lock().peak_in_flight
    }

    /// How many requests were answered 429 for overload.
    pub fn throttled(&self) -> usize {
        self.lock().throttled
    }

    /// Answers the next `k` requests for `action` with HTTP 429 and an HTML page (queued faults).
    pub fn push_throttled(&self, action: &str, k: usize) {
        for _ in 0..k {
            self.push_fault(
                action,
                Fault::Http { status: 429, content_type: "text/html", body: too_many_requests() },
            );
        }
    }

    /// Waits until at least `n` orders exist; false on timeout.
    pub async fn wait_for_orders(&self, n: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.order_count() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until at least `n` orders exist, for as long as new ones keep arriving: false once
    /// none arrived for `stall`. For tests whose orders arrive at the machine's pace (a loaded
    /// machine is slower, not wrong).
    pub async fn wait_for_orders_progressing(&self, n: usize, stall: Duration) -> bool {
        let (mut seen, mut since) = (self.order_count(), tokio::time::Instant::now());
        loop {
            let count = self.order_count();
            if count >= n {
                return true;
            }
            if count > seen {
                (seen, since) = (count, tokio::time::Instant::now());
            } else if since.elapsed() >= stall {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until at least `n` requests for `action` were received; false on timeout.
    pub async fn wait_for_requests(&self, action: &str, n: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.lock().requests.iter().filter(|r| r.action() == Some(action)).count() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------
// HTTP/1.1 plumbing (shared with the other fakes)
// ---------------------------------------------------------------------------------------

impl HttpResponse {
    fn error(msg: &str) -> HttpResponse {
        HttpResponse::json(json!({ "error": msg }))
    }
}

// ---------------------------------------------------------------------------------------
// The panel
// ---------------------------------------------------------------------------------------

fn stringify(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Decodes the request's parameters (query, then body); false when the body is not decodable.
fn decode_params(req: &HttpRequest) -> (BTreeMap<String, String>, bool) {
    let mut form = BTreeMap::new();
    if let Some((_, query)) = req.target.split_once('?') {
        form.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
    }
    let ct = req.header("content-type").unwrap_or_default().to_ascii_lowercase();
    let trimmed = String::from_utf8_lossy(&req.body).trim().to_owned();
    let as_json = ct.contains("json") || (!ct.contains("x-www-form-urlencoded") && trimmed.starts_with('{'));
    if req.body.is_empty() {
        return (form, true);
    }
    if as_json {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(obj)) => {
                form.extend(obj.iter().map(|(k, v)| (k.clone(), stringify(v))));
                (form, true)
            }
            _ => (form, false),
        }
    } else {
        form.extend(form_urlencoded::parse(&req.body).into_owned());
        (form, true)
    }
}

/// nginx's page for a request its `limit_req`/`limit_conn` refused.
fn too_many_requests() -> String {
    "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n".into()
}

/// Counts a request in flight until it is answered.
struct InFlight<'a>(&'a Mutex<State>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(self.0).in_flight -= 1;
    }
}

async fn handle(state: &Mutex<State>, req: HttpRequest) -> Outcome {
    let path = req.target.split('?').next().unwrap_or_default().to_owned();
    let (form, decoded) = decode_params(&req);
    let action = form.get("action").cloned().unwrap_or_default();
    let on_route = path == "/api/v2" || path == "/api/v2/";
    let method_ok = req.method == "POST" || req.method == "GET";
    let (fault, overloaded, latency) = {
        let mut st = lock(state);
        st.in_flight += 1;
        st.peak_in_flight = st.peak_in_flight.max(st.in_flight);
        let overloaded = st.max_concurrent.is_some_and(|limit| st.in_flight > limit);
        if overloaded {
            st.throttled += 1;
        }
        st.requests.push(Recorded {
            method: req.method.clone(),
            content_type: req.header("content-type").map(str::to_owned),
            form: form.clone(),
            path: path.clone(),
            body: String::from_utf8_lossy(&req.body).into_owned(),
        });
        let fault = if on_route && method_ok && !overloaded {
            st.faults.get_mut(&action).and_then(VecDeque::pop_front)
        } else {
            None
        };
        (fault, overloaded, st.latency)
    };
    let _in_flight = InFlight(state);
    if overloaded {
        return Outcome::Respond(HttpResponse {
            status: 429,
            content_type: "text/html",
            body: too_many_requests(),
        });
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if !on_route {
        return Outcome::Respond(HttpResponse {
            status: 404,
            content_type: "text/html",
            body: "<html><body><h1>404 Not Found</h1></body></html>".into(),
        });
    }
    if !method_ok {
        return Outcome::Respond(HttpResponse {
            status: 405,
            content_type: "text/html",
            body: "<html><body><h1>405 Method Not Allowed</h1></body></html>".into(),
        });
    }
    let mut drop_after = false;
    match fault {
        None => {}
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::DropConnection) => return Outcome::Drop,
        Some(Fault::CommitThenDrop) => drop_after = true,
        Some(Fault::Http { status, content_type, body }) => {
            return Outcome::Respond(HttpResponse { status, content_type, body })
        }
        Some(Fault::Raw(body)) => {
            let content_type =
                if body.trim_start().starts_with('<') { "text/html" } else { "application/json" };
            return Outcome::Respond(HttpResponse { status: 200, content_type, body });
        }
        Some(Fault::Error(msg)) => return Outcome::Respond(HttpResponse::error(&msg)),
    }
    let resp = if decoded {
        let mut st = lock(state);
        panel(&mut st, &form)
    } else {
        HttpResponse::error("Incorrect request")
    };
    if drop_after {
        Outcome::Drop
    } else {
        Outcome::Respond(resp)
    }
}

fn panel(st: &mut State, form: &BTreeMap<String, String>) -> HttpResponse {
    if form.get("key").map(String::as_str) != Some(FAKE_KEY) {
        return HttpResponse::error("Invalid API key");
    }
    let action = form.get("action").map(String::as_str).unwrap_or_default();
    match action {
        "services" => services(st),
        "add" => add(st, form),
        "status" => status(st, form),
        "refill" => refill(st, form),
        "refill_status" => refill_status(st, form),
        "cancel" => cancel(st, form),
        "balance" => HttpResponse::json(json!({
            "balance": format_micros(st.balance_micros),
            "currency": "USD",
        })),
        _ => HttpResponse::error("Incorrect request"),
    }
}

fn services(st: &State) -> HttpResponse {
    let ints = st.numbers_as_ints;
    let list: Vec<Value> = st
        .services
        .iter()
        .map(|s| {
            json!({
                "service": s.id,
                "name": s.name,
                "type": s.kind,
                "category": s.category,
                "rate": s.rate,
                "min": if ints { json!(s.min) } else { json!(s.min.to_string()) },
                "max": if ints { json!(s.max) } else { json!(s.max.to_string()) },
                "refill": s.refill,
                "cancel": s.cancel,
                "dripfeed": s.dripfeed,
            })
        })
        .collect();
    HttpResponse::json(Value::Array(list))
}

fn non_empty<'a>(form: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    form.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// An optional integer field: absent or empty → Ok(None); not an integer → Err.
fn opt_int(form: &BTreeMap<String, String>, name: &str) -> Result<Option<i64>, ()> {
    match non_empty(form, name) {
        None => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| ()),
    }
}

fn add(st: &mut State, form: &BTreeMap<String, String>) -> HttpResponse {
    let service_text = form.get("service").map(|s| s.trim().to_owned()).unwrap_or_default();
    let Some(service) =
        service_text.parse::<i64>().ok().and_then(|id| st.services.iter().find(|s| s.id == id))
    else {
        return HttpResponse::error("Incorrect service ID");
    };
    let service = service.clone();
    let kind = service.kind.to_ascii_lowercase();
    let (Ok(runs), Ok(interval)) = (opt_int(form, "runs"), opt_int(form, "interval")) else {
        return HttpResponse::error("Incorrect request");
    };
    if let Some(missing) = required_params(&kind).iter().find(|name| non_empty(form, name).is_none()) {
        return HttpResponse::error(&format!("Incorrect {missing}"));
    }
    if kind == "web traffic" {
        let needs = match non_empty(form, "type_of_traffic") {
            Some("1") => Some("google_keyword"),
            Some("2") => Some("referring_url"),
            _ => None,
        };
        if let Some(missing) = needs.filter(|name| non_empty(form, name).is_none()) {
            return HttpResponse::error(&format!("Incorrect {missing}"));
        }
    }
    let mut link = String::new();
    let mut comments = None;
    let username = non_empty(form, "username").map(str::to_owned);
    const COMMON: &[&str] = &["key", "action", "service", "link", "quantity", "runs", "interval", "comments"];
    let params: BTreeMap<String, String> = form
        .iter()
        .filter(|(k, _)| !COMMON.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let quantity: i64;
    if kind == "subscriptions" {
        if username.is_none() {
            return HttpResponse::error("Incorrect username");
        }
        let (Ok(Some(min)), Ok(Some(max))) = (opt_int(form, "min"), opt_int(form, "max")) else {
            return HttpResponse::error("Incorrect quantity");
        };
        if min > max {
            return HttpResponse::error("Incorrect quantity");
        }
        if min < service.min {
            return HttpResponse::error(&format!("Quantity less than minimal {}", service.min));
        }
        if max > service.max {
            return HttpResponse::error(&format!("Quantity more than maximum {}", service.max));
        }
        quantity = max;
    } else {
        link = form.get("link").map(|s| s.trim().to_owned()).unwrap_or_default();
        if link.is_empty() || link.chars().any(char::is_whitespace) {
            return HttpResponse::error("Incorrect link");
        }
        quantity = if kind.starts_with("custom comments") || kind == "comment replies" {
            let text = form.get("comments").cloned().unwrap_or_default();
            let count = text.split('\n').filter(|l| !l.trim().is_empty()).count() as i64;
            comments = Some(text);
            count
        } else if kind == "mentions custom list" {
            line_count(form, "usernames")
        } else if kind == "package" {
            1
        } else {
            match opt_int(form, "quantity") {
                Ok(Some(q)) => q,
                _ => return HttpResponse::error("Incorrect quantity"),
            }
        };
        if quantity < service.min {
            return HttpResponse::error(&format!("Quantity less than minimal {}", service.min));
        }
        if quantity > service.max {
            return HttpResponse::error(&format!("Quantity more than maximum {}", service.max));
        }
    }
    if st.reject_duplicate_links
        && !link.is_empty()
        && st.orders.values().any(|o| o.order.link == link && is_active(&o.order.status))
    {
        return HttpResponse::error(
            "You have active order with this link. Please wait until order being completed.",
        );
    }
    let multiplier = runs.unwrap_or(1).max(1);
    let rate = parse_micros(&service.rate).expect("fake smm: service rate is a decimal");
    let charge = (i128::from(rate) * i128::from(quantity) * i128::from(multiplier) + 500) / 1000;
    let charge = i64::try_from(charge).unwrap_or(i64::MAX);
    if charge > st.balance_micros {
        return HttpResponse::error("Not enough funds on balance");
    }
    st.balance_micros -= charge;
    let id = st.next_order_id;
    st.next_order_id += 1;
    st.orders.insert(
        id,
        OrderRec {
            order: FakeOrder {
                id,
                service: service_text,
                link,
                quantity,
                runs,
                interval,
                comments,
                status: "Pending".into(),
                remains: quantity * multiplier,
                charge: format_micros(charge),
                start_count: 0,
                username,
                charge_micros: charge,
                params,
            },
            full_charge_micros: charge,
        },
    );
    let order = if st.numbers_as_ints { json!(id) } else { json!(id.to_string()) };
    HttpResponse::json(json!({ "order": order }))
}

fn is_active(status: &str) -> bool {
    !matches!(status.to_ascii_lowercase().as_str(), "completed" | "partial" | "canceled" | "cancelled")
}

fn status_object(o: &FakeOrder, ints: bool) -> Value {
    if ints {
        let charge: f64 = format_micros(o.charge_micros).parse().unwrap_or(0.0);
        json!({
            "charge": charge,
            "start_count": o.start_count,
            "status": o.status,
            "remains": o.remains,
            "currency": "USD",
        })
    } else {
        json!({
            "charge": o.charge,
            "start_count": o.start_count.to_string(),
            "status": o.status,
            "remains": o.remains.to_string(),
            "currency": "USD",
        })
    }
}

/// Splits a comma-separated id list; `None` when there are more than 100.
fn id_list(text: &str) -> Option<Vec<String>> {
    let ids: Vec<String> = text.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    (ids.len() <= 100).then_some(ids)
}

fn find_order<'a>(st: &'a State, text: &str) -> Option<&'a FakeOrder> {
    text.trim().parse::<i64>().ok().and_then(|id| st.orders.get(&id)).map(|o| &o.order)
}

fn status(st: &State, form: &BTreeMap<String, String>) -> HttpResponse {
    let ints = st.numbers_as_ints;
    let entry =
        |o: &FakeOrder| st.status_overrides.get(&o.id).cloned().unwrap_or_else(|| status_object(o, ints));
    if let Some(list) = form.get("orders") {
        let Some(ids) = id_list(list) else { return HttpResponse::error("Incorrect request") };
        let mut out = Map::new();
        for id in ids {
            let v = match find_order(st, &id) {
                Some(o) => entry(o),
                None => json!({ "error": "Incorrect order ID" }),
            };
            out.insert(id, v);
        }
        return HttpResponse::json(Value::Object(out));
    }
    match form.get("order").and_then(|id| find_order(st, id)) {
        Some(o) => HttpResponse::json(entry(o)),
        None => HttpResponse::error("Incorrect order ID"),
    }
}

/// Creates a refill for `id_text`, or the error message.
fn create_refill(st: &mut State, id_text: &str) -> Result<i64, &'static str> {
    let Some(order) = find_order(st, id_text) else { return Err("Incorrect order ID") };
    let order_id = order.id;
    let refillable = order
        .service
        .parse::<i64>()
        .ok()
        .and_then(|sid| st.services.iter().find(|s| s.id == sid))
        .is_some_and(|s| s.refill);
    if !refillable {
        return Err("Refill is disabled for this service");
    }
    let id = st.refills.keys().next_back().copied().unwrap_or(0) + 1;
    st.refills.insert(id, FakeRefill { id, order: order_id, status: "Pending".into() });
    Ok(id)
}

fn id_value(text: &str) -> Value {
    text.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(text))
}

fn refill(st: &mut State, form: &BTreeMap<String, String>) -> HttpResponse {
    if let Some(list) = form.get("orders") {
        let Some(ids) = id_list(list) else { return HttpResponse::error("Incorrect request") };
        let out: Vec<Value> = ids
            .iter()
            .map(|id| {
                let refill = match create_refill(st, id) {
                    Ok(r) => json!(r),
                    Err(msg) => json!({ "error": msg }),
                };
                json!({ "order": id_value(id), "refill": refill })
            })
            .collect();
        return HttpResponse::json(Value::Array(out));
    }
    let id = form.get("order").cloned().unwrap_or_default();
    match create_refill(st, &id) {
        Ok(r) if st.numbers_as_ints => HttpResponse::json(json!({ "refill": r })),
        Ok(r) => HttpResponse::json(json!({ "refill": r.to_string() })),
        Err(msg) => HttpResponse::error(msg),
    }
}

fn refill_status(st: &State, form: &BTreeMap<String, String>) -> HttpResponse {
    let find = |text: &str| text.trim().parse::<i64>().ok().and_then(|id| st.refills.get(&id));
    if let Some(list) = form.get("refills") {
        let Some(ids) = id_list(list) else { return HttpResponse::error("Incorrect request") };
        let out: Vec<Value> = ids
            .iter()
            .map(|id| {
                let status = match find(id) {
                    Some(r) => json!(r.status),
                    None => json!({ "error": "Refill not found" }),
                };
                json!({ "refill": id_value(id), "status": status })
            })
            .collect();
        return HttpResponse::json(Value::Array(out));
    }
    match form.get("refill").and_then(|id| find(id)) {
        Some(r) => HttpResponse::json(json!({ "status": r.status })),
        None => HttpResponse::error("Refill not found"),
    }
}

fn cancel(st: &mut State, form: &BTreeMap<String, String>) -> HttpResponse {
    // Bulk only, as documented.
    let Some(ids) = form.get("orders").and_then(|l| id_list(l)) else {
        return HttpResponse::error("Incorrect request");
    };
    let mut out = Vec::new();
    for id in ids {
        let result = match find_order(st, &id) {
            None => json!({ "error": "Incorrect order ID" }),
            Some(o) => {
                let order_id = o.id;
                let cancellable = o
                    .service
                    .parse::<i64>()
                    .ok()
                    .and_then(|sid| st.services.iter().find(|s| s.id == sid))
                    .is_some_and(|s| s.cancel);
                if !cancellable {
                    json!({ "error": "Cancel is disabled for this service" })
                } else if !is_active(&o.status) {
                    json!({ "error": "Order can't be canceled" })
                } else {
                    let cid = st.cancels.len() as i64 + 1;
                    st.cancels.push(FakeCancel { id: cid, order: order_id });
                    json!(cid)
                }
            }
        };
        out.push(json!({ "order": id_value(&id), "cancel": result }));
    }
    HttpResponse::json(Value::Array(out))
}

// ---------------------------------------------------------------------------------------
// Money
// ---------------------------------------------------------------------------------------

/// "0.90" → 900000. At most six decimals.
pub fn parse_micros(text: &str) -> Option<i64> {
    let text = text.trim();
    let (neg, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if (int.is_empty() && frac.is_empty())
        || frac.len() > 6
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().ok()? };
    let v = int.checked_mul(1_000_000)?.checked_add(frac)?;
    Some(if neg { -v } else { v })
}

/// 900 → "0.00090", 100842920 → "100.84292"; five decimals like the real panels, six when
/// needed.
pub fn format_micros(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let (int, frac) = (abs / 1_000_000, abs % 1_000_000);
    if frac % 10 == 0 {
        format!("{sign}{int}.{:05}", frac / 10)
    } else {
        format!("{sign}{int}.{frac:06}")
    }
}
