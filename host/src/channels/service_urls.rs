//! Which service URLs the host may contact at all (`--allowed-service-urls`):
//! loopback and URL prefixes, matched by origin and whole path segments.
//! The connector clients check every activity's `serviceUrl` against it.

use url::Url;

/// One entry of the service-URL allowlist.
#[derive(Debug, Clone, PartialEq)]
pub enum AllowRule {
    /// Any URL whose host is `localhost` or a loopback address.
    Loopback,
    /// URLs with this scheme, host and port, under this path.
    Prefix(Url),
}

/// Which service URLs the host may contact.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceUrlPolicy {
    pub allow: Vec<AllowRule>,
}

impl Default for ServiceUrlPolicy {
    fn default() -> Self {
        ServiceUrlPolicy {
            allow: vec![AllowRule::Loopback],
        }
    }
}

impl ServiceUrlPolicy {
    /// Parses a comma-separated allowlist: `loopback` and URL prefixes such as
    /// `https://smba.trafficmanager.net/`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut allow = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item.eq_ignore_ascii_case("loopback") {
                allow.push(AllowRule::Loopback);
                continue;
            }
            let url = Url::parse(item).map_err(|e| format!("`{item}` is not a URL: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(format!("`{item}` is not an http(s) URL with a host"));
            }
            allow.push(AllowRule::Prefix(url));
        }
        Ok(ServiceUrlPolicy { allow })
    }

    pub fn allows(&self, url: &Url) -> bool {
        self.allow.iter().any(|rule| match rule {
            AllowRule::Loopback => crate::support::urls::is_loopback(url),
            AllowRule::Prefix(prefix) => {
                prefix.scheme() == url.scheme()
                    && prefix.host() == url.host()
                    && prefix.port_or_known_default() == url.port_or_known_default()
                    && path_is_under(url.path(), prefix.path())
            }
        })
    }
}

fn path_is_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    path == prefix || path.starts_with(&format!("{prefix}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_matches_origin_and_path_not_string_prefix() {
        let policy = ServiceUrlPolicy::parse("loopback, https://good.example/bf").unwrap();
        let ok = |s: &str| policy.allows(&Url::parse(s).unwrap());
        assert!(ok("http://127.0.0.1:9/"));
        assert!(ok("http://127.8.0.1/"));
        assert!(ok("http://[::1]:80/"));
        assert!(ok("http://localhost:3000"));
        assert!(ok("https://good.example/bf/x"));
        assert!(!ok("https://good.example/bfx"));
        assert!(!ok("https://good.example.evil.example/bf"));
        assert!(!ok("http://good.example/bf"));
        assert!(!ok("http://10.0.0.1/"));
        assert!(ServiceUrlPolicy::parse("ftp://x").is_err());
    }
}
