//! `turnbox:bot/context`: the turn context resource: the incoming activity,
//! send, update and delete (held-back sends answered by their provisional
//! ids), create-conversation and send-to-conversation.

use wasmtime::component::Resource;

use super::{OutputSize, call_error, from_record};
use crate::runtime::outgoing::{Flow, Outgoing};
use crate::runtime::store::TurnState;
use crate::runtime::turn::{pending_id, pending_index};
use crate::schema::activity::Activity;
use crate::schema::bindings::TurnContext;
use crate::schema::bindings::turnbox::bot::{context, types as wit};

impl context::Host for TurnState {}

impl context::HostTurnContext for TurnState {
    async fn activity(&mut self, _ctx: Resource<TurnContext>) -> wasmtime::Result<wit::Activity> {
        Ok(self.turn.incoming.as_ref().into())
    }

    async fn activity_json(&mut self, _ctx: Resource<TurnContext>) -> wasmtime::Result<wit::Json> {
        // Serializing an `Activity` cannot fail: every map in it has string keys.
        Ok(serde_json::to_string(self.turn.incoming.as_ref())?)
    }

    async fn send(
        &mut self,
        _ctx: Resource<TurnContext>,
        activity: wit::Activity,
    ) -> wasmtime::Result<Result<wit::ResourceResponse, wit::CallError>> {
        self.send_activity(Given::Record(activity)).await
    }

    async fn send_json(
        &mut self,
        _ctx: Resource<TurnContext>,
        activity: wit::Json,
    ) -> wasmtime::Result<Result<wit::ResourceResponse, wit::CallError>> {
        match self.activity_from_json("send", &activity) {
            Ok((activity, size)) => self.send_activity(Given::Parsed(activity, size)).await,
            Err(err) => Ok(Err(err)),
        }
    }

    async fn update(
        &mut self,
        _ctx: Resource<TurnContext>,
        activity: wit::Activity,
    ) -> wasmtime::Result<Result<wit::ResourceResponse, wit::CallError>> {
        self.update_activity(Given::Record(activity)).await
    }

    async fn update_json(
        &mut self,
        _ctx: Resource<TurnContext>,
        activity: wit::Json,
    ) -> wasmtime::Result<Result<wit::ResourceResponse, wit::CallError>> {
        match self.activity_from_json("update", &activity) {
            Ok((activity, size)) => self.update_activity(Given::Parsed(activity, size)).await,
            Err(err) => Ok(Err(err)),
        }
    }

    async fn delete(
        &mut self,
        _ctx: Resource<TurnContext>,
        activity_id: String,
    ) -> wasmtime::Result<Result<(), wit::CallError>> {
        if self.turn.incoming.expects_replies() {
            return Ok(Err(call_error(
                "NotSupported",
                "activities cannot be deleted under expectReplies".into(),
                None,
            )));
        }
        if let Some(index) = pending_index(&activity_id) {
            return Ok(match self.turn.held_back.get_mut(index) {
                Some(slot @ Some(_)) => {
                    *slot = None;
                    Ok(())
                }
                _ => Err(call_error(
                    "BadArgument",
                    "no held-back activity has that id".into(),
                    None,
                )),
            });
        }
        if self
            .turn
            .outgoing
            .filter(&mut Outgoing::Delete(&activity_id))
            .await
            == Flow::Drop
        {
            return Ok(Ok(()));
        }
        let connector = self.turn.connector.clone();
        let incoming = self.turn.incoming.clone();
        Ok(
            match connector
                .delete(&incoming, &activity_id, &self.turn.outbound)
                .await
            {
                Ok(()) => Ok(()),
                Err(err) => Err(self.connector_failed("delete", err)),
            },
        )
    }

    async fn create_conversation(
        &mut self,
        _ctx: Resource<TurnContext>,
        parameters: String,
    ) -> wasmtime::Result<Result<wit::ConversationResourceResponse, wit::CallError>> {
        let mut parameters: serde_json::Value = match serde_json::from_str(&parameters) {
            Ok(serde_json::Value::Object(map)) => serde_json::Value::Object(map),
            _ => {
                return Ok(Err(call_error(
                    "BadArgument",
                    "the parameters must be a JSON object".into(),
                    None,
                )));
            }
        };
        if parameters.get("bot").is_none()
            && let Some(bot) = &self.turn.incoming.recipient
        {
            parameters["bot"] = serde_json::to_value(bot).unwrap_or_default();
        }
        let Some(service_url) = self.turn.incoming.service_url.clone() else {
            return Ok(Err(call_error(
                "BadArgument",
                "the incoming activity has no serviceUrl".into(),
                None,
            )));
        };
        let connector = self.turn.connector.clone();
        Ok(
            match connector
                .create_conversation(&service_url, &parameters, &self.turn.outbound)
                .await
            {
                Ok(answer) => {
                    let text =
                        |key: &str| answer.get(key).and_then(|v| v.as_str()).map(str::to_owned);
                    match text("id") {
                        Some(id) => Ok(wit::ConversationResourceResponse {
                            id,
                            activity_id: text("activityId"),
                            service_url: text("serviceUrl"),
                        }),
                        None => Err(call_error(
                            "ConnectorError",
                            "the Bot Connector answered without a conversation id".into(),
                            None,
                        )),
                    }
                }
                Err(err) => Err(self.connector_failed("create-conversation", err)),
            },
        )
    }

    async fn send_to_conversation(
        &mut self,
        _ctx: Resource<TurnContext>,
        conversation_id: String,
        activity: wit::Activity,
    ) -> wasmtime::Result<Result<wit::ResourceResponse, wit::CallError>> {
        if let Err(err) = self.count_output("send-to-conversation", OutputSize::of(&activity), true)
        {
            return Ok(Err(err));
        }
        let mut activity = match from_record(activity) {
            Ok(activity) => self.outgoing(activity, false),
            Err(err) => {
                self.log_call_error("send-to-conversation", &err);
                return Ok(Err(err));
            }
        };
        activity.conversation = Some(crate::schema::activity::ConversationAccount {
            id: conversation_id,
            ..Default::default()
        });
        activity.reply_to_id = None;
        activity.recipient = None;
        if self
            .turn
            .outgoing
            .filter(&mut Outgoing::Send(&mut activity))
            .await
            == Flow::Drop
        {
            return Ok(Ok(wit::ResourceResponse { id: String::new() }));
        }
        let connector = self.turn.connector.clone();
        Ok(match connector.send(&activity, &self.turn.outbound).await {
            Ok(response) => Ok(wit::ResourceResponse { id: response.id }),
            Err(err) => Err(self.connector_failed("send-to-conversation", err)),
        })
    }

    async fn drop(&mut self, ctx: Resource<TurnContext>) -> wasmtime::Result<()> {
        self.table.delete(ctx)?;
        Ok(())
    }
}

/// An activity a bot gives to `send` or `update`: the WIT record, or
/// Bot Framework JSON text already parsed (and measured). Both variants
/// are large and live for one call: not boxed.
#[allow(clippy::large_enum_variant)]
enum Given {
    Record(wit::Activity),
    Parsed(Activity, OutputSize),
}

impl Given {
    fn size(&self) -> OutputSize {
        match self {
            Given::Record(activity) => OutputSize::of(activity),
            Given::Parsed(_, size) => *size,
        }
    }

    fn into_activity(self) -> Result<Activity, wit::CallError> {
        match self {
            Given::Record(activity) => from_record(activity),
            Given::Parsed(activity, _) => Ok(activity),
        }
    }
}

/// `send` and `update`, whichever form (record or JSON text) the bot gave:
/// checked, counted (by `OutputSize`: the record's text, or the JSON
/// text's length), converted (a record) and completed the same way.
impl TurnState {
    async fn send_activity(
        &mut self,
        activity: Given,
    ) -> wasmtime::Result<Result<wit::ResourceResponse, wit::CallError>> {
        if let Err(err) = self.count_output("send", activity.size(), true) {
            return Ok(Err(err));
        }
        let activity = match activity.into_activity() {
            Ok(activity) => self.outgoing(activity, false),
            Err(err) => {
                self.log_call_error("send", &err);
                return Ok(Err(err));
            }
        };
        Ok(match self.turn.send(activity).await {
            Ok(id) => Ok(wit::ResourceResponse { id }),
            Err(err) => Err(self.connector_failed("send", err)),
        })
    }

    async fn update_activity(
        &mut self,
        activity: Given,
    ) -> wasmtime::Result<Result<wit::ResourceResponse, wit::CallError>> {
        if self.turn.incoming.expects_replies() {
            return Ok(Err(call_error(
                "NotSupported",
                "activities cannot be updated under expectReplies".into(),
                None,
            )));
        }
        if let Err(err) = self.count_output("update", activity.size(), false) {
            return Ok(Err(err));
        }
        let activity = match activity.into_activity() {
            Ok(activity) => self.outgoing(activity, true),
            Err(err) => {
                self.log_call_error("update", &err);
                return Ok(Err(err));
            }
        };
        if let Some(index) = activity.id.as_deref().and_then(pending_index) {
            return Ok(match self.turn.held_back.get_mut(index) {
                Some(slot @ Some(_)) => {
                    let id = pending_id(index + 1);
                    let mut replacement = activity;
                    replacement.id = None;
                    *slot = Some(replacement);
                    Ok(wit::ResourceResponse { id })
                }
                _ => Err(call_error(
                    "BadArgument",
                    "no held-back activity has that id".into(),
                    None,
                )),
            });
        }
        let mut activity = activity;
        if self
            .turn
            .outgoing
            .filter(&mut Outgoing::Update(&mut activity))
            .await
            == Flow::Drop
        {
            return Ok(Ok(wit::ResourceResponse {
                id: activity.id.unwrap_or_default(),
            }));
        }
        let connector = self.turn.connector.clone();
        Ok(
            match connector.update(&activity, &self.turn.outbound).await {
                Ok(response) => Ok(wit::ResourceResponse { id: response.id }),
                Err(err) => Err(self.connector_failed("update", err)),
            },
        )
    }
}
