//! End-to-end tests: the real `turnbox` binary on a real port, real bots
//! built from `guest-examples/`, and a stand-in Bot Connector that records
//! what the host sends.

mod support;

mod api_conversations_suite;
mod auth;
mod bad_input;
mod browser;
mod commit_suite;
mod connector_api;
mod conversations;
mod conversations_api;
mod conversations_api_access;
mod conversations_api_hosts;
mod conversations_api_sessions;
mod deliveries;
mod dialog_conflicts;
mod dialog_transcripts;
mod dialogs_js;
mod dialogs_python;
mod dialogs_rust;
mod directline;
mod durability;
mod echo_samples;
mod exactly_once;
mod hostile_bots;
mod hot_reload;
mod idp_standin;
mod instances;
mod isolation;
mod languages;
mod llm_chat;
mod llm_chat_rs;
mod long_turns;
mod managed_identity;
mod manifests;
mod memory_pools;
mod misbehaving_bots;
mod model_standin;
mod oauth_dialog;
mod operations;
mod outbound_http;
mod postgres;
mod scaffold;
mod signin;
mod skills;
mod slow_clients;
mod state;
mod storage_suite;
mod streaming_sdks;
mod telemetry;
mod tiered_compile;
mod token_service_standin;
mod turn_path;
mod uploads;
mod uploads_suite;
