//! Every KCP JSON parser on arbitrary bytes: never a panic, and the error and settlement
//! promises hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snspmt_core::purchase::{self, ApprovalOutcome};
use snspmt_core::upstream::kcp::{self, ParseError};
use snspmt_core::Won;

fn check(error: Option<&ParseError>) {
    if let Some(ParseError::NotJson(snippet)) = error {
        assert!(snippet.chars().count() <= 120);
    }
}

fuzz_target!(|data: &[u8]| {
    let register = kcp::parse_register(data);
    check(register.as_ref().err());
    if let Ok(r) = &register {
        assert!(!r.code.is_empty());
        assert!(!r.is_success() || (r.approval_key.is_some() && r.pay_url.is_some()));
    }

    let approve = kcp::parse_approve(data);
    check(approve.as_ref().err());
    let expected = Won(1100);
    match purchase::approval_outcome(expected, approve.as_ref()) {
        ApprovalOutcome::Approved { amount, tno } => {
            let r = approve.as_ref().expect("approved without a parsed answer");
            assert!(r.is_success() && r.amount == Some(amount) && amount == expected.0 && !tno.is_empty());
        }
        ApprovalOutcome::Unknown { .. } => assert!(approve.is_err()),
        ApprovalOutcome::Declined { .. } | ApprovalOutcome::AmountMismatch { .. } => {}
        // Only an anonymous return's decline becomes `Refused`, never KCP's answer itself.
        ApprovalOutcome::Refused { .. } => panic!("approval_outcome answered Refused"),
    }
});
