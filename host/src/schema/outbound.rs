//! The `[http]` section of a bot's manifest: where the bot's outbound HTTP
//! (`wasi:http`) may go, in Spin's `allowed_outbound_hosts` form, and its
//! per-turn limits.
//!
//! ```toml
//! [http]
//! allowed_hosts = ["https://api.example.com", "http://127.0.0.1:8080", "https://*.openai.azure.com"]
//! max_requests_per_turn = 32
//! ```
//!
//! An entry is `scheme://host[:port]`: the scheme `http` or `https`; the
//! host a name, an IP literal (`[…]` for IPv6), or `*.` and a name (one
//! label, any); the port a number or `*`, else the scheme's default. No
//! entry, no request.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// One `allowed_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    pub scheme: String,
    pub host: HostPattern,
    /// `None`: any port.
    pub port: Option<u16>,
}

/// The host part of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// A name (lower case) or an IP literal (normalised).
    Exact(String),
    /// `*.suffix`: any one label before the suffix.
    AnyLabel(String),
}

impl AllowedHost {
    /// Parses `scheme://host[:port]`.
    pub fn parse(entry: &str) -> Result<AllowedHost, String> {
        let bad = |why: &str| format!("`{entry}` is not an allowed host: {why}");
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or_else(|| bad("expected scheme://host[:port]"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        if rest.contains(['/', '?', '#', '@']) {
            return Err(bad("a host has no path, query or user"));
        }
        let (host, port) = split_port(rest).map_err(|why| bad(&why))?;
        let port = match port {
            None => Some(default_port(&scheme)),
            Some("*") => None,
            Some(port) => Some(port.parse::<u16>().map_err(|_| bad("bad port"))?),
        };
        let host = host.to_ascii_lowercase();
        let host = if let Some(suffix) = host.strip_prefix("*.") {
            check_name(suffix).map_err(|why| bad(&why))?;
            HostPattern::AnyLabel(suffix.to_owned())
        } else if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            HostPattern::Exact(ip.to_string())
        } else {
            check_name(&host).map_err(|why| bad(&why))?;
            HostPattern::Exact(host)
        };
        Ok(AllowedHost { scheme, host, port })
    }

    /// Whether a request to `scheme://host:port` matches (`host` as in the
    /// URL: lower case, an IP literal without brackets).
    pub fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.scheme != scheme || self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.host {
            HostPattern::Exact(exact) => exact == host,
            HostPattern::AnyLabel(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|label| label.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        }
    }
}

/// `host[:port]`, with `[v6]` brackets kept on the host.
fn split_port(rest: &str) -> Result<(&str, Option<&str>), String> {
    if rest.starts_with('[') {
        let end = rest.find(']').ok_or("an unclosed `[`")?;
        let (host, after) = rest.split_at(end + 1);
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if after.is_empty() => Ok((host, None)),
            None => Err("junk after the address".into()),
        };
    }
    Ok(match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    })
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err("bad host name (a `*` may only stand for the leftmost label)".into())
    }
}

/// The scheme's default port.
pub fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// `[http]` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    #[serde(default, deserialize_with = "allowed_hosts")]
    pub allowed_hosts: Vec<AllowedHost>,
    pub max_requests_per_turn: Option<u32>,
    pub max_concurrent_requests: Option<u32>,
    pub connect_timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub max_request_bytes_per_turn: Option<u64>,
    pub max_response_bytes_per_turn: Option<u64>,
}

fn allowed_hosts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<AllowedHost>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|entry| AllowedHost::parse(entry).map_err(serde::de::Error::custom))
        .collect()
}

/// A bot's outbound HTTP limits, each within a turn (whose deadline bounds
/// them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub max_requests_per_turn: u32,
    pub max_concurrent_requests: u32,
    pub connect_timeout: Duration,
    /// Until the response's head arrives.
    pub first_byte_timeout: Duration,
    /// The whole request, its response body read to the end.
    pub timeout: Duration,
    pub max_request_bytes_per_turn: u64,
    pub max_response_bytes_per_turn: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_requests_per_turn: 32,
            max_concurrent_requests: 8,
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(30),
            timeout: Duration::from_secs(60),
            max_request_bytes_per_turn: 4 << 20,
            max_response_bytes_per_turn: 16 << 20,
        }
    }
}

/// The host's defaults for the `[http]` limits a manifest leaves unset
/// (`turnbox serve --http-…` flags); unset flags keep the built-in ones.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct HttpDefaults {
    /// Bots' outbound HTTP: requests per turn.
    #[arg(
        long = "http-max-requests-per-turn",
        env = "TURNBOX_HTTP_MAX_REQUESTS_PER_TURN"
    )]
    pub max_requests_per_turn: Option<u32>,
    /// Bots' outbound HTTP: requests in flight at once per turn.
    #[arg(
        long = "http-max-concurrent-requests",
        env = "TURNBOX_HTTP_MAX_CONCURRENT_REQUESTS"
    )]
    pub max_concurrent_requests: Option<u32>,
    /// Bots' outbound HTTP: connect timeout, ms.
    #[arg(
        long = "http-connect-timeout-ms",
        env = "TURNBOX_HTTP_CONNECT_TIMEOUT_MS"
    )]
    pub connect_timeout_ms: Option<u64>,
    /// Bots' outbound HTTP: time to the response's head, ms.
    #[arg(
        long = "http-first-byte-timeout-ms",
        env = "TURNBOX_HTTP_FIRST_BYTE_TIMEOUT_MS"
    )]
    pub first_byte_timeout_ms: Option<u64>,
    /// Bots' outbound HTTP: the whole request, ms (the turn deadline bounds it too).
    #[arg(long = "http-timeout-ms", env = "TURNBOX_HTTP_TIMEOUT_MS")]
    pub timeout_ms: Option<u64>,
    /// Bots' outbound HTTP: request body bytes per turn.
    #[arg(
        long = "http-max-request-bytes-per-turn",
        env = "TURNBOX_HTTP_MAX_REQUEST_BYTES_PER_TURN"
    )]
    pub max_request_bytes_per_turn: Option<u64>,
    /// Bots' outbound HTTP: response body bytes per turn.
    #[arg(
        long = "http-max-response-bytes-per-turn",
        env = "TURNBOX_HTTP_MAX_RESPONSE_BYTES_PER_TURN"
    )]
    pub max_response_bytes_per_turn: Option<u64>,
}

impl HttpDefaults {
    /// The built-in limits with these flags over them.
    pub fn limits(&self) -> HttpLimits {
        HttpSection {
            allowed_hosts: Vec::new(),
            max_requests_per_turn: self.max_requests_per_turn,
            max_concurrent_requests: self.max_concurrent_requests,
            connect_timeout_ms: self.connect_timeout_ms,
            first_byte_timeout_ms: self.first_byte_timeout_ms,
            timeout_ms: self.timeout_ms,
            max_request_bytes_per_turn: self.max_request_bytes_per_turn,
            max_response_bytes_per_turn: self.max_response_bytes_per_turn,
        }
        .limits(&HttpLimits::default())
    }
}

impl HttpSection {
    /// The limits, `d` (the host's defaults) where the manifest sets none.
    pub fn limits(&self, d: &HttpLimits) -> HttpLimits {
        let ms = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
        HttpLimits {
            max_requests_per_turn: self
                .max_requests_per_turn
                .unwrap_or(d.max_requests_per_turn),
            max_concurrent_requests: self
                .max_concurrent_requests
                .unwrap_or(d.max_concurrent_requests)
                .max(1),
            connect_timeout: ms(self.connect_timeout_ms, d.connect_timeout),
            first_byte_timeout: ms(self.first_byte_timeout_ms, d.first_byte_timeout),
            timeout: ms(self.timeout_ms, d.timeout),
            max_request_bytes_per_turn: self
                .max_request_bytes_per_turn
                .unwrap_or(d.max_request_bytes_per_turn),
            max_response_bytes_per_turn: self
                .max_response_bytes_per_turn
                .unwrap_or(d.max_response_bytes_per_turn),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_match_as_spin_writes_them() {
        let api = AllowedHost::parse("https://API.example.com").unwrap();
        assert!(api.matches("https", "api.example.com", 443));
        assert!(!api.matches("https", "api.example.com", 8443));
        assert!(!api.matches("http", "api.example.com", 443));
        assert!(!api.matches("https", "evil.api.example.com", 443));

        let local = AllowedHost::parse("http://127.0.0.1:8080").unwrap();
        assert!(local.matches("http", "127.0.0.1", 8080));
        assert!(!local.matches("http", "127.0.0.1", 8081));

        let azure = AllowedHost::parse("https://*.openai.azure.com").unwrap();
        assert!(azure.matches("https", "mine.openai.azure.com", 443));
        assert!(
            !azure.matches("https", "a.b.openai.azure.com", 443),
            "one label"
        );
        assert!(!azure.matches("https", "openai.azure.com", 443));
        assert!(!azure.matches("https", "xopenai.azure.com", 443));

        let any_port = AllowedHost::parse("http://localhost:*").unwrap();
        assert!(any_port.matches("http", "localhost", 1234));
        let v6 = AllowedHost::parse("http://[::1]:9000").unwrap();
        assert!(v6.matches("http", "::1", 9000));

        for bad in [
            "api.example.com",
            "ftp://x.com",
            "https://x.com/path",
            "https://*",
            "https://a.*.com",
            "https://x.com:99999",
            "https://user@x.com",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }
}
