//! The SMM panel client: builds forms with the core codec, posts them, classifies answers.

use std::sync::Arc;

use snspmt_core::upstream::smm::{self, AddReply, Form, ParseError, ServiceInfo, StatusEntry, UpstreamError};

use super::{Answer, CallError};

/// Moves an encoded form to the panel and back. The real one is HTTP; the simulated one
/// answers in-process.
pub trait SmmTransport: Send + Sync + 'static {
    fn post_form(&self, body: &str) -> Result<Answer, CallError>;
}

/// HTTP transport to `SMMKINGS_API_URL`.
pub struct HttpSmm {
    pub agent: ureq::Agent,
    pub url: String,
}

impl SmmTransport for HttpSmm {
    fn post_form(&self, body: &str) -> Result<Answer, CallError> {
        super::post(&self.agent, &self.url, "application/x-www-form-urlencoded", body)
    }
}

/// How an `add` ended, as far as we can know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    Accepted {
        order: String,
    },
    /// The panel answered `{"error": …}`: it did not create the order.
    Rejected(UpstreamError),
    /// Nothing was sent: retry freely.
    NotSent(String),
    /// It may have created the order: never resend automatically.
    Unknown(String),
}

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
}

impl std::fmt::Display for SmmFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmmFailure::Call(e) => write!(f, "{e}"),
            SmmFailure::BadAnswer { status, detail } => write!(f, "HTTP {status}: {detail}"),
            SmmFailure::Refused(e) => write!(f, "panel refused: {}", e.message),
        }
    }
}

/// The panel, with its key. Cheap to clone; every method blocks (run it on the blocking pool).
#[derive(Clone)]
pub struct SmmClient {
    transport: Arc<dyn SmmTransport>,
    key: String,
}

impl SmmClient {
    pub fn new(transport: Arc<dyn SmmTransport>, key: String) -> SmmClient {
        SmmClient { transport, key }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    fn send(&self, form: &Form) -> Result<Answer, CallError> {
        self.transport.post_form(&smm::encode_form(form))
    }

    /// Places an order. Only a parsed answer settles it; a 5xx, a garbled body or a lost
    /// connection after sending is `Unknown`.
    pub fn add(&self, form: &Form) -> AddOutcome {
        match self.send(form) {
            Err(CallError::NotSent(m)) => AddOutcome::NotSent(m),
            Err(CallError::Sent(m)) => AddOutcome::Unknown(m),
            Ok(Answer { status, .. }) if status >= 500 => AddOutcome::Unknown(format!("HTTP {status}")),
            Ok(answer) => match smm::parse_add(&answer.body) {
                Ok(AddReply::Accepted { order }) => AddOutcome::Accepted { order },
                Ok(AddReply::Rejected(e)) => AddOutcome::Rejected(e),
                Err(e) => AddOutcome::Unknown(format!("HTTP {}: {e}", answer.status)),
            },
        }
    }

    fn answer(&self, form: &Form) -> Result<Answer, SmmFailure> {
        let answer = self.send(form).map_err(SmmFailure::Call)?;
        if answer.status >= 500 {
            return Err(SmmFailure::BadAnswer { status: answer.status, detail: "server error".into() });
        }
        Ok(answer)
    }

    fn parsed<T>(status: u16, r: Result<T, ParseError>) -> Result<T, SmmFailure> {
        r.map_err(|e| SmmFailure::BadAnswer { status, detail: e.to_string() })
    }

    /// Statuses of up to 100 orders.
    pub fn multi_status(&self, ids: &[String]) -> Result<Vec<StatusEntry>, SmmFailure> {
        let form = smm::multi_status_form(&self.key, ids)
            .map_err(|e| SmmFailure::BadAnswer { status: 0, detail: e.to_string() })?;
        let a = self.answer(&form)?;
        Self::parsed(a.status, smm::parse_multi_status(&a.body))
    }

    pub fn services(&self) -> Result<Vec<ServiceInfo>, SmmFailure> {
        let a = self.answer(&smm::services_form(&self.key))?;
        Self::parsed(a.status, smm::parse_services(&a.body))
    }

    pub fn balance(&self) -> Result<smm::Balance, SmmFailure> {
        let a = self.answer(&smm::balance_form(&self.key))?;
        Self::parsed(a.status, smm::parse_balance(&a.body))?.map_err(SmmFailure::Refused)
    }

    /// Sends a form as it is and answers the raw body (the admin proxy).
    pub fn raw(&self, form: &Form) -> Result<Answer, SmmFailure> {
        self.answer(form)
    }
}
