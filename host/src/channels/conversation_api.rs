//! The Bot Connector's conversation-member, history and attachment calls
//! (botbuilder's `ConnectorClient.conversations` / `.attachments`), on the
//! same client, allowlist, tokens and retries as sends
//! (`connector.rs`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;
use percent_encoding::utf8_percent_encode;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::connector::{
    ConnectorClient, ConnectorError, Outbound, PATH_SEGMENT, ResourceResponse, parse_service_url,
    read_response,
};
use crate::schema::activity::{Activity, ChannelAccount};
use crate::support::errors::error_chain;

/// One page of a conversation's members (`PagedMembersResult`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PagedMembers {
    #[serde(default)]
    pub members: Vec<ChannelAccount>,
    pub continuation_token: Option<String>,
}

/// A file to upload to the channel (`AttachmentData`).
#[derive(Debug, Clone, Default)]
pub struct AttachmentData {
    pub content_type: String,
    pub name: String,
    pub original: Vec<u8>,
    pub thumbnail: Option<Vec<u8>>,
}

/// A view of a channel attachment (`AttachmentView`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentView {
    #[serde(default)]
    pub view_id: String,
    pub size: Option<u64>,
}

/// What the channel says about an attachment (`AttachmentInfo`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AttachmentInfo {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub content_type: String,
    #[serde(default)]
    pub views: Vec<AttachmentView>,
}

/// A downloaded attachment view.
#[derive(Debug, Clone, Default)]
pub struct AttachmentContent {
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// The service URL and conversation of calls about `reference`'s
/// conversation, and `{serviceUrl}/v3/conversations/{id}` for them.
fn conversation_root(reference: &Activity) -> Result<(Url, String), ConnectorError> {
    let (base, conversation) = super::connector::route(reference)?;
    let root = format!(
        "{}/v3/conversations/{}",
        base_text(&base),
        utf8_percent_encode(conversation, PATH_SEGMENT)
    );
    Ok((base, root))
}

fn base_text(base: &Url) -> String {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.as_str().trim_end_matches('/').to_owned()
}

fn segment(id: &str) -> Result<String, ConnectorError> {
    if id.is_empty() {
        return Err(ConnectorError::BadArgument(
            "an id must not be empty".into(),
        ));
    }
    Ok(utf8_percent_encode(id, PATH_SEGMENT).to_string())
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, answer: Value) -> Result<T, ConnectorError> {
    serde_json::from_value(answer).map_err(|e| ConnectorError::Status {
        status: 200,
        code: "ConnectorError".into(),
        message: format!("the Bot Connector's {what} answer is unreadable: {e}"),
        retry_after: None,
    })
}

impl ConnectorClient {
    /// `GET …/conversations/{id}/members`.
    pub async fn members(
        &self,
        reference: &Activity,
        auth: &Outbound,
    ) -> Result<Vec<ChannelAccount>, ConnectorError> {
        let (base, root) = conversation_root(reference)?;
        let url = format!("{root}/members");
        let answer = self.call_json(Method::GET, &base, &url, None, auth).await?;
        parse("members", answer)
    }

    /// `GET …/conversations/{id}/pagedmembers?pageSize=&continuationToken=`.
    pub async fn paged_members(
        &self,
        reference: &Activity,
        page_size: Option<u32>,
        continuation_token: Option<&str>,
        auth: &Outbound,
    ) -> Result<PagedMembers, ConnectorError> {
        let (base, root) = conversation_root(reference)?;
        let mut url = Url::parse(&format!("{root}/pagedmembers"))
            .map_err(|e| ConnectorError::BadArgument(e.to_string()))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(size) = page_size {
                query.append_pair("pageSize", &size.to_string());
            }
            if let Some(token) = continuation_token.filter(|t| !t.is_empty()) {
                query.append_pair("continuationToken", token);
            }
        }
        let url = url.as_str().trim_end_matches('?').to_owned();
        let answer = self.call_json(Method::GET, &base, &url, None, auth).await?;
        parse("paged members", answer)
    }

    /// `GET …/conversations/{id}/members/{memberId}`.
    pub async fn member(
        &self,
        reference: &Activity,
        member_id: &str,
        auth: &Outbound,
    ) -> Result<ChannelAccount, ConnectorError> {
        let (base, root) = conversation_root(reference)?;
        let url = format!("{root}/members/{}", segment(member_id)?);
        let answer = self.call_json(Method::GET, &base, &url, None, auth).await?;
        parse("member", answer)
    }

    /// `DELETE …/conversations/{id}/members/{memberId}`.
    pub async fn delete_member(
        &self,
        reference: &Activity,
        member_id: &str,
        auth: &Outbound,
    ) -> Result<(), ConnectorError> {
        let (base, root) = conversation_root(reference)?;
        let url = format!("{root}/members/{}", segment(member_id)?);
        self.call_json(Method::DELETE, &base, &url, None, auth)
            .await
            .map(|_| ())
    }

    /// `GET …/conversations/{id}/activities/{activityId}/members`.
    pub async fn activity_members(
        &self,
        reference: &Activity,
        activity_id: &str,
        auth: &Outbound,
    ) -> Result<Vec<ChannelAccount>, ConnectorError> {
        let (base, root) = conversation_root(reference)?;
        let url = format!("{root}/activities/{}/members", segment(activity_id)?);
        let answer = self.call_json(Method::GET, &base, &url, None, auth).await?;
        parse("activity members", answer)
    }

    /// `POST …/conversations/{id}/activities/history` with a `Transcript`.
    pub async fn send_history(
        &self,
        reference: &Activity,
        activities: &[Activity],
        auth: &Outbound,
    ) -> Result<ResourceResponse, ConnectorError> {
        let (base, root) = conversation_root(reference)?;
        let url = format!("{root}/activities/history");
        let body = json!({ "activities": activities });
        let answer = self
            .call_json(Method::POST, &base, &url, Some(&body), auth)
            .await?;
        Ok(serde_json::from_value(answer).unwrap_or_default())
    }

    /// `POST …/conversations/{id}/attachments` with `AttachmentData`
    /// (the bytes in base64, as the REST API wants them).
    pub async fn upload_attachment(
        &self,
        reference: &Activity,
        data: &AttachmentData,
        auth: &Outbound,
    ) -> Result<ResourceResponse, ConnectorError> {
        let (base, root) = conversation_root(reference)?;
        let url = format!("{root}/attachments");
        let body = json!({
            "type": data.content_type,
            "name": data.name,
            "originalBase64": STANDARD.encode(&data.original),
            "thumbnailBase64": data.thumbnail.as_ref().map(|t| STANDARD.encode(t)),
        });
        let answer = self
            .call_json(Method::POST, &base, &url, Some(&body), auth)
            .await?;
        Ok(serde_json::from_value(answer).unwrap_or_default())
    }

    /// `GET {serviceUrl}/v3/attachments/{id}`.
    pub async fn attachment_info(
        &self,
        service_url: &str,
        attachment_id: &str,
        auth: &Outbound,
    ) -> Result<AttachmentInfo, ConnectorError> {
        let base = parse_service_url(service_url)?;
        let url = format!(
            "{}/v3/attachments/{}",
            base_text(&base),
            segment(attachment_id)?
        );
        let answer = self.call_json(Method::GET, &base, &url, None, auth).await?;
        parse("attachment info", answer)
    }

    /// `GET {serviceUrl}/v3/attachments/{id}/views/{viewId}`: the bytes, at
    /// most `max_bytes` of them (more: `BadArgument`, nothing kept). Not
    /// retried: a download is the bot's to repeat.
    pub async fn attachment_view(
        &self,
        service_url: &str,
        attachment_id: &str,
        view_id: &str,
        max_bytes: usize,
        auth: &Outbound,
    ) -> Result<AttachmentContent, ConnectorError> {
        let base = parse_service_url(service_url)?;
        let url = format!(
            "{}/v3/attachments/{}/views/{}",
            base_text(&base),
            segment(attachment_id)?,
            segment(view_id)?
        );
        let token = self.authorize(&base, auth).await?;
        let mut request = self.http().get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ConnectorError::Unreachable(error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(read_response(response)
                .await
                .err()
                .unwrap_or_else(|| ConnectorError::Unreachable("no answer".into())));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let too_big = || {
            ConnectorError::BadArgument(format!(
                "the attachment is larger than the {max_bytes} bytes a bot may download"
            ))
        };
        if response
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ConnectorError::Unreachable(error_chain(&e)))?;
            if body.len() + chunk.len() > max_bytes {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(AttachmentContent { content_type, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids_are_encoded_in_member_urls() {
        let reference: Activity = serde_json::from_value(json!({
            "type": "message", "serviceUrl": "https://smba.example/amer/?x=1",
            "conversation": {"id": "a:1;messageid=2"}
        }))
        .unwrap();
        let (_, root) = conversation_root(&reference).unwrap();
        assert_eq!(
            root,
            "https://smba.example/amer/v3/conversations/a%3A1%3Bmessageid%3D2"
        );
        assert!(segment("").is_err());
    }
}
