//! Every SMM panel parser on arbitrary bytes: never a panic, and the error promises hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snspmt_core::upstream::smm::{self, AddReply, ParseError};

fn check(error: Option<ParseError>) {
    if let Some(ParseError::NotJson(snippet)) = error {
        assert!(snippet.chars().count() <= 120);
    }
}

fuzz_target!(|data: &[u8]| {
    check(smm::parse_services(data).err());
    match smm::parse_add(data) {
        Ok(AddReply::Accepted { order }) => assert!(!order.is_empty() && !order.contains(',')),
        Ok(AddReply::Rejected(_)) => {}
        Err(e) => check(Some(e)),
    }
    check(smm::parse_status(data).err());
    check(smm::parse_multi_status(data).err());
    check(smm::parse_balance(data).err());
    check(smm::parse_refill(data).err());
    check(smm::parse_cancel(data).err());
    check(smm::parse_refill_status(data).err());
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = smm::decimal_to_micros(text);
        let _ = smm::classify(text);
        let _ = smm::ServiceType::parse(text);
        let _ = smm::Status::parse(text);
        let _ = smm::RefillStatus::parse(text);
    }
});
