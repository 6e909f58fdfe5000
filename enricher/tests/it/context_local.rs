//! The context providers that answer from local or self-hosted sources, against real stand-ins:
//! DNS against a DNS server on 127.0.0.1 (answers, NXDOMAIN, a name it never answers), GeoIP/ASN
//! against MaxMind DB files the fixtures crate writes, the directory against CSV/JSON files on
//! disk and on moto's S3. Proves that each section renders from real answers, that the cache
//! turns concurrent alerts into one query, that changed files are reloaded (and broken ones do
//! not replace good ones), and that failures come back as failures with a reason.

use falconry_enricher::alert::normalize::{Selection, normalize};
use falconry_enricher::alert::{Alert, AlertKind, Enrichment, Section};
use falconry_enricher::context::directory::{self, DirectoryConfig};
use falconry_enricher::context::dns::{self, DnsConfig, DnsMode};
use falconry_enricher::context::geoip::{self, GeoIpConfig};
use falconry_enricher::context::{Context, Provider};
use falconry_enricher::policy::Policy;
use falconry_fixtures::{
    BAD_DOMAIN, BatchOptions, C2_IP, CityRecord, DETECTION_NAME, SCENARIO_HOST_AID,
    SCENARIO_HOSTNAME, SCENARIO_USER, SERVICE_ACCOUNT, StreamOptions, stream_events,
    write_city_mmdb, write_directory, write_geoip_fixtures,
};
use falconry_testkit::dns::{DnsServer, Zone};
use hickory_proto::rr::RecordType;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The planted incident's detection (PowerShell on WKS-ACCT-0042 talking to the C2).
fn planted_alert() -> Alert {
    stream_events(&StreamOptions::default())
        .iter()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.line).ok()?;
            normalize(&v, &Selection::default(), Default::default()).ok()?
        })
        .find(|a| a.name == DETECTION_NAME && a.host.hostname.as_deref() == Some(SCENARIO_HOSTNAME))
        .expect("the stream fixture carries the planted detection")
}

/// An alert naming exactly these domains and addresses (and no host address).
fn alert_naming(domains: &[&str], ips: &[&str]) -> Alert {
    let mut a = planted_alert();
    a.domains = domains
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    a.ips = ips.iter().map(std::string::ToString::to_string).collect();
    a.connections.clear();
    a.host.external_ip = None;
    a
}

async fn section(provider: &Arc<dyn Provider>, alert: &Alert) -> Section {
    let mut c = Context::new(Duration::from_secs(30));
    c.add(provider.clone());
    c.gather(alert).await.sections.remove(0)
}

fn rows(s: &Section) -> Vec<Vec<&str>> {
    s.table
        .rows
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// DNS

fn zone() -> Zone {
    Zone::default()
        .a(BAD_DOMAIN, C2_IP, 300)
        .a(BAD_DOMAIN, "2001:db8:66::1", 600)
        .a("flux.example", "198.51.100.99", 0)
        .ptr(C2_IP, "c2.northwind-hosting.example.", 3600)
        .gone("gone.example")
        .silent("blackhole.example")
}

fn dns_provider(server: &DnsServer, timeout: Duration) -> Arc<dyn Provider> {
    dns::build(&DnsConfig {
        mode: DnsMode::Configured,
        nameservers: vec![server.addr.to_string()],
        timeout,
        ..DnsConfig::default()
    })
    .unwrap()
    .expect("configured mode is on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_renders_real_answers_and_a_silent_name_fails_alone_within_its_timeout() {
    let server = DnsServer::start(zone()).await;
    let timeout = Duration::from_secs(2);
    let dns = dns_provider(&server, timeout);
    let alert = alert_naming(
        &[BAD_DOMAIN, "gone.example", "blackhole.example"],
        &[C2_IP, "10.20.30.42", "198.51.100.7"],
    );
    let started = std::time::Instant::now();
    let s = section(&dns, &alert).await;
    let took = started.elapsed();
    assert!(
        took >= timeout / 2,
        "the silent name was waited for ({took:?})"
    );
    assert!(
        took < timeout + Duration::from_secs(3),
        "and not much past its timeout ({took:?})"
    );

    assert_eq!(s.status.as_str(), "available", "{:?}", s.status);
    assert_eq!(s.table.columns, ["Name", "Type", "Answer"]);
    assert_eq!(
        rows(&s),
        [
            vec![BAD_DOMAIN, "A", C2_IP],
            vec![BAD_DOMAIN, "AAAA", "2001:db8:66::1"],
            vec![
                "gone.example",
                "A/AAAA",
                "no records (no such name, or none of this type)"
            ],
            vec![
                "blackhole.example",
                "A/AAAA",
                "lookup failed: no answer within 2000 ms"
            ],
            vec![C2_IP, "PTR", "c2.northwind-hosting.example."],
            vec![
                "198.51.100.7",
                "PTR",
                "no records (no such name, or none of this type)"
            ],
        ]
    );
    assert_eq!(s.notes, ["1 private or reserved addresses not looked up."]);
    assert_eq!(
        s.data["domains"][BAD_DOMAIN],
        json!({"status": "found", "reason": null, "a": [C2_IP], "aaaa": ["2001:db8:66::1"]})
    );
    assert_eq!(s.data["domains"]["gone.example"]["status"], "not_found");
    assert_eq!(s.data["domains"]["blackhole.example"]["status"], "failed");
    assert_eq!(
        s.data["domains"]["blackhole.example"]["reason"],
        "no answer within 2000 ms"
    );
    assert_eq!(
        s.data["ips"][C2_IP]["ptr"],
        json!(["c2.northwind-hosting.example."])
    );
    assert_eq!(s.data["failed"], 1);
    assert_eq!(
        server.hits("10.20.30.42", RecordType::PTR),
        0,
        "a private address is never sent to a nameserver"
    );
    assert!(server.hits("blackhole.example", RecordType::A) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_alerts_share_one_query_and_record_ttls_are_respected() {
    let server = DnsServer::start(zone()).await;
    let dns = dns_provider(&server, Duration::from_secs(2));
    let alert = alert_naming(&[BAD_DOMAIN, "gone.example"], &[C2_IP]);
    let mut context = Context::new(Duration::from_secs(30));
    context.add(dns.clone());
    let context = Arc::new(context);
    let gathers = (0..8).map(|_| {
        let (context, alert) = (context.clone(), alert.clone());
        tokio::spawn(async move { context.gather(&alert).await })
    });
    for g in futures::future::join_all(gathers).await {
        let e: Enrichment = g.unwrap();
        assert_eq!(
            e.sections[0].data["domains"][BAD_DOMAIN]["a"],
            json!([C2_IP])
        );
    }
    for (name, kind) in [
        (BAD_DOMAIN, RecordType::A),
        (BAD_DOMAIN, RecordType::AAAA),
        ("gone.example", RecordType::A),
        (C2_IP, RecordType::PTR),
    ] {
        assert_eq!(
            server.hits(name, kind),
            1,
            "{name} {kind}: one query for 8 alerts"
        );
    }
    // Cached: a later alert asks nothing, the NXDOMAIN included.
    let before = server.total_hits();
    section(&dns, &alert).await;
    assert_eq!(server.total_hits(), before);

    // A zero-TTL answer is not reused.
    let flux = alert_naming(&["flux.example"], &[]);
    for _ in 0..2 {
        let s = section(&dns, &flux).await;
        assert_eq!(rows(&s), [vec!["flux.example", "A", "198.51.100.99"]]);
    }
    assert_eq!(server.hits("flux.example", RecordType::A), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_fails_with_a_reason_when_no_name_resolves_and_is_quiet_without_names() {
    let server = DnsServer::start(zone()).await;
    let dns = dns_provider(&server, Duration::from_millis(300));
    let s = section(&dns, &alert_naming(&["blackhole.example"], &[])).await;
    assert_eq!(s.status.as_str(), "failed");
    assert_eq!(
        s.status.reason(),
        Some("every lookup failed (1 names): no answer within 300 ms")
    );
    // A failure is not cached: the next alert asks again.
    let asked = server.hits("blackhole.example", RecordType::A);
    assert!(asked >= 1);
    section(&dns, &alert_naming(&["blackhole.example"], &[])).await;
    assert!(server.hits("blackhole.example", RecordType::A) > asked);

    let before = server.total_hits();
    let s = section(&dns, &alert_naming(&[], &["10.0.0.1", "192.168.1.1"])).await;
    assert_eq!(s.status.as_str(), "not_found", "nothing public to look up");
    assert_eq!(server.total_hits(), before, "and nothing sent");
}

// ---------------------------------------------------------------------------------------------
// GeoIP / ASN

fn geoip_provider(city: &Path, asn: Option<&Path>, reload_check: Duration) -> Arc<dyn Provider> {
    geoip::build(&GeoIpConfig {
        city: Some(city.to_owned()),
        asn: asn.map(Path::to_owned),
        reload_check,
    })
    .unwrap()
    .expect("a database is configured")
}

#[tokio::test]
async fn geoip_renders_the_fixture_databases_and_labels_reserved_ranges_without_a_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_geoip_fixtures(dir.path()).unwrap();
    let geo = geoip_provider(&files.city, Some(&files.asn), Duration::from_secs(300));

    let mut alert = planted_alert();
    alert.host.external_ip = Some("198.51.100.23".into());
    let s = section(&geo, &alert).await;
    assert_eq!(s.status.as_str(), "available");
    assert_eq!(
        s.table.columns,
        ["IP", "Country", "City", "ASN", "Organisation"]
    );
    assert_eq!(
        rows(&s)[..2],
        [
            vec![
                "198.51.100.23",
                "Germany (DE)",
                "Frankfurt am Main",
                "AS64500",
                "Contoso Networks"
            ],
            vec![
                C2_IP,
                "Netherlands (NL)",
                "Amsterdam",
                "AS64511",
                "Northwind Bulletproof Hosting"
            ],
        ],
        "the host's egress first, then the C2"
    );
    assert_eq!(
        s.data[C2_IP],
        json!({"country_iso": "NL", "country": "Netherlands", "city": "Amsterdam",
               "asn": 64511, "org": "Northwind Bulletproof Hosting", "reserved": null})
    );

    let s = section(
        &geo,
        &alert_naming(
            &[],
            &[
                "10.20.30.42",
                "100.64.1.1",
                "169.254.169.254",
                "::1",
                "2001:db8:42::7",
                "8.8.8.8",
                "not-an-ip",
            ],
        ),
    )
    .await;
    assert_eq!(
        rows(&s),
        [
            vec!["10.20.30.42", "private address", "", "", ""],
            vec!["100.64.1.1", "cgnat address", "", "", ""],
            vec!["169.254.169.254", "link-local address", "", "", ""],
            vec!["::1", "loopback address", "", "", ""],
            vec![
                "2001:db8:42::7",
                "Germany (DE)",
                "Frankfurt am Main",
                "AS64500",
                "Contoso Networks"
            ],
            vec!["8.8.8.8", "not in the database", "", "", ""],
        ]
    );
    assert_eq!(s.data["10.20.30.42"]["reserved"], "private");
    assert_eq!(
        s.data["8.8.8.8"],
        json!({"country_iso": null, "country": null, "city": null,
        "asn": null, "org": null, "reserved": null})
    );
    assert_eq!(s.notes, ["Not an IP address: not-an-ip"]);

    // A database without the documentation ranges (every real one): labelled, not unknown.
    let real = dir.path().join("real-city.mmdb");
    write_city_mmdb(&real, &[("8.8.8.0/24", place("Mountain View", "US"))]).unwrap();
    let geo = geoip_provider(&real, None, Duration::from_secs(300));
    let s = section(&geo, &alert_naming(&[], &[C2_IP, "8.8.8.8"])).await;
    assert_eq!(
        rows(&s),
        [
            vec![C2_IP, "documentation address", "", "", ""],
            vec!["8.8.8.8", "United States (US)", "Mountain View", "", ""],
        ]
    );
    assert_eq!(s.data[C2_IP]["reserved"], "documentation");

    let s = section(&geo, &alert_naming(&[], &[])).await;
    assert_eq!(
        s.status.as_str(),
        "not_found",
        "no addresses, nothing to say"
    );
}

fn place(city: &str, iso: &str) -> CityRecord {
    CityRecord {
        city: city.to_owned(),
        country_iso: iso.to_owned(),
        country: match iso {
            "US" => "United States",
            "IS" => "Iceland",
            _ => "Netherlands",
        }
        .to_owned(),
        continent_code: "EU".to_owned(),
        continent: "Europe".to_owned(),
        time_zone: "UTC".to_owned(),
        latitude: 0.0,
        longitude: 0.0,
    }
}

fn touch(path: &Path, at: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(at)
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn geoip_reloads_a_changed_database_when_the_check_is_due_and_keeps_the_last_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let city = dir.path().join("city.mmdb");
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_773_446_400);
    write_city_mmdb(&city, &[("203.0.113.0/24", place("Amsterdam", "NL"))]).unwrap();
    touch(&city, t0);
    let geo = geoip_provider(&city, None, Duration::from_secs(60));
    let alert = alert_naming(&[], &[C2_IP]);
    let city_of = |s: &Section| s.data[C2_IP]["city"].clone();
    assert_eq!(city_of(&section(&geo, &alert).await), "Amsterdam");

    write_city_mmdb(&city, &[("203.0.113.0/24", place("Reykjavik", "IS"))]).unwrap();
    touch(&city, t0 + Duration::from_secs(10));
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(
        city_of(&section(&geo, &alert).await),
        "Amsterdam",
        "not checked before 60 s"
    );
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(
        city_of(&section(&geo, &alert).await),
        "Reykjavik",
        "reloaded once due"
    );

    std::fs::write(&city, b"not a MaxMind DB").unwrap();
    touch(&city, t0 + Duration::from_secs(20));
    tokio::time::advance(Duration::from_secs(61)).await;
    let s = section(&geo, &alert).await;
    assert_eq!(s.status.as_str(), "available");
    assert_eq!(
        city_of(&s),
        "Reykjavik",
        "a broken file keeps the last good version"
    );

    std::fs::remove_file(&city).unwrap();
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        city_of(&section(&geo, &alert).await),
        "Reykjavik",
        "so does a removed one"
    );

    let err = geoip::build(&GeoIpConfig {
        city: Some(city.clone()),
        ..GeoIpConfig::default()
    })
    .err()
    .unwrap();
    assert!(
        err.starts_with(&format!("geoip.city: {}: ", city.display())),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Directory

fn directory_provider(users: &str, assets: &str, reload_check: Duration) -> Arc<dyn Provider> {
    directory::build(
        &DirectoryConfig {
            users: Some(users.to_owned()),
            assets: Some(assets.to_owned()),
            reload_check,
        },
        None,
    )
    .unwrap()
    .expect("files are configured")
}

#[tokio::test]
async fn the_directory_knows_the_planted_user_and_host_and_feeds_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_directory(dir.path(), &BatchOptions::default()).unwrap();
    let d = directory_provider(
        &paths.users.display().to_string(),
        &format!("file://{}", paths.assets.display()),
        Duration::from_secs(60),
    );
    let alert = planted_alert();
    assert_eq!(alert.user.name.as_deref(), Some(SCENARIO_USER));
    let s = section(&d, &alert).await;
    assert_eq!(s.status.as_str(), "available", "{:?}", s.status);
    assert_eq!(s.data["privileged"], false);
    assert_eq!(s.data["criticality"], "high");
    assert_eq!(s.data["user"]["department"], "Finance");
    assert_eq!(s.data["user"]["email"], "t.ferreira@corp.example.com");
    assert_eq!(
        s.data["asset"],
        json!({"hostname": SCENARIO_HOSTNAME, "aid": SCENARIO_HOST_AID, "owner": SCENARIO_USER,
               "team": "Accounting", "criticality": "high", "business_unit": "Finance"})
    );
    let table = rows(&s);
    assert_eq!(table[0], ["User", "t.ferreira (Tomás Ferreira)"]);
    assert!(table.contains(&vec!["Criticality", "high"]));
    assert!(table.contains(&vec!["Business unit", "Finance"]));
    assert!(s.notes.is_empty(), "{:?}", s.notes);

    // The other spellings of the same user and host.
    for (user, host, aid) in [
        ("CORP\\T.Ferreira", "wks-acct-0042.corp.example.com", None),
        ("t.ferreira@corp.example.com", "WKS-ACCT-0042", None),
        (
            "t.ferreira",
            "renamed",
            Some(SCENARIO_HOST_AID.to_uppercase()),
        ),
    ] {
        let mut a = alert.clone();
        a.user.name = Some(user.to_owned());
        a.host.hostname = Some(host.to_owned());
        a.host.aid = aid;
        let s = section(&d, &a).await;
        assert_eq!(s.data["user"]["name"], SCENARIO_USER, "{user}");
        assert_eq!(s.data["criticality"], "high", "{host}");
    }

    // Unknown user, known host: the host still answers, the user is noted.
    let mut a = alert.clone();
    a.user.name = Some("mallory".into());
    let s = section(&d, &a).await;
    assert_eq!(s.data["user"], json!(null));
    assert_eq!(s.data["privileged"], json!(null));
    assert_eq!(s.notes, ["User mallory is not in the directory."]);

    // Neither known: nothing found.
    a.host.hostname = Some("nowhere".into());
    a.host.aid = None;
    assert_eq!(section(&d, &a).await.status.as_str(), "not_found");

    // The default policy reads `directory.data.privileged`: an identity alert on the privileged
    // service account is raised to high.
    let mut idp = alert.clone();
    idp.kind = AlertKind::Idp;
    idp.user.name = Some(SERVICE_ACCOUNT.to_owned());
    idp.severity.level = falconry_enricher::alert::Level::Medium;
    idp.severity.score = 50;
    let mut c = Context::new(Duration::from_secs(30));
    c.add(d.clone());
    let enrichment = c.gather(&idp).await;
    let decision = Policy::load(&[], &[]).unwrap().decide(&idp, &enrichment);
    assert!(
        decision
            .reasons
            .iter()
            .any(|r| r.contains("privileged account") && r.contains("per the directory")),
        "{:?}",
        decision.reasons
    );
}

#[tokio::test(start_paused = true)]
async fn local_directory_files_reload_when_due_and_a_broken_one_keeps_the_last_good_version() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.json");
    let assets = dir.path().join("assets.csv");
    std::fs::write(&users, r#"[{"name": "jdoe", "department": "Sales"}]"#).unwrap();
    std::fs::write(&assets, "hostname,criticality\nWKS-1,low\n").unwrap();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_773_446_400);
    touch(&users, t0);
    let d = directory_provider(
        &users.display().to_string(),
        &assets.display().to_string(),
        Duration::from_secs(60),
    );
    let mut alert = planted_alert();
    alert.user.name = Some("CORP\\jdoe".into());
    alert.host.hostname = Some("wks-1".into());
    alert.host.aid = None;
    let department = |s: &Section| s.data["user"]["department"].clone();
    assert_eq!(department(&section(&d, &alert).await), "Sales");

    std::fs::write(
        &users,
        r#"[{"name": "jdoe", "department": "Finance", "privileged": "yes"}]"#,
    )
    .unwrap();
    touch(&users, t0 + Duration::from_secs(10));
    assert_eq!(
        department(&section(&d, &alert).await),
        "Sales",
        "not due yet"
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    let s = section(&d, &alert).await;
    assert_eq!(department(&s), "Finance", "reloaded once due");
    assert_eq!(s.data["privileged"], true);

    std::fs::write(&users, "[{\"name\": ").unwrap();
    touch(&users, t0 + Duration::from_secs(20));
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        department(&section(&d, &alert).await),
        "Finance",
        "broken: last good kept"
    );
}

#[tokio::test]
async fn a_directory_file_that_never_loaded_is_a_failure_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("users.csv");
    let assets = dir.path().join("assets.csv");
    std::fs::write(&assets, "owner,team\nx,y\n").unwrap();
    let d = directory_provider(
        &missing.display().to_string(),
        &assets.display().to_string(),
        Duration::ZERO,
    );
    let s = section(&d, &planted_alert()).await;
    assert_eq!(s.status.as_str(), "failed");
    let reason = s.status.reason().unwrap();
    assert!(
        reason.contains(&format!(
            "users: {}: no such file or object",
            missing.display()
        )),
        "{reason}"
    );
    assert!(
        reason.contains("assets: ")
            && reason.contains("neither a \"hostname\" nor an \"aid\" column"),
        "{reason}"
    );

    // Once a good file appears, it is used.
    std::fs::write(&missing, format!("name,privileged\n{SCENARIO_USER},no\n")).unwrap();
    let s = section(&d, &planted_alert()).await;
    assert_eq!(s.status.as_str(), "available");
    assert_eq!(s.data["user"]["name"], SCENARIO_USER);
    assert!(
        s.notes.iter().any(|n| n.starts_with("assets: ")),
        "{:?}",
        s.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_files_on_s3_reload_by_version_and_survive_bad_versions() {
    let aws = falconry_testkit::moto::aws().await;
    let bucket = aws.bucket("directory").await;
    let put = |key: &'static str, body: String| {
        let (s3, bucket) = (aws.s3.clone(), bucket.clone());
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(body.into_bytes().into())
                .send()
                .await
                .unwrap();
        }
    };
    put("dir/users.csv", "name,department\njdoe,Sales\n".into()).await;
    put(
        "dir/assets.json",
        json!([{"aid": SCENARIO_HOST_AID, "criticality": "critical"}]).to_string(),
    )
    .await;
    let d = directory::build(
        &DirectoryConfig {
            users: Some(format!("s3://{bucket}/dir/users.csv")),
            assets: Some(format!("s3://{bucket}/dir/assets.json")),
            reload_check: Duration::ZERO,
        },
        Some(aws.s3.clone()),
    )
    .unwrap()
    .unwrap();
    let mut alert = planted_alert();
    alert.user.name = Some("jdoe@corp.example.com".into());
    let s = section(&d, &alert).await;
    assert_eq!(s.data["user"]["department"], "Sales");
    assert_eq!(s.data["criticality"], "critical", "matched by aid");

    put(
        "dir/users.csv",
        "name,department\njdoe,Finance and Control\n".into(),
    )
    .await;
    assert_eq!(
        section(&d, &alert).await.data["user"]["department"],
        "Finance and Control"
    );

    put("dir/users.csv", "user,department\njdoe,IT\n".into()).await;
    assert_eq!(
        section(&d, &alert).await.data["user"]["department"],
        "Finance and Control",
        "a version without a name column keeps the last good one"
    );
    aws.s3
        .delete_object()
        .bucket(&bucket)
        .key("dir/users.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(
        section(&d, &alert).await.data["user"]["department"],
        "Finance and Control",
        "so does a deleted object"
    );
}

// ---------------------------------------------------------------------------------------------
// All three at once

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planted_incident_gets_all_three_sections_in_the_policy_input() {
    let dir = tempfile::tempdir().unwrap();
    let geo_files = write_geoip_fixtures(&dir.path().join("geoip")).unwrap();
    let dir_files =
        write_directory(&dir.path().join("directory"), &BatchOptions::default()).unwrap();
    let server = DnsServer::start(zone()).await;
    let mut c = Context::new(Duration::from_secs(10));
    c.add(dns_provider(&server, Duration::from_secs(2)));
    c.add(geoip_provider(
        &geo_files.city,
        Some(&geo_files.asn),
        Duration::from_secs(300),
    ));
    c.add(directory_provider(
        &dir_files.users.display().to_string(),
        &dir_files.assets.display().to_string(),
        Duration::from_secs(60),
    ));
    let input = c.gather(&planted_alert()).await.policy_input();
    assert_eq!(input["dns"]["status"], "available", "{}", input["dns"]);
    assert_eq!(
        input["dns"]["data"]["domains"][BAD_DOMAIN]["a"],
        json!([C2_IP])
    );
    assert_eq!(input["geoip"]["data"][C2_IP]["asn"], 64511);
    assert_eq!(input["directory"]["data"]["criticality"], "high");
    assert_eq!(
        input["directory"]["data"]["asset"]["business_unit"],
        "Finance"
    );
}
