//! `POST /conversations/{id}/upload?userId=`: Direct Line's upload, as
//! DirectLineJS (Web Chat's attachment button) calls it. The body is
//! `multipart/form-data`: file parts, and optionally an `activity` part
//! (`application/vnd.microsoft.activity`) whose attachments the files
//! become; without it the user sends a `message` of the files alone. The
//! files are stored (`channels::directline::uploads`) under the bot's
//! `[uploads]` limits, all or none, and the activity goes to the bot as a
//! posted one does, each attachment's `contentUrl` a signed link to this
//! host (`files.rs`). The host's body middleware leaves these requests
//! alone: the body is read here, once the caller and the bot's limit are
//! known.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::api::{authorized, bearer, request_host, storage_failed};
use super::delivery::{Delivery, bot_of};
use crate::http::app::{ApiError, AppState};
use crate::schema::activity::{Activity, Attachment};
use crate::schema::manifest::uploads::{MAX_ACTIVITY_PART_BYTES, UploadLimits};
use crate::storage::StorageError;
use crate::storage::uploads::{NewFile, StoredFile};

/// The content type of the `activity` part.
pub const ACTIVITY_CONTENT_TYPE: &str = "application/vnd.microsoft.activity";

/// The query of an upload.
#[derive(serde::Deserialize)]
pub struct UploadQuery {
    #[serde(rename = "userId")]
    pub user_id: Option<String>,
}

/// What an upload's body held.
struct Parts {
    activity: Option<Activity>,
    files: Vec<NewFile>,
}

fn too_large(code: &'static str, message: String) -> ApiError {
    tracing::info!(code, %message, "upload rejected");
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
}

fn malformed(message: String) -> ApiError {
    tracing::info!(%message, "upload rejected: malformed");
    ApiError::bad_argument(message)
}

/// A file's name as stored: its last path component, without control
/// characters, at most 255 characters.
fn file_name(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or_default();
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    match clean.trim() {
        "" | "." | ".." => "file".into(),
        name => name.to_owned(),
    }
}

/// Reads the multipart body: at most `limits.max_files_per_request` files
/// of at most `limits.max_file_bytes` each, and one activity part.
async fn parse(
    body: axum::body::Bytes,
    boundary: String,
    limits: &UploadLimits,
) -> Result<Parts, ApiError> {
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .per_field(limits.max_file_bytes)
            .for_field(
                "activity",
                MAX_ACTIVITY_PART_BYTES.max(limits.max_file_bytes),
            ),
    );
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut parts = Parts {
        activity: None,
        files: Vec::new(),
    };
    let part_error = |err: multer::Error| match err {
        multer::Error::FieldSizeExceeded { limit, .. } => too_large(
            "FileTooLarge",
            format!("a file exceeds this bot's limit of {limit} bytes"),
        ),
        other => malformed(format!("the multipart body is malformed: {other}")),
    };
    while let Some(field) = multipart.next_field().await.map_err(part_error)? {
        let content_type = field.content_type().map(|m| m.to_string());
        let is_activity = content_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(ACTIVITY_CONTENT_TYPE))
            || (field.name() == Some("activity") && field.file_name().is_none());
        if is_activity {
            if parts.activity.is_some() {
                return Err(malformed("an upload has at most one activity part".into()));
            }
            let bytes = field.bytes().await.map_err(part_error)?;
            if bytes.len() as u64 > MAX_ACTIVITY_PART_BYTES {
                return Err(too_large(
                    "PayloadTooLarge",
                    format!("the activity part exceeds {MAX_ACTIVITY_PART_BYTES} bytes"),
                ));
            }
            let activity = Activity::from_json_bytes(&bytes)
                .map_err(|e| malformed(format!("the activity part: {e}")))?;
            parts.activity = Some(activity);
            continue;
        }
        if parts.files.len() as u32 >= limits.max_files_per_request {
            return Err(too_large(
                "TooManyFiles",
                format!(
                    "an upload may hold at most {} files for this bot",
                    limits.max_files_per_request
                ),
            ));
        }
        let name = file_name(field.file_name().or(field.name()));
        let content_type = content_type
            .filter(|t| t.len() <= 255)
            .unwrap_or_else(|| "application/octet-stream".into());
        let bytes = field.bytes().await.map_err(part_error)?;
        parts.files.push(NewFile {
            name,
            content_type,
            bytes: bytes.to_vec(),
        });
    }
    if parts.files.is_empty() {
        return Err(malformed("an upload needs at least one file part".into()));
    }
    Ok(parts)
}

/// The boundary of a `multipart/form-data` body: another content type is a
/// 415, a multipart one without a boundary a 400.
fn boundary(headers: &HeaderMap) -> Result<String, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence != "multipart/form-data" {
        tracing::info!(content_type, "upload rejected: not multipart/form-data");
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "an upload is `multipart/form-data`",
        )
        .before_body());
    }
    multer::parse_boundary(content_type)
        .map_err(|e| malformed(format!("the content type has no boundary: {e}")).before_body())
}

/// The attachment the bot and the client see for a stored file: its URL
/// on this host, signed until the file expires.
fn attachment(state: &AppState, headers: &HeaderMap, file: &StoredFile) -> Attachment {
    let signature =
        state
            .turns
            .directline
            .uploads
            .signer
            .sign(&file.bot, &file.id, file.expires_at);
    let url = format!(
        "http://{}/bots/{}/v3/directline/attachments/{}?expires={}&sig={signature}",
        request_host(headers),
        file.bot,
        file.id,
        file.expires_at
    );
    Attachment {
        content_type: file.content_type.clone(),
        content_url: Some(url),
        name: Some(file.name.clone()),
        ..Default::default()
    }
}

/// `POST /conversations/{id}/upload?userId=`: answers `{id}` of the
/// activity, as a posted one.
pub async fn upload(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let (caller, conversation) = authorized(&state, bearer(&headers), &headers, peer, &params)
        .await
        .map_err(ApiError::before_body)?;
    let limits = bot_of(&state, &conversation)
        .map_err(ApiError::before_body)?
        .1
        .uploads;
    let boundary = boundary(&headers)?;
    let limit = usize::try_from(limits.max_request_bytes()).unwrap_or(usize::MAX);
    let body = crate::http::body::read_body(&state, &headers, "/upload", body, limit).await?;
    let parts = parse(body, boundary, &limits).await?;

    let activity = match parts.activity {
        Some(activity) => activity,
        None => Activity::from_json_bytes(br#"{"type":"message"}"#).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal", e.to_string())
        })?,
    };
    let mut delivery = Delivery::prepare(
        &state,
        &caller,
        &conversation,
        activity,
        query.user_id.as_deref(),
    )?;
    let uploads = &state.turns.directline.uploads;
    let stored = uploads
        .store(
            &conversation.bot,
            &conversation.id,
            parts.files,
            limits.retention,
            limits.max_total_bytes,
        )
        .await
        .map_err(|err| match err {
            StorageError::QuotaExceeded { size, limit } => too_large(
                "QuotaExceeded",
                format!("the bot's files would take {size} bytes, over its quota of {limit}"),
            ),
            other => storage_failed(other),
        })?;
    delivery.activity_mut().attachments = Some(
        stored
            .iter()
            .map(|f| attachment(&state, &headers, f))
            .collect(),
    );
    let activity_id = match delivery.log(&state).await {
        Ok(id) => id,
        Err(err) => {
            let ids = stored.into_iter().map(|f| f.id).collect();
            if let Err(undo) = uploads.discard(&conversation.bot, ids).await {
                tracing::error!(error = %undo, "cannot delete the files of a failed upload");
            }
            return Err(storage_failed(err));
        }
    };
    tracing::info!(
        bot = %conversation.bot,
        files = stored.len(),
        bytes = stored.iter().map(|f| f.size).sum::<u64>(),
        "files uploaded"
    );
    delivery.run(&state, activity_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_paths_are_recognised() {
        assert!(crate::http::body::is_upload_path(
            "/v3/directline/conversations/abc/upload"
        ));
        assert!(crate::http::body::is_upload_path(
            "/bots/echo/v3/directline/conversations/abc/upload"
        ));
        assert!(!crate::http::body::is_upload_path(
            "/v3/directline/conversations//upload"
        ));
        assert!(!crate::http::body::is_upload_path(
            "/v3/directline/conversations/abc/activities"
        ));
        assert!(!crate::http::body::is_upload_path(
            "/api/bots/echo/messages"
        ));
        assert!(!crate::http::body::is_upload_path(
            "/x/v3/directline/conversations/abc/upload"
        ));
    }

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(file_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(file_name(Some("C:\\Users\\me\\photo.png")), "photo.png");
        assert_eq!(file_name(Some("a\r\nb.txt")), "ab.txt");
        assert_eq!(file_name(Some("..")), "file");
        assert_eq!(file_name(None), "file");
        assert_eq!(file_name(Some(&"x".repeat(300))).len(), 255);
    }
}
