//! The GitHub client against the project's GitHub test server: round trips
//! with a PAT and as an App (token refresh before the hour is up, a revoked
//! token), Enterprise's `/api/v3` base, clear permanent errors (401, 404,
//! 422), rate limits waited out (secondary 403 + `retry-after`, 429, a
//! secondary limit without headers, primary exhaustion until reset, and
//! giving up past `max_wait`), no duplicates when an answer is lost, and
//! content-creating requests kept within `content_per_minute`.
//!
//! Timing tests run on paused tokio time: waits are proved by the arrival
//! times the server recorded, never by the wall clock.

use chrono::{TimeDelta, Utc};
use falconry_common::Secret;
use falconry_enricher::tracker::IssueRef;
use falconry_enricher::tracker::github::{
    GitHub, GitHubAuth, GitHubError, GitHubSettings, NewIssue,
};
use falconry_testkit::github::{
    APP_ID, APP_KEY_PEM, APP_LOGIN, Fault, GitHubServer, INSTALLATION_ID, LOGIN, On, Route, TOKEN,
};
use std::time::Duration;
use tokio::time::Instant;

const REPO: &str = "octo-sec/alerts";

async fn server() -> GitHubServer {
    let s = GitHubServer::start().await;
    s.add_repo(REPO);
    s
}

fn pat(url: &str) -> GitHubSettings {
    GitHubSettings::new(url, GitHubAuth::Token(Secret::new(TOKEN)))
}

fn app(url: &str) -> GitHubSettings {
    GitHubSettings::new(
        url,
        GitHubAuth::App {
            app_id: APP_ID.into(),
            installation_id: INSTALLATION_ID,
            private_key_pem: Secret::new(APP_KEY_PEM),
        },
    )
}

fn client(settings: GitHubSettings) -> GitHub {
    GitHub::new(settings, reqwest::Client::new()).expect("valid settings")
}

fn marker() -> String {
    format!("falconry:fingerprint={}", uuid::Uuid::new_v4().simple())
}

fn new_issue(marker: &str) -> NewIssue {
    NewIssue {
        title: "Suspicious PowerShell on host-1".into(),
        body: format!("A detection.\n\n<!-- {marker} -->\n"),
        labels: vec!["falconry".into(), "severity:high".into()],
        assignees: vec!["alice".into(), "mallory".into()],
    }
}

#[tokio::test]
async fn pat_round_trip_create_get_comment_find() {
    let gh = server().await;
    let c = client(pat(&gh.url()));
    let m = marker();
    let before = Utc::now() - TimeDelta::seconds(5);

    let issue = c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();
    assert_eq!(
        issue,
        IssueRef {
            repo: REPO.into(),
            number: 1,
            url: "https://github.example/octo-sec/alerts/issues/1".into(),
        }
    );
    let state = c.get_issue(REPO, 1).await.unwrap();
    assert!(state.open);
    assert_eq!(state.title, "Suspicious PowerShell on host-1");
    assert_eq!(state.url, issue.url);

    let cm = marker();
    c.comment(REPO, 1, &format!("Seen again. <!-- {cm} -->"), &cm)
        .await
        .unwrap();
    assert!(c.has_comment(REPO, 1, &cm, before).await.unwrap());
    assert!(!c.has_comment(REPO, 1, &marker(), before).await.unwrap());

    assert_eq!(
        c.find_issue(REPO, &m, before).await.unwrap(),
        Some(issue.clone())
    );
    assert_eq!(c.find_issue(REPO, &marker(), before).await.unwrap(), None);

    let held = &gh.issues(REPO)[0];
    assert_eq!(held.labels, ["falconry", "severity:high"]);
    assert_eq!(held.assignees, ["alice"], "unknown assignees are dropped");
    assert_eq!(held.author, LOGIN);
    assert_eq!(held.comments.len(), 1);

    gh.close_issue(REPO, 1);
    assert!(!c.get_issue(REPO, 1).await.unwrap().open);

    for s in gh.seen() {
        assert_eq!(s.status / 100, 2, "{s:?}");
        assert!(
            s.user_agent
                .as_deref()
                .unwrap()
                .starts_with("falconry-enricher/")
        );
        assert_eq!(s.accept.as_deref(), Some("application/vnd.github+json"));
        assert_eq!(s.api_version.as_deref(), Some("2022-11-28"));
        assert_eq!(s.credential, Some("pat"));
        assert!(!s.enterprise);
    }
}

#[tokio::test]
async fn enterprise_base_with_a_trailing_slash() {
    let gh = server().await;
    let c = client(pat(&format!("{}/", gh.enterprise_url())));
    let m = marker();
    let issue = c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();
    assert_eq!(c.get_issue(REPO, issue.number).await.unwrap().number, 1);
    let cm = marker();
    c.comment(REPO, 1, &cm, &cm).await.unwrap();
    let seen = gh.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter().all(|s| s.enterprise && s.status / 100 == 2),
        "{seen:?}"
    );
}

/// A one-hour installation token is used for 55 minutes, then replaced
/// before it expires: no request ever meets a 401.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn app_token_is_cached_and_refreshed_before_the_hour_is_up() {
    let gh = server().await;
    let c = client(app(&gh.url()));
    let m = marker();
    c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();
    assert_eq!(gh.token_exchanges(), 1);

    tokio::time::sleep(Duration::from_secs(54 * 60)).await;
    c.get_issue(REPO, 1).await.unwrap();
    assert_eq!(gh.token_exchanges(), 1, "still fresh at 54 minutes");

    tokio::time::sleep(Duration::from_secs(2 * 60)).await;
    let cm = marker();
    c.comment(REPO, 1, &cm, &cm).await.unwrap();
    assert_eq!(gh.token_exchanges(), 2, "refreshed 5 minutes before expiry");

    assert_eq!(gh.count_status(401), 0);
    // The bodyless token exchange said `Content-Length: 0` (else: 411).
    assert_eq!(gh.count_status(411), 0);
    assert_eq!(gh.issues(REPO)[0].author, APP_LOGIN);
    let credentials: Vec<_> = gh.seen().iter().map(|s| (s.route, s.credential)).collect();
    assert_eq!(
        credentials,
        [
            (Route::AccessToken, Some("jwt")),
            (Route::CreateIssue, Some("installation")),
            (Route::GetIssue, Some("installation")),
            (Route::AccessToken, Some("jwt")),
            (Route::CreateComment, Some("installation")),
        ]
    );
}

#[tokio::test]
async fn a_revoked_app_token_is_replaced_once() {
    let gh = server().await;
    let c = client(app(&gh.url()));
    let m = marker();
    c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();
    gh.revoke_tokens();
    assert!(c.get_issue(REPO, 1).await.unwrap().open);
    assert_eq!(gh.token_exchanges(), 2);
    assert_eq!(gh.count_status(401), 1);
    assert_eq!(gh.count(Route::GetIssue), 2);
}

#[tokio::test]
async fn an_app_the_server_does_not_know_is_a_clear_permanent_error() {
    let gh = server().await;
    let mut settings = app(&gh.url());
    settings.auth = GitHubAuth::App {
        app_id: "999".into(),
        installation_id: INSTALLATION_ID,
        private_key_pem: Secret::new(APP_KEY_PEM),
    };
    let c = client(settings);
    let m = marker();
    let err = c.create_issue(REPO, &new_issue(&m), &m).await.unwrap_err();
    assert!(matches!(err, GitHubError::Unauthorized { .. }), "{err}");
    assert!(!err.is_retryable());
    let text = format!("{err} {err:?}");
    assert!(text.contains("access_tokens"), "{text}");
    assert!(!text.contains("eyJ"), "no JWT in errors: {text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    assert_eq!(gh.count(Route::CreateIssue), 0);
}

#[tokio::test]
async fn a_bad_token_is_a_clear_permanent_error_without_the_token() {
    let gh = server().await;
    let secret = "ghp_WRONGtokenVALUE987654321";
    let c = client(GitHubSettings::new(
        gh.url(),
        GitHubAuth::Token(Secret::new(secret)),
    ));
    let m = marker();
    let err = c.create_issue(REPO, &new_issue(&m), &m).await.unwrap_err();
    assert!(matches!(err, GitHubError::Unauthorized { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("Bad credentials"), "{text}");
    assert!(
        text.contains("POST /repos/octo-sec/alerts/issues"),
        "{text}"
    );
    assert!(!format!("{err} {err:?} {c:?}").contains(secret));
    assert_eq!(gh.count(Route::CreateIssue), 1, "not retried");
}

#[tokio::test]
async fn a_body_over_githubs_limit_is_a_clear_permanent_error() {
    let gh = server().await;
    let c = client(pat(&gh.url()));
    let m = marker();
    let mut issue = new_issue(&m);
    issue.body = format!("{}\n<!-- {m} -->", "x".repeat(70_000));
    let err = c.create_issue(REPO, &issue, &m).await.unwrap_err();
    assert!(
        matches!(err, GitHubError::Rejected { status: 422, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("Validation Failed"), "{text}");
    assert!(
        text.contains("body is too long (maximum is 65536 characters)"),
        "{text}"
    );
    assert!(!text.contains("xxxxxxxx"), "the body is not quoted: {text}");
    assert!(gh.issues(REPO).is_empty());
}

#[tokio::test]
async fn missing_repositories_and_issues_are_not_found() {
    let gh = server().await;
    let c = client(pat(&gh.url()));
    let err = c.get_issue(REPO, 42).await.unwrap_err();
    assert!(
        matches!(err, GitHubError::NotFound { status: 404, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let m = marker();
    let err = c
        .create_issue("octo-sec/nope", &new_issue(&m), &m)
        .await
        .unwrap_err();
    assert!(matches!(err, GitHubError::NotFound { .. }), "{err:?}");
    assert_eq!(gh.count(Route::CreateIssue), 1);
}

#[tokio::test]
async fn text_without_its_marker_is_refused_before_any_request() {
    let gh = server().await;
    let c = client(pat(&gh.url()));
    let err = c
        .create_issue(REPO, &new_issue("one-marker"), "another-marker")
        .await
        .unwrap_err();
    assert!(matches!(err, GitHubError::MarkerMissing { .. }));
    let err = c
        .comment(REPO, 1, "no marker here", "m-1")
        .await
        .unwrap_err();
    assert!(matches!(err, GitHubError::MarkerMissing { .. }));
    assert!(gh.seen().is_empty());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_secondary_limit_with_retry_after_is_waited_out() {
    let gh = server().await;
    gh.fault(Fault::SecondaryLimit { retry_after: 30 });
    let c = client(pat(&gh.url()));
    let m = marker();
    c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();
    let times = gh.content_times();
    assert_eq!(times.len(), 2);
    assert!(
        times[1] - times[0] >= Duration::from_secs(30),
        "{:?}",
        times[1] - times[0]
    );
    assert_eq!(gh.issues(REPO).len(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_429_is_waited_out() {
    let gh = server().await;
    gh.fault(Fault::TooMany429 { retry_after: 10 });
    let c = client(pat(&gh.url()));
    let cm = marker();
    let m = marker();
    c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();
    let times = gh.content_times();
    assert!(times[1] - times[0] >= Duration::from_secs(10));
    // A 429 on a comment as well.
    gh.fault(Fault::TooMany429 { retry_after: 7 });
    c.comment(REPO, 1, &cm, &cm).await.unwrap();
    let times = gh.content_times();
    assert_eq!(times.len(), 4);
    assert!(times[3] - times[2] >= Duration::from_secs(7));
    assert_eq!(gh.issues(REPO)[0].comments.len(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_secondary_limit_without_headers_waits_a_minute_then_longer() {
    let gh = server().await;
    gh.fault(Fault::SecondaryNoHeaders);
    gh.fault(Fault::SecondaryNoHeaders);
    let c = client(pat(&gh.url()));
    let m = marker();
    c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();
    let t = gh.content_times();
    assert_eq!(t.len(), 3);
    assert!(t[1] - t[0] >= Duration::from_secs(60));
    assert!(
        t[2] - t[1] >= Duration::from_secs(120),
        "backs off exponentially"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn primary_exhaustion_holds_every_request_until_the_reset() {
    let gh = server().await;
    let c = client(pat(&gh.url()));
    gh.fault_on(On::Any, Fault::PrimaryExhausted { reset_in: 120 });
    let m = marker();
    c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();
    let seen = gh.seen();
    let statuses: Vec<u16> = seen.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [403, 201],
        "one refused request, then none until the reset"
    );
    assert!(seen[1].at - seen[0].at >= Duration::from_secs(120));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_limit_longer_than_max_wait_is_a_retryable_error_and_holds_later_calls() {
    let gh = server().await;
    let mut settings = pat(&gh.url());
    settings.max_wait = Duration::from_secs(60);
    let c = client(settings);
    gh.fault(Fault::SecondaryLimit { retry_after: 3600 });
    let start = Instant::now();
    let m = marker();
    let err = c.create_issue(REPO, &new_issue(&m), &m).await.unwrap_err();
    assert!(matches!(err, GitHubError::RateLimited { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(
        Instant::now() - start,
        Duration::ZERO,
        "gave up without sleeping"
    );
    // GitHub asked for an hour's quiet: the next call does not knock again.
    let err = c.get_issue(REPO, 1).await.unwrap_err();
    assert!(matches!(err, GitHubError::RateLimited { .. }), "{err:?}");
    assert_eq!(gh.seen().len(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_lost_answer_after_create_yields_exactly_one_issue() {
    let gh = server().await;
    gh.fault(Fault::BadGatewayAfterCreate);
    let c = client(pat(&gh.url()));
    let m = marker();
    let issue = c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();
    assert_eq!(issue.number, 1);
    assert_eq!(gh.issues(REPO).len(), 1);
    assert_eq!(
        gh.count(Route::CreateIssue),
        1,
        "found by marker, not posted again"
    );
    assert_eq!(gh.count(Route::ListIssues), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_timeout_after_create_yields_exactly_one_issue() {
    let gh = server().await;
    gh.fault(Fault::Slow(Duration::from_secs(300)));
    let mut settings = pat(&gh.url());
    settings.request_timeout = Duration::from_secs(10);
    let c = client(settings);
    let m = marker();
    let issue = c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();
    assert_eq!(issue.number, 1);
    assert_eq!(gh.issues(REPO).len(), 1);
    assert_eq!(gh.count(Route::CreateIssue), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_500_before_create_is_retried_into_one_issue() {
    let gh = server().await;
    gh.fault(Fault::ServerError);
    let c = client(pat(&gh.url()));
    let m = marker();
    let issue = c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();
    assert_eq!(issue.number, 1);
    assert_eq!(gh.issues(REPO).len(), 1);
    assert_eq!(gh.count(Route::CreateIssue), 2);
    assert_eq!(
        gh.count(Route::ListIssues),
        1,
        "looked for the marker first"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn persistent_server_errors_end_in_a_retryable_error() {
    let gh = server().await;
    for _ in 0..10 {
        gh.fault(Fault::ServerError);
    }
    let c = client(pat(&gh.url()));
    let m = marker();
    let err = c.create_issue(REPO, &new_issue(&m), &m).await.unwrap_err();
    assert!(
        matches!(err, GitHubError::Status { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(gh.count(Route::CreateIssue), 5);
    assert!(gh.issues(REPO).is_empty());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn comments_are_not_duplicated_when_an_answer_is_lost() {
    let gh = server().await;
    let c = client(pat(&gh.url()));
    let m = marker();
    c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();

    gh.fault(Fault::BadGatewayAfterCreate);
    let cm = marker();
    c.comment(REPO, 1, &format!("again <!-- {cm} -->"), &cm)
        .await
        .unwrap();
    assert_eq!(gh.issues(REPO)[0].comments.len(), 1);
    assert_eq!(gh.count(Route::CreateComment), 1);

    gh.fault(Fault::ServerError);
    let cm = marker();
    c.comment(REPO, 1, &format!("and again <!-- {cm} -->"), &cm)
        .await
        .unwrap();
    assert_eq!(gh.issues(REPO)[0].comments.len(), 2);
    assert_eq!(gh.count(Route::CreateComment), 3);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn reads_are_retried_on_server_errors() {
    let gh = server().await;
    let c = client(pat(&gh.url()));
    let m = marker();
    c.create_issue(REPO, &new_issue(&m), &m).await.unwrap();
    gh.fault_on(On::Route(Route::GetIssue), Fault::ServerError);
    gh.fault_on(On::Route(Route::GetIssue), Fault::BadGatewayAfterCreate);
    assert!(c.get_issue(REPO, 1).await.unwrap().open);
    assert_eq!(gh.count(Route::GetIssue), 3);
}

/// Forty issues at once with a cap of 30 a minute: the server never sees more
/// than 30 content requests in any 60-second window, while reads are not held.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn content_requests_stay_within_content_per_minute() {
    let gh = server().await;
    let mut settings = pat(&gh.url());
    settings.content_per_minute = 30;
    let c = client(settings);
    let creates = (0..40).map(|_| {
        let c = c.clone();
        async move {
            let m = marker();
            c.create_issue(REPO, &new_issue(&m), &m).await
        }
    });
    for r in futures::future::join_all(creates).await {
        r.unwrap();
    }
    let times = gh.content_times();
    assert_eq!(times.len(), 40);
    for (i, t) in times.iter().enumerate() {
        let window = times
            .iter()
            .filter(|u| **u >= *t && **u < *t + Duration::from_secs(60))
            .count();
        assert!(
            window <= 30,
            "{window} content requests in the minute from #{i}"
        );
    }
    assert!(times[39] - times[0] >= Duration::from_secs(78));

    let start = Instant::now();
    for n in 1..=20 {
        c.get_issue(REPO, n).await.unwrap();
    }
    assert_eq!(
        Instant::now() - start,
        Duration::ZERO,
        "reads are not paced"
    );
}

/// A secondary limit met while others queue for content slots: nobody posts
/// during the hold, and the queue resumes at the usual pace, not in a burst.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_limit_hit_by_one_caller_holds_the_queued_ones_too() {
    let gh = server().await;
    let mut settings = pat(&gh.url());
    settings.content_per_minute = 60;
    let c = client(settings);
    gh.fault(Fault::SecondaryLimit { retry_after: 30 });
    let creates = (0..10).map(|_| {
        let c = c.clone();
        async move {
            let m = marker();
            c.create_issue(REPO, &new_issue(&m), &m).await
        }
    });
    for r in futures::future::join_all(creates).await {
        r.unwrap();
    }
    assert_eq!(gh.issues(REPO).len(), 10);
    let seen: Vec<_> = gh
        .seen()
        .into_iter()
        .filter(|s| s.route == Route::CreateIssue)
        .collect();
    assert_eq!(seen.len(), 11);
    assert_eq!(seen[0].status, 403);
    let limited_at = seen[0].at;
    for s in &seen[1..] {
        assert!(
            s.at - limited_at >= Duration::from_secs(30),
            "{:?}",
            s.at - limited_at
        );
    }
    for pair in seen[1..].windows(2) {
        assert!(
            pair[1].at - pair[0].at >= Duration::from_secs(1),
            "paced after the hold"
        );
    }
}

#[tokio::test]
async fn markers_are_found_on_later_pages_and_only_inside_the_window() {
    let gh = server().await;
    let c = client(pat(&gh.url()));
    let now = Utc::now();
    let m = marker();
    let target = gh.seed_issue(
        REPO,
        "old one",
        &format!("x <!-- {m} -->"),
        now - TimeDelta::minutes(90),
    );
    for i in 0..150 {
        gh.seed_issue(
            REPO,
            &format!("newer {i}"),
            "y",
            now - TimeDelta::minutes(60) + TimeDelta::seconds(i),
        );
    }
    let found = c
        .find_issue(REPO, &m, now - TimeDelta::hours(2))
        .await
        .unwrap()
        .expect("found on page 2");
    assert_eq!(found.number, target);
    assert_eq!(gh.count(Route::ListIssues), 2, "paged by Link");
    let seen = gh.seen();
    let list = seen.iter().find(|s| s.route == Route::ListIssues).unwrap();
    assert_eq!(list.path, "/repos/octo-sec/alerts/issues");

    assert_eq!(
        c.find_issue(REPO, &m, now - TimeDelta::minutes(80))
            .await
            .unwrap(),
        None
    );
}
