//! A queue message → the stream batch objects it announces. The streamer's
//! bucket sends S3 event notifications (directly, through SNS, or through
//! EventBridge) to the enricher's queue, and the forwarder's bucket those of
//! its findings; only batch objects (`…/stream/partition=…/….ndjson.gz`) and
//! findings objects (`…/dt=…/….findings.ndjson.gz`) are work, anything else
//! is acknowledged.
//!
//! Pure.

use falconry_common::lake::BatchKey;
use falconry_common::lake::findings::is_findings_key;
use falconry_common::queue::s3_event::{self, Envelope, EnvelopeError, ObjectRef};

#[derive(Debug, PartialEq)]
pub enum Notice {
    Batches(Vec<ObjectRef>),
    /// Nothing to do; the message can be deleted. Why.
    Nothing(String),
}

pub fn decode(body: &str) -> Result<Notice, EnvelopeError> {
    match s3_event::open(body)? {
        Envelope::Objects { objects, .. } => {
            let (batches, others): (Vec<_>, Vec<_>) = objects
                .into_iter()
                .partition(|o| is_batch(&o.key) || is_findings_key(&o.key));
            if batches.is_empty() {
                Ok(Notice::Nothing(format!(
                    "{} object(s), none a stream batch or findings",
                    others.len()
                )))
            } else {
                Ok(Notice::Batches(batches))
            }
        }
        Envelope::Nothing(why) => Ok(Notice::Nothing(why.to_owned())),
        Envelope::Other(_) => Ok(Notice::Nothing("not an S3 event notification".to_owned())),
    }
}

/// A stream batch, as the lake's stream layout names them.
fn is_batch(key: &str) -> bool {
    BatchKey::parse(key).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_only() {
        let body = r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"p/stream/partition%3D0/dt%3D2026-03-14/00000000000000000001-00000000000000000009.ndjson.gz","size":9}}},
            {"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"p/state/stream/partition%3D0.json"}}}]}"#;
        let Notice::Batches(b) = decode(body).unwrap() else {
            panic!()
        };
        assert_eq!(b.len(), 1);
        assert_eq!(
            b[0].key,
            "p/stream/partition=0/dt=2026-03-14/00000000000000000001-00000000000000000009.ndjson.gz"
        );
        // The forwarder's findings are work too.
        let findings = body.replace(
            "p/stream/partition%3D0/dt%3D2026-03-14/00000000000000000001-00000000000000000009.ndjson.gz",
            "lake/findings/dt%3D2026-03-14/data_x_part-00000.gz.findings.ndjson.gz",
        );
        let Notice::Batches(f) = decode(&findings).unwrap() else {
            panic!()
        };
        assert_eq!(
            f[0].key,
            "lake/findings/dt=2026-03-14/data_x_part-00000.gz.findings.ndjson.gz"
        );
        let state_only = body.replace("p/stream/partition%3D0/dt", "p/other/dt");
        assert!(matches!(decode(&state_only).unwrap(), Notice::Nothing(_)));
        assert!(matches!(decode(r#"{"x":1}"#).unwrap(), Notice::Nothing(_)));
        assert!(decode("nope").is_err());
    }
}
