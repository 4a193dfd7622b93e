//! The SMM panel client: builds forms with the core codec, posts them, classifies answers.

use std::sync::Arc;
use std::time::Duration;

use snspmt_core::order::NotAccepted;
use snspmt_core::upstream::smm::{
    self, CancelEntry, Form, ParseError, RefillStatusEntry, ServiceInfo, StatusEntry, UpstreamError,
};

use super::limit::{Limiter, Slot};
use super::{Answer, CallError};

/// Calls to the panel at once when `SNSPMT_UPSTREAM_CONCURRENCY` is unset.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Moves an encoded form to the panel and back. The real one is HTTP; the simulated one
/// answers in-process.
pub trait SmmTransport: Send + Sync + 'static {
    fn post_form(&self, body: &str) -> Result<Answer, CallError>;

    /// The same call, awaited: by default [`post_form`](SmmTransport::post_form) on the blocking
    /// pool. A transport that can wait without a thread, or answers at once, says so here.
    fn post_form_async(self: Arc<Self>, body: String) -> Posting {
        on_blocking_pool(self, body)
    }
}

/// [`SmmTransport::post_form`] on the blocking pool.
fn on_blocking_pool<T: SmmTransport + ?Sized>(transport: Arc<T>, body: String) -> Posting {
    Box::pin(async move {
        tokio::task::spawn_blocking(move || transport.post_form(&body))
            .await
            .unwrap_or_else(|e| Err(CallError::Sent(format!("the call's task failed: {e}"))))
    })
}

/// A call to the panel under way ([`SmmTransport::post_form_async`]).
pub type Posting = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Answer, CallError>> + Send>>;

const FORM: &str = "application/x-www-form-urlencoded";

/// HTTP transport to `SMMKINGS_API_URL`: an `http://` panel is awaited on the runtime
/// ([`AsyncHttp`](super::AsyncHttp)), an `https://` one is called with `agent` on the blocking pool.
pub struct HttpSmm {
    pub agent: ureq::Agent,
    pub url: String,
    awaited: Option<super::AsyncHttp>,
}

impl HttpSmm {
    pub fn new(url: String, timeouts: super::Timeouts) -> HttpSmm {
        let awaited = super::AsyncHttp::serves(&url).then(|| super::AsyncHttp::new(timeouts));
        HttpSmm { agent: super::agent(timeouts), url, awaited }
    }
}

impl SmmTransport for HttpSmm {
    fn post_form(&self, body: &str) -> Result<Answer, CallError> {
        super::post(&self.agent, &self.url, FORM, body)
    }

    fn post_form_async(self: Arc<Self>, body: String) -> Posting {
        Box::pin(async move {
            if let Some(http) = &self.awaited {
                return http.post(&self.url, FORM, body).await;
            }
            on_blocking_pool(self, body).await
        })
    }
}

pub use snspmt_core::upstream::smm::AddOutcome;

/// A call whose answer we could not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmmFailure {
    Call(CallError),
    /// A 5xx, or a body that is not the expected JSON.
    BadAnswer {
        status: u16,
        detail: String,
    },
    /// The panel refused with `{"error": …}`.
    Refused(UpstreamError),
    /// The panel answered HTTP 429: too many requests.
    Throttled,
    /// No slot of our own limiter came free in time: nothing was sent.
    Busy,
}

impl std::fmt::Display for SmmFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmmFailure::Call(e) => write!(f, "{e}"),
            SmmFailure::BadAnswer { status, detail } => write!(f, "HTTP {status}: {detail}"),
            SmmFailure::Refused(e) => write!(f, "panel refused: {}", e.message),
            SmmFailure::Throttled => f.write_str("the panel answered 429: too many requests"),
            SmmFailure::Busy => f.write_str("every upstream slot is busy; nothing was sent"),
        }
    }
}

/// How long a call other than a submission waits for a slot before giving up with
/// [`SmmFailure::Busy`] (a status sync tries again on its next round; an admin sees 503).
pub const CALL_PATIENCE: Duration = Duration::from_secs(10);

/// The panel, with its key and its [`Limiter`]. Cheap to clone. Every call takes a slot of the
/// limiter, so no path can call the panel around the limits.
#[derive(Clone)]
pub struct SmmClient {
    transport: Arc<dyn SmmTransport>,
    key: String,
    limiter: Arc<Limiter>,
}

impl SmmClient {
    /// A client with the default limits (8 calls at once, no rate).
    pub fn new(transport: Arc<dyn SmmTransport>, key: String) -> SmmClient {
        SmmClient { transport, key, limiter: Arc::new(Limiter::new(DEFAULT_CONCURRENCY, None)) }
    }

    /// The same client with other limits.
    pub fn with_limiter(mut self, limiter: Limiter) -> SmmClient {
        self.limiter = Arc::new(limiter);
        self
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Waits for a slot for one call.
    pub async fn slot(&self) -> Slot {
        self.limiter.slot().await
    }

    /// A slot within `wait`, or `None`.
    pub async fn slot_within(&self, wait: Duration) -> Option<Slot> {
        self.limiter.slot_within(wait).await
    }

    /// A slot now, or `None`.
    pub fn try_slot(&self) -> Option<Slot> {
        self.limiter.try_slot()
    }

    /// Posts `form` while holding `slot`.
    async fn send(&self, slot: Slot, form: Form) -> Result<Answer, CallError> {
        let sent = self.transport.clone().post_form_async(smm::encode_form(&form)).await;
        drop(slot);
        sent
    }

    /// Places an order, in the slot the caller took (a submission round takes one before it
    /// claims, and claims no more than the slots can send while a claim runs). The answer is read by the core
    /// ([`smm::read_add_answer`]); nothing sent is not accepted, a lost connection after
    /// sending is unknown.
    pub async fn add(&self, slot: Slot, form: Form) -> AddOutcome {
        match self.send(slot, form).await {
            Err(CallError::NotSent(m)) => {
                AddOutcome::NotAccepted { why: NotAccepted::NotSent, detail: format!("not sent: {m}") }
            }
            Err(CallError::Sent(m)) => AddOutcome::Unknown(m),
            Ok(answer) => smm::read_add_answer(answer.status, &answer.body),
        }
    }

    /// Any other call: waits at most [`CALL_PATIENCE`] for a slot.
    async fn answer(&self, form: Form) -> Result<Answer, SmmFailure> {
        let slot = self.limiter.slot_within(CALL_PATIENCE).await.ok_or(SmmFailure::Busy)?;
        let answer = self.send(slot, form).await.map_err(SmmFailure::Call)?;
        if answer.status == smm::TOO_MANY_REQUESTS {
            return Err(SmmFailure::Throttled);
        }
        if answer.status >= 500 {
            return Err(SmmFailure::BadAnswer { status: answer.status, detail: "server error".into() });
        }
        Ok(answer)
    }

    fn parsed<T>(status: u16, r: Result<T, ParseError>) -> Result<T, SmmFailure> {
        r.map_err(|e| SmmFailure::BadAnswer { status, detail: e.to_string() })
    }

    /// Statuses of up to 100 orders.
    pub async fn multi_status(&self, ids: &[String]) -> Result<Vec<StatusEntry>, SmmFailure> {
        let form = smm::multi_status_form(&self.key, ids)
            .map_err(|e| SmmFailure::BadAnswer { status: 0, detail: e.to_string() })?;
        let a = self.answer(form).await?;
        Self::parsed(a.status, smm::parse_multi_status(&a.body))
    }

    pub async fn services(&self) -> Result<Vec<ServiceInfo>, SmmFailure> {
        let a = self.answer(smm::services_form(&self.key)).await?;
        Self::parsed(a.status, smm::parse_services(&a.body))
    }

    pub async fn balance(&self) -> Result<smm::Balance, SmmFailure> {
        let a = self.answer(smm::balance_form(&self.key)).await?;
        Self::parsed(a.status, smm::parse_balance(&a.body))?.map_err(SmmFailure::Refused)
    }

    /// Asks for a refill of one order: the panel's refill id, or its refusal
    /// ([`SmmFailure::Refused`]).
    pub async fn refill(&self, order: &str) -> Result<String, SmmFailure> {
        let a = self.answer(smm::refill_form(&self.key, order)).await?;
        Self::parsed(a.status, smm::parse_refill(&a.body))?.map_err(SmmFailure::Refused)
    }

    /// Statuses of up to 100 refills.
    pub async fn refill_status(&self, ids: &[String]) -> Result<Vec<RefillStatusEntry>, SmmFailure> {
        let form = smm::refill_status_form(&self.key, ids)
            .map_err(|e| SmmFailure::BadAnswer { status: 0, detail: e.to_string() })?;
        let a = self.answer(form).await?;
        Self::parsed(a.status, smm::parse_refill_status(&a.body))
    }

    /// Cancels up to 100 orders: the panel's answer per order.
    pub async fn cancel(&self, orders: &[String]) -> Result<Vec<CancelEntry>, SmmFailure> {
        let form = smm::cancel_form(&self.key, orders)
            .map_err(|e| SmmFailure::BadAnswer { status: 0, detail: e.to_string() })?;
        let a = self.answer(form).await?;
        Self::parsed(a.status, smm::parse_cancel(&a.body))
    }

    /// Sends a form as it is and answers the raw body (the admin proxy).
    pub async fn raw(&self, form: Form) -> Result<Answer, SmmFailure> {
        self.answer(form).await
    }
}
