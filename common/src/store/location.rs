//! Parsing of store locations: `s3://bucket/prefix` or `file:///path` (a
//! relative `file://path` is relative to the working directory).

use std::fmt;
use std::path::PathBuf;

/// A bucket or directory, plus a key prefix inside it (no leading or trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    S3 { bucket: String, prefix: String },
    Local { root: PathBuf, prefix: String },
}

impl Location {
    pub fn parse(s: &str) -> Result<Location, String> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("{s:?}: no bucket name after s3://"));
            }
            if !bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            {
                return Err(format!("{s:?}: {bucket:?} is not a valid bucket name"));
            }
            Ok(Location::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            })
        } else if let Some(rest) = s.strip_prefix("file://") {
            if rest.is_empty() {
                return Err(format!("{s:?}: no path after file://"));
            }
            Ok(Location::Local {
                root: PathBuf::from(rest),
                prefix: String::new(),
            })
        } else {
            Err(format!(
                "{s:?}: expected s3://bucket[/prefix] or file://path"
            ))
        }
    }

    pub fn prefix(&self) -> &str {
        match self {
            Location::S3 { prefix, .. } | Location::Local { prefix, .. } => prefix,
        }
    }

    /// `prefix/rest`, or `rest` when there is no prefix.
    pub fn key(&self, rest: &str) -> String {
        join(self.prefix(), rest)
    }
}

/// Joins key segments with `/`, skipping empty ones.
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{}/{}", a.trim_end_matches('/'), b.trim_start_matches('/')),
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Location::Local { root, .. } => write!(f, "file://{}", root.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_and_file() {
        assert_eq!(
            Location::parse("s3://my-bucket/falconry/").unwrap(),
            Location::S3 {
                bucket: "my-bucket".into(),
                prefix: "falconry".into()
            }
        );
        assert_eq!(
            Location::parse("s3://b").unwrap(),
            Location::S3 {
                bucket: "b".into(),
                prefix: "".into()
            }
        );
        assert_eq!(
            Location::parse("file:///tmp/x").unwrap(),
            Location::Local {
                root: "/tmp/x".into(),
                prefix: "".into()
            }
        );
        assert!(Location::parse("s3://").is_err());
        assert!(Location::parse("s3://Bad_Bucket/x").is_err());
        assert!(Location::parse("/tmp/x").is_err());
        assert_eq!(Location::parse("s3://b/p").unwrap().key("raw/a"), "p/raw/a");
        assert_eq!(Location::parse("s3://b").unwrap().key("raw/a"), "raw/a");
    }
}
