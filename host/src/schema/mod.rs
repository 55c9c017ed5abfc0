//! The formats turnbox reads and writes: the Bot Framework activity JSON
//! (`activity`), the host-side types generated from the WIT world
//! (`bindings`), and the bot manifest `NAME.toml` (`manifest`, with its
//! `[http]` section in `outbound`).

pub mod activity;
pub mod bindings;
pub mod manifest;
pub mod outbound;
