//! NHN KCP standard payment (표준결제) as a sans-IO codec (protocols §2).
//!
//! A card purchase crosses KCP three times, and each crossing has its builder or parser here:
//!
//! 1. **Trade register** (server → KCP, JSON): [`register_body`] builds the request,
//!    [`parse_register`] reads `approvalKey`/`PayUrl`/`traceNo` back.
//! 2. **Auth result** (KCP → the user's browser → our `Ret_URL`, form-encoded):
//!    [`parse_return_form`] never fails, whatever the bytes (EUC-KR `res_msg`, broken escapes),
//!    and [`ReturnForm::kind`] says what the post means. The post is **untrusted**: only
//!    `ordr_idxx`, `enc_data`, `enc_info` and `tran_cd` may drive an approval, and its amounts
//!    are not even read.
//! 3. **Approval** (server → KCP, JSON): [`approve_body`] sends `ordr_mony` from our database,
//!    [`parse_approve`] reads the answer. `crate::purchase::approval_outcome` then decides how
//!    it settles the purchase.
//!
//! [`ParseError`] means the bytes are not a reply we understand (empty, an HTML error page,
//! JSON of another shape). For the approval that is an **unknown outcome**: KCP may have
//! approved, so the purchase must not be marked failed (§2.8).
//!
//! KCP says all values are strings; the parsers also take numbers, ignore unknown fields, and
//! fall back to EUC-KR when a JSON body is not UTF-8. None of them panics on any input, which
//! the `kcp_parse` and `kcp_return` fuzz targets check. Order ids are minted by
//! [`new_ordr_idxx`] from a time and random bytes the caller supplies: the core has no clock.

use std::fmt;

use serde_json::{Map, Value};

use super::text::{snippet, value_snippet};

/// The most characters KCP accepts in an `ordr_idxx` (§2.2).
pub const MAX_ORDR_IDXX_LEN: usize = 40;

/// KCP's code for success, in every API and in the `Ret_URL` post.
pub const RES_OK: &str = "0000";

/// The `Ret_URL` `res_cd` of a payment the user cancelled in the payment window.
pub const RES_USER_CANCELED: &str = "3001";

/// KRW in KCP's `currency` field.
const CURRENCY_KRW: &str = "410";

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a KCP response body is not a reply we understand. For the approval this means the
/// outcome is unknown (§2.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// No body at all, or only whitespace.
    Empty,
    /// Not JSON (an HTML error page, truncated JSON); the start of the body, at most 120
    /// characters, cut on a character boundary.
    NotJson(String),
    /// JSON, but not of the shape this API answers with; the text says what was found.
    UnexpectedShape(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty response from KCP"),
            ParseError::NotJson(snippet) => write!(f, "KCP response is not JSON: {snippet}"),
            ParseError::UnexpectedShape(what) => write!(f, "unexpected KCP response: {what}"),
        }
    }
}

impl std::error::Error for ParseError {}

// ---------------------------------------------------------------------------------------------
// Trade register
// ---------------------------------------------------------------------------------------------

/// What to register with KCP before the browser opens the payment window (§2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterRequest<'a> {
    pub site_cd: &'a str,
    /// The service certificate PEM (not the private key), on one line or many.
    pub kcp_cert_info: &'a str,
    pub ordr_idxx: &'a str,
    /// The price in KRW, from our database.
    pub good_mny: i64,
    pub good_name: &'a str,
    /// `CARD`, `BANK`, `VCNT`, `MOBX`, `TPNT`, `GIFT` …
    pub pay_method: &'a str,
    /// Where KCP sends the browser back; externally reachable, https in production.
    pub ret_url: &'a str,
    pub shop_name: &'a str,
}

/// The JSON body of the trade registration. Every value is a string: `site_cd`,
/// `kcp_cert_info` (normalised to one line by [`normalize_cert`]), `ordr_idxx`, `good_mny`
/// (digits), `good_name`, `pay_method`, `Ret_URL`, `currency` `"410"`, `shop_name`,
/// `escw_used` `"N"` and `user_agent` `""` — the fields the original sent after KCP refused
/// it with `S000` and `M112` (§2.7).
pub fn register_body(r: &RegisterRequest<'_>) -> String {
    json_object(&[
        ("site_cd", r.site_cd),
        ("kcp_cert_info", &normalize_cert(r.kcp_cert_info)),
        ("ordr_idxx", r.ordr_idxx),
        ("good_mny", &r.good_mny.to_string()),
        ("good_name", r.good_name),
        ("pay_method", r.pay_method),
        ("Ret_URL", r.ret_url),
        ("currency", CURRENCY_KRW),
        ("shop_name", r.shop_name),
        ("escw_used", "N"),
        ("user_agent", ""),
    ])
}

/// The service certificate as KCP wants it in `kcp_cert_info`: one line,
/// `-----BEGIN CERTIFICATE-----MIID…-----END CERTIFICATE-----`. Literal `\n` and `\r`
/// sequences (as a PEM pasted into an environment variable has them) and real line breaks
/// (`\n`, `\r\n` or a lone `\r`) are removed and each line is trimmed, so the PEM's lines
/// are joined with nothing between them.
pub fn normalize_cert(pem: &str) -> String {
    pem.replace("\\r", "\n").replace("\\n", "\n").split(['\r', '\n']).map(str::trim).collect()
}

/// KCP's answer to the trade registration (§2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterResponse {
    /// `Code`, trimmed: `"0000"` on success, e.g. `S005`, `S000`, `M112` otherwise.
    pub code: String,
    /// `Message`, trimmed; empty when missing.
    pub message: String,
    /// `approvalKey`, for the payment form's `approval_key`.
    pub approval_key: Option<String>,
    /// `PayUrl`: where the browser posts the order form.
    pub pay_url: Option<String>,
    /// `traceNo`.
    pub trace_no: Option<String>,
    /// `paymentMethod`.
    pub payment_method: Option<String>,
}

impl RegisterResponse {
    /// `Code` is `"0000"` and both `approvalKey` and `PayUrl` are there: the payment window can
    /// be opened. A `"0000"` without them is no success (there is nothing to open).
    pub fn is_success(&self) -> bool {
        self.code == RES_OK && self.approval_key.is_some() && self.pay_url.is_some()
    }
}

/// Parses the trade registration's answer: an object with `Code`, `Message`, `approvalKey`,
/// `traceNo`, `PayUrl`, `paymentMethod` (each looked up exactly, then ignoring ASCII case).
/// Values may be strings or numbers; blank optional values are `None`; unknown fields are
/// ignored. A body without a `Code` is [`ParseError::UnexpectedShape`].
pub fn parse_register(body: &[u8]) -> Result<RegisterResponse, ParseError> {
    const SHAPE: &str = r#"{"Code": …, "Message": …, "approvalKey": …, "PayUrl": …}"#;
    let value = parse_json(body)?;
    let obj = value.as_object().ok_or_else(|| unexpected(SHAPE, &value))?;
    let code = text(field(obj, "Code")).ok_or_else(|| unexpected(SHAPE, &value))?;
    Ok(RegisterResponse {
        code,
        message: text(field(obj, "Message")).unwrap_or_default(),
        approval_key: text(field(obj, "approvalKey")),
        pay_url: text(field(obj, "PayUrl")),
        trace_no: text(field(obj, "traceNo")),
        payment_method: text(field(obj, "paymentMethod")),
    })
}

// ---------------------------------------------------------------------------------------------
// Ret_URL
// ---------------------------------------------------------------------------------------------

/// The form KCP makes the browser post to our `Ret_URL` (§2.4): the fields we read, the
/// others ignored. Everything in it came through the user's browser.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReturnForm {
    pub ordr_idxx: String,
    pub res_cd: String,
    /// KCP's message; EUC-KR unless the form was sent with `encoding_trans=UTF-8`, decoded
    /// either way.
    pub res_msg: String,
    /// Opaque; passed to the approval unchanged (not trimmed).
    pub enc_data: String,
    /// Opaque; passed to the approval unchanged (not trimmed). Empty on the sample's re-post of
    /// the register result.
    pub enc_info: String,
    pub tran_cd: String,
    pub trace_no: String,
    /// The 12-character method bitmask (`100000000000` card, …).
    pub use_pay_method: String,
}

/// Parses the `Ret_URL` post. It **never fails**: `application/x-www-form-urlencoded` pairs
/// split on `&` and the first `=`, `+` read as a space, `%XX` decoded to bytes (a `%` not
/// followed by two hex digits is kept as it is), then each name and value decoded as UTF-8
/// when valid and as EUC-KR otherwise (lossy: undecodable bytes become U+FFFD). So
/// `res_msg=%C1%A4%BB%F3%C3%B3%B8%AE` is `"정상처리"`.
///
/// Unknown fields are ignored; of a field given twice the first counts. Every value but
/// `enc_data` and `enc_info` is trimmed.
pub fn parse_return_form(body: &[u8]) -> ReturnForm {
    let mut form = ReturnForm::default();
    let mut seen = [false; 8];
    for pair in body.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let (slot, trim) = match decode_component(name).as_str() {
            "ordr_idxx" => (0, true),
            "res_cd" => (1, true),
            "res_msg" => (2, true),
            "enc_data" => (3, false),
            "enc_info" => (4, false),
            "tran_cd" => (5, true),
            "trace_no" => (6, true),
            "use_pay_method" => (7, true),
            _ => continue,
        };
        if seen[slot] {
            continue;
        }
        seen[slot] = true;
        let decoded = decode_component(value);
        let value = if trim { decoded.trim().to_owned() } else { decoded };
        let target = match slot {
            0 => &mut form.ordr_idxx,
            1 => &mut form.res_cd,
            2 => &mut form.res_msg,
            3 => &mut form.enc_data,
            4 => &mut form.enc_info,
            5 => &mut form.tran_cd,
            6 => &mut form.trace_no,
            _ => &mut form.use_pay_method,
        };
        *target = value;
    }
    form
}

/// What a `Ret_URL` post means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnKind {
    /// `res_cd` `0000` with `enc_data`, `enc_info` and `tran_cd`: approve it server-side.
    Authenticated,
    /// `res_cd` `3001`: the user closed or cancelled the payment window.
    UserCanceled,
    /// Any other `res_cd`: KCP refused the authentication. No API call is made.
    Failed { code: String, message: String },
    /// `res_cd` `0000` with an empty `enc_info`: the official sample's re-post of the trade
    /// register result to the same page, not an authentication. Nothing to do.
    RegisterEcho,
    /// No usable `ordr_idxx` (missing, or not what [`valid_ordr_idxx`] accepts), no `res_cd`,
    /// or `0000` without `enc_data`/`tran_cd`: nothing can be attributed or approved.
    Malformed,
}

impl ReturnForm {
    /// What this post means, checked in this order: an unusable `ordr_idxx` or an empty
    /// `res_cd` is [`ReturnKind::Malformed`]; `3001` is [`ReturnKind::UserCanceled`]; `0000`
    /// is [`ReturnKind::RegisterEcho`] when `enc_info` is empty, [`ReturnKind::Malformed`]
    /// when `enc_data` or `tran_cd` is, else [`ReturnKind::Authenticated`]; any other code is
    /// [`ReturnKind::Failed`] with `res_cd` and `res_msg`.
    pub fn kind(&self) -> ReturnKind {
        let code = self.res_cd.trim();
        if !valid_ordr_idxx(self.ordr_idxx.trim()) || code.is_empty() {
            return ReturnKind::Malformed;
        }
        match code {
            RES_USER_CANCELED => ReturnKind::UserCanceled,
            RES_OK if self.enc_info.trim().is_empty() => ReturnKind::RegisterEcho,
            RES_OK if self.enc_data.trim().is_empty() || self.tran_cd.trim().is_empty() => {
                ReturnKind::Malformed
            }
            RES_OK => ReturnKind::Authenticated,
            _ => ReturnKind::Failed { code: code.to_owned(), message: self.res_msg.trim().to_owned() },
        }
    }
}

/// `%XX` escapes decoded and `+` read as a space. A `%` without two hex digits after it stays
/// a literal `%`.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = input.get(i + 1).and_then(|&h| hex_digit(h));
                let lo = input.get(i + 2).and_then(|&l| hex_digit(l));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One form name or value: percent-decoded, then read as UTF-8 when valid, else as EUC-KR
/// (encoding_rs' windows-949, the superset browsers use) with undecodable sequences replaced
/// by U+FFFD.
fn decode_component(raw: &[u8]) -> String {
    match String::from_utf8(percent_decode(raw)) {
        Ok(s) => s,
        Err(e) => encoding_rs::EUC_KR.decode_without_bom_handling(e.as_bytes()).0.into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Approval
// ---------------------------------------------------------------------------------------------

/// What to send to KCP's approval (§2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApproveRequest<'a> {
    pub site_cd: &'a str,
    pub kcp_cert_info: &'a str,
    /// From the `Ret_URL` post (`00100000` for a normal payment).
    pub tran_cd: &'a str,
    /// From the `Ret_URL` post, unchanged.
    pub enc_data: &'a str,
    /// From the `Ret_URL` post, unchanged.
    pub enc_info: &'a str,
    /// The price **from our database**, never from the browser: KCP compares it with the
    /// amount the user authenticated.
    pub ordr_mony: i64,
    /// From [`pay_type_for`].
    pub pay_type: &'a str,
    /// Our `ordr_idxx`.
    pub ordr_no: &'a str,
}

/// The JSON body of the approval. Every value is a string: `tran_cd`, `site_cd`,
/// `kcp_cert_info` (normalised like [`register_body`]; the original forgot to here),
/// `enc_data`, `enc_info`, `ordr_mony` (digits), `pay_type`, `ordr_no`.
pub fn approve_body(r: &ApproveRequest<'_>) -> String {
    json_object(&[
        ("tran_cd", r.tran_cd),
        ("site_cd", r.site_cd),
        ("kcp_cert_info", &normalize_cert(r.kcp_cert_info)),
        ("enc_data", r.enc_data),
        ("enc_info", r.enc_info),
        ("ordr_mony", &r.ordr_mony.to_string()),
        ("pay_type", r.pay_type),
        ("ordr_no", r.ordr_no),
    ])
}

/// The approval's `pay_type` for a register `pay_method` (ASCII case and surrounding spaces
/// ignored): `CARD` → `PACA`, `BANK` → `PABK`, `VCNT` → `PAVC`, `MOBX` → `PAMC`, `TPNT` →
/// `PATP`, `GIFT` → `PAGC`; anything else → `PACA`, the card default the original hard-coded.
pub fn pay_type_for(pay_method: &str) -> &'static str {
    const TABLE: [(&str, &str); 6] = [
        ("CARD", "PACA"),
        ("BANK", "PABK"),
        ("VCNT", "PAVC"),
        ("MOBX", "PAMC"),
        ("TPNT", "PATP"),
        ("GIFT", "PAGC"),
    ];
    let method = pay_method.trim();
    TABLE.iter().find(|(m, _)| m.eq_ignore_ascii_case(method)).map_or("PACA", |&(_, t)| t)
}

/// KCP's answer to the approval (§2.5): the fields we store or check; the rest are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproveResponse {
    /// `res_cd`, trimmed: `"0000"` is an approval.
    pub res_cd: String,
    /// `res_msg`, trimmed; empty when missing.
    pub res_msg: String,
    /// The KCP transaction number (14 digits); needed to cancel.
    pub tno: Option<String>,
    /// The approved amount: digits only (surrounding spaces allowed), or a non-negative JSON
    /// integer. `None` when missing or anything else (`"1,100"`, `"-1"`, `"1100.0"`), which
    /// counts as a mismatch.
    pub amount: Option<i64>,
    pub order_no: Option<String>,
    /// `PACA`, `PABK`, `PAVC` …
    pub pay_method: Option<String>,
    /// `yyyyMMddHHmmss`.
    pub app_time: Option<String>,
    pub card_name: Option<String>,
    /// Masked as KCP sent it (`461954******7815`).
    pub card_no: Option<String>,
}

impl ApproveResponse {
    /// `res_cd` is `"0000"`. Whether the purchase is approved also depends on the amount and
    /// `tno`: see `crate::purchase::approval_outcome`.
    pub fn is_success(&self) -> bool {
        self.res_cd == RES_OK
    }
}

/// Parses the approval's answer: an object with a `res_cd` (string or number). Every other
/// field is optional, read from a string or a number, and `None` when blank or unreadable;
/// unknown fields are ignored. A body without `res_cd` is [`ParseError::UnexpectedShape`].
pub fn parse_approve(body: &[u8]) -> Result<ApproveResponse, ParseError> {
    const SHAPE: &str = r#"{"res_cd": …, "res_msg": …, …}"#;
    let value = parse_json(body)?;
    let obj = value.as_object().ok_or_else(|| unexpected(SHAPE, &value))?;
    let res_cd = text(obj.get("res_cd")).ok_or_else(|| unexpected(SHAPE, &value))?;
    Ok(ApproveResponse {
        res_cd,
        res_msg: text(obj.get("res_msg")).unwrap_or_default(),
        tno: text(obj.get("tno")),
        amount: obj.get("amount").and_then(digits_i64),
        order_no: text(obj.get("order_no")),
        pay_method: text(obj.get("pay_method")),
        app_time: text(obj.get("app_time")),
        card_name: text(obj.get("card_name")),
        card_no: text(obj.get("card_no")),
    })
}

// ---------------------------------------------------------------------------------------------
// Order ids
// ---------------------------------------------------------------------------------------------

/// The 36 characters an order id's random part is drawn from.
const ID_ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A new `ordr_idxx`: `POINT_<yyyymmddHHMMSS>_<6 of [A-Z0-9]>`, always 27 characters. Each
/// random byte picks one character (`byte % 36`; the slight bias toward the first 4 is
/// harmless: 36⁶ ≈ 2·10⁹ ids per second). The time comes as parts so the core needs no clock;
/// a part outside its field's width is clamped (year to 0..=9999, the others to ≤ 99), so the
/// id always has the same shape. The original's `POINT_<unix seconds>` collided for two
/// purchases in the same second (§2.7).
pub fn new_ordr_idxx(
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    random: [u8; 6],
) -> String {
    let suffix: String =
        random.iter().map(|&b| char::from(ID_ALPHABET[usize::from(b) % ID_ALPHABET.len()])).collect();
    format!(
        "POINT_{:04}{:02}{:02}{:02}{:02}{:02}_{suffix}",
        year.clamp(0, 9999),
        month.min(99),
        day.min(99),
        hour.min(99),
        minute.min(99),
        second.min(99),
    )
}

/// Whether `s` is a plausible `ordr_idxx` from a client: 1..=40 characters of
/// `[A-Za-z0-9_-]`. Every id [`new_ordr_idxx`] makes passes.
pub fn valid_ordr_idxx(s: &str) -> bool {
    (1..=MAX_ORDR_IDXX_LEN).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

// ---------------------------------------------------------------------------------------------
// Lenient decoding
// ---------------------------------------------------------------------------------------------

/// `{"name": "value", …}` in the given order, every value a JSON string.
fn json_object(fields: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // A `Value`'s Display is its JSON text, with every escape the string needs.
        out.push_str(&Value::from(*name).to_string());
        out.push(':');
        out.push_str(&Value::from(*value).to_string());
    }
    out.push('}');
    out
}

/// The body as JSON. A UTF-8 byte-order mark is skipped. A body that is not UTF-8 is read once
/// more as EUC-KR, which KCP uses for its Korean messages; the snippet of a failure is always
/// of the original bytes. serde_json's recursion limit keeps deeply nested input from
/// exhausting the stack.
fn parse_json(body: &[u8]) -> Result<Value, ParseError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let not_json = || ParseError::NotJson(snippet(body));
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(_) if std::str::from_utf8(body).is_err() => {
            let (text, _, _) = encoding_rs::EUC_KR.decode(body);
            serde_json::from_str(&text).map_err(|_| not_json())
        }
        Err(_) => Err(not_json()),
    }
}

fn unexpected(expected: &str, got: &Value) -> ParseError {
    ParseError::UnexpectedShape(format!("expected {expected}, got {}", value_snippet(got)))
}

/// `obj[name]`, or failing that the first key equal to `name` ignoring ASCII case (KCP's
/// register keys mix cases: `Code`, `approvalKey`, `PayUrl`).
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// A string trimmed, or a number's text; `None` when missing, blank or of another type.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.trim()).filter(|t| !t.is_empty()).map(str::to_owned),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A non-negative amount: a string of ASCII digits (surrounding whitespace allowed) or a
/// non-negative JSON integer, fitting in an `i64`.
fn digits_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().filter(|&i| i >= 0),
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trade register answer of §2.2 (`request_URI` filled in).
    const REGISTER_SAMPLE: &str = r#"{"Code":"0000","Message":"정상처리","approvalKey":"k/Che+IOTaHYK33mhgeVNAcHyKIPdQ/iE35VBPEo1cQ=",
 "traceNo":"A52Q7LFIWKZTPUKQ","PayUrl":"https://testsmpay.kcp.co.kr/pay/mobileGW.kcp",
 "paymentMethod":"CARD","request_URI":"/std/tradeReg/register"}"#;

    /// A real card approval, verbatim (§2.5).
    const APPROVE_SAMPLE: &str = r#"{"order_no":"20230412329","mall_taxno":"1138521083","partcanc_yn":"Y","noinf":"N","res_msg":"정상처리",
 "coupon_mny":"0","pg_txid":"0412032914MK28987373370000000011000070577311","card_bin_type_01":"0",
 "trace_no":"A52Q7YM1N8ONLXDR","card_mny":"1100","res_vat_mny":"100","ca_order_id":"20230412329",
 "res_tax_flag":"TG01","acqu_name":"신한카드","card_no":"461954******7815","quota":"00","van_cd":"VNKC",
 "acqu_cd":"CCLG","amount":"1100","cert_no":"23732987373372","van_apptime":"20230412032914",
 "use_point":"0","res_free_mny":"0","pay_method":"PACA","card_bin_bank_cd":"0301","bizx_numb":"0040905630",
 "res_cd":"0000","escw_yn":"N","join_cd":"0000","app_time":"20230412032914","tno":"23732987373372",
 "card_bin_type_02":"1","card_cd":"CCLG","res_en_msg":"processing completed","card_name":"신한카드",
 "mcht_taxno":"1138521083","res_green_deposit_mny":"0","res_tax_mny":"1000","app_no":"70577311"}"#;

    /// A real `Ret_URL` post (§2.4), `enc_data` shortened; `buyr_name` and `good_name` are
    /// mangled exactly as in the capture, `res_msg` is EUC-KR.
    const RETURN_CAPTURE: &str = "tran_cd=00100000&kvp_card_code=040204040091011&card_code=CCKM\
        &kcp_select_card_code=CCKM&enc_data=3CvntegP4XK45hno09Uidu2JHhT6CpZL8Qnxk4S9pUjH0ML7-ZJ6nQj..AVWVAseaN22B\
        &enc_info=3tNxuacDtJ1b1PGVmqcvWMr6rpgf2rk6yXmvdtciLz5ktLBGah3fVau385Sy.0WAXv0ih9QMDaks.VNZGOiYvF3MSUr\
        PBltXUbCLzPuviGOVcfnz7EuSGISYT.4KXq5zIYpaNm2JDz-JlpyKPZJx0GpfsqKt7Pqn-i-XAM0-3nCWxjfSqQlNhFCgAGZWuv\
        -HRFyn.zuzwUu__&card_pay_method=ISP&card_mask_no=000000&card_point_use=N&app_pay_type=I\
        &kcp_group_id=&escw_used=N&req_tx=pay&rtn_key_info_yn=&trace_no=T0000BRMJJIT01DQ\
        &buyr_tel2=010-0000-0000&buyr_mail=test%40test.co.kr&buyr_tel1=&lang_flag=&param_opt_1=\
        &param_opt_3=&param_opt_2=&ally_type=&buyr_name=%3F%3F%EA%B8%B8%EB%3F%3F&confirm_type=\
        &good_name=TEST%3F%3F%3F%3F&deli_term=&rcvr_add2=&rcvr_add1=&rcvr_zipx=&bask_cntx=\
        &Ret_URL_Method_Type=&rcvr_mail=&pay_method=CARD&rcvr_tel1=&rcvr_tel2=&site_cd=T0000\
        &good_mny=1004&ordr_idxx=TEST1234567890&encoding_trans=&rcvr_name=&pay_mod=&good_info=\
        &use_pay_method=100000000000&smart_useyn=Y&ally_code=\
        &Ret_URL=https%3A%2F%2F192.168.0.92%3A8099%2Fcallback&res_cd=0000&res_msg=%C1%A4%BB%F3%C3%B3%B8%AE";

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIDgTCCAmmgAwIBAgIHBy4lYNG7ojANBgkqhkiG9w0BAQsFADBzMQswCQYDVQQG\nEwJLUjEOMAwGA1UECAwFU2VvdWwx\n-----END CERTIFICATE-----\n";
    const CERT_LINE: &str = "-----BEGIN CERTIFICATE-----MIIDgTCCAmmgAwIBAgIHBy4lYNG7ojANBgkqhkiG9w0BAQsFADBzMQswCQYDVQQGEwJLUjEOMAwGA1UECAwFU2VvdWwx-----END CERTIFICATE-----";

    fn object(body: &str) -> Map<String, Value> {
        match serde_json::from_str(body) {
            Ok(Value::Object(obj)) => obj,
            other => panic!("not a JSON object: {other:?}"),
        }
    }

    fn register_request() -> RegisterRequest<'static> {
        RegisterRequest {
            site_cd: "T0000",
            kcp_cert_info: CERT,
            ordr_idxx: "POINT_20240501120000_AB12CD",
            good_mny: 10_000,
            good_name: "포인트 \"10,000\"",
            pay_method: "CARD",
            ret_url: "https://panel.example/api/points/purchase-kcp/return",
            shop_name: "SNS PMT",
        }
    }

    // --- errors --------------------------------------------------------------------------

    #[test]
    fn parse_error_display_and_snippet() {
        assert_eq!(ParseError::Empty.to_string(), "empty response from KCP");
        assert_eq!(ParseError::NotJson("<html>".into()).to_string(), "KCP response is not JSON: <html>");
        assert!(ParseError::UnexpectedShape("x".into()).to_string().ends_with(": x"));

        // 200 three-byte characters: the snippet is cut on a character boundary.
        let long = "가".repeat(200);
        let Err(ParseError::NotJson(s)) = parse_approve(long.as_bytes()) else { panic!("not NotJson") };
        assert_eq!(s, "가".repeat(120));
        let Err(ParseError::NotJson(s)) = parse_register(b"\xFF\xFE<h1>\n502\tBad</h1>") else {
            panic!("not NotJson")
        };
        assert!(s.ends_with("<h1> 502 Bad</h1>"), "{s}");
    }

    // --- register ------------------------------------------------------------------------

    #[test]
    fn register_body_fields() {
        let obj = object(&register_body(&register_request()));
        let want: &[(&str, &str)] = &[
            ("site_cd", "T0000"),
            ("kcp_cert_info", CERT_LINE),
            ("ordr_idxx", "POINT_20240501120000_AB12CD"),
            ("good_mny", "10000"),
            ("good_name", "포인트 \"10,000\""),
            ("pay_method", "CARD"),
            ("Ret_URL", "https://panel.example/api/points/purchase-kcp/return"),
            ("currency", "410"),
            ("shop_name", "SNS PMT"),
            ("escw_used", "N"),
            ("user_agent", ""),
        ];
        assert_eq!(obj.len(), want.len());
        for (k, v) in want {
            assert_eq!(obj.get(*k), Some(&Value::String((*v).to_owned())), "{k}");
        }
    }

    #[test]
    fn cert_normalisation() {
        let cases: &[(&str, &str)] = &[
            (CERT, CERT_LINE),
            (&CERT.replace('\n', "\\n"), CERT_LINE),
            (&CERT.replace('\n', "\r\n"), CERT_LINE),
            (&CERT.replace('\n', "\\r\\n"), CERT_LINE),
            (&CERT.replace('\n', "\r"), CERT_LINE),
            (&format!("  {}  ", CERT.replace('\n', " \n ")), CERT_LINE),
            (CERT_LINE, CERT_LINE),
            ("", ""),
        ];
        for (pem, want) in cases {
            assert_eq!(normalize_cert(pem), *want, "{pem:?}");
        }
        let body = approve_body(&ApproveRequest {
            site_cd: "T0000",
            kcp_cert_info: &CERT.replace('\n', "\\n"),
            tran_cd: "00100000",
            enc_data: "d",
            enc_info: "i",
            ordr_mony: 1,
            pay_type: "PACA",
            ordr_no: "X",
        });
        assert_eq!(object(&body).get("kcp_cert_info"), Some(&Value::String(CERT_LINE.into())));
    }

    #[test]
    fn register_doc_sample() {
        let got = parse_register(REGISTER_SAMPLE.as_bytes()).unwrap();
        assert_eq!(
            got,
            RegisterResponse {
                code: "0000".into(),
                message: "정상처리".into(),
                approval_key: Some("k/Che+IOTaHYK33mhgeVNAcHyKIPdQ/iE35VBPEo1cQ=".into()),
                pay_url: Some("https://testsmpay.kcp.co.kr/pay/mobileGW.kcp".into()),
                trace_no: Some("A52Q7LFIWKZTPUKQ".into()),
                payment_method: Some("CARD".into()),
            }
        );
        assert!(got.is_success());
    }

    #[test]
    fn register_lenient_table() {
        type Case = (&'static str, &'static str, Option<&'static str>, Option<&'static str>, bool);
        // body, code, approval_key, pay_url, is_success
        let cases: &[Case] = &[
            (r#"{"Code":"S005","Message":"Not json format"}"#, "S005", None, None, false),
            (r#"{"Code":" 0000 ","approvalKey":"k","PayUrl":"u"}"#, "0000", Some("k"), Some("u"), true),
            (r#"{"Code":"0000","approvalKey":"k"}"#, "0000", Some("k"), None, false),
            (r#"{"Code":"0000","approvalKey":" ","PayUrl":"u"}"#, "0000", None, Some("u"), false),
            (r#"{"Code":"0000","approvalKey":null,"PayUrl":"u"}"#, "0000", None, Some("u"), false),
            (r#"{"Code":1234,"approvalKey":42,"PayUrl":"u"}"#, "1234", Some("42"), Some("u"), false),
            (r#"{"code":"0000","approvalkey":"k","payurl":"u","x":[1]}"#, "0000", Some("k"), Some("u"), true),
            (
                r#"{"Code":"M112","Message":"","approvalKey":"k","PayUrl":"u"}"#,
                "M112",
                Some("k"),
                Some("u"),
                false,
            ),
        ];
        for (body, code, key, url, success) in cases {
            let got = parse_register(body.as_bytes()).unwrap();
            assert_eq!(got.code, *code, "{body}");
            assert_eq!(got.approval_key.as_deref(), *key, "{body}");
            assert_eq!(got.pay_url.as_deref(), *url, "{body}");
            assert_eq!(got.is_success(), *success, "{body}");
        }
        let failed = parse_register(br#"{"Code":"S000","Message":" kcp_cert_info missing "}"#).unwrap();
        assert_eq!(failed.message, "kcp_cert_info missing");
        assert_eq!((failed.trace_no, failed.payment_method), (None, None));
    }

    #[test]
    fn register_bad_bodies() {
        assert_eq!(parse_register(b""), Err(ParseError::Empty));
        assert_eq!(parse_register(b" \r\n\t"), Err(ParseError::Empty));
        assert_eq!(parse_register(b"\xEF\xBB\xBF "), Err(ParseError::Empty));
        let html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
        assert!(matches!(parse_register(html), Err(ParseError::NotJson(s)) if s.starts_with("<html>")));
        assert!(matches!(parse_register(br#"{"Code":"0000""#), Err(ParseError::NotJson(_))));
        for body in
            [&b"[]"[..], b"\"0000\"", b"null", br#"{"Message":"x"}"#, br#"{"Code":""}"#, br#"{"Code":{}}"#]
        {
            assert!(matches!(parse_register(body), Err(ParseError::UnexpectedShape(_))), "{body:?}");
        }
    }

    #[test]
    fn euc_kr_json_body() {
        // `{"res_cd":"0000","res_msg":"정상처리"}` with the message in EUC-KR.
        let mut body = br#"{"res_cd":"0000","res_msg":""#.to_vec();
        body.extend_from_slice(b"\xC1\xA4\xBB\xF3\xC3\xB3\xB8\xAE\"}");
        assert_eq!(parse_approve(&body).map(|r| r.res_msg), Ok("정상처리".into()));
        let mut body = br#"{"Code":"9999","Message":""#.to_vec();
        body.extend_from_slice(b"\xBF\xC0\xB7\xF9\"}");
        assert_eq!(parse_register(&body).map(|r| r.message), Ok("오류".into()));
    }

    // --- Ret_URL -------------------------------------------------------------------------

    #[test]
    fn return_real_capture() {
        let form = parse_return_form(RETURN_CAPTURE.as_bytes());
        assert_eq!(
            form,
            ReturnForm {
                ordr_idxx: "TEST1234567890".into(),
                res_cd: "0000".into(),
                res_msg: "정상처리".into(),
                enc_data: "3CvntegP4XK45hno09Uidu2JHhT6CpZL8Qnxk4S9pUjH0ML7-ZJ6nQj..AVWVAseaN22B".into(),
                enc_info: "3tNxuacDtJ1b1PGVmqcvWMr6rpgf2rk6yXmvdtciLz5ktLBGah3fVau385Sy.0WAXv0ih9QMDaks.\
                    VNZGOiYvF3MSUrPBltXUbCLzPuviGOVcfnz7EuSGISYT.4KXq5zIYpaNm2JDz-JlpyKPZJx0GpfsqKt7Pqn-\
                    i-XAM0-3nCWxjfSqQlNhFCgAGZWuv-HRFyn.zuzwUu__"
                    .into(),
                tran_cd: "00100000".into(),
                trace_no: "T0000BRMJJIT01DQ".into(),
                use_pay_method: "100000000000".into(),
            }
        );
        assert_eq!(form.kind(), ReturnKind::Authenticated);
    }

    #[test]
    fn return_decoding_table() {
        let cases: &[(&[u8], &str)] = &[
            (b"res_msg=%C1%A4%BB%F3%C3%B3%B8%AE", "정상처리"),
            (b"res_msg=%EC%A0%95%EC%83%81%EC%B2%98%EB%A6%AC", "정상처리"),
            (b"res_msg=%c1%a4%bb%f3", "정상"),
            ("res_msg=정상처리".as_bytes(), "정상처리"),
            (b"res_msg=\xC1\xA4\xBB\xF3", "정상"),
            (b"res_msg=a+b%20c", "a b c"),
            (b"res_msg=%2B%26%3D", "+&="),
            (b"res_msg=100%", "100%"),
            (b"res_msg=%ZZ%4", "%ZZ%4"),
            (b"res_msg=%%41", "%A"),
            (b"res_msg=%FF%FE", "\u{FFFD}\u{FFFD}"),
            (b"res_msg=%C1", "\u{FFFD}"),
            (b"res_msg=+x+", "x"),
            (b"res_msg", ""),
            (b"res_msg=a=b", "a=b"),
            (b"res%5Fmsg=named", "named"),
            (b"res_msg=first&res_msg=second", "first"),
            (b"&&res_msg=x&&", "x"),
            (b"", ""),
        ];
        for (body, want) in cases {
            assert_eq!(parse_return_form(body).res_msg, *want, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn return_opaque_fields_kept() {
        let form =
            parse_return_form(b"enc_data=+ab%2Bc+&enc_info=%20x%20&ordr_idxx=+A1+&tran_cd=%0900100000");
        assert_eq!(form.enc_data, " ab+c ");
        assert_eq!(form.enc_info, " x ");
        assert_eq!(form.ordr_idxx, "A1");
        assert_eq!(form.tran_cd, "00100000");
        // Unknown and amount fields are not read at all.
        let form = parse_return_form(b"good_mny=1&amount=2&RES_CD=0000&x=%FF");
        assert_eq!(form, ReturnForm::default());
    }

    #[test]
    fn return_kind_table() {
        let ok = "ordr_idxx=POINT_20240501120000_AB12CD&tran_cd=00100000&enc_data=D&enc_info=I";
        let cases: &[(String, ReturnKind)] = &[
            (format!("{ok}&res_cd=0000"), ReturnKind::Authenticated),
            (format!("{ok}&res_cd=3001&res_msg=%C3%EB%BC%D2"), ReturnKind::UserCanceled),
            (
                format!("{ok}&res_cd=8128&res_msg=%C1%A4%BB%F3"),
                ReturnKind::Failed { code: "8128".into(), message: "정상".into() },
            ),
            (
                format!("{ok}&res_cd=+9999+"),
                ReturnKind::Failed { code: "9999".into(), message: String::new() },
            ),
            (
                "ordr_idxx=A1&res_cd=0000&enc_data=&enc_info=&approval_key=k&traceNo=T&PayUrl=u".into(),
                ReturnKind::RegisterEcho,
            ),
            ("ordr_idxx=A1&res_cd=0000&enc_data=D&tran_cd=00100000".into(), ReturnKind::RegisterEcho),
            ("ordr_idxx=A1&res_cd=0000&enc_info=I&tran_cd=00100000".into(), ReturnKind::Malformed),
            ("ordr_idxx=A1&res_cd=0000&enc_info=I&enc_data=D".into(), ReturnKind::Malformed),
            ("ordr_idxx=A1&res_cd=0000&enc_info=I&enc_data=D&tran_cd=+".into(), ReturnKind::Malformed),
            ("res_cd=0000&tran_cd=00100000&enc_data=D&enc_info=I".into(), ReturnKind::Malformed),
            ("res_cd=3001".into(), ReturnKind::Malformed),
            ("ordr_idxx=..%2F..&res_cd=3001".into(), ReturnKind::Malformed),
            (format!("ordr_idxx={}&res_cd=3001", "A".repeat(41)), ReturnKind::Malformed),
            (format!("ordr_idxx={}&res_cd=3001", "A".repeat(40)), ReturnKind::UserCanceled),
            ("ordr_idxx=A1&res_cd=".into(), ReturnKind::Malformed),
            ("ordr_idxx=A1".into(), ReturnKind::Malformed),
            (String::new(), ReturnKind::Malformed),
        ];
        for (body, want) in cases {
            assert_eq!(&parse_return_form(body.as_bytes()).kind(), want, "{body}");
        }
    }

    // --- approval ------------------------------------------------------------------------

    #[test]
    fn approve_body_fields() {
        let obj = object(&approve_body(&ApproveRequest {
            site_cd: "T0000",
            kcp_cert_info: CERT,
            tran_cd: "00100000",
            enc_data: "3Cv+/=\"\\x",
            enc_info: "3tN",
            ordr_mony: 1100,
            pay_type: "PACA",
            ordr_no: "POINT_20240501120000_AB12CD",
        }));
        let want: &[(&str, &str)] = &[
            ("tran_cd", "00100000"),
            ("site_cd", "T0000"),
            ("kcp_cert_info", CERT_LINE),
            ("enc_data", "3Cv+/=\"\\x"),
            ("enc_info", "3tN"),
            ("ordr_mony", "1100"),
            ("pay_type", "PACA"),
            ("ordr_no", "POINT_20240501120000_AB12CD"),
        ];
        assert_eq!(obj.len(), want.len());
        for (k, v) in want {
            assert_eq!(obj.get(*k), Some(&Value::String((*v).to_owned())), "{k}");
        }
    }

    #[test]
    fn pay_type_table() {
        let cases = [
            ("CARD", "PACA"),
            ("BANK", "PABK"),
            ("VCNT", "PAVC"),
            ("MOBX", "PAMC"),
            ("TPNT", "PATP"),
            ("GIFT", "PAGC"),
            (" bank ", "PABK"),
            ("card", "PACA"),
            ("AUTH", "PACA"),
            ("", "PACA"),
            ("카드", "PACA"),
        ];
        for (method, want) in cases {
            assert_eq!(pay_type_for(method), want, "{method:?}");
        }
    }

    #[test]
    fn approve_real_card_sample() {
        let got = parse_approve(APPROVE_SAMPLE.as_bytes()).unwrap();
        assert_eq!(
            got,
            ApproveResponse {
                res_cd: "0000".into(),
                res_msg: "정상처리".into(),
                tno: Some("23732987373372".into()),
                amount: Some(1100),
                order_no: Some("20230412329".into()),
                pay_method: Some("PACA".into()),
                app_time: Some("20230412032914".into()),
                card_name: Some("신한카드".into()),
                card_no: Some("461954******7815".into()),
            }
        );
        assert!(got.is_success());
    }

    #[test]
    fn approve_lenient_table() {
        // body, res_cd, tno, amount
        let cases: &[(&str, &str, Option<&str>, Option<i64>)] = &[
            (
                r#"{"res_cd":"0000","tno":23732987373372,"amount":1100}"#,
                "0000",
                Some("23732987373372"),
                Some(1100),
            ),
            (r#"{"res_cd":" 0000 ","tno":" 1 ","amount":" 1100 "}"#, "0000", Some("1"), Some(1100)),
            (r#"{"res_cd":"0000","amount":"0"}"#, "0000", None, Some(0)),
            (r#"{"res_cd":"0000","amount":"1,100"}"#, "0000", None, None),
            (r#"{"res_cd":"0000","amount":"-1100"}"#, "0000", None, None),
            (r#"{"res_cd":"0000","amount":"+1100"}"#, "0000", None, None),
            (r#"{"res_cd":"0000","amount":"1100.0"}"#, "0000", None, None),
            (r#"{"res_cd":"0000","amount":1100.0}"#, "0000", None, None),
            (r#"{"res_cd":"0000","amount":-5}"#, "0000", None, None),
            (r#"{"res_cd":"0000","amount":""}"#, "0000", None, None),
            (r#"{"res_cd":"0000","amount":"99999999999999999999"}"#, "0000", None, None),
            (r#"{"res_cd":"0000","amount":null,"tno":""}"#, "0000", None, None),
            (r#"{"res_cd":9562,"res_msg":"tran_cd not set"}"#, "9562", None, None),
            (r#"{"res_cd":"8804","res_msg":"승인거절","tno":"","extra":{"a":[1]}}"#, "8804", None, None),
        ];
        for (body, code, tno, amount) in cases {
            let got = parse_approve(body.as_bytes()).unwrap();
            assert_eq!(got.res_cd, *code, "{body}");
            assert_eq!(got.tno.as_deref(), *tno, "{body}");
            assert_eq!(got.amount, *amount, "{body}");
            assert_eq!(got.is_success(), *code == "0000", "{body}");
        }
        let declined = parse_approve(r#"{"res_cd":"8804","res_msg":" 승인거절 "}"#.as_bytes()).unwrap();
        assert_eq!(declined.res_msg, "승인거절");
        assert_eq!((declined.order_no, declined.card_no, declined.app_time), (None, None, None));
    }

    #[test]
    fn approve_bad_bodies() {
        assert_eq!(parse_approve(b""), Err(ParseError::Empty));
        assert_eq!(parse_approve(b"\n\n"), Err(ParseError::Empty));
        let html = b"<!DOCTYPE html><html><body><h1>500 Internal Server Error</h1></body></html>";
        assert!(matches!(parse_approve(html), Err(ParseError::NotJson(s)) if s.starts_with("<!DOCTYPE")));
        assert!(matches!(parse_approve(br#"{"res_cd":"0000","amount":"11"#), Err(ParseError::NotJson(_))));
        assert!(matches!(parse_approve(b"\xFF\xFF\xFF"), Err(ParseError::NotJson(_))));
        for body in [
            &br#"{"res_msg":"x","amount":"1100"}"#[..],
            br#"{"res_cd":""}"#,
            br#"{"res_cd":null}"#,
            br#"{"res_cd":["0000"]}"#,
            b"[]",
            b"0",
        ] {
            assert!(matches!(parse_approve(body), Err(ParseError::UnexpectedShape(_))), "{body:?}");
        }
    }

    // --- order ids -----------------------------------------------------------------------

    #[test]
    fn ordr_idxx_format() {
        let id = new_ordr_idxx(2024, 5, 1, 9, 3, 7, [0, 25, 26, 35, 36, 255]);
        assert_eq!(id, "POINT_20240501090307_AZ09AD");
        assert_eq!(id.len(), 27);
        assert!(valid_ordr_idxx(&id));
        let clamped = new_ordr_idxx(-5, 200, 255, 100, 99, 0, [1; 6]);
        assert_eq!(clamped, "POINT_00009999999900_BBBBBB");
        assert_eq!(new_ordr_idxx(123_456, 12, 31, 23, 59, 59, [9; 6]), "POINT_99991231235959_JJJJJJ");
    }

    #[test]
    fn ordr_idxx_validity_table() {
        let forty = "A".repeat(40);
        let forty_one = "A".repeat(41);
        let cases: &[(&str, bool)] = &[
            ("TEST1234567890", true),
            ("POINT_20240501090307_AZ09AD", true),
            ("a-b_C", true),
            (&forty, true),
            (&forty_one, false),
            ("", false),
            (" A1", false),
            ("A1 ", false),
            ("A.1", false),
            ("A/1", false),
            ("주문1", false),
            ("A1\n", false),
        ];
        for (s, want) in cases {
            assert_eq!(valid_ordr_idxx(s), *want, "{s:?}");
        }
    }
}
