//! One findings object (gzip NDJSON, as the forwarder writes them under
//! `findings/`) → its rule alerts, and the lines that could not be read.
//! Capped records (a rule past its per-file cap) are counted and logged,
//! not alerts: the capped rule's first findings already are.
//!
//! Pure over the bytes; bounded as a stream batch is.

use super::batch::{BadLine, BatchContents, BatchError, MAX_BATCH_BYTES};
use crate::alert::Origin;
use crate::alert::finding::from_finding;
use falconry_common::lake::findings::FindingLine;
use flate2::read::MultiGzDecoder;
use std::io::Read;

pub fn read_findings(key: &str, bytes: &[u8]) -> Result<BatchContents, BatchError> {
    let mut text = Vec::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        MultiGzDecoder::new(bytes)
            .take(MAX_BATCH_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| BatchError::Gzip {
                key: key.to_owned(),
                message: e.to_string(),
            })?;
    } else {
        text.extend_from_slice(&bytes[..bytes.len().min(MAX_BATCH_BYTES as usize + 1)]);
    }
    if text.len() as u64 > MAX_BATCH_BYTES {
        return Err(BatchError::TooLarge {
            key: key.to_owned(),
        });
    }
    let mut contents = BatchContents::default();
    for (i, raw) in text.split(|b| *b == b'\n').enumerate() {
        let line = i as u64 + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        contents.lines += 1;
        let bad = |reason: String| BadLine {
            line,
            reason,
            text: String::from_utf8_lossy(raw).into_owned(),
        };
        match serde_json::from_slice::<FindingLine>(raw) {
            Ok(FindingLine::Finding(f)) => {
                let origin = Origin {
                    object: key.to_owned(),
                    partition: None,
                    offset: None,
                    line,
                };
                let alert = from_finding(&f, origin);
                contents.alerts.push((alert, f.event.clone()));
            }
            Ok(FindingLine::Capped(c)) => tracing::warn!(
                rule = %c.rule.id,
                source = %c.source.key,
                omitted = c.omitted,
                "a rule fired more often in one file than findings keep; the rest are counted, not alerts"
            ),
            Err(e) => contents.bad.push(bad(format!("not a finding: {e}"))),
        }
    }
    Ok(contents)
}
