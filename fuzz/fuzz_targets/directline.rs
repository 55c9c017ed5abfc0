//! Direct Line watermarks and tokens: parsing never panics, and no text is
//! taken for a token this host issued.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use turnbox::http::directline::api::parse_watermark;
use turnbox::channels::directline::tokens::TokenIssuer;

fuzz_target!(|data: &[u8]| {
    static ISSUER: OnceLock<TokenIssuer> = OnceLock::new();
    let issuer = ISSUER.get_or_init(|| TokenIssuer::new(b"the fuzzing key", 60));
    if let Ok(text) = std::str::from_utf8(data) {
        // An empty watermark means "from the start"; otherwise only a
        // non-negative integer is one.
        if let Ok(n) = parse_watermark(Some(text)) {
            let expected = if text.is_empty() { Some(0) } else { text.parse::<usize>().ok() };
            assert_eq!(expected, Some(n));
        }
        assert!(issuer.check(text).is_err(), "a forged token was accepted");
    }
});
