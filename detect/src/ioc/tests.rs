//! A TAXII 2.1 collection read from the project's own TAXII server: paging,
//! the cursor, 429 and 503 waited out, credentials refused.

use super::formats::{self, Parsed};
use super::taxii::{Taxii, TaxiiAuth, TaxiiError};
use falconry_common::Secret;
use falconry_testkit::taxii::{PASSWORD, TaxiiFault, TaxiiServer, USER};
use serde_json::json;

fn indicator(n: usize) -> serde_json::Value {
    json!({
        "type": "indicator", "spec_version": "2.1", "id": format!("indicator--{n:08}"),
        "created": "2026-11-01T00:00:00Z", "modified": "2026-11-01T00:00:00Z",
        "pattern_type": "stix", "valid_from": "2026-11-01T00:00:00Z",
        "pattern": format!("[ipv4-addr:value = '198.51.{}.{}']", n / 250, n % 250),
    })
}

fn client(server: &TaxiiServer, password: &str) -> Taxii {
    Taxii::new(
        &server.collection_url("c2"),
        Some(TaxiiAuth::Basic {
            user: USER.into(),
            password: Secret::new(password),
        }),
    )
    .unwrap()
}

#[tokio::test]
async fn a_collection_paged_from_its_cursor() {
    let server = TaxiiServer::start().await;
    let first: Vec<_> = (0..250).map(indicator).collect();
    let mut with_other = first.clone();
    with_other.push(json!({"type": "malware", "id": "malware--1", "name": "x"}));
    server.add("c2", "2026-11-01T00:00:00.000Z", with_other);
    server.arm(TaxiiFault::RateLimited { retry_after: 0 });
    server.arm(TaxiiFault::Unavailable);
    let taxii = client(&server, PASSWORD);
    let pulled = taxii.pull(None, 100_000).await.unwrap();
    assert_eq!(pulled.objects.len(), 250);
    assert_eq!(pulled.other, 1);
    assert_eq!(pulled.pages, 3, "100 per page, as the server serves");
    assert_eq!(pulled.cursor.as_deref(), Some("2026-11-01T00:00:00.000Z"));
    assert!(!pulled.more);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 5, "a 429 and a 503 waited out, then 3 pages");
    assert!(reqs.iter().all(|r| r.authenticated));
    assert_eq!(reqs[3].query.get("next").map(String::as_str), Some("100"));
    let mut parsed = Parsed::default();
    formats::stix_objects("taxii", pulled.objects.iter(), &mut parsed);
    assert_eq!(parsed.indicators.len(), 250);

    // From the cursor: only what was added since.
    server.add("c2", "2026-11-02T00:00:00.000Z", vec![indicator(900)]);
    let next = taxii.pull(pulled.cursor.as_deref(), 100_000).await.unwrap();
    assert_eq!(next.objects.len(), 1);
    assert_eq!(next.cursor.as_deref(), Some("2026-11-02T00:00:00.000Z"));
    let last = server.requests().pop().unwrap();
    assert_eq!(
        last.query.get("added_after").map(String::as_str),
        Some("2026-11-01T00:00:00.000Z")
    );
    // Nothing new: the cursor stays.
    let none = taxii.pull(next.cursor.as_deref(), 100_000).await.unwrap();
    assert!(none.objects.is_empty());
    assert_eq!(none.cursor, next.cursor);
    // A pull stops at its bound and says more are waiting.
    let bounded = taxii.pull(None, 150).await.unwrap();
    assert!(
        bounded.more && bounded.objects.len() == 200,
        "{}",
        bounded.objects.len()
    );
}

#[tokio::test]
async fn refused_credentials_stop_without_showing_them() {
    let server = TaxiiServer::start().await;
    server.add("c2", "2026-11-01T00:00:00.000Z", vec![indicator(1)]);
    let e = client(&server, "wrong-password-xyz")
        .pull(None, 10)
        .await
        .unwrap_err();
    assert!(matches!(e, TaxiiError::Status { status: 401, .. }), "{e}");
    assert!(!e.to_string().contains("wrong-password-xyz"));
    let missing = Taxii::new(
        &format!("http://{}/api1/collections/nope/", server.addr),
        Some(TaxiiAuth::Basic {
            user: USER.into(),
            password: Secret::new(PASSWORD),
        }),
    )
    .unwrap();
    let e = missing.pull(None, 10).await.unwrap_err();
    assert!(matches!(e, TaxiiError::Status { status: 404, .. }), "{e}");
}
