//! `MicrosoftAppType = UserAssignedMSI` end to end: a bot without a password
//! gets its Bot Connector tokens from a stand-in Instance Metadata Service,
//! or from a stand-in App Service identity endpoint when `IDENTITY_ENDPOINT`
//! and `IDENTITY_HEADER` are set, and caches them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::idp_standin::*;
use crate::support::*;

/// One request the stand-in identity endpoint received.
#[derive(Clone, Debug)]
struct Asked {
    query: HashMap<String, String>,
    metadata: Option<String>,
    identity_header: Option<String>,
}

/// A stand-in managed identity endpoint (IMDS and App Service answer alike
/// here; the headers tell them apart). It answers the first `failures`
/// requests with 500.
struct IdentityEndpoint {
    addr: std::net::SocketAddr,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl IdentityEndpoint {
    async fn start(failures: u32) -> IdentityEndpoint {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(failures));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = (asked.clone(), failures);
        type S = (Arc<Mutex<Vec<Asked>>>, Arc<Mutex<u32>>);
        let app = Router::new()
            .route(
                "/token",
                get(
                    |State((asked, failures)): State<S>,
                     headers: HeaderMap,
                     Query(query): Query<HashMap<String, String>>| async move {
                        let header = |name: &str| {
                            headers
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned)
                        };
                        let n = {
                            let mut asked = asked.lock().unwrap();
                            asked.push(Asked {
                                query,
                                metadata: header("metadata"),
                                identity_header: header("x-identity-header"),
                            });
                            asked.len()
                        };
                        let mut failures = failures.lock().unwrap();
                        if *failures > 0 {
                            *failures -= 1;
                            return (StatusCode::INTERNAL_SERVER_ERROR, "identity down")
                                .into_response();
                        }
                        // IMDS answers its numbers as strings.
                        axum::Json(json!({"access_token": format!("msi-token-{n}"),
                                          "expires_in": "3599", "token_type": "Bearer",
                                          "resource": "https://api.botframework.com"}))
                        .into_response()
                    },
                ),
            )
            .with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        IdentityEndpoint { addr, asked }
    }

    fn url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }
}

const MSI_MANIFEST: &str = r#"
[credentials]
MicrosoftAppId = "9a1b2c3d-0000-4000-8000-000000000001"
MicrosoftAppType = "UserAssignedMSI"
MicrosoftAppTenantId = "5d0e7d6a-0000-4000-8000-00000000aaaa"
"#;

async fn send(host: &Host, service_url: &str, text: &str) -> StatusCode {
    let token = keys().channel.sign(&channel_claims(service_url));
    let response = client()
        .post(host.url("/api/bots/echo/messages"))
        .header("authorization", format!("Bearer {token}"))
        .json(&message(service_url, text))
        .send()
        .await
        .unwrap();
    response.status()
}

#[tokio::test]
async fn a_managed_identity_bot_gets_its_tokens_from_imds_and_caches_them() {
    let idp = Idp::start(3600).await;
    let imds = IdentityEndpoint::start(0).await;
    let connector = Connector::start().await;
    let service_url = connector.service_url();
    let bots = BotsDir::with_manifest("echo", "rust-echo", MSI_MANIFEST);
    let mut args = idp.host_args();
    args.extend(["--imds-endpoint".into(), imds.url()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let host = Host::start(bots, &args);

    for text in ["one", "two"] {
        assert_eq!(send(&host, &service_url, text).await, StatusCode::OK);
    }
    let received = connector.received();
    assert_eq!(received.len(), 2, "both replies arrive");
    assert!(
        received
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer msi-token-1")),
        "{:?}",
        received
            .iter()
            .map(|r| &r.authorization)
            .collect::<Vec<_>>()
    );
    let asked = imds.asked();
    assert_eq!(asked.len(), 1, "the token is cached");
    assert_eq!(asked[0].metadata.as_deref(), Some("true"));
    assert_eq!(asked[0].query["api-version"], "2018-02-01");
    assert_eq!(asked[0].query["resource"], "https://api.botframework.com");
    assert_eq!(asked[0].query["client_id"], APP_ID);
    assert_eq!(idp.token_requests(), 0, "no client-credentials request");
}

#[tokio::test]
async fn app_service_identity_endpoint_is_used_when_the_platform_sets_it() {
    let idp = Idp::start(3600).await;
    let identity = IdentityEndpoint::start(1).await;
    let connector = Connector::start().await;
    let service_url = connector.service_url();
    let bots = BotsDir::with_manifest("echo", "misbehave", MSI_MANIFEST);
    let args = idp.host_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let url = identity.url();
    let host = Host::start_with(
        bots,
        &args,
        &[
            ("IDENTITY_ENDPOINT", url.as_str()),
            ("IDENTITY_HEADER", "platform-secret"),
        ],
    );

    // misbehave touches no state, so its send is made during the turn.
    // The endpoint fails the first request: that send fails, the turn
    // reports it, and the host keeps serving; the next turn gets a token.
    let first = send(&host, &service_url, "one").await;
    assert!(first.is_server_error(), "{first}");
    assert!(
        host.wait_for_log("managed identity endpoint answered 500")
            .await
    );
    assert_eq!(send(&host, &service_url, "two").await, StatusCode::OK);
    let received = connector.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].authorization.as_deref(),
        Some("Bearer msi-token-2")
    );
    let asked = identity.asked();
    assert_eq!(asked.len(), 2);
    assert!(
        asked
            .iter()
            .all(|a| a.identity_header.as_deref() == Some("platform-secret"))
    );
    assert!(asked.iter().all(|a| a.metadata.is_none()));
    assert_eq!(asked[1].query["api-version"], "2019-08-01");
    assert_eq!(asked[1].query["client_id"], APP_ID);
    assert!(
        !host.log().contains("platform-secret"),
        "the header is never logged"
    );
}
