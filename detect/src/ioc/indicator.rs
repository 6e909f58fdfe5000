//! One indicator of compromise, its type, and the one normal form each type
//! is compared in: hashes in lower-case hex, domains in lower-case ASCII
//! (IDNA) without a trailing dot, addresses as parsed addresses, URLs as the
//! WHATWG parser writes them, file names in lower case. Defanged forms
//! (`example[.]com`, `hxxp://`, `1.2.3[.]4`) are read as what they stand for.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What an indicator names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Sha256,
    Sha1,
    Md5,
    Domain,
    Ipv4,
    Ipv6,
    Cidr,
    Url,
    FileName,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Sha256,
        Kind::Sha1,
        Kind::Md5,
        Kind::Domain,
        Kind::Ipv4,
        Kind::Ipv6,
        Kind::Cidr,
        Kind::Url,
        Kind::FileName,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sha256 => "sha256",
            Kind::Sha1 => "sha1",
            Kind::Md5 => "md5",
            Kind::Domain => "domain",
            Kind::Ipv4 => "ipv4",
            Kind::Ipv6 => "ipv6",
            Kind::Cidr => "cidr",
            Kind::Url => "url",
            Kind::FileName => "file-name",
        }
    }

    /// A type as sources write it (`SHA-256`, `sha256`, `ip`, `hostname`,
    /// `filename` ...). `ip` is `None`: the value decides (see [`parse_any_ip`]).
    pub fn parse(text: &str) -> Option<Kind> {
        let t: String = text
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect();
        Some(match t.as_str() {
            "sha256" => Kind::Sha256,
            "sha1" => Kind::Sha1,
            "md5" => Kind::Md5,
            "domain" | "domainname" | "hostname" | "fqdn" => Kind::Domain,
            "ipv4" | "ipv4addr" | "ip4" => Kind::Ipv4,
            "ipv6" | "ipv6addr" | "ip6" => Kind::Ipv6,
            "cidr" | "netblock" | "subnet" => Kind::Cidr,
            "url" | "uri" => Kind::Url,
            "filename" | "file" | "name" => Kind::FileName,
            _ => return None,
        })
    }

    /// Whether the type is a hash.
    pub fn is_hash(self) -> bool {
        matches!(self, Kind::Sha256 | Kind::Sha1 | Kind::Md5)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One indicator, normalised, with what its source said of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Indicator {
    pub kind: Kind,
    /// The normal form (see the module's doc).
    pub value: String,
    /// A domain also matches its subdomains (`*.example.com`, or the source's
    /// `subdomains` setting).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subdomains: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where it came from: the source's name (a file, an S3 key, a TAXII
    /// collection) and, when the entry names one, its own source or feed.
    pub source: String,
    /// When it was learned (epoch ms): the entry's own date (STIX `created`,
    /// MISP `timestamp`), else when falconry first read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until_ms: Option<i64>,
    /// Labels or tags the source gave it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// The entry's own id (STIX id, MISP attribute uuid), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl Indicator {
    pub fn new(kind: Kind, value: String, source: &str) -> Indicator {
        Indicator {
            kind,
            value,
            subdomains: false,
            description: None,
            source: source.to_owned(),
            learned_ms: None,
            valid_from_ms: None,
            valid_until_ms: None,
            labels: Vec::new(),
            reference: None,
        }
    }

    /// `type:value`, the indicator's identity (with `*.` for a domain that
    /// covers its subdomains): what dedup records and issues are keyed by.
    pub fn id(&self) -> String {
        if self.subdomains {
            format!("{}:*.{}", self.kind, self.value)
        } else {
            format!("{}:{}", self.kind, self.value)
        }
    }

    /// Whether the indicator is in force at `now_ms`: not expired, and
    /// already valid. (A hunt matches events from before `valid_from`: that
    /// is what a retro-hunt is for.)
    pub fn in_force(&self, now_ms: i64) -> bool {
        self.valid_until_ms.is_none_or(|u| now_ms <= u)
            && self.valid_from_ms.is_none_or(|f| f <= now_ms)
    }
}

impl Indicator {
    /// The indicator as the rule of its findings: id `ioc:<type>:<value>`,
    /// level `high` (a feed's indicator is a claim of compromise), its
    /// labels as tags.
    pub fn finding_rule(&self) -> falconry_common::lake::findings::FindingRule {
        let shown = if self.subdomains {
            format!("*.{}", self.value)
        } else {
            self.value.clone()
        };
        let mut tags = vec!["ioc".to_owned(), format!("ioc.{}", self.kind)];
        tags.extend(self.labels.iter().cloned());
        falconry_common::lake::findings::FindingRule {
            id: format!("ioc:{}", self.id()),
            title: format!("Indicator of compromise: {} {shown}", self.kind),
            level: "high".into(),
            status: None,
            tags,
            falsepositives: Vec::new(),
            description: self.description.clone(),
            file: self.source.clone(),
        }
    }

    /// What a finding says of the indicator.
    pub fn finding_indicator(
        &self,
        found_by: &str,
    ) -> falconry_common::lake::findings::FindingIndicator {
        falconry_common::lake::findings::FindingIndicator {
            kind: self.kind.to_string(),
            value: if self.subdomains {
                format!("*.{}", self.value)
            } else {
                self.value.clone()
            },
            source: self.source.clone(),
            description: self.description.clone(),
            learned: self.learned_ms,
            labels: self.labels.clone(),
            reference: self.reference.clone(),
            found_by: found_by.to_owned(),
        }
    }
}

/// Undoes the usual defanging: `[.]`, `(.)`, `{.}`, `[dot]`, `[:]`, `[://]`,
/// `hxxp`, `fxp`, `[@]`.
pub fn refang(text: &str) -> String {
    let mut s = text.trim().to_owned();
    for (from, to) in [
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("(dot)", "."),
        ("[DOT]", "."),
        ("[:]", ":"),
        ("[://]", "://"),
        ("[/]", "/"),
        ("[@]", "@"),
        ("[at]", "@"),
    ] {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    let lower = s.get(..6).map(str::to_ascii_lowercase).unwrap_or_default();
    for (from, to) in [("hxxps", "https"), ("hxxp", "http"), ("fxp", "ftp")] {
        if lower.starts_with(from) {
            s = format!("{to}{}", &s[from.len()..]);
            break;
        }
    }
    s
}

/// Why a value is not an indicator of its type.
pub type Invalid = String;

/// Normalises `text` as an indicator of `kind` (refanged first).
pub fn normalise(kind: Kind, text: &str) -> Result<(String, bool), Invalid> {
    let text = refang(text);
    if text.is_empty() {
        return Err("empty value".into());
    }
    let value = match kind {
        Kind::Sha256 => hash(&text, 64)?,
        Kind::Sha1 => hash(&text, 40)?,
        Kind::Md5 => hash(&text, 32)?,
        Kind::Domain => {
            let (wild, rest) = match text.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, text.as_str()),
            };
            return Ok((domain(rest)?, wild));
        }
        Kind::Ipv4 => text
            .parse::<Ipv4Addr>()
            .map_err(|_| format!("{text:?} is not an IPv4 address"))?
            .to_string(),
        Kind::Ipv6 => text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<Ipv6Addr>()
            .map_err(|_| format!("{text:?} is not an IPv6 address"))?
            .to_string(),
        Kind::Cidr => cidr(&text)?.to_string(),
        Kind::Url => url(&text)?,
        Kind::FileName => file_name(&text)?,
    };
    Ok((value, false))
}

fn hash(text: &str, len: usize) -> Result<String, Invalid> {
    let t = text.trim();
    if t.len() != len || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{t:?} is not {len} hex digits"));
    }
    if t.bytes().all(|b| b == b'0') {
        return Err("a hash of all zeros (FDR's \"no hash\")".into());
    }
    Ok(t.to_ascii_lowercase())
}

/// The hash type a value's length says.
pub fn hash_kind(text: &str) -> Option<Kind> {
    let t = text.trim();
    if !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match t.len() {
        64 => Some(Kind::Sha256),
        40 => Some(Kind::Sha1),
        32 => Some(Kind::Md5),
        _ => None,
    }
}

/// A domain in its ASCII lower-case form, without a trailing dot.
pub fn domain(text: &str) -> Result<String, Invalid> {
    let t = text.trim().trim_end_matches('.');
    if t.is_empty() {
        return Err("empty domain".into());
    }
    if t.contains(['/', ':', '@', ' ', '*']) {
        return Err(format!("{t:?} is not a domain name"));
    }
    let ascii = if t.is_ascii() {
        t.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(t)
            .map_err(|_| format!("{t:?} is not a valid international domain"))?
    };
    if ascii.split('.').any(|l| l.is_empty() || l.len() > 63) || ascii.len() > 253 {
        return Err(format!("{t:?} is not a domain name"));
    }
    Ok(ascii)
}

/// A domain as an event names it, in the indicators' form (`None` when it
/// is not a domain at all).
pub fn event_domain(text: &str) -> Option<std::borrow::Cow<'_, str>> {
    let t = text.trim().trim_end_matches('.');
    if t.is_empty() {
        return None;
    }
    if t.is_ascii() {
        if t.bytes().any(|b| b.is_ascii_uppercase()) {
            Some(std::borrow::Cow::Owned(t.to_ascii_lowercase()))
        } else {
            Some(std::borrow::Cow::Borrowed(t))
        }
    } else {
        idna::domain_to_ascii(t).ok().map(std::borrow::Cow::Owned)
    }
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// The network's key at its own prefix length (host bits cleared).
    pub fn network(&self) -> u128 {
        mask(self.addr, self.prefix)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.addr.is_ipv4() == ip.is_ipv4() && mask(ip, self.prefix) == self.network()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.network();
        match self.addr {
            IpAddr::V4(_) => write!(
                f,
                "{}/{}",
                Ipv4Addr::from(u32::try_from(bits).unwrap_or(0)),
                self.prefix
            ),
            IpAddr::V6(_) => write!(f, "{}/{}", Ipv6Addr::from(bits), self.prefix),
        }
    }
}

/// `ip`'s bits with all but the first `prefix` cleared (v4 in the low 32 bits).
pub fn mask(ip: IpAddr, prefix: u8) -> u128 {
    match ip {
        IpAddr::V4(a) => {
            let v = u32::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            u128::from(v & m)
        }
        IpAddr::V6(a) => {
            let v = u128::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            v & m
        }
    }
}

/// `a.b.c.d/n` or `v6/n`; host bits may be set (they are cleared).
pub fn cidr(text: &str) -> Result<Cidr, Invalid> {
    let (addr, prefix) = text
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not a network (address/prefix)"))?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{text:?} is not a network: {addr:?} is not an address"))?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| format!("{text:?} is not a network: bad prefix"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(format!("{text:?}: prefix over /{max}"));
    }
    Ok(Cidr { addr, prefix })
}

/// `text` as an address, network or neither: what a source's plain `ip`
/// type turns into.
pub fn parse_any_ip(text: &str) -> Result<(Kind, String), Invalid> {
    let t = refang(text);
    if t.contains('/') {
        let c = cidr(&t)?;
        let full = if c.addr.is_ipv4() { 32 } else { 128 };
        if c.prefix == full {
            return Ok(ip_kind(c.addr));
        }
        return Ok((Kind::Cidr, c.to_string()));
    }
    let ip: IpAddr = t
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| format!("{t:?} is not an IP address"))?;
    Ok(ip_kind(ip))
}

fn ip_kind(ip: IpAddr) -> (Kind, String) {
    match ip {
        IpAddr::V4(a) => (Kind::Ipv4, a.to_string()),
        IpAddr::V6(a) => (Kind::Ipv6, a.to_string()),
    }
}

/// A URL as the WHATWG parser writes it (scheme and host in lower case, the
/// host in IDNA form, default ports dropped, an empty path as `/`).
pub fn url(text: &str) -> Result<String, Invalid> {
    let u = url::Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    let mut s = u.to_string();
    // A fragment never reaches a server: it does not tell two URLs apart.
    if let Some(i) = s.find('#') {
        s.truncate(i);
    }
    Ok(s)
}

/// A file name: its base (after the last `\` or `/`), in lower case.
pub fn file_name(text: &str) -> Result<String, Invalid> {
    let base = base_name(text.trim());
    if base.is_empty() {
        return Err(format!("{text:?} has no file name"));
    }
    Ok(base.to_lowercase())
}

/// The part after the last `\` or `/`.
pub fn base_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(kind: Kind, t: &str) -> String {
        normalise(kind, t).unwrap().0
    }

    #[test]
    fn normal_forms() {
        assert_eq!(
            n(Kind::Sha256, &"AB".repeat(32)),
            "ab".repeat(32),
            "hashes in lower case"
        );
        assert!(normalise(Kind::Md5, "abc").is_err());
        assert!(normalise(Kind::Md5, &"0".repeat(32)).is_err());
        assert!(normalise(Kind::Sha1, &"g".repeat(40)).is_err());
        assert_eq!(n(Kind::Domain, "Evil.Example.COM."), "evil.example.com");
        assert_eq!(n(Kind::Domain, "evil[.]example(.)com"), "evil.example.com");
        assert_eq!(n(Kind::Domain, "bücher.example"), "xn--bcher-kva.example");
        assert_eq!(
            normalise(Kind::Domain, "*.example.com").unwrap(),
            ("example.com".into(), true)
        );
        assert!(normalise(Kind::Domain, "a..b").is_err());
        assert!(normalise(Kind::Domain, "http://a.b/").is_err());
        assert_eq!(n(Kind::Ipv4, "10.0.0[.]1"), "10.0.0.1");
        assert!(normalise(Kind::Ipv4, "10.0.0.256").is_err());
        assert!(
            normalise(Kind::Ipv4, "010.0.0.1").is_err(),
            "no octal forms"
        );
        assert_eq!(n(Kind::Ipv6, "2001:DB8:0:0::1"), "2001:db8::1");
        assert_eq!(n(Kind::Cidr, "10.1.2.3/8"), "10.0.0.0/8");
        assert_eq!(n(Kind::Cidr, "2001:db8::1/32"), "2001:db8::/32");
        assert!(normalise(Kind::Cidr, "10.0.0.0/33").is_err());
        assert_eq!(
            n(Kind::Url, "hxxps://Evil[.]Example.com:443/a?b=1#frag"),
            "https://evil.example.com/a?b=1"
        );
        assert_eq!(n(Kind::Url, "HTTP://x.test"), "http://x.test/");
        assert_eq!(n(Kind::FileName, "C:\\Temp\\EVIL.exe"), "evil.exe");
        assert_eq!(n(Kind::FileName, "/tmp/x.sh"), "x.sh");
        assert_eq!(
            parse_any_ip("192.0.2.7/32").unwrap(),
            (Kind::Ipv4, "192.0.2.7".into())
        );
        assert_eq!(
            parse_any_ip("192.0.2.0/24").unwrap(),
            (Kind::Cidr, "192.0.2.0/24".into())
        );
        assert_eq!(
            parse_any_ip("[2001:db8::2]").unwrap(),
            (Kind::Ipv6, "2001:db8::2".into())
        );
        assert_eq!(Kind::parse("SHA-256"), Some(Kind::Sha256));
        assert_eq!(Kind::parse("hostname"), Some(Kind::Domain));
        assert_eq!(hash_kind(&"a".repeat(40)), Some(Kind::Sha1));
    }

    #[test]
    fn networks() {
        let c = cidr("192.0.2.0/24").unwrap();
        assert!(c.contains("192.0.2.200".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert!(!c.contains("::ffff:192.0.2.1".parse().unwrap()));
        let all = cidr("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn validity() {
        let mut i = Indicator::new(Kind::Md5, "a".into(), "t");
        assert!(i.in_force(5));
        i.valid_until_ms = Some(4);
        assert!(!i.in_force(5));
        i.valid_until_ms = None;
        i.valid_from_ms = Some(6);
        assert!(!i.in_force(5));
    }
}
