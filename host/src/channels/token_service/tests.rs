//! Unit tests of the Token Service client: state encoding, answers, retries over HTTP.

use super::*;

#[test]
fn answers_map_to_results_and_error_codes() {
    let ok = answer_of(StatusCode::OK, br#"{"token":"t"}"#, None).unwrap();
    assert_eq!(token_or_none(ok).unwrap().unwrap().token, "t");
    assert_eq!(
        token_or_none(answer_of(StatusCode::OK, b"", None).unwrap()).unwrap(),
        None
    );
    assert_eq!(
        token_or_none(json!({"connectionName": "g"})).unwrap(),
        None,
        "an answer without a token is none"
    );
    let err = answer_of(
        StatusCode::NOT_FOUND,
        br#"{"error":{"code":"NotFound","message":"no token"}}"#,
        None,
    )
    .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.code(), "TokenServiceError");
    assert!(err.to_string().contains("NotFound: no token"), "{err}");
    assert!(!err.is_transient());
    let busy = answer_of(
        StatusCode::TOO_MANY_REQUESTS,
        b"",
        Some(Duration::from_secs(1)),
    )
    .unwrap_err();
    assert!(busy.is_transient());
    assert!(
        answer_of(StatusCode::BAD_GATEWAY, b"<html>", None)
            .unwrap_err()
            .is_transient()
    );
    let garbled = answer_of(StatusCode::OK, b"{not json", None).unwrap_err();
    assert_eq!(garbled.code(), "TokenServiceError");
    assert_eq!(
        TokenServiceError::Unreachable("x".into()).code(),
        "Unreachable"
    );
    assert!(TokenServiceError::Unreachable("x".into()).is_transient());
    assert_eq!(
        TokenServiceError::ConnectionNotAllowed("x".into()).code(),
        "ConnectionNotAllowed"
    );
    assert_eq!(TokenServiceError::Token("x".into()).code(), "TokenError");
}

#[test]
fn the_base_url_is_checked_and_paths_join_under_it() {
    let http = reqwest::Client::new();
    assert!(TokenServiceClient::new("ftp://x", http.clone()).is_err());
    assert!(TokenServiceClient::new("not a url", http.clone()).is_err());
    let client = TokenServiceClient::new("http://127.0.0.1:9/prefix", http).unwrap();
    assert_eq!(
        client.base.join("api/usertoken/GetToken").unwrap().as_str(),
        "http://127.0.0.1:9/prefix/api/usertoken/GetToken"
    );
}

/// A stand-in service: answers 503 to the first `failures` calls, then
/// by route; records each call's path, query and body.
async fn stand_in(failures: usize) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::extract::{Query, State};
    use axum::http::Uri;
    use std::sync::{Arc, Mutex};
    type Calls = Arc<Mutex<Vec<String>>>;
    let calls: Calls = Arc::default();
    let app = axum::Router::new()
        .fallback(
            move |State(calls): State<Calls>,
                  uri: Uri,
                  Query(q): Query<std::collections::HashMap<String, String>>,
                  body: String| async move {
                let n = {
                    let mut calls = calls.lock().unwrap();
                    calls.push(format!("{} {} {body}", uri.path(), uri.query().unwrap_or("")));
                    calls.len()
                };
                if n <= failures {
                    return (StatusCode::SERVICE_UNAVAILABLE, String::new());
                }
                let ok = |v: Value| (StatusCode::OK, v.to_string());
                match uri.path() {
                    "/api/usertoken/GetAadTokens" => ok(json!({
                        "https://graph.example": {"connectionName": q["connectionName"], "token": "aad-1"}
                    })),
                    "/api/usertoken/GetTokenStatus" => ok(json!([
                        {"connectionName": "graph", "hasToken": true}
                    ])),
                    "/api/usertoken/GetToken" => (StatusCode::NOT_FOUND, String::new()),
                    "/api/usertoken/exchange" => (
                        StatusCode::BAD_REQUEST,
                        json!({"error": {"code": "ConsentRequired", "message": "m"}}).to_string(),
                    ),
                    _ => (StatusCode::UNAUTHORIZED, "no".into()),
                }
            },
        )
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), calls)
}

#[tokio::test]
async fn calls_use_the_routes_retry_5xx_and_map_answers() {
    let (url, calls) = stand_in(2).await;
    let mut client = TokenServiceClient::new(&url, reqwest::Client::new()).unwrap();
    client.min_backoff = Duration::from_millis(1);
    let key = UserKey {
        user_id: "u 1",
        connection: "graph",
        channel_id: "msteams",
    };
    let tokens = client
        .get_aad_tokens(Some("t"), &key, &["https://graph.example".into()])
        .await
        .unwrap();
    assert_eq!(tokens[0].0, "https://graph.example");
    assert_eq!(tokens[0].1.token, "aad-1");
    let recorded = calls.lock().unwrap().clone();
    assert_eq!(recorded.len(), 3, "two 503s retried: {recorded:?}");
    assert_eq!(
        recorded[2],
        r#"/api/usertoken/GetAadTokens userId=u+1&connectionName=graph&channelId=msteams {"resourceUrls":["https://graph.example"]}"#
    );
    let status = client
        .get_token_status(None, "u", "msteams", Some("graph,github"))
        .await
        .unwrap();
    assert!(status[0].has_token);
    assert!(calls.lock().unwrap()[3].contains("include=graph%2Cgithub"));
    assert_eq!(
        client.get_token(None, &key, Some("123456")).await.unwrap(),
        None
    );
    assert!(calls.lock().unwrap()[4].contains("code=123456"));
    assert_eq!(client.exchange(None, &key, "sso").await.unwrap(), None);
    let err = client.sign_out(None, &key).await.unwrap_err();
    assert_eq!((err.code(), err.status()), ("TokenServiceError", Some(401)));
    assert_eq!(calls.lock().unwrap().len(), 7, "a 401 is not retried");
}
