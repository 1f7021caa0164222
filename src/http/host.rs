//! DNS-rebinding protection for the console: which `Host` headers the console and its JSON
//! API answer.
//!
//! A hostile web page can make its own name resolve to 127.0.0.1 and then read the console
//! "same-origin"; its requests still carry the hostile name in `Host`. So console routes
//! answer only when `Host` (without its port) is an IP literal, `localhost`, the host of
//! `http_listen`, or a name listed in `console.allowed_hosts`. A request without `Host`
//! (HTTP/1.0 tools) is refused too: browsers always send it. `/metrics`, `/healthz` and
//! `/readyz` are not checked (probes and scrapers address the broker by any name).

use std::net::IpAddr;

use crate::config::{split_host_port, Config};

/// The host names accepted besides IP literals and `localhost`, lower-cased.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    names: Vec<String>,
}

impl AllowedHosts {
    /// From `http_listen`'s host and `console.allowed_hosts`.
    pub fn from_config(cfg: &Config) -> AllowedHosts {
        let mut names: Vec<String> = cfg
            .console
            .allowed_hosts
            .iter()
            .map(|h| normalize(h))
            .collect();
        if let Some((host, _)) = split_host_port(&cfg.http_listen) {
            names.push(normalize(&host));
        }
        names.retain(|n| !n.is_empty());
        AllowedHosts { names }
    }

    /// True when a console request with this `Host` header may be answered.
    pub fn allows(&self, header: Option<&str>) -> bool {
        let Some(header) = header else {
            return false;
        };
        let Some(host) = strip_port(header.trim()) else {
            return false;
        };
        if host.parse::<IpAddr>().is_ok() {
            return true;
        }
        let host = normalize(host);
        host == "localhost" || self.names.contains(&host)
    }
}

/// Lower case, without a trailing dot (`example.com.` names the same host).
fn normalize(h: &str) -> String {
    h.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The host part of a `Host` header: `[v6]:port`, `[v6]`, `name:port`, `name`. None when
/// malformed (a bracket without its pair, or a non-numeric port).
fn strip_port(h: &str) -> Option<&str> {
    if let Some(rest) = h.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        return match after {
            "" => Some(inside),
            p if p.strip_prefix(':').is_some_and(is_port) => Some(inside),
            _ => None,
        };
    }
    match h.rsplit_once(':') {
        Some((host, port)) if is_port(port) && !host.contains(':') => Some(host),
        Some(_) => None,
        None => Some(h),
    }
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_localhost_and_configured_names_only() {
        let cfg = Config {
            http_listen: "console.internal:9644".into(),
            console: crate::config::ConsoleConfig {
                allowed_hosts: vec!["Runnel.Example.com".into()],
                ..Default::default()
            },
            ..Config::default()
        };
        let a = AllowedHosts::from_config(&cfg);
        for ok in [
            "127.0.0.1:9644",
            "10.1.2.3",
            "[::1]:9644",
            "[::1]",
            "localhost:9644",
            "LOCALHOST",
            "console.internal:9644",
            "runnel.example.com",
            "runnel.example.com.:80",
        ] {
            assert!(a.allows(Some(ok)), "{ok}");
        }
        for bad in [
            "evil.example:9644",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "[::1",
            "::1",
            "localhost:x",
            "",
        ] {
            assert!(!a.allows(Some(bad)), "{bad}");
        }
        assert!(!a.allows(None));
    }
}
