//! Kakao and Google: the calls that verify a login. Answers are parsed and judged by
//! `snspmt_core::upstream::oauth`; this module only moves bytes (blocking: run it on the
//! blocking pool).

use snspmt_core::upstream::oauth::{google, kakao, ParseError, Rejection};

use super::{Answer, CallError};

/// Why a login could not be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginFailure {
    /// The provider says the token is not valid (401 from Kakao, 400 from tokeninfo).
    InvalidToken,
    /// A valid token that does not prove an identity to us.
    Rejected(Rejection),
    /// The authorization code was used or expired (`invalid_grant`).
    InvalidGrant,
    /// No usable answer (network, timeout, 5xx, garbage).
    Upstream(String),
}

impl From<CallError> for LoginFailure {
    fn from(e: CallError) -> Self {
        LoginFailure::Upstream(e.to_string())
    }
}

impl From<ParseError> for LoginFailure {
    fn from(e: ParseError) -> Self {
        LoginFailure::Upstream(e.to_string())
    }
}

impl From<Rejection> for LoginFailure {
    fn from(e: Rejection) -> Self {
        LoginFailure::Rejected(e)
    }
}

fn unexpected(what: &str, a: &Answer) -> LoginFailure {
    LoginFailure::Upstream(format!("{what} answered HTTP {}", a.status))
}

/// The Kakao user API.
#[derive(Clone)]
pub struct KakaoClient {
    pub agent: ureq::Agent,
    /// `https://kapi.kakao.com` (no trailing slash).
    pub api_url: String,
    pub app_id: Option<String>,
}

impl KakaoClient {
    /// Verifies an access token: it belongs to our app (when `KAKAO_APP_ID` is set), and
    /// `/v2/user/me` names the same user.
    pub fn verify(&self, access_token: &str) -> Result<kakao::Profile, LoginFailure> {
        let a = super::get(
            &self.agent,
            &format!("{}/v1/user/access_token_info", self.api_url),
            Some(access_token),
        )?;
        let info = match a.status {
            200 => kakao::parse_token_info(&a.body)?,
            400 | 401 => return Err(LoginFailure::InvalidToken),
            _ => return Err(unexpected("Kakao access_token_info", &a)),
        };
        kakao::check_app(&info, self.app_id.as_deref())?;
        let url = format!("{}/v2/user/me", self.api_url);
        // One retry of this read when nothing came back (protocols §3.4).
        let a = match super::get(&self.agent, &url, Some(access_token)) {
            Ok(a) if a.status < 500 => a,
            _ => super::get(&self.agent, &url, Some(access_token))?,
        };
        let profile = match a.status {
            200 => kakao::parse_profile(&a.body)?,
            400 | 401 => return Err(LoginFailure::InvalidToken),
            _ => return Err(unexpected("Kakao user/me", &a)),
        };
        kakao::check_same_user(&info, &profile)?;
        Ok(profile)
    }
}

/// Google's token and tokeninfo endpoints, with our client.
#[derive(Clone)]
pub struct GoogleClient {
    pub agent: ureq::Agent,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub tokeninfo_url: String,
    pub token_url: String,
    /// Our callback, as registered with Google.
    pub redirect_uri: String,
}

impl GoogleClient {
    /// Verifies an id_token through tokeninfo; `now_secs` judges `exp`.
    pub fn verify_id_token(&self, id_token: &str, now_secs: i64) -> Result<google::Claims, LoginFailure> {
        let query: String =
            form_urlencoded::Serializer::new(String::new()).append_pair("id_token", id_token).finish();
        let sep = if self.tokeninfo_url.contains('?') { '&' } else { '?' };
        let a = super::get(&self.agent, &format!("{}{sep}{query}", self.tokeninfo_url), None)?;
        let claims = match a.status {
            200 => google::parse_tokeninfo(&a.body)?,
            400 | 401 => return Err(LoginFailure::InvalidToken),
            _ => return Err(unexpected("Google tokeninfo", &a)),
        };
        google::verify(&claims, &self.client_id, now_secs)?;
        Ok(claims)
    }

    /// Exchanges an authorization code for an id_token (never retried: codes are single-use).
    pub fn exchange_code(&self, code: &str) -> Result<String, LoginFailure> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("code", code)
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("grant_type", "authorization_code");
        if let Some(secret) = &self.client_secret {
            form.append_pair("client_secret", secret);
        }
        let a =
            super::post(&self.agent, &self.token_url, "application/x-www-form-urlencoded", &form.finish())?;
        match a.status {
            200 => Ok(google::parse_token_response(&a.body)?),
            400 if google::oauth_error(&a.body).as_deref() == Some("invalid_grant") => {
                Err(LoginFailure::InvalidGrant)
            }
            _ => Err(unexpected("Google token", &a)),
        }
    }
}
