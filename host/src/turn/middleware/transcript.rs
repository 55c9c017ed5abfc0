//! Built-in middleware: the transcript logger (botbuilder's
//! TranscriptLoggerMiddleware; manifest `transcript = true`).

use std::sync::Arc;

use super::{Middleware, ShortCircuit, TurnEnd, TurnHook, TurnInfo};
use crate::runtime::outgoing::{Flow, Outgoing};
use crate::schema::activity::Activity;
use crate::schema::activity::streaming::is_interim_update;
use crate::storage::transcripts::{TranscriptEntry, TranscriptStore};
use crate::support::errors::BoxFuture;

/// Logs the incoming activity and everything the turn sends (updates as
/// `messageUpdate`, deletes as `messageDelete`) to the transcript store,
/// stamping a timestamp where one is missing.
pub struct TranscriptLogger {
    pub store: Arc<dyn TranscriptStore>,
}

struct TranscriptHook {
    store: Arc<dyn TranscriptStore>,
    entries: Vec<TranscriptEntry>,
}

impl Middleware for TranscriptLogger {
    fn hook(&self, _turn: &TurnInfo) -> Box<dyn TurnHook> {
        Box::new(TranscriptHook {
            store: self.store.clone(),
            entries: Vec::new(),
        })
    }
}

impl TranscriptHook {
    fn record(&mut self, turn: &TurnInfo, mut activity: Activity) {
        if activity.timestamp.is_none() {
            activity.timestamp = Some(crate::support::clock::now_rfc3339());
        }
        self.entries.push(TranscriptEntry {
            channel: turn.incoming.channel_id.clone().unwrap_or_default(),
            conversation: turn
                .incoming
                .conversation_id()
                .unwrap_or_default()
                .to_owned(),
            activity,
        });
    }
}

impl TurnHook for TranscriptHook {
    fn before<'a>(&'a mut self, turn: &'a TurnInfo) -> BoxFuture<'a, Option<ShortCircuit>> {
        Box::pin(async move {
            self.record(turn, turn.incoming.as_ref().clone());
            None
        })
    }

    fn outgoing(&mut self, turn: &TurnInfo, activity: &mut Outgoing<'_>) -> Flow {
        let logged = match activity {
            // Interim stream updates are not transcript content.
            Outgoing::Send(a) if is_interim_update(a) => return Flow::Continue,
            Outgoing::Send(a) => (**a).clone(),
            Outgoing::Update(a) => Activity {
                kind: Some("messageUpdate".into()),
                ..(**a).clone()
            },
            Outgoing::Delete(id) => {
                let mut deleted = Activity {
                    kind: Some("messageDelete".into()),
                    id: Some((*id).to_owned()),
                    ..Default::default()
                };
                deleted.apply_conversation_reference(&turn.incoming);
                deleted.reply_to_id = None;
                deleted
            }
        };
        self.record(turn, logged);
        Flow::Continue
    }

    fn after<'a>(&'a mut self, turn: &'a TurnInfo, _end: &'a TurnEnd<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let entries = std::mem::take(&mut self.entries);
            let store = self.store.clone();
            let bot = turn.bot.to_string();
            let written = tokio::task::spawn_blocking(move || store.append(&bot, &entries)).await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::error!(error = %err, "cannot write the transcript"),
                Err(err) => tracing::error!(error = %err, "the transcript task failed"),
            }
        })
    }
}
