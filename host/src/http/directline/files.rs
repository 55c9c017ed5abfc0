//! `GET /attachments/{id}` (under `/v3/directline` or
//! `/bots/{bot}/v3/directline`): an uploaded file, read back. Browsers show
//! images with `<img src>`, which sends no `Authorization` header, so a
//! file's URL carries a signed capability (`?expires=&sig=`,
//! `channels::directline::uploads`); a Direct Line token of the file's
//! conversation, or a secret, works too. Files are served so that no
//! browser runs them: `nosniff`, a sandboxing CSP, and the content types a
//! browser would execute (HTML, SVG, XML, scripts) as a download of
//! `application/octet-stream`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::api::{Caller, bearer, caller, storage_failed};
use crate::channels::directline::uploads::SignatureError;
use crate::http::app::{ApiError, AppState};
use crate::storage::uploads::StoredFile;

/// The capability in a file's URL.
#[derive(serde::Deserialize)]
pub struct SignedQuery {
    pub expires: Option<String>,
    pub sig: Option<String>,
}

fn forbidden(message: impl Into<String>) -> ApiError {
    let message = message.into();
    tracing::info!(%message, "uploaded file refused");
    ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message)
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "no such file (or it has expired)",
    )
}

/// Whether a browser would run content of this type as a page or script.
fn executable(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.contains("html")
        || essence.contains("xml")
        || essence.contains("javascript")
        || essence.contains("ecmascript")
        || essence.contains("svg")
        || essence == "text/xsl"
        || essence == "application/pdf"
        || essence.starts_with("multipart/")
}

/// Whether a browser may show content of this type in place.
fn inline(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/bmp"
            | "image/avif"
            | "text/plain"
    ) || essence.starts_with("audio/")
        || essence.starts_with("video/")
}

/// `Content-Disposition` with the file's name: an ASCII fallback and the
/// UTF-8 name (RFC 6266).
fn disposition(kind: &str, name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// The file as the response: its bytes, and headers that keep a browser
/// from running it.
fn serve(file: &StoredFile, bytes: Vec<u8>) -> Response {
    let (content_type, kind) = if executable(&file.content_type) {
        ("application/octet-stream", "attachment")
    } else if inline(&file.content_type) {
        (file.content_type.as_str(), "inline")
    } else {
        (file.content_type.as_str(), "attachment")
    };
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::CONTENT_DISPOSITION, disposition(kind, &file.name));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    response
}

/// `GET /attachments/{id}?expires=&sig=`: the file, to the holder of its
/// signed URL or of a token of its conversation (or a secret); 403
/// otherwise, 404 when unknown or expired.
pub async fn file(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<SignedQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = params.get("id").map(String::as_str).unwrap_or_default();
    let uploads = &state.turns.directline.uploads;
    // Whose file: the path's bot, else the token's, else the default bot.
    let by_bearer = match bearer(&headers) {
        Some(presented) => Some(caller(&state, Some(presented), &headers, peer)?),
        None => None,
    };
    let bot = match (params.get("bot"), &by_bearer) {
        (Some(bot), _) => bot.clone(),
        (None, Some(Caller::Token(claims))) => claims.bot.clone(),
        (None, Some(Caller::BotSecret(route))) => route.clone(),
        (None, _) => state
            .turns
            .registry
            .default_bot()
            .and_then(|slot| slot.current().map(|v| v.route.clone()))
            .ok_or_else(not_found)?,
    };
    match &by_bearer {
        None => {
            let expires = query.expires.as_deref().and_then(|e| e.parse().ok());
            uploads
                .signer
                .verify(
                    &bot,
                    id,
                    expires,
                    query.sig.as_deref(),
                    crate::support::clock::now_millis(),
                )
                .map_err(|err| match err {
                    SignatureError::Missing => {
                        forbidden("an uploaded file needs its signed link or a Direct Line token")
                    }
                    other => forbidden(other.to_string()),
                })?;
        }
        Some(Caller::Token(claims)) if claims.bot != bot => {
            return Err(forbidden("the token is for another bot"));
        }
        Some(Caller::BotSecret(route)) if route != &bot => {
            return Err(forbidden("this secret is for another bot"));
        }
        Some(_) => {}
    }
    let (file, bytes) = uploads
        .get(&bot, id)
        .await
        .map_err(storage_failed)?
        .ok_or_else(not_found)?;
    if let Some(Caller::Token(claims)) = &by_bearer
        && claims.conv != file.conversation
    {
        return Err(forbidden("the token is for another conversation"));
    }
    Ok(serve(&file, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_types_are_never_served_as_themselves() {
        for t in [
            "text/html",
            "TEXT/HTML; charset=utf-8",
            "application/xhtml+xml",
            "image/svg+xml",
            "text/xml",
            "application/javascript",
            "text/javascript",
        ] {
            assert!(executable(t), "{t}");
        }
        for t in ["image/png", "text/plain", "application/zip", "audio/mpeg"] {
            assert!(!executable(t), "{t}");
        }
        assert!(inline("image/png") && inline("text/plain; charset=utf-8"));
        assert!(!inline("application/zip"));
    }

    #[test]
    fn dispositions_carry_the_name_safely() {
        let value = disposition("attachment", "résumé \"final\".pdf");
        let text = value.to_str().unwrap();
        assert!(
            text.starts_with("attachment; filename=\"r_sum_ _final_.pdf\""),
            "{text}"
        );
        assert!(text.contains("filename*=UTF-8''r%C3%A9sum%C3%A9"), "{text}");
    }
}
