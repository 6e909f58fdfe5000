//! S3 event notifications as they reach a queue: directly from S3
//! (`Records`), wrapped in SNS (`Type: Notification`, the JSON as a string in
//! `Message`), or from EventBridge (`detail-type: Object Created`). Also
//! S3's `s3:TestEvent` and non-create events, which carry no work.
//!
//! Pure: no I/O. A body that is none of these is handed back as
//! [`Envelope::Other`] so the caller can try its own formats (the forwarder's
//! FDR notices).

use serde::Deserialize;

/// One object an event announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    /// The key as stored (URL-decoded).
    pub key: String,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// Created objects, and the earliest event time (epoch ms).
    Objects {
        objects: Vec<ObjectRef>,
        time_ms: Option<i64>,
    },
    /// A message without work, safe to delete, and why.
    Nothing(&'static str),
    /// Some other JSON object (after peeling SNS).
    Other(serde_json::Value),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("message body is not JSON: {0}")]
    NotJson(String),
    #[error("message body is not a JSON object")]
    NotObject,
    #[error("S3 event notification is malformed: {0}")]
    BadS3Event(String),
}

/// Opens a message body.
pub fn open(body: &str) -> Result<Envelope, EnvelopeError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    open_value(value, 0)
}

fn open_value(value: serde_json::Value, depth: u8) -> Result<Envelope, EnvelopeError> {
    let serde_json::Value::Object(obj) = &value else {
        return Err(EnvelopeError::NotObject);
    };
    if depth < 2
        && obj.get("Type").and_then(|t| t.as_str()) == Some("Notification")
        && let Some(inner) = obj.get("Message").and_then(|m| m.as_str())
    {
        let inner: serde_json::Value = serde_json::from_str(inner)
            .map_err(|e| EnvelopeError::NotJson(format!("SNS Message: {e}")))?;
        return open_value(inner, depth + 1);
    }
    if obj.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Envelope::Nothing("s3:TestEvent"));
    }
    if obj.contains_key("Records") {
        return records(&value);
    }
    if obj.contains_key("detail-type")
        && obj.get("source").and_then(|s| s.as_str()) == Some("aws.s3")
    {
        return eventbridge(&value);
    }
    Ok(Envelope::Other(value))
}

#[derive(Deserialize)]
struct S3Event {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventSource")]
    event_source: Option<String>,
    #[serde(rename = "eventName")]
    event_name: Option<String>,
    #[serde(rename = "eventTime")]
    event_time: Option<String>,
    s3: Option<S3Entity>,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: NameOnly,
    object: S3Object,
}

#[derive(Deserialize)]
struct NameOnly {
    name: String,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
    size: Option<u64>,
}

fn records(value: &serde_json::Value) -> Result<Envelope, EnvelopeError> {
    let ev: S3Event = serde_json::from_value(value.clone())
        .map_err(|e| EnvelopeError::BadS3Event(e.to_string()))?;
    let mut objects = Vec::new();
    let mut time_ms = None;
    for r in ev.records {
        if r.event_source.as_deref().is_some_and(|s| s != "aws:s3") {
            continue;
        }
        if !r
            .event_name
            .as_deref()
            .unwrap_or("ObjectCreated:")
            .starts_with("ObjectCreated:")
        {
            continue;
        }
        let Some(s3) = r.s3 else {
            return Err(EnvelopeError::BadS3Event("record without s3".into()));
        };
        // Keys in S3 event notifications are URL-encoded, spaces as '+'.
        let key = url_decode(&s3.object.key).ok_or_else(|| {
            EnvelopeError::BadS3Event(format!("key {:?} is not valid URL encoding", s3.object.key))
        })?;
        if let Some(t) = r.event_time.as_deref().and_then(parse_rfc3339_ms) {
            time_ms = Some(time_ms.map_or(t, |m: i64| m.min(t)));
        }
        objects.push(ObjectRef {
            bucket: s3.bucket.name,
            key,
            size: s3.object.size,
        });
    }
    if objects.is_empty() {
        return Ok(Envelope::Nothing("S3 event without created objects"));
    }
    Ok(Envelope::Objects { objects, time_ms })
}

#[derive(Deserialize)]
struct EbEvent {
    #[serde(rename = "detail-type")]
    detail_type: String,
    time: Option<String>,
    detail: EbDetail,
}

#[derive(Deserialize)]
struct EbDetail {
    bucket: NameOnly,
    object: S3Object,
}

fn eventbridge(value: &serde_json::Value) -> Result<Envelope, EnvelopeError> {
    let ev: EbEvent = serde_json::from_value(value.clone())
        .map_err(|e| EnvelopeError::BadS3Event(e.to_string()))?;
    if ev.detail_type != "Object Created" {
        return Ok(Envelope::Nothing(
            "EventBridge S3 event other than Object Created",
        ));
    }
    Ok(Envelope::Objects {
        // EventBridge carries the key as stored, not URL-encoded.
        objects: vec![ObjectRef {
            bucket: ev.detail.bucket.name,
            key: ev.detail.object.key,
            size: ev.detail.object.size,
        }],
        time_ms: ev.time.as_deref().and_then(parse_rfc3339_ms),
    })
}

fn url_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(v);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S3: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
      "eventTime":"2026-03-14T09:20:00.000Z","eventName":"ObjectCreated:CompleteMultipartUpload",
      "s3":{"bucket":{"name":"my-fdr"},"object":{"key":"tenant%3D1/data/abc/part-00000+copy.gz","size":1234,"eTag":"x-2"}}}]}"#;

    #[test]
    fn direct_sns_and_eventbridge() {
        let Envelope::Objects { objects, time_ms } = open(S3).unwrap() else {
            panic!()
        };
        assert_eq!(objects[0].key, "tenant=1/data/abc/part-00000 copy.gz");
        assert_eq!(time_ms, Some(1773480000000));

        let sns =
            serde_json::json!({"Type":"Notification","MessageId":"x","Message":S3}).to_string();
        assert_eq!(open(&sns).unwrap(), open(S3).unwrap());

        let eb = r#"{"version":"0","detail-type":"Object Created","source":"aws.s3","time":"2026-03-14T09:20:00Z",
          "detail":{"bucket":{"name":"my-fdr"},"object":{"key":"data/abc/part-00000.gz","size":5}}}"#;
        let Envelope::Objects { objects, .. } = open(eb).unwrap() else {
            panic!()
        };
        assert_eq!(objects[0].key, "data/abc/part-00000.gz");
        assert_eq!(objects[0].size, Some(5));
    }

    #[test]
    fn nothing_other_and_garbage() {
        assert_eq!(
            open(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#).unwrap(),
            Envelope::Nothing("s3:TestEvent")
        );
        let del = S3.replace(
            "ObjectCreated:CompleteMultipartUpload",
            "ObjectRemoved:Delete",
        );
        assert!(matches!(open(&del).unwrap(), Envelope::Nothing(_)));
        assert!(matches!(
            open(r#"{"hello":1}"#).unwrap(),
            Envelope::Other(_)
        ));
        assert!(matches!(open("not json"), Err(EnvelopeError::NotJson(_))));
        assert_eq!(open("[1,2]"), Err(EnvelopeError::NotObject));
        assert!(matches!(
            open(r#"{"Records":[{"s3":1}]}"#),
            Err(EnvelopeError::BadS3Event(_))
        ));
        assert!(matches!(
            open(
                r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]}"#
            ),
            Err(EnvelopeError::BadS3Event(_))
        ));
    }
}
