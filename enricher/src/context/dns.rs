//! The DNS provider: what the domains an alert names resolve to (A and AAAA) and what names
//! its public addresses point back to (PTR), through `hickory-resolver` on the system's
//! nameservers or configured ones. Each name is one lookup bounded by `timeout`; a name that
//! fails shows as failed while the others still resolve, and the section fails only when every
//! lookup did. Answers are kept in the shared [`LookupCache`] (concurrent alerts naming one
//! domain cause one query): an answer for at most `max_ttl` and never past its record TTL,
//! "no such name" for `negative_ttl`, a failure not at all.
//!
//! OPSEC: looking up an attacker's domain or address sends a query that can reach the
//! attacker's own nameserver and tell them they were noticed. The provider is therefore off by
//! default, and private and reserved addresses are never sent anywhere.
//!
//! This file must not resolve anything in `build` and must not retry past the timeout (the
//! context deadline is the outer bound; the cache never keeps failures).

use super::cache::LookupCache;
use super::geoip::reserved_range;
use super::{Found, LookupError, Provider};
use crate::alert::{Alert, Table};
use futures::future::BoxFuture;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Whether and through which nameservers the DNS provider looks names up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsMode {
    /// No lookups; the section says "off".
    #[default]
    Off,
    /// The nameservers of the system's resolver configuration (`/etc/resolv.conf`).
    System,
    /// The nameservers listed in `nameservers`.
    Configured,
}

/// `[enricher.context.dns]`.
///
/// **OPSEC**: resolving an attacker's domain (or the PTR of an attacker's address) sends a
/// query that ends at the attacker's authoritative nameserver, which can tell them the alert
/// was investigated. That is why `mode` is `"off"` by default. Switch it on knowingly, ideally
/// with `mode = "configured"` and a resolver whose queries cannot be traced back to you (a
/// passive-DNS-backed or otherwise isolated resolver), or leave it off.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// `"off"` (default), `"system"` (the nameservers of `/etc/resolv.conf`) or `"configured"`
    /// (those in `nameservers`).
    pub mode: DnsMode,
    /// With `mode = "configured"`: nameservers as `"ip:port"` or `"ip"` (port 53), queried over
    /// UDP (TCP for truncated answers). Default: none.
    pub nameservers: Vec<String>,
    /// Time allowed for one name's lookup (A and AAAA together, or one PTR). Default `2s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// At most this many names (domains first, then addresses) are looked up per alert; the
    /// rest are counted in a note. Default 10.
    pub max_names: usize,
    /// An answer is reused for its record TTL, but never longer than this. Default `1h`.
    #[serde(with = "humantime_serde")]
    pub max_ttl: Duration,
    /// "No such name" / "no records" is reused this long. Default `5m`.
    #[serde(with = "humantime_serde")]
    pub negative_ttl: Duration,
    /// Answers kept at most (names). Default 10000.
    pub cache_size: u64,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            mode: DnsMode::Off,
            nameservers: Vec::new(),
            timeout: Duration::from_secs(2),
            max_names: 10,
            max_ttl: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(300),
            cache_size: 10_000,
        }
    }
}

/// `"ip:port"` or `"ip"` (port 53); IPv6 with a port as `"[::1]:53"`.
fn nameserver(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    s.parse::<SocketAddr>()
        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| format!("dns.nameservers: {s:?} is not an address (ip or ip:port)"))
}

/// The provider for `config`, or `None` when `mode = "off"`. Builds the resolver (reading
/// `/etc/resolv.conf` in `system` mode) without sending anything; every problem is listed.
pub fn build(config: &DnsConfig) -> Result<Option<Arc<dyn Provider>>, String> {
    let mut errors = Vec::new();
    let servers = config
        .nameservers
        .iter()
        .filter_map(|s| nameserver(s).map_err(|e| errors.push(e)).ok())
        .collect::<Vec<_>>();
    match config.mode {
        DnsMode::Off => return Ok(None),
        DnsMode::Configured if config.nameservers.is_empty() => {
            errors.push("dns.nameservers: mode = \"configured\" needs at least one".into());
        }
        DnsMode::System if !config.nameservers.is_empty() => errors.push(
            "dns.nameservers: only used with mode = \"configured\" (mode is \"system\")".into(),
        ),
        _ => {}
    }
    if config.timeout.is_zero() {
        errors.push("dns.timeout: must be more than 0s".into());
    }
    if config.max_names == 0 {
        errors.push("dns.max_names: must be at least 1".into());
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }

    let provider = TokioRuntimeProvider::default();
    let mut builder = match config.mode {
        DnsMode::System => Resolver::builder(provider)
            .map_err(|e| format!("dns: cannot read the system resolver configuration: {e}"))?,
        _ => {
            let name_servers = servers
                .iter()
                .map(|addr| {
                    let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                    for c in &mut ns.connections {
                        c.port = addr.port();
                    }
                    ns
                })
                .collect();
            Resolver::builder_with_config(ResolverConfig::from_name_servers(name_servers), provider)
        }
    };
    let opts = builder.options_mut();
    opts.timeout = config.timeout;
    // One try within the timeout; our cache is the only cache, and /etc/hosts is not DNS.
    opts.attempts = 0;
    opts.cache_size = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    let resolver = builder
        .build()
        .map_err(|e| format!("dns: cannot build the resolver: {e}"))?;
    Ok(Some(Arc::new(Dns {
        resolver,
        timeout: config.timeout,
        max_names: config.max_names,
        max_ttl: config.max_ttl,
        cache: LookupCache::new(config.cache_size, config.max_ttl, config.negative_ttl),
    })))
}

/// One name to look up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Query {
    /// A and AAAA of a domain (lower case, no trailing dot).
    Domain(String),
    /// PTR of an address.
    Ptr(IpAddr),
}

/// The records found for one query.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    a: Vec<String>,
    aaaa: Vec<String>,
    ptr: Vec<String>,
    /// The shortest record TTL, capped at `max_ttl`: the answer is not reused past it.
    expires: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Found(Answer),
    Missing,
    Failed(String),
}

/// The names of an alert, in order: its domains, then its public addresses (documentation
/// ranges count as public; see `geoip.rs`), each once. Returns the queries and what was
/// left out (not a name, private/reserved).
fn queries(alert: &Alert) -> (Vec<Query>, Vec<String>, usize) {
    let mut out = Vec::new();
    let mut invalid = Vec::new();
    let mut private = 0;
    for d in &alert.domains {
        let name = d.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.parse::<IpAddr>().is_ok() || name.is_empty() || Name::from_utf8(&name).is_err() {
            invalid.push(d.clone());
            continue;
        }
        let q = Query::Domain(name);
        if !out.contains(&q) {
            out.push(q);
        }
    }
    for text in &alert.ips {
        let Ok(ip) = text.trim().parse::<IpAddr>() else {
            invalid.push(text.clone());
            continue;
        };
        let ip = ip.to_canonical();
        if reserved_range(ip).is_some_and(|r| r != "documentation") {
            private += 1;
            continue;
        }
        let q = Query::Ptr(ip);
        if !out.contains(&q) {
            out.push(q);
        }
    }
    (out, invalid, private)
}

struct Dns {
    resolver: TokioResolver,
    timeout: Duration,
    max_names: usize,
    max_ttl: Duration,
    cache: LookupCache<Query, Answer>,
}

/// Records of one type, and their shortest TTL; `None` when the name has none (NXDOMAIN or an
/// empty answer).
type Records = Option<(Vec<String>, u32)>;

impl Dns {
    async fn records(&self, name: Name, kind: RecordType) -> Result<Records, String> {
        let lookup =
            match tokio::time::timeout(self.timeout, self.resolver.lookup(name, kind)).await {
                Err(_) | Ok(Err(NetError::Timeout)) => {
                    return Err(format!("no answer within {} ms", self.timeout.as_millis()));
                }
                Ok(Err(e)) if e.is_no_records_found() => return Ok(None),
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(lookup)) => lookup,
            };
        let mut values = Vec::new();
        let mut ttl = u32::MAX;
        for r in lookup.answers() {
            let text = match &r.data {
                RData::A(a) if kind == RecordType::A => a.0.to_string(),
                RData::AAAA(a) if kind == RecordType::AAAA => a.0.to_string(),
                RData::PTR(p) if kind == RecordType::PTR => p.0.to_ascii(),
                _ => continue,
            };
            ttl = ttl.min(r.ttl);
            if !values.contains(&text) {
                values.push(text);
            }
        }
        Ok((!values.is_empty()).then_some((values, ttl)))
    }

    /// Asks the nameservers (no cache).
    async fn resolve(&self, q: &Query) -> Result<Option<Answer>, String> {
        let (a, aaaa, ptr) = match q {
            Query::Domain(d) => {
                let name = Name::from_utf8(format!("{d}.")).map_err(|e| e.to_string())?;
                let (a, aaaa) = tokio::join!(
                    self.records(name.clone(), RecordType::A),
                    self.records(name, RecordType::AAAA)
                );
                (a?, aaaa?, None)
            }
            Query::Ptr(ip) => (
                None,
                None,
                self.records(Name::from(*ip), RecordType::PTR).await?,
            ),
        };
        if a.is_none() && aaaa.is_none() && ptr.is_none() {
            return Ok(None);
        }
        let ttl = [&a, &aaaa, &ptr]
            .iter()
            .filter_map(|r| r.as_ref().map(|(_, t)| *t))
            .min()
            .unwrap_or(0);
        let keep = Duration::from_secs(u64::from(ttl)).min(self.max_ttl);
        let values = |r: Records| r.map(|(v, _)| v).unwrap_or_default();
        Ok(Some(Answer {
            a: values(a),
            aaaa: values(aaaa),
            ptr: values(ptr),
            expires: Instant::now() + keep,
        }))
    }

    async fn outcome(&self, q: Query) -> Outcome {
        let asked = AtomicBool::new(false);
        let cached = self
            .cache
            .get(q.clone(), async {
                asked.store(true, Ordering::Relaxed);
                self.resolve(&q).await
            })
            .await;
        // The cache keeps answers for `max_ttl`; a kept one whose records expired sooner is
        // asked again (and that answer not kept: the cached entry ages out at `max_ttl`).
        let result = match cached {
            Ok(Some(answer))
                if !asked.load(Ordering::Relaxed) && answer.expires <= Instant::now() =>
            {
                self.resolve(&q).await
            }
            other => other,
        };
        match result {
            Ok(Some(answer)) => Outcome::Found(answer),
            Ok(None) => Outcome::Missing,
            Err(reason) => Outcome::Failed(reason),
        }
    }

    async fn find(&self, alert: &Alert) -> Result<Found, LookupError> {
        let (mut queries, invalid, private) = queries(alert);
        let mut notes = Vec::new();
        if queries.len() > self.max_names {
            notes.push(format!(
                "{} more names not looked up (at most {} per alert).",
                queries.len() - self.max_names,
                self.max_names
            ));
            queries.truncate(self.max_names);
        }
        if private > 0 {
            notes.push(format!(
                "{private} private or reserved addresses not looked up."
            ));
        }
        for i in &invalid {
            notes.push(format!("Not a domain name or address: {i}"));
        }
        if queries.is_empty() {
            return Ok(Found::default());
        }
        let outcomes =
            futures::future::join_all(queries.iter().map(|q| self.outcome(q.clone()))).await;

        let failed = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Failed(r) => Some(r.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>();
        if failed.len() == outcomes.len() {
            return Err(LookupError(format!(
                "every lookup failed ({} names): {}",
                failed.len(),
                failed[0]
            )));
        }

        let mut rows = Vec::new();
        let mut domains = serde_json::Map::new();
        let mut ips = serde_json::Map::new();
        for (q, o) in queries.iter().zip(&outcomes) {
            let (key, kinds) = match q {
                Query::Domain(d) => (d.clone(), "A/AAAA"),
                Query::Ptr(ip) => (ip.to_string(), "PTR"),
            };
            let (status, reason) = match o {
                Outcome::Found(_) => ("found", None),
                Outcome::Missing => ("not_found", None),
                Outcome::Failed(r) => ("failed", Some(r.clone())),
            };
            let empty = Answer {
                a: Vec::new(),
                aaaa: Vec::new(),
                ptr: Vec::new(),
                expires: Instant::now(),
            };
            let answer = match o {
                Outcome::Found(a) => a,
                _ => &empty,
            };
            match o {
                Outcome::Found(a) => {
                    for (kind, values) in [("A", &a.a), ("AAAA", &a.aaaa), ("PTR", &a.ptr)] {
                        if !values.is_empty() {
                            rows.push(vec![key.clone(), kind.to_owned(), values.join(", ")]);
                        }
                    }
                }
                Outcome::Missing => rows.push(vec![
                    key.clone(),
                    kinds.to_owned(),
                    "no records (no such name, or none of this type)".to_owned(),
                ]),
                Outcome::Failed(r) => rows.push(vec![
                    key.clone(),
                    kinds.to_owned(),
                    format!("lookup failed: {r}"),
                ]),
            }
            match q {
                Query::Domain(_) => domains.insert(
                    key,
                    serde_json::json!({"status": status, "reason": reason,
                        "a": answer.a, "aaaa": answer.aaaa}),
                ),
                Query::Ptr(_) => ips.insert(
                    key,
                    serde_json::json!({"status": status, "reason": reason, "ptr": answer.ptr}),
                ),
            };
        }
        Ok(Found {
            table: Table {
                columns: ["Name", "Type", "Answer"].map(String::from).to_vec(),
                rows,
            },
            notes,
            data: serde_json::json!({
                "domains": domains,
                "ips": ips,
                "failed": failed.len(),
            }),
        })
    }
}

impl Provider for Dns {
    fn id(&self) -> &'static str {
        "dns"
    }

    fn title(&self) -> &'static str {
        "DNS"
    }

    fn lookup<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Found, LookupError>> {
        Box::pin(self.find(alert))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(domains: &[&str], ips: &[&str]) -> Alert {
        let event = serde_json::json!({"metadata": {"eventType": "EppDetectionSummaryEvent"},
            "event": {"Name": "x"}});
        let mut a =
            crate::alert::normalize::normalize(&event, &Default::default(), Default::default())
                .unwrap()
                .unwrap();
        a.domains = domains
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        a.ips = ips.iter().map(std::string::ToString::to_string).collect();
        a
    }

    #[test]
    fn domains_then_public_addresses_once_each() {
        let (q, invalid, private) = queries(&alert(
            &[
                "Evil.Example.",
                "evil.example",
                "bad name!",
                "198.51.100.1",
                "",
            ],
            &[
                "10.0.0.1",
                "203.0.113.66",
                "8.8.8.8",
                "::ffff:8.8.8.8",
                "fe80::1",
                "nope",
            ],
        ));
        assert_eq!(
            q,
            [
                Query::Domain("evil.example".into()),
                Query::Ptr("203.0.113.66".parse().unwrap()),
                Query::Ptr("8.8.8.8".parse().unwrap()),
            ]
        );
        assert_eq!(invalid, ["bad name!", "198.51.100.1", "", "nope"]);
        assert_eq!(private, 2);
    }

    #[test]
    fn off_by_default_and_every_config_error_listed() {
        let c: DnsConfig = toml::from_str("").unwrap();
        assert_eq!(c, DnsConfig::default());
        assert_eq!(c.mode, DnsMode::Off);
        assert!(build(&c).unwrap().is_none());
        let c: DnsConfig = toml::from_str(
            "mode = \"configured\"\nnameservers = [\"10.0.0.2:53\", \"10.0.0.3\", \"[::1]:5353\"]\ntimeout = \"500ms\"",
        )
        .unwrap();
        assert_eq!(c.timeout, Duration::from_millis(500));
        assert_eq!(
            nameserver("10.0.0.3").unwrap(),
            "10.0.0.3:53".parse().unwrap()
        );
        assert_eq!(
            nameserver("[::1]:5353").unwrap(),
            "[::1]:5353".parse().unwrap()
        );
        assert!(toml::from_str::<DnsConfig>("mode = \"on\"").is_err());
        assert!(toml::from_str::<DnsConfig>("nameserver = []").is_err());
        let bad = DnsConfig {
            mode: DnsMode::Configured,
            nameservers: vec!["dns.example:53".into()],
            timeout: Duration::ZERO,
            max_names: 0,
            ..DnsConfig::default()
        };
        let err = build(&bad).err().unwrap();
        for part in [
            "\"dns.example:53\" is not an address",
            "dns.timeout",
            "dns.max_names",
        ] {
            assert!(err.contains(part), "{err}");
        }
        let empty = DnsConfig {
            mode: DnsMode::Configured,
            ..DnsConfig::default()
        };
        assert!(build(&empty).err().unwrap().contains("needs at least one"));
        let system_with_servers = DnsConfig {
            mode: DnsMode::System,
            nameservers: vec!["10.0.0.2".into()],
            ..DnsConfig::default()
        };
        assert!(
            build(&system_with_servers)
                .err()
                .unwrap()
                .contains("only used with")
        );
        // Building sends nothing and needs no runtime (`falconry check-config` can call it).
        let ok = DnsConfig {
            mode: DnsMode::Configured,
            nameservers: vec!["127.0.0.1:53".into()],
            ..DnsConfig::default()
        };
        assert_eq!(build(&ok).unwrap().map(|p| p.id()), Some("dns"));
    }
}
