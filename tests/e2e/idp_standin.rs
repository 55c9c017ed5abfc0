//! A stand-in identity provider for the end-to-end tests: OpenID metadata,
//! JWKS and a client-credentials token endpoint, with RSA keys made here,
//! and the claims of channel, Emulator and skill tokens. A token requested
//! for another bot's app (scope `<app id>/.default`) is a real JWT signed
//! with the Emulator key, as Azure AD issues them; Bot Connector (and an
//! app's own) scopes get an opaque `connector-token-N`.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Form, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

pub(crate) const APP_ID: &str = "9a1b2c3d-0000-4000-8000-000000000001";
pub(crate) const FRIEND_APP: &str = "9a1b2c3d-0000-4000-8000-0000000000f1";
pub(crate) const STRANGER_APP: &str = "9a1b2c3d-0000-4000-8000-0000000000ff";
pub(crate) const CHANNEL_ISSUER: &str = "https://api.botframework.com";
pub(crate) const EMULATOR_ISSUER_V1: &str =
    "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/";
pub(crate) const EMULATOR_ISSUER_V2: &str =
    "https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0";

/// An RSA signing key and its JWK.
pub(crate) struct Signer {
    pub(crate) kid: String,
    pub(crate) encoding: EncodingKey,
    pub(crate) public_pem: String,
    pub(crate) n: String,
    pub(crate) e: String,
}

impl Signer {
    pub(crate) fn new(kid: &str) -> Signer {
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key");
        let der = key.to_pkcs1_der().expect("DER");
        let public_pem = key
            .to_public_key()
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
            .expect("PEM");
        Signer {
            kid: kid.into(),
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            public_pem,
            n: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        }
    }

    pub(crate) fn jwk(&self, endorsements: &[&str]) -> Value {
        json!({"kty": "RSA", "use": "sig", "kid": self.kid, "n": self.n, "e": self.e,
               "endorsements": endorsements})
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// Keys are slow to make: one set for the whole run.
pub(crate) struct Keys {
    pub(crate) channel: Signer,
    pub(crate) emulator: Signer,
    pub(crate) rotated: Signer,
    pub(crate) stranger: Signer,
}

pub(crate) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        channel: Signer::new("channel-key"),
        emulator: Signer::new("emulator-key"),
        rotated: Signer::new("rotated-key"),
        stranger: Signer::new("stranger-key"),
    })
}

#[derive(Default)]
pub(crate) struct IdpState {
    pub(crate) channel_jwks: Vec<Value>,
    pub(crate) emulator_jwks: Vec<Value>,
    pub(crate) token_requests: Vec<(String, std::collections::HashMap<String, String>)>,
    pub(crate) token_lifetime: u64,
    /// Answer metadata requests with 503.
    pub(crate) metadata_down: bool,
    /// Answer this many token requests with 500 first.
    pub(crate) token_failures: u32,
}

/// The stand-in identity provider.
pub(crate) struct Idp {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) state: Arc<Mutex<IdpState>>,
}

impl Idp {
    pub(crate) async fn start(token_lifetime: u64) -> Idp {
        let state = Arc::new(Mutex::new(IdpState {
            channel_jwks: vec![keys().channel.jwk(&["test", "msteams", "skype"])],
            emulator_jwks: vec![keys().emulator.jwk(&[])],
            token_lifetime,
            ..Default::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route(
                "/channel/.well-known/openidconfiguration",
                get(move |State(s): State<Arc<Mutex<IdpState>>>| async move {
                    if s.lock().unwrap().metadata_down {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    axum::Json(json!({"issuer": CHANNEL_ISSUER,
                                      "jwks_uri": format!("http://{addr}/channel/keys")}))
                    .into_response()
                }),
            )
            .route(
                "/emulator/.well-known/openid-configuration",
                get(move || async move {
                    axum::Json(json!({"jwks_uri": format!("http://{addr}/emulator/keys")}))
                }),
            )
            .route(
                "/channel/keys",
                get(|State(s): State<Arc<Mutex<IdpState>>>| async move {
                    axum::Json(json!({"keys": s.lock().unwrap().channel_jwks}))
                }),
            )
            .route(
                "/emulator/keys",
                get(|State(s): State<Arc<Mutex<IdpState>>>| async move {
                    axum::Json(json!({"keys": s.lock().unwrap().emulator_jwks}))
                }),
            )
            .route(
                "/{tenant}/oauth2/v2.0/token",
                post(
                    |State(s): State<Arc<Mutex<IdpState>>>,
                     UrlPath(tenant): UrlPath<String>,
                     Form(form): Form<std::collections::HashMap<String, String>>| async move {
                        let mut s = s.lock().unwrap();
                        s.token_requests.push((tenant, form.clone()));
                        if s.token_failures > 0 {
                            s.token_failures -= 1;
                            return (StatusCode::INTERNAL_SERVER_ERROR, "token service down").into_response();
                        }
                        let n = s.token_requests.len();
                        let token = match bot_audience(&form) {
                            // Another bot's app (a skill, or a root answered
                            // by its skill): a JWT that bot validates.
                            Some(aud) => keys().emulator.sign(&bot_token_claims(aud, &form)),
                            None => format!("connector-token-{n}"),
                        };
                        axum::Json(json!({"token_type": "Bearer", "expires_in": s.token_lifetime,
                                          "access_token": token}))
                        .into_response()
                    },
                ),
            )
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Idp { addr, state }
    }

    pub(crate) fn host_args(&self) -> Vec<String> {
        let a = self.addr;
        vec![
            "--channel-openid-metadata".into(),
            format!("http://{a}/channel/.well-known/openidconfiguration"),
            "--emulator-openid-metadata".into(),
            format!("http://{a}/emulator/.well-known/openid-configuration"),
            "--token-endpoint".into(),
            format!("http://{a}/{{tenant}}/oauth2/v2.0/token"),
        ]
    }

    pub(crate) fn token_requests(&self) -> usize {
        self.state.lock().unwrap().token_requests.len()
    }
}

/// The app id a client-credentials request asks a token for, when its
/// scope is `<app id>/.default` of another bot (not the Bot Connector's).
fn bot_audience(form: &std::collections::HashMap<String, String>) -> Option<&str> {
    let scope = form.get("scope")?;
    let aud = scope.strip_suffix("/.default")?;
    (!aud.starts_with("https://") && form.get("client_id").map(String::as_str) != Some(aud))
        .then_some(aud)
}

/// The claims of an Azure AD v1 token for `aud`, issued to the client.
fn bot_token_claims(aud: &str, form: &std::collections::HashMap<String, String>) -> Value {
    let client = form.get("client_id").cloned().unwrap_or_default();
    json!({"iss": EMULATOR_ISSUER_V1, "aud": aud, "exp": now() + 3600, "nbf": now() - 60,
           "ver": "1.0", "appid": client})
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) fn channel_claims(service_url: &str) -> Value {
    json!({"iss": CHANNEL_ISSUER, "aud": APP_ID, "exp": now() + 3600, "nbf": now() - 60,
           "serviceurl": service_url})
}

pub(crate) fn emulator_v1_claims(caller: &str) -> Value {
    json!({"iss": EMULATOR_ISSUER_V1, "aud": APP_ID, "exp": now() + 3600, "nbf": now() - 60,
           "ver": "1.0", "appid": caller})
}

pub(crate) fn emulator_v2_claims(caller: &str) -> Value {
    json!({"iss": EMULATOR_ISSUER_V2, "aud": APP_ID, "exp": now() + 3600, "nbf": now() - 60,
           "ver": "2.0", "azp": caller})
}
