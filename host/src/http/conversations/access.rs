//! Who may call the conversations API, and on what: the host-wide key
//! (every bot), a bot's own key (that bot's conversations), a session
//! token (one conversation's send, receive, complete and message list),
//! or, with no host-wide key configured, a caller on this machine
//! (`http::trust`), which is the operator and reaches every bot.

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode, header};

use super::sessions::{SessionClaims, SessionError};
use crate::http::app::{ApiError, AppState};
use crate::storage::api_conversations::ApiConversation;

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The host-wide key, or a trusted local caller: every bot.
    Operator,
    /// A bot's own key: that bot (its route).
    Bot(String),
    /// A session token: one conversation.
    Session(SessionClaims),
}

/// What a route lets a session do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    /// Send, receive, complete, the message list, refresh.
    Allowed,
    /// Everything else: keys only.
    Refused,
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
}

pub fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Who the request is from; 401 without credentials where they are
/// needed, 403 for credentials that open nothing.
pub fn caller(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> Result<Caller, ApiError> {
    let api = &state.api;
    let Some(presented) = bearer(headers) else {
        if api.key.is_none() && crate::http::trust::local_and_same_origin(state, headers, peer) {
            return Ok(Caller::Operator);
        }
        return Err(unauthorized(
            "the conversations API needs `Authorization: Bearer <API key or session token>`",
        ));
    };
    if api
        .key
        .as_deref()
        .is_some_and(|key| super::keys::same_key(presented, key))
    {
        return Ok(Caller::Operator);
    }
    match api.sessions.check(presented) {
        Ok(claims) => return Ok(Caller::Session(claims)),
        Err(SessionError::Expired) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "TokenExpired",
                "the session token has expired",
            ));
        }
        Err(_) => {}
    }
    for slot in state.turns.registry.slots() {
        if let Some(version) = slot.current()
            && super::keys::opens(&version, presented)
        {
            return Ok(Caller::Bot(version.route.clone()));
        }
    }
    Err(forbidden("the key or token is not valid"))
}

impl Caller {
    /// May this caller reach `bot`'s conversations at all (creating,
    /// listing)?
    pub fn reaches_bot(&self, bot: &str) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Bot(route) if route == bot => Ok(()),
            Caller::Bot(_) => Err(forbidden("this key is for another bot")),
            Caller::Session(_) => Err(forbidden("a session token cannot do this")),
        }
    }

    /// May this caller use the conversation `id` on a route that `sessions`
    /// says whether sessions may use? Checked before the conversation is
    /// read, for sessions (a token for another conversation is refused
    /// whether or not that one exists).
    pub fn before_reading(&self, id: &str, sessions: Sessions) -> Result<(), ApiError> {
        match self {
            Caller::Session(_) if sessions == Sessions::Refused => {
                Err(forbidden("a session token cannot do this"))
            }
            Caller::Session(claims) if claims.conv != id => {
                Err(forbidden("the session token is for another conversation"))
            }
            _ => Ok(()),
        }
    }

    /// And once it is read: a bot's key only reaches its bot's.
    pub fn may_use(&self, conversation: &ApiConversation) -> Result<(), ApiError> {
        match self {
            Caller::Bot(route) if *route != conversation.bot => {
                Err(forbidden("this key is for another bot"))
            }
            _ => Ok(()),
        }
    }
}
