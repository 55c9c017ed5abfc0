//! `turnbox:bot/connector`: the Bot Connector's member, history and
//! attachment calls for the turn's conversation
//! (`channels::conversation_api`), made at once with the turn's outbound
//! authorisation.

use crate::channels::connector::ConnectorError;
use crate::channels::conversation_api::{AttachmentData, AttachmentInfo};
use crate::runtime::store::TurnState;
use crate::schema::bindings::turnbox::bot::{connector, types as wit};

use super::{OutputSize, call_error, from_record};

/// The most bytes an attachment a bot uploads or downloads may have.
pub const MAX_ATTACHMENT_BYTES: usize = 16 << 20;

type Answer<T> = wasmtime::Result<Result<T, wit::CallError>>;

impl TurnState {
    fn connector_answer<T, U>(
        &self,
        operation: &str,
        result: Result<T, ConnectorError>,
        map: impl FnOnce(T) -> U,
    ) -> Answer<U> {
        Ok(result
            .map(map)
            .map_err(|err| self.connector_failed(operation, err)))
    }

    fn service_url(&self) -> Result<String, wit::CallError> {
        self.turn
            .incoming
            .service_url
            .clone()
            .filter(|url| !url.is_empty())
            .ok_or_else(|| {
                call_error(
                    "BadArgument",
                    "the incoming activity has no serviceUrl".into(),
                    None,
                )
            })
    }
}

fn accounts(list: Vec<crate::schema::activity::ChannelAccount>) -> Vec<wit::ChannelAccount> {
    list.iter().map(Into::into).collect()
}

fn info_to_wit(info: AttachmentInfo) -> connector::AttachmentInfo {
    connector::AttachmentInfo {
        name: info.name,
        type_: info.content_type,
        views: info
            .views
            .into_iter()
            .map(|v| connector::AttachmentView {
                view_id: v.view_id,
                size: v.size,
            })
            .collect(),
    }
}

impl connector::Host for TurnState {
    async fn get_conversation_members(&mut self) -> Answer<Vec<wit::ChannelAccount>> {
        let connector = self.turn.connector.clone();
        let result = connector
            .members(&self.turn.incoming, &self.turn.outbound)
            .await;
        self.connector_answer("get-conversation-members", result, accounts)
    }

    async fn get_paged_members(
        &mut self,
        page_size: Option<u32>,
        continuation_token: Option<String>,
    ) -> Answer<connector::PagedMembers> {
        let connector = self.turn.connector.clone();
        let result = connector
            .paged_members(
                &self.turn.incoming,
                page_size,
                continuation_token.as_deref(),
                &self.turn.outbound,
            )
            .await;
        self.connector_answer("get-paged-members", result, |page| {
            connector::PagedMembers {
                members: accounts(page.members),
                continuation_token: page.continuation_token.filter(|t| !t.is_empty()),
            }
        })
    }

    async fn get_conversation_member(&mut self, member_id: String) -> Answer<wit::ChannelAccount> {
        let connector = self.turn.connector.clone();
        let result = connector
            .member(&self.turn.incoming, &member_id, &self.turn.outbound)
            .await;
        self.connector_answer("get-conversation-member", result, |m| (&m).into())
    }

    async fn get_activity_members(
        &mut self,
        activity_id: Option<String>,
    ) -> Answer<Vec<wit::ChannelAccount>> {
        let Some(activity_id) = activity_id.or_else(|| self.turn.incoming.id.clone()) else {
            return Ok(Err(call_error(
                "BadArgument",
                "no activity id: the incoming activity has none".into(),
                None,
            )));
        };
        let connector = self.turn.connector.clone();
        let result = connector
            .activity_members(&self.turn.incoming, &activity_id, &self.turn.outbound)
            .await;
        self.connector_answer("get-activity-members", result, accounts)
    }

    async fn delete_conversation_member(&mut self, member_id: String) -> Answer<()> {
        let connector = self.turn.connector.clone();
        let result = connector
            .delete_member(&self.turn.incoming, &member_id, &self.turn.outbound)
            .await;
        self.connector_answer("delete-conversation-member", result, |_| ())
    }

    async fn send_conversation_history(
        &mut self,
        activities: Vec<wit::Activity>,
    ) -> Answer<wit::ResourceResponse> {
        let mut history = Vec::with_capacity(activities.len());
        for activity in activities {
            let size = OutputSize::of(&activity);
            if let Err(err) = self.count_output("send-conversation-history", size, false) {
                return Ok(Err(err));
            }
            match from_record(activity) {
                Ok(activity) => history.push(activity),
                Err(err) => return Ok(Err(err)),
            }
        }
        let connector = self.turn.connector.clone();
        let result = connector
            .send_history(&self.turn.incoming, &history, &self.turn.outbound)
            .await;
        self.connector_answer("send-conversation-history", result, |r| {
            wit::ResourceResponse { id: r.id }
        })
    }

    async fn upload_attachment(
        &mut self,
        data: connector::AttachmentData,
    ) -> Answer<wit::ResourceResponse> {
        let size = data.original.len() + data.thumbnail.as_ref().map_or(0, Vec::len);
        if size > MAX_ATTACHMENT_BYTES {
            return Ok(Err(call_error(
                "BadArgument",
                format!("an upload may have at most {MAX_ATTACHMENT_BYTES} bytes, not {size}"),
                None,
            )));
        }
        let data = AttachmentData {
            content_type: data.type_,
            name: data.name,
            original: data.original,
            thumbnail: data.thumbnail,
        };
        let connector = self.turn.connector.clone();
        let result = connector
            .upload_attachment(&self.turn.incoming, &data, &self.turn.outbound)
            .await;
        self.connector_answer("upload-attachment", result, |r| wit::ResourceResponse {
            id: r.id,
        })
    }

    async fn get_attachment_info(
        &mut self,
        attachment_id: String,
    ) -> Answer<connector::AttachmentInfo> {
        let service_url = match self.service_url() {
            Ok(url) => url,
            Err(err) => return Ok(Err(err)),
        };
        let connector = self.turn.connector.clone();
        let result = connector
            .attachment_info(&service_url, &attachment_id, &self.turn.outbound)
            .await;
        self.connector_answer("get-attachment-info", result, info_to_wit)
    }

    async fn get_attachment(
        &mut self,
        attachment_id: String,
        view_id: String,
    ) -> Answer<connector::AttachmentContent> {
        let service_url = match self.service_url() {
            Ok(url) => url,
            Err(err) => return Ok(Err(err)),
        };
        let connector = self.turn.connector.clone();
        let result = connector
            .attachment_view(
                &service_url,
                &attachment_id,
                &view_id,
                MAX_ATTACHMENT_BYTES,
                &self.turn.outbound,
            )
            .await;
        self.connector_answer("get-attachment", result, |c| connector::AttachmentContent {
            content_type: c.content_type,
            body: c.body,
        })
    }
}
