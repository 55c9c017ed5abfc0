//! Reading an `Authorization` header (bearer JWT, header and claims)
//! never panics, whatever the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = turnbox::auth::inbound::inspect(text);
        let _ = turnbox::auth::inbound::inspect(&format!("Bearer {text}"));
    }
});
