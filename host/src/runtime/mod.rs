//! Running bots as WebAssembly components: the engine and its compute
//! lanes, the compile cache, one loaded bot version, warm instances, one
//! turn in its store under its limits, the host side of each WIT interface
//! a bot imports, and the policy of bots' outbound HTTP (`http/`). Knows
//! nothing of the host's own HTTP server or of middleware.

pub mod bot;
pub mod cache;
pub mod compute_lanes;
pub mod engine;
pub mod entry;
pub mod guest_log;
mod host;
pub mod http;
pub mod instances;
pub mod outgoing;
pub mod run;
pub mod scopes;
pub mod store;
pub mod turn;

pub use host::skills::SkillCalls;
