//! Property tests of the SMM panel codec (`snspmt_core::upstream::smm`, protocols §1).
//!
//! The tables beside the code pin the documented samples; these properties cover the rest:
//!
//! 1. **No panic** (`*_never_panic*`): every parser returns `Ok` or `Err` for arbitrary bytes,
//!    for JSON-looking text, and for arbitrary JSON values built from the panel's field names.
//! 2. **Models** (`*_read_back`): a reply generated from known values, with every number written
//!    in one of the loose ways a panel may use (integer, numeric string, padded string), parses
//!    back to exactly those values.
//! 3. **Oracles**: `encode_form` round-trips through the independent decoder below, and
//!    `decimal_to_micros` agrees with a reference written with `u128` and string slicing.
//! 4. **Builders**: `add_form` never sends `runs`/`interval` without a drip, and the bulk
//!    builders accept exactly 1..=100 ids.
//!
//! Failures are not persisted to a `proptest-regressions/` file; a case worth keeping becomes a
//! plain `#[test]` at the end of this file.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use snspmt_core::upstream::smm::{
    self, AddOrder, AddReply, Drip, ErrorClass, OrderStatus, ParseError, ServiceType, Status, MAX_BULK,
};

/// Runs the default number of cases (`PROPTEST_CASES` overrides it) and writes no regression
/// files into the source tree.
fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// Feeds `body` to every parser. Only a panic can fail this.
fn parse_all(body: &[u8]) {
    let _ = smm::parse_services(body);
    let _ = smm::parse_add(body);
    let _ = smm::parse_status(body);
    let _ = smm::parse_multi_status(body);
    let _ = smm::parse_balance(body);
    let _ = smm::parse_refill(body);
    let _ = smm::parse_cancel(body);
    let _ = smm::parse_refill_status(body);
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = smm::decimal_to_micros(text);
        let _ = smm::classify(text);
        let _ = ServiceType::parse(text);
        let _ = Status::parse(text);
        let _ = smm::RefillStatus::parse(text);
    }
}

/// Checks the promises every parser makes about its errors, whatever the input.
fn check_errors(body: &[u8]) -> Result<(), TestCaseError> {
    let errors = [
        smm::parse_services(body).err(),
        smm::parse_add(body).err(),
        smm::parse_status(body).err(),
        smm::parse_multi_status(body).err(),
        smm::parse_balance(body).err(),
        smm::parse_refill(body).err(),
        smm::parse_cancel(body).err(),
        smm::parse_refill_status(body).err(),
    ];
    for e in errors.into_iter().flatten() {
        if let ParseError::NotJson(snippet) = &e {
            prop_assert!(snippet.chars().count() <= 120, "snippet too long: {}", snippet.len());
        }
        if e == ParseError::Empty {
            prop_assert!(body.iter().all(|b| b.is_ascii_whitespace()) || body.starts_with(b"\xEF\xBB\xBF"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Text made of JSON punctuation, digits, the panel's words and a little noise: most of it is
/// nearly-valid JSON, which reaches much deeper into the parsers than random bytes do.
fn jsonish() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        4 => prop::sample::select(vec![
            "{", "}", "[", "]", ":", ",", "\"", " ", "\\", "-", ".", "e", "0", "1", "9",
            "null", "true", "false", "\"order\"", "\"error\"", "\"status\"", "\"charge\"",
            "\"remains\"", "\"refill\"", "\"cancel\"", "\"service\"", "\"services\"", "\"rate\"",
            "\"min\"", "\"max\"", "\"balance\"", "\"Partial\"", "\"Cancelled\"", "\"1\"", "\"-2\"",
            "\"0.90\"", "1e400", "18446744073709551616", "\"\\ud800\"", "한", "\u{FEFF}",
        ])
        .prop_map(str::to_owned),
        1 => "[ -~]{0,4}",
    ];
    prop::collection::vec(atom, 0..64).prop_map(|parts| parts.concat())
}

/// The panel's field names, plus a few ids, so generated objects hit the parsers' lookups.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "order", "error", "status", "charge", "start_count", "remains", "currency", "refill",
            "cancel", "service", "service_id", "id", "services", "name", "type", "category",
            "rate", "min", "max", "dripfeed", "balance", "message", "1", "10", "100",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z0-9]{0,6}",
    ]
}

/// Any JSON value a little deep, with the panel's field names as keys.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        "[ -~]{0,12}".prop_map(Value::from),
        prop::sample::select(vec!["Partial", "Cancelled", "In progress", "0.90", " 12 ", "-2", "1e-7", ""])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An integer written the way a panel might (`style` picks): a JSON integer, a string, or a
/// padded string.
fn loose(n: impl ToString + Into<Value>, style: u8) -> Value {
    match style % 3 {
        0 => n.into(),
        1 => Value::from(n.to_string()),
        _ => Value::from(format!(" {} ", n.to_string())),
    }
}

/// A decimal amount as text with 0..=8 decimals, and its exact value in units of 10^-8.
fn decimal_text() -> impl Strategy<Value = String> {
    (0..=1_000_000_000u64, 0..=8usize, any::<u64>()).prop_map(|(int, places, frac)| {
        if places == 0 {
            int.to_string()
        } else {
            let frac = frac % 10u64.pow(places as u32);
            format!("{int}.{frac:0places$}")
        }
    })
}

/// The service types the catalogue model uses, picked by `style % 3`.
const TYPES: [ServiceType; 3] = [ServiceType::Default, ServiceType::Package, ServiceType::CustomComments];

fn status_text() -> impl Strategy<Value = (String, Status)> {
    prop::sample::select(vec![
        ("Pending", Status::Pending),
        ("In progress", Status::InProgress),
        ("Processing", Status::Processing),
        ("Completed", Status::Completed),
        ("Partial", Status::Partial),
        ("Canceled", Status::Canceled),
        ("Cancelled", Status::Canceled),
        ("Refunded", Status::Other("Refunded".into())),
    ])
    .prop_map(|(text, status)| (text.to_owned(), status))
}

// ---------------------------------------------------------------------------------------------
// The reference implementations
// ---------------------------------------------------------------------------------------------

/// An `application/x-www-form-urlencoded` decoder that shares no code with `encode_form`.
fn decode_form(body: &str) -> Option<Vec<(String, String)>> {
    if body.is_empty() {
        return Some(Vec::new());
    }
    body.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((unescape(k)?, unescape(v)?))
        })
        .collect()
}

fn unescape(s: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'+' => {
                bytes.push(b' ');
                rest = tail;
            }
            b'%' => {
                let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &tail[2..];
            }
            _ => {
                bytes.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

/// `decimal_to_micros` restated: split the trimmed text at the point, pad or cut the fraction
/// to six digits with string operations, add one if anything non-zero was cut, and do the sum
/// in `u128`.
fn micros_reference(s: &str) -> Option<u64> {
    let s = s.trim();
    let mut parts = s.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next().unwrap_or("");
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    let int = int.trim_start_matches('0');
    if int.len() > 30 {
        return None;
    }
    let whole: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let kept: String = format!("{frac:0<6}").chars().take(6).collect();
    let cut = frac.chars().skip(6).any(|c| c != '0');
    let total = whole * 1_000_000 + kept.parse::<u128>().ok()? + u128::from(cut);
    u64::try_from(total).ok()
}

/// Decimal-looking text, including the edges of the `u64` range and over-long fractions.
fn decimal_like() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9]{0,22}(\\.[0-9]{0,12})?",
        2 => "(0|1|18446744073709|18446744073708|18446744073710)\\.[0-9]{0,9}",
        1 => " {0,2}[0-9]{1,5}(\\.[0-9]{1,8})? {0,2}",
        1 => "[-+.eE0-9 ,]{0,12}",
        1 => any::<String>(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parsers_never_panic_on_bytes(body in prop::collection::vec(any::<u8>(), 0..1024)) {
        parse_all(&body);
        check_errors(&body)?;
    }

    #[test]
    fn parsers_never_panic_on_jsonish_text(text in jsonish()) {
        parse_all(text.as_bytes());
        check_errors(text.as_bytes())?;
    }

    #[test]
    fn parsers_never_panic_on_json_values(value in any_json()) {
        let body = value.to_string();
        parse_all(body.as_bytes());
        check_errors(body.as_bytes())?;
        // A well-formed JSON value is never Empty or NotJson.
        let errors = [smm::parse_add(body.as_bytes()).err(), smm::parse_cancel(body.as_bytes()).err()];
        for e in errors.into_iter().flatten() {
            prop_assert!(matches!(e, ParseError::UnexpectedShape(_)), "{e:?} for {body}");
        }
    }

    #[test]
    fn add_reply_read_back(order in 1..=u64::MAX, as_string in any::<bool>(), message in "[ -~]{1,40}") {
        let body = if as_string { json!({ "order": order.to_string() }) } else { json!({ "order": order }) };
        prop_assert_eq!(
            smm::parse_add(body.to_string().as_bytes()),
            Ok(AddReply::Accepted { order: order.to_string() })
        );
        let body = json!({ "error": message }).to_string();
        match smm::parse_add(body.as_bytes()) {
            Ok(AddReply::Rejected(e)) => {
                prop_assert_eq!(&e.message, message.trim());
                prop_assert_eq!(e.class, smm::classify(&message));
            }
            Err(ParseError::UnexpectedShape(_)) => prop_assert!(message.trim().is_empty()),
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn status_read_back(
        (text, status) in status_text(),
        charge in decimal_text(),
        start in 0..=10_000_000i64,
        remains in -1_000..=1_000_000i64,
        styles in any::<(u8, u8)>(),
        currency in prop::sample::select(vec!["USD", "KRW", "EUR"]),
    ) {
        let body = json!({
            "charge": charge, "start_count": loose(start, styles.0), "status": text,
            "remains": loose(remains, styles.1), "currency": currency, "desc": "ignored",
        });
        let want = OrderStatus {
            status: status.clone(),
            charge: Some(charge.clone()),
            start_count: Some(start),
            remains: Some(remains),
            currency: Some(currency.to_owned()),
        };
        prop_assert_eq!(smm::parse_status(body.to_string().as_bytes()), Ok(Ok(want.clone())));
        // The same entry inside a multi-status reply, next to an inline error.
        let multi = json!({ "7": body, "8": { "error": "Incorrect order ID" } });
        let got = smm::parse_multi_status(multi.to_string().as_bytes())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got.len(), 2);
        prop_assert_eq!(&got[0], &("7".to_owned(), Ok(want)));
        prop_assert_eq!(got[1].1.as_ref().map_err(|e| e.class), Err(ErrorClass::Definitive));
    }

    #[test]
    fn services_read_back(
        items in prop::collection::vec(
            (
                1..=1_000_000u64,
                decimal_text(),
                0..=1_000u64,
                1_000..=10_000_000u64,
                any::<(bool, bool, Option<bool>)>(),
                0..6u8,
            ),
            0..8,
        ),
        wrapped in any::<bool>(),
    ) {
        let mut json_items = Vec::new();
        let mut want = Vec::new();
        for (id, rate, min, max, (refill, cancel, drip), style) in items {
            let id_value = loose(id, style);
            let min_value = loose(min, style / 3 + (id % 3) as u8);
            let type_name = ["Default", "Package", "Custom Comments"][usize::from(style % 3)];
            let mut item = json!({
                "service": id_value, "name": format!("Service {id} ❤"), "type": type_name,
                "category": "Cat", "rate": rate, "min": min_value, "max": max.to_string(),
                "refill": refill, "cancel": if cancel { json!(1) } else { json!("0") },
                "average_time": "5 min",
            });
            if let Some(drip) = drip {
                item["dripfeed"] = json!(drip);
            }
            json_items.push(item);
            want.push((
                id.to_string(),
                TYPES[usize::from(style % 3)].clone(),
                micros_reference(&rate),
                min,
                max,
                (refill, cancel, drip.unwrap_or(false)),
            ));
        }
        let body = if wrapped { json!({ "services": json_items }) } else { Value::Array(json_items) };
        let got = smm::parse_services(body.to_string().as_bytes())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got: Vec<_> = got
            .into_iter()
            .map(|s| {
                let flags = (s.refill, s.cancel, s.dripfeed);
                (s.service, s.service_type, Some(s.rate_micros), s.min, s.max, flags)
            })
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn encode_form_round_trips(
        fields in prop::collection::vec(
            (
                prop::sample::select(vec!["key", "action", "comments", "link", "a b", "x&y=z", "한"]),
                any::<String>(),
            ),
            0..6,
        ),
    ) {
        let form: smm::Form = fields;
        let body = smm::encode_form(&form);
        prop_assert!(
            body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%+=&".contains(&b)),
            "unexpected byte in {}", body
        );
        let decoded = decode_form(&body);
        let want: Vec<(String, String)> = form.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        prop_assert_eq!(decoded, Some(want));
    }

    #[test]
    fn decimal_to_micros_matches_reference(text in decimal_like()) {
        prop_assert_eq!(smm::decimal_to_micros(&text), micros_reference(&text), "{:?}", text);
    }

    #[test]
    fn decimal_to_micros_reads_back_every_u64(
        micros in any::<u64>(),
        tail in "[0-9]{0,6}",
        nonzero in 1..=9u8,
    ) {
        let text = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
        prop_assert_eq!(smm::decimal_to_micros(&text), Some(micros));
        // Digits beyond the sixth place round up, zeros do not.
        prop_assert_eq!(smm::decimal_to_micros(&format!("{text}000")), Some(micros));
        prop_assert_eq!(smm::decimal_to_micros(&format!("{text}{tail}{nonzero}")), micros.checked_add(1));
    }

    #[test]
    fn add_form_sends_runs_only_with_drip(
        type_index in 0..ServiceType::KNOWN.len(),
        quantity in 0..=100_000u64,
        drip in proptest::option::of((0..=100u32, 0..=2_000u32)),
        comments in proptest::option::of("[a-z \r\n]{0,20}"),
    ) {
        let service_type = ServiceType::KNOWN[type_index].clone();
        let order = AddOrder {
            service: "12",
            service_type: &service_type,
            link: "https://example.com/p/1",
            quantity,
            comments: comments.as_deref(),
            drip: drip.map(|(runs, interval)| Drip { runs, interval }),
            params: &smm::NO_PARAMS,
        };
        if let Ok(form) = smm::add_form("key", &order) {
            let names: Vec<&str> = form.iter().map(|(k, _)| *k).collect();
            prop_assert_eq!(&names[..3], &["key", "action", "service"][..]);
            prop_assert_eq!(names.contains(&"runs"), drip.is_some());
            prop_assert_eq!(names.contains(&"interval"), drip.is_some());
            prop_assert_eq!(names.contains(&"quantity"), service_type.takes_quantity());
            prop_assert_eq!(names.contains(&"comments"), service_type.takes_comments());
            prop_assert!(drip.is_none() || service_type.supports_dripfeed());
            if let Some(c) = &comments {
                if service_type.takes_comments() {
                    prop_assert_eq!(&form[form.len() - 1].1, c);
                }
            }
        }
    }

    #[test]
    fn bulk_forms_accept_one_to_a_hundred_ids(n in 0..=150usize) {
        let ids: Vec<String> = (1..=n).map(|i| (i * 7).to_string()).collect();
        let ok = (1..=MAX_BULK).contains(&n);
        let status = smm::multi_status_form("key", &ids);
        let cancel = smm::cancel_form("key", &ids);
        prop_assert_eq!(status.is_ok(), ok);
        prop_assert_eq!(cancel.is_ok(), ok);
        if let Ok(form) = status {
            prop_assert_eq!(&form[2].1, &ids.join(","));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kept cases
// ---------------------------------------------------------------------------------------------

#[test]
fn reference_agrees_on_the_documented_rates() {
    for (text, micros) in [("0.90", 900_000), ("8", 8_000_000), ("1.234567891", 1_234_568)] {
        assert_eq!(micros_reference(text), Some(micros));
        assert_eq!(smm::decimal_to_micros(text), Some(micros));
    }
}

#[test]
fn decoder_reads_the_documented_encoding() {
    assert_eq!(
        decode_form("key=a+b&comments=x%0D%0Ay"),
        Some(vec![("key".into(), "a b".into()), ("comments".into(), "x\r\ny".into())])
    );
}

/// A raw value for a type parameter: integers, blanks, lists, junk.
fn raw_param() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..=20u64).prop_map(|n| n.to_string()),
        Just(String::new()),
        "[a-z#@ \r\n]{0,30}",
        "[0-9/]{0,12}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// `check_params` never panics; what it accepts, `add_form` sends: exactly the type's
    /// parameters that apply (never one of another type), with a link and a quantity where the
    /// type takes them.
    #[test]
    fn checked_params_are_what_add_form_sends(
        type_index in 0..ServiceType::KNOWN.len(),
        values in proptest::collection::vec(proptest::option::of(raw_param()), 19),
    ) {
        let service_type = ServiceType::KNOWN[type_index].clone();
        let names = ServiceType::all_param_names();
        prop_assert_eq!(names.len(), values.len());
        let given: smm::OrderParams =
            names.iter().zip(&values).filter_map(|(n, v)| Some((*n, v.clone()?))).collect();
        let Ok(checked) = smm::check_params(&service_type, &given) else { return Ok(()) };
        let spec = service_type.spec().expect("known");
        let order = AddOrder {
            service: "1",
            service_type: &service_type,
            link: "https://example.com/p/1",
            quantity: 5,
            comments: None,
            drip: None,
            params: &checked.params,
        };
        let form = smm::add_form("key", &order).expect("checked parameters build");
        let sent: Vec<&str> = form.iter().map(|(k, _)| *k).skip(3).collect();
        for name in &sent {
            prop_assert!(
                ["link", "quantity"].contains(name) || spec.params.iter().any(|p| p.name == *name),
                "{} sent {}", service_type, name
            );
        }
        prop_assert_eq!(sent.contains(&"link"), spec.link);
        prop_assert_eq!(sent.contains(&"quantity"), service_type.takes_quantity());
        prop_assert_eq!(sent.len() - usize::from(spec.link) - usize::from(service_type.takes_quantity()), checked.params.len());
        if let smm::QuantityRule::LinesOf(_) | smm::QuantityRule::MaxTimesPosts = spec.quantity {
            prop_assert!(checked.quantity.is_some_and(|q| q >= 1));
        }
    }
}
