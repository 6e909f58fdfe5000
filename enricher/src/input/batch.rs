//! One stream batch (gzip NDJSON, as the streamer writes it) → its alert
//! events, normalised, and the lines that could not be read, with their line
//! numbers for the quarantine. Lines of other event types are skipped
//! without building anything.
//!
//! Pure over the bytes; bounded: a batch that inflates past the cap is an
//! error, never an unbounded allocation.

use crate::alert::normalize::{self, Selection};
use crate::alert::{Alert, Origin};
use falconry_common::lake::BatchKey;
use flate2::read::MultiGzDecoder;
use std::io::Read;

/// Most bytes a batch may inflate to (the streamer cuts at 8 MiB by default).
pub const MAX_BATCH_BYTES: u64 = 512 * 1024 * 1024;

/// A line kept aside, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based.
    pub line: u64,
    pub reason: String,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct BatchContents {
    /// Each alert with its raw event line.
    pub alerts: Vec<(Alert, String)>,
    pub bad: Vec<BadLine>,
    pub lines: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("batch {key}: gzip: {message}")]
    Gzip { key: String, message: String },
    #[error("batch {key}: inflates past {MAX_BATCH_BYTES} bytes")]
    TooLarge { key: String },
}

pub fn read_batch(
    key: &str,
    bytes: &[u8],
    selection: &Selection,
) -> Result<BatchContents, BatchError> {
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        MultiGzDecoder::new(bytes)
            .take(MAX_BATCH_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| BatchError::Gzip {
                key: key.to_owned(),
                message: e.to_string(),
            })?;
        if out.len() as u64 > MAX_BATCH_BYTES {
            return Err(BatchError::TooLarge {
                key: key.to_owned(),
            });
        }
        out
    } else {
        bytes.to_vec()
    };
    let partition = BatchKey::parse(key).map(|k| k.partition);
    let mut contents = BatchContents::default();
    for (i, raw) in text.split(|b| *b == b'\n').enumerate() {
        let line_no = i as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        contents.lines += 1;
        let bad = |reason: String| BadLine {
            line: line_no,
            reason,
            text: String::from_utf8_lossy(raw).into_owned(),
        };
        let line = match std::str::from_utf8(raw) {
            Ok(l) => l,
            Err(e) => {
                contents.bad.push(bad(format!("not UTF-8: {e}")));
                continue;
            }
        };
        // Cheap pre-check: only lines that name an alert type are parsed.
        if !mentions_alert_type(line, selection) {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                contents.bad.push(bad(format!("not JSON: {e}")));
                continue;
            }
        };
        let origin = Origin {
            object: key.to_owned(),
            partition,
            offset: None,
            line: line_no,
        };
        match normalize::normalize(&value, selection, origin) {
            Ok(Some(alert)) => contents.alerts.push((alert, line.to_owned())),
            Ok(None) => {}
            Err(e) => contents.bad.push(bad(e.to_string())),
        }
    }
    Ok(contents)
}

fn mentions_alert_type(line: &str, selection: &Selection) -> bool {
    falconry_common::event_types::ALERT_TYPES
        .iter()
        .any(|t| line.contains(t))
        || selection.extra.iter().any(|t| line.contains(t.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use falconry_fixtures::{StreamOptions, stream_events, stream_ndjson};
    use std::io::Write;

    fn gz(parts: &[&[u8]]) -> Vec<u8> {
        // Multi-member, as concatenated gzip files are.
        let mut out = Vec::new();
        for p in parts {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(p).unwrap();
            out.extend(e.finish().unwrap());
        }
        out
    }

    #[test]
    fn keeps_alerts_skips_others_quarantines_bad_lines() {
        let lines = stream_events(&StreamOptions::default());
        let text = stream_ndjson(&lines);
        let (a, b) = text.split_at(text.len() / 2);
        let cut = a.rfind('\n').unwrap() + 1;
        let (a, b) = (&text[..cut], format!("{}{}", &a[cut..], b));
        let mut bytes = gz(&[a.as_bytes(), b.as_bytes()]);
        let key = "p/stream/partition=0/dt=2026-03-14/00000000000008690000-00000000000008690999.ndjson.gz";
        let c = read_batch(key, &bytes, &Selection::default()).unwrap();
        let expected = lines
            .iter()
            .filter(|l| Selection::default().kind(&l.event_type).is_some())
            .count();
        assert_eq!(c.alerts.len(), expected);
        assert_eq!(c.lines as usize, lines.len());
        assert!(c.bad.is_empty());
        assert_eq!(c.alerts[0].0.origin.partition, Some(0));

        // Broken lines are kept aside with their numbers; the rest still reads.
        let broken = format!(
            "{}\n{{\"metadata\":{{\"eventType\":\"EppDetectionSummaryEvent\"}},\"event\":7}}\n{{\"eventType\":\"IncidentSummaryEvent\" oops\n\n",
            lines[0].line
        );
        let c = read_batch("k", broken.as_bytes(), &Selection::default()).unwrap();
        assert_eq!(c.bad.len(), 2);
        assert_eq!((c.bad[0].line, c.bad[1].line), (2, 3));
        assert!(
            c.bad[1].reason.starts_with("not JSON"),
            "{}",
            c.bad[1].reason
        );

        bytes.truncate(bytes.len() - 10);
        assert!(matches!(
            read_batch(key, &bytes, &Selection::default()),
            Err(BatchError::Gzip { .. })
        ));
    }
}
