//! The per-bot manifest `NAME.toml` beside `NAME.wasm`: the bot's route,
//! limits, Bot Framework credentials and config values. Every key is
//! optional; unknown keys and bad values are errors that name the file, line
//! and key.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

mod oauth;
pub mod skills;
pub mod uploads;
pub use oauth::OAuthSection;

/// A string that must never be logged or shown by the status API.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// How the bot authenticates to Azure (`MicrosoftAppType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum AppType {
    MultiTenant,
    SingleTenant,
    UserAssignedMSI,
}

/// The Bot Framework credentials of a bot. Parsed and carried; the
/// authentication issue puts them to use.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[serde(rename = "MicrosoftAppId")]
    pub app_id: Option<String>,
    #[serde(rename = "MicrosoftAppPassword")]
    pub app_password: Option<Secret>,
    #[serde(rename = "MicrosoftAppTenantId")]
    pub tenant_id: Option<String>,
    #[serde(rename = "MicrosoftAppType")]
    pub app_type: Option<AppType>,
    /// App ids of bots that may call this one as a skill (`*`: any).
    #[serde(rename = "AllowedCallers", default)]
    pub allowed_callers: Vec<String>,
}

impl Credentials {
    /// Whether these credentials name an app id: the bot then requires
    /// authentication, as the Bot Framework SDK does.
    pub fn has_app_id(&self) -> bool {
        self.app_id
            .as_deref()
            .is_some_and(|id| !id.trim().is_empty())
    }
}

/// Limits as written in the manifest; unset ones come from the host.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    #[serde(default, deserialize_with = "memory_mib")]
    pub memory_mib: Option<u32>,
    #[serde(default, deserialize_with = "deadline_ms")]
    pub turn_deadline_ms: Option<u64>,
    /// How long a channel's request waits for a turn before it is answered
    /// and the turn goes on without it.
    #[serde(default, deserialize_with = "ack_after_ms")]
    pub ack_after_ms: Option<u64>,
    #[serde(default, deserialize_with = "positive_u64")]
    pub fuel: Option<u64>,
    #[serde(default, deserialize_with = "concurrency")]
    pub max_concurrent_turns: Option<u32>,
    #[serde(default, deserialize_with = "activities")]
    pub max_activities_per_turn: Option<u32>,
    #[serde(default, deserialize_with = "send_bytes")]
    pub max_send_bytes_per_turn: Option<u64>,
    #[serde(default, deserialize_with = "log_bytes")]
    pub max_log_bytes_per_turn: Option<u64>,
}

/// A parsed manifest.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The route name: `/api/bots/{route}/messages`. Default: the file stem.
    #[serde(default, deserialize_with = "route_name")]
    pub route: Option<String>,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub credentials: Credentials,
    /// Values the bot reads with `config.get(key)`. Treated as secrets.
    #[serde(default)]
    pub config: BTreeMap<String, Secret>,
    #[serde(default)]
    pub state: StateSection,
    /// Built-in middleware switched on for this bot.
    #[serde(default)]
    pub middleware: MiddlewareSwitches,
    #[serde(default)]
    pub directline: DirectLineSection,
    /// The conversations API (`/api/v1/conversation/…`) for this bot.
    #[serde(default)]
    pub api: ApiSection,
    #[serde(default)]
    pub instances: InstancesSection,
    /// Outbound HTTP: where the bot may go, and its limits.
    #[serde(default)]
    pub http: crate::schema::outbound::HttpSection,
    /// Direct Line uploads: file sizes, counts, quota, retention.
    #[serde(default)]
    pub uploads: uploads::UploadsSection,
    /// Bots this bot may call as skills (`skills.rs`).
    #[serde(default)]
    pub skills: skills::Skills,
    /// OAuth connections for user sign-in (the Token Service).
    #[serde(default)]
    pub oauth: OAuthSection,
}

/// How a bot's turns get an instance, as written in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstancesSection {
    pub policy: Option<PolicyName>,
    #[serde(default, deserialize_with = "pool_size")]
    pub pool_size: Option<u32>,
    #[serde(default, deserialize_with = "max_turns")]
    pub max_turns: Option<u32>,
}

/// `instances.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyName {
    Fresh,
    Pooled,
    #[serde(rename = "native-echo")]
    NativeEcho,
}

/// How a bot's turns get an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "policy")]
pub enum InstancePolicy {
    /// A new instance for every turn: nothing survives a turn inside the
    /// guest. The default.
    Fresh,
    /// Up to `pool_size` warm instances, each reused for up to `max_turns`
    /// turns and dropped after any trap, timeout or limit hit.
    #[serde(rename_all = "camelCase")]
    Pooled { pool_size: u32, max_turns: u32 },
    /// The benchmark floor: the component is loaded and checked, but its
    /// turns run the host's built-in echo, written in Rust, with no
    /// instance (docs/PERFORMANCE.md). Not for serving bots.
    NativeEcho,
}

/// Warm instances kept per bot when `pool_size` is unset.
pub const DEFAULT_POOL_SIZE: u32 = 4;
/// Turns an instance serves before it is replaced, when `max_turns` is unset.
pub const DEFAULT_POOL_MAX_TURNS: u32 = 1000;

/// The bot's built-in Direct Line channel.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectLineSection {
    /// A secret that opens Direct Line conversations with this bot only.
    pub secret: Option<Secret>,
}

/// The conversations API of this bot.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Keys that reach this bot's conversations only (`--api-key` reaches
    /// every bot's). Secrets: never logged nor shown.
    #[serde(default, deserialize_with = "api_keys")]
    pub keys: Vec<Secret>,
}

/// State quotas as written in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSection {
    #[serde(default, deserialize_with = "value_bytes")]
    pub max_value_bytes: Option<u64>,
    #[serde(default, deserialize_with = "total_bytes")]
    pub max_total_bytes: Option<u64>,
}

/// The limits a bot's turns run under, after defaults are applied.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BotLimits {
    pub memory_mib: u32,
    pub turn_deadline_ms: u64,
    /// A channel's request (not `expectReplies`, not `invoke`) is answered
    /// when the turn ends or after this long, whichever comes first.
    pub ack_after_ms: u64,
    pub fuel: Option<u64>,
    pub max_concurrent_turns: u32,
    pub max_activities_per_turn: u32,
    /// The most bytes of activity JSON a turn may send, updates included.
    pub max_send_bytes_per_turn: u64,
    /// The most bytes a turn may log (`logging.log`, stdout, stderr);
    /// past it, the turn's further output is dropped.
    pub max_log_bytes_per_turn: u64,
}

/// Activity JSON a turn may send, when neither manifest nor host says.
pub const DEFAULT_MAX_SEND_BYTES_PER_TURN: u64 = 4 << 20;
/// Log output a turn may write, when neither manifest nor host says.
pub const DEFAULT_MAX_LOG_BYTES_PER_TURN: u64 = 64 << 10;

/// The resources one turn may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnLimits {
    /// The most linear memory the bot's instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// How long a turn may take, from the start of instantiation to the
    /// bot's return, host calls included.
    pub deadline: Duration,
}

impl Default for TurnLimits {
    fn default() -> Self {
        TurnLimits {
            memory_bytes: 64 << 20,
            deadline: Duration::from_secs(10),
        }
    }
}

/// Which built-in middleware a bot uses (manifest `[middleware]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct MiddlewareSwitches {
    /// Typing indicators while a message turn runs.
    #[serde(default)]
    pub typing: bool,
    /// Log incoming and outgoing activities to the transcript store.
    #[serde(default)]
    pub transcript: bool,
    /// Per-turn metrics (duration, outcome).
    #[serde(default = "yes")]
    pub metrics: bool,
}

fn yes() -> bool {
    true
}

impl Default for MiddlewareSwitches {
    fn default() -> Self {
        MiddlewareSwitches {
            typing: false,
            transcript: false,
            metrics: true,
        }
    }
}

/// Whether `name` may name a bot or a route (and so appear in a URL path).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// How long a channel's request waits for its turn by default: well inside
/// the 15 s a Bot Framework channel waits.
pub const DEFAULT_ACK_AFTER: Duration = Duration::from_secs(5);

/// Host-wide defaults for what a manifest leaves unset.
#[derive(Debug, Clone, PartialEq)]
pub struct BotDefaults {
    pub turn: TurnLimits,
    pub max_concurrent_turns: u32,
    pub max_activities_per_turn: u32,
    /// How long a channel's request waits for its turn (`ack_after_ms`).
    pub ack_after: Duration,
    /// Credentials from the environment, for bots whose manifest names no
    /// app id.
    pub credentials: Credentials,
}

impl Default for BotDefaults {
    fn default() -> Self {
        BotDefaults {
            turn: TurnLimits::default(),
            max_concurrent_turns: 64,
            max_activities_per_turn: 100,
            ack_after: DEFAULT_ACK_AFTER,
            credentials: Credentials::default(),
        }
    }
}

impl BotLimits {
    pub fn turn(&self) -> TurnLimits {
        TurnLimits {
            memory_bytes: (self.memory_mib as usize) << 20,
            deadline: std::time::Duration::from_millis(self.turn_deadline_ms),
        }
    }
}

/// Why a manifest is unusable: the line (where known) and the key; the
/// loader (`runtime::bot::LoadError`) adds the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    /// Not TOML, an unknown key or a bad value; `line` where it is known.
    #[error("{}{message}", line.map(|n| format!("line {n}: ")).unwrap_or_default())]
    Invalid {
        line: Option<usize>,
        message: String,
    },
    /// Pool settings without the pooled policy, rather than ignored.
    #[error("`instances.pool_size` and `instances.max_turns` need `instances.policy = \"pooled\"`")]
    PoolWithoutPooledPolicy,
}

impl Manifest {
    /// Parses manifest text; the error says where and what is wrong.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|err: toml::de::Error| ManifestError::Invalid {
                line: err
                    .span()
                    .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1),
                message: err.message().to_owned(),
            })?;
        manifest.instance_policy()?;
        Ok(manifest)
    }

    /// The instance policy, defaults filled in. Pool settings without
    /// `policy = "pooled"` are an error rather than silently ignored.
    pub fn instance_policy(&self) -> Result<InstancePolicy, ManifestError> {
        let i = &self.instances;
        match i.policy {
            Some(PolicyName::Pooled) => Ok(InstancePolicy::Pooled {
                pool_size: i.pool_size.unwrap_or(DEFAULT_POOL_SIZE),
                max_turns: i.max_turns.unwrap_or(DEFAULT_POOL_MAX_TURNS),
            }),
            None | Some(PolicyName::Fresh | PolicyName::NativeEcho)
                if i.pool_size.is_some() || i.max_turns.is_some() =>
            {
                Err(ManifestError::PoolWithoutPooledPolicy)
            }
            None | Some(PolicyName::Fresh) => Ok(InstancePolicy::Fresh),
            Some(PolicyName::NativeEcho) => Ok(InstancePolicy::NativeEcho),
        }
    }

    /// The manifest's credentials when they name an app id, else the host's.
    pub fn credentials(&self, defaults: &BotDefaults) -> Credentials {
        if self.credentials.has_app_id() {
            self.credentials.clone()
        } else {
            defaults.credentials.clone()
        }
    }

    pub fn limits(&self, defaults: &BotDefaults) -> BotLimits {
        let l = &self.limits;
        BotLimits {
            memory_mib: l
                .memory_mib
                .unwrap_or((defaults.turn.memory_bytes >> 20) as u32),
            turn_deadline_ms: l
                .turn_deadline_ms
                .unwrap_or(defaults.turn.deadline.as_millis() as u64),
            ack_after_ms: l
                .ack_after_ms
                .unwrap_or(defaults.ack_after.as_millis() as u64),
            fuel: l.fuel,
            max_concurrent_turns: l
                .max_concurrent_turns
                .unwrap_or(defaults.max_concurrent_turns),
            max_activities_per_turn: l
                .max_activities_per_turn
                .unwrap_or(defaults.max_activities_per_turn),
            max_send_bytes_per_turn: l
                .max_send_bytes_per_turn
                .unwrap_or(DEFAULT_MAX_SEND_BYTES_PER_TURN),
            max_log_bytes_per_turn: l
                .max_log_bytes_per_turn
                .unwrap_or(DEFAULT_MAX_LOG_BYTES_PER_TURN),
        }
    }
}

fn ranged<'de, D, T>(d: D, key: &str, min: T, max: T) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + PartialOrd + fmt::Display + Copy,
{
    let value = T::deserialize(d)?;
    if value < min || value > max {
        return Err(serde::de::Error::custom(format!(
            "`{key}` must be between {min} and {max}, not {value}"
        )));
    }
    Ok(Some(value))
}

/// The most memory a bot may be given, in MiB.
pub const MAX_MEMORY_MIB: usize = 4096;

fn memory_mib<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ranged(d, "limits.memory_mib", 1, MAX_MEMORY_MIB as u32)
}

fn deadline_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, "limits.turn_deadline_ms", 1, 600_000)
}

fn ack_after_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, "limits.ack_after_ms", 1, 600_000)
}

fn positive_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, "limits.fuel", 1, u64::MAX)
}

fn concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ranged(d, "limits.max_concurrent_turns", 1, 100_000)
}

fn activities<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ranged(d, "limits.max_activities_per_turn", 0, 1_000_000)
}

fn send_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, "limits.max_send_bytes_per_turn", 1024, 1 << 30)
}

fn log_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, "limits.max_log_bytes_per_turn", 0, 1 << 30)
}

fn pool_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ranged(d, "instances.pool_size", 1, 64)
}

fn max_turns<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ranged(d, "instances.max_turns", 1, u32::MAX)
}

fn value_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, "state.max_value_bytes", 2, 64 << 20)
}

fn total_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, "state.max_total_bytes", 2, 64 << 30)
}

/// API keys: none empty, none shorter than 16 characters (a key is a
/// bearer credential: a short one could be guessed).
fn api_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Secret>, D::Error> {
    // Surrounding whitespace (a key pasted with its newline) is not part
    // of the key: the bearer a caller presents is trimmed too.
    let keys: Vec<Secret> = Vec::<Secret>::deserialize(d)?
        .into_iter()
        .map(|k| Secret::new(k.expose().trim().to_owned()))
        .collect();
    if keys.iter().any(|k| k.expose().len() < 16) {
        return Err(serde::de::Error::custom(
            "`api.keys` entries must be at least 16 characters",
        ));
    }
    Ok(keys)
}

fn route_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let route = String::deserialize(d)?;
    if !is_valid_name(&route) {
        return Err(serde::de::Error::custom(format!(
            "`route` must be 1-64 letters, digits, `-` or `_`, not `{route}`"
        )));
    }
    Ok(Some(route))
}

#[cfg(test)]
mod tests;
