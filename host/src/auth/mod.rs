//! Bot Framework authentication: the endpoints and issuers of each cloud
//! (`settings`), the signing keys from OpenID metadata (`keys`), inbound
//! token validation (`inbound`), and the bot's own tokens for the Bot
//! Connector (`outbound`), from client credentials or a managed identity
//! (`managed_identity`).

pub mod inbound;
pub mod keys;
pub mod managed_identity;
pub mod outbound;
pub mod settings;

pub use inbound::{AuthError, Authenticator, Caller, Identity};
pub use outbound::OutboundTokens;
pub use settings::AuthSettings;
