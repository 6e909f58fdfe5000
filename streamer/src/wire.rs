//! The Event Streams wire format, line by line: compact JSON objects
//! `{"metadata":{...,"offset":N,"eventType":"...","eventCreationTime":ms},"event":{...}}`
//! separated by `\r\n`, with blank keep-alive lines when idle. Only `metadata`
//! is read (to route and to count); the raw line is what gets stored. A line
//! that is not such an object (a proxy's HTML error page, a line cut at a
//! disconnect) is junk: never an event.
//!
//! Pure.

use serde::Deserialize;
use serde_json::value::RawValue;

/// What one line of the stream is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Event(Meta),
    KeepAlive,
    Junk(String),
}

/// The routing part of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub offset: u64,
    pub event_type: String,
    /// eventCreationTime, epoch ms (0 when absent).
    pub creation_ms: i64,
    pub customer_id: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    metadata: Metadata,
    #[serde(borrow)]
    event: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    #[serde(rename = "customerIDString")]
    customer_id: Option<String>,
    offset: u64,
    event_type: String,
    event_creation_time: Option<i64>,
}

/// Classifies one line (without its line terminator).
pub fn parse(line: &[u8]) -> Line {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Line::KeepAlive;
    }
    match serde_json::from_slice::<Envelope<'_>>(trimmed) {
        Ok(env) if env.event.get().starts_with('{') => Line::Event(Meta {
            offset: env.metadata.offset,
            event_type: env.metadata.event_type,
            creation_ms: env.metadata.event_creation_time.unwrap_or(0),
            customer_id: env.metadata.customer_id,
        }),
        Ok(_) => Line::Junk("event is not an object".into()),
        Err(e) => Line::Junk(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keepalives_and_junk() {
        let ev = br#"{"metadata":{"customerIDString":"abc","offset":8695284,"eventType":"EppDetectionSummaryEvent","eventCreationTime":1773480000123,"version":"1.0"},"event":{"Severity":50}}"#;
        assert_eq!(
            parse(ev),
            Line::Event(Meta {
                offset: 8695284,
                event_type: "EppDetectionSummaryEvent".into(),
                creation_ms: 1773480000123,
                customer_id: Some("abc".into())
            })
        );
        assert_eq!(parse(b""), Line::KeepAlive);
        assert_eq!(parse(b"\r"), Line::KeepAlive);
        for junk in [
            &b"<html><body>502 Bad Gateway</body></html>"[..],
            &ev[..ev.len() - 20],
            br#"{"metadata":{"offset":"x","eventType":"E"},"event":{}}"#,
            br#"{"metadata":{"offset":1,"eventType":"E"}}"#,
            br#"{"metadata":{"offset":1,"eventType":"E"},"event":[1]}"#,
            br#"{"metadata":{"offset":-1,"eventType":"E"},"event":{}}"#,
        ] {
            assert!(
                matches!(parse(junk), Line::Junk(_)),
                "{}",
                String::from_utf8_lossy(junk)
            );
        }
    }
}
