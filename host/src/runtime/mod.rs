//! Running bots as WebAssembly components: the engine and its compute
//! lanes, the compile cache, one loaded bot version, warm instances, one
//! turn in its store under its limits, and the host side of each WIT
//! interface a bot imports. Knows nothing of HTTP or of middleware.

pub mod bot;
pub mod cache;
pub mod compute_lanes;
pub mod engine;
pub mod guest_log;
mod host;
pub mod instances;
pub mod outgoing;
pub mod run;
pub mod scopes;
pub mod store;
pub mod turn;
