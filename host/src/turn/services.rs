//! What running a turn needs from the host, whoever asks for it (a
//! channel's request, Direct Line, the admin API, a timer): the runtime and
//! the bots, the connector with the bots' tokens, the stores, the metrics.

use std::sync::Arc;

use crate::auth::OutboundTokens;
use crate::bots::registry::BotRegistry;
use crate::channels::connector::{ConnectorClient, Outbound};
use crate::channels::directline::DirectLine;
use crate::channels::token_service::{BotTokenService, TokenServiceClient};
use crate::runtime::SkillCalls;
use crate::runtime::bot::BotVersion;
use crate::runtime::engine::Runtime;
use crate::schema::activity::Activity;
use crate::schema::activity::skills::skill_caller;
use crate::storage::Storage;
use crate::storage::accepted::AcceptedStore;
use crate::storage::group_commit::GroupCommit;
use crate::storage::outbox::{OutboxStore, Route};
use crate::storage::references::ReferenceStore;
use crate::storage::timers::TimerStore;
use crate::storage::transcripts::TranscriptStore;
use crate::support::metrics::Metrics;
use crate::turn::dedup::Deduplicator;

/// The host's parts a turn runs on.
pub struct TurnServices {
    pub runtime: Arc<Runtime>,
    pub registry: Arc<BotRegistry>,
    pub connector: Arc<ConnectorClient>,
    pub tokens: Arc<OutboundTokens>,
    /// The Bot Framework Token Service (user sign-in).
    pub token_service: Arc<TokenServiceClient>,
    pub metrics: Arc<Metrics>,
    pub storage: Arc<dyn Storage>,
    pub transcripts: Arc<dyn TranscriptStore>,
    pub references: Arc<dyn ReferenceStore>,
    pub timers: Arc<dyn TimerStore>,
    /// The built-in Direct Line channel's state.
    pub directline: DirectLine,
    /// De-duplication of channel deliveries; `None`: off.
    pub dedup: Option<Deduplicator>,
    /// Where turns commit (state, timers, delivery answers, references,
    /// outbox rows), in groups.
    pub records: Arc<GroupCommit>,
    /// The sends held back for a commit, until posted.
    pub outbox: Arc<dyn OutboxStore>,
    /// Wakes the outbox relay (`relay.rs`).
    pub relay: Arc<tokio::sync::Notify>,
    /// Turns whose request was answered before they ended (`accept.rs`).
    pub accepted: Arc<dyn AcceptedStore>,
    /// The turns running without a request waiting (accepted, resumed,
    /// timers'): a graceful shutdown waits for them.
    pub background: tokio_util::task::TaskTracker,
    /// The posts of committed turns' replies (a turn's own, the relay's):
    /// a graceful shutdown waits for them before the committer stops, so
    /// that they are recorded as posted and not posted again.
    pub posts: tokio_util::task::TaskTracker,
    /// This host's random name in the claims it holds.
    pub owner: String,
    /// How long a host's claim (of a delivery, past the turn's deadline;
    /// of outbox rows) holds before another host may take it over.
    pub lease: std::time::Duration,
    /// Calling skills (`skills.forward`): the conversation id factory,
    /// the tokens, this host's skill endpoint.
    pub skills: Arc<SkillCalls>,
}

impl TurnServices {
    /// A bot's view of the Token Service: its own token (scope of the
    /// cloud's Bot Connector, on every channel) when it has an app id, and
    /// the connections its manifest lists.
    pub fn token_service_for(&self, version: &BotVersion) -> BotTokenService {
        BotTokenService {
            client: self.token_service.clone(),
            tokens: self
                .tokens
                .provider(&version.credentials, None)
                .map(|p| p as Arc<dyn crate::channels::connector::TokenProvider>),
            app_id: version.credentials.app_id.clone(),
            connections: version.oauth_connections.clone(),
        }
    }

    /// How a turn of `version` with `activity` (incoming, a reply, or made
    /// from a stored reference) calls the connector: with the bot's token
    /// when it has an app id, else in dev mode. The token is for the Bot
    /// Connector, or, when the bot was called as a skill by another bot
    /// (`schema::activity::skills::skill_caller`), for that bot's app id.
    /// For inbound requests, use it only once they are authenticated.
    pub fn outbound_for(&self, version: &BotVersion, activity: &Activity) -> Outbound {
        let credentials = &version.credentials;
        let provider = match skill_caller(activity) {
            Some(caller) => self
                .tokens
                .provider_for_scope(credentials, format!("{caller}/.default")),
            None => self
                .tokens
                .provider(credentials, activity.channel_id.as_deref()),
        };
        match provider {
            Some(tokens) => Outbound::Authenticated(tokens),
            None => Outbound::Dev,
        }
    }

    /// How a stored route (an outbox row's, a kept turn's) reaches its
    /// channel now; `None` while it cannot: the bot is not loaded (a `Bot`
    /// route needs its token), or a Direct Line URL is not of this host's
    /// kind. `bot` is asked for only when the route needs it. A built-in
    /// Direct Line activity's URL becomes this host's own.
    pub fn outbound_for_route(
        &self,
        route: Route,
        bot: impl FnOnce() -> Option<Arc<BotVersion>>,
        activity: &mut Activity,
    ) -> Option<Outbound> {
        match route {
            Route::Dev => Some(Outbound::Dev),
            Route::Internal => {
                let own = own_service_url(&self.directline, activity)?;
                activity.service_url = Some(own);
                Some(Outbound::Internal)
            }
            Route::Bot => {
                let version = bot()?;
                Some(self.outbound_for(&version, activity))
            }
        }
    }

    /// How a proactive turn (a timer, the admin API) with a stored
    /// reference calls the connector: a built-in Direct Line conversation's
    /// replies go to this host's own endpoint (the host that stored the
    /// reference may have stopped; the conversation is in the shared
    /// database), others as `outbound_for`.
    pub fn outbound_for_proactive(
        &self,
        version: &BotVersion,
        activity: &mut Activity,
    ) -> Outbound {
        if let Some(own) = own_service_url(&self.directline, activity) {
            activity.service_url = Some(own);
            return Outbound::Internal;
        }
        self.outbound_for(version, activity)
    }
}

/// This host's connector URL for the activity's built-in Direct Line
/// conversation, if its `serviceUrl` is one of that channel's.
fn own_service_url(
    directline: &crate::channels::directline::DirectLine,
    activity: &Activity,
) -> Option<String> {
    let conversation = activity.conversation.as_ref()?;
    directline.own_service_url(activity.service_url.as_deref()?, &conversation.id)
}
