//! Bot Framework authentication end to end: a stand-in identity provider
//! (OpenID metadata, JWKS and token endpoint, with RSA keys made here), the
//! real host, and tokens good, expired and forged.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::idp_standin::*;
use crate::support::*;

const MANIFEST: &str = r#"
[credentials]
MicrosoftAppId = "9a1b2c3d-0000-4000-8000-000000000001"
MicrosoftAppPassword = "bot-secret"
AllowedCallers = ["9a1b2c3d-0000-4000-8000-0000000000f1"]
"#;

struct Setup {
    idp: Idp,
    connector: Connector,
    host: Host,
}

async fn setup(token_lifetime: u64) -> Setup {
    let idp = Idp::start(token_lifetime).await;
    let connector = Connector::start().await;
    let bots = BotsDir::with(&[("echo", "rust-echo"), ("who", "misbehave")]);
    for bot in ["echo", "who"] {
        std::fs::write(bots.path().join(format!("{bot}.toml")), MANIFEST).unwrap();
    }
    // Authenticated bots may reply to any service URL: only the stand-in
    // connector's is ever used here, and the allowlist applies to dev mode.
    let args = idp.host_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let host = Host::start(bots, &args);
    Setup {
        idp,
        connector,
        host,
    }
}

async fn post_with(
    host: &Host,
    bot: &str,
    activity: &Value,
    authorization: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = client()
        .post(host.url(&format!("/api/bots/{bot}/messages")))
        .json(activity);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn valid_channel_and_emulator_tokens_are_accepted() {
    let s = setup(3600).await;
    let service_url = s.connector.service_url();

    let token = keys().channel.sign(&channel_claims(&service_url));
    let activity = message(&service_url, "hi");
    let (status, body) =
        post_with(&s.host, "echo", &activity, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let received = s.connector.received();
    assert_eq!(received[0].body["text"], "Echo: hi");
    assert_eq!(
        received[0].authorization.as_deref(),
        Some("Bearer connector-token-1")
    );
    let (tenant, form) = s.idp.state.lock().unwrap().token_requests[0].clone();
    assert_eq!(tenant, "botframework.com");
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], APP_ID);
    assert_eq!(form["client_secret"], "bot-secret");
    assert_eq!(form["scope"], "https://api.botframework.com/.default");

    // The bot sees who called.
    let (status, _) = post_with(
        &s.host,
        "who",
        &message(&service_url, "callerid"),
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s.connector.received()[1].body["text"],
        "callerId=urn:botframework:azure"
    );

    // Emulator tokens, v1 and v2; Emulator conversations use the app's own scope.
    for claims in [emulator_v1_claims(APP_ID), emulator_v2_claims(APP_ID)] {
        let token = keys().emulator.sign(&claims);
        let mut activity = message(&service_url, "emu");
        activity["channelId"] = json!("emulator");
        let (status, body) =
            post_with(&s.host, "echo", &activity, Some(&format!("Bearer {token}"))).await;
        assert_eq!(status, StatusCode::OK, "{claims}: {body}");
    }
    let requests = s.idp.state.lock().unwrap().token_requests.clone();
    assert!(
        requests
            .iter()
            .any(|(_, f)| f["scope"] == format!("{APP_ID}/.default")),
        "{requests:?}"
    );

    // A skill on the allowlist is accepted, and the bot sees its app id.
    let token = keys().emulator.sign(&emulator_v1_claims(FRIEND_APP));
    let (status, body) = post_with(
        &s.host,
        "who",
        &message(&service_url, "callerid"),
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let last = s.connector.received().last().unwrap().body["text"].clone();
    assert_eq!(
        last,
        format!("callerId=urn:botframework:aadappid:{FRIEND_APP}")
    );
}

#[tokio::test]
async fn clock_skew_is_five_minutes() {
    let s = setup(3600).await;
    let service_url = s.connector.service_url();
    let mut claims = channel_claims(&service_url);
    claims["exp"] = json!(now() - 4 * 60);
    let token = keys().channel.sign(&claims);
    let (status, _) = post_with(
        &s.host,
        "echo",
        &message(&service_url, "late"),
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "4 minutes past expiry is within the skew"
    );

    claims["exp"] = json!(now() - 6 * 60);
    let token = keys().channel.sign(&claims);
    let (status, body) = post_with(
        &s.host,
        "echo",
        &message(&service_url, "too late"),
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "Unauthorized");
}

#[tokio::test]
async fn forged_and_bad_tokens_get_401_and_never_reach_the_bot() {
    let s = setup(3600).await;
    let service_url = s.connector.service_url();
    let good = channel_claims(&service_url);
    let with = |patch: Value| {
        let mut claims = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    };
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": "channel-key"})),
        b64(&good)
    );
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("channel-key".into());
        jsonwebtoken::encode(
            &header,
            &good,
            &EncodingKey::from_secret(keys().channel.public_pem.as_bytes()),
        )
        .unwrap()
    };
    let bad_signature = {
        let token = keys().channel.sign(&good);
        let (rest, signature) = token.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
        sig[10] ^= 0x55;
        format!("{rest}.{}", URL_SAFE_NO_PAD.encode(sig))
    };
    let bearer = |t: String| Some(format!("Bearer {t}"));
    let sign = |claims: Value| bearer(keys().channel.sign(&claims));

    let mut webchat = message(&service_url, "x");
    webchat["channelId"] = json!("webchat");
    let plain = message(&service_url, "x");
    let cases: Vec<(&str, Option<String>, Value)> = vec![
        ("no header", None, plain.clone()),
        (
            "Basic scheme",
            Some("Basic Ym90OnNlY3JldA==".into()),
            plain.clone(),
        ),
        ("garbage", bearer("not-a-jwt".into()), plain.clone()),
        ("alg none", bearer(alg_none), plain.clone()),
        ("HS256 with the public key", bearer(hs256), plain.clone()),
        ("bad signature", bearer(bad_signature), plain.clone()),
        (
            "wrong issuer",
            sign(with(json!({"iss": "https://evil.example"}))),
            plain.clone(),
        ),
        (
            "wrong audience",
            sign(with(json!({"aud": "someone-else"}))),
            plain.clone(),
        ),
        (
            "expired",
            sign(with(json!({"exp": now() - 3600}))),
            plain.clone(),
        ),
        (
            "nbf in the future",
            sign(with(json!({"nbf": now() + 3600}))),
            plain.clone(),
        ),
        (
            "serviceurl missing",
            sign(with(json!({"serviceurl": null}))),
            plain.clone(),
        ),
        (
            "serviceurl mismatched",
            sign(with(json!({"serviceurl": "https://evil.example/"}))),
            plain.clone(),
        ),
        ("endorsement mismatch", sign(good.clone()), webchat),
        (
            "unknown kid",
            bearer(keys().stranger.sign(&good)),
            plain.clone(),
        ),
        (
            "emulator token without ver",
            bearer(
                keys()
                    .emulator
                    .sign(&json!({"iss": EMULATOR_ISSUER_V1, "aud": APP_ID,
                                                 "exp": now() + 3600, "appid": APP_ID})),
            ),
            plain.clone(),
        ),
        (
            "skill not on the allowlist",
            bearer(keys().emulator.sign(&emulator_v1_claims(STRANGER_APP))),
            plain.clone(),
        ),
        (
            "lowercase bearer scheme",
            Some(format!("bearer {}", keys().channel.sign(&good))),
            plain.clone(),
        ),
    ];
    for (name, authorization, activity) in &cases {
        let (status, body) = post_with(&s.host, "echo", activity, authorization.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_error(&body, "Unauthorized");
    }
    assert!(
        s.connector.received().is_empty(),
        "a rejected request reached the bot"
    );
    assert_eq!(
        s.idp.token_requests(),
        0,
        "no turn ran, so no token was needed"
    );
    assert!(
        s.host.wait_for_log("request unauthorized").await,
        "rejections are logged"
    );
    let log = s.host.log();
    let token = keys().channel.sign(&good);
    let (_, signature) = token.rsplit_once('.').unwrap();
    assert!(
        !log.contains(signature) && !log.contains("Ym90OnNlY3JldA"),
        "a token was logged"
    );

    // The same valid token still passes afterwards.
    let (status, _) = post_with(&s.host, "echo", &plain, bearer(token).as_deref()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_key_added_after_start_up_is_found_by_refetching() {
    let s = setup(3600).await;
    let service_url = s.connector.service_url();
    let token = keys().channel.sign(&channel_claims(&service_url));
    let (status, _) = post_with(
        &s.host,
        "echo",
        &message(&service_url, "a"),
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the keys are cached now");

    s.idp
        .state
        .lock()
        .unwrap()
        .channel_jwks
        .push(keys().rotated.jwk(&[]));
    let token = keys().rotated.sign(&channel_claims(&service_url));
    let (status, body) = post_with(
        &s.host,
        "echo",
        &message(&service_url, "b"),
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn one_token_serves_many_turns_and_is_refreshed_near_expiry() {
    let s = setup(3600).await;
    let service_url = s.connector.service_url();
    let token = keys().channel.sign(&channel_claims(&service_url));
    let auth = format!("Bearer {token}");
    let mut turns = Vec::new();
    for n in 0..50 {
        let mut activity = message(&service_url, &format!("t{n}"));
        activity["conversation"]["id"] = json!(format!("conv-{n}"));
        let (url, auth) = (s.host.url("/api/bots/echo/messages"), auth.clone());
        turns.push(tokio::spawn(async move {
            let response = client()
                .post(url)
                .header("authorization", auth)
                .json(&activity)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }));
    }
    for turn in turns {
        assert_eq!(turn.await.unwrap(), 200);
    }
    assert_eq!(s.connector.received().len(), 50);
    assert_eq!(
        s.idp.token_requests(),
        1,
        "concurrent turns share one token request"
    );
    assert!(
        s.connector
            .received()
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer connector-token-1"))
    );

    // A token within 5 minutes of expiry is refreshed before use.
    let s = setup(240).await;
    let service_url = s.connector.service_url();
    let token = keys().channel.sign(&channel_claims(&service_url));
    for text in ["one", "two"] {
        let (status, _) = post_with(
            &s.host,
            "echo",
            &message(&service_url, text),
            Some(&format!("Bearer {token}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(s.idp.token_requests(), 2);
    let received = s.connector.received();
    assert_eq!(
        received[1].authorization.as_deref(),
        Some("Bearer connector-token-2")
    );
}

#[tokio::test]
async fn host_wide_credentials_apply_to_bots_without_their_own() {
    let idp = Idp::start(3600).await;
    let connector = Connector::start().await;
    let mut args = idp.host_args();
    args.extend([
        "--app-id".into(),
        APP_ID.into(),
        "--app-password".into(),
        "env-secret".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let host = Host::start(BotsDir::with(&[("echo", "rust-echo")]), &args);
    let service_url = connector.service_url();

    let (status, _) = post_with(&host, "echo", &message(&service_url, "x"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = keys().channel.sign(&channel_claims(&service_url));
    let (status, _) = post_with(
        &host,
        "echo",
        &message(&service_url, "x"),
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        idp.state.lock().unwrap().token_requests[0].1["client_secret"],
        "env-secret"
    );
    assert!(!host.log().contains("env-secret"));
}

#[tokio::test]
async fn cached_keys_survive_a_metadata_outage() {
    let s = setup(3600).await;
    let service_url = s.connector.service_url();
    let good = format!(
        "Bearer {}",
        keys().channel.sign(&channel_claims(&service_url))
    );
    let (status, _) = post_with(&s.host, "echo", &message(&service_url, "a"), Some(&good)).await;
    assert_eq!(status, StatusCode::OK);

    s.idp.state.lock().unwrap().metadata_down = true;
    // An unknown kid makes the host refetch, which fails…
    let stranger = format!(
        "Bearer {}",
        keys().stranger.sign(&channel_claims(&service_url))
    );
    let (status, _) = post_with(
        &s.host,
        "echo",
        &message(&service_url, "b"),
        Some(&stranger),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(s.host.wait_for_log("keeping the cached ones").await);
    // …and the cached keys still serve.
    let (status, _) = post_with(&s.host, "echo", &message(&service_url, "c"), Some(&good)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_failed_token_refresh_fails_the_send_and_the_next_send_retries() {
    // `who` (misbehave) touches no state, so its send is made during the
    // turn and a failed one fails it.
    let s = setup(3600).await;
    s.idp.state.lock().unwrap().token_failures = 1;
    let service_url = s.connector.service_url();
    let good = format!(
        "Bearer {}",
        keys().channel.sign(&channel_claims(&service_url))
    );

    let (status, body) = post_with(&s.host, "who", &message(&service_url, "a"), Some(&good)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let message_text = body["error"]["message"].as_str().unwrap();
    assert!(message_text.contains("TokenError"), "{message_text}");
    assert!(s.connector.received().is_empty());

    let (status, _) = post_with(&s.host, "who", &message(&service_url, "b"), Some(&good)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.idp.token_requests(), 2);
    assert_eq!(
        s.connector.received()[0].authorization.as_deref(),
        Some("Bearer connector-token-2")
    );
}

#[tokio::test]
async fn a_bot_without_an_app_id_takes_turns_from_this_machine_only() {
    // Dev mode authenticates nobody: a request a proxy relayed (or one
    // naming another host) is refused, unless the host runs --insecure-dev.
    let connector = Connector::start().await;
    let activity = message(&connector.service_url(), "hi");
    for (args, relayed_status) in [
        (&[][..], StatusCode::UNAUTHORIZED),
        (&["--insecure-dev"][..], StatusCode::OK),
    ] {
        let host = Host::start(BotsDir::with(&[("bot", "rust-echo")]), args);
        let url = host.url("/api/bots/bot/messages");
        let (status, _) = post_activity(&url, &activity).await;
        assert_eq!(status, StatusCode::OK, "a local caller");
        for (name, value) in [
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=203.0.113.7"),
            ("host", "bot.example.com"),
        ] {
            let response = client()
                .post(&url)
                .header(name, value)
                .json(&activity)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let (_, body) = read(response).await;
            assert_eq!(status, relayed_status, "{name}: {body}");
            if status == StatusCode::UNAUTHORIZED {
                assert_error(&body, "DevModeLocalOnly");
            }
        }
    }
}

#[tokio::test]
async fn an_audience_list_is_refused() {
    let s = setup(3600).await;
    let service_url = s.connector.service_url();
    let mut listed = channel_claims(&service_url);
    listed["aud"] = json!([APP_ID, "https://graph.microsoft.com"]);
    let mut alone = channel_claims(&service_url);
    alone["aud"] = json!([APP_ID]);
    for claims in [listed, alone] {
        let token = keys().channel.sign(&claims);
        let (status, body) = post_with(
            &s.host,
            "echo",
            &message(&service_url, "x"),
            Some(&format!("Bearer {token}")),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{claims}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    assert!(
        s.host
            .wait_for_log("aud is not the bot's app id as one string")
            .await
    );
    // The same claims with `aud` as one string pass.
    let token = keys().channel.sign(&channel_claims(&service_url));
    let (status, _) = post_with(
        &s.host,
        "echo",
        &message(&service_url, "x"),
        Some(&format!("Bearer {token}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.connector.received().len(), 1);
}
