//! Where indicators come from: a file, a directory or an S3 object or
//! prefix, each document parsed by its format (named, or told by its name
//! and content: `.csv`, STIX and MISP JSON, `<name>.<type>.txt` lists).
//! Indicators without a date of their own were learned when their document
//! was last written.

use super::formats::{self, EntryProblem, Format, ListKind, Options, Parsed};
use super::indicator::{Indicator, Kind};
use falconry_common::{Location, Store, StoreError};
use futures::StreamExt;
use std::collections::BTreeMap;

/// A document larger than this is refused (a 64 MiB STIX bundle holds ~200k
/// indicators; parsing it takes ~10 times its size in memory).
pub const MAX_DOCUMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Documents read from one source at most.
pub const MAX_DOCUMENTS: usize = 10_000;
/// Indicators kept over all sources at most.
pub const MAX_INDICATORS: usize = 5_000_000;
const READS_IN_FLIGHT: usize = 8;

/// One source as the operator named it: `[FORMAT=]LOCATION`, where the
/// location is a path, `file://…` or `s3://bucket/key-or-prefix`, and the
/// format `csv`, `stix`, `misp` or `list:<type>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IocSource {
    pub location: Location,
    pub format: Option<Format>,
    pub subdomains: bool,
    /// As written (for messages).
    pub text: String,
}

impl IocSource {
    pub fn parse(text: &str) -> Result<IocSource, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty indicator source".into());
        }
        let (format, rest) = match t.split_once('=') {
            Some((f, rest)) if !f.contains('/') && !f.contains(':') || f.starts_with("list:") => {
                (Some(Format::parse(f)?), rest)
            }
            _ => (None, t),
        };
        let location = if rest.starts_with("s3://") || rest.starts_with("file://") {
            match Location::parse(rest)? {
                // `s3://bucket/prefix/` is a prefix: listed, never asked for as
                // one object (a role may read the prefix and not that key).
                Location::S3 { bucket, prefix } if rest.ends_with('/') && !prefix.is_empty() => {
                    Location::S3 {
                        bucket,
                        prefix: format!("{prefix}/"),
                    }
                }
                l => l,
            }
        } else {
            Location::Local {
                root: rest.into(),
                prefix: String::new(),
            }
        };
        Ok(IocSource {
            location,
            format,
            subdomains: false,
            text: t.to_owned(),
        })
    }
}

/// What a listing saw: every document's key, size and time, sorted.
pub type Fingerprint = Vec<(String, u64, Option<i64>)>;

/// Indicators from every source.
#[derive(Debug, Default)]
pub struct Loaded {
    pub indicators: Vec<Indicator>,
    pub problems: Vec<EntryProblem>,
    pub more_problems: u64,
    pub unsupported: BTreeMap<String, u64>,
    /// Revoked, deleted, not for detection, or expired.
    pub skipped: u64,
    /// Indicators past [`MAX_INDICATORS`], not loaded.
    pub over_limit: u64,
    /// Per source and type: indicators loaded.
    pub counts: BTreeMap<(String, Kind), u64>,
    pub fingerprint: Fingerprint,
}

impl Loaded {
    /// Adds one document's indicators (`learned`: the document's time, for
    /// entries without their own; expired ones are skipped).
    pub fn add(&mut self, p: Parsed, now_ms: i64, learned: Option<i64>, source: &str) {
        // `source`: the configured source (a closed set), for the counts.
        self.problems.extend(p.problems);
        self.more_problems += p.more_problems;
        for (k, n) in p.unsupported {
            *self.unsupported.entry(k).or_default() += n;
        }
        self.skipped += p.skipped;
        for mut i in p.indicators {
            if let Some(until) = i.valid_until_ms
                && until < now_ms
            {
                self.skipped += 1;
                continue;
            }
            if self.indicators.len() >= MAX_INDICATORS {
                self.over_limit += 1;
                continue;
            }
            if i.learned_ms.is_none() {
                i.learned_ms = learned.or(Some(now_ms));
            }
            *self.counts.entry((source.to_owned(), i.kind)).or_default() += 1;
            self.indicators.push(i);
        }
    }

    /// Every problem, as lines for an operator.
    pub fn report(&self) -> Vec<String> {
        let mut out: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        if self.more_problems > 0 {
            out.push(format!("... and {} more bad entries", self.more_problems));
        }
        for (reason, n) in &self.unsupported {
            out.push(format!("{n} entries not hunted: {reason}"));
        }
        if self.over_limit > 0 {
            out.push(format!(
                "{} indicators past the limit of {MAX_INDICATORS} not loaded",
                self.over_limit
            ));
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IocSourceError {
    #[error("indicators at {source_text}: {error}")]
    Store {
        source_text: String,
        #[source]
        error: StoreError,
    },
    #[error("indicators at {0}: nothing there")]
    Missing(String),
    #[error("indicators at {0}: more than {MAX_DOCUMENTS} documents")]
    TooMany(String),
}

/// Whether a key is worth reading as an indicator document.
fn is_document(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    !(name.is_empty()
        || name.starts_with('.')
        || name.ends_with(".md")
        || name.ends_with(".falconry-lock")
        || name.contains(".falconry-tmp"))
}

/// The source's store and the keys it reads: a single object if the
/// location names one, else everything under it.
async fn listing(source: &IocSource) -> Result<(Store, Fingerprint, String), IocSourceError> {
    let err = |error| IocSourceError::Store {
        source_text: source.text.clone(),
        error,
    };
    // A local file: its directory is the store, its name the key.
    if let Location::Local { root, .. } = &source.location
        && root.is_file()
    {
        let dir = root
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let store = Store::open(&Location::Local {
            root: dir,
            prefix: String::new(),
        })
        .await;
        let info = store.head(&name).await.map_err(err)?;
        let fp = info
            .map(|o| vec![(o.key, o.size, o.modified_ms)])
            .unwrap_or_default();
        return Ok((store, fp, String::new()));
    }
    let store = Store::open(&source.location).await;
    let prefix = source.location.prefix().to_owned();
    if let Location::S3 { .. } = &source.location
        && !prefix.is_empty()
        && !prefix.ends_with('/')
        && let Some(o) = store.head(&prefix).await.map_err(err)?
    {
        let parent = prefix.rsplit_once('/').map_or("", |(p, _)| p).to_owned();
        return Ok((store, vec![(o.key, o.size, o.modified_ms)], parent));
    }
    let listing_prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{}/", prefix.trim_end_matches('/'))
    };
    if let Location::Local { root, .. } = &source.location
        && !root.exists()
    {
        return Err(IocSourceError::Missing(source.text.clone()));
    }
    let mut listed = store.list(&listing_prefix).await.map_err(err)?;
    listed.retain(|o| is_document(&o.key));
    if listed.len() > MAX_DOCUMENTS {
        return Err(IocSourceError::TooMany(source.text.clone()));
    }
    let mut fp: Fingerprint = listed
        .into_iter()
        .map(|o| (o.key, o.size, o.modified_ms))
        .collect();
    fp.sort();
    Ok((store, fp, prefix))
}

/// Lists a source (cheap: what a watcher polls).
pub async fn fingerprint(source: &IocSource) -> Result<Fingerprint, IocSourceError> {
    Ok(listing(source).await?.1)
}

/// The format of one document: the source's, else its name's
/// (`*.csv`, `*.<type>.txt`), else its content's.
fn format_of(source: &IocSource, name: &str, text: &str) -> Option<Format> {
    if let Some(f) = source.format {
        return Some(f);
    }
    let base = name.rsplit('/').next().unwrap_or(name);
    let mut parts = base.rsplit('.');
    if let (Some("txt" | "list"), Some(kind)) = (parts.next(), parts.next())
        && let Some(k) = ListKind::parse(kind)
    {
        return Some(Format::List(k));
    }
    Format::guess(base, text)
}

/// Reads and parses every document of every source.
pub async fn load(sources: &[IocSource], now_ms: i64) -> Result<Loaded, IocSourceError> {
    let mut loaded = Loaded::default();
    for source in sources {
        let (store, fp, prefix) = listing(source).await?;
        if fp.is_empty() && matches!(source.location, Location::Local { .. }) {
            // A named file that is not there is a mistake worth stopping for.
            if let Location::Local { root, .. } = &source.location
                && !root.is_dir()
            {
                return Err(IocSourceError::Missing(source.text.clone()));
            }
        }
        let jobs: Vec<(String, u64, Option<i64>)> = fp.clone();
        let reads = futures::stream::iter(jobs.into_iter().map(|(key, size, modified)| {
            let store = store.clone();
            async move {
                let got = if size > MAX_DOCUMENT_BYTES {
                    None
                } else {
                    Some(store.get_bytes(&key).await)
                };
                (key, size, modified, got)
            }
        }))
        .buffered(READS_IN_FLIGHT);
        futures::pin_mut!(reads);
        while let Some((key, size, modified, got)) = reads.next().await {
            let name = key
                .strip_prefix(&prefix)
                .map_or(key.as_str(), |k| k.trim_start_matches('/'))
                .to_owned();
            let shown = if name.is_empty() {
                source.text.clone()
            } else {
                name.clone()
            };
            let problem = |message: String| EntryProblem {
                source: shown.clone(),
                at: "document".into(),
                message,
            };
            let bytes = match got {
                None => {
                    loaded.problems.push(problem(format!(
                        "{size} bytes, over the {MAX_DOCUMENT_BYTES} byte limit"
                    )));
                    continue;
                }
                Some(Ok(b)) => b,
                Some(Err(e)) if e.is_not_found() => continue,
                Some(Err(error)) => {
                    return Err(IocSourceError::Store {
                        source_text: source.text.clone(),
                        error,
                    });
                }
            };
            if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
                loaded
                    .problems
                    .push(problem(format!("over the {MAX_DOCUMENT_BYTES} byte limit")));
                continue;
            }
            let Ok(text) = std::str::from_utf8(&bytes) else {
                loaded.problems.push(problem("not UTF-8".into()));
                continue;
            };
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            let Some(format) = format_of(source, &name, text) else {
                loaded.problems.push(problem(
                    "cannot tell its format: name it *.csv or *.<type>.txt (sha256, domain, ip, ...), or give one (csv=…, list:sha256=…)".into(),
                ));
                continue;
            };
            let parsed = formats::parse(
                format,
                &shown,
                text,
                &Options {
                    subdomains: source.subdomains,
                },
            );
            loaded.add(parsed, now_ms, modified, &source.text);
        }
        loaded.fingerprint.extend(fp);
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_texts() {
        let s = IocSource::parse("list:sha256=feeds/hashes.txt").unwrap();
        assert_eq!(s.format, Some(Format::List(ListKind::Kind(Kind::Sha256))));
        let s = IocSource::parse("stix=s3://b/intel/x.json").unwrap();
        assert_eq!(s.format, Some(Format::Stix));
        assert!(matches!(s.location, Location::S3 { .. }));
        let s = IocSource::parse("s3://b/intel/").unwrap();
        assert_eq!(s.format, None);
        // A trailing slash names a prefix (listed, never asked for as one object).
        assert_eq!(
            s.location,
            Location::S3 {
                bucket: "b".into(),
                prefix: "intel/".into()
            }
        );
        let s = IocSource::parse("s3://b/intel").unwrap();
        assert_eq!(s.location.prefix(), "intel");
        let s = IocSource::parse("./iocs.csv").unwrap();
        assert_eq!(s.format, None);
        assert!(IocSource::parse("bogus=x").is_err());
        assert!(IocSource::parse("").is_err());
    }

    #[tokio::test]
    async fn a_directory_of_documents() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("iocs.csv"),
            "type,value\ndomain,bad.example\nmd5,zz\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("c2.ip.txt"), "192.0.2.1\n").unwrap();
        std::fs::write(dir.path().join("notes"), "what is this").unwrap();
        std::fs::write(dir.path().join("README.md"), "# feeds").unwrap();
        let src = IocSource::parse(dir.path().to_str().unwrap()).unwrap();
        let l = load(std::slice::from_ref(&src), 1_000).await.unwrap();
        let ids: Vec<String> = l.indicators.iter().map(Indicator::id).collect();
        assert_eq!(ids, vec!["ipv4:192.0.2.1", "domain:bad.example"]);
        assert!(l.indicators.iter().all(|i| i.learned_ms.is_some()));
        let msgs: Vec<String> = l.report();
        assert!(
            msgs.iter().any(|m| m.starts_with("iocs.csv: line 3")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("notes: document: cannot tell")),
            "{msgs:?}"
        );
        assert_eq!(l.fingerprint.len(), 3);
        // One file named directly.
        let one = IocSource::parse(dir.path().join("c2.ip.txt").to_str().unwrap()).unwrap();
        let l = load(&[one], 1_000).await.unwrap();
        assert_eq!(l.indicators.len(), 1);
        let missing = IocSource::parse(dir.path().join("nope.csv").to_str().unwrap()).unwrap();
        assert!(matches!(
            load(&[missing], 0).await,
            Err(IocSourceError::Missing(_))
        ));
    }
}
