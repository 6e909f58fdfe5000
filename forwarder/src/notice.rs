//! What a queue message asks the forwarder to do, decoded from its body: an
//! FDR notice (CrowdStrike's own format), or a standard S3 event notification
//! (direct, wrapped in SNS, or from EventBridge) for customers whose FDR data
//! lands in a bucket of their own.
//!
//! Pure: no I/O, no clock. The S3 envelopes are opened by
//! `falconry_common::queue::s3_event`. Anything that is not one of these shapes is a
//! [`NoticeError`] the caller logs, counts and never crashes on.

use falconry_common::queue::s3_event::{self, Envelope, EnvelopeError};
use serde::Deserialize;

/// One object to copy and convert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub bucket: String,
    pub key: String,
    /// Size the notice announces, checked against the bytes read.
    pub size: Option<u64>,
    /// MD5 the notice announces (FDR notices only), checked against the bytes read.
    pub md5: Option<[u8; 16]>,
}

/// A unit of work: every file of one FDR batch, or the objects of one S3 event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub source: NoticeSource,
    pub files: Vec<FileRef>,
    /// When the batch was announced (epoch ms), used for lag and as the
    /// fallback partition time.
    pub time_ms: Option<i64>,
    pub cid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeSource {
    Fdr,
    S3Event,
}

impl NoticeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeSource::Fdr => "fdr",
            NoticeSource::S3Event => "s3_event",
        }
    }
}

/// The outcome of reading a message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Work(Notice),
    /// A message that carries no work and can be deleted (S3's `s3:TestEvent`,
    /// an S3 event of another kind such as a delete).
    Nothing(&'static str),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoticeError {
    #[error("message body is not JSON: {0}")]
    NotJson(String),
    #[error("message is not an FDR notice nor an S3 event notification (top-level keys: {0})")]
    UnknownShape(String),
    #[error("FDR notice is malformed: {0}")]
    BadFdr(String),
    #[error("S3 event notification is malformed: {0}")]
    BadS3Event(String),
    #[error("file {key:?}: checksum {checksum:?} is not 32 hex characters")]
    BadChecksum { key: String, checksum: String },
    #[error("file {key:?}: the key can never be copied: {why}")]
    BadKey { key: String, why: &'static str },
    #[error("bucket {0:?} is not one of forwarder.source_buckets")]
    BucketNotAllowed(String),
}

/// Why a source key can never be read or written, if so: such a notice is
/// rejected at once rather than retried forever. Output keys are the source
/// key under a prefix, so a key that is absolute, climbs (`..`), has empty or
/// `.` segments, or holds control characters is refused, as is one longer
/// than S3 allows.
fn bad_key(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("it is empty");
    }
    if key.len() > 1024 {
        return Some("it is longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return Some("it is absolute");
    }
    if key.chars().any(char::is_control) {
        return Some("it holds a control character (NUL, newline, ...)");
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Some("it has an empty, '.' or '..' segment");
    }
    None
}

/// The key as shown in an error: escaped, at most 200 characters.
fn shown(key: &str) -> String {
    key.chars().take(200).collect()
}

fn check_keys(files: &[FileRef]) -> Result<(), NoticeError> {
    for f in files {
        if let Some(why) = bad_key(&f.key) {
            return Err(NoticeError::BadKey {
                key: shown(&f.key),
                why,
            });
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct FdrNotice {
    cid: Option<String>,
    timestamp: Option<i64>,
    bucket: String,
    #[serde(default)]
    files: Vec<FdrFile>,
}

#[derive(Deserialize)]
struct FdrFile {
    path: String,
    size: Option<u64>,
    checksum: Option<String>,
}

/// Decodes a message body. S3 event envelopes (direct, SNS, EventBridge)
/// are opened by `falconry_common::queue::s3_event`; anything else must be an
/// FDR notice.
pub fn decode(body: &str) -> Result<Decoded, NoticeError> {
    let value = match s3_event::open(body) {
        Ok(Envelope::Objects { objects, time_ms }) => {
            let files: Vec<FileRef> = objects
                .into_iter()
                .map(|o| FileRef {
                    bucket: o.bucket,
                    key: o.key,
                    size: o.size,
                    md5: None,
                })
                .collect();
            check_keys(&files)?;
            return Ok(Decoded::Work(Notice {
                source: NoticeSource::S3Event,
                files,
                time_ms,
                cid: None,
            }));
        }
        Ok(Envelope::Nothing(why)) => return Ok(Decoded::Nothing(why)),
        Ok(Envelope::Other(value)) => value,
        Err(EnvelopeError::NotJson(e)) => return Err(NoticeError::NotJson(e)),
        Err(EnvelopeError::NotObject) => {
            return Err(NoticeError::UnknownShape("not an object".into()));
        }
        Err(EnvelopeError::BadS3Event(e)) => return Err(NoticeError::BadS3Event(e)),
    };
    if let serde_json::Value::Object(obj) = &value
        && obj.contains_key("bucket")
        && obj.contains_key("files")
    {
        return fdr(value);
    }
    let mut keys: Vec<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).take(8).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    Err(NoticeError::UnknownShape(keys.join(",")))
}

fn fdr(value: serde_json::Value) -> Result<Decoded, NoticeError> {
    let n: FdrNotice =
        serde_json::from_value(value).map_err(|e| NoticeError::BadFdr(e.to_string()))?;
    if n.bucket.is_empty() {
        return Err(NoticeError::BadFdr("empty bucket".into()));
    }
    let mut files = Vec::with_capacity(n.files.len());
    for f in n.files {
        if let Some(why) = bad_key(&f.path) {
            return Err(NoticeError::BadKey {
                key: shown(&f.path),
                why,
            });
        }
        let md5 = match f.checksum.as_deref() {
            None | Some("") => None,
            Some(c) => Some(parse_md5(c).ok_or_else(|| NoticeError::BadChecksum {
                key: f.path.clone(),
                checksum: c.chars().take(64).collect(),
            })?),
        };
        files.push(FileRef {
            bucket: n.bucket.clone(),
            key: f.path,
            size: f.size,
            md5,
        });
    }
    Ok(Decoded::Work(Notice {
        source: NoticeSource::Fdr,
        files,
        time_ms: n.timestamp,
        cid: n.cid,
    }))
}

fn parse_md5(s: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(s.trim(), &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FDR: &str = r#"{"cid":"0123456789abcdef0123456789abcdef","timestamp":1492726639137,"fileCount":2,"totalSize":300,
      "bucket":"cs-prod-cannon-0123456789abcdef","pathPrefix":"data/f0714ca5-3689-448d-b5cc-582a6f7a56b1",
      "files":[{"path":"data/f0714ca5-3689-448d-b5cc-582a6f7a56b1/part-00000.gz","size":200,"checksum":"69fe068dd7d115ebdc21ed4181b4cd79"},
               {"path":"data/f0714ca5-3689-448d-b5cc-582a6f7a56b1/_SUCCESS","size":0,"checksum":"d41d8cd98f00b204e9800998ecf8427e"}],
      "somethingNew":true}"#;

    #[test]
    fn keys_that_can_never_be_copied_reject_the_notice() {
        for bad in [
            "/etc/passwd",
            "data/../x.gz",
            "data/./x.gz",
            "data//x.gz",
            "a\\u0000b",
            "a\\nb",
            "",
        ] {
            let body = FDR.replace(
                "data/f0714ca5-3689-448d-b5cc-582a6f7a56b1/part-00000.gz",
                bad,
            );
            assert!(
                matches!(decode(&body), Err(NoticeError::BadKey { .. })),
                "{bad:?}: {:?}",
                decode(&body)
            );
        }
        let long = "k".repeat(1025);
        let body = FDR.replace(
            "data/f0714ca5-3689-448d-b5cc-582a6f7a56b1/part-00000.gz",
            &long,
        );
        assert!(matches!(decode(&body), Err(NoticeError::BadKey { .. })));
        let s3 = r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","eventTime":"2026-03-14T10:00:00.000Z","s3":{"bucket":{"name":"b"},"object":{"key":"a/%2E%2E/x.gz","size":1}}}]}"#;
        assert!(
            matches!(decode(s3), Err(NoticeError::BadKey { .. })),
            "{:?}",
            decode(s3)
        );
    }

    #[test]
    fn fdr_notice() {
        let Decoded::Work(n) = decode(FDR).unwrap() else {
            panic!()
        };
        assert_eq!(n.source, NoticeSource::Fdr);
        assert_eq!(n.time_ms, Some(1492726639137));
        assert_eq!(n.files.len(), 2);
        assert_eq!(n.files[0].bucket, "cs-prod-cannon-0123456789abcdef");
        assert_eq!(n.files[0].size, Some(200));
        assert_eq!(
            hex::encode(n.files[0].md5.unwrap()),
            "69fe068dd7d115ebdc21ed4181b4cd79"
        );
    }

    #[test]
    fn fdr_bad_checksum_is_an_error_not_a_panic() {
        let body = FDR.replace("69fe068dd7d115ebdc21ed4181b4cd79", "zz");
        assert!(matches!(
            decode(&body),
            Err(NoticeError::BadChecksum { .. })
        ));
        let body = FDR.replace(r#""size":200"#, r#""size":-1"#);
        assert!(matches!(decode(&body), Err(NoticeError::BadFdr(_))));
    }

    const S3: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
      "eventTime":"2026-03-14T09:20:00.000Z","eventName":"ObjectCreated:CompleteMultipartUpload",
      "s3":{"bucket":{"name":"my-fdr"},"object":{"key":"tenant%3D1/data/abc/part-00000+copy.gz","size":1234,"eTag":"x-2"}}}]}"#;

    #[test]
    fn s3_event_direct_sns_and_eventbridge() {
        let Decoded::Work(n) = decode(S3).unwrap() else {
            panic!()
        };
        assert_eq!(n.files[0].key, "tenant=1/data/abc/part-00000 copy.gz");
        assert_eq!(n.files[0].md5, None);
        assert_eq!(n.time_ms, Some(1773480000000));

        let sns =
            serde_json::json!({"Type":"Notification","MessageId":"x","Message":S3}).to_string();
        assert_eq!(decode(&sns).unwrap(), decode(S3).unwrap());

        let eb = r#"{"version":"0","detail-type":"Object Created","source":"aws.s3","time":"2026-03-14T09:20:00Z",
          "detail":{"bucket":{"name":"my-fdr"},"object":{"key":"data/abc/part-00000.gz","size":5}}}"#;
        let Decoded::Work(n) = decode(eb).unwrap() else {
            panic!()
        };
        assert_eq!(n.files[0].key, "data/abc/part-00000.gz");
        assert_eq!(n.files[0].size, Some(5));
    }

    #[test]
    fn nothing_to_do_and_garbage() {
        assert_eq!(
            decode(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#).unwrap(),
            Decoded::Nothing("s3:TestEvent")
        );
        let del = S3.replace(
            "ObjectCreated:CompleteMultipartUpload",
            "ObjectRemoved:Delete",
        );
        assert!(matches!(decode(&del).unwrap(), Decoded::Nothing(_)));
        assert!(matches!(decode("not json"), Err(NoticeError::NotJson(_))));
        assert!(matches!(decode("[1,2]"), Err(NoticeError::UnknownShape(_))));
        assert!(matches!(
            decode(r#"{"hello":1}"#),
            Err(NoticeError::UnknownShape(_))
        ));
        assert!(matches!(
            decode(r#"{"Records":[{"s3":1}]}"#),
            Err(NoticeError::BadS3Event(_))
        ));
        assert!(matches!(
            decode(
                r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]}"#
            ),
            Err(NoticeError::BadS3Event(_))
        ));
    }
}
