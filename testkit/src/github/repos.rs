//! The repositories of the GitHub test server: issues, comments and issue
//! events as GitHub stores and shows them (JSON shapes, validation, filters,
//! sorting, `Link` paging, weak `ETag`s and `304 Not Modified` on the reads).
//! Authentication, faults and rate limits are the parent's.

use super::{
    HTML_ROOT, MAX_BODY, MAX_TITLE, Parsed, Route, json_response, message, not_found, too_long, ts,
    validation_failed,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hasher};

pub(super) struct Repo {
    pub(super) name: String,
    pub(super) labels: BTreeSet<String>,
    pub(super) issues: Vec<Issue>,
}

pub(super) struct Issue {
    pub(super) number: u64,
    pub(super) title: String,
    pub(super) body: Option<String>,
    pub(super) labels: Vec<String>,
    pub(super) assignees: Vec<String>,
    pub(super) state: String,
    pub(super) author: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) closed_at: Option<DateTime<Utc>>,
    /// `completed`, `not_planned` or `reopened`; `None` until first closed.
    pub(super) state_reason: Option<String>,
    /// Who closed it last (cleared on reopening).
    pub(super) closed_by: Option<String>,
    pub(super) comments: Vec<Comment>,
    /// Oldest first, as `GET .../issues/{n}/events` lists them.
    pub(super) events: Vec<Event>,
}

/// The next ids to hand out (comments and issue events are numbered
/// server-wide, as on GitHub).
pub(super) struct Ids {
    pub(super) comment: u64,
    pub(super) event: u64,
}

/// One entry of an issue's events.
pub(super) struct Event {
    pub(super) id: u64,
    pub(super) what: What,
    pub(super) actor: String,
    pub(super) created_at: DateTime<Utc>,
}

/// What an issue event was, with its detail.
pub(super) enum What {
    /// With its `state_reason` (`completed` or `not_planned`).
    Closed(String),
    Reopened,
    Labeled(String),
    Unlabeled(String),
    Assigned(String),
    Unassigned(String),
}

impl What {
    pub(super) fn name(&self) -> &'static str {
        match self {
            What::Closed(_) => "closed",
            What::Reopened => "reopened",
            What::Labeled(_) => "labeled",
            What::Unlabeled(_) => "unlabeled",
            What::Assigned(_) => "assigned",
            What::Unassigned(_) => "unassigned",
        }
    }
}

impl Issue {
    /// Records an event by `actor` at `at`; the issue counts as updated then.
    pub(super) fn record(&mut self, next_id: &mut u64, at: DateTime<Utc>, actor: &str, what: What) {
        *next_id += 1;
        self.events.push(Event {
            id: *next_id,
            what,
            actor: actor.to_owned(),
            created_at: at,
        });
        self.touch(at);
    }

    /// The issue was updated at `at` (never moves `updated_at` back).
    pub(super) fn touch(&mut self, at: DateTime<Utc>) {
        self.updated_at = self.updated_at.max(at);
    }

    /// Closes an open issue as `actor` for `reason` (`completed` or
    /// `not_planned`); a closed one stays as it is (no event).
    pub(super) fn close(
        &mut self,
        next_id: &mut u64,
        at: DateTime<Utc>,
        actor: &str,
        reason: &str,
    ) {
        if self.state == "closed" {
            return;
        }
        self.state = "closed".into();
        self.state_reason = Some(reason.to_owned());
        self.closed_at = Some(at);
        self.closed_by = Some(actor.to_owned());
        self.record(next_id, at, actor, What::Closed(reason.to_owned()));
    }

    /// Reopens a closed issue as `actor` (`state_reason` becomes
    /// `reopened`); an open one stays as it is (no event).
    pub(super) fn reopen(&mut self, next_id: &mut u64, at: DateTime<Utc>, actor: &str) {
        if self.state == "open" {
            return;
        }
        self.state = "open".into();
        self.state_reason = Some("reopened".into());
        self.closed_at = None;
        self.closed_by = None;
        self.record(next_id, at, actor, What::Reopened);
    }

    /// Sets the labels (duplicates dropped), recording `unlabeled` for each
    /// one gone and `labeled` for each one new.
    pub(super) fn set_labels(
        &mut self,
        next_id: &mut u64,
        at: DateTime<Utc>,
        actor: &str,
        labels: Vec<String>,
    ) {
        let labels = unique(labels);
        let removed: Vec<String> = self
            .labels
            .iter()
            .filter(|l| !labels.contains(l))
            .cloned()
            .collect();
        let added: Vec<String> = labels
            .iter()
            .filter(|l| !self.labels.contains(l))
            .cloned()
            .collect();
        self.labels = labels;
        for l in removed {
            self.record(next_id, at, actor, What::Unlabeled(l));
        }
        for l in added {
            self.record(next_id, at, actor, What::Labeled(l));
        }
    }

    /// Sets the assignees (duplicates dropped), recording `unassigned` for
    /// each one gone and `assigned` for each one new.
    pub(super) fn set_assignees(
        &mut self,
        next_id: &mut u64,
        at: DateTime<Utc>,
        actor: &str,
        assignees: Vec<String>,
    ) {
        let assignees = unique(assignees);
        let removed: Vec<String> = self
            .assignees
            .iter()
            .filter(|a| !assignees.contains(a))
            .cloned()
            .collect();
        let added: Vec<String> = assignees
            .iter()
            .filter(|a| !self.assignees.contains(a))
            .cloned()
            .collect();
        self.assignees = assignees;
        for a in removed {
            self.record(next_id, at, actor, What::Unassigned(a));
        }
        for a in added {
            self.record(next_id, at, actor, What::Assigned(a));
        }
    }
}

/// `items` in order, each once.
fn unique(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

pub(super) struct Comment {
    pub(super) id: u64,
    pub(super) body: String,
    pub(super) author: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

fn q<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `per_page` (default 30, at most 100) and `page` (from 1).
fn paging(query: &[(String, String)]) -> (usize, usize) {
    let per_page = q(query, "per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30usize)
        .clamp(1, 100);
    let page = q(query, "page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    (per_page, page)
}

/// A page of `items` with GitHub's `Link` header and weak `ETag` (or a
/// `304 Not Modified` when `If-None-Match` names that tag).
fn paged(
    base: &str,
    path: &str,
    query: &[(String, String)],
    items: Vec<Value>,
    if_none_match: Option<&str>,
) -> Response {
    let (per_page, page) = paging(query);
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = tagged(Value::Array(slice), if_none_match);
    let link_to = |p: usize| {
        let mut url = reqwest::Url::parse(&format!("{base}{path}")).expect("own url");
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query.iter().filter(|(k, _)| k != "page") {
                pairs.append_pair(k, v);
            }
            pairs.append_pair("page", &p.to_string());
        }
        url.to_string()
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", link_to(page - 1)));
        links.push(format!("<{}>; rel=\"first\"", link_to(1)));
    }
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        response.headers_mut().insert("link", v);
    }
    response
}

/// A `200` answer carrying GitHub's weak `ETag` (a hash of the body bytes),
/// or, when `If-None-Match` names that tag, `304 Not Modified` with an empty
/// body (the caller's cached copy is current).
fn tagged(value: Value, if_none_match: Option<&str>) -> Response {
    let tag = etag(value.to_string().as_bytes());
    let mut response = if if_none_match.is_some_and(|h| etag_matches(h, &tag)) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_response(StatusCode::OK, value)
    };
    if let Ok(v) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert("etag", v);
    }
    response
}

/// `W/"<32 hex digits>"` from the body bytes.
fn etag(body: &[u8]) -> String {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        h.write_u8(salt);
        h.write(body);
        h.finish()
    };
    format!("W/\"{:016x}{:016x}\"", half(0), half(1))
}

/// `If-None-Match` (one tag, a list, or `*`) against the current tag, by
/// weak comparison (a `W/` prefix does not matter).
fn etag_matches(header: &str, tag: &str) -> bool {
    fn opaque(t: &str) -> &str {
        let t = t.trim();
        t.strip_prefix("W/").unwrap_or(t)
    }
    header
        .split(',')
        .any(|t| t.trim() == "*" || opaque(t) == opaque(tag))
}

fn since_filter(query: &[(String, String)]) -> Result<Option<DateTime<Utc>>, Box<Response>> {
    match q(query, "since") {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                Box::new(validation_failed(
                    json!([{"resource": "Issue", "code": "invalid", "field": "since"}]),
                ))
            }),
    }
}

/// A JSON string field of a request body: absent, a string, or wrong.
fn text_field(value: &Value, name: &str) -> Result<Option<String>, ()> {
    match value.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(()),
    }
}

fn names(value: &Value, name: &str) -> Option<Vec<String>> {
    value.get(name)?.as_array().map(|a| {
        a.iter()
            .filter_map(|v| {
                v.as_str()
                    .or_else(|| v.get("name").and_then(Value::as_str))
                    .map(str::to_owned)
            })
            .collect()
    })
}

impl Repo {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn serve(
        &mut self,
        parsed: &Parsed<'_>,
        base: &str,
        path: &str,
        query: &[(String, String)],
        body: &[u8],
        login: &str,
        users: &BTreeSet<String>,
        ids: &mut Ids,
        if_none_match: Option<&str>,
    ) -> Response {
        let number = parsed.number.unwrap_or_default();
        let input = || {
            serde_json::from_slice::<Value>(body)
                .ok()
                .filter(Value::is_object)
        };
        match parsed.route {
            Route::CreateIssue => {
                let Some(input) = input() else {
                    return problems_parsing_json();
                };
                let title = match text_field(&input, "title") {
                    Ok(Some(t)) if !t.trim().is_empty() => t,
                    _ => {
                        return validation_failed(
                            json!([{"resource": "Issue", "code": "missing_field", "field": "title"}]),
                        );
                    }
                };
                if title.chars().count() > MAX_TITLE {
                    return too_long("Issue", "title", MAX_TITLE);
                }
                let Ok(body_text) = text_field(&input, "body") else {
                    return problems_parsing_json();
                };
                if body_text
                    .as_ref()
                    .is_some_and(|b| b.chars().count() > MAX_BODY)
                {
                    return too_long("Issue", "body", MAX_BODY);
                }
                let labels = names(&input, "labels").unwrap_or_default();
                self.labels.extend(labels.iter().cloned());
                let assignees = names(&input, "assignees")
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|a| users.contains(a))
                    .collect();
                let now = Utc::now();
                let mut issue = Issue {
                    number: self.issues.len() as u64 + 1,
                    title,
                    body: body_text,
                    labels: Vec::new(),
                    assignees: Vec::new(),
                    state: "open".into(),
                    author: login.to_owned(),
                    created_at: now,
                    updated_at: now,
                    closed_at: None,
                    state_reason: None,
                    closed_by: None,
                    comments: Vec::new(),
                    events: Vec::new(),
                };
                // GitHub records labels and assignees given at creation as
                // `labeled` and `assigned` events by the creator.
                issue.set_labels(&mut ids.event, now, login, labels);
                issue.set_assignees(&mut ids.event, now, login, assignees);
                let json = self.issue_full_json(base, &issue);
                self.issues.push(issue);
                json_response(StatusCode::CREATED, json)
            }
            Route::ListIssues => {
                let state = q(query, "state").unwrap_or("open");
                if !matches!(state, "open" | "closed" | "all") {
                    return validation_failed(
                        json!([{"resource": "Issue", "code": "invalid", "field": "state"}]),
                    );
                }
                let since = match since_filter(query) {
                    Ok(s) => s,
                    Err(r) => return *r,
                };
                let creator = q(query, "creator");
                let labels: Vec<&str> = q(query, "labels")
                    .map(|l| {
                        l.split(',')
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                let mut items: Vec<&Issue> = self
                    .issues
                    .iter()
                    .filter(|i| state == "all" || i.state == state)
                    .filter(|i| creator.is_none_or(|c| c.eq_ignore_ascii_case(&i.author)))
                    .filter(|i| labels.iter().all(|l| i.labels.iter().any(|il| il == l)))
                    .filter(|i| since.is_none_or(|s| i.updated_at >= s))
                    .collect();
                match q(query, "sort").unwrap_or("created") {
                    "updated" => items.sort_by_key(|i| (i.updated_at, i.number)),
                    "comments" => items.sort_by_key(|i| (i.comments.len(), i.number)),
                    _ => items.sort_by_key(|i| (i.created_at, i.number)),
                }
                if q(query, "direction") != Some("asc") {
                    items.reverse();
                }
                let json = items.iter().map(|i| self.issue_json(base, i)).collect();
                paged(base, path, query, json, if_none_match)
            }
            Route::GetIssue => match self.issues.iter().find(|i| i.number == number) {
                Some(i) => tagged(self.issue_full_json(base, i), if_none_match),
                None => not_found(),
            },
            Route::UpdateIssue => {
                let Some(input) = input() else {
                    return problems_parsing_json();
                };
                let Some(index) = self.issues.iter().position(|i| i.number == number) else {
                    return not_found();
                };
                let (Ok(title), Ok(body_text), Ok(state)) = (
                    text_field(&input, "title"),
                    text_field(&input, "body"),
                    text_field(&input, "state"),
                ) else {
                    return problems_parsing_json();
                };
                if body_text
                    .as_ref()
                    .is_some_and(|b| b.chars().count() > MAX_BODY)
                {
                    return too_long("Issue", "body", MAX_BODY);
                }
                if title
                    .as_ref()
                    .is_some_and(|t| t.chars().count() > MAX_TITLE)
                {
                    return too_long("Issue", "title", MAX_TITLE);
                }
                if state
                    .as_deref()
                    .is_some_and(|s| s != "open" && s != "closed")
                {
                    return validation_failed(
                        json!([{"resource": "Issue", "code": "invalid", "field": "state"}]),
                    );
                }
                // GitHub: `completed`, `not_planned`, `reopened` or null,
                // and only heeded when `state` changes.
                let state_reason = match input.get("state_reason") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(r))
                        if matches!(r.as_str(), "completed" | "not_planned" | "reopened") =>
                    {
                        Some(r.clone())
                    }
                    Some(_) => {
                        return validation_failed(
                            json!([{"resource": "Issue", "code": "invalid", "field": "state_reason"}]),
                        );
                    }
                };
                let labels = names(&input, "labels");
                if let Some(l) = &labels {
                    self.labels.extend(l.iter().cloned());
                }
                let assignees = names(&input, "assignees").map(|a| {
                    a.into_iter()
                        .filter(|a| users.contains(a))
                        .collect::<Vec<_>>()
                });
                let now = Utc::now();
                let issue = &mut self.issues[index];
                if let Some(t) = title {
                    issue.title = t;
                }
                if let Some(b) = body_text {
                    issue.body = Some(b);
                }
                match state.as_deref() {
                    Some("closed") => {
                        let reason = match state_reason.as_deref() {
                            Some("not_planned") => "not_planned",
                            _ => "completed",
                        };
                        issue.close(&mut ids.event, now, login, reason);
                    }
                    Some("open") => issue.reopen(&mut ids.event, now, login),
                    _ => {}
                }
                if let Some(l) = labels {
                    issue.set_labels(&mut ids.event, now, login, l);
                }
                if let Some(a) = assignees {
                    issue.set_assignees(&mut ids.event, now, login, a);
                }
                issue.touch(now);
                let issue = &self.issues[index];
                json_response(StatusCode::OK, self.issue_full_json(base, issue))
            }
            Route::CreateComment => {
                let Some(input) = input() else {
                    return problems_parsing_json();
                };
                let text = match text_field(&input, "body") {
                    Ok(Some(t)) if !t.is_empty() => t,
                    _ => {
                        return validation_failed(
                            json!([{"resource": "IssueComment", "code": "missing_field", "field": "body"}]),
                        );
                    }
                };
                if text.chars().count() > MAX_BODY {
                    return too_long("IssueComment", "body", MAX_BODY);
                }
                let repo_name = self.name.clone();
                let Some(issue) = self.issues.iter_mut().find(|i| i.number == number) else {
                    return not_found();
                };
                ids.comment += 1;
                let now = Utc::now();
                let comment = Comment {
                    id: ids.comment,
                    body: text,
                    author: login.to_owned(),
                    created_at: now,
                    updated_at: now,
                };
                issue.touch(now);
                let json = comment_json(base, &repo_name, number, &comment);
                issue.comments.push(comment);
                json_response(StatusCode::CREATED, json)
            }
            Route::ListComments => {
                let since = match since_filter(query) {
                    Ok(s) => s,
                    Err(r) => return *r,
                };
                let Some(issue) = self.issues.iter().find(|i| i.number == number) else {
                    return not_found();
                };
                let json = issue
                    .comments
                    .iter()
                    .filter(|c| since.is_none_or(|s| c.updated_at >= s))
                    .map(|c| comment_json(base, &self.name, number, c))
                    .collect();
                paged(base, path, query, json, if_none_match)
            }
            Route::ListEvents => {
                let Some(issue) = self.issues.iter().find(|i| i.number == number) else {
                    return not_found();
                };
                let json = issue
                    .events
                    .iter()
                    .map(|e| event_json(base, &self.name, e))
                    .collect();
                paged(base, path, query, json, if_none_match)
            }
            _ => not_found(),
        }
    }

    pub(super) fn issue_json(&self, base: &str, i: &Issue) -> Value {
        let name = &self.name;
        let n = i.number;
        json!({
            "id": 100_000 + n,
            "node_id": format!("I_test{n}"),
            "number": n,
            "url": format!("{base}/repos/{name}/issues/{n}"),
            "html_url": format!("{HTML_ROOT}/{name}/issues/{n}"),
            "comments_url": format!("{base}/repos/{name}/issues/{n}/comments"),
            "state": i.state,
            "title": i.title,
            "body": i.body,
            "user": user_json(&i.author),
            "labels": i.labels.iter().map(|l| json!({"name": l, "color": "ededed", "default": false})).collect::<Vec<_>>(),
            "assignee": i.assignees.first().map(|a| user_json(a)),
            "assignees": i.assignees.iter().map(|a| user_json(a)).collect::<Vec<_>>(),
            "comments": i.comments.len(),
            "locked": false,
            "created_at": ts(i.created_at),
            "updated_at": ts(i.updated_at),
            "closed_at": i.closed_at.map(ts),
            "state_reason": i.state_reason,
            "author_association": "NONE",
        })
    }

    /// An issue as the single-issue answers show it (get, create, update):
    /// the listing's shape plus `closed_by`.
    pub(super) fn issue_full_json(&self, base: &str, i: &Issue) -> Value {
        let mut json = self.issue_json(base, i);
        json["closed_by"] = i.closed_by.as_deref().map_or(Value::Null, user_json);
        json
    }
}

fn user_json(login: &str) -> Value {
    json!({
        "login": login,
        "type": if login.ends_with("[bot]") { "Bot" } else { "User" },
    })
}

fn comment_json(base: &str, repo: &str, number: u64, c: &Comment) -> Value {
    json!({
        "id": c.id,
        "url": format!("{base}/repos/{repo}/issues/comments/{}", c.id),
        "html_url": format!("{HTML_ROOT}/{repo}/issues/{number}#issuecomment-{}", c.id),
        "issue_url": format!("{base}/repos/{repo}/issues/{number}"),
        "body": c.body,
        "user": user_json(&c.author),
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
    })
}

/// An entry of `GET /repos/{owner}/{repo}/issues/{number}/events`.
fn event_json(base: &str, repo: &str, e: &Event) -> Value {
    let mut json = json!({
        "id": e.id,
        "node_id": format!("IE_test{}", e.id),
        "url": format!("{base}/repos/{repo}/issues/events/{}", e.id),
        "actor": user_json(&e.actor),
        "event": e.what.name(),
        "commit_id": null,
        "commit_url": null,
        "created_at": ts(e.created_at),
        "performed_via_github_app": null,
    });
    match &e.what {
        What::Closed(reason) => json["state_reason"] = json!(reason),
        What::Reopened => json["state_reason"] = json!("reopened"),
        What::Labeled(l) | What::Unlabeled(l) => {
            json["label"] = json!({"name": l, "color": "ededed"});
        }
        What::Assigned(a) | What::Unassigned(a) => {
            json["assignee"] = user_json(a);
            json["assigner"] = user_json(&e.actor);
        }
    }
    json
}

fn problems_parsing_json() -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "Problems parsing JSON",
        "https://docs.github.com/rest",
    )
}
