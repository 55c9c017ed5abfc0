//! The SDK's error: what a failed host call, bad JSON or the bot itself
//! reports. Returned from a handler, it fails the turn (the caller gets 500).

use crate::bindings::turnbox::bot::types::{BotError, CallError};

/// Why a handler failed.
#[derive(Debug, Clone)]
pub enum Error {
    /// A turn-context, state or timer call the host refused or could not do.
    Call(CallError),
    /// JSON that did not (de)serialise: a state value, a `value`, a card.
    Json(String),
    /// The bot's own failure, with its code.
    Bot { code: String, message: String },
}

/// A handler's result.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// The bot's own failure: `code` is short and machine-readable.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Bot {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Call(e) => write!(f, "{}: {}", e.code, e.message),
            Error::Json(e) => write!(f, "bad JSON: {e}"),
            Error::Bot { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        Error::Call(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e.to_string())
    }
}

impl From<Error> for BotError {
    fn from(e: Error) -> Self {
        match e {
            Error::Call(e) => BotError {
                code: e.code,
                message: e.message,
            },
            Error::Json(message) => BotError {
                code: "BadJson".into(),
                message,
            },
            Error::Bot { code, message } => BotError { code, message },
        }
    }
}
