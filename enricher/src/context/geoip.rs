//! The GeoIP/ASN provider: where the addresses an alert names are (country, city) and whose
//! network they are in (ASN, organisation), from MaxMind DB files (GeoLite2/GeoIP2 City and ASN,
//! or any database of the same shape) read into memory with the `maxminddb` crate. A database
//! whose file changes (modification time or size) is read again at most every `reload_check`,
//! on the lookup that notices it; the new version replaces the old one atomically, and a file
//! that fails to read keeps the last good version in use.
//!
//! Private, loopback, link-local, CGNAT, multicast and otherwise reserved addresses are
//! labelled without a lookup ([`reserved_range`]). The documentation ranges (RFC 5737
//! `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, and `2001:db8::/32`) are looked up
//! like public addresses and labelled `documentation` only when the database does not know
//! them: real databases never do, while the project's fixture databases use them as stand-ins
//! for public networks (the planted C2 `203.0.113.66`), so no switch is needed.
//!
//! This file must not make network calls and must not hold a database lock across an await.

use super::{Found, LookupError, Provider};
use crate::alert::{Alert, Table};
use futures::future::BoxFuture;
use maxminddb::{Reader, geoip2};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Addresses looked up per alert; further ones are counted in a note.
const MAX_IPS: usize = 50;

/// `[enricher.context.geoip]`: where the MaxMind DB files are. Off (no section) when neither
/// database is set.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct GeoIpConfig {
    /// City database (`GeoLite2-City.mmdb`, `GeoIP2-City.mmdb`): country and city columns.
    /// Read whole into memory (about 60 MB for GeoLite2-City). Default: unset.
    pub city: Option<PathBuf>,
    /// ASN database (`GeoLite2-ASN.mmdb`): ASN and organisation columns. Default: unset.
    pub asn: Option<PathBuf>,
    /// How often at most a lookup checks whether a database file changed (modification time
    /// and size) and reads it again. Default `5m`; `0s` checks on every alert.
    #[serde(with = "humantime_serde")]
    pub reload_check: Duration,
}

impl Default for GeoIpConfig {
    fn default() -> Self {
        GeoIpConfig {
            city: None,
            asn: None,
            reload_check: Duration::from_secs(300),
        }
    }
}

/// The provider for `config`, or `None` when no database is configured. Reads the databases
/// now: a missing or unreadable file is a configuration error.
pub fn build(config: &GeoIpConfig) -> Result<Option<Arc<dyn Provider>>, String> {
    if config.city.is_none() && config.asn.is_none() {
        return Ok(None);
    }
    let open = |path: &Option<PathBuf>, which: Which| -> Result<Option<Database>, String> {
        path.as_ref()
            .map(|p| Database::open(p, which, config.reload_check))
            .transpose()
    };
    Ok(Some(Arc::new(GeoIp {
        city: open(&config.city, Which::City)?,
        asn: open(&config.asn, Which::Asn)?,
    })))
}

/// What kind of address `ip` is when it is not an ordinary public one: `private`, `loopback`,
/// `link-local`, `cgnat`, `documentation`, `multicast`, `unspecified` or `reserved`. IPv4
/// addresses mapped into IPv6 (`::ffff:a.b.c.d`) are classified as the IPv4 address.
pub fn reserved_range(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => reserved_v4(v4),
        IpAddr::V6(v6) => reserved_v6(v6),
    }
}

fn reserved_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, 0, 0) if ip.is_unspecified() => "unspecified",
        (0, _, _) => "reserved",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private",
        (100, 64..=127, _) => "cgnat",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 0, 0) | (198, 18..=19, _) => "reserved",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn reserved_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "private"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link-local"
    } else if s[0] & 0xff00 == 0xff00 {
        "multicast"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
        "reserved"
    } else {
        return None;
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    City,
    Asn,
}

impl Which {
    fn as_str(self) -> &'static str {
        match self {
            Which::City => "city",
            Which::Asn => "asn",
        }
    }
}

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

struct Loaded {
    reader: Reader<Vec<u8>>,
    stamp: Stamp,
}

/// One database file, reloaded when it changes.
struct Database {
    path: PathBuf,
    which: Which,
    every: Duration,
    current: RwLock<Arc<Loaded>>,
    /// When the file is next checked; held by the one task checking it.
    next_check: tokio::sync::Mutex<Instant>,
}

fn stamp_of(meta: &std::fs::Metadata) -> Stamp {
    Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    }
}

/// Reads and checks one database file (blocking).
fn load(path: &Path, which: Which) -> Result<Loaded, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let reader = Reader::from_source(bytes).map_err(|e| format!("{shown}: {e}"))?;
    let kind = &reader.metadata.database_type;
    let fits = match which {
        Which::City => !kind.contains("ASN"),
        Which::Asn => kind.contains("ASN") || kind.contains("ISP"),
    };
    if !fits {
        return Err(format!(
            "{shown}: a {kind} database is not a {} database",
            which.as_str()
        ));
    }
    Ok(Loaded {
        reader,
        stamp: stamp_of(&meta),
    })
}

impl Database {
    fn open(path: &Path, which: Which, every: Duration) -> Result<Database, String> {
        let loaded = load(path, which).map_err(|e| format!("geoip.{}: {e}", which.as_str()))?;
        Ok(Database {
            path: path.to_owned(),
            which,
            every,
            current: RwLock::new(Arc::new(loaded)),
            next_check: tokio::sync::Mutex::new(Instant::now() + every),
        })
    }

    fn current(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The database to use now, after reading the file again if it is due for a check and
    /// changed. Only one task checks at a time; the others use the current version meanwhile.
    async fn fresh(&self) -> Arc<Loaded> {
        let Ok(mut next) = self.next_check.try_lock() else {
            return self.current();
        };
        let now = Instant::now();
        if now < *next {
            return self.current();
        }
        *next = now + self.every;
        let current = self.current();
        let stamp = match tokio::fs::metadata(&self.path).await {
            Ok(meta) => stamp_of(&meta),
            Err(e) => {
                tracing::warn!(database = self.which.as_str(), path = %self.path.display(), error = %e,
                    "GeoIP database cannot be checked; the loaded version stays in use");
                return current;
            }
        };
        if stamp == current.stamp {
            return current;
        }
        let (path, which) = (self.path.clone(), self.which);
        let loaded = tokio::task::spawn_blocking(move || load(&path, which))
            .await
            .unwrap_or_else(|e| Err(format!("reload task failed: {e}")));
        match loaded {
            Ok(loaded) => {
                tracing::info!(database = self.which.as_str(), path = %self.path.display(),
                    build_epoch = loaded.reader.metadata.build_epoch, "GeoIP database reloaded");
                let loaded = Arc::new(loaded);
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = loaded.clone();
                loaded
            }
            Err(e) => {
                tracing::warn!(database = self.which.as_str(), error = %e,
                    "GeoIP database changed but cannot be read; the last good version stays in use");
                current
            }
        }
    }
}

struct GeoIp {
    city: Option<Database>,
    asn: Option<Database>,
}

/// What the databases say about one address.
#[derive(Debug, Default, Clone, PartialEq)]
struct Place {
    country_iso: Option<String>,
    country: Option<String>,
    city: Option<String>,
    asn: Option<u32>,
    org: Option<String>,
}

impl Place {
    fn is_empty(&self) -> bool {
        *self == Place::default()
    }
}

fn city_of(reader: &Reader<Vec<u8>>, ip: IpAddr, place: &mut Place) -> Result<(), String> {
    let found = reader.lookup(ip).map_err(|e| e.to_string())?;
    if let Some(c) = found.decode::<geoip2::City>().map_err(|e| e.to_string())? {
        place.country_iso = c.country.iso_code.map(str::to_owned);
        place.country = c.country.names.english.map(str::to_owned);
        place.city = c.city.names.english.map(str::to_owned);
    }
    Ok(())
}

fn asn_of(reader: &Reader<Vec<u8>>, ip: IpAddr, place: &mut Place) -> Result<(), String> {
    let found = reader.lookup(ip).map_err(|e| e.to_string())?;
    if let Some(a) = found.decode::<geoip2::Asn>().map_err(|e| e.to_string())? {
        place.asn = a.autonomous_system_number;
        place.org = a.autonomous_system_organization.map(str::to_owned);
    }
    Ok(())
}

/// The addresses an alert names, in order, once each: the host's external address, then the
/// alert's IPs and connection peers. Unparseable ones come back separately.
fn addresses(alert: &Alert) -> (Vec<IpAddr>, Vec<String>) {
    let mut ips = Vec::new();
    let mut bad = Vec::new();
    let named = alert
        .host
        .external_ip
        .iter()
        .chain(&alert.ips)
        .chain(alert.connections.iter().map(|c| &c.remote_ip));
    for text in named {
        match text.trim().parse::<IpAddr>() {
            Ok(ip) => {
                let ip = ip.to_canonical();
                if !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
            Err(_) => {
                if !bad.contains(text) {
                    bad.push(text.clone());
                }
            }
        }
    }
    (ips, bad)
}

fn cell(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

impl GeoIp {
    async fn find(&self, alert: &Alert) -> Result<Found, LookupError> {
        let (mut ips, bad) = addresses(alert);
        if ips.is_empty() {
            return Ok(Found::default());
        }
        let mut notes = Vec::new();
        if ips.len() > MAX_IPS {
            notes.push(format!(
                "{} more addresses not looked up (at most {MAX_IPS} per alert).",
                ips.len() - MAX_IPS
            ));
            ips.truncate(MAX_IPS);
        }
        for b in &bad {
            notes.push(format!("Not an IP address: {b}"));
        }
        let city = match &self.city {
            Some(db) => Some(db.fresh().await),
            None => None,
        };
        let asn = match &self.asn {
            Some(db) => Some(db.fresh().await),
            None => None,
        };

        let mut rows = Vec::new();
        let mut data = serde_json::Map::new();
        let (mut known, mut errors) = (0usize, Vec::new());
        for ip in &ips {
            let label = reserved_range(*ip);
            let mut place = Place::default();
            if label.is_none() || label == Some("documentation") {
                for (db, which) in [(&city, Which::City), (&asn, Which::Asn)] {
                    let Some(db) = db else { continue };
                    let looked = match which {
                        Which::City => city_of(&db.reader, *ip, &mut place),
                        Which::Asn => asn_of(&db.reader, *ip, &mut place),
                    };
                    if let Err(e) = looked {
                        errors.push(format!("{ip}: {} database: {e}", which.as_str()));
                    }
                }
            }
            // A documentation address the database knows is shown as the database says.
            let reserved = label.filter(|_| place.is_empty());
            if reserved.is_some() || !place.is_empty() {
                known += 1;
            }
            let country = match (&place.country, &place.country_iso, reserved) {
                (_, _, Some(r)) => format!("{r} address"),
                (Some(name), Some(iso), _) => format!("{name} ({iso})"),
                (name, iso, _) => cell(name) + &cell(iso),
            };
            let country = if country.is_empty() && place.is_empty() {
                "not in the database".to_owned()
            } else {
                country
            };
            rows.push(vec![
                ip.to_string(),
                country,
                cell(&place.city),
                place.asn.map(|n| format!("AS{n}")).unwrap_or_default(),
                cell(&place.org),
            ]);
            data.insert(
                ip.to_string(),
                serde_json::json!({
                    "country_iso": place.country_iso,
                    "country": place.country,
                    "city": place.city,
                    "asn": place.asn,
                    "org": place.org,
                    "reserved": reserved,
                }),
            );
        }
        if !errors.is_empty() && known == 0 {
            return Err(LookupError(errors.join("; ")));
        }
        if known == 0 {
            return Ok(Found::default());
        }
        notes.extend(errors);
        Ok(Found {
            table: Table {
                columns: ["IP", "Country", "City", "ASN", "Organisation"]
                    .map(String::from)
                    .to_vec(),
                rows,
            },
            notes,
            data: serde_json::Value::Object(data),
        })
    }
}

impl Provider for GeoIp {
    fn id(&self) -> &'static str {
        "geoip"
    }

    fn title(&self) -> &'static str {
        "GeoIP / ASN"
    }

    fn lookup<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Found, LookupError>> {
        Box::pin(self.find(alert))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ranges_are_labelled() {
        let label = |s: &str| reserved_range(s.parse().unwrap());
        for (ip, want) in [
            ("10.20.30.42", Some("private")),
            ("172.31.0.1", Some("private")),
            ("172.32.0.1", None),
            ("192.168.1.1", Some("private")),
            ("100.64.0.1", Some("cgnat")),
            ("100.128.0.1", None),
            ("127.0.0.1", Some("loopback")),
            ("169.254.169.254", Some("link-local")),
            ("192.0.2.10", Some("documentation")),
            ("198.51.100.23", Some("documentation")),
            ("203.0.113.66", Some("documentation")),
            ("198.18.0.1", Some("reserved")),
            ("224.0.0.251", Some("multicast")),
            ("255.255.255.255", Some("reserved")),
            ("0.0.0.0", Some("unspecified")),
            ("8.8.8.8", None),
            ("::1", Some("loopback")),
            ("::", Some("unspecified")),
            ("fd12:3456::1", Some("private")),
            ("fe80::1", Some("link-local")),
            ("ff02::1", Some("multicast")),
            ("2001:db8::1", Some("documentation")),
            ("::ffff:10.0.0.1", Some("private")),
            ("::ffff:8.8.8.8", None),
            ("2606:4700::1111", None),
        ] {
            assert_eq!(label(ip), want, "{ip}");
        }
    }

    #[test]
    fn config_defaults_and_strictness() {
        let c: GeoIpConfig = toml::from_str("").unwrap();
        assert_eq!(c, GeoIpConfig::default());
        assert_eq!(c.reload_check, Duration::from_secs(300));
        assert!(build(&c).unwrap().is_none(), "no database: off");
        let c: GeoIpConfig =
            toml::from_str("city = \"/x/City.mmdb\"\nreload_check = \"30s\"").unwrap();
        assert_eq!(c.reload_check, Duration::from_secs(30));
        assert!(toml::from_str::<GeoIpConfig>("citty = \"/x\"").is_err());
        let err = build(&c).err().unwrap();
        assert!(err.starts_with("geoip.city: /x/City.mmdb: "), "{err}");
    }
}
