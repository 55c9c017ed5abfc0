//! The OpenAPI declarations of the routes documented apart from their
//! handlers: the Bot Framework endpoints, Direct Line (served under two
//! bases, one handler each), the admin API, status, the chat page and the
//! Direct Line connector endpoints. Each is a `#[utoipa::path]` on an empty
//! function; `openapi.rs`'s test holds the set of them, with the annotated
//! handlers of the conversations API, equal to the router's routes. The
//! README and docs/STATE-AND-MESSAGING.md describe their bodies.

use crate::http::app::ErrorBody;

/// One declared route: name, method, path, tag, summary, path parameters.
macro_rules! declare {
    ($name:ident, $method:ident, $path:literal, $tag:literal, $summary:literal $(, $param:literal)*) => {
        #[doc = $summary]
        #[utoipa::path($method, path = $path, tag = $tag,
            params($(($param = String, Path)),*),
            responses((status = 200, description = "success"),
                      (status = 400, description = "a client error", body = ErrorBody),
                      (status = 500, description = "a server error", body = ErrorBody)))]
        pub fn $name() {}
    };
}

declare!(
    messages,
    post,
    "/api/messages",
    "bot framework",
    "An activity for the default bot."
);
declare!(
    bot_messages,
    post,
    "/api/bots/{bot}/messages",
    "bot framework",
    "An activity for a bot.",
    "bot"
);

declare!(
    dl_generate,
    post,
    "/v3/directline/tokens/generate",
    "direct line",
    "Secret to a token for a new conversation."
);
declare!(
    dl_refresh,
    post,
    "/v3/directline/tokens/refresh",
    "direct line",
    "A fresh token."
);
declare!(
    dl_start,
    post,
    "/v3/directline/conversations",
    "direct line",
    "Start a conversation."
);
declare!(
    dl_reconnect,
    get,
    "/v3/directline/conversations/{id}",
    "direct line",
    "Reconnect: a new stream URL.",
    "id"
);
declare!(
    dl_activities,
    get,
    "/v3/directline/conversations/{id}/activities",
    "direct line",
    "Activities since a watermark.",
    "id"
);
declare!(
    dl_post,
    post,
    "/v3/directline/conversations/{id}/activities",
    "direct line",
    "Post a user activity; the bot's turn runs.",
    "id"
);
declare!(
    dl_stream,
    get,
    "/v3/directline/conversations/{id}/stream",
    "direct line",
    "The WebSocket stream.",
    "id"
);
declare!(
    dlb_generate,
    post,
    "/bots/{bot}/v3/directline/tokens/generate",
    "direct line",
    "Secret to a token for a new conversation with a bot.",
    "bot"
);
declare!(
    dlb_refresh,
    post,
    "/bots/{bot}/v3/directline/tokens/refresh",
    "direct line",
    "A fresh token.",
    "bot"
);
declare!(
    dlb_start,
    post,
    "/bots/{bot}/v3/directline/conversations",
    "direct line",
    "Start a conversation with a bot.",
    "bot"
);
declare!(
    dlb_reconnect,
    get,
    "/bots/{bot}/v3/directline/conversations/{id}",
    "direct line",
    "Reconnect: a new stream URL.",
    "bot",
    "id"
);
declare!(
    dlb_activities,
    get,
    "/bots/{bot}/v3/directline/conversations/{id}/activities",
    "direct line",
    "Activities since a watermark.",
    "bot",
    "id"
);
declare!(
    dlb_post,
    post,
    "/bots/{bot}/v3/directline/conversations/{id}/activities",
    "direct line",
    "Post a user activity; the bot's turn runs.",
    "bot",
    "id"
);
declare!(
    dlb_stream,
    get,
    "/bots/{bot}/v3/directline/conversations/{id}/stream",
    "direct line",
    "The WebSocket stream.",
    "bot",
    "id"
);
declare!(
    dl_upload,
    post,
    "/v3/directline/conversations/{id}/upload",
    "direct line",
    "Upload files (multipart/form-data, an optional `activity` part); the bot's turn runs with them as attachments.",
    "id"
);
declare!(
    dlb_upload,
    post,
    "/bots/{bot}/v3/directline/conversations/{id}/upload",
    "direct line",
    "Upload files (multipart/form-data, an optional `activity` part); the bot's turn runs with them as attachments.",
    "bot",
    "id"
);
declare!(
    dl_file,
    get,
    "/v3/directline/attachments/{id}",
    "direct line",
    "An uploaded file: with its signed URL's `expires` and `sig`, or a token of its conversation.",
    "id"
);
declare!(
    dlb_file,
    get,
    "/bots/{bot}/v3/directline/attachments/{id}",
    "direct line",
    "An uploaded file: with its signed URL's `expires` and `sig`, or a token of its conversation.",
    "bot",
    "id"
);

declare!(
    connector_post,
    post,
    "/directline-connector/{key}/v3/conversations/{conversation}/activities",
    "internal",
    "The bot's send into a Direct Line conversation (this host's own connector).",
    "key",
    "conversation"
);
declare!(
    connector_reply,
    post,
    "/directline-connector/{key}/v3/conversations/{conversation}/activities/{activity}",
    "internal",
    "The bot's reply.",
    "key",
    "conversation",
    "activity"
);
declare!(
    connector_update,
    put,
    "/directline-connector/{key}/v3/conversations/{conversation}/activities/{activity}",
    "internal",
    "The bot's update of an activity.",
    "key",
    "conversation",
    "activity"
);
declare!(
    connector_delete,
    delete,
    "/directline-connector/{key}/v3/conversations/{conversation}/activities/{activity}",
    "internal",
    "The bot's delete of an activity.",
    "key",
    "conversation",
    "activity"
);

declare!(
    connector_history,
    post,
    "/directline-connector/{key}/v3/conversations/{conversation}/activities/history",
    "internal",
    "The bot's `sendConversationHistory`: the transcript's activities appended in order.",
    "key",
    "conversation"
);
declare!(
    connector_members,
    get,
    "/directline-connector/{key}/v3/conversations/{conversation}/members",
    "internal",
    "The conversation's members: its users, then the bot.",
    "key",
    "conversation"
);
declare!(
    connector_paged_members,
    get,
    "/directline-connector/{key}/v3/conversations/{conversation}/pagedmembers",
    "internal",
    "The conversation's members a page at a time (`pageSize`, `continuationToken`).",
    "key",
    "conversation"
);
declare!(
    connector_member,
    get,
    "/directline-connector/{key}/v3/conversations/{conversation}/members/{member}",
    "internal",
    "One member of the conversation.",
    "key",
    "conversation",
    "member"
);
declare!(
    connector_delete_member,
    delete,
    "/directline-connector/{key}/v3/conversations/{conversation}/members/{member}",
    "internal",
    "Refused (405): a Direct Line conversation keeps its members.",
    "key",
    "conversation",
    "member"
);
declare!(
    connector_activity_members,
    get,
    "/directline-connector/{key}/v3/conversations/{conversation}/activities/{activity}/members",
    "internal",
    "An activity's sender and recipient.",
    "key",
    "conversation",
    "activity"
);

declare!(
    skill_send,
    post,
    "/api/skills/v3/conversations/{conversation}/activities",
    "skills",
    "A skill's activity into a root bot's conversation (skill conversation id).",
    "conversation"
);
declare!(
    skill_reply,
    post,
    "/api/skills/v3/conversations/{conversation}/activities/{activity}",
    "skills",
    "A skill's reply.",
    "conversation",
    "activity"
);
declare!(
    skill_update,
    put,
    "/api/skills/v3/conversations/{conversation}/activities/{activity}",
    "skills",
    "A skill's update of an activity.",
    "conversation",
    "activity"
);
declare!(
    skill_delete,
    delete,
    "/api/skills/v3/conversations/{conversation}/activities/{activity}",
    "skills",
    "A skill's delete of an activity.",
    "conversation",
    "activity"
);

declare!(
    admin_conversations,
    get,
    "/api/bots/{bot}/conversations",
    "admin",
    "A bot's transcribed conversations, newest first.",
    "bot"
);
declare!(
    admin_activities,
    get,
    "/api/bots/{bot}/conversations/{conversation}/activities",
    "admin",
    "A conversation's transcript.",
    "bot",
    "conversation"
);
declare!(
    admin_proactive,
    post,
    "/api/bots/{bot}/proactive",
    "admin",
    "A proactive turn.",
    "bot"
);

declare!(
    healthz,
    get,
    "/healthz",
    "status",
    "Liveness and the bots' routes."
);
declare!(bots, get, "/api/bots", "status", "Every bot's status.");
declare!(
    metrics,
    get,
    "/metrics",
    "status",
    "Prometheus metrics (OpenMetrics text)."
);
declare!(
    openapi,
    get,
    "/api/openapi.json",
    "status",
    "This document."
);

declare!(
    chat_index,
    get,
    "/",
    "chat page",
    "The list of bots (HTML)."
);
declare!(
    chat_asset,
    get,
    "/chat/assets/{file}",
    "chat page",
    "The chat page's assets.",
    "file"
);
declare!(
    chat_bot,
    get,
    "/chat/{bot}",
    "chat page",
    "The chat page of a bot (HTML).",
    "bot"
);
declare!(
    chat_session,
    post,
    "/chat/{bot}/session",
    "chat page",
    "A Direct Line token for the chat page.",
    "bot"
);
