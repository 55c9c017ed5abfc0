//! The operator's view: `GET /api/bots` (every bot in the folder, its
//! version, state, limits and turn counts) and `GET /metrics`. Secrets
//! (passwords, config values) never appear here.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::bots::registry::BotSlot;
use crate::http::app::AppState;
use crate::runtime::bot::BotVersion;

fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

fn describe(slot: &BotSlot) -> Value {
    let (ok, failed, timed_out, rejected) = slot.counters.get();
    let last_error = slot
        .last_error()
        .map(|e| json!({"at": time(e.at), "message": e.message}));
    let mut bot = json!({
        "name": slot.name,
        "state": "failed",
        "lastError": last_error,
        "turns": {"ok": ok, "failed": failed, "timedOut": timed_out, "rejected": rejected},
        "activeConversations": slot.conversations.active(),
    });
    if let Some(version) = slot.current() {
        let credentials = &version.credentials;
        let fields = json!({
            "state": "serving",
            "route": version.route,
            "version": version.version(),
            "sha256": version.sha256,
            "loadedAt": time(version.loaded_at),
            "compileCache": version.cache.label(),
            "limits": version.limits,
            "credentials": {
                "appId": credentials.app_id,
                "appType": credentials.app_type,
                "tenantId": credentials.tenant_id,
                "hasPassword": credentials.app_password.is_some(),
            },
            "configKeys": version.config.keys().collect::<Vec<_>>(),
            "exports": version.pre.handler(),
            "instances": instances(&version),
        });
        if let (Some(bot), Some(fields)) = (bot.as_object_mut(), fields.as_object()) {
            bot.extend(fields.clone());
        }
    }
    bot
}

/// The bot's instance policy, the memory pool its instances come from
/// (`runtime/engine.rs`) and, when pooled, its warm instances.
fn instances(version: &BotVersion) -> Value {
    let mut shown = json!(version.instance_policy);
    if let Some(shown) = shown.as_object_mut() {
        shown.insert("memoryPool".into(), version.memory_pool.into());
    }
    if let (Some(shown), Some(pool)) = (shown.as_object_mut(), &version.pool)
        && let Some(status) = json!(pool.status()).as_object()
    {
        shown.extend(status.clone());
    }
    shown
}

/// `GET /api/bots`.
pub async fn bots(State(state): State<Arc<AppState>>) -> Response {
    let bots: Vec<Value> = state
        .turns
        .registry
        .slots()
        .iter()
        .map(|slot| describe(slot))
        .collect();
    axum::Json(json!({ "bots": bots })).into_response()
}

/// `GET /metrics`, in the OpenMetrics text format.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.turns.metrics.encode(),
    )
        .into_response()
}
