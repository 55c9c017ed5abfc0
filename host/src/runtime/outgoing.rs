//! What leaves a turn, as the layer above sees it: every activity a turn
//! sends, updates or deletes passes the turn's [`OutgoingFilter`] (the
//! middleware pipeline, `turn::middleware`), which may change or drop it.

use crate::schema::activity::Activity;
use crate::support::errors::BoxFuture;

/// An activity leaving the turn.
pub enum Outgoing<'a> {
    Send(&'a mut Activity),
    Update(&'a mut Activity),
    /// A delete of the activity `id` in the incoming activity's conversation.
    Delete(&'a str),
}

/// Whether an outgoing activity goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Drop it: it is not sent, and later middleware do not see it.
    Drop,
}

/// Sees each activity before it leaves the turn.
pub trait OutgoingFilter: Send + Sync {
    fn filter<'a>(&'a self, activity: &'a mut Outgoing<'_>) -> BoxFuture<'a, Flow>;
}

/// Lets everything through: a turn with no middleware.
pub struct PassThrough;

impl OutgoingFilter for PassThrough {
    fn filter<'a>(&'a self, _activity: &'a mut Outgoing<'_>) -> BoxFuture<'a, Flow> {
        Box::pin(async { Flow::Continue })
    }
}
