//! The manifest parser never panics; what it accepts yields limits and an
//! instance policy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use turnbox::schema::manifest::{BotDefaults, Manifest};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(manifest) = Manifest::parse(text)
    {
        let _ = manifest.limits(&BotDefaults::default());
        assert!(manifest.instance_policy().is_ok());
        let _ = turnbox::runtime::bot::state_quota(&manifest);
    }
});
