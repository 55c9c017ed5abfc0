//! One turn's data: what it runs on ([`TurnRequest`]), what it produced
//! ([`TurnOutcome`]) or why it failed ([`TurnError`]), and the [`Turn`]
//! itself with its send rules (buffered under `expectReplies`, held back
//! once state is touched, else through the outgoing filter to the
//! connector; interim stream updates at once, or not at all where replies
//! do not stream).

use std::sync::Arc;
use std::time::Instant;

use crate::channels::connector::{ConnectorClient, ConnectorError, Outbound};
use crate::channels::token_service::BotTokenService;
use crate::runtime::compute_lanes::LaneUse;
use crate::runtime::http::turn::TurnHttp;
use crate::runtime::outgoing::{Flow, Outgoing, OutgoingFilter};
use crate::runtime::scopes::TurnStateCache;
use crate::schema::activity::{Activity, names, streaming};
use crate::storage::Change;
pub use crate::storage::timers::TimerOp;
use crate::storage::timers::TimerStore;

/// What a finished turn produced.
#[derive(Debug, Default)]
pub struct TurnOutcome {
    /// The bot's answer to an `invoke`.
    pub invoke_response: Option<InvokeResponse>,
    /// Under `expectReplies`: every activity the bot sent, completed.
    pub buffered_replies: Vec<Activity>,
    /// How long instantiating the bot took.
    pub instantiation: std::time::Duration,
    /// The writes that save the turn's state changes.
    pub state_changes: Vec<Change>,
    /// Sends made after the turn first used state, to be posted once the
    /// state is saved (`None`: deleted again within the turn).
    pub held_back: Vec<Option<Activity>>,
    /// Ids of the sends posted before the turn first used state, in order,
    /// including those an earlier attempt posted.
    pub posted_before_state: Vec<String>,
    /// Timers scheduled and cancelled, to be stored with the state.
    pub timer_ops: Vec<TimerOp>,
}

/// What a turn runs on, besides the bot.
pub struct TurnRequest {
    pub incoming: Arc<Activity>,
    pub connector: Arc<ConnectorClient>,
    pub outbound: Outbound,
    pub state: TurnStateCache,
    /// Ids of sends an earlier attempt of this turn already posted before it
    /// used state: the same sends in this attempt are not posted again.
    pub already_posted: Vec<String>,
    /// What sees each activity the turn emits (its middleware).
    pub outgoing: Arc<dyn OutgoingFilter>,
    pub timers: Arc<dyn TimerStore>,
    /// Calling skills; `None` where there is no server (`turnbox test`).
    pub skills: Option<Arc<crate::runtime::SkillCalls>>,
    /// The bot's Token Service (user sign-in); `None` where there is none
    /// (`turnbox test`).
    pub user_tokens: Option<BotTokenService>,
}

/// The provisional id of the `n`th held-back send (1-based).
pub(super) fn pending_id(n: usize) -> String {
    format!("pending-{n}")
}

pub(super) fn pending_index(id: &str) -> Option<usize> {
    id.strip_prefix("pending-")?
        .parse::<usize>()
        .ok()?
        .checked_sub(1)
}

/// The bot's answer to an `invoke`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeResponse {
    pub status: u16,
    pub body: Option<serde_json::Value>,
}

/// Why a turn failed. Each variant maps to a 500 with its own code.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("the turn exceeded its deadline of {0} ms")]
    Timeout(u128),
    #[error("the bot exceeded its memory limit of {0} MiB")]
    MemoryLimit(usize),
    #[error("the bot used up its fuel budget of {0}")]
    OutOfFuel(u64),
    #[error("the bot trapped: {0}")]
    Trap(String),
    #[error("the bot could not be instantiated: {0}")]
    Instantiate(String),
    #[error("too many turns are running; try again shortly")]
    Busy,
    #[error("the bot failed the turn: {code}: {message}")]
    Bot { code: String, message: String },
    #[error("the bot returned an invalid invoke response: {0}")]
    BadInvokeResponse(String),
    #[error("the turn's state changed under it {0} times in a row; nothing was saved")]
    StateConflict(u32),
    #[error("the turn's state could not be saved: {0}")]
    StateSave(String),
    #[error("the state was saved but a reply could not be posted: {0}")]
    ReplyFailed(String),
    #[error("another attempt took this delivery over; nothing was saved")]
    ClaimLost,
    #[error("the host is stopping; nothing was saved (a kept turn runs again after the restart)")]
    Stopping,
}

impl TurnError {
    pub fn code(&self) -> &'static str {
        match self {
            TurnError::Timeout(_) => "TurnTimeout",
            TurnError::MemoryLimit(_) => "MemoryLimitExceeded",
            TurnError::OutOfFuel(_) => "FuelExhausted",
            TurnError::Trap(_) => "BotTrapped",
            TurnError::Instantiate(_) => "InstantiationFailed",
            TurnError::Busy => "ServerBusy",
            TurnError::Bot { .. } => "BotError",
            TurnError::BadInvokeResponse(_) => "BadInvokeResponse",
            TurnError::StateConflict(_) => "StateConflict",
            TurnError::StateSave(_) => "StateSaveFailed",
            TurnError::ReplyFailed(_) => "ReplyFailed",
            TurnError::ClaimLost => "DeliveryTakenOver",
            TurnError::Stopping => "HostStopping",
        }
    }
}

/// What the bot needs to answer the incoming activity, and what it produced
/// so far: everything that must not outlive one turn.
pub(super) struct Turn {
    pub(super) incoming: Arc<Activity>,
    pub(super) connector: Arc<ConnectorClient>,
    pub(super) outbound: Outbound,
    /// Past this instant the epoch callback interrupts the bot.
    pub(super) deadline: Instant,
    /// Its slices so far, and the compute lane it holds once long.
    pub(super) lane: LaneUse,
    pub(super) buffered_replies: Vec<Activity>,
    /// Activities sent (or buffered) so far.
    pub(super) sent: u32,
    /// Interim stream updates sent so far (counted apart from `sent`).
    pub(super) stream_updates: u32,
    /// Bytes of activity JSON sent, updated or buffered so far.
    pub(super) sent_bytes: u64,
    pub(super) state: TurnStateCache,
    pub(super) held_back: Vec<Option<Activity>>,
    pub(super) already_posted: Vec<String>,
    pub(super) posted_before_state: Vec<String>,
    pub(super) outgoing: Arc<dyn OutgoingFilter>,
    pub(super) timers: Arc<dyn TimerStore>,
    pub(super) timer_ops: Vec<TimerOp>,
    pub(super) skills: Option<Arc<crate::runtime::SkillCalls>>,
    /// Its outbound HTTP and what it used of the limits.
    pub(super) http: TurnHttp,
    pub(super) user_tokens: Option<BotTokenService>,
}

impl Turn {
    pub(super) fn new(
        request: TurnRequest,
        deadline: Instant,
        lane: LaneUse,
        http: TurnHttp,
    ) -> Turn {
        let TurnRequest {
            incoming,
            connector,
            outbound,
            state,
            already_posted,
            outgoing,
            timers,
            skills,
            user_tokens,
        } = request;
        Turn {
            incoming,
            connector,
            outbound,
            deadline,
            lane,
            buffered_replies: Vec::new(),
            sent: 0,
            stream_updates: 0,
            sent_bytes: 0,
            state,
            held_back: Vec::new(),
            already_posted,
            posted_before_state: Vec::new(),
            outgoing,
            timers,
            timer_ops: Vec::new(),
            http,
            skills,
            user_tokens,
        }
    }
}

impl Turn {
    /// Sends a completed reply: buffered under `expectReplies`, held back
    /// while the turn has touched state (posted once it is saved), else
    /// through the pipeline to the connector. Returns the activity's id
    /// (empty when the channel gives none).
    pub(super) async fn send(&mut self, mut activity: Activity) -> Result<String, ConnectorError> {
        // Trace activities reach only the Emulator, as in botbuilder.
        let is_trace = activity.kind() == names::TRACE
            && activity.channel_id.as_deref() != Some(names::EMULATOR_CHANNEL);
        if is_trace {
            return Ok(String::new());
        }
        // The big futures are boxed (interim updates: rare; the connector's
        // POST with its retries: one small allocation per posted send), so
        // that this future, which an `expectReplies` turn polls without
        // taking either path, stays small, and with it the host call's,
        // which wasmtime boxes per call.
        if streaming::is_interim_update(&activity) {
            return Box::pin(self.send_interim(activity)).await;
        }
        if !streaming::streams_to(&self.incoming) && streaming::stream_type(&activity).is_some() {
            // Nothing was streamed here: the final is a plain message.
            streaming::strip_stream_markers(&mut activity);
        }
        if self.incoming.expects_replies() {
            self.buffered_replies.push(activity);
            return Ok(String::new());
        }
        if self.state.touched() {
            self.held_back.push(Some(activity));
            return Ok(pending_id(self.held_back.len()));
        }
        if let Some(id) = self.already_posted.get(self.posted_before_state.len()) {
            // An earlier attempt of this turn posted this send already.
            let id = id.clone();
            self.posted_before_state.push(id.clone());
            return Ok(id);
        }
        if self
            .outgoing
            .filter(&mut Outgoing::Send(&mut activity))
            .await
            == Flow::Drop
        {
            self.posted_before_state.push(String::new());
            return Ok(String::new());
        }
        let response = Box::pin(self.connector.send(&activity, &self.outbound)).await?;
        self.posted_before_state.push(response.id.clone());
        Ok(response.id)
    }

    /// An interim stream update: ephemeral, so sent at once through the
    /// pipeline even while other sends are held back for the commit, and
    /// sent again by a re-run attempt. Dropped (answered with an empty id)
    /// where replies do not stream: another channel, or `expectReplies`.
    async fn send_interim(&mut self, mut activity: Activity) -> Result<String, ConnectorError> {
        if !streaming::streams_to(&self.incoming) {
            return Ok(String::new());
        }
        if self
            .outgoing
            .filter(&mut Outgoing::Send(&mut activity))
            .await
            == Flow::Drop
        {
            return Ok(String::new());
        }
        Ok(self.connector.send(&activity, &self.outbound).await?.id)
    }

    /// What the turn produced, once it ended well.
    pub(super) fn outcome(
        &mut self,
        invoke_response: Option<InvokeResponse>,
        instantiation: std::time::Duration,
    ) -> TurnOutcome {
        TurnOutcome {
            invoke_response,
            buffered_replies: std::mem::take(&mut self.buffered_replies),
            instantiation,
            state_changes: self.state.changes(),
            held_back: std::mem::take(&mut self.held_back),
            posted_before_state: std::mem::take(&mut self.posted_before_state),
            timer_ops: std::mem::take(&mut self.timer_ops),
        }
    }
}
