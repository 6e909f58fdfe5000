//! The Slack webhook client against the project's Slack test server: the
//! Block Kit message's shape, hostile event text escaped and capped within
//! Block Kit's limits, 429 and 500 retried into a delivery, and permanent
//! refusals and dead endpoints reported without the webhook URL (a secret).

use falconry_common::Secret;
use falconry_enricher::slack::{Slack, SlackError, SlackNotice, SlackSettings};
use falconry_testkit::slack::{SlackFault, SlackServer, WEBHOOK_PATH};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

fn notice() -> SlackNotice {
    SlackNotice {
        severity: "critical".into(),
        title: "Credential dumping via comsvcs.dll".into(),
        host: "FIN-WS-042".into(),
        user: "CORP\\jdoe".into(),
        issue_url: Some("https://github.example/octo-sec/alerts/issues/7".into()),
        channel: Some("#sec-alerts".into()),
        reasons: vec![
            "severity critical ≥ high".into(),
            "tactic Credential Access".into(),
        ],
    }
}

fn slack(url: &str) -> Slack {
    Slack::new(
        SlackSettings {
            webhook_url: Secret::new(url),
            timeout: Duration::from_secs(10),
        },
        reqwest::Client::new(),
    )
    .expect("valid settings")
}

#[test]
fn the_message_is_block_kit_with_a_fallback_text() {
    let m = Slack::message(&notice());
    assert_eq!(
        m,
        json!({
            "text": "Critical detection: Credential dumping via comsvcs.dll on FIN-WS-042",
            "channel": "#sec-alerts",
            "unfurl_links": false,
            "unfurl_media": false,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": ":red_circle: Critical detection", "emoji": true}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Credential dumping via comsvcs.dll*", "verbatim": true}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Host*\nFIN-WS-042", "verbatim": true},
                    {"type": "mrkdwn", "text": "*User*\nCORP\\jdoe", "verbatim": true},
                ]},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Why*\n• severity critical ≥ high\n• tactic Credential Access", "verbatim": true}},
                {"type": "actions", "elements": [{
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open issue", "emoji": false},
                    "url": "https://github.example/octo-sec/alerts/issues/7",
                    "action_id": "open_issue",
                }]},
            ],
        })
    );
}

#[test]
fn optional_parts_are_left_out() {
    let m = Slack::message(&SlackNotice {
        severity: "weird".into(),
        issue_url: Some("javascript:alert(1)".into()),
        ..SlackNotice::default()
    });
    assert!(m.get("channel").is_none());
    let blocks = m["blocks"].as_array().unwrap();
    let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["header", "section", "section"],
        "no reasons, no unsafe link"
    );
    assert_eq!(
        blocks[0]["text"]["text"],
        ":grey_question: Unknown severity detection"
    );
    assert_eq!(
        blocks[2]["fields"][0]["text"], "*Host*\n—",
        "never empty text"
    );
}

/// Every text a detection controls is escaped: no link, no mention, no
/// broadcast can be formed, whatever the attacker writes.
#[test]
fn hostile_text_is_escaped() {
    let hostile = SlackNotice {
        severity: "<!channel>".into(),
        title: "<!channel> pwned & <@U123ABC> <https://evil.example|click me> &lt;!here&gt;".into(),
        host: "<!here>".into(),
        user: "@channel @Everyone <!subteam^S123>".into(),
        issue_url: Some("https://github.example/o/r/issues/1".into()),
        channel: None,
        reasons: vec!["a > b".into(), "<#C123> and <!date^1^{date}|x>".into()],
    };
    let m = Slack::message(&hostile);
    let text = m.to_string();
    assert!(!text.contains('<'), "{text}");
    assert!(!text.contains('>'), "{text}");
    let title = m["blocks"][1]["text"]["text"].as_str().unwrap();
    assert_eq!(
        title,
        "*&lt;!channel&gt; pwned &amp; &lt;@U123ABC&gt; &lt;https://evil.example|click me&gt; &amp;lt;!here&amp;gt;*"
    );
    let user = m["blocks"][2]["fields"][1]["text"].as_str().unwrap();
    assert_eq!(
        user,
        "*User*\n@\u{200B}channel @\u{200B}Everyone &lt;!subteam^S123&gt;"
    );
    assert!(m["text"].as_str().unwrap().contains("&lt;!here&gt;"));
}

#[tokio::test]
async fn long_text_is_capped_within_block_kit_limits_and_accepted() {
    let server = SlackServer::start().await;
    let n = SlackNotice {
        title: "&".repeat(10_000),
        host: "h".repeat(5_000),
        user: "<".repeat(5_000),
        reasons: (0..100)
            .map(|i| format!("reason {i} {}", "r&".repeat(400)))
            .collect(),
        ..notice()
    };
    let m = Slack::message(&n);
    for block in m["blocks"].as_array().unwrap() {
        if let Some(t) = block["text"]["text"].as_str() {
            assert!(t.chars().count() <= 3000);
            if let Some(amp) = t.rfind('&') {
                assert!(t[amp..].contains(';'), "no entity cut in half");
            }
        }
        for f in block["fields"].as_array().into_iter().flatten() {
            assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
        }
    }
    let why = m["blocks"][3]["text"]["text"].as_str().unwrap();
    assert!(why.contains("\n…and ") && why.ends_with(" more"), "{why}");
    slack(&server.webhook_url()).send(&n).await.unwrap();
    assert_eq!(server.payloads(), [m]);
}

#[tokio::test]
async fn a_notice_is_delivered_as_its_message() {
    let server = SlackServer::start().await;
    slack(&server.webhook_url()).send(&notice()).await.unwrap();
    assert_eq!(server.payloads(), [Slack::message(&notice())]);
    assert_eq!(server.requests(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn rate_limits_and_server_errors_are_retried_into_a_delivery() {
    let server = SlackServer::start().await;
    server.fault(SlackFault::RateLimited { retry_after: 5 });
    server.fault(SlackFault::ServerError);
    slack(&server.webhook_url()).send(&notice()).await.unwrap();
    let times = server.request_times();
    assert_eq!(times.len(), 3);
    assert!(
        times[1] - times[0] >= Duration::from_secs(5),
        "Retry-After honoured"
    );
    assert!(times[2] > times[1], "backed off after the 500");
    assert_eq!(server.payloads().len(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn persistent_server_errors_give_up_after_a_few_tries() {
    let server = SlackServer::start().await;
    for _ in 0..10 {
        server.fault(SlackFault::ServerError);
    }
    let err = slack(&server.webhook_url())
        .send(&notice())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SlackError::Unavailable {
                tries: 4,
                status: 500,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(server.requests(), 4);
    assert_no_url(&err, &server);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_retry_after_too_long_to_wait_is_not_waited() {
    let server = SlackServer::start().await;
    server.fault(SlackFault::RateLimited { retry_after: 3600 });
    let start = Instant::now();
    let err = slack(&server.webhook_url())
        .send(&notice())
        .await
        .unwrap_err();
    assert!(
        matches!(err, SlackError::Unavailable { status: 429, .. }),
        "{err:?}"
    );
    assert_eq!(Instant::now() - start, Duration::ZERO);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn a_removed_webhook_gives_up_at_once_without_the_url() {
    let server = SlackServer::start().await;
    server.fault(SlackFault::NoService);
    let err = slack(&server.webhook_url())
        .send(&notice())
        .await
        .unwrap_err();
    assert!(
        matches!(err, SlackError::Rejected { status: 404, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("no_service"), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(server.requests(), 1);
    assert_no_url(&err, &server);

    server.fault(SlackFault::InvalidPayload);
    let err = slack(&server.webhook_url())
        .send(&notice())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid_payload"), "{err}");

    let wrong = format!("http://{}/services/T000/B000/WRONG", server.addr);
    let err = slack(&wrong).send(&notice()).await.unwrap_err();
    assert!(
        matches!(err, SlackError::Rejected { status: 404, .. }),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("WRONG"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_unreachable_webhook_is_reported_without_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}{WEBHOOK_PATH}");
    let err = slack(&url).send(&notice()).await.unwrap_err();
    assert!(
        matches!(err, SlackError::Transport { tries: 4, .. }),
        "{err:?}"
    );
    let mut text = format!("{err} {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    assert!(!text.contains("SECRET"), "{text}");
    assert!(!text.contains("/services/"), "{text}");
    assert!(
        err.to_string().contains("refused"),
        "names the cause: {err}"
    );
}

#[test]
fn a_bad_webhook_url_is_refused_without_quoting_it() {
    for url in [
        "not a url SECRET",
        "http://hooks.slack.example/services/SECRET",
        "ftp://hooks.slack.com/SECRET",
    ] {
        let err = Slack::new(
            SlackSettings {
                webhook_url: Secret::new(url),
                timeout: Duration::from_secs(10),
            },
            reqwest::Client::new(),
        )
        .unwrap_err();
        assert!(matches!(err, SlackError::Settings(_)));
        assert!(!format!("{err} {err:?}").contains("SECRET"), "{err}");
    }
}

fn assert_no_url(err: &SlackError, server: &SlackServer) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains("SECRET"), "{text}");
    assert!(!text.contains(&server.webhook_url()), "{text}");
}
