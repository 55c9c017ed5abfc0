//! turnbox: a WebAssembly bot runtime that speaks the Bot Framework activity
//! protocol. See `docs/ARCHITECTURE.md` for the request path.

pub mod activity;
pub mod admin;
pub mod attempts;
pub mod auth;
pub mod bindings;
pub mod bot;
pub mod cache;
pub mod chat_page;
pub mod compute_lanes;
pub mod config;
pub mod connector;
pub mod dedup;
pub mod directline;
pub mod dispatch;
pub mod engine;
pub mod guest_log;
pub mod http_server;
pub mod ingress;
pub mod instances;
pub mod manifest;
pub mod metrics;
pub mod middleware;
pub mod offline;
pub mod ordering;
pub mod registry;
pub mod replay;
pub mod scaffold;
pub mod scheduler;
pub mod server;
pub mod state;
pub mod status;
pub mod storage;
pub mod terminal_chat;
pub mod turn;
pub mod watch;
