//! Per-bot manifests: limits, config values, secrets kept out of sight, and
//! clear errors for bad manifests.

use axum::http::StatusCode;

use crate::support::*;

fn bots_with_manifest(manifest: &str) -> BotsDir {
    BotsDir::with_manifest("bot", "misbehave", manifest)
}

#[tokio::test]
async fn a_bad_manifest_is_reported_and_the_bot_not_loaded() {
    let bots = bots_with_manifest("route = \"fine\"\n\n[limits]\nmemory_mb = 16\n");
    let host = Host::start(bots, &[]);
    assert_eq!(host.ask("fine", "x").await.0, StatusCode::NOT_FOUND);
    assert_eq!(host.ask("bot", "x").await.0, StatusCode::NOT_FOUND);
    let status = host
        .bot_status("bot")
        .await
        .expect("the failed bot is listed");
    assert_eq!(status["state"], "failed");
    let message = status["lastError"]["message"].as_str().unwrap();
    assert!(
        message.contains("bot.toml") && message.contains("line 4") && message.contains("memory_mb"),
        "{message}"
    );
    assert!(host.wait_for_log("memory_mb").await, "the error is logged");
}

#[tokio::test]
async fn out_of_range_values_are_rejected() {
    let host = Host::start(bots_with_manifest("[limits]\nturn_deadline_ms = 0\n"), &[]);
    let status = host.bot_status("bot").await.unwrap();
    let message = status["lastError"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 2") && message.contains("limits.turn_deadline_ms"),
        "{message}"
    );
}

#[tokio::test]
async fn config_values_reach_the_bot_and_secrets_stay_hidden() {
    let bots = BotsDir::with(&[("bot", "misbehave"), ("secured", "misbehave")]);
    std::fs::write(
        bots.path().join("bot.toml"),
        "route = \"configured\"\n[config]\napi_key = \"s3cr3t-config-value\"\n",
    )
    .unwrap();
    std::fs::write(
        bots.path().join("secured.toml"),
        r#"
[credentials]
MicrosoftAppId = "11111111-2222-3333-4444-555555555555"
MicrosoftAppPassword = "pa55w0rd-never-shown"
MicrosoftAppType = "MultiTenant"
"#,
    )
    .unwrap();
    let host = Host::start(bots, &[]);
    assert_eq!(
        host.ask("configured", "config api_key").await.1.as_deref(),
        Some("config api_key=s3cr3t-config-value")
    );
    let status = host.bot_status("bot").await.unwrap();
    assert_eq!(status["route"], "configured");
    assert_eq!(status["configKeys"][0], "api_key");
    let secured = host.bot_status("secured").await.unwrap();
    assert_eq!(
        secured["credentials"]["appId"],
        "11111111-2222-3333-4444-555555555555"
    );
    assert_eq!(secured["credentials"]["hasPassword"], true);
    let listing = host.get_text("/api/bots").await;
    for secret in ["pa55w0rd-never-shown", "s3cr3t-config-value"] {
        assert!(!listing.contains(secret), "the status API shows a secret");
        assert!(!host.log().contains(secret), "the log shows a secret");
    }
}

#[tokio::test]
async fn limits_from_the_manifest_apply() {
    let manifest = "[limits]\nfuel = 100000000\nmax_activities_per_turn = 3\nmemory_mib = 16\n";
    let connector = Connector::start().await;
    let host = Host::start(bots_with_manifest(manifest), &[]);
    let status = host.bot_status("bot").await.unwrap();
    assert_eq!(status["limits"]["fuel"], 100_000_000);
    assert_eq!(status["limits"]["memoryMib"], 16);
    assert_eq!(status["limits"]["maxActivitiesPerTurn"], 3);

    let url = host.url("/api/bots/bot/messages");
    let service_url = connector.service_url();
    let post = |text: &'static str| {
        let (url, activity) = (url.clone(), message(&service_url, text));
        async move { post_activity(&url, &activity).await }
    };
    let (status, body) = post("loop").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_error(&body, "FuelExhausted");

    let (status, body) = post("spam 5").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_error(&body, "BotError");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("LimitExceeded"),
        "{body}"
    );
    assert_eq!(
        connector.received().len(),
        3,
        "only three activities left the host"
    );

    let (status, body) = post("oom").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_error(&body, "MemoryLimitExceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("16 MiB"),
        "{body}"
    );
}
