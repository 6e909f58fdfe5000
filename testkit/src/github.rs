//! The project's own GitHub REST test server on 127.0.0.1, served at both
//! roots (`/` like api.github.com, `/api/v3` like Enterprise Server). It
//! speaks GitHub's shapes for issues (create, list with `state`, `since`,
//! `sort`, `direction`, `creator`, `labels`, `per_page`, `page` and `Link`
//! paging; get; update with `state_reason`), comments (create, list with
//! `since`), issue events (`closed`, `reopened`, `labeled`, `unlabeled`,
//! `assigned`, `unassigned`, oldest first), App installation tokens (the
//! RS256 JWT is verified with the test public key) and `/rate_limit`, with
//! GitHub's checks: `User-Agent` required (403), bad credentials (401),
//! unknown repositories (404), bodies over 65,536 characters (422), labels
//! created on the fly, unknown assignees dropped, `x-ratelimit-*` headers.
//! The reads (issue list, issue, comments, events) carry a weak `ETag`; an
//! `If-None-Match` naming it gets `304 Not Modified`, which, as on GitHub,
//! costs no quota.
//!
//! Tests inspect what it holds (`issues`, `events`, `comment_authors`,
//! `seen`, `count`, `content_times`), act as people on github.com would
//! (`human_comment`, `human_assign`, `human_label`, `human_close`,
//! `human_reopen`), and arm faults that strike the next matching request:
//! secondary limits (403 + `retry-after`, or no header), 429, primary
//! exhaustion until a reset, a 502 after the request took effect (the lost
//! answer), a 500 before it, a slow answer, a revoked token. Time is tokio
//! time, so tests may pause it.
//! The key pair in `github-app-test-key*.pem` is for these tests only.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

mod repos;

use repos::{Comment, Ids, Issue, Repo, What};

/// The personal access token the server accepts.
pub const TOKEN: &str = "ghp_TESTtoken0123456789abcdefSECRET";
/// Who the PAT belongs to.
pub const LOGIN: &str = "falconry-bot";
/// The GitHub App the test key belongs to, and its installation.
pub const APP_ID: &str = "424242";
pub const INSTALLATION_ID: u64 = 777;
/// Who issues created with an installation token belong to.
pub const APP_LOGIN: &str = "falconry[bot]";
/// The App's private key (test only).
pub const APP_KEY_PEM: &str = include_str!("github/app-key.pem");
const APP_PUBLIC_PEM: &str = include_str!("github/app-key.pub.pem");
/// Where `html_url`s point.
pub const HTML_ROOT: &str = "https://github.example";

const MAX_BODY: usize = 65_536;
const MAX_TITLE: usize = 256;
const QUOTA: u64 = 5000;
const SECONDARY_MESSAGE: &str = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:TEST.";
const SECONDARY_DOCS: &str = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";

/// What a request was, by method and path shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    CreateIssue,
    ListIssues,
    GetIssue,
    UpdateIssue,
    CreateComment,
    ListComments,
    /// `GET /repos/{owner}/{repo}/issues/{number}/events`.
    ListEvents,
    AccessToken,
    RateLimit,
    /// Anything else (answered 404).
    Other,
}

impl Route {
    /// Requests that count against GitHub's content-creation limits.
    pub fn is_content(self) -> bool {
        matches!(
            self,
            Route::CreateIssue | Route::UpdateIssue | Route::CreateComment
        )
    }
}

/// A failure armed for the next request that matches its [`On`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 403 "You have exceeded a secondary rate limit" with `retry-after`.
    SecondaryLimit { retry_after: u64 },
    /// The same 403 without `retry-after` (wait at least a minute).
    SecondaryNoHeaders,
    /// 429 with `retry-after`.
    TooMany429 { retry_after: u64 },
    /// The primary quota is spent: this and every request until `reset_in`
    /// seconds from now get 403 with `x-ratelimit-remaining: 0` and the reset.
    PrimaryExhausted { reset_in: u64 },
    /// The request takes effect, then the answer is a 502 (the lost answer).
    BadGatewayAfterCreate,
    /// 500 without doing anything.
    ServerError,
    /// The request takes effect; the answer comes this much later (the
    /// client may have given up by then).
    Slow(Duration),
    /// 401 Bad credentials (as for a revoked token).
    Unauthorized,
}

/// Which requests a fault may strike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// Content-creating requests (create issue, update issue, create comment).
    Content,
    /// One route.
    Route(Route),
    /// Any authenticated request.
    Any,
}

impl On {
    fn matches(self, route: Route) -> bool {
        match self {
            On::Content => route.is_content(),
            On::Route(r) => r == route,
            On::Any => route != Route::Other,
        }
    }
}

/// An issue as the server holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestIssue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    /// `open` or `closed`.
    pub state: String,
    /// `completed`, `not_planned` or `reopened`; `None` until first closed.
    pub state_reason: Option<String>,
    pub author: String,
    /// Comment bodies, oldest first.
    pub comments: Vec<String>,
}

/// A request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub route: Route,
    /// Without the `/api/v3` prefix.
    pub path: String,
    pub enterprise: bool,
    pub status: u16,
    /// Arrival, tokio time.
    pub at: Instant,
    pub user_agent: Option<String>,
    pub accept: Option<String>,
    pub api_version: Option<String>,
    /// `pat`, `installation`, `jwt`, or `None` when not authenticated.
    pub credential: Option<&'static str>,
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Lifetime of installation tokens (GitHub: one hour).
    pub token_ttl: Duration,
    /// Logins that can be assigned (besides [`LOGIN`]).
    pub users: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            token_ttl: Duration::from_secs(3600),
            users: vec!["alice".into(), "bob".into()],
        }
    }
}

#[derive(Clone)]
pub struct GitHubServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<World>>,
}

struct World {
    addr: SocketAddr,
    opts: Options,
    repos: HashMap<String, Repo>,
    tokens: HashMap<String, Instant>,
    faults: VecDeque<(On, Fault)>,
    exhausted_until: Option<Instant>,
    used: u64,
    reset_epoch: u64,
    seen: Vec<Seen>,
    exchanges: usize,
    ids: Ids,
}

type Shared = Arc<Mutex<World>>;

impl GitHubServer {
    pub async fn start() -> GitHubServer {
        GitHubServer::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> GitHubServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(World {
            addr,
            opts,
            repos: HashMap::new(),
            tokens: HashMap::new(),
            faults: VecDeque::new(),
            exhausted_until: None,
            used: 0,
            reset_epoch: epoch_now() + 3600,
            seen: Vec::new(),
            exchanges: 0,
            ids: Ids {
                comment: 9000,
                event: 50_000,
            },
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GitHubServer { addr, state }
    }

    /// `http://127.0.0.1:PORT` (like `https://api.github.com`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/api/v3` (like Enterprise Server).
    pub fn enterprise_url(&self) -> String {
        format!("http://{}/api/v3", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Creates an empty repository (`owner/name`).
    pub fn add_repo(&self, repo: &str) {
        self.with(|w| {
            w.repos.entry(repo.to_ascii_lowercase()).or_insert(Repo {
                name: repo.to_owned(),
                labels: BTreeSet::new(),
                issues: Vec::new(),
            });
        });
    }

    /// Puts an issue in place directly (as [`LOGIN`]), e.g. an old one.
    pub fn seed_issue(
        &self,
        repo: &str,
        title: &str,
        body: &str,
        created_at: DateTime<Utc>,
    ) -> u64 {
        self.with(|w| {
            let r = w
                .repos
                .get_mut(&repo.to_ascii_lowercase())
                .expect("add_repo first");
            let number = r.issues.len() as u64 + 1;
            r.issues.push(Issue {
                number,
                title: title.into(),
                body: Some(body.into()),
                labels: Vec::new(),
                assignees: Vec::new(),
                state: "open".into(),
                author: LOGIN.into(),
                created_at,
                updated_at: created_at,
                closed_at: None,
                state_reason: None,
                closed_by: None,
                comments: Vec::new(),
                events: Vec::new(),
            });
            number
        })
    }

    pub fn issues(&self, repo: &str) -> Vec<TestIssue> {
        self.with(|w| {
            w.repos
                .get(&repo.to_ascii_lowercase())
                .map(|r| {
                    r.issues
                        .iter()
                        .map(|i| TestIssue {
                            number: i.number,
                            title: i.title.clone(),
                            body: i.body.clone().unwrap_or_default(),
                            labels: i.labels.clone(),
                            assignees: i.assignees.clone(),
                            state: i.state.clone(),
                            state_reason: i.state_reason.clone(),
                            author: i.author.clone(),
                            comments: i.comments.iter().map(|c| c.body.clone()).collect(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Someone (login `someone`) closes the issue as completed.
    pub fn close_issue(&self, repo: &str, number: u64) {
        self.human_close(repo, number, "someone", "completed");
    }

    /// Does `f` to an issue, now, as a person on github.com would: with the
    /// repository's labels and the id counters at hand.
    fn act<T>(
        &self,
        repo: &str,
        number: u64,
        f: impl FnOnce(&mut Issue, &mut BTreeSet<String>, &mut Ids, DateTime<Utc>) -> T,
    ) -> T {
        self.with(|w| {
            let r = w
                .repos
                .get_mut(&repo.to_ascii_lowercase())
                .expect("add_repo first");
            let issue = r
                .issues
                .iter_mut()
                .find(|i| i.number == number)
                .expect("no such issue");
            f(issue, &mut r.labels, &mut w.ids, Utc::now())
        })
    }

    /// `login` comments on the issue in the web UI.
    pub fn human_comment(&self, repo: &str, number: u64, login: &str, body: &str) {
        self.act(repo, number, |issue, _, ids, now| {
            ids.comment += 1;
            issue.comments.push(Comment {
                id: ids.comment,
                body: body.to_owned(),
                author: login.to_owned(),
                created_at: now,
                updated_at: now,
            });
            issue.touch(now);
        });
    }

    /// `by` assigns `assignee` (an `assigned` event; nothing when already assigned).
    pub fn human_assign(&self, repo: &str, number: u64, by: &str, assignee: &str) {
        self.act(repo, number, |issue, _, ids, now| {
            if !issue.assignees.iter().any(|a| a == assignee) {
                issue.assignees.push(assignee.to_owned());
                issue.record(&mut ids.event, now, by, What::Assigned(assignee.to_owned()));
            }
        });
    }

    /// `by` adds `label`, creating it in the repository if new (a `labeled`
    /// event; nothing when the issue has it already).
    pub fn human_label(&self, repo: &str, number: u64, by: &str, label: &str) {
        self.act(repo, number, |issue, labels, ids, now| {
            labels.insert(label.to_owned());
            if !issue.labels.iter().any(|l| l == label) {
                issue.labels.push(label.to_owned());
                issue.record(&mut ids.event, now, by, What::Labeled(label.to_owned()));
            }
        });
    }

    /// `by` closes the issue for `reason` (`completed` or `not_planned`): a
    /// `closed` event, `closed_by`; nothing when it is closed already.
    pub fn human_close(&self, repo: &str, number: u64, by: &str, reason: &str) {
        assert!(
            matches!(reason, "completed" | "not_planned"),
            "close reason {reason:?}: completed or not_planned"
        );
        self.act(repo, number, |issue, _, ids, now| {
            issue.close(&mut ids.event, now, by, reason);
        });
    }

    /// `by` reopens the issue (a `reopened` event, `state_reason`
    /// `reopened`); nothing when it is open.
    pub fn human_reopen(&self, repo: &str, number: u64, by: &str) {
        self.act(repo, number, |issue, _, ids, now| {
            issue.reopen(&mut ids.event, now, by);
        });
    }

    /// The issue's events as `(event, actor login)`, oldest first.
    pub fn events(&self, repo: &str, number: u64) -> Vec<(String, String)> {
        self.with(|w| {
            w.repos
                .get(&repo.to_ascii_lowercase())
                .and_then(|r| r.issues.iter().find(|i| i.number == number))
                .map(|i| {
                    i.events
                        .iter()
                        .map(|e| (e.what.name().to_owned(), e.actor.clone()))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Who wrote the issue's comments, oldest first.
    pub fn comment_authors(&self, repo: &str, number: u64) -> Vec<String> {
        self.with(|w| {
            w.repos
                .get(&repo.to_ascii_lowercase())
                .and_then(|r| r.issues.iter().find(|i| i.number == number))
                .map(|i| i.comments.iter().map(|c| c.author.clone()).collect())
                .unwrap_or_default()
        })
    }

    /// Arms a fault for the next content-creating request.
    pub fn fault(&self, fault: Fault) {
        self.fault_on(On::Content, fault);
    }

    /// Arms a fault for the next request matching `on`. Faults strike in the
    /// order they were armed; arm one several times for several requests.
    pub fn fault_on(&self, on: On, fault: Fault) {
        self.with(|w| w.faults.push_back((on, fault)));
    }

    /// Faults armed and not yet struck.
    pub fn pending_faults(&self) -> usize {
        self.with(|w| w.faults.len())
    }

    /// Every installation token issued so far stops working (401).
    pub fn revoke_tokens(&self) {
        self.with(|w| w.tokens.clear());
    }

    /// Installation tokens issued.
    pub fn token_exchanges(&self) -> usize {
        self.with(|w| w.exchanges)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.with(|w| w.seen.clone())
    }

    /// Requests seen on a route (answered any way).
    pub fn count(&self, route: Route) -> usize {
        self.with(|w| w.seen.iter().filter(|s| s.route == route).count())
    }

    /// Requests answered with `status`.
    pub fn count_status(&self, status: u16) -> usize {
        self.with(|w| w.seen.iter().filter(|s| s.status == status).count())
    }

    /// Arrival times of content-creating requests (tokio time).
    pub fn content_times(&self) -> Vec<Instant> {
        self.with(|w| {
            w.seen
                .iter()
                .filter(|s| s.route.is_content())
                .map(|s| s.at)
                .collect()
        })
    }
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (response, delay) = {
        let mut w = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        w.serve(&method, &uri, &headers, &body)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn json_response(status: StatusCode, value: Value) -> Response {
    let mut r = (status, value.to_string()).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn message(status: StatusCode, message: &str, docs: &str) -> Response {
    json_response(
        status,
        json!({"message": message, "documentation_url": docs, "status": status.as_u16().to_string()}),
    )
}

fn validation_failed(errors: Value) -> Response {
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({
            "message": "Validation Failed",
            "errors": errors,
            "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
            "status": "422",
        }),
    )
}

fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not Found",
        "https://docs.github.com/rest",
    )
}

fn bad_credentials() -> Response {
    message(
        StatusCode::UNAUTHORIZED,
        "Bad credentials",
        "https://docs.github.com/rest",
    )
}

fn too_long(resource: &str, field: &str, max: usize) -> Response {
    validation_failed(json!([{
        "resource": resource,
        "code": "custom",
        "field": field,
        "message": format!("{field} is too long (maximum is {max} characters)"),
    }]))
}

struct Parsed<'a> {
    route: Route,
    repo: Option<String>,
    number: Option<u64>,
    installation: Option<&'a str>,
}

fn parse_route<'a>(method: &Method, path: &'a str) -> Parsed<'a> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut p = Parsed {
        route: Route::Other,
        repo: None,
        number: None,
        installation: None,
    };
    match segs.as_slice() {
        ["repos", o, r, "issues", rest @ ..] => {
            p.repo = Some(format!("{o}/{r}"));
            let number = rest.first().and_then(|n| n.parse::<u64>().ok());
            p.route = match (method.as_str(), rest, number) {
                ("POST", [], _) => Route::CreateIssue,
                ("GET", [], _) => Route::ListIssues,
                ("GET", [_], Some(_)) => Route::GetIssue,
                ("PATCH", [_], Some(_)) => Route::UpdateIssue,
                ("POST", [_, "comments"], Some(_)) => Route::CreateComment,
                ("GET", [_, "comments"], Some(_)) => Route::ListComments,
                ("GET", [_, "events"], Some(_)) => Route::ListEvents,
                _ => Route::Other,
            };
            p.number = number;
        }
        ["app", "installations", id, "access_tokens"] if method == Method::POST => {
            p.route = Route::AccessToken;
            p.installation = Some(id);
        }
        ["rate_limit"] if method == Method::GET => p.route = Route::RateLimit,
        _ => {}
    }
    p
}

#[derive(serde::Deserialize)]
struct JwtClaims {
    iat: i64,
    exp: i64,
}

impl World {
    fn serve(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> (Response, Option<Duration>) {
        let now = Instant::now();
        let full = uri.path();
        let (enterprise, path) = match full.strip_prefix("/api/v3") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => (true, rest),
            _ => (false, full),
        };
        let base = if enterprise {
            format!("http://{}/api/v3", self.addr)
        } else {
            format!("http://{}", self.addr)
        };
        let query: Vec<(String, String)> = uri
            .query()
            .and_then(|q| reqwest::Url::parse(&format!("http://q/?{q}")).ok())
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default();
        let parsed = parse_route(method, path);
        let mut seen = Seen {
            method: method.to_string(),
            route: parsed.route,
            path: path.to_owned(),
            enterprise,
            status: 0,
            at: now,
            user_agent: header(headers, "user-agent"),
            accept: header(headers, "accept"),
            api_version: header(headers, "x-github-api-version"),
            credential: None,
        };
        // GitHub's front end answers 411 to a POST, PUT or PATCH that gives
        // no length at all (octocrab #463): a bodyless one must say `Content-Length: 0`.
        let (mut response, delay) = if matches!(*method, Method::POST | Method::PUT | Method::PATCH)
            && !headers.contains_key("content-length")
            && !headers.contains_key("transfer-encoding")
        {
            (
                message(
                    StatusCode::LENGTH_REQUIRED,
                    "Length Required",
                    "https://docs.github.com/rest",
                ),
                None,
            )
        } else {
            self.respond(&parsed, &base, path, &query, headers, body, now, &mut seen)
        };
        // Like `/rate_limit`, a 304 (a conditional request that found
        // nothing new) does not count against the quota.
        if seen.credential.is_some()
            && parsed.route != Route::RateLimit
            && response.status() != StatusCode::NOT_MODIFIED
        {
            self.used += 1;
        }
        if seen.credential.is_some() {
            self.rate_headers(&mut response, now);
        }
        seen.status = response.status().as_u16();
        self.seen.push(seen);
        (response, delay)
    }

    fn rate_headers(&self, response: &mut Response, now: Instant) {
        let (remaining, reset) = match self.exhausted_until {
            Some(until) if until > now => {
                (0, epoch_now() + (until - now).as_secs_f64().ceil() as u64)
            }
            _ => (QUOTA.saturating_sub(self.used), self.reset_epoch),
        };
        let h = response.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", QUOTA.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-used", (QUOTA - remaining).to_string()),
            ("x-ratelimit-reset", reset.to_string()),
            ("x-ratelimit-resource", "core".to_owned()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        parsed: &Parsed<'_>,
        base: &str,
        path: &str,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: &[u8],
        now: Instant,
        seen: &mut Seen,
    ) -> (Response, Option<Duration>) {
        if seen.user_agent.as_deref().is_none_or(str::is_empty) {
            return (
                message(
                    StatusCode::FORBIDDEN,
                    "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.",
                    "https://docs.github.com/rest",
                ),
                None,
            );
        }
        if parsed.route == Route::Other {
            return (not_found(), None);
        }
        let bearer = header(headers, "authorization").and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("token "))
                .map(str::to_owned)
        });
        let login = if parsed.route == Route::AccessToken {
            match bearer.as_deref().map(verify_jwt) {
                Some(Ok(())) => {
                    seen.credential = Some("jwt");
                    APP_LOGIN
                }
                Some(Err(why)) => {
                    return (
                        message(
                            StatusCode::UNAUTHORIZED,
                            &why,
                            "https://docs.github.com/rest",
                        ),
                        None,
                    );
                }
                None => return (bad_credentials(), None),
            }
        } else {
            match bearer.as_deref() {
                Some(TOKEN) => {
                    seen.credential = Some("pat");
                    LOGIN
                }
                Some(t) if self.tokens.get(t).is_some_and(|until| *until > now) => {
                    seen.credential = Some("installation");
                    APP_LOGIN
                }
                _ => return (bad_credentials(), None),
            }
        };
        if self.exhausted_until.is_some_and(|until| until > now) {
            return (primary_exhausted(), None);
        }
        let fault = self
            .faults
            .iter()
            .position(|(on, _)| on.matches(parsed.route))
            .and_then(|i| self.faults.remove(i))
            .map(|(_, f)| f);
        let mut delay = None;
        let mut lost = false;
        match fault {
            Some(Fault::SecondaryLimit { retry_after }) => {
                let mut r = message(StatusCode::FORBIDDEN, SECONDARY_MESSAGE, SECONDARY_DOCS);
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from(retry_after));
                return (r, None);
            }
            Some(Fault::SecondaryNoHeaders) => {
                return (
                    message(StatusCode::FORBIDDEN, SECONDARY_MESSAGE, SECONDARY_DOCS),
                    None,
                );
            }
            Some(Fault::TooMany429 { retry_after }) => {
                let mut r = message(
                    StatusCode::TOO_MANY_REQUESTS,
                    SECONDARY_MESSAGE,
                    SECONDARY_DOCS,
                );
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from(retry_after));
                return (r, None);
            }
            Some(Fault::PrimaryExhausted { reset_in }) => {
                self.exhausted_until = Some(now + Duration::from_secs(reset_in));
                return (primary_exhausted(), None);
            }
            Some(Fault::ServerError) => {
                return (
                    json_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        json!({"message": "Server Error"}),
                    ),
                    None,
                );
            }
            Some(Fault::Unauthorized) => return (bad_credentials(), None),
            Some(Fault::BadGatewayAfterCreate) => lost = true,
            Some(Fault::Slow(d)) => delay = Some(d),
            None => {}
        }
        let if_none_match = header(headers, "if-none-match");
        let response = self.dispatch(
            parsed,
            base,
            path,
            query,
            body,
            login,
            now,
            if_none_match.as_deref(),
        );
        if lost {
            let mut r = (
                StatusCode::BAD_GATEWAY,
                "<html><body><h1>502 Bad Gateway</h1>The server returned an invalid or incomplete response.</body></html>",
            )
                .into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("text/html"));
            return (r, None);
        }
        (response, delay)
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        parsed: &Parsed<'_>,
        base: &str,
        path: &str,
        query: &[(String, String)],
        body: &[u8],
        login: &str,
        now: Instant,
        if_none_match: Option<&str>,
    ) -> Response {
        match parsed.route {
            Route::AccessToken => self.access_token(parsed.installation.unwrap_or_default(), now),
            Route::RateLimit => {
                let core = json!({"limit": QUOTA, "used": self.used, "remaining": QUOTA.saturating_sub(self.used), "reset": self.reset_epoch});
                json_response(
                    StatusCode::OK,
                    json!({"resources": {"core": core}, "rate": core}),
                )
            }
            _ => {
                let key = parsed.repo.clone().unwrap_or_default().to_ascii_lowercase();
                let users: BTreeSet<String> = self
                    .opts
                    .users
                    .iter()
                    .cloned()
                    .chain([LOGIN.to_owned()])
                    .collect();
                let ids = &mut self.ids;
                let Some(repo) = self.repos.get_mut(&key) else {
                    return not_found();
                };
                repo.serve(
                    parsed,
                    base,
                    path,
                    query,
                    body,
                    login,
                    &users,
                    ids,
                    if_none_match,
                )
            }
        }
    }

    fn access_token(&mut self, installation: &str, now: Instant) -> Response {
        if installation != INSTALLATION_ID.to_string() {
            return not_found();
        }
        let token = format!("ghs_{}", uuid::Uuid::new_v4().simple());
        self.tokens.insert(token.clone(), now + self.opts.token_ttl);
        self.exchanges += 1;
        let expires = Utc::now()
            + chrono::TimeDelta::from_std(self.opts.token_ttl)
                .unwrap_or(chrono::TimeDelta::hours(1));
        json_response(
            StatusCode::CREATED,
            json!({
                "token": token,
                "expires_at": ts(expires),
                "permissions": {"issues": "write", "metadata": "read"},
                "repository_selection": "all",
            }),
        )
    }
}

fn primary_exhausted() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID 0000:TEST.",
        "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
    )
}

/// GitHub's checks on an App JWT: RS256 signed by the app key, `iss` the app
/// id, `iat` not in the future, `exp` not past and at most ten minutes ahead.
fn verify_jwt(jwt: &str) -> Result<(), String> {
    let key = DecodingKey::from_rsa_pem(APP_PUBLIC_PEM.as_bytes())
        .map_err(|e| format!("test key: {e}"))?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_required_spec_claims(&["exp", "iat", "iss"]);
    v.set_issuer(&[APP_ID]);
    v.leeway = 0;
    let claims = jsonwebtoken::decode::<JwtClaims>(jwt, &key, &v)
        .map_err(|e| format!("A JSON web token could not be decoded ({e})"))?
        .claims;
    let now = epoch_now() as i64;
    if claims.iat > now + 30 {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past".into(),
        );
    }
    if claims.exp > now + 600 + 30 {
        return Err("'Expiration time' claim ('exp') is too far in the future".into());
    }
    Ok(())
}
