//! Random identifiers: eTags, timer ids, activity ids, anonymous user ids.

/// A fresh random id (24 hex digits): unique without coordination, so an
/// eTag built from it is never reused, even after a delete.
pub fn random_id() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: the clock, which is unique enough within a
        // process.
        return format!("{:x}", super::clock::now_nanos());
    }
    hex::encode(bytes)
}
