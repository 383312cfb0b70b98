//! zurl's allow/deny access policy (spec/zhttp.md §10.3): `defpolicy`, `allow` and `deny`
//! host patterns, checked against the URI host, `connect-host`, and every address a name
//! resolves to (so a hostname cannot smuggle a denied address).
//!
//! Patterns, matched case-insensitively: a subnet (`10/8`, `192.168/16`, `172.16.0.0/12`,
//! `fd00::/8`) when the value is an IP address and the pattern has a `/`; a wildcard with one
//! `*` (`127.*`, `*.local`) matching prefix and suffix; otherwise exact equality.

use std::net::IpAddr;

use pushpin_config::zurl::Policy as DefPolicy;

/// The configured policy.
#[derive(Debug, Clone)]
pub struct Policy {
    defpolicy: DefPolicy,
    allow: Vec<Pattern>,
    deny: Vec<Pattern>,
    allow_ipv6: bool,
}

#[derive(Debug, Clone)]
enum Pattern {
    Subnet { net: IpAddr, bits: u8 },
    Wildcard { prefix: String, suffix: String },
    Exact(String),
}

impl Pattern {
    fn parse(text: &str) -> Self {
        let lower = text.trim().to_ascii_lowercase();
        if let Some((net, bits)) = lower.split_once('/') {
            if let (Some(net), Ok(bits)) = (parse_partial_ip(net), bits.parse::<u8>()) {
                return Self::Subnet { net, bits };
            }
        }
        if let Some((prefix, suffix)) = lower.split_once('*') {
            return Self::Wildcard {
                prefix: prefix.to_owned(),
                suffix: suffix.to_owned(),
            };
        }
        Self::Exact(lower)
    }

    fn matches(&self, value: &str, ip: Option<IpAddr>) -> bool {
        match self {
            Self::Subnet { net, bits } => ip.is_some_and(|ip| in_subnet(ip, *net, *bits)),
            Self::Wildcard { prefix, suffix } => {
                value.len() >= prefix.len() + suffix.len()
                    && value.starts_with(prefix.as_str())
                    && value.ends_with(suffix.as_str())
            }
            Self::Exact(s) => s == value,
        }
    }
}

/// `10` → 10.0.0.0, `192.168` → 192.168.0.0, full IPv4 and IPv6 as written.
fn parse_partial_ip(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (slot, part) in octets.iter_mut().zip(&parts) {
        *slot = part.parse().ok()?;
    }
    Some(IpAddr::from(octets))
}

fn in_subnet(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => prefix_eq(&a.octets(), &n.octets(), bits),
        (IpAddr::V6(a), IpAddr::V6(n)) => prefix_eq(&a.octets(), &n.octets(), bits),
        (IpAddr::V6(a), IpAddr::V4(n)) => a
            .to_ipv4_mapped()
            .is_some_and(|a| prefix_eq(&a.octets(), &n.octets(), bits)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let mut left = usize::from(bits).min(a.len() * 8);
    for (x, y) in a.iter().zip(b) {
        if left == 0 {
            return true;
        }
        let take = left.min(8);
        let mask = 0xffu8 << (8 - take);
        if x & mask != y & mask {
            return false;
        }
        left -= take;
    }
    true
}

impl Policy {
    /// The policy of a zurl.conf.
    pub fn new(defpolicy: DefPolicy, allow: &[String], deny: &[String], allow_ipv6: bool) -> Self {
        Self {
            defpolicy,
            allow: allow.iter().map(|p| Pattern::parse(p)).collect(),
            deny: deny.iter().map(|p| Pattern::parse(p)).collect(),
            allow_ipv6,
        }
    }

    /// Allows everything (tests, `ignore-policies`).
    pub fn allow_all() -> Self {
        Self::new(DefPolicy::Allow, &[], &[], true)
    }

    /// Whether a host name or address text is allowed by the patterns.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let lower = host.to_ascii_lowercase();
        let ip = lower.parse::<IpAddr>().ok();
        if let Some(ip) = ip {
            return self.allows_ip(ip);
        }
        self.check(&lower, None)
    }

    /// Whether a resolved address is allowed (patterns, and `allow_ipv6`).
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        if let IpAddr::V6(v6) = ip {
            if v6.to_ipv4_mapped().is_none() && !self.allow_ipv6 {
                return false;
            }
        }
        self.check(&ip.to_string(), Some(ip))
    }

    fn check(&self, value: &str, ip: Option<IpAddr>) -> bool {
        let allowed = self.allow.iter().any(|p| p.matches(value, ip));
        let denied = self.deny.iter().any(|p| p.matches(value, ip));
        match self.defpolicy {
            DefPolicy::Allow => !denied || allowed,
            DefPolicy::Deny => allowed && !denied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn runner_template_deny_list() {
        let p = Policy::new(
            DefPolicy::Allow,
            &[],
            &strings(&["127.*", "10.*", "192.168.*", "*.local"]),
            false,
        );
        assert!(!p.allows_host("127.0.0.1"));
        assert!(!p.allows_host("printer.LOCAL"));
        assert!(!p.allows_host("10.1.2.3"));
        assert!(p.allows_host("example.com"));
        assert!(p.allows_host("8.8.8.8"));
        assert!(!p.allows_ip("::1".parse().unwrap()), "ipv6 off");
    }

    #[test]
    fn subnets_and_allow_override() {
        let p = Policy::new(
            DefPolicy::Allow,
            &strings(&["10.1.0.0/16"]),
            &strings(&["10/8", "172.16/12", "denied.invalid"]),
            true,
        );
        assert!(!p.allows_host("10.2.0.1"));
        assert!(p.allows_host("10.1.9.9"), "allow overrides deny");
        assert!(!p.allows_host("172.31.255.1"));
        assert!(p.allows_host("172.32.0.1"));
        assert!(!p.allows_host("denied.invalid"));
        assert!(
            p.allows_host("10.example"),
            "subnet only applies to addresses"
        );
    }

    #[test]
    fn defpolicy_deny() {
        let p = Policy::new(
            DefPolicy::Deny,
            &strings(&["*.example.com", "127.0.0.1"]),
            &strings(&["bad.example.com"]),
            false,
        );
        assert!(p.allows_host("a.example.com"));
        assert!(!p.allows_host("bad.example.com"));
        assert!(!p.allows_host("other.org"));
        assert!(p.allows_ip("127.0.0.1".parse().unwrap()));
    }
}
