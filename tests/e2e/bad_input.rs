//! Malformed requests: each gets its 4xx and a JSON error body, no turn
//! runs, and the host keeps serving.

use axum::http::StatusCode;

use crate::support::*;

struct Case {
    name: &'static str,
    method: reqwest::Method,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: StatusCode,
    code: &'static str,
}

fn post(name: &'static str, body: &[u8], status: StatusCode, code: &'static str) -> Case {
    Case {
        name,
        method: reqwest::Method::POST,
        path: "/api/bots/echo/messages",
        content_type: Some("application/json"),
        body: body.to_vec(),
        status,
        code,
    }
}

fn cases() -> Vec<Case> {
    use StatusCode as S;
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
            path: "/api/messages",
            ..post(
                "PUT on /api/messages",
                br#"{"type":"message"}"#,
                S::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
            )
        },
        Case {
            path: "/api/bots/nobody/messages",
            ..post(
                "unknown bot",
                br#"{"type":"message"}"#,
                S::NOT_FOUND,
                "BotNotFound",
            )
        },
        Case {
            path: "/api/nothing",
            ..post(
                "unknown route",
                br#"{"type":"message"}"#,
                S::NOT_FOUND,
                "NotFound",
            )
        },
    ]
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_with_a_json_error() {
    let connector = Connector::start().await;
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &[]);
    let client = client();
    for case in cases() {
        let mut request = client
            .request(case.method.clone(), host.url(case.path))
            .body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
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
