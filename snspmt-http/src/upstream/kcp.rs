//! The KCP client: JSON POSTs to trade registration and approval, bodies built and answers
//! parsed by `snspmt_core::upstream::kcp`; and a simulated KCP for the local demo.

use std::sync::Arc;

use serde_json::{json, Value};
use snspmt_core::upstream::kcp::{
    self, ApproveRequest, ApproveResponse, ParseError, RegisterRequest, RegisterResponse,
};

use super::{Answer, CallError};

/// Moves a JSON body to a KCP URL and back.
pub trait KcpTransport: Send + Sync + 'static {
    fn post_json(&self, url: &str, body: &str) -> Result<Answer, CallError>;
}

/// HTTP transport.
pub struct HttpKcp {
    pub agent: ureq::Agent,
}

impl KcpTransport for HttpKcp {
    fn post_json(&self, url: &str, body: &str) -> Result<Answer, CallError> {
        super::post(&self.agent, url, "application/json; charset=UTF-8", body)
    }
}

/// The merchant settings and where KCP is.
#[derive(Clone)]
pub struct KcpClient {
    transport: Arc<dyn KcpTransport>,
    pub site_cd: String,
    cert_info: String,
    register_url: String,
    payment_url: String,
    pub ret_url: String,
    pub simulated: bool,
}

/// A registration that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterFailure {
    /// KCP answered with another `Code`.
    Refused { code: String, message: String },
    /// No usable answer (network, 5xx, garbage): nothing was charged.
    Unreachable(String),
}

impl KcpClient {
    pub fn new(
        transport: Arc<dyn KcpTransport>,
        site_cd: String,
        cert_info: String,
        register_url: String,
        payment_url: String,
        ret_url: String,
        simulated: bool,
    ) -> KcpClient {
        KcpClient { transport, site_cd, cert_info, register_url, payment_url, ret_url, simulated }
    }

    /// Trade registration. Blocking.
    pub fn register(
        &self,
        ordr_idxx: &str,
        good_mny: i64,
        good_name: &str,
        pay_method: &str,
        shop_name: &str,
    ) -> Result<RegisterResponse, RegisterFailure> {
        let body = kcp::register_body(&RegisterRequest {
            site_cd: &self.site_cd,
            kcp_cert_info: &self.cert_info,
            ordr_idxx,
            good_mny,
            good_name,
            pay_method,
            ret_url: &self.ret_url,
            shop_name,
        });
        let answer = self
            .transport
            .post_json(&self.register_url, &body)
            .map_err(|e| RegisterFailure::Unreachable(e.to_string()))?;
        if answer.status >= 500 {
            return Err(RegisterFailure::Unreachable(format!("HTTP {}", answer.status)));
        }
        let r = kcp::parse_register(&answer.body).map_err(|e| RegisterFailure::Unreachable(e.to_string()))?;
        if r.is_success() {
            Ok(r)
        } else {
            Err(RegisterFailure::Refused { code: r.code, message: r.message })
        }
    }

    /// Approval. Blocking. `Err` only when the request may never have been answered; a parse
    /// failure of an answer is for the core to judge (it may have been approved).
    pub fn approve(
        &self,
        tran_cd: &str,
        enc_data: &str,
        enc_info: &str,
        ordr_mony: i64,
        pay_method: &str,
        ordr_no: &str,
    ) -> Result<Result<ApproveResponse, ParseError>, CallError> {
        let body = kcp::approve_body(&ApproveRequest {
            site_cd: &self.site_cd,
            kcp_cert_info: &self.cert_info,
            tran_cd,
            enc_data,
            enc_info,
            ordr_mony,
            pay_type: kcp::pay_type_for(pay_method),
            ordr_no,
        });
        let answer = self.transport.post_json(&self.payment_url, &body)?;
        if answer.status >= 500 {
            return Ok(Err(ParseError::UnexpectedShape(format!("HTTP {}", answer.status))));
        }
        Ok(kcp::parse_approve(&answer.body))
    }
}

/// A simulated KCP for `SNSPMT_SIMULATE=1`: registration always succeeds and points the
/// browser at our simulated payment window; an approval of `enc_data` `SIM-<ordr_idxx>`
/// succeeds for the amount asked, once.
pub struct SimulatedKcp {
    window_url: String,
    approved: std::sync::Mutex<std::collections::HashSet<String>>,
    next_tno: std::sync::atomic::AtomicU64,
}

impl SimulatedKcp {
    /// `window_url`: our `/api/points/purchase-kcp/simulated-window`.
    pub fn new(window_url: String) -> SimulatedKcp {
        SimulatedKcp { window_url, approved: Default::default(), next_tno: Default::default() }
    }
}

/// The `enc_data` the simulated payment page posts for an order.
pub fn simulated_enc_data(ordr_idxx: &str) -> String {
    format!("SIM-{ordr_idxx}")
}

impl SimulatedKcp {
    fn answer(&self, url: &str, body: &Value) -> Value {
        let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        if url.contains("register") {
            let ordr = text("ordr_idxx");
            return json!({"Code": "0000", "Message": "정상처리", "approvalKey": format!("SIMKEY-{ordr}"),
                          "traceNo": format!("{}SIMULATED01", text("site_cd")),
                          "PayUrl": format!("{}?ordr_idxx={ordr}", self.window_url),
                          "paymentMethod": "CARD"});
        }
        let enc = text("enc_data");
        let Some(ordr) = enc.strip_prefix("SIM-").map(str::to_owned) else {
            return json!({"res_cd": "9999", "res_msg": "invalid enc_data"});
        };
        let fresh = self.approved.lock().unwrap_or_else(|p| p.into_inner()).insert(enc.clone());
        if !fresh {
            return json!({"res_cd": "9998", "res_msg": "enc_data already used"});
        }
        let n = self.next_tno.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        json!({"res_cd": "0000", "res_msg": "정상처리", "tno": format!("{:014}", 90_000_000_000_000u64 + n),
               "amount": text("ordr_mony"), "order_no": ordr, "pay_method": "PACA", "card_name": "시뮬레이션카드"})
    }
}

impl KcpTransport for SimulatedKcp {
    fn post_json(&self, url: &str, body: &str) -> Result<Answer, CallError> {
        let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let body =
            serde_json::to_vec(&self.answer(url, &value)).map_err(|e| CallError::Sent(e.to_string()))?;
        Ok(Answer { status: 200, body })
    }
}
