//! The Direct Line listener: a connection of its own that `LISTEN`s for
//! the other hosts' notices and hands them to the Direct Line streams.

use std::sync::Weak;
use std::time::Duration;

use serde_json::Value;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::DIRECTLINE_CHANNEL;
use crate::storage::directline::Notice;

/// How long the listener waits for a notice before it checks that its
/// connection is alive.
const LISTEN_CHECK: Duration = Duration::from_secs(20);

/// The Direct Line listener: one connection of its own that `LISTEN`s,
/// reconnecting (with a `Resync`, as notices may have been missed) whenever
/// it is lost. Ends when the sink no longer wants notices.
pub(super) fn listen_forever(
    config: &postgres::Config,
    tls: MakeRustlsConnect,
    origin: &str,
    sink: &Weak<dyn Fn(Notice) + Send + Sync>,
) {
    use postgres::fallible_iterator::FallibleIterator;
    loop {
        match config.connect(tls.clone()) {
            Ok(mut client) => match client.batch_execute(&format!("LISTEN {DIRECTLINE_CHANNEL}")) {
                Ok(()) => {
                    // Whatever came before this connection listened was
                    // missed.
                    if !deliver(sink, Notice::Resync) {
                        return;
                    }
                    loop {
                        let next = client.notifications().timeout_iter(LISTEN_CHECK).next();
                        match next {
                            Ok(Some(notification)) => {
                                if let Some(notice) = parse_notice(notification.payload(), origin)
                                    && !deliver(sink, notice)
                                {
                                    return;
                                }
                            }
                            // Quiet for a while: is the connection alive?
                            Ok(None) => {
                                if sink.strong_count() == 0 {
                                    return;
                                }
                                if let Err(err) = client.batch_execute("SELECT 1") {
                                    tracing::warn!(error = %err, "Direct Line listener lost its connection");
                                    break;
                                }
                            }
                            Err(err) => {
                                tracing::warn!(error = %err, "Direct Line listener lost its connection");
                                break;
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "Direct Line listener cannot LISTEN"),
            },
            Err(err) => tracing::warn!(
                error = %crate::support::errors::error_chain(&err),
                "Direct Line listener cannot connect"
            ),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Hands a notice to the sink; false once the sink is gone.
fn deliver(sink: &Weak<dyn Fn(Notice) + Send + Sync>, notice: Notice) -> bool {
    match sink.upgrade() {
        Some(sink) => {
            sink(notice);
            true
        }
        None => false,
    }
}

/// A notice's payload (`{"o": origin, "c": conversation, "t": typing?}`);
/// `None` for this storage's own notices and for anything unreadable.
fn parse_notice(payload: &str, origin: &str) -> Option<Notice> {
    let value: Value = serde_json::from_str(payload).ok()?;
    if value.get("o").and_then(Value::as_str) == Some(origin) {
        return None;
    }
    let conversation = value.get("c")?.as_str()?.to_owned();
    Some(match value.get("t") {
        Some(activity) => Notice::Typing {
            conversation,
            activity: activity.clone(),
        },
        None => Notice::Appended { conversation },
    })
}
