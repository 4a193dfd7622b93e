//! The `Ret_URL` form parser on arbitrary bytes: never a panic, and what `kind` promises holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snspmt_core::upstream::kcp::{self, ReturnKind};

fuzz_target!(|data: &[u8]| {
    let form = kcp::parse_return_form(data);
    match form.kind() {
        ReturnKind::Authenticated => {
            assert_eq!(form.res_cd, "0000");
            assert!(kcp::valid_ordr_idxx(&form.ordr_idxx));
            assert!(!form.enc_data.trim().is_empty() && !form.enc_info.trim().is_empty());
            assert!(!form.tran_cd.is_empty());
        }
        ReturnKind::Failed { code, .. } => assert!(!code.is_empty() && code != "0000" && code != "3001"),
        ReturnKind::UserCanceled => assert_eq!(form.res_cd, "3001"),
        ReturnKind::RegisterEcho => assert!(form.enc_info.trim().is_empty()),
        ReturnKind::Malformed => {}
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = kcp::valid_ordr_idxx(text);
        let _ = kcp::pay_type_for(text);
        let _ = kcp::normalize_cert(text);
    }
});
