//! The Bot Connector's member, history and attachment calls for the turn's
//! conversation (botbuilder's `ConnectorClient.conversations` and
//! `.attachments`), made by the host with the bot's token.
//!
//! ```ignore
//! let members = turnbox_guest::connector::get_conversation_members()?;
//! ctx.send_text(format!("{} people here", members.len()))?;
//! ```

use crate::bindings::turnbox::bot::connector as raw;
pub use crate::bindings::turnbox::bot::connector::{
    AttachmentContent, AttachmentData, AttachmentInfo, AttachmentView, PagedMembers,
};
use crate::bindings::turnbox::bot::types::{Activity, ChannelAccount, ResourceResponse};
use crate::error::Result;

/// Every member of the conversation.
pub fn get_conversation_members() -> Result<Vec<ChannelAccount>> {
    Ok(raw::get_conversation_members()?)
}

/// One page of the conversation's members; pass the page's
/// `continuation_token` for the next.
pub fn get_paged_members(
    page_size: Option<u32>,
    continuation_token: Option<&str>,
) -> Result<PagedMembers> {
    Ok(raw::get_paged_members(page_size, continuation_token)?)
}

/// One member of the conversation by id.
pub fn get_conversation_member(member_id: &str) -> Result<ChannelAccount> {
    Ok(raw::get_conversation_member(member_id)?)
}

/// The members an activity was sent to; the incoming activity's for `None`.
pub fn get_activity_members(activity_id: Option<&str>) -> Result<Vec<ChannelAccount>> {
    Ok(raw::get_activity_members(activity_id)?)
}

/// Removes a member from the conversation.
pub fn delete_conversation_member(member_id: &str) -> Result<()> {
    Ok(raw::delete_conversation_member(member_id)?)
}

/// Uploads past activities into the conversation.
pub fn send_conversation_history(activities: &[Activity]) -> Result<ResourceResponse> {
    Ok(raw::send_conversation_history(activities)?)
}

/// Stores a file with the channel; returns its id.
pub fn upload_attachment(data: &AttachmentData) -> Result<ResourceResponse> {
    Ok(raw::upload_attachment(data)?)
}

/// What the channel knows of a stored attachment.
pub fn get_attachment_info(attachment_id: &str) -> Result<AttachmentInfo> {
    Ok(raw::get_attachment_info(attachment_id)?)
}

/// Downloads one view (`original`, `thumbnail`, …) of a stored attachment.
pub fn get_attachment(attachment_id: &str, view_id: &str) -> Result<AttachmentContent> {
    Ok(raw::get_attachment(attachment_id, view_id)?)
}
