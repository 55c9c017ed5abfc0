//! The conversations API on two hosts sharing PostgreSQL: a conversation
//! created on one is completed on the other, a long poll on one returns
//! with a reply to a message sent on the other, and a session token of one
//! host is good on the other.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use crate::conversations_api::{call, create};
use crate::postgres::PgCluster;
use crate::support::*;

#[tokio::test]
async fn a_conversation_created_on_one_host_is_completed_on_another() {
    let cluster = PgCluster::start();
    let url = cluster.database("api_hosts");
    let start = || {
        Host::start(
            BotsDir::with(&[("echo", "rust-echo")]),
            &["--storage", &url],
        )
    };
    let (a, b) = (start(), start());

    let id = create(&a, None, json!({"bot": "echo", "name": "shared"})).await;
    let (status, done) = call(
        &b,
        "POST",
        &format!("/{id}/complete"),
        None,
        Some(json!({"text": "over there"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["items"][0]["text"], "Echo: over there");

    // A long poll on A wakes for a turn run on B.
    let waiting = {
        let url = a.url(&format!("/api/v1/conversation/{id}/receive"));
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = read(
                client()
                    .post(url)
                    .json(&json!({"wait": 20000}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            (started.elapsed(), answer.1)
        })
    };
    // The first receive hands out the earlier reply at once.
    let (took, first) = waiting.await.unwrap();
    assert_eq!(first["items"][0]["text"], "Echo: over there", "{took:?}");
    let waiting = {
        let url = a.url(&format!("/api/v1/conversation/{id}/receive"));
        tokio::spawn(async move {
            read(
                client()
                    .post(url)
                    .json(&json!({"wait": 20000}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
            .1
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, session) = call(&a, "POST", &format!("/{id}/session/create"), None, None).await;
    let token = session["token"].as_str().unwrap();
    let (status, _) = call(
        &b,
        "POST",
        &format!("/{id}/send"),
        Some(token),
        Some(json!({"text": "ping"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let received = tokio::time::timeout(Duration::from_secs(15), waiting)
        .await
        .expect("the long poll woke")
        .unwrap();
    assert_eq!(received["items"][0]["text"], "Echo: ping");

    let (_, history) = call(&a, "GET", &format!("/{id}/message/list"), None, None).await;
    assert_eq!(history["items"].as_array().unwrap().len(), 4);
    let (_, listed) = call(&b, "GET", "/list", None, None).await;
    assert_eq!(listed["items"][0]["name"], "shared");
    let (status, _) = call(&b, "POST", &format!("/{id}/delete"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&a, "GET", &format!("/{id}/fetch"), None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    a.assert_no_panic();
    b.assert_no_panic();
}
