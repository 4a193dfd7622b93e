//! Property tests of the KCP codec (`snspmt_core::upstream::kcp`, protocols §2) and of how an
//! approval settles a purchase (`snspmt_core::purchase`).
//!
//! The tables beside the code pin the documented samples; these properties cover the rest:
//!
//! 1. **No panic** (`*_never_panic*`): `parse_register`, `parse_approve` and
//!    `parse_return_form` + `kind` return for arbitrary bytes, for JSON-looking text, for
//!    form-looking text and for JSON values built from KCP's field names.
//! 2. **Round trips**: a `Ret_URL` form written by the percent-encoder below (UTF-8 or EUC-KR,
//!    `+` or `%20`, upper or lower hex, unknown fields, any order) parses back to its values;
//!    the request builders give JSON whose every value is the string that went in.
//! 3. **Money safety**: `approval_outcome` is `Approved` only for `res_cd` `0000`, a `tno`,
//!    and `amount == expected`, whatever KCP sends.
//! 4. **Ids**: `new_ordr_idxx` always makes a 27-character id `valid_ordr_idxx` accepts.
//!
//! Failures are not persisted to a `proptest-regressions/` file; a case worth keeping becomes a
//! plain `#[test]` at the end of this file.

use proptest::prelude::*;
use serde_json::{Map, Value};

use snspmt_core::purchase::{approval_outcome, ApprovalOutcome};
use snspmt_core::upstream::kcp::{
    self, ApproveRequest, ApproveResponse, ParseError, RegisterRequest, ReturnForm, ReturnKind,
};
use snspmt_core::Won;

/// Runs the default number of cases (`PROPTEST_CASES` overrides it) and writes no regression
/// files into the source tree.
fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// Feeds `body` to every parser and checks the promises their errors make. Only a panic or a
/// broken promise can fail this.
fn check_all(body: &[u8]) -> Result<(), TestCaseError> {
    let errors = [kcp::parse_register(body).err(), kcp::parse_approve(body).err()];
    for e in errors.into_iter().flatten() {
        match &e {
            ParseError::NotJson(snippet) => {
                prop_assert!(snippet.chars().count() <= 120, "snippet too long: {}", snippet.len());
            }
            ParseError::Empty => {
                prop_assert!(
                    body.iter().all(|b| b.is_ascii_whitespace()) || body.starts_with(b"\xEF\xBB\xBF")
                );
            }
            ParseError::UnexpectedShape(_) => {}
        }
    }
    if let Ok(r) = kcp::parse_register(body) {
        prop_assert!(!r.code.is_empty());
        prop_assert!(!r.is_success() || r.code == "0000");
    }
    if let Ok(r) = kcp::parse_approve(body) {
        prop_assert!(!r.res_cd.is_empty());
        prop_assert!(!matches!(r.amount, Some(a) if a < 0));
    }
    let form = kcp::parse_return_form(body);
    match form.kind() {
        ReturnKind::Authenticated => {
            prop_assert_eq!(form.res_cd.as_str(), "0000");
            prop_assert!(kcp::valid_ordr_idxx(&form.ordr_idxx));
            prop_assert!(!form.enc_data.trim().is_empty() && !form.enc_info.trim().is_empty());
            prop_assert!(!form.tran_cd.is_empty());
        }
        ReturnKind::Failed { code, .. } => prop_assert!(code != "0000" && code != "3001" && !code.is_empty()),
        ReturnKind::UserCanceled | ReturnKind::RegisterEcho | ReturnKind::Malformed => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Text made of JSON punctuation, KCP's field names and codes, and a little noise.
fn jsonish() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        4 => prop::sample::select(vec![
            "{", "}", "[", "]", ":", ",", "\"", " ", "\\", "-", ".", "e", "0", "1", "9", "null",
            "true", "false", "\"Code\"", "\"Message\"", "\"approvalKey\"", "\"PayUrl\"",
            "\"traceNo\"", "\"res_cd\"", "\"res_msg\"", "\"tno\"", "\"amount\"", "\"0000\"",
            "\"1100\"", "\"\\ud800\"", "정상처리", "\u{FEFF}", "\u{C1}", "\u{FF}",
        ])
        .prop_map(str::to_owned),
        1 => "[ -~]{0,4}",
    ];
    prop::collection::vec(atom, 0..64).prop_map(|parts| parts.concat())
}

/// Bytes made of form punctuation, the `Ret_URL` field names, escapes good and bad, and raw
/// high bytes.
fn formish() -> impl Strategy<Value = Vec<u8>> {
    let atom = prop_oneof![
        4 => prop::sample::select(vec![
            &b"&"[..], b"=", b"+", b"%", b"%2", b"%C1", b"%A4", b"%ZZ", b"%41", b"%FF", b"\xC1\xA4",
            b"\xFF", b"ordr_idxx", b"res_cd", b"res_msg", b"enc_data", b"enc_info", b"tran_cd",
            b"trace_no", b"use_pay_method", b"0000", b"3001", b"A1", b"00100000", b" ",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(atom, 0..48).prop_map(|parts| parts.concat())
}

/// KCP's field names, so generated objects hit the parsers' lookups.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "Code", "code", "Message", "approvalKey", "PayUrl", "traceNo", "paymentMethod", "res_cd",
            "res_msg", "tno", "amount", "order_no", "pay_method", "app_time", "card_name", "card_no",
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z_]{0,8}",
    ]
}

/// Any JSON value a little deep, with KCP's field names as keys.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        prop::sample::select(vec!["0000", " 0000 ", "3001", "1100", "-1", "1,100", "", "정상처리"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A `Ret_URL` field value: any text, Hangul-heavy text, or the short codes KCP sends.
fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        "[ 가-힣a-zA-Z0-9+/=.&%_-]{0,24}",
        prop::sample::select(vec!["", "0000", "3001", "00100000", "100000000000", " x ", "a+b=c&d"])
            .prop_map(str::to_owned),
    ]
}

/// Hangul syllables and ASCII, every one of which EUC-KR (windows-949) can encode.
fn hangul_text() -> impl Strategy<Value = String> {
    "[가-힣 a-zA-Z0-9.,]{0,24}"
}

/// A `Ret_URL` form of known values, plus unknown fields around them.
#[derive(Debug, Clone)]
struct Fields {
    ordr_idxx: String,
    res_cd: String,
    res_msg: String,
    enc_data: String,
    enc_info: String,
    tran_cd: String,
    trace_no: String,
    use_pay_method: String,
    extra: Vec<(String, String)>,
}

impl Fields {
    fn pairs(&self) -> Vec<(String, String)> {
        let known = [
            ("ordr_idxx", &self.ordr_idxx),
            ("res_cd", &self.res_cd),
            ("res_msg", &self.res_msg),
            ("enc_data", &self.enc_data),
            ("enc_info", &self.enc_info),
            ("tran_cd", &self.tran_cd),
            ("trace_no", &self.trace_no),
            ("use_pay_method", &self.use_pay_method),
        ];
        let mut pairs: Vec<(String, String)> =
            known.into_iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
        pairs.extend(self.extra.iter().cloned());
        pairs
    }

    /// What `parse_return_form` must read: every value but `enc_data`/`enc_info` trimmed.
    fn expected(&self) -> ReturnForm {
        ReturnForm {
            ordr_idxx: self.ordr_idxx.trim().to_owned(),
            res_cd: self.res_cd.trim().to_owned(),
            res_msg: self.res_msg.trim().to_owned(),
            enc_data: self.enc_data.clone(),
            enc_info: self.enc_info.clone(),
            tran_cd: self.tran_cd.trim().to_owned(),
            trace_no: self.trace_no.trim().to_owned(),
            use_pay_method: self.use_pay_method.trim().to_owned(),
        }
    }
}

fn fields() -> impl Strategy<Value = Fields> {
    let extra_name = prop::sample::select(vec!["good_mny", "buyr_name", "Ret_URL", "site_cd", "x", "RES_CD"]);
    (
        (field_value(), field_value(), field_value(), field_value()),
        (field_value(), field_value(), field_value(), field_value()),
        prop::collection::vec((extra_name.prop_map(str::to_owned), field_value()), 0..5),
    )
        .prop_map(
            |((ordr_idxx, res_cd, res_msg, enc_data), (enc_info, tran_cd, trace_no, upm), extra)| Fields {
                ordr_idxx,
                res_cd,
                res_msg,
                enc_data,
                enc_info,
                tran_cd,
                trace_no,
                use_pay_method: upm,
                extra,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// The reference encoder
// ---------------------------------------------------------------------------------------------

/// How the encoder below writes a form, as a browser might.
#[derive(Debug, Clone, Copy)]
struct Style {
    /// `+` for a space (else `%20`).
    plus: bool,
    /// Lower-case hex digits (else upper-case).
    lower: bool,
    /// Escape even the characters that need no escape.
    escape_all: bool,
}

/// `application/x-www-form-urlencoded` of raw bytes, written independently of the codec.
fn encode_bytes(bytes: &[u8], style: Style) -> String {
    let mut out = String::new();
    for &b in bytes {
        let plain = b.is_ascii_alphanumeric() || b"*-._".contains(&b);
        if b == b' ' && style.plus {
            out.push('+');
        } else if plain && !style.escape_all {
            out.push(char::from(b));
        } else if style.lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_form(pairs: &[(String, String)], style: Style) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_bytes(k.as_bytes(), style), encode_bytes(v.as_bytes(), style)))
        .collect::<Vec<_>>()
        .join("&")
}

fn style() -> impl Strategy<Value = Style> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(plus, lower, escape_all)| Style {
        plus,
        lower,
        escape_all,
    })
}

/// `body` parsed back as a JSON object whose every value is a string.
fn string_object(body: &str) -> Result<Map<String, Value>, TestCaseError> {
    let value: Value = serde_json::from_str(body).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let Value::Object(obj) = value else { return Err(TestCaseError::fail("not an object")) };
    prop_assert!(obj.values().all(Value::is_string), "{body}");
    Ok(obj)
}

fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parsers_never_panic_on_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        check_all(&body)?;
    }

    #[test]
    fn parsers_never_panic_on_jsonish(text in jsonish()) {
        check_all(text.as_bytes())?;
    }

    #[test]
    fn parsers_never_panic_on_formish(body in formish()) {
        check_all(&body)?;
    }

    #[test]
    fn parsers_never_panic_on_json_values(value in any_json()) {
        check_all(value.to_string().as_bytes())?;
    }

    #[test]
    fn return_form_round_trips(f in fields(), style in style(), shuffle in any::<prop::sample::Index>()) {
        let mut pairs = f.pairs();
        let n = pairs.len();
        pairs.rotate_left(shuffle.index(n));
        let body = encode_form(&pairs, style);
        prop_assert_eq!(kcp::parse_return_form(body.as_bytes()), f.expected(), "{}", body);
    }

    #[test]
    fn return_form_decodes_euc_kr(msg in hangul_text(), style in style()) {
        // "정상처리" starts with 0xC1, never valid UTF-8: the value is read as EUC-KR.
        let text = format!("정상처리{msg}");
        let (euc, _, unmappable) = encoding_rs::EUC_KR.encode(&text);
        prop_assert!(!unmappable);
        let body = format!("ordr_idxx=A1&res_cd=9999&res_msg={}", encode_bytes(&euc, style));
        let form = kcp::parse_return_form(body.as_bytes());
        prop_assert_eq!(&form.res_msg, text.trim());
        prop_assert_eq!(form.kind(), ReturnKind::Failed { code: "9999".into(), message: text.trim().to_owned() });
    }

    #[test]
    fn register_body_is_strings(
        site in field_value(), cert in "[-A-Za-z0-9+/= \r\n\\\\]{0,80}", id in field_value(), mny in any::<i64>(),
        name in field_value(), method in field_value(), url in field_value(), shop in field_value(),
    ) {
        let body = kcp::register_body(&RegisterRequest {
            site_cd: &site, kcp_cert_info: &cert, ordr_idxx: &id, good_mny: mny, good_name: &name,
            pay_method: &method, ret_url: &url, shop_name: &shop,
        });
        let obj = string_object(&body)?;
        prop_assert_eq!(obj.len(), 11);
        prop_assert_eq!(get(&obj, "site_cd"), Some(site.as_str()));
        prop_assert_eq!(get(&obj, "ordr_idxx"), Some(id.as_str()));
        let mny = mny.to_string();
        prop_assert_eq!(get(&obj, "good_mny"), Some(mny.as_str()));
        prop_assert_eq!(get(&obj, "good_name"), Some(name.as_str()));
        prop_assert_eq!(get(&obj, "pay_method"), Some(method.as_str()));
        prop_assert_eq!(get(&obj, "Ret_URL"), Some(url.as_str()));
        prop_assert_eq!(get(&obj, "shop_name"), Some(shop.as_str()));
        prop_assert_eq!(get(&obj, "currency"), Some("410"));
        let cert_line = get(&obj, "kcp_cert_info").unwrap_or("\n");
        prop_assert!(!cert_line.contains(['\n', '\r']), "{:?}", cert_line);
    }

    #[test]
    fn approve_body_is_strings(
        tran in field_value(), data in field_value(), info in field_value(), mony in any::<i64>(),
        method in field_value(), no in field_value(),
    ) {
        let pay_type = kcp::pay_type_for(&method);
        let body = kcp::approve_body(&ApproveRequest {
            site_cd: "T0000", kcp_cert_info: "-----BEGIN CERTIFICATE-----\\nMIID\\n-----END CERTIFICATE-----",
            tran_cd: &tran, enc_data: &data, enc_info: &info, ordr_mony: mony, pay_type, ordr_no: &no,
        });
        let obj = string_object(&body)?;
        prop_assert_eq!(obj.len(), 8);
        prop_assert_eq!(get(&obj, "tran_cd"), Some(tran.as_str()));
        prop_assert_eq!(get(&obj, "enc_data"), Some(data.as_str()));
        prop_assert_eq!(get(&obj, "enc_info"), Some(info.as_str()));
        let mony = mony.to_string();
        prop_assert_eq!(get(&obj, "ordr_mony"), Some(mony.as_str()));
        prop_assert_eq!(get(&obj, "ordr_no"), Some(no.as_str()));
        prop_assert!(["PACA", "PABK", "PAVC", "PAMC", "PATP", "PAGC"].contains(&pay_type));
        prop_assert_eq!(
            get(&obj, "kcp_cert_info"),
            Some("-----BEGIN CERTIFICATE-----MIID-----END CERTIFICATE-----")
        );
    }

    #[test]
    fn approved_only_for_the_expected_amount(
        expected in -2i64..3000,
        res_cd in prop::sample::select(vec!["0000", " 0000 ", "000", "00000", "3001", "8804", ""]),
        tno in prop::option::of(prop::sample::select(vec!["", " ", "23732987373372", "x"])),
        amount in prop::option::of(prop_oneof![Just(1100i64), -2i64..3000, any::<i64>()]),
    ) {
        let r = ApproveResponse {
            res_cd: res_cd.to_owned(),
            res_msg: String::new(),
            tno: tno.map(str::to_owned),
            amount,
            order_no: None,
            pay_method: None,
            app_time: None,
            card_name: None,
            card_no: None,
        };
        if let ApprovalOutcome::Approved { tno, amount: got } = approval_outcome(Won(expected), Ok(&r)) {
            prop_assert_eq!(got, expected);
            prop_assert_eq!(r.amount, Some(expected));
            prop_assert_eq!(res_cd.trim(), "0000");
            prop_assert!(!tno.trim().is_empty());
        }
    }

    #[test]
    fn approved_only_for_the_expected_amount_from_bytes(expected in 0i64..3000, value in any_json()) {
        let body = value.to_string();
        let parsed = kcp::parse_approve(body.as_bytes());
        let outcome = approval_outcome(Won(expected), parsed.as_ref());
        match (&outcome, &parsed) {
            (ApprovalOutcome::Approved { amount, .. }, Ok(r)) => {
                prop_assert_eq!(*amount, expected);
                prop_assert_eq!(r.amount, Some(expected));
                prop_assert!(r.is_success());
            }
            (ApprovalOutcome::Approved { .. }, Err(_)) => prop_assert!(false, "approved on {:?}", parsed),
            (ApprovalOutcome::Unknown { .. }, r) => prop_assert!(r.is_err()),
            _ => {}
        }
    }

    #[test]
    fn new_ids_are_valid(
        year in any::<i32>(), month in any::<u8>(), day in any::<u8>(), hour in any::<u8>(),
        minute in any::<u8>(), second in any::<u8>(), random in any::<[u8; 6]>(),
    ) {
        let id = kcp::new_ordr_idxx(year, month, day, hour, minute, second, random);
        prop_assert_eq!(id.len(), 27);
        prop_assert!(id.starts_with("POINT_"));
        prop_assert!(kcp::valid_ordr_idxx(&id), "{}", id);
        let suffix = &id[21..];
        prop_assert!(suffix.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{}", id);
    }

    #[test]
    fn new_ids_differ_by_random_part(a in any::<[u8; 6]>(), b in any::<[u8; 6]>()) {
        let reduce = |r: [u8; 6]| r.map(|x| x % 36);
        let id = |r| kcp::new_ordr_idxx(2024, 5, 1, 12, 0, 0, r);
        prop_assert_eq!(id(a) == id(b), reduce(a) == reduce(b));
    }
}

// ---------------------------------------------------------------------------------------------
// Kept cases
// ---------------------------------------------------------------------------------------------

#[test]
fn form_with_only_garbage_escapes() {
    let form = kcp::parse_return_form(b"%=%&%%%=%G&ordr_idxx=%E0%80%AF&res_cd=%00%0");
    assert_eq!(form.res_cd, "\0%0");
    assert_eq!(form.kind(), ReturnKind::Malformed);
}
