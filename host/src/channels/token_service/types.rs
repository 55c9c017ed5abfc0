//! The Token Service's JSON types (`TokenResponse`, `SignInUrlResponse`,
//! `TokenStatus`) and the sign-in `state` the host builds for
//! `GetSignInResource`.

use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use crate::schema::activity::{Activity, conversation_reference};

/// A user's token for one connection (`TokenResponse`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub connection_name: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub expiration: Option<String>,
}

/// `TokenExchangeResource`: what a channel needs for single sign-on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenExchangeResource {
    pub id: Option<String>,
    pub uri: Option<String>,
    pub provider_id: Option<String>,
}

/// `TokenPostResource`: where a channel may post a token directly.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPostResource {
    pub sas_url: Option<String>,
}

/// `SignInUrlResponse`: the sign-in link and the SSO resources.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInResource {
    #[serde(default)]
    pub sign_in_link: String,
    pub token_exchange_resource: Option<TokenExchangeResource>,
    pub token_post_resource: Option<TokenPostResource>,
}

/// One entry of `GetTokenStatus` (`TokenStatus`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenStatus {
    #[serde(default)]
    pub connection_name: String,
    #[serde(default)]
    pub has_token: bool,
    pub service_provider_display_name: Option<String>,
}

/// The `state` of `GetSignInResource`: base64 of the JSON
/// `{ConnectionName, Conversation, RelatesTo, MsAppId}`, as botbuilder's
/// `UserTokenClientImpl` builds it; the Token Service hands it back to the
/// channel once the user signed in, so it can reach the conversation.
pub fn sign_in_state(connection_name: &str, incoming: &Activity, app_id: Option<&str>) -> String {
    let state = json!({
        "ConnectionName": connection_name,
        "Conversation": conversation_reference(incoming),
        "RelatesTo": incoming.relates_to,
        "MsAppId": app_id,
    });
    base64::engine::general_purpose::STANDARD.encode(state.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_state_is_base64_json_with_the_conversation_reference() {
        let incoming: Activity = serde_json::from_value(json!({
            "type": "message", "id": "a1", "channelId": "msteams",
            "serviceUrl": "https://smba.example/",
            "from": {"id": "u1"}, "recipient": {"id": "b1"},
            "conversation": {"id": "c1"},
            "relatesTo": {"conversation": {"id": "root"}}
        }))
        .unwrap();
        let state = sign_in_state("graph", &incoming, Some("app-1"));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(state)
            .unwrap();
        let decoded: Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(decoded["ConnectionName"], "graph");
        assert_eq!(decoded["MsAppId"], "app-1");
        assert_eq!(decoded["Conversation"]["conversation"]["id"], "c1");
        assert_eq!(decoded["Conversation"]["user"]["id"], "u1");
        assert_eq!(decoded["Conversation"]["channelId"], "msteams");
        assert_eq!(
            decoded["Conversation"]["serviceUrl"],
            "https://smba.example/"
        );
        assert_eq!(decoded["RelatesTo"]["conversation"]["id"], "root");
        let none = sign_in_state("graph", &Activity::default(), None);
        let none: Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(none)
                .unwrap(),
        )
        .unwrap();
        assert!(none["MsAppId"].is_null() && none["RelatesTo"].is_null());
    }
}
