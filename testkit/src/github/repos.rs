//! The repositories of the GitHub test server: issues and comments as
//! GitHub stores and shows them (JSON shapes, validation, filters, sorting,
//! `Link` paging). Authentication, faults and rate limits are the parent's.

use super::{
    HTML_ROOT, MAX_BODY, MAX_TITLE, Parsed, Route, json_response, message, not_found, too_long, ts,
    validation_failed,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeSet;

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
    pub(super) comments: Vec<Comment>,
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

/// A page of `items` with GitHub's `Link` header.
fn paged(base: &str, path: &str, query: &[(String, String)], items: Vec<Value>) -> Response {
    let (per_page, page) = paging(query);
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = json_response(StatusCode::OK, Value::Array(slice));
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
        next_comment_id: &mut u64,
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
                let issue = Issue {
                    number: self.issues.len() as u64 + 1,
                    title,
                    body: body_text,
                    labels,
                    assignees,
                    state: "open".into(),
                    author: login.to_owned(),
                    created_at: now,
                    updated_at: now,
                    closed_at: None,
                    comments: Vec::new(),
                };
                let json = self.issue_json(base, &issue);
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
                paged(base, path, query, json)
            }
            Route::GetIssue => match self.issues.iter().find(|i| i.number == number) {
                Some(i) => json_response(StatusCode::OK, self.issue_json(base, i)),
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
                let labels = names(&input, "labels");
                if let Some(l) = &labels {
                    self.labels.extend(l.iter().cloned());
                }
                let issue = &mut self.issues[index];
                if let Some(t) = title {
                    issue.title = t;
                }
                if let Some(b) = body_text {
                    issue.body = Some(b);
                }
                if let Some(s) = state {
                    issue.closed_at = (s == "closed").then(Utc::now);
                    issue.state = s;
                }
                if let Some(l) = labels {
                    issue.labels = l;
                }
                if let Some(a) = names(&input, "assignees") {
                    issue.assignees = a.into_iter().filter(|a| users.contains(a)).collect();
                }
                issue.updated_at = Utc::now();
                let issue = &self.issues[index];
                json_response(StatusCode::OK, self.issue_json(base, issue))
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
                *next_comment_id += 1;
                let now = Utc::now();
                let comment = Comment {
                    id: *next_comment_id,
                    body: text,
                    author: login.to_owned(),
                    created_at: now,
                    updated_at: now,
                };
                issue.updated_at = now;
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
                paged(base, path, query, json)
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
            "author_association": "NONE",
        })
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

fn problems_parsing_json() -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "Problems parsing JSON",
        "https://docs.github.com/rest",
    )
}
