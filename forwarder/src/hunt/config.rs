//! `[hunt]`: the hunt daemon (`falconry hunt --config FILE` with no
//! `--ioc`). Pure: parsing and validation, every problem at once.

use super::scan::Window;
use falconry_common::Location;
use falconry_common::Secret;
use falconry_common::athena::AthenaConfig;
use falconry_common::config::{ConfigError, Problems};
use falconry_common::lake::state::HUNT_STATE;
use falconry_detect::ioc::IocSource;
use falconry_detect::ioc::taxii::{Taxii, TaxiiAuth};
use serde::Deserialize;
use std::time::Duration;

/// `[hunt]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HuntConfig {
    /// The lake hunted through (the forwarder's `dest`): `s3://bucket[/prefix]`
    /// or `file://root`. Default: `[forwarder] dest`.
    pub lake: Option<String>,
    /// Indicator sources watched, each `[FORMAT=]LOCATION` as in `[detect]
    /// indicators`, or `taxii:https://host/api-root/collections/<id>/`.
    /// A list, or one comma-separated string (`FALCONRY__HUNT__INDICATORS`).
    /// Default: `[detect] indicators`.
    #[serde(deserialize_with = "falconry_common::config::string_or_list")]
    pub indicators: Vec<String>,
    /// How far back a new or changed indicator is hunted. Default `90d`.
    #[serde(with = "humantime_serde")]
    pub lookback: Duration,
    /// How often the sources are listed for changes and the TAXII
    /// collections asked for what was added. Default `5m`.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Domain indicators also match their subdomains. Default false.
    pub subdomains: bool,
    /// Also read the host of each URL in `CommandLine` for domain
    /// indicators. Default: `[detect] command_line_urls`.
    pub command_line_urls: Option<bool>,
    /// Where, in the lake's store, the indicators pulled from TAXII
    /// collections are kept (one STIX bundle per pull; a source the
    /// forwarder's `[detect] indicators` can name too). Default `state/hunt/taxii`.
    pub taxii_prefix: String,
    /// Bearer token for the TAXII collections. Set it through
    /// `FALCONRY__HUNT__TAXII_TOKEN`. Default: none.
    pub taxii_token: Option<Secret>,
    /// Basic-auth user for the TAXII collections. Default: none.
    pub taxii_user: Option<String>,
    /// Basic-auth password (`FALCONRY__HUNT__TAXII_PASSWORD`). Default: none.
    pub taxii_password: Option<Secret>,
    /// Where matches and hunted indicators are recorded in the lake's store.
    /// Default `state/hunt`.
    pub state_prefix: String,
    /// `scan` (read the window's Parquet files), `athena` (Athena names the
    /// files that may hold a match; only those are read) or `auto` (Athena
    /// when the window's files pass `athena_above`). Default `scan`.
    pub engine: EngineName,
    /// `auto`: the bytes of Parquet in the window above which Athena is
    /// asked. Default 10737418240 (10 GiB).
    pub athena_above: u64,
    /// `[hunt.athena]`, used by the `athena` and `auto` engines. Its
    /// `timeout` defaults to `10m` here (a hunt over months takes minutes).
    #[serde(deserialize_with = "hunt_athena")]
    pub athena: AthenaConfig,
}

/// `[hunt] engine`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineName {
    #[default]
    Scan,
    Athena,
    Auto,
}

impl std::str::FromStr for EngineName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "scan" => Ok(EngineName::Scan),
            "athena" => Ok(EngineName::Athena),
            "auto" => Ok(EngineName::Auto),
            _ => Err(format!("{s:?}: expected scan, athena or auto")),
        }
    }
}

impl Default for HuntConfig {
    fn default() -> Self {
        HuntConfig {
            lake: None,
            indicators: Vec::new(),
            lookback: Duration::from_secs(90 * 86_400),
            interval: Duration::from_secs(300),
            subdomains: false,
            command_line_urls: None,
            taxii_prefix: "state/hunt/taxii".into(),
            taxii_token: None,
            taxii_user: None,
            taxii_password: None,
            state_prefix: HUNT_STATE.into(),
            engine: EngineName::Scan,
            athena_above: 10 << 30,
            athena: AthenaConfig {
                timeout: HUNT_ATHENA_TIMEOUT,
                ..AthenaConfig::default()
            },
        }
    }
}

/// `[hunt.athena] timeout` unless set.
const HUNT_ATHENA_TIMEOUT: Duration = Duration::from_secs(600);

fn hunt_athena<'de, D: serde::Deserializer<'de>>(d: D) -> Result<AthenaConfig, D::Error> {
    let mut table = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
    table
        .entry("timeout")
        .or_insert_with(|| serde_json::Value::String("10m".into()));
    AthenaConfig::deserialize(serde_json::Value::Object(table)).map_err(serde::de::Error::custom)
}

/// Validated `[hunt]`.
#[derive(Debug, Clone)]
pub struct HuntSettings {
    pub lake: Location,
    pub sources: Vec<IocSource>,
    pub feeds: Vec<Taxii>,
    pub lookback: Duration,
    pub interval: Duration,
    pub command_line_urls: bool,
    pub taxii_prefix: String,
    pub state_prefix: String,
    pub engine: EngineName,
    pub athena_above: u64,
    pub athena: AthenaConfig,
}

impl HuntSettings {
    /// The hunt-back window of an indicator learned at `now_ms`.
    pub fn window(&self, now_ms: i64) -> Window {
        let back = i64::try_from(self.lookback.as_millis()).unwrap_or(i64::MAX);
        Window {
            since_ms: Some(now_ms.saturating_sub(back)),
            until_ms: Some(now_ms),
        }
    }
}

fn plain_prefix(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.split('/').any(|s| s == ".." || s == ".")
        && !p.contains("//")
}

impl HuntConfig {
    /// Every problem at once. `lake`, `indicators` and `command_line_urls`
    /// fall back on the values given (`[forwarder] dest`, `[detect]`).
    pub fn validate(
        &self,
        default_lake: Option<&str>,
        default_indicators: &[String],
        default_command_line_urls: bool,
    ) -> Result<HuntSettings, ConfigError> {
        let mut p = Problems::new();
        let lake = match self.lake.as_deref().or(default_lake) {
            Some(l) => p.check("hunt.lake", Location::parse(l)),
            None => {
                p.add(
                    "hunt.lake",
                    "required (s3://bucket[/prefix] or file://root), or [forwarder] dest",
                );
                None
            }
        };
        let specs = if self.indicators.is_empty() {
            default_indicators
        } else {
            &self.indicators
        };
        if specs.is_empty() {
            p.add(
                "hunt.indicators",
                "no indicator source (here or in [detect] indicators): nothing to watch",
            );
        }
        let auth = match (&self.taxii_token, &self.taxii_user, &self.taxii_password) {
            (Some(t), None, None) => Some(TaxiiAuth::Bearer(t.clone())),
            (None, Some(u), Some(pw)) => Some(TaxiiAuth::Basic {
                user: u.clone(),
                password: pw.clone(),
            }),
            (None, None, None) => None,
            (Some(_), _, _) => {
                p.add(
                    "hunt.taxii_token",
                    "give a token or a user and password, not both",
                );
                None
            }
            _ => {
                p.add(
                    "hunt.taxii_user",
                    "taxii_user and taxii_password go together",
                );
                None
            }
        };
        let mut sources = Vec::new();
        let mut feeds = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            let field = format!("hunt.indicators[{i}]");
            if let Some(url) = s.trim().strip_prefix("taxii:") {
                if let Some(t) = p.check(&field, Taxii::new(url, auth.clone())) {
                    feeds.push(t);
                }
            } else if let Some(mut src) = p.check(&field, IocSource::parse(s)) {
                src.subdomains = self.subdomains;
                sources.push(src);
            }
        }
        if self.lookback < Duration::from_secs(3600)
            || self.lookback > Duration::from_secs(3660 * 86_400)
        {
            p.add("hunt.lookback", "between 1h and 10 years");
        }
        if self.interval < Duration::from_secs(1) || self.interval > Duration::from_secs(86_400) {
            p.add("hunt.interval", "between 1s and 24h");
        }
        for (field, v) in [
            ("hunt.taxii_prefix", &self.taxii_prefix),
            ("hunt.state_prefix", &self.state_prefix),
        ] {
            if !plain_prefix(v.trim_end_matches('/')) {
                p.add(field, "a plain key prefix such as state/hunt");
            }
        }
        if self.engine != EngineName::Scan {
            for problem in self.athena.problems("hunt.athena") {
                let (field, what) = problem.split_once(' ').unwrap_or((&problem, ""));
                p.add(field, what);
            }
        }
        p.into_result()?;
        let Some(lake) = lake else {
            return Err(ConfigError::Invalid(vec!["hunt.lake: missing".into()]));
        };
        if !feeds.is_empty() {
            // What the feeds brought is read back like any other source.
            let prefix = self.taxii_prefix.trim_end_matches('/');
            sources.push(IocSource {
                location: lake_location(&lake, prefix),
                format: Some(falconry_detect::ioc::formats::Format::Stix),
                subdomains: self.subdomains,
                text: format!("taxii ({prefix}/)"),
            });
        }
        Ok(HuntSettings {
            lake,
            sources,
            feeds,
            lookback: self.lookback,
            interval: self.interval,
            command_line_urls: self.command_line_urls.unwrap_or(default_command_line_urls),
            taxii_prefix: self.taxii_prefix.trim_end_matches('/').to_owned(),
            state_prefix: self.state_prefix.trim_end_matches('/').to_owned(),
            engine: self.engine,
            athena_above: self.athena_above,
            athena: self.athena.clone(),
        })
    }
}

/// `prefix` inside the lake's location.
pub fn lake_location(lake: &Location, prefix: &str) -> Location {
    match lake {
        Location::S3 { bucket, .. } => Location::S3 {
            bucket: bucket.clone(),
            prefix: format!("{}/", lake.key(prefix)),
        },
        Location::Local { root, .. } => Location::Local {
            root: root.join(lake.key(prefix)),
            prefix: String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> HuntConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_athena_timeout_is_ten_minutes_unless_set() {
        assert_eq!(HuntConfig::default().athena.timeout, HUNT_ATHENA_TIMEOUT);
        let partial = parse("[athena]\nworkgroup = \"hunts\"\n");
        assert_eq!(partial.athena.workgroup, "hunts");
        assert_eq!(partial.athena.timeout, HUNT_ATHENA_TIMEOUT);
        let set = parse("[athena]\ntimeout = \"90s\"\n");
        assert_eq!(set.athena.timeout, Duration::from_secs(90));
        assert!(toml::from_str::<HuntConfig>("[athena]\ntimeot = \"90s\"\n").is_err());
    }

    #[test]
    fn indicators_come_as_a_list_or_one_comma_separated_string() {
        let one = parse(
            "indicators = \"s3://intel/feeds/, taxii:https://t.example/api/collections/1/\"\n",
        );
        assert_eq!(
            one.indicators,
            [
                "s3://intel/feeds/",
                "taxii:https://t.example/api/collections/1/"
            ]
        );
        let s = one.validate(Some("s3://lake"), &[], false).unwrap();
        assert_eq!(s.feeds.len(), 1);
        // The feeds' bundles are read back as a STIX source in the lake.
        assert_eq!(s.sources.len(), 2);
        assert_eq!(
            s.sources[1].location,
            Location::S3 {
                bucket: "lake".into(),
                prefix: "state/hunt/taxii/".into()
            }
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let c = HuntConfig {
            lookback: Duration::from_secs(1),
            interval: Duration::ZERO,
            taxii_token: Some(Secret::new("t")),
            taxii_user: Some("u".into()),
            indicators: vec!["taxii:ftp://nowhere".into(), String::new()],
            state_prefix: "../x".into(),
            engine: EngineName::Athena,
            athena: AthenaConfig {
                database: "Bad-Name".into(),
                ..AthenaConfig::default()
            },
            ..HuntConfig::default()
        };
        let Err(ConfigError::Invalid(p)) = c.validate(None, &[], false) else {
            panic!("refused");
        };
        let text = p.join("\n");
        for field in [
            "hunt.lake",
            "hunt.taxii_token",
            "hunt.indicators[0]",
            "hunt.indicators[1]",
            "hunt.lookback",
            "hunt.interval",
            "hunt.state_prefix",
            "hunt.athena.database",
        ] {
            assert!(text.contains(field), "{field} missing from:\n{text}");
        }
        assert!(!text.contains("\"t\""), "no secret in messages: {text}");
    }
}
