//! The project's Falcon Alerts API test server speaks Falcon's wire shapes:
//! search-after paging with `after` tokens bound to their filter, FQL time
//! filters compared as times, faults with Falcon's rate-limit headers, PATCH
//! actions applied and recorded, tokens required. The enricher's client is
//! tested against it in `response_loop.rs`.

use chrono::SecondsFormat;
use falconry_testkit::falcon::alerts::{AlertsEndpoint, AlertsFault, CID, alert};
use falconry_testkit::falcon::{Falcon, World};
use reqwest::Method;
use serde_json::{Value, json};

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

const TOKEN: &str = "bearer-alerts-test";
const AID: &str = "4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c";
const QUERY: &str = "/alerts/combined/alerts/v1";
const GET: &str = "/alerts/entities/alerts/v2";
const PATCH: &str = "/alerts/entities/alerts/v3";

async fn server() -> Falcon {
    let f = Falcon::start(World::default()).await;
    f.with(|w| w.tokens.insert(TOKEN.to_owned()));
    f
}

fn cid(i: usize) -> String {
    format!("{CID}:ind:{AID}:{i:05}")
}

/// 2026-03-01T00:00:00Z plus `secs`, as Falcon writes it.
fn at(secs: i64) -> String {
    (parse_time("2026-03-01T00:00:00Z").unwrap() + chrono::TimeDelta::seconds(secs))
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn call(
    f: &Falcon,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut rq = reqwest::Client::new()
        .request(method, format!("{}{path}", f.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        rq = rq.bearer_auth(t);
    }
    let r = rq.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn query(f: &Falcon, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
    call(f, Method::POST, QUERY, Some(TOKEN), &body).await
}

fn ids_of(v: &Value) -> Vec<String> {
    v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["composite_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_through_2500_alerts_with_after_tokens() {
    let f = server().await;
    for i in 0..2500 {
        let product = if i % 2 == 0 { "epp" } else { "idp" };
        // Inserted out of time order: the server sorts.
        let secs = i64::try_from((i * 7) % 2500).unwrap();
        f.add_alert(alert(&cid(i), product, AID, "host-1", 50, &at(secs)));
    }
    let filter = format!("updated_timestamp:>='{}'", at(0));
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"filter": filter, "sort": "updated_timestamp|asc", "limit": 1000});
        if let Some(a) = &after {
            body["after"] = a.clone().into();
        }
        let (status, h, v) = query(&f, body).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(h["x-ratelimit-limit"], "6000");
        assert!(h.contains_key("x-ratelimit-remaining"));
        assert_eq!(v["meta"]["pagination"]["total"], 2500);
        assert_eq!(v["meta"]["pagination"]["limit"], 1000);
        assert_eq!(v["errors"], json!([]));
        pages += 1;
        seen.extend(
            v["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["updated_timestamp"].as_str().unwrap().to_owned()),
        );
        match v["meta"]["pagination"].get("after") {
            Some(a) => {
                assert_eq!(v["resources"].as_array().unwrap().len(), 1000);
                after = Some(a.as_str().unwrap().to_owned());
            }
            None => {
                assert_eq!(v["resources"].as_array().unwrap().len(), 500);
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(f.alert_queries(), 3);
    let want: Vec<String> = (0..2500).map(at).collect();
    assert_eq!(seen, want, "every alert once, ascending");

    // A token only goes with the query that made it.
    let (_, _, v) = query(&f, json!({"filter": filter, "limit": 1000})).await;
    let token = v["meta"]["pagination"]["after"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = format!("updated_timestamp:>'{}'", at(0));
    let (status, _, v) = query(&f, json!({"filter": other, "limit": 1000, "after": token})).await;
    assert_eq!(status, 400);
    assert_eq!(v["errors"][0]["code"], 400);
    let (status, _, _) = query(&f, json!({"filter": filter, "after": "garbage"})).await;
    assert_eq!(status, 400);

    // The limit's bounds and default.
    let (status, _, v) = query(&f, json!({"limit": 1001})).await;
    assert_eq!(status, 400);
    assert_eq!(v["errors"][0]["code"], 400);
    assert!(v["errors"][0]["message"].is_string());
    let (status, _, v) = query(&f, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(v["resources"].as_array().unwrap().len(), 100);
    assert_eq!(v["meta"]["pagination"]["limit"], 100);
}

#[tokio::test]
async fn filter_compares_times_not_strings() {
    let f = server().await;
    f.add_alert(alert(&cid(1), "epp", AID, "h", 10, &at(0)));
    f.add_alert(alert(&cid(2), "epp", AID, "h", 30, &at(3600)));
    f.add_alert(alert(&cid(3), "idp", AID, "h", 90, &at(7200)));
    // 01:00Z written as 02:00+01:00: no string comparison gets this right.
    let one = "2026-03-01T02:00:00+01:00";
    let (status, _, v) = query(
        &f,
        json!({"filter": format!("updated_timestamp:>='{one}'")}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(ids_of(&v), [cid(2), cid(3)]);
    let (_, _, v) = query(&f, json!({"filter": format!("updated_timestamp:>'{one}'")})).await;
    assert_eq!(ids_of(&v), [cid(3)]);
    let (_, _, v) = query(
        &f,
        json!({"filter": format!("updated_timestamp:>='{}'+product:['epp','xdr']", at(0))}),
    )
    .await;
    assert_eq!(ids_of(&v), [cid(1), cid(2)]);
    let (_, _, v) = query(&f, json!({"filter": "product:'idp'"})).await;
    assert_eq!(ids_of(&v), [cid(3)]);
    let (_, _, v) = query(&f, json!({"sort": "updated_timestamp|desc"})).await;
    assert_eq!(ids_of(&v), [cid(3), cid(2), cid(1)]);
    assert_eq!(v["resources"][0]["severity_name"], "Critical");
    assert_eq!(v["resources"][2]["severity_name"], "Informational");
    let (status, _, _) = query(&f, json!({"filter": "updated_timestamp:>='yesterday'"})).await;
    assert_eq!(status, 400);

    // A console change moves the alert past the cursor.
    f.console_close(&cid(1), "analyst@example.com", "false_positive");
    let (_, _, v) = query(
        &f,
        json!({"filter": format!("updated_timestamp:>'{}'", at(7200))}),
    )
    .await;
    // (The alerts above are dated 2026-03-01; the console's change is now.)
    assert_eq!(ids_of(&v), [cid(1)]);
    assert_eq!(v["resources"][0]["status"], "closed");
    assert_eq!(v["resources"][0]["tags"], json!(["false_positive"]));
    assert_eq!(v["resources"][0]["assigned_to_name"], "analyst@example.com");
    f.console_reopen(&cid(1));
    assert_eq!(f.alert(&cid(1)).unwrap()["status"], "reopened");
}

#[tokio::test]
async fn faults_strike_their_endpoint_in_order() {
    let f = server().await;
    f.add_alert(alert(&cid(1), "epp", AID, "h", 50, &at(0)));
    f.fault_alerts(AlertsEndpoint::Query, AlertsFault::RateLimited);
    f.fault_alerts(AlertsEndpoint::Query, AlertsFault::Dropped);
    f.fault_alerts(AlertsEndpoint::Get, AlertsFault::ServerError);
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let (status, h, v) = query(&f, json!({})).await;
    assert_eq!(status, 429);
    assert_eq!(h["x-ratelimit-limit"], "6000");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["retry-after"], "1");
    let retry: u64 = h["x-ratelimit-retryafter"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((epoch..=epoch + 3).contains(&retry), "{retry} vs {epoch}");
    assert_eq!(v["errors"][0]["code"], 429);

    let (status, _, _) = query(&f, json!({})).await;
    assert_eq!(status, 503);
    let (status, h, _) = query(&f, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(h["x-ratelimit-remaining"], "5999");
    assert_eq!(f.alert_queries(), 3);

    let get = json!({"composite_ids": [cid(1)], "include_hidden": true});
    let (status, _, _) = call(&f, Method::POST, GET, Some(TOKEN), &get).await;
    assert_eq!(status, 500);
    let (status, _, v) = call(&f, Method::POST, GET, Some(TOKEN), &get).await;
    assert_eq!(status, 200);
    assert_eq!(ids_of(&v), [cid(1)]);
    let (status, _, v) = call(
        &f,
        Method::POST,
        GET,
        Some(TOKEN),
        &json!({"composite_ids": ["nope"]}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(v["resources"], json!([]));
    assert_eq!(v["errors"][0]["code"], 404);
}

#[tokio::test]
async fn patch_applies_actions_and_records_them() {
    let f = server().await;
    f.add_alert(alert(&cid(1), "epp", AID, "h", 50, "2024-01-01T00:00:00Z"));
    f.add_alert(alert(&cid(2), "idp", AID, "h", 50, "2024-01-01T00:00:00Z"));
    assert!(f.alert(&cid(2)).unwrap().get("cmdline").is_none());
    assert_eq!(f.alert(&cid(2)).unwrap()["source_endpoint_host_name"], "h");
    let body = json!({
        "composite_ids": [cid(1), "missing"],
        "action_parameters": [
            {"name": "update_status", "value": "in_progress"},
            {"name": "add_tag", "value": "falconry"},
            {"name": "add_tag", "value": "triaged"},
            {"name": "append_comment", "value": "looked at by falconry"},
            {"name": "assign_to_name", "value": "falconry-bot"},
        ],
    });
    let (status, h, v) = call(&f, Method::PATCH, PATCH, Some(TOKEN), &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(h["x-ratelimit-limit"], "6000");
    assert_eq!(v["resources"], json!([]));
    assert_eq!(v["errors"].as_array().unwrap().len(), 1);
    assert_eq!(v["errors"][0]["code"], 404);
    let a = f.alert(&cid(1)).unwrap();
    assert_eq!(a["status"], "in_progress");
    assert_eq!(a["tags"], json!(["falconry", "triaged"]));
    assert_eq!(a["assigned_to_name"], "falconry-bot");
    let updated = parse_time(a["updated_timestamp"].as_str().unwrap()).unwrap();
    assert!(updated > parse_time("2024-01-01T00:00:00Z").unwrap());
    assert!(a["updated_timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(f.alert_comments(&cid(1)), ["looked at by falconry"]);
    assert!(a.get("comments").is_none());
    assert_eq!(f.alert(&cid(2)).unwrap()["status"], "new");
    let patches = f.alert_patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].0, [cid(1), "missing".to_owned()]);
    assert_eq!(patches[0].1.len(), 5);
    assert_eq!(
        patches[0].1[0],
        ("update_status".to_owned(), "in_progress".to_owned())
    );

    // A bad status changes nothing and is not recorded.
    let bad = json!({
        "composite_ids": [cid(1)],
        "action_parameters": [{"name": "update_status", "value": "resolved"}],
    });
    let (status, _, v) = call(&f, Method::PATCH, PATCH, Some(TOKEN), &bad).await;
    assert_eq!(status, 400);
    assert_eq!(v["errors"][0]["code"], 400);
    assert_eq!(f.alert(&cid(1)).unwrap()["status"], "in_progress");
    assert_eq!(f.alert_patches().len(), 1);

    // Applied, answer lost.
    f.fault_alerts(AlertsEndpoint::Patch, AlertsFault::LostAnswer);
    let close = json!({
        "composite_ids": [cid(1)],
        "action_parameters": [
            {"name": "update_status", "value": "closed"},
            {"name": "remove_tag", "value": "triaged"},
            {"name": "unassign", "value": ""},
            {"name": "append_comment", "value": "closed by falconry"},
        ],
    });
    let (status, _, _) = call(&f, Method::PATCH, PATCH, Some(TOKEN), &close).await;
    assert_eq!(status, 502);
    let a = f.alert(&cid(1)).unwrap();
    assert_eq!(a["status"], "closed");
    assert_eq!(a["tags"], json!(["falconry"]));
    assert!(a.get("assigned_to_name").is_none());
    assert_eq!(
        f.alert_comments(&cid(1)),
        ["looked at by falconry", "closed by falconry"]
    );
    assert_eq!(f.alert_patches().len(), 2);
}

#[tokio::test]
async fn every_endpoint_wants_a_live_token() {
    let f = server().await;
    f.add_alert(alert(&cid(1), "epp", AID, "h", 50, &at(0)));
    let get = json!({"composite_ids": [cid(1)]});
    let patch = json!({
        "composite_ids": [cid(1)],
        "action_parameters": [{"name": "update_status", "value": "closed"}],
    });
    for token in [None, Some("bearer-unknown")] {
        let (status, _, v) = call(&f, Method::POST, QUERY, token, &json!({})).await;
        assert_eq!(status, 401);
        assert_eq!(v["errors"][0]["code"], 401);
        let (status, _, _) = call(&f, Method::POST, GET, token, &get).await;
        assert_eq!(status, 401);
        let (status, _, _) = call(&f, Method::PATCH, PATCH, token, &patch).await;
        assert_eq!(status, 401);
    }
    assert_eq!(f.with_alerts(|a| a.bad_auth), 6);
    assert_eq!(f.alert_queries(), 0);
    assert!(f.alert_patches().is_empty());
    assert_eq!(f.alert(&cid(1)).unwrap()["status"], "new");
}
