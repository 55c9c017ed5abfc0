//! Where tokens come from and what they must say, per cloud. Every URL and
//! issuer can be overridden, so that tests can point the host at local
//! servers and sovereign clouds work.

use std::time::Duration;

use super::managed_identity::{IMDS_ENDPOINT, ManagedIdentityEndpoint};

/// The tenant of Microsoft's Bot Framework apps, used by the Emulator and
/// skills.
const BOTFRAMEWORK_TENANTS: [&str; 2] = [
    "d6d49420-f39b-4df7-a1dc-d59a935871db",
    "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
];
const US_GOV_TENANT: &str = "cab8a31a-1906-4287-a0d8-4eef66b95f6e";

/// The value of the `ChannelService` setting that selects the US Government
/// cloud.
pub const US_GOV_CHANNEL_SERVICE: &str = "https://botframework.azure.us";

/// Authentication settings of one host.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthSettings {
    /// OpenID metadata of the Bot Connector's signing keys.
    pub channel_openid_metadata: String,
    /// The `iss` of Bot Connector tokens.
    pub channel_issuer: String,
    /// OpenID metadata of Azure AD keys (Emulator and skill tokens).
    pub emulator_openid_metadata: String,
    /// Accepted `iss` values of Emulator and skill tokens. A single-tenant
    /// bot also accepts its own tenant's issuers.
    pub emulator_issuers: Vec<String>,
    /// The Azure AD host, for tenant issuers.
    pub login_host: String,
    /// The client-credentials token endpoint; `{tenant}` is replaced by the
    /// bot's tenant or `botframework.com`.
    pub token_endpoint: String,
    /// The scope of the bot's tokens for the Bot Connector (and the Token
    /// Service).
    pub oauth_scope: String,
    /// The Bot Framework Token Service (user sign-in).
    pub token_service_url: String,
    /// The `callerId` of activities from the Bot Connector.
    pub caller_id: String,
    /// How often signing keys are refreshed.
    pub key_refresh: Duration,
    /// The least time between refetches caused by an unknown `kid`.
    pub unknown_kid_refetch: Duration,
    /// Where a `UserAssignedMSI` bot's tokens come from.
    pub managed_identity: ManagedIdentityEndpoint,
}

impl AuthSettings {
    /// The public Azure cloud.
    pub fn public_cloud() -> Self {
        let login = "https://login.microsoftonline.com";
        AuthSettings {
            channel_openid_metadata:
                "https://login.botframework.com/v1/.well-known/openidconfiguration".into(),
            channel_issuer: "https://api.botframework.com".into(),
            emulator_openid_metadata: format!(
                "{login}/botframework.com/v2.0/.well-known/openid-configuration"
            ),
            emulator_issuers: BOTFRAMEWORK_TENANTS
                .iter()
                .flat_map(|t| tenant_issuers(login, t))
                .collect(),
            login_host: login.into(),
            token_endpoint: format!("{login}/{{tenant}}/oauth2/v2.0/token"),
            oauth_scope: "https://api.botframework.com/.default".into(),
            token_service_url: "https://token.botframework.com".into(),
            caller_id: "urn:botframework:azure".into(),
            key_refresh: Duration::from_secs(24 * 3600),
            unknown_kid_refetch: Duration::from_secs(5 * 60),
            managed_identity: ManagedIdentityEndpoint::Imds(IMDS_ENDPOINT.into()),
        }
    }

    /// The US Government cloud (`ChannelService` = `https://botframework.azure.us`).
    pub fn us_gov() -> Self {
        let login = "https://login.microsoftonline.us";
        AuthSettings {
            channel_openid_metadata:
                "https://login.botframework.azure.us/v1/.well-known/openidconfiguration".into(),
            channel_issuer: "https://api.botframework.us".into(),
            emulator_openid_metadata: format!(
                "{login}/{US_GOV_TENANT}/v2.0/.well-known/openid-configuration"
            ),
            emulator_issuers: tenant_issuers(login, US_GOV_TENANT),
            login_host: login.into(),
            token_endpoint: format!("{login}/{{tenant}}/oauth2/v2.0/token"),
            oauth_scope: "https://api.botframework.us/.default".into(),
            token_service_url: "https://tokengcch.botframework.azure.us".into(),
            caller_id: "urn:botframework:azureusgov".into(),
            ..AuthSettings::public_cloud()
        }
    }

    /// The settings for a `ChannelService` value (empty: the public cloud).
    pub fn for_channel_service(channel_service: Option<&str>) -> Self {
        match channel_service.map(|s| s.trim().trim_end_matches('/')) {
            Some(s) if s.eq_ignore_ascii_case(US_GOV_CHANNEL_SERVICE) => AuthSettings::us_gov(),
            _ => AuthSettings::public_cloud(),
        }
    }

    /// The accepted issuers of Emulator and skill tokens for a bot in
    /// `tenant` (single-tenant bots) or none.
    pub fn emulator_issuers_for(&self, tenant: Option<&str>) -> Vec<String> {
        let mut issuers = self.emulator_issuers.clone();
        if let Some(tenant) = tenant {
            issuers.extend(tenant_issuers(&self.login_host, tenant));
        }
        issuers
    }

    /// The token endpoint for a bot in `tenant`.
    pub fn token_endpoint_for(&self, tenant: Option<&str>) -> String {
        self.token_endpoint
            .replace("{tenant}", tenant.unwrap_or("botframework.com"))
    }
}

/// The v1 and v2 issuers of an Azure AD tenant.
fn tenant_issuers(login: &str, tenant: &str) -> Vec<String> {
    vec![
        format!("https://sts.windows.net/{tenant}/"),
        format!("{login}/{tenant}/v2.0"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_cloud_matches_the_connector_authentication_spec() {
        let s = AuthSettings::public_cloud();
        assert!(s.emulator_issuers.contains(
            &"https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/".to_string()
        ));
        assert!(
            s.emulator_issuers.contains(
                &"https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0"
                    .to_string()
            )
        );
        assert_eq!(
            s.token_endpoint_for(None),
            "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
        );
        assert_eq!(
            s.token_endpoint_for(Some("t1")),
            "https://login.microsoftonline.com/t1/oauth2/v2.0/token"
        );
        assert!(
            s.emulator_issuers_for(Some("t1"))
                .contains(&"https://sts.windows.net/t1/".to_string())
        );
    }

    #[test]
    fn channel_service_selects_us_gov() {
        let gov = AuthSettings::for_channel_service(Some("https://botframework.azure.us/"));
        assert_eq!(gov.channel_issuer, "https://api.botframework.us");
        assert_eq!(gov.oauth_scope, "https://api.botframework.us/.default");
        assert_eq!(
            gov.token_service_url,
            "https://tokengcch.botframework.azure.us"
        );
        assert_eq!(
            AuthSettings::public_cloud().token_service_url,
            "https://token.botframework.com"
        );
        assert!(
            gov.channel_openid_metadata
                .contains("botframework.azure.us")
        );
        assert_eq!(
            AuthSettings::for_channel_service(None),
            AuthSettings::public_cloud()
        );
    }
}
