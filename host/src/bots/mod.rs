//! The bots a host serves: the registry of bot slots and routes, and the
//! folder watch that loads, reloads and retires them.

pub mod registry;
pub mod watch;
