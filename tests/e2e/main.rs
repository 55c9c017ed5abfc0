//! End-to-end tests: the real `turnbox` binary on a real port, real bots
//! built from `guest-examples/`, and a stand-in Bot Connector that records
//! what the host sends.

mod support;

mod bad_input;
mod misbehaving_bots;
mod turn_path;
