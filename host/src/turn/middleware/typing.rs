//! Built-in middleware: typing indicators while a message turn runs
//! (botbuilder's ShowTypingMiddleware; manifest `typing = true`).

use std::time::Duration;

use super::{Middleware, ShortCircuit, TurnEnd, TurnHook, TurnInfo};
use crate::schema::activity::{Activity, names};
use crate::support::errors::BoxFuture;

/// botbuilder's ShowTypingMiddleware: for message activities, a `typing`
/// activity after 500 ms, then every 2 s until the turn ends.
pub struct ShowTyping {
    pub delay: Duration,
    pub period: Duration,
}

impl Default for ShowTyping {
    fn default() -> Self {
        ShowTyping {
            delay: Duration::from_millis(500),
            period: Duration::from_secs(2),
        }
    }
}

struct ShowTypingHook {
    delay: Duration,
    period: Duration,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Middleware for ShowTyping {
    fn hook(&self, _turn: &TurnInfo) -> Box<dyn TurnHook> {
        Box::new(ShowTypingHook {
            delay: self.delay,
            period: self.period,
            task: None,
        })
    }
}

impl TurnHook for ShowTypingHook {
    fn before<'a>(&'a mut self, turn: &'a TurnInfo) -> BoxFuture<'a, Option<ShortCircuit>> {
        Box::pin(async move {
            // Typing goes to the channel; under expectReplies there is none.
            if turn.incoming.kind() != names::MESSAGE || turn.incoming.expects_replies() {
                return None;
            }
            let mut typing = Activity {
                kind: Some("typing".into()),
                ..Default::default()
            };
            typing.complete_reply(&turn.incoming);
            let (connector, outbound) = (turn.connector.clone(), turn.outbound.clone());
            let (delay, period) = (self.delay, self.period);
            self.task = Some(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                loop {
                    if let Err(err) = connector.send(&typing, &outbound).await {
                        tracing::debug!(error = %err, "typing indicator not sent");
                    }
                    tokio::time::sleep(period).await;
                }
            }));
            None
        })
    }

    fn after<'a>(&'a mut self, _turn: &'a TurnInfo, _end: &'a TurnEnd<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(task) = self.task.take() {
                task.abort();
            }
        })
    }
}

impl Drop for ShowTypingHook {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
