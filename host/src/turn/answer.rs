//! A turn's answer as data (status and JSON body text, no HTTP types): what
//! the HTTP layer writes as the response and de-duplication records for a
//! channel's re-delivery, following botbuilder's CloudAdapter
//! (`expectReplies`: the replies; `invoke`: the bot's invoke response).

use serde_json::json;

use crate::runtime::turn::TurnOutcome;
use crate::schema::activity::{Activity, names};
use crate::storage::dedup::Answer;

/// The HTTP answer to a turn that ended well: its replies under
/// `expectReplies`, the bot's invoke response (without one: the host's for
/// sign-in invokes, `middleware::signin`, else 501), else 200.
pub fn turn_answer(activity: &Activity, outcome: &TurnOutcome) -> Answer {
    if activity.expects_replies() {
        /// `ExpectedReplies`, serialized straight from the activities.
        #[derive(serde::Serialize)]
        struct ExpectedReplies<'a> {
            activities: &'a [Activity],
        }
        let replies = ExpectedReplies {
            activities: &outcome.buffered_replies,
        };
        return match serde_json::to_string(&replies) {
            Ok(body) => Answer {
                status: 200,
                body: Some(body),
            },
            Err(err) => {
                tracing::error!(error = %err, "cannot serialize the replies");
                Answer {
                    status: 500,
                    body: Some(
                        json!({"error": {"code": "InternalError", "message": "cannot serialize the replies"}})
                            .to_string(),
                    ),
                }
            }
        };
    }
    if activity.kind() == names::INVOKE {
        return match &outcome.invoke_response {
            Some(response) => Answer {
                status: response.status,
                body: response.body.as_ref().map(|body| body.to_string()),
            },
            None if let Some((status, body)) =
                crate::turn::middleware::signin::unanswered_signin(activity) =>
            {
                Answer {
                    status,
                    body: body.map(|b| b.to_string()),
                }
            }
            None => Answer {
                status: 501,
                body: Some(
                    json!({"error": {
                        "code": "NotImplemented",
                        "message": "the bot gave no response to this invoke",
                    }})
                    .to_string(),
                ),
            },
        };
    }
    Answer {
        status: 200,
        body: None,
    }
}
