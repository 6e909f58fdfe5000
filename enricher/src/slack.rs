//! Slack notices through an incoming webhook: a Block Kit message (severity,
//! title, host, user, the reasons, a button to the GitHub issue) and its
//! delivery, retried a few times on 429 (`Retry-After`) and 5xx.
//!
//! Text from events is attacker-controlled: it is escaped as Slack documents
//! (`&`, `<`, `>`), so it can form no link and no `<!channel>`/`<@U…>`
//! mention, bare `@channel`/`@here` are broken with a zero-width space, and
//! every piece is capped at Block Kit's limits. The webhook URL is a secret:
//! it never appears in an error or a log line. Slack is best effort: the
//! caller logs a failure and never holds an issue back for it.

use falconry_common::{Secret, http};
use reqwest::header::CONTENT_TYPE;
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use std::time::Duration;

/// Default per request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// A `Retry-After` longer than this is not waited out: the notice fails.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// After a notice failed for want of Slack (retries spent), the next ones
/// fail at once for this long instead of each spending its retries: a batch
/// of Slack-only alerts is then retried later, not stalled.
const DOWN_HOLD: Duration = Duration::from_secs(60);

// Block Kit limits.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const FIELD_MAX: usize = 2000;
const URL_MAX: usize = 3000;
const FALLBACK_MAX: usize = 3000;
const TITLE_MAX: usize = 500;
const NAME_MAX: usize = 200;
const REASON_MAX: usize = 500;
const REASONS_SHOWN: usize = 20;

#[derive(Debug, Clone)]
pub struct SlackSettings {
    /// `https://hooks.slack.com/services/T…/B…/…`; a secret.
    pub webhook_url: Secret,
    /// Per request. Default 10 s.
    pub timeout: Duration,
}

/// What a notice says. Everything but `channel` and `issue_url` comes from
/// the event and is treated as hostile text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlackNotice {
    /// `critical`, `high`, `medium`, `low`, `informational` (others show as unknown).
    pub severity: String,
    pub title: String,
    pub host: String,
    pub user: String,
    /// The GitHub issue, when there is one.
    pub issue_url: Option<String>,
    /// Channel override (legacy webhooks honour it; app webhooks ignore it).
    pub channel: Option<String>,
    /// Why the policy notified.
    pub reasons: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// The settings cannot work. The URL is never quoted.
    #[error("Slack settings: {0}")]
    Settings(String),
    /// Slack refused the notice (4xx other than 429), e.g. `no_service` or `invalid_payload`.
    #[error("Slack webhook refused the notice ({status}: {reason})")]
    Rejected { status: u16, reason: String },
    /// Still 429 or 5xx after the retries, or a `Retry-After` too long to wait.
    #[error("Slack webhook unavailable after {tries} tries (last answer {status}: {reason})")]
    Unavailable {
        tries: u32,
        status: u16,
        reason: String,
    },
    /// A notice failed for want of Slack moments ago: not tried again yet.
    #[error("Slack webhook down (a notice failed moments ago); trying again in {retry_in_secs} s")]
    Down { retry_in_secs: u64 },
    /// No answer after the retries (connection refused, timeout).
    #[error("Slack webhook unreachable after {tries} tries: {}", describe(source))]
    Transport {
        tries: u32,
        #[source]
        source: reqwest::Error,
    },
}

impl SlackError {
    /// Whether a later try might succeed (a closed label set for metrics uses [`SlackError::kind`]).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SlackError::Unavailable { .. } | SlackError::Transport { .. } | SlackError::Down { .. }
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SlackError::Settings(_) => "settings",
            SlackError::Rejected { .. } => "rejected",
            SlackError::Unavailable { .. } => "unavailable",
            SlackError::Transport { .. } => "transport",
            SlackError::Down { .. } => "down",
        }
    }
}

/// The error (its URL removed) and its innermost cause ("connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut innermost: Option<&dyn std::error::Error> = None;
    let mut next = std::error::Error::source(e);
    while let Some(s) = next {
        innermost = Some(s);
        next = s.source();
    }
    match innermost {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// A Slack incoming webhook.
#[derive(Clone)]
pub struct Slack {
    http: reqwest::Client,
    url: Secret,
    timeout: Duration,
    /// While Slack counts as down.
    down: std::sync::Arc<falconry_common::http::Hold>,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack").finish_non_exhaustive()
    }
}

impl Slack {
    /// Checks the webhook URL (https; plain http only for a loopback test
    /// server) without quoting it in the error.
    pub fn new(settings: SlackSettings, http: reqwest::Client) -> Result<Slack, SlackError> {
        let url = Url::parse(settings.webhook_url.expose().trim())
            .map_err(|_| SlackError::Settings("webhook_url is not a URL".into()))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(SlackError::Settings(
                    "webhook_url must be an https URL".into(),
                ));
            }
        }
        if settings.timeout.is_zero() {
            return Err(SlackError::Settings(
                "timeout must be more than zero".into(),
            ));
        }
        Ok(Slack {
            http,
            url: Secret::new(url.as_str()),
            timeout: settings.timeout,
            down: std::sync::Arc::default(),
        })
    }

    /// The Block Kit message for a notice. Pure.
    pub fn message(n: &SlackNotice) -> Value {
        let (emoji, level) = severity(&n.severity);
        let title = or_dash(escape(&n.title, TITLE_MAX));
        let host = or_dash(escape(&n.host, NAME_MAX));
        let user = or_dash(escape(&n.user, NAME_MAX));
        let mut blocks = vec![
            json!({
                "type": "header",
                "text": {"type": "plain_text", "text": cap_plain(&format!("{emoji} {level} detection"), HEADER_MAX), "emoji": true},
            }),
            json!({
                "type": "section",
                "text": mrkdwn(&format!("*{title}*"), SECTION_MAX),
            }),
            json!({
                "type": "section",
                "fields": [mrkdwn(&format!("*Host*\n{host}"), FIELD_MAX), mrkdwn(&format!("*User*\n{user}"), FIELD_MAX)],
            }),
        ];
        if !n.reasons.is_empty() {
            let mut text = String::from("*Why*");
            let mut len = text.chars().count();
            let mut shown = 0;
            for reason in n.reasons.iter().take(REASONS_SHOWN) {
                let line = format!("\n• {}", escape(reason, REASON_MAX));
                let line_len = line.chars().count();
                // Leave room for the "…and N more" line.
                if len + line_len > SECTION_MAX - 40 {
                    break;
                }
                text.push_str(&line);
                len += line_len;
                shown += 1;
            }
            if n.reasons.len() > shown {
                text.push_str(&format!("\n…and {} more", n.reasons.len() - shown));
            }
            blocks.push(json!({"type": "section", "text": mrkdwn(&text, SECTION_MAX)}));
        }
        if let Some(url) = n.issue_url.as_deref().filter(|u| link_ok(u)) {
            blocks.push(json!({
                "type": "actions",
                "elements": [{
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open issue", "emoji": false},
                    "url": url,
                    "action_id": "open_issue",
                }],
            }));
        }
        let mut message = json!({
            "text": cap_escaped(&format!("{level} detection: {title} on {host}"), FALLBACK_MAX),
            "blocks": blocks,
            "unfurl_links": false,
            "unfurl_media": false,
        });
        if let (Some(channel), Some(map)) = (n.channel.as_deref(), message.as_object_mut()) {
            map.insert("channel".into(), Value::String(channel.to_owned()));
        }
        message
    }

    /// Posts a notice; retries 429 (after `Retry-After`) and 5xx or a broken
    /// connection with jittered backoff, up to four tries in all. Once a
    /// notice failed that way, the next ones fail at once for a minute.
    pub async fn send(&self, n: &SlackNotice) -> Result<(), SlackError> {
        if let Some((left, _)) = self.down.remaining() {
            return Err(SlackError::Down {
                retry_in_secs: left.as_secs().max(1),
            });
        }
        let sent = self.post(n).await;
        if matches!(&sent, Err(e) if e.is_retryable()) {
            self.down.extend(DOWN_HOLD, "Slack is down");
        }
        sent
    }

    /// The Block Kit message of a report summary: a header, one line per
    /// figure, a button to the posted report. Pure.
    pub fn summary_message(title: &str, lines: &[String], url: Option<&str>) -> Value {
        let title = or_dash(escape(title, TITLE_MAX));
        let mut text = String::new();
        for l in lines {
            let line = format!("• {}\n", escape(l, REASON_MAX));
            if text.chars().count() + line.chars().count() > SECTION_MAX - 40 {
                break;
            }
            text.push_str(&line);
        }
        let mut blocks = vec![
            json!({
                "type": "header",
                "text": {"type": "plain_text", "text": cap_plain(&title, HEADER_MAX), "emoji": false},
            }),
            json!({"type": "section", "text": mrkdwn(text.trim_end(), SECTION_MAX)}),
        ];
        if let Some(url) = url.filter(|u| link_ok(u)) {
            blocks.push(json!({
                "type": "actions",
                "elements": [{
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open the report", "emoji": false},
                    "url": url,
                    "action_id": "open_report",
                }],
            }));
        }
        json!({
            "text": cap_escaped(&title, FALLBACK_MAX),
            "blocks": blocks,
            "unfurl_links": false,
            "unfurl_media": false,
        })
    }

    /// Posts a report summary ([`Slack::summary_message`]), retried as notices are.
    pub async fn send_summary(
        &self,
        title: &str,
        lines: &[String],
        url: Option<&str>,
    ) -> Result<(), SlackError> {
        self.post_value(&Slack::summary_message(title, lines, url))
            .await
    }

    async fn post(&self, n: &SlackNotice) -> Result<(), SlackError> {
        self.post_value(&Slack::message(n)).await
    }

    async fn post_value(&self, message: &Value) -> Result<(), SlackError> {
        let body = serde_json::to_vec(message)
            .map_err(|e| SlackError::Settings(format!("cannot encode the message: {e}")))?;
        let mut backoff = http::backoff::webhook();
        let mut tries = 0;
        loop {
            tries += 1;
            let sent = self
                .http
                .post(self.url.expose())
                .timeout(self.timeout)
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    let source = e.without_url();
                    match backoff.next() {
                        Some(delay) => {
                            tracing::warn!(tries, delay_ms = delay.as_millis() as u64, error = %source, "Slack webhook unreachable; retrying");
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                        None => return Err(SlackError::Transport { tries, source }),
                    }
                }
            };
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let retry_after = http::retry_after(response.headers());
            let reason = self.reason(response.text().await.unwrap_or_default());
            let transient = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if !transient {
                return Err(SlackError::Rejected {
                    status: status.as_u16(),
                    reason,
                });
            }
            let next = backoff.next();
            let delay = match (status, retry_after, next) {
                (_, _, None) => None,
                (StatusCode::TOO_MANY_REQUESTS, Some(wait), Some(_)) if wait > MAX_RETRY_AFTER => {
                    None
                }
                (StatusCode::TOO_MANY_REQUESTS, Some(wait), Some(_)) => Some(wait),
                (_, _, Some(delay)) => Some(delay),
            };
            match delay {
                Some(delay) => {
                    tracing::warn!(
                        tries,
                        status = status.as_u16(),
                        delay_ms = delay.as_millis() as u64,
                        "Slack webhook busy; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                None => {
                    return Err(SlackError::Unavailable {
                        tries,
                        status: status.as_u16(),
                        reason,
                    });
                }
            }
        }
    }

    /// Slack's error answers are short codes (`no_service`); keep a short,
    /// printable piece, and never the URL.
    fn reason(&self, body: String) -> String {
        let body = body.replace(self.url.expose(), "<webhook>");
        let short: String = body
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .take(100)
            .collect();
        if short.is_empty() {
            "no reason given".into()
        } else {
            short
        }
    }
}

/// Severity emoji and label, from a closed set.
fn severity(s: &str) -> (&'static str, &'static str) {
    match s.trim().to_ascii_lowercase().as_str() {
        "critical" => (":red_circle:", "Critical"),
        "high" => (":large_orange_circle:", "High"),
        "medium" => (":large_yellow_circle:", "Medium"),
        "low" => (":large_blue_circle:", "Low"),
        "informational" | "info" => (":white_circle:", "Informational"),
        _ => (":grey_question:", "Unknown severity"),
    }
}

/// A mrkdwn text object that shows text as written: `verbatim` keeps Slack
/// from turning names, URLs and channel names into links or mentions.
fn mrkdwn(text: &str, max: usize) -> Value {
    json!({"type": "mrkdwn", "text": cap_escaped(text, max), "verbatim": true})
}

/// Escapes event text for mrkdwn and caps it at `max` characters (of the
/// escaped form, never cutting an entity). Line breaks and other control
/// characters become spaces; `@channel`, `@here`, `@everyone` get a
/// zero-width space after the `@`.
fn escape(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let pieces: Vec<std::borrow::Cow<'_, str>> = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '@' if broadcast_follows(&chars[i + 1..]) => "@\u{200B}".into(),
            c if c.is_control() => " ".into(),
            c => c.to_string().into(),
        })
        .collect();
    let total: usize = pieces.iter().map(|p| p.chars().count()).sum();
    let budget = if total <= max {
        max
    } else {
        max.saturating_sub(1)
    };
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut count = 0;
    for piece in &pieces {
        let len = piece.chars().count();
        if count + len > budget {
            break;
        }
        out.push_str(piece);
        count += len;
    }
    if total > max {
        out.push('…');
    }
    out
}

fn broadcast_follows(rest: &[char]) -> bool {
    ["channel", "here", "everyone"].iter().any(|word| {
        rest.len() >= word.len()
            && rest[..word.len()]
                .iter()
                .zip(word.chars())
                .all(|(a, b)| a.eq_ignore_ascii_case(&b))
    })
}

/// Caps already escaped text (our own markup around escaped pieces) without
/// cutting an entity.
fn cap_escaped(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    if let Some(amp) = out.rfind('&')
        && !out[amp..].contains(';')
    {
        out.truncate(amp);
    }
    out.push('…');
    out
}

fn cap_plain(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn or_dash(s: String) -> String {
    if s.trim().is_empty() { "—".into() } else { s }
}

/// Only plain http(s) links of a sane length go into the button.
fn link_ok(url: &str) -> bool {
    url.len() <= URL_MAX && Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "https" | "http"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_defuses_control_sequences() {
        assert_eq!(escape("a & b", 100), "a &amp; b");
        assert_eq!(
            escape("<!channel> <@U123>", 100),
            "&lt;!channel&gt; &lt;@U123&gt;"
        );
        assert_eq!(
            escape("ping @here and @Channel", 100),
            "ping @\u{200B}here and @\u{200B}Channel"
        );
        assert_eq!(escape("me@example.com", 100), "me@example.com");
        assert_eq!(escape("line\nbreak\ttab", 100), "line break tab");
    }

    #[test]
    fn capping_never_cuts_an_entity() {
        for max in 1..40 {
            let s = escape(&"&<>x".repeat(20), max);
            assert!(s.chars().count() <= max, "{max}: {s}");
            let last_amp = s.rfind('&');
            if let Some(a) = last_amp {
                assert!(s[a..].contains(';'), "{max}: {s}");
            }
        }
        assert_eq!(escape("short", 5), "short");
        assert_eq!(escape("longer", 5), "long…");
        let capped = cap_escaped(&format!("{}&amp;", "x".repeat(10)), 13);
        assert_eq!(capped, "xxxxxxxxxx…");
    }

    #[test]
    fn unknown_severity_is_shown_as_such() {
        assert_eq!(severity(" HIGH ").1, "High");
        assert_eq!(severity("<!channel>").1, "Unknown severity");
    }
}
