//! Turn processing without HTTP: whoever asks (a channel's request, Direct
//! Line, the admin API, a timer) gets a turn admitted, de-duplicated, run
//! through the middleware to a committed end, and its answer as data; the
//! replies it held back for its commit are posted from the outbox
//! (`outbox.rs`, and `relay.rs` for whatever is left behind). A channel's
//! request may be answered before its turn ends (`accept.rs`); such turns
//! are kept until over, and resumed if their host stops (`resume.rs`).
//! What a root bot's skills send back is served by `skill_host.rs`.

pub mod accept;
pub mod answer;
pub mod attempts;
pub mod dedup;
pub mod dispatch;
pub mod middleware;
pub mod outbox;
pub mod relay;
pub mod resume;
pub mod scheduler;
pub mod services;
pub mod skill_host;
