//! The address guard: every name a bot's request names is resolved here,
//! by the host, and only the addresses that pass are handed to the
//! connector, which connects to exactly those; so a name that resolves to a
//! public address when checked and to a private one when connecting (DNS
//! rebinding) cannot get past it. Refused: loopback, private (RFC 1918,
//! RFC 4193), link-local (with the 169.254.169.254 metadata address),
//! shared (RFC 6598), multicast, broadcast and unspecified addresses; the
//! only exceptions are an allowlist entry that names the literal IP (which
//! never reaches a resolver) or `localhost`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Resolves a bot's names and keeps only the addresses it may reach.
pub struct Guard {
    pub bot: Arc<str>,
    /// Fixed addresses for some names (the host's `--http-resolve`).
    pub resolve: HashMap<String, Vec<IpAddr>>,
    /// The allowlist names `localhost`: its loopback addresses pass.
    pub allow_localhost: bool,
}

/// A name whose every address is one a bot may not reach.
#[derive(Debug, thiserror::Error)]
#[error("{name} resolves only to addresses a bot may not reach ({addresses})")]
pub struct Prohibited {
    pub name: String,
    pub addresses: String,
}

/// Whether a bot may not reach `ip` unless the allowlist names it.
pub fn is_prohibited(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_prohibited(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let name = name.as_str().to_ascii_lowercase();
        let fixed = self.resolve.get(&name).cloned();
        let (bot, allow_localhost) = (self.bot.clone(), self.allow_localhost);
        Box::pin(async move {
            let found: Vec<IpAddr> = match fixed {
                Some(fixed) => fixed,
                None => tokio::net::lookup_host((name.as_str(), 0))
                    .await?
                    .map(|addr| addr.ip())
                    .collect(),
            };
            let passes = |ip: &IpAddr| {
                !is_prohibited(*ip) || (allow_localhost && name == "localhost" && ip.is_loopback())
            };
            let allowed: Vec<SocketAddr> = found
                .iter()
                .filter(|ip| passes(ip))
                .map(|ip| SocketAddr::new(*ip, 0))
                .collect();
            if allowed.is_empty() {
                let addresses = found
                    .iter()
                    .map(IpAddr::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                tracing::warn!(bot = %bot, host = %name, %addresses, "outbound HTTP refused: the name resolves only to addresses a bot may not reach");
                return Err(Box::new(Prohibited { name, addresses }) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_prohibited() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_prohibited(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700::1111", "172.32.0.1"] {
            assert!(!is_prohibited(ip.parse().unwrap()), "{ip}");
        }
    }
}
