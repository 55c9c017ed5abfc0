//! Malformed requests across ingress, the admin API and Direct Line: each
//! gets its 4xx and a JSON error body, no turn runs, the host never panics
//! and keeps serving.

use axum::http::StatusCode;

use crate::support::*;

struct Case {
    name: &'static str,
    method: reqwest::Method,
    path: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: StatusCode,
    code: &'static str,
}

fn post(name: &'static str, body: &[u8], status: StatusCode, code: &'static str) -> Case {
    Case {
        name,
        method: reqwest::Method::POST,
        path: "/api/bots/echo/messages".into(),
        content_type: Some("application/json"),
        headers: Vec::new(),
        body: body.to_vec(),
        status,
        code,
    }
}

/// The cases; `conversation` is a live Direct Line conversation.
fn cases(conversation: &str) -> Vec<Case> {
    use StatusCode as S;
    let directline = |name, method, path: String, body: &[u8], status, code| Case {
        method,
        path,
        ..post(name, body, status, code)
    };
    let activities = format!("/v3/directline/conversations/{conversation}/activities");
    let mut nested = br#"{"type":"message","conversation":{"id":"c"},"value":"#.to_vec();
    nested.extend(std::iter::repeat_n(b'[', 100_000));
    nested.extend(std::iter::repeat_n(b']', 100_000));
    nested.push(b'}');
    let bad = |name, body: &[u8]| post(name, body, S::BAD_REQUEST, "BadArgument");
    let mut huge = br#"{"type":"message","text":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 300 * 1024));
    huge.extend(br#""}"#);
    vec![
        bad("not JSON", b"hello"),
        bad("truncated JSON", br#"{"type":"message","text":"hi"#),
        bad("empty body", b""),
        bad("a JSON array", br#"[{"type":"message"}]"#),
        bad("a JSON string", br#""message""#),
        bad("JSON null", b"null"),
        bad("no type", br#"{"text":"hi"}"#),
        bad("empty type", br#"{"type":""}"#),
        bad("type is a number", br#"{"type":7}"#),
        bad("text is a number", br#"{"type":"message","text":5}"#),
        bad("from is a string", br#"{"type":"message","from":"me"}"#),
        bad(
            "membersAdded is an object",
            br#"{"type":"conversationUpdate","membersAdded":{}}"#,
        ),
        bad(
            "invalid UTF-8",
            b"{\"type\":\"message\",\"text\":\"\xff\xfe\"}",
        ),
        bad("trailing garbage", br#"{"type":"message"} {"#),
        post(
            "body over 256 KiB",
            &huge,
            S::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
        ),
        Case {
            content_type: Some("text/plain"),
            ..post(
                "wrong content type",
                br#"{"type":"message"}"#,
                S::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
            )
        },
        Case {
            method: reqwest::Method::GET,
            ..post(
                "GET on the messages route",
                b"",
                S::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
            )
        },
        Case {
            method: reqwest::Method::PUT,
            path: "/api/messages".into(),
            ..post(
                "PUT on /api/messages",
                br#"{"type":"message"}"#,
                S::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
            )
        },
        Case {
            path: "/api/bots/nobody/messages".into(),
            ..post(
                "unknown bot",
                br#"{"type":"message"}"#,
                S::NOT_FOUND,
                "BotNotFound",
            )
        },
        Case {
            path: "/api/nothing".into(),
            ..post(
                "unknown route",
                br#"{"type":"message"}"#,
                S::NOT_FOUND,
                "NotFound",
            )
        },
        bad("JSON nested 100k levels deep", &nested),
        bad("no conversation", br#"{"type":"message","text":"hi"}"#),
        bad(
            "empty conversation id",
            br#"{"type":"message","conversation":{"id":""}}"#,
        ),
        bad(
            "null conversation id",
            br#"{"type":"message","conversation":{"id":null}}"#,
        ),
        bad(
            "empty activity id",
            br#"{"type":"message","id":"","conversation":{"id":"c"}}"#,
        ),
        Case {
            path: "/api/bots/..%2F..%2Fetc/messages".into(),
            ..post(
                "path traversal in the bot name",
                br#"{"type":"message","conversation":{"id":"c"}}"#,
                S::NOT_FOUND,
                "BotNotFound",
            )
        },
        Case {
            headers: vec![("x-padding", "a".repeat(40 * 1024))],
            ..post(
                "headers too large",
                br#"{"type":"message","conversation":{"id":"c"}}"#,
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "HeadersTooLarge",
            )
        },
        Case {
            path: "/api/bots/echo/proactive".into(),
            ..post(
                "proactive: not JSON",
                b"{bad",
                S::BAD_REQUEST,
                "BadArgument",
            )
        },
        Case {
            path: "/api/bots/nobody/proactive".into(),
            ..post("proactive: unknown bot", b"{}", S::NOT_FOUND, "BotNotFound")
        },
        Case {
            method: reqwest::Method::DELETE,
            path: "/api/bots".into(),
            ..post(
                "DELETE on the bots list",
                b"",
                S::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
            )
        },
        directline(
            "Direct Line: unknown conversation",
            reqwest::Method::POST,
            "/v3/directline/conversations/nope/activities".into(),
            br#"{"type":"message","from":{"id":"u"},"text":"hi"}"#,
            S::NOT_FOUND,
            "NotFound",
        ),
        directline(
            "Direct Line: a watermark that is not a number",
            reqwest::Method::GET,
            format!("{activities}?watermark=abc"),
            b"",
            S::BAD_REQUEST,
            "BadArgument",
        ),
        directline(
            "Direct Line: a negative watermark",
            reqwest::Method::GET,
            format!("{activities}?watermark=-5"),
            b"",
            S::BAD_REQUEST,
            "BadArgument",
        ),
        directline(
            "Direct Line: activity not JSON",
            reqwest::Method::POST,
            activities.clone(),
            b"{bad",
            S::BAD_REQUEST,
            "BadArgument",
        ),
        directline(
            "Direct Line: text is a number",
            reqwest::Method::POST,
            activities.clone(),
            br#"{"type":"message","from":{"id":"u"},"text":5}"#,
            S::BAD_REQUEST,
            "BadArgument",
        ),
        Case {
            headers: vec![("authorization", "Bearer not-a-token".into())],
            ..directline(
                "Direct Line: refresh with a bad token",
                reqwest::Method::POST,
                "/v3/directline/tokens/refresh".into(),
                b"",
                S::FORBIDDEN,
                "Forbidden",
            )
        },
    ]
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_with_a_json_error() {
    let connector = Connector::start().await;
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let client = client();
    let (_, started) = read(
        client
            .post(host.url("/v3/directline/conversations"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let conversation = started["conversationId"].as_str().unwrap().to_owned();
    let cases = cases(&conversation);
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for case in cases {
        let mut request = client
            .request(case.method.clone(), host.url(&case.path))
            .body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let (status, body) = read(response).await;
        assert_eq!(status, case.status, "{}: {body}", case.name);
        assert_error(&body, case.code);
    }
    assert!(
        connector.received().is_empty(),
        "no turn may run on bad input"
    );

    // The host still serves a normal turn, and never panicked.
    let (status, _) = post_activity(
        &host.url("/api/bots/echo/messages"),
        &message(&connector.service_url(), "ok"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(connector.received().len(), 1);
    assert!(
        host.wait_for_log("request rejected").await,
        "rejections are logged"
    );
    host.assert_no_panic();
}
