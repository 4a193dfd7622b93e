//! Client-supplied text through the validators: never a panic; accepted values re-validate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snspmt_core::validate;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(id) = validate::user_id(s) {
        assert!(id.len() <= validate::MAX_USER_ID_LEN);
    }
    if let Ok(e) = validate::email(s) {
        assert_eq!(validate::email(&e).as_deref(), Ok(e.as_str()));
    }
    let _ = validate::password(s);
    let _ = validate::short_text("name", s);
    let _ = validate::description(s);
});
