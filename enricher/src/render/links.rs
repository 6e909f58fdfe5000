//! The only live links an issue carries: the Falcon console link (event
//! data: linked only when it is `https://` on a CrowdStrike console host),
//! the runbook (operator data: linked when it is a plain `https://` URL) and
//! the previous issue (the tracker's own reference). Anything else is shown
//! as defanged text.
//!
//! Pure: checks and formats strings; it never follows a link.

use super::sanitize;
use crate::tracker::IssueRef;

/// Hosts of the Falcon consoles (US-1, US-2, EU-1, US-GOV-1).
pub const CONSOLE_HOSTS: &[&str] = &[
    "falcon.crowdstrike.com",
    "falcon.us-2.crowdstrike.com",
    "falcon.eu-1.crowdstrike.com",
    "falcon.laggar.gcw.crowdstrike.com",
];

/// Longest URL we link.
pub const MAX_URL: usize = 2048;

/// How much of a refused URL is shown (defanged).
const SHOWN_URL_CAP: usize = 300;

/// `url` when it is safe as a Markdown link destination: `https://`, a host
/// of letters, digits, `.` and `-` (no user info, no port) that is in
/// `hosts` when given, and a path/query/fragment of unreserved and
/// sub-delimiter characters only (no spaces, parentheses, brackets, quotes,
/// angle brackets, backslashes, backticks, pipes or non-ASCII).
pub fn https_url<'u>(url: &'u str, hosts: Option<&[&str]>) -> Option<&'u str> {
    if url.len() > MAX_URL {
        return None;
    }
    let rest = url.strip_prefix("https://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-'])
        && host.contains('.');
    let listed = hosts.is_none_or(|hosts| hosts.contains(&host));
    let tail_ok = tail.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'/'
                    | b'?'
                    | b'#'
                    | b'&'
                    | b'='
                    | b'%'
                    | b'+'
                    | b':'
                    | b','
                    | b';'
            )
    });
    (host_ok && listed && tail_ok).then_some(url)
}

/// The detection in the Falcon console: a link when the URL is a console's,
/// else the URL defanged and marked as not linked.
pub fn console(url: &str) -> String {
    match https_url(url, Some(CONSOLE_HOSTS)) {
        Some(url) => format!("[Open the detection in the Falcon console]({url})"),
        None => format!(
            "{} _\\(not a CrowdStrike console address: not linked\\)_",
            sanitize::text(url, SHOWN_URL_CAP)
        ),
    }
}

/// The policy's runbook: a link when it is a plain `https://` URL.
pub fn runbook(url: &str) -> String {
    match https_url(url, None) {
        Some(url) => format!("[Open the runbook]({url})"),
        None => format!(
            "{} _\\(not an https address: not linked\\)_",
            sanitize::text(url, SHOWN_URL_CAP)
        ),
    }
}

/// The issue this one follows: `[owner/repo#12](url)` on GitHub, the path in
/// code for a directory tracker.
pub fn previous(issue: &IssueRef) -> String {
    let repo_ok = issue.repo.split('/').count() == 2
        && issue.repo.split('/').all(|part| {
            !part.is_empty()
                && part.len() <= 100
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    let label = if repo_ok {
        format!("{}#{}", issue.repo, issue.number)
    } else {
        format!(
            "{} number {}",
            sanitize::text(&issue.repo, 200),
            issue.number
        )
    };
    match https_url(&issue.url, None) {
        Some(url) => format!("[{label}]({url})"),
        None => format!("{label} {}", sanitize::code_span(&issue.url, 500)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_links_only_to_consoles() {
        let ok = "https://falcon.eu-1.crowdstrike.com/activity-v2/detections/abc:ind:def?_cid=0a1b";
        assert_eq!(
            console(ok),
            format!("[Open the detection in the Falcon console]({ok})")
        );
        for bad in [
            "http://falcon.crowdstrike.com/x",
            "https://falcon.crowdstrike.com.evil.example/x",
            "https://evil.example/falcon.crowdstrike.com",
            "https://user@falcon.crowdstrike.com/x",
            "https://falcon.crowdstrike.com:8443/x",
            "https://FALCON.crowdstrike.com/x",
            "https://falcon.crowdstrike.com/x)](https://evil.example",
            "https://falcon.crowdstrike.com/x y",
            "https://falcon.crowdstrike.com/<x>",
            "https://falcon.crowdstrike.com/x\u{202E}",
            "javascript:alert(1)",
        ] {
            let out = console(bad);
            assert!(!out.starts_with("[Open"), "{bad} -> {out}");
            assert!(out.contains("not linked"), "{out}");
            assert!(
                !out.contains("](") && !out.to_lowercase().contains("https://"),
                "{out}"
            );
        }
    }

    #[test]
    fn runbook_needs_https() {
        assert_eq!(
            runbook("https://wiki.corp.example/soc/ps"),
            "[Open the runbook](https://wiki.corp.example/soc/ps)"
        );
        assert_eq!(
            runbook("http://wiki.corp.example/x"),
            "hxxp://wiki[.]corp[.]example/x _\\(not an https address: not linked\\)_"
        );
    }

    #[test]
    fn previous_issue() {
        let gh = IssueRef {
            repo: "soc/alerts".into(),
            number: 12,
            url: "https://github.com/soc/alerts/issues/12".into(),
        };
        assert_eq!(
            previous(&gh),
            "[soc/alerts#12](https://github.com/soc/alerts/issues/12)"
        );
        let dir = IssueRef {
            repo: "issues".into(),
            number: 3,
            url: "/var/lib/falconry/issues/3.md".into(),
        };
        assert_eq!(
            previous(&dir),
            "issues number 3 `/var/lib/falconry/issues/3.md`"
        );
    }
}
