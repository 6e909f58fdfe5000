//! GitHub's JSON shapes, as far as the enricher reads or writes them, and the
//! small parsers for what GitHub says in headers (`Link` paging) and error
//! bodies. Pure: no I/O, no retries, no decisions about what a status means.

use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// `POST /repos/{owner}/{repo}/issues`.
#[derive(Serialize)]
pub(super) struct CreateIssue<'a> {
    pub title: &'a str,
    pub body: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub labels: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub assignees: &'a [String],
}

/// `POST /repos/{owner}/{repo}/issues/{number}/comments`.
#[derive(Serialize)]
pub(super) struct CreateComment<'a> {
    pub body: &'a str,
}

#[derive(Deserialize)]
pub(super) struct User {
    pub login: String,
}

/// An issue (or, in a listing, a pull request: `pull_request` is set).
#[derive(Deserialize)]
pub(super) struct Issue {
    pub number: u64,
    pub html_url: String,
    pub state: String,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub pull_request: Option<IgnoredAny>,
    #[serde(default)]
    pub state_reason: Option<String>,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub assignees: Vec<User>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub closed_at: Option<String>,
    /// How many comments (a count in issue answers).
    #[serde(default)]
    pub comments: u64,
}

#[derive(Deserialize)]
pub(super) struct Label {
    pub name: String,
}

#[derive(Deserialize)]
pub(super) struct Comment {
    #[serde(default)]
    pub body: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub user: Option<User>,
}

/// `GET /repos/{owner}/{repo}/issues/{number}/events`.
#[derive(Deserialize)]
pub(super) struct Event {
    pub event: String,
    #[serde(default)]
    pub actor: Option<User>,
    pub created_at: String,
    #[serde(default)]
    pub state_reason: Option<String>,
    #[serde(default)]
    pub label: Option<Label>,
    #[serde(default)]
    pub assignee: Option<User>,
}

/// `PATCH /repos/{owner}/{repo}/issues/{number}` (state only).
#[derive(Serialize)]
pub(super) struct SetState<'a> {
    pub state: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<&'a str>,
}

/// `POST /app/installations/{id}/access_tokens`.
#[derive(Deserialize)]
pub(super) struct InstallationToken {
    pub token: String,
    pub expires_at: String,
}

/// GitHub's error body: `{"message": …, "errors": [...], "documentation_url": …}`.
#[derive(Deserialize, Default)]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

/// Longest piece of GitHub's error text we copy into an error.
const MAX_MESSAGE: usize = 300;

impl ErrorBody {
    /// Reads an error body; anything that is not GitHub's JSON shape (an HTML
    /// page from a proxy) becomes a neutral description, never quoted.
    pub fn parse(body: &[u8]) -> ErrorBody {
        serde_json::from_slice(body).unwrap_or_default()
    }

    pub fn message(&self, body_len: usize) -> String {
        match &self.message {
            Some(m) => cap(m),
            None if body_len == 0 => "empty answer".to_owned(),
            None => format!("no GitHub error message ({body_len} bytes)"),
        }
    }

    /// `errors[]` as `field code: message` lines. GitHub sends objects
    /// (`resource`, `field`, `code`, `message`) or, on some endpoints, strings.
    pub fn details(&self) -> Vec<String> {
        self.errors
            .iter()
            .take(10)
            .map(|e| match e {
                serde_json::Value::String(s) => cap(s),
                serde_json::Value::Object(o) => {
                    let text = |k: &str| o.get(k).and_then(|v| v.as_str()).unwrap_or("");
                    let head = [text("field"), text("code")]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    let message = text("message");
                    cap(&match (head.is_empty(), message.is_empty()) {
                        (_, true) => head,
                        (true, false) => message.to_owned(),
                        (false, false) => format!("{head}: {message}"),
                    })
                }
                other => cap(&other.to_string()),
            })
            .collect()
    }

    pub fn mentions_rate_limit(&self) -> bool {
        self.message
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().contains("rate limit"))
    }
}

fn cap(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// Whether a `Link` header offers a next page.
pub(super) fn has_next_page(link: Option<&str>) -> bool {
    link.is_some_and(|l| {
        l.split(',').any(|part| {
            part.split(';')
                .skip(1)
                .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
        })
    })
}

/// GitHub's ISO 8601 timestamps (`2024-05-01T12:00:00Z`).
pub(super) fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The form GitHub takes in `since=` (seconds, `Z`).
pub(super) fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_page_is_read_from_the_link_header() {
        let link = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
        assert!(has_next_page(Some(link)));
        let last = r#"<https://api.github.com/repositories/1/issues?page=1>; rel="prev", <https://api.github.com/repositories/1/issues?page=1>; rel="first""#;
        assert!(!has_next_page(Some(last)));
        assert!(!has_next_page(None));
    }

    #[test]
    fn validation_errors_are_quoted_in_short() {
        let body = br#"{"message":"Validation Failed","errors":[{"resource":"Issue","code":"custom","field":"body","message":"body is too long (maximum is 65536 characters)"},"plain string",{"resource":"Issue","code":"missing_field","field":"title"}],"documentation_url":"x"}"#;
        let e = ErrorBody::parse(body);
        assert_eq!(e.message(body.len()), "Validation Failed");
        assert_eq!(
            e.details(),
            [
                "body custom: body is too long (maximum is 65536 characters)",
                "plain string",
                "title missing_field"
            ]
        );
    }

    #[test]
    fn html_pages_are_not_quoted() {
        let body = b"<html><body>502 Bad Gateway secret-looking-text</body></html>";
        let e = ErrorBody::parse(body);
        assert!(!e.message(body.len()).contains("secret"));
        assert!(e.details().is_empty());
    }

    #[test]
    fn long_messages_are_capped() {
        let long = "x".repeat(5000);
        assert!(cap(&long).chars().count() <= MAX_MESSAGE + 1);
        assert_eq!(cap("é short"), "é short");
    }

    #[test]
    fn timestamps_round_trip() {
        let t = timestamp("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(format_timestamp(t), "2024-05-01T12:00:00Z");
        assert!(timestamp("yesterday").is_none());
    }
}
