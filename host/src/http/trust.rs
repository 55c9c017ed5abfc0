//! Whom the host lets in without a secret: loopback callers, and only
//! where "loopback" means "this machine". A host bound to a non-loopback
//! address, or a request relayed by a proxy (`Forwarded`,
//! `X-Forwarded-For`: a reverse proxy on the same machine makes every
//! caller look like loopback), gets no such trust. For the admin and
//! conversations APIs a browser's cross-origin request gets none either:
//! a page the user visits could otherwise make the user's browser call a
//! host on the user's own machine.

use std::net::SocketAddr;

use axum::http::{HeaderMap, header};

use crate::http::app::AppState;

/// Whether the caller is on this machine, as far as the host can tell.
pub fn loopback_trusted(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> bool {
    state.bound_to_loopback
        && peer.ip().is_loopback()
        && !forwarded(headers)
        && loopback_host(headers)
}

/// Whether the request names this machine in `Host` (or names nothing).
/// A page whose name a DNS rebinding points at 127.0.0.1 sends its own
/// name, and its origin then matches that `Host`.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST) else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// As [`loopback_trusted`], and not a browser's request from a page of
/// another origin.
pub fn local_and_same_origin(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> bool {
    loopback_trusted(state, headers, peer) && !cross_origin(headers)
}

/// Whether a proxy says it relayed the request.
fn forwarded(headers: &HeaderMap) -> bool {
    headers.contains_key(header::FORWARDED) || headers.contains_key("x-forwarded-for")
}

/// Whether a browser sent the request from a page of another origin: an
/// `Origin` header whose host and port are not the request's `Host`.
fn cross_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, authority)| authority.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(origin), Some(host)) => !origin.eq_ignore_ascii_case(host),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn forwarding_and_other_origins_are_seen() {
        assert!(!forwarded(&headers(&[("host", "127.0.0.1:1")])));
        assert!(forwarded(&headers(&[("forwarded", "for=1.2.3.4")])));
        assert!(forwarded(&headers(&[("x-forwarded-for", "1.2.3.4")])));
        assert!(!cross_origin(&headers(&[("host", "127.0.0.1:1")])));
        assert!(!cross_origin(&headers(&[
            ("host", "127.0.0.1:1"),
            ("origin", "http://127.0.0.1:1")
        ])));
        assert!(cross_origin(&headers(&[
            ("host", "127.0.0.1:1"),
            ("origin", "https://evil.example")
        ])));
        assert!(cross_origin(&headers(&[("origin", "null")])));
    }

    #[test]
    fn only_this_machines_names_are_local_hosts() {
        for local in [
            "127.0.0.1:3978",
            "localhost:1",
            "LOCALHOST",
            "[::1]:80",
            "127.0.0.1",
        ] {
            assert!(loopback_host(&headers(&[("host", local)])), "{local}");
        }
        for other in [
            "evil.example:3978",
            "10.0.0.1:80",
            "[2001:db8::1]:80",
            "localhost.evil.example",
        ] {
            assert!(!loopback_host(&headers(&[("host", other)])), "{other}");
        }
        assert!(loopback_host(&headers(&[])));
    }
}
