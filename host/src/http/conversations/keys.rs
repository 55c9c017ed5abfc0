//! API keys: the host-wide key (`--api-key`), and each bot's own
//! (`[api] keys` in its manifest, carried by its loaded version), compared
//! in constant time (`subtle`) and never logged.

use subtle::ConstantTimeEq;

use crate::runtime::bot::BotVersion;

/// Whether `presented` is `key`, in time independent of where they differ.
pub fn same_key(presented: &str, key: &str) -> bool {
    // `ct_eq` on slices of unequal length is false without comparing; the
    // length of a key is not the secret.
    bool::from(presented.as_bytes().ct_eq(key.as_bytes()))
}

/// Whether `presented` is one of `version`'s own keys (`[api] keys`).
pub fn opens(version: &BotVersion, presented: &str) -> bool {
    // Every key is compared: no early exit on a match.
    version.api_keys.iter().fold(false, |found, key| {
        found | same_key(presented, key.expose())
    })
}

#[cfg(test)]
mod tests {
    use super::same_key;

    #[test]
    fn keys_compare_whole() {
        assert!(same_key("0123456789abcdef", "0123456789abcdef"));
        assert!(!same_key("0123456789abcdeF", "0123456789abcdef"));
        assert!(!same_key("0123456789abcde", "0123456789abcdef"));
        assert!(!same_key("", "0123456789abcdef"));
    }
}
