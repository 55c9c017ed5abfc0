//! Helpers every layer shares for errors and async traits: the chain of an
//! error's sources for one log line, and the boxed future of object-safe
//! async methods.

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future: the return type of object-safe async methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An error and all its sources, `: `-separated, for one log line.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
