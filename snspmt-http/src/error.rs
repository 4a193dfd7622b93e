//! The one place where errors become HTTP responses: `{"error", "message", "code"}`.

use std::fmt;

use hyper::StatusCode;
use serde_json::{Map, Value};
use snspmt_core::validate::Invalid;
use snspmt_store::{Conflict, StoreError};

/// An error answer. `message` is for people (it may be Korean); `code` is stable.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra keys merged into the body (`field`, `expected_price`, …).
    pub extra: Map<String, Value>,
    /// `Allow` header value for 405.
    pub allow: Option<String>,
    /// `Retry-After` seconds for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), extra: Map::new(), allow: None, retry_after: None }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Names what a 409 is about: `subject` ("purchase 12") and its state now, when known, in
    /// the text and as `status`.
    pub fn naming(mut self, subject: &str, state: Option<&str>) -> ApiError {
        self.message = match state {
            Some(state) => format!("{subject} is {state}: {}", self.message),
            None => format!("{subject}: {}", self.message),
        };
        match state {
            Some(state) => self.with("status", state),
            None => self,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 400 naming the field at fault.
    pub fn invalid_field(field: &str, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::bad_request(code, message).with("field", field)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "로그인이 필요합니다 (missing or invalid credentials)",
        )
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", "권한이 없습니다 (not yours)")
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn no_such_route() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "no_such_route", "no such route")
    }

    pub fn method_not_allowed(allow: String) -> ApiError {
        let mut e = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed");
        e.allow = Some(allow);
        e
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("body over {limit} bytes"))
    }

    /// The body did not arrive within `SNSPMT_BODY_TIMEOUT_MS`; the connection is closed.
    pub fn body_timeout() -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "the request body was not received in time",
        )
    }

    pub fn internal() -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }

    pub fn unavailable() -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "service temporarily unavailable")
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.message.clone()));
        body.insert("message".into(), Value::String(self.message.clone()));
        body.insert("code".into(), Value::String(self.code.to_owned()));
        for (k, v) in &self.extra {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> ApiError {
        ApiError::invalid_field(e.field, e.code, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::Conflict(c) => {
                let e = ApiError::new(StatusCode::CONFLICT, c.code(), conflict_message(c));
                match conflict_field(c) {
                    Some(field) => e.with("field", field),
                    None => e,
                }
            }
            StoreError::InsufficientPoints { balance } => {
                ApiError::bad_request("insufficient_points", "포인트가 부족합니다 (insufficient points)")
                    .with("points", balance.0)
            }
            StoreError::IdempotencyKeyReused => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "this Idempotency-Key was used with another request",
            ),
            StoreError::AlreadyPosted => ApiError::new(
                StatusCode::CONFLICT,
                "already_processed",
                "this points movement was recorded already (its reference was used)",
            ),
            StoreError::Migration(m) => {
                log_internal("migration", &m);
                ApiError::internal()
            }
            StoreError::Unavailable(m) => {
                log_internal("database unavailable", &m);
                ApiError::unavailable()
            }
            StoreError::UniqueViolation(m) => {
                log_internal("unique constraint", &m);
                ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "a concurrent request created or changed the same record; try again",
                )
            }
            StoreError::Backend(m) => {
                log_internal("database error", &m);
                ApiError::internal()
            }
        }
    }
}

/// What each refusal tells the client (every variant decided here, so a new one must be).
pub(crate) fn conflict_message(c: Conflict) -> &'static str {
    match c {
        Conflict::UserIdTaken => {
            "이미 사용 중인 아이디입니다 (user_id taken: another account has this user_id)"
        }
        Conflict::EmailTaken => "이미 사용 중인 이메일입니다 (email taken: another account has this e-mail)",
        Conflict::IdentityTaken => "this sign-in (provider account) is linked to another account",
        Conflict::AlreadyProcessed => "the request was processed already and cannot be processed again",
        Conflict::InvalidTransition => "the order cannot make this change in its current state",
        Conflict::AlreadyReferred => "이미 다른 추천 코드를 사용했습니다 (already referred)",
        Conflict::InvalidCode => "유효하지 않은 추천 코드입니다 (invalid referral code)",
        Conflict::SelfReferral => "본인의 추천 코드는 사용할 수 없습니다 (own code)",
        Conflict::InsufficientCommission => "수수료 잔액이 부족합니다 (insufficient commission balance)",
        Conflict::InvalidAmount => "the amount is outside the allowed range",
        Conflict::InvalidCoupon => "유효하지 않은 쿠폰입니다 (invalid coupon)",
        Conflict::CouponAlreadyAdded => "이미 등록한 쿠폰입니다 (coupon already added)",
        Conflict::CouponCodeTaken => "a coupon with this code exists (code taken)",
        Conflict::CouponExhausted => "쿠폰이 모두 소진되었습니다 (coupon exhausted: max_uses reached)",
        Conflict::DuplicateTno => "this KCP transaction (tno) was recorded for another purchase",
        Conflict::OrdrIdxxTaken => "a purchase with this order number (ordr_idxx) exists",
        Conflict::ProviderServiceIdTaken => {
            "a service with this upstream service id (provider_service_id) exists"
        }
    }
}

/// The request field a refusal is about, when it is one (sent as `field` beside the code).
pub(crate) fn conflict_field(c: Conflict) -> Option<&'static str> {
    match c {
        Conflict::UserIdTaken => Some("user_id"),
        Conflict::EmailTaken => Some("email"),
        Conflict::CouponCodeTaken => Some("code"),
        Conflict::DuplicateTno => Some("tno"),
        Conflict::OrdrIdxxTaken => Some("ordr_idxx"),
        Conflict::ProviderServiceIdTaken => Some("provider_service_id"),
        Conflict::InsufficientCommission | Conflict::InvalidAmount => Some("amount"),
        // Named by the endpoint (a coupon, a referral code, a sign-in, the path's id).
        Conflict::CouponAlreadyAdded
        | Conflict::CouponExhausted
        | Conflict::InvalidCoupon
        | Conflict::AlreadyReferred
        | Conflict::InvalidCode
        | Conflict::SelfReferral
        | Conflict::IdentityTaken
        | Conflict::AlreadyProcessed
        | Conflict::InvalidTransition => None,
    }
}

/// Internal detail goes to the log, never to the client.
fn log_internal(what: &str, detail: &str) {
    crate::log::error(&format!("{what}: {detail}"));
}
