//! The indicators of an alert that may leave the network, as data: public
//! IP addresses (not private, loopback, link-local, shared, documentation,
//! benchmarking, multicast or otherwise reserved: IANA's special-purpose
//! registries), external domain names (never the host's own domain or
//! hostname, a configured internal suffix, or an internal top-level name
//! like `.local` or `.corp`) and SHA-256 hashes, in the alert's order,
//! without repeats, capped per alert.
//!
//! It must not look anything up, and must not let an internal name or
//! address through: when in doubt, an indicator is withheld.

use crate::alert::Alert;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Ip,
    Domain,
    /// A file by its SHA-256.
    File,
}

impl Kind {
    /// The policy's name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::Domain => "domain",
            Kind::File => "sha256",
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Kind::Ip => "IP",
            Kind::Domain => "domain",
            Kind::File => "SHA-256",
        }
    }
}

/// Something a service can be asked about; `value` is normalised (lower case,
/// canonical address text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Indicator {
    pub kind: Kind,
    pub value: String,
}

/// The indicators of an alert that may be sent out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Picked {
    pub indicators: Vec<Indicator>,
    /// Private/reserved addresses and internal names held back.
    pub withheld: usize,
    /// Past `max` per alert, not looked up.
    pub over_limit: usize,
}

/// Public IPs first, then external domains, then SHA-256 hashes, each in the
/// alert's order, without repeats, at most `max`. `internal_domains` are
/// suffixes (`corp.example.com`) never sent, besides the host's own domain.
pub fn pick(alert: &Alert, internal_domains: &[String], max: usize) -> Picked {
    let mut all: Vec<Indicator> = Vec::new();
    let mut withheld = 0;
    let mut add = |i: Option<Indicator>, withheld: &mut usize| match i {
        Some(i) if !all.contains(&i) => all.push(i),
        Some(_) => {}
        None => *withheld += 1,
    };
    let ips = alert
        .ips
        .iter()
        .chain(alert.connections.iter().map(|c| &c.remote_ip));
    for ip in ips {
        let public = ip.trim().parse::<IpAddr>().ok().filter(|a| is_public(*a));
        add(
            public.map(|a| Indicator {
                kind: Kind::Ip,
                value: canonical(a).to_string(),
            }),
            &mut withheld,
        );
    }
    for d in &alert.domains {
        add(
            external_domain(d, alert, internal_domains).map(|value| Indicator {
                kind: Kind::Domain,
                value,
            }),
            &mut withheld,
        );
    }
    let hashes = [&alert.process, &alert.parent, &alert.grandparent]
        .into_iter()
        .filter_map(|p| p.sha256.as_ref())
        .chain(alert.hashes.iter());
    for h in hashes {
        let h = h.trim().to_ascii_lowercase();
        if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) && !all_zero(&h) {
            add(
                Some(Indicator {
                    kind: Kind::File,
                    value: h,
                }),
                &mut withheld,
            );
        }
    }
    let over_limit = all.len().saturating_sub(max);
    all.truncate(max);
    Picked {
        indicators: all,
        withheld,
        over_limit,
    }
}

fn all_zero(h: &str) -> bool {
    h.bytes().all(|b| b == b'0')
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

/// Globally routable: not private, loopback, link-local, shared (CGNAT),
/// documentation, benchmarking, multicast or otherwise reserved (IANA's
/// special-purpose registries).
pub fn is_public(a: IpAddr) -> bool {
    match canonical(a) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [b0, b1, b2, _] = a.octets();
    !(b0 == 0
        || b0 == 10
        || b0 == 127
        || (b0 == 100 && (64..128).contains(&b1))
        || (b0 == 169 && b1 == 254)
        || (b0 == 172 && (16..32).contains(&b1))
        || (b0 == 192 && b1 == 0 && b2 == 0)
        || (b0 == 192 && b1 == 0 && b2 == 2)
        || (b0 == 192 && b1 == 88 && b2 == 99)
        || (b0 == 192 && b1 == 168)
        || (b0 == 198 && (b1 == 18 || b1 == 19))
        || (b0 == 198 && b1 == 51 && b2 == 100)
        || (b0 == 203 && b1 == 0 && b2 == 113)
        || b0 >= 224)
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    // Global unicast is 2000::/3; within it, IETF protocol assignments
    // (2001::/23, Teredo included), documentation (2001:db8::/32, 3fff::/20)
    // and 6to4 (2002::/16) are not sent.
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] < 0x0200)
        && !(s[0] == 0x2001 && s[1] == 0x0db8)
        && s[0] != 0x2002
        && (s[0] & 0xfff0) != 0x3ff0
}

/// Top-level names that never leave the network.
const INTERNAL_TLDS: [&str; 13] = [
    "local",
    "localhost",
    "localdomain",
    "lan",
    "home",
    "internal",
    "intranet",
    "corp",
    "private",
    "arpa",
    "test",
    "example",
    "invalid",
];

fn under(name: &str, suffix: &str) -> bool {
    let suffix = suffix.trim().trim_matches('.').to_ascii_lowercase();
    !suffix.is_empty()
        && (name == suffix
            || name
                .strip_suffix(suffix.as_str())
                .is_some_and(|rest| rest.ends_with('.')))
}

/// `d` lower-cased when it is a syntactically valid public DNS name that is
/// not the host's own (domain, hostname) nor under an internal suffix.
pub fn external_domain(d: &str, alert: &Alert, internal_domains: &[String]) -> Option<String> {
    let name = d.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.len() > 253 || name.parse::<IpAddr>().is_ok() {
        return None;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let valid_label = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    let tld = *labels.last()?;
    let tld_ok =
        tld.starts_with("xn--") || (tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_lowercase()));
    if labels.len() < 2
        || !labels.iter().all(valid_label)
        || !tld_ok
        || INTERNAL_TLDS.contains(&tld)
    {
        return None;
    }
    let own = alert.host.domain.iter().chain(internal_domains.iter());
    if own.clone().any(|s| under(&name, s)) {
        return None;
    }
    if let Some(host) = &alert.host.hostname
        && labels[0].eq_ignore_ascii_case(host.trim())
    {
        return None;
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_never_public() {
        for a in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.7",
            "198.18.0.1",
            "224.0.0.251",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "2002::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a}");
        }
        for a in [
            "8.8.8.8",
            "185.220.101.1",
            "172.32.0.1",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(a.parse().unwrap()), "{a}");
        }
    }

    fn alert() -> Alert {
        let event = serde_json::json!({"metadata": {"eventType": "EppDetectionSummaryEvent"}, "event": {"Name": "x"}});
        let mut a =
            crate::alert::normalize::normalize(&event, &Default::default(), Default::default())
                .unwrap()
                .unwrap();
        a.host.hostname = Some("FIN-WS-042".into());
        a.host.domain = Some("corp.example.com".into());
        a
    }

    #[test]
    fn only_public_indicators_are_picked_in_order_without_repeats() {
        let mut a = alert();
        a.ips = [
            "10.0.0.5",
            "8.8.8.8",
            "8.8.8.8",
            "::ffff:185.220.101.1",
            "not an ip",
            "192.168.1.1",
        ]
        .map(String::from)
        .to_vec();
        a.connections = vec![crate::alert::Connection {
            remote_ip: "185.220.101.1".into(),
            remote_port: Some(443),
            local_ip: None,
            protocol: None,
        }];
        a.domains = [
            "Update-Check.xyz.",
            "fileserver.CORP.example.com",
            "printer.local",
            "fin-ws-042.elsewhere.com",
            "wpad",
            "login.microsoftonline.com",
            "build.internal.acme.io",
        ]
        .map(String::from)
        .to_vec();
        let sha = "A".repeat(64);
        a.process.sha256 = Some(sha.clone());
        a.parent.sha256 = Some(sha.to_ascii_lowercase());
        a.hashes = vec!["0".repeat(64), "abc".into()];
        let p = pick(&a, &["internal.acme.io".into()], 100);
        let got: Vec<(&str, &str)> = p
            .indicators
            .iter()
            .map(|i| (i.kind.as_str(), i.value.as_str()))
            .collect();
        let a64 = "a".repeat(64);
        assert_eq!(
            got,
            [
                ("ip", "8.8.8.8"),
                ("ip", "185.220.101.1"),
                ("domain", "update-check.xyz"),
                ("domain", "login.microsoftonline.com"),
                ("sha256", a64.as_str()),
            ]
        );
        assert_eq!((p.withheld, p.over_limit), (8, 0));
        let p = pick(&a, &[], 2);
        assert_eq!((p.indicators.len(), p.over_limit), (2, 4));
    }
}
