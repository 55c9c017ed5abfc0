//! A user's activity on its way to the bot through Direct Line: routed as
//! the channel routes it, logged in the conversation, then its turn run.
//! Shared by a posted activity (`api.rs`) and an upload (`upload.rs`).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::api::Caller;
use crate::bots::registry::BotSlot;
use crate::channels::connector::Outbound;
use crate::channels::directline::CHANNEL_ID;
use crate::channels::directline::conversations::Conversation;
use crate::http::app::{ApiError, AppState};
use crate::runtime::bot::BotVersion;
use crate::schema::activity::Activity;
use crate::turn::accept::{Reply, Retry, dispatch_kept, dispatch_or_accept, keep_with_log};
use crate::turn::dispatch::turn_span;

/// The conversation's bot, loaded.
pub(super) fn bot_of(
    state: &AppState,
    conversation: &Conversation,
) -> Result<(Arc<BotSlot>, Arc<BotVersion>), ApiError> {
    let slot = state
        .turns
        .registry
        .route(&conversation.bot)
        .ok_or_else(|| ApiError::bot_not_found("the conversation's bot is not loaded"))?;
    let version = slot
        .current()
        .ok_or_else(|| ApiError::bot_not_found("the conversation's bot is not loaded"))?;
    Ok((slot, version))
}

/// A user's activity on its way to the bot: routed as the channel routes
/// it, then logged, then its turn run (`post_activity`, and `upload.rs`
/// with the uploaded files as its attachments).
pub(super) struct Delivery {
    slot: Arc<BotSlot>,
    version: Arc<BotVersion>,
    activity: Activity,
    conversation: String,
    /// Its turn was kept with its log append (`log`).
    kept: bool,
}

impl Delivery {
    /// The activity with the channel's routing: the user is the token's
    /// (else `user`, else the activity's, else the conversation's), the
    /// recipient the conversation's bot, the rest this channel's.
    pub(super) fn prepare(
        state: &AppState,
        caller: &Caller,
        conversation: &Conversation,
        mut activity: Activity,
        user: Option<&str>,
    ) -> Result<Delivery, ApiError> {
        let (slot, version) = bot_of(state, conversation)?;
        let Some(service_url) = state.turns.directline.service_url(&conversation.id) else {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "NotReady",
                "the host is starting",
            ));
        };

        // As the real service does: the user is the token's, the routing is
        // the channel's.
        let mut from = activity.from.take().unwrap_or_default();
        if let Caller::Token(claims) = caller {
            from.id = claims.user.clone();
        } else if let Some(user) = user.filter(|u| !u.is_empty()) {
            from.id = user.to_owned();
        } else if from.id.is_empty() {
            from.id = conversation.user.clone();
        }
        from.role = Some("user".into());
        activity.from = Some(from);
        activity.recipient = Some(crate::schema::activity::ChannelAccount {
            id: conversation.bot.clone(),
            name: Some(conversation.bot.clone()),
            role: Some("bot".into()),
            ..Default::default()
        });
        activity.channel_id = Some(CHANNEL_ID.into());
        activity.service_url = Some(service_url);
        activity.conversation = Some(crate::schema::activity::ConversationAccount {
            id: conversation.id.clone(),
            ..Default::default()
        });
        activity.timestamp = Some(crate::support::clock::now_rfc3339());
        activity.id = None;
        activity.delivery_mode = None;
        activity.extra.remove("callerId");
        Ok(Delivery {
            slot,
            version,
            activity,
            conversation: conversation.id.clone(),
            kept: false,
        })
    }

    pub(super) fn activity_mut(&mut self) -> &mut Activity {
        &mut self.activity
    }

    /// Logs the user's activity in the conversation, its turn kept with it
    /// (`accept::keep_with_log`) unless it is typing or the request waits
    /// for the answer; returns its id. The user's own message is echoed in
    /// the stream with its server id (Web Chat waits for it, keyed by
    /// channelData.clientActivityID).
    pub(super) async fn log(
        &mut self,
        state: &AppState,
    ) -> Result<String, crate::storage::StorageError> {
        let logged = serde_json::to_value(&self.activity)
            .map_err(|e| crate::storage::StorageError::Backend(e.to_string()))?;
        let keep = keep_with_log(
            &state.turns,
            &self.slot,
            &self.version,
            &self.activity,
            &Outbound::Internal,
        );
        let (id, kept) = state
            .turns
            .directline
            .conversations
            .append_from_user(&self.conversation, logged, keep)
            .await?;
        self.kept = kept;
        crate::support::faults::point("after-log");
        Ok(id)
    }

    /// Runs the logged activity's turn; answers `{id}`, or the turn's
    /// failure.
    pub(super) async fn run(
        mut self,
        state: &AppState,
        activity_id: String,
    ) -> Result<Response, ApiError> {
        self.activity.id = Some(activity_id.clone());
        let span = turn_span(&self.slot.name, &self.activity, self.activity.kind());
        let (slot, activity) = (self.slot.clone(), Arc::new(self.activity));
        let reply = if self.kept {
            dispatch_kept(
                &state.turns,
                slot,
                self.version,
                activity,
                Outbound::Internal,
            )
            .instrument(span)
            .await
        } else {
            dispatch_or_accept(
                &state.turns,
                slot,
                self.version,
                activity,
                Outbound::Internal,
                Retry::ByHost,
            )
            .instrument(span)
            .await
        };
        let result = match reply {
            Reply::Ended(result) => result.map(|_| ()),
            // A long turn: its replies arrive in the conversation as it goes.
            Reply::Accepted => Ok(()),
        };
        result
            .map(|()| axum::Json(json!({"id": activity_id})).into_response())
            .map_err(ApiError::turn_failed)
    }
}
