//! `turnbox:bot/timers`: schedule and cancel timers, kept with the turn and
//! stored when it commits.

use super::call_error;
use crate::runtime::store::TurnState;
use crate::runtime::turn::TimerOp;
use crate::schema::bindings::turnbox::bot::{timers, types as wit};
use crate::storage::timers::Timer;

/// The longest delay a timer may have: a year.
const MAX_TIMER_DELAY_MS: u64 = 366 * 24 * 3600 * 1000;

impl timers::Host for TurnState {
    async fn schedule(
        &mut self,
        delay_ms: u64,
        name: String,
        value: Option<String>,
    ) -> wasmtime::Result<Result<String, wit::CallError>> {
        if delay_ms > MAX_TIMER_DELAY_MS {
            return Ok(Err(call_error(
                "BadArgument",
                "a timer may be at most a year away".into(),
                None,
            )));
        }
        if self
            .turn
            .incoming
            .conversation_id()
            .is_none_or(str::is_empty)
        {
            return Ok(Err(call_error(
                "BadArgument",
                "timers need a conversation: the activity has none".into(),
                None,
            )));
        }
        let value = match value.map(|v| serde_json::from_str(&v)).transpose() {
            Ok(value) => value,
            Err(e) => {
                return Ok(Err(call_error(
                    "BadArgument",
                    format!("the value is not JSON: {e}"),
                    None,
                )));
            }
        };
        let id = crate::support::ids::random_id();
        self.turn.timer_ops.push(TimerOp::Schedule(Timer {
            id: id.clone(),
            bot: self.bot.to_string(),
            due: crate::support::clock::now_millis() + delay_ms as i64,
            name,
            value,
            reference: crate::schema::activity::conversation_reference(&self.turn.incoming),
        }));
        Ok(Ok(id))
    }

    async fn cancel(&mut self, timer_id: String) -> wasmtime::Result<Result<bool, wit::CallError>> {
        let scheduled_here = self
            .turn
            .timer_ops
            .iter()
            .position(|op| matches!(op, TimerOp::Schedule(t) if t.id == timer_id));
        if let Some(index) = scheduled_here {
            self.turn.timer_ops.remove(index);
            return Ok(Ok(true));
        }
        let (store, bot, id) = (
            self.turn.timers.clone(),
            self.bot.to_string(),
            timer_id.clone(),
        );
        let exists = tokio::task::spawn_blocking(move || store.exists(&bot, &id)).await;
        match exists {
            Ok(Ok(true)) => {
                self.turn.timer_ops.push(TimerOp::Cancel(timer_id));
                Ok(Ok(true))
            }
            Ok(Ok(false)) => Ok(Ok(false)),
            Ok(Err(e)) => Ok(Err(call_error("StorageError", e.to_string(), None))),
            Err(e) => Ok(Err(call_error("StorageError", e.to_string(), None))),
        }
    }
}
