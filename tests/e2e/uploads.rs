//! Direct Line's `/upload` (what Web Chat's attachment button calls): the
//! files reach the bot as attachments whose signed URLs serve them back,
//! the bot's `[uploads]` limits and quota hold with nothing stored on a
//! refusal, and another conversation's token can neither upload nor read.

use axum::http::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::support::*;

const SECRET: &str = "the-direct-line-secret";
/// The test bot's limits: small, so that tests cross them cheaply.
const LIMITS: &str = "[uploads]\nmax_file_bytes = 1000\nmax_files_per_request = 2\n\
                      max_total_bytes = 2500\n";

fn host() -> Host {
    let bots = BotsDir::with(&[("echo", "rust-echo"), ("files", "misbehave")]);
    std::fs::write(bots.path().join("files.toml"), LIMITS).unwrap();
    Host::start(
        bots,
        &["--default-bot", "echo", "--directline-secret", SECRET],
    )
}

/// One part of a multipart body.
struct Part<'a> {
    name: &'a str,
    filename: Option<&'a str>,
    content_type: Option<&'a str>,
    bytes: Vec<u8>,
}

fn file<'a>(filename: &'a str, content_type: &'a str, bytes: &[u8]) -> Part<'a> {
    Part {
        name: "file",
        filename: Some(filename),
        content_type: Some(content_type),
        bytes: bytes.to_vec(),
    }
}

/// The activity part, as DirectLineJS sends it.
fn activity_part(activity: Value) -> Part<'static> {
    Part {
        name: "activity",
        filename: Some("blob"),
        content_type: Some("application/vnd.microsoft.activity"),
        bytes: activity.to_string().into_bytes(),
    }
}

const BOUNDARY: &str = "----turnbox-test-boundary";

fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(filename) = part.filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        body.extend_from_slice(format!("{disposition}\r\n").as_bytes());
        if let Some(content_type) = part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post_raw(
    url: &str,
    bearer: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let response = client()
        .post(url)
        .bearer_auth(bearer)
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    read(response).await
}

async fn upload(url: &str, bearer: &str, parts: &[Part<'_>]) -> (StatusCode, Value) {
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    post_raw(url, bearer, &content_type, multipart(parts)).await
}

/// A conversation with `bot`: its id and token.
async fn conversation(host: &Host, bot: &str, user: &str) -> (String, String) {
    let response = client()
        .post(host.url(&format!("/bots/{bot}/v3/directline/conversations")))
        .bearer_auth(SECRET)
        .json(&json!({"user": {"id": user}}))
        .send()
        .await
        .unwrap();
    let (status, answer) = read(response).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    (
        answer["conversationId"].as_str().unwrap().to_owned(),
        answer["token"].as_str().unwrap().to_owned(),
    )
}

async fn activities(host: &Host, id: &str, token: &str) -> Vec<Value> {
    let response = client()
        .get(host.url(&format!("/v3/directline/conversations/{id}/activities")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, set) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    set["activities"].as_array().unwrap().clone()
}

/// GET a file: status, headers, bytes.
async fn fetch(
    url: &str,
    bearer: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = client().get(url);
    if let Some(bearer) = bearer {
        request = request.header(AUTHORIZATION, format!("Bearer {bearer}"));
    }
    let response = request.send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn error_code(bytes: &[u8]) -> String {
    let body: Value = serde_json::from_slice(bytes).expect("a JSON error");
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn uploaded_files_reach_the_bot_and_their_signed_urls_serve_them() {
    let host = host();
    let (id, token) = conversation(&host, "files", "alice").await;
    let url = host.url(&format!(
        "/v3/directline/conversations/{id}/upload?userId=alice"
    ));
    let activity = json!({"type": "message", "text": "look", "from": {"id": "mallory"},
        "attachments": [{"contentType": "text/plain", "name": "a.txt"}],
        "channelData": {"clientActivityID": "client-1"}});
    let png = [0x89, b'P', b'N', b'G', 0, 1, 2, 3];
    let (status, answer) = upload(
        &url,
        &token,
        &[
            activity_part(activity),
            file("a.txt", "text/plain", b"hello"),
            file("b.png", "image/png", &png),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let log = activities(&host, &id, &token).await;
    assert_eq!(log.len(), 2, "{log:?}");
    let posted = &log[0];
    assert_eq!(posted["id"], answer["id"]);
    assert_eq!(posted["from"]["id"], "alice", "the token's user");
    assert_eq!(posted["channelData"]["clientActivityID"], "client-1");
    assert_eq!(
        log[1]["text"], "received 2 attachment(s): a.txt (text/plain), b.png (image/png) text=look",
        "the bot saw the files"
    );
    let attachments = posted["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2);
    assert_eq!(attachments[1]["name"], "b.png");
    assert_eq!(attachments[1]["contentType"], "image/png");
    let text_url = attachments[0]["contentUrl"].as_str().unwrap().to_owned();
    let png_url = attachments[1]["contentUrl"].as_str().unwrap().to_owned();
    assert!(
        text_url.starts_with(&host.url("/bots/files/v3/directline/attachments/")),
        "{text_url}"
    );

    // The signed URL alone, as an <img src> fetches it.
    let (status, headers, bytes) = fetch(&png_url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, png);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("b.png")
    );
    let (status, headers, bytes) = fetch(&text_url, None).await;
    assert_eq!((status, bytes.as_slice()), (StatusCode::OK, &b"hello"[..]));
    assert_eq!(headers["content-type"], "text/plain");

    // Without the signature: the conversation's token or the secret.
    let bare = text_url.split('?').next().unwrap().to_owned();
    let (status, headers, bytes) = fetch(&bare, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&bytes), "Forbidden", "{headers:?}");
    assert_eq!(fetch(&bare, Some(&token)).await.2, b"hello");
    assert_eq!(fetch(&bare, Some(SECRET)).await.0, StatusCode::OK);
    // A forged signature, or another expiry under the same one.
    let (head, sig) = text_url.rsplit_once("sig=").unwrap();
    let flipped = format!(
        "{head}sig={}{}",
        if sig.starts_with('0') { '1' } else { '0' },
        &sig[1..]
    );
    assert_eq!(fetch(&flipped, None).await.0, StatusCode::FORBIDDEN);
    let later = text_url.replacen("expires=", "expires=9", 1);
    assert_eq!(fetch(&later, None).await.0, StatusCode::FORBIDDEN);
    // Another file's signature does not open this one.
    let other_id = png_url
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let swapped = text_url.replacen(bare.rsplit('/').next().unwrap(), other_id, 1);
    assert_eq!(fetch(&swapped, None).await.0, StatusCode::FORBIDDEN);
    // Unknown: 404 (to a caller allowed to know).
    let unknown = host.url("/bots/files/v3/directline/attachments/0123456789abcdef");
    let (status, _, bytes) = fetch(&unknown, Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&bytes), "NotFound");

    // Another conversation's token can neither read nor upload here.
    let (_, other_token) = conversation(&host, "files", "bob").await;
    assert_eq!(
        fetch(&bare, Some(&other_token)).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = upload(&url, &other_token, &[file("x.txt", "text/plain", b"x")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(activities(&host, &id, &token).await.len(), 2);

    // Without an activity part: a message of the files alone, from the
    // token's user; a file a browser would run is served as a download.
    let (status, answer) = upload(
        &url,
        &token,
        &[file("page.html", "text/html", b"<script>alert(1)</script>")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let log = activities(&host, &id, &token).await;
    assert_eq!(log.len(), 4);
    assert_eq!(log[2]["type"], "message");
    assert_eq!(log[2]["from"]["id"], "alice");
    assert_eq!(
        log[3]["text"],
        "received 1 attachment(s): page.html (text/html)"
    );
    let html_url = log[2]["attachments"][0]["contentUrl"].as_str().unwrap();
    let (status, headers, _) = fetch(html_url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    host.assert_no_panic();
}

#[tokio::test]
async fn uploads_over_a_limit_or_malformed_are_refused_and_store_nothing() {
    let host = host();
    let (id, token) = conversation(&host, "files", "alice").await;
    let url = host.url(&format!("/v3/directline/conversations/{id}/upload"));
    let kib = |n: usize| vec![b'k'; n];

    let refusals: Vec<(Vec<Part<'_>>, StatusCode, &str)> = vec![
        (
            vec![file("big.bin", "application/octet-stream", &kib(1001))],
            StatusCode::PAYLOAD_TOO_LARGE,
            "FileTooLarge",
        ),
        (
            vec![
                file("1", "text/plain", b"1"),
                file("2", "text/plain", b"2"),
                file("3", "text/plain", b"3"),
            ],
            StatusCode::PAYLOAD_TOO_LARGE,
            "TooManyFiles",
        ),
        (
            vec![activity_part(json!({"type": "message"}))],
            StatusCode::BAD_REQUEST,
            "BadArgument",
        ),
        (
            vec![
                Part {
                    name: "activity",
                    filename: None,
                    content_type: Some("application/vnd.microsoft.activity"),
                    bytes: b"{not json".to_vec(),
                },
                file("a", "text/plain", b"a"),
            ],
            StatusCode::BAD_REQUEST,
            "BadArgument",
        ),
    ];
    for (parts, status, code) in refusals {
        let (got, body) = upload(&url, &token, &parts).await;
        assert_eq!(got, status, "{body}");
        assert_error(&body, code);
    }
    // Malformed multipart, the wrong content type, no boundary.
    let mut cut = multipart(&[file("a.txt", "text/plain", b"hello")]);
    cut.truncate(cut.len() - 10);
    let form = format!("multipart/form-data; boundary={BOUNDARY}");
    let (status, body) = post_raw(&url, &token, &form, cut).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = post_raw(&url, &token, "application/json", b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_error(&body, "UnsupportedMediaType");
    let (status, body) = post_raw(&url, &token, "multipart/form-data", b"--x--".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A body larger than any upload the bot takes.
    let (status, body) = post_raw(&url, &token, &form, kib(500_000)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        activities(&host, &id, &token).await.is_empty(),
        "no activity"
    );

    // The quota: 2000 of 2500 bytes, then 600 more is refused whole.
    let thousand = kib(1000);
    let full = [
        file("a", "text/plain", &thousand),
        file("b", "text/plain", &thousand),
    ];
    assert_eq!(upload(&url, &token, &full).await.0, StatusCode::OK);
    let (status, body) = upload(
        &url,
        &token,
        &[
            file("c", "text/plain", &kib(300)),
            file("d", "text/plain", &kib(300)),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_error(&body, "QuotaExceeded");
    // Nothing of the refused uploads was kept: exactly the quota's rest fits.
    let (status, body) = upload(&url, &token, &[file("e", "text/plain", &kib(500))]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        upload(&url, &token, &[file("f", "text/plain", b"1")])
            .await
            .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        activities(&host, &id, &token).await.len(),
        4,
        "two uploads, two replies"
    );

    // The default limits of another bot take a file larger than the host's
    // 256 KiB body limit.
    let (echo_id, echo_token) = conversation(&host, "echo", "alice").await;
    let echo_url = host.url(&format!("/v3/directline/conversations/{echo_id}/upload"));
    let (status, body) = upload(
        &echo_url,
        &echo_token,
        &[file("big.bin", "application/octet-stream", &kib(300 << 10))],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    host.assert_no_panic();
}
