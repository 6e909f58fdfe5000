//! The remote context providers — Falcon host details and threat intel
//! (VirusTotal, AbuseIPDB, GreyNoise) — against the project's own test
//! servers speaking each real API: sections render from real answers;
//! per-minute rates and daily budgets hold under a burst of 500 alerts (the
//! servers count and time every request on tokio's paused clock); the cache
//! turns 500 alerts about one address into one request per service; a dead
//! service costs at most its time limit, a dead provider at most the
//! deadline; refused keys and secrets fail the lookup without showing them;
//! nothing private or internal is ever sent; 401/403/404/429 from Falcon mean
//! what they should.

use falconry_common::Secret;
use falconry_enricher::alert::{Alert, Connection, Enrichment, Section, Status};
use falconry_enricher::context::falcon_host::{self, FalconHostConfig};
use falconry_enricher::context::intel::{self, IntelConfig};
use falconry_enricher::context::{Context, Provider};
use falconry_testkit::falcon::hosts::{CLIENT_ID, CLIENT_SECRET, FalconHosts, HostFault, device};
use falconry_testkit::intel::{
    ABUSE_KEY, GREYNOISE_KEY, IntelFault, IntelServer, VT_KEY, abuse_record, greynoise_record,
    vt_attributes,
};
use prometheus_client::registry::Registry;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const AID: &str = "4f0c6a1e2b3d4c5e6f708192a3b4c5d6";
const OTHER_AID: &str = "9e8d7c6b5a4f30211f2e3d4c5b6a7988";
const UNKNOWN_AID: &str = "00000000000000000000000000000abc";
const BAD_IP: &str = "185.220.101.1";
const DNS_IP: &str = "8.8.8.8";
const QUIET_IP: &str = "45.155.205.233";
const BAD_DOMAIN: &str = "update-check.xyz";

fn bad_hash() -> String {
    "7f".repeat(32)
}

fn unknown_hash() -> String {
    "e3".repeat(32)
}

fn alert() -> Alert {
    let event = json!({"metadata": {"eventType": "EppDetectionSummaryEvent"}, "event": {"Name": "Suspicious download"}});
    let mut a = falconry_enricher::alert::normalize::normalize(
        &event,
        &Default::default(),
        Default::default(),
    )
    .expect("normalises")
    .expect("a detection");
    a.host.aid = Some(AID.to_owned());
    a.host.hostname = Some("FIN-WS-042".into());
    a.host.domain = Some("corp.example.com".into());
    a
}

/// An alert naming public and private indicators alike.
fn busy_alert() -> Alert {
    let mut a = alert();
    a.ips = [
        "10.20.30.40",
        BAD_IP,
        "192.168.1.10",
        DNS_IP,
        "127.0.0.1",
        "100.64.1.1",
        "fe80::1",
        "203.0.113.9",
    ]
    .map(String::from)
    .to_vec();
    a.connections = vec![Connection {
        remote_ip: QUIET_IP.into(),
        remote_port: Some(443),
        local_ip: Some("10.20.30.40".into()),
        protocol: Some("TCP".into()),
    }];
    a.domains = [
        BAD_DOMAIN,
        "fileserver.corp.example.com",
        "wpad",
        "printer.local",
    ]
    .map(String::from)
    .to_vec();
    a.process.sha256 = Some(bad_hash());
    a.hashes = vec![unknown_hash()];
    a
}

fn alert_with_ip(ip: &str) -> Alert {
    let mut a = alert();
    a.ips = vec![ip.to_owned(), "10.1.1.1".into()];
    a
}

struct Intel {
    vt: IntelServer,
    abuse: IntelServer,
    gn: IntelServer,
}

async fn intel_servers() -> Intel {
    let s = Intel {
        vt: IntelServer::virustotal().await,
        abuse: IntelServer::abuseipdb().await,
        gn: IntelServer::greynoise(Some(GREYNOISE_KEY)).await,
    };
    s.vt.know(BAD_IP, vt_attributes(12, 1, 50, -40));
    s.vt.know(DNS_IP, vt_attributes(0, 0, 60, 500));
    s.vt.know(BAD_DOMAIN, vt_attributes(4, 0, 40, -10));
    let mut file = vt_attributes(52, 0, 0, -37);
    file["meaningful_name"] = json!("invoice.exe");
    file["popular_threat_classification"] =
        json!({"suggested_threat_label": "trojan.agenttesla/msil", "popular_threat_category": []});
    s.vt.know(&bad_hash(), file);
    s.abuse.know(
        BAD_IP,
        abuse_record(BAD_IP, 100, 2345, Some("DE"), Some("Zwiebelfreunde e.V.")),
    );
    s.gn.know(
        BAD_IP,
        greynoise_record("malicious", true, false, "unknown"),
    );
    s.gn.know(
        DNS_IP,
        greynoise_record("benign", false, true, "Google Public DNS"),
    );
    s
}

fn intel_config(s: &Intel) -> IntelConfig {
    IntelConfig {
        virustotal_key: Some(Secret::new(VT_KEY)),
        virustotal_url: s.vt.base_url(),
        abuseipdb_key: Some(Secret::new(ABUSE_KEY)),
        abuseipdb_url: s.abuse.base_url(),
        greynoise_key: Some(Secret::new(GREYNOISE_KEY)),
        greynoise_url: s.gn.base_url(),
        ..IntelConfig::default()
    }
}

fn build_intel(config: &IntelConfig, registry: &mut Registry) -> Arc<dyn Provider> {
    intel::build(config, reqwest::Client::new(), registry)
        .expect("valid intel config")
        .expect("services configured")
}

fn host_config(server: &FalconHosts) -> FalconHostConfig {
    FalconHostConfig {
        enabled: true,
        base_url: Some(server.base_url()),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(Secret::new(CLIENT_SECRET)),
        ..FalconHostConfig::default()
    }
}

fn build_host(config: &FalconHostConfig) -> Arc<dyn Provider> {
    falcon_host::build(config, reqwest::Client::new(), &mut Registry::default())
        .expect("valid falcon_host config")
        .expect("enabled")
}

fn section<'a>(e: &'a Enrichment, id: &str) -> &'a Section {
    e.sections
        .iter()
        .find(|s| s.provider == id)
        .expect("section present")
}

fn metrics(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).expect("encode");
    out
}

/// The most requests within any 60 seconds.
fn busiest_minute(times: &[Instant]) -> usize {
    times
        .iter()
        .map(|t| {
            times
                .iter()
                .filter(|u| **u >= *t && **u < *t + Duration::from_secs(60))
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn times(server: &IntelServer) -> Vec<Instant> {
    server.requests().into_iter().map(|r| r.0).collect()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_intel_section_renders_from_real_answers_and_sends_nothing_internal() {
    let s = intel_servers().await;
    let config = IntelConfig {
        virustotal_per_minute: 100,
        ..intel_config(&s)
    };
    let mut registry = Registry::default();
    let mut context = Context::new(Duration::from_secs(5));
    context.add(build_intel(&config, &mut registry));
    let e = context.gather(&busy_alert()).await;
    let intel = section(&e, "intel");
    assert_eq!(intel.title, "Threat intel");
    assert_eq!(intel.status, Status::Available);

    let d = &intel.data;
    assert_eq!(d["verdict"], "malicious");
    assert_eq!(d["abuseipdb_score"], 100);
    let bad = &d["indicators"][BAD_IP];
    assert_eq!(bad["kind"], "ip");
    assert_eq!(bad["verdict"], "malicious");
    assert_eq!(bad["virustotal"]["malicious"], 12);
    assert_eq!(bad["virustotal"]["reputation"], -40);
    assert_eq!(bad["virustotal"]["verdict"], "malicious");
    assert_eq!(bad["abuseipdb"]["score"], 100);
    assert_eq!(bad["abuseipdb"]["country_code"], "DE");
    assert_eq!(bad["abuseipdb"]["isp"], "Zwiebelfreunde e.V.");
    assert_eq!(bad["abuseipdb"]["total_reports"], 2345);
    assert_eq!(bad["greynoise"]["classification"], "malicious");
    assert_eq!(bad["greynoise"]["noise"], true);
    let dns = &d["indicators"][DNS_IP];
    assert_eq!(dns["verdict"], "safe", "GreyNoise RIOT vouches for it");
    assert_eq!(dns["greynoise"]["riot"], true);
    assert_eq!(dns["virustotal"]["verdict"], "info");
    assert_eq!(dns["abuseipdb"]["score"], 0);
    let quiet = &d["indicators"][QUIET_IP];
    assert_eq!(quiet["verdict"], "info");
    assert_eq!(quiet["virustotal"], json!({"seen": false}));
    assert_eq!(
        quiet["greynoise"],
        json!({"seen": false}),
        "404 = not seen, not an error"
    );
    assert_eq!(d["indicators"][BAD_DOMAIN]["verdict"], "malicious");
    assert_eq!(d["indicators"][BAD_DOMAIN]["abuseipdb"], json!(null));
    let file = &d["indicators"][bad_hash().as_str()];
    assert_eq!(file["kind"], "sha256");
    assert_eq!(file["virustotal"]["threat_label"], "trojan.agenttesla/msil");
    assert_eq!(
        d["indicators"][unknown_hash().as_str()]["virustotal"],
        json!({"seen": false})
    );

    assert_eq!(
        intel.table.columns,
        [
            "Indicator",
            "Type",
            "Verdict",
            "VirusTotal",
            "AbuseIPDB",
            "GreyNoise"
        ]
    );
    assert_eq!(
        intel.table.rows[0],
        [
            BAD_IP,
            "IP",
            "malicious",
            "12 malicious, 1 suspicious of 70 engines; reputation -40",
            "confidence 100%, 2345 report(s); DE; Zwiebelfreunde e.V.",
            "malicious; scanning the internet",
        ]
    );
    assert_eq!(
        intel.table.rows[1][5],
        "benign (Google Public DNS); known business service (RIOT)"
    );
    assert_eq!(intel.table.rows[2][5], "not seen");
    assert_eq!(
        intel.table.rows[3][4], "n/a",
        "AbuseIPDB takes addresses only"
    );
    assert_eq!(intel.table.rows.len(), 6);
    assert_eq!(
        intel.notes,
        ["9 private, reserved or internal indicator(s) not sent to any service."]
    );

    // Only public indicators left the building, each once, with the right key
    // (a wrong or missing key would have been refused).
    let mut vt_expected = vec![
        BAD_IP.to_owned(),
        DNS_IP.to_owned(),
        QUIET_IP.to_owned(),
        BAD_DOMAIN.to_owned(),
        bad_hash(),
        unknown_hash(),
    ];
    vt_expected.sort();
    assert_eq!(s.vt.asked(), vt_expected);
    assert_eq!(s.vt.count(), 6);
    let mut ips = vec![BAD_IP.to_owned(), DNS_IP.to_owned(), QUIET_IP.to_owned()];
    ips.sort();
    assert_eq!(s.abuse.asked(), ips);
    assert_eq!(s.gn.asked(), ips);
    for server in [&s.vt, &s.abuse, &s.gn] {
        assert_eq!(server.with(|w| w.refused), 0);
    }
    assert_eq!(s.abuse.with(|w| w.without_accept), 0);

    let text = metrics(&registry);
    assert!(
        text.contains("falconry_enricher_context_intel_budget_left{service=\"virustotal\"} 494"),
        "{text}"
    );
    assert!(
        text.contains("budget_left{service=\"abuseipdb\"} 997"),
        "{text}"
    );
    assert!(
        text.contains("budget_left{service=\"greynoise\"} 47"),
        "{text}"
    );

    // The policy sees the facts under input.enrichment.intel.
    let input = e.policy_input();
    assert_eq!(input["intel"]["status"], "available");
    assert_eq!(input["intel"]["data"]["verdict"], "malicious");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn rates_and_daily_budgets_hold_under_a_burst_of_500_alerts() {
    let s = intel_servers().await;
    let config = IntelConfig {
        virustotal_per_minute: 4,
        virustotal_per_day: 10,
        abuseipdb_per_minute: 20,
        abuseipdb_per_day: 30,
        greynoise_per_minute: 5,
        greynoise_per_day: 12,
        // Long enough that lookups queue for their slot instead of giving up.
        timeout: Duration::from_secs(600),
        ..intel_config(&s)
    };
    let mut registry = Registry::default();
    let provider = build_intel(&config, &mut registry);
    let started = Instant::now();
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let provider = provider.clone();
            let alert = alert_with_ip(&format!("45.{}.{}.7", 10 + i / 200, i % 200));
            tokio::spawn(async move { provider.lookup(&alert).await })
        })
        .collect();
    let mut budget_refusals = 0;
    for t in tasks {
        // Past every service's budget the whole section fails; before, a note says which.
        let said = match t.await.expect("task") {
            Ok(found) => found.notes.join("\n"),
            Err(e) => e.0,
        };
        if said.contains("VirusTotal: daily budget of 10 requests spent") {
            budget_refusals += 1;
        }
    }
    for (server, per_minute, per_day) in [(&s.vt, 4, 10), (&s.abuse, 20, 30), (&s.gn, 5, 12)] {
        assert_eq!(server.count(), per_day, "the whole daily budget, no more");
        let busiest = busiest_minute(&times(server));
        assert!(
            busiest <= per_minute,
            "{busiest} requests within one minute (limit {per_minute})"
        );
    }
    assert_eq!(
        busiest_minute(&times(&s.vt)),
        4,
        "the rate is used, not starved"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(120),
        "ten VirusTotal requests at 4 a minute span two minutes"
    );
    assert_eq!(budget_refusals, 490);
    let text = metrics(&registry);
    for service in ["virustotal", "abuseipdb", "greynoise"] {
        assert!(
            text.contains(&format!("budget_left{{service=\"{service}\"}} 0")),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_burst_never_holds_an_alert_past_the_deadline_nor_exceeds_the_rate() {
    let s = intel_servers().await;
    // The defaults: VirusTotal 4 a minute, AbuseIPDB 60, GreyNoise 10; 4 s per service.
    let mut registry = Registry::default();
    let mut context = Context::new(Duration::from_secs(5));
    context.add(build_intel(&intel_config(&s), &mut registry));
    let alerts: Vec<Alert> = (0..500)
        .map(|i| alert_with_ip(&format!("45.{}.{}.7", 10 + i / 200, i % 200)))
        .collect();
    let started = Instant::now();
    let all = futures::future::join_all(alerts.iter().map(|a| context.gather(a))).await;
    assert!(started.elapsed() <= Duration::from_secs(5));
    assert_eq!(s.vt.count(), 4);
    assert_eq!(s.abuse.count(), 60);
    assert_eq!(s.gn.count(), 10);
    let answered_by_vt = all
        .iter()
        .filter(|e| {
            section(e, "intel").data["indicators"]
                .as_object()
                .is_some_and(|m| m.values().any(|i| i["virustotal"].is_object()))
        })
        .count();
    assert_eq!(answered_by_vt, 4);
    let available = all
        .iter()
        .filter(|e| section(e, "intel").status == Status::Available)
        .count();
    assert_eq!(available, 60, "AbuseIPDB's minute answers the most");
    let Status::Failed(reason) = &section(&all[499], "intel").status else {
        panic!("past every service's rate the section fails");
    };
    for refusal in [
        "VirusTotal: rate limit of 4 requests a minute reached",
        "AbuseIPDB: rate limit of 60 requests a minute reached",
        "GreyNoise: rate limit of 10 requests a minute reached",
    ] {
        assert!(reason.contains(refusal), "{reason}");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn five_hundred_alerts_about_one_address_cost_one_request_per_service() {
    let s = intel_servers().await;
    for server in [&s.vt, &s.abuse, &s.gn] {
        // Slow answers: every alert asks while the first request is in flight.
        server.with(|w| w.delay = Some(Duration::from_millis(300)));
    }
    let mut context = Context::new(Duration::from_secs(5));
    context.add(build_intel(&intel_config(&s), &mut Registry::default()));
    let alerts: Vec<Alert> = (0..500).map(|_| alert_with_ip(BAD_IP)).collect();
    let all = futures::future::join_all(alerts.iter().map(|a| context.gather(a))).await;
    for e in &all {
        assert_eq!(section(e, "intel").data["verdict"], "malicious");
    }
    let again = futures::future::join_all(alerts.iter().map(|a| context.gather(a))).await;
    assert!(
        again
            .iter()
            .all(|e| section(e, "intel").data["abuseipdb_score"] == 100)
    );
    assert_eq!(
        (s.vt.count(), s.abuse.count(), s.gn.count()),
        (1, 1, 1),
        "one request per service for 1000 alerts"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_dead_service_costs_its_column_and_a_dead_provider_at_most_the_deadline() {
    let s = intel_servers().await;
    s.gn.with(|w| w.dead = true);
    let mut context = Context::new(Duration::from_secs(5));
    context.add(build_intel(
        &IntelConfig {
            timeout: Duration::from_secs(2),
            ..intel_config(&s)
        },
        &mut Registry::default(),
    ));
    let started = Instant::now();
    let e = context.gather(&alert_with_ip(BAD_IP)).await;
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(2),
        "the service's time limit"
    );
    let intel = section(&e, "intel");
    assert_eq!(intel.status, Status::Available);
    assert_eq!(intel.data["abuseipdb_score"], 100);
    assert_eq!(intel.table.rows[0][5], "lookup failed");
    assert_eq!(
        intel.notes,
        [
            "Lookup failed for 1 indicator(s): GreyNoise: no answer within 2000 ms.",
            "1 private, reserved or internal indicator(s) not sent to any service."
        ]
    );

    // Every service and the Falcon API dead, time limits past the deadline:
    // the deadline cuts both sections, and nothing waits longer.
    for server in [&s.vt, &s.abuse] {
        server.with(|w| w.dead = true);
    }
    let falcon = FalconHosts::start().await;
    falcon.with(|w| w.dead = true);
    let mut context = Context::new(Duration::from_secs(5));
    context.add(build_intel(
        &IntelConfig {
            timeout: Duration::from_secs(30),
            ..intel_config(&s)
        },
        &mut Registry::default(),
    ));
    context.add(build_host(&host_config(&falcon)));
    let started = Instant::now();
    let e = context.gather(&alert_with_ip(QUIET_IP)).await;
    assert_eq!(started.elapsed(), Duration::from_secs(5), "the deadline");
    for id in ["intel", "falcon_host"] {
        assert_eq!(
            section(&e, id).status,
            Status::Failed("no answer within 5000 ms".into()),
            "{id}"
        );
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn wrong_keys_fail_the_lookup_without_showing_the_keys() {
    let s = intel_servers().await;
    let wrong = [
        "vt-WRONG-key-1234",
        "abuse-WRONG-key-5678",
        "gn-WRONG-key-9012",
    ];
    let config = IntelConfig {
        virustotal_key: Some(Secret::new(wrong[0])),
        abuseipdb_key: Some(Secret::new(wrong[1])),
        greynoise_key: Some(Secret::new(wrong[2])),
        ..intel_config(&s)
    };
    let falcon = FalconHosts::start().await;
    let host = FalconHostConfig {
        client_secret: Some(Secret::new("falcon-WRONG-secret")),
        ..host_config(&falcon)
    };
    let mut context = Context::new(Duration::from_secs(5));
    context.add(build_intel(&config, &mut Registry::default()));
    context.add(build_host(&host));
    let e = context.gather(&alert_with_ip(BAD_IP)).await;
    let Status::Failed(reason) = &section(&e, "intel").status else {
        panic!("intel should fail: {:?}", section(&e, "intel").status);
    };
    for refused in [
        "VirusTotal refused the API key (HTTP 401 WrongCredentialsError)",
        "AbuseIPDB refused the API key (HTTP 401)",
        "GreyNoise refused the API key (HTTP 401)",
    ] {
        assert!(reason.contains(refused), "{reason}");
    }
    assert_eq!(
        section(&e, "falcon_host").status,
        Status::Failed(
            "the Falcon API refused the client credentials (HTTP 401): check enricher.context.falcon_host.client_id and client_secret".into()
        )
    );
    let everything = format!("{}\n{:?}\n{:?}\n{:?}", e.policy_input(), e, config, host);
    for secret in wrong
        .iter()
        .chain(&[VT_KEY, ABUSE_KEY, GREYNOISE_KEY, "falcon-WRONG-secret"])
    {
        assert!(!everything.contains(secret), "{secret} shown");
    }

    // A refused key holds the service: the next alert sends nothing.
    let e = context.gather(&alert_with_ip(DNS_IP)).await;
    let Status::Failed(reason) = &section(&e, "intel").status else {
        panic!("still refused");
    };
    assert!(
        reason.contains("VirusTotal refused the API key"),
        "{reason}"
    );
    assert_eq!((s.vt.count(), s.abuse.count(), s.gn.count()), (1, 1, 1));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn rate_limited_services_are_held_as_long_as_they_ask() {
    let s = intel_servers().await;
    s.abuse.fault(IntelFault::RateLimited {
        retry_after: Some(120),
        spent: true,
    });
    s.vt.fault(IntelFault::RateLimited {
        retry_after: None,
        spent: false,
    });
    let provider = build_intel(&intel_config(&s), &mut Registry::default());
    let found = provider
        .lookup(&alert_with_ip(BAD_IP))
        .await
        .expect("GreyNoise answered");
    assert_eq!(
        found.data["indicators"][BAD_IP]["greynoise"]["verdict"],
        "malicious"
    );
    assert!(
        found.notes.iter().any(|n| n.contains(
            "AbuseIPDB rate limit reached (the daily limit is spent (X-RateLimit-Remaining: 0)); calls held for 120 s"
        )),
        "{:?}",
        found.notes
    );
    assert!(
        found.notes.iter().any(|n| n
            .contains("VirusTotal rate limit reached (QuotaExceededError); calls held for 60 s")),
        "{:?}",
        found.notes
    );
    assert_eq!(found.data["abuseipdb_score"], json!(null));

    tokio::time::advance(Duration::from_secs(61)).await;
    let found = provider
        .lookup(&alert_with_ip(DNS_IP))
        .await
        .expect("answers");
    assert!(
        found.data["indicators"][DNS_IP]["virustotal"].is_object(),
        "VirusTotal back after 60 s"
    );
    assert!(
        found.data["indicators"][DNS_IP]["abuseipdb"].is_null(),
        "AbuseIPDB still held"
    );
    assert_eq!((s.vt.count(), s.abuse.count()), (2, 1));

    tokio::time::advance(Duration::from_secs(60)).await;
    let found = provider
        .lookup(&alert_with_ip(QUIET_IP))
        .await
        .expect("answers");
    assert_eq!(found.data["indicators"][QUIET_IP]["abuseipdb"]["score"], 0);
    assert_eq!(s.abuse.count(), 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_falcon_host_section_renders_from_a_real_answer() {
    let falcon = FalconHosts::start().await;
    falcon.add_device(device(AID, "FIN-WS-042", "contained"));
    falcon.add_device(device(OTHER_AID, "FIN-SRV-007", "normal"));
    let mut context = Context::new(Duration::from_secs(5));
    context.add(build_host(&host_config(&falcon)));
    let mut a = alert();
    a.host.aid = Some(AID.to_ascii_uppercase());
    a.host.others = vec![OTHER_AID.into(), UNKNOWN_AID.into(), "FIN-SRV-007".into()];
    let e = context.gather(&a).await;
    let host = section(&e, "falcon_host");
    assert_eq!(
        (host.title.as_str(), &host.status),
        ("Falcon host", &Status::Available)
    );
    let d = &host.data;
    assert_eq!(d["aid"], AID);
    assert_eq!(d["hostname"], "FIN-WS-042");
    assert_eq!(d["platform"], "Windows");
    assert_eq!(d["os_version"], "Windows 11");
    assert_eq!(d["product_type"], "Workstation");
    assert_eq!(d["agent_version"], "7.18.18309.0");
    assert_eq!(d["last_login_user"], "CORP\\jdoe");
    assert_eq!(d["local_ip"], "10.20.30.40");
    assert_eq!(d["external_ip"], "81.2.69.160");
    assert_eq!(
        d["tags"],
        json!(["FalconGroupingTags/Finance", "SensorGroupingTags/Laptop"])
    );
    assert_eq!(d["groups"], json!(["5c7f2a1e9d8b4c3a8e6f0d1b2a3c4d5e"]));
    assert_eq!(d["first_seen"], "2024-01-10T12:00:00Z");
    assert_eq!(d["last_seen"], "2026-03-14T09:59:00Z");
    assert_eq!(d["containment"], "contained");
    assert_eq!(d["others"][0]["hostname"], "FIN-SRV-007");
    assert_eq!(host.table.columns, ["Field", "Value"]);
    assert_eq!(
        host.table.rows,
        [
            ["Hostname", "FIN-WS-042"],
            ["Platform", "Windows 11"],
            ["Type", "Workstation"],
            ["Sensor version", "7.18.18309.0"],
            ["Last login user", "CORP\\jdoe"],
            ["Local IP", "10.20.30.40"],
            ["External IP", "81.2.69.160"],
            ["Containment", "contained"],
            [
                "Tags",
                "FalconGroupingTags/Finance, SensorGroupingTags/Laptop"
            ],
            ["Host groups", "5c7f2a1e9d8b4c3a8e6f0d1b2a3c4d5e"],
            ["First seen", "2024-01-10T12:00:00Z"],
            ["Last seen", "2026-03-14T09:59:00Z"],
        ]
    );
    assert_eq!(
        host.notes,
        [
            "The host is network-contained.",
            "Also named: FIN-SRV-007 (aid 9e8d7c6b5a4f30211f2e3d4c5b6a7988, Windows 11, containment normal (not contained))."
        ]
    );
    assert_eq!(
        falcon.device_calls()[0].1,
        [AID, OTHER_AID, UNKNOWN_AID],
        "one call, every aid of the alert, lower case, no hostnames"
    );

    // 500 alerts about the same host: cached, one token for everything.
    let alerts: Vec<Alert> = (0..500).map(|_| alert()).collect();
    let all = futures::future::join_all(alerts.iter().map(|a| context.gather(a))).await;
    assert!(
        all.iter()
            .all(|e| section(e, "falcon_host").data["containment"] == "contained")
    );
    assert_eq!((falcon.device_calls().len(), falcon.token_calls()), (1, 1));

    // A host Falcon does not know.
    let mut a = alert();
    a.host.aid = Some(UNKNOWN_AID.into());
    let e = context.gather(&a).await;
    assert_eq!(section(&e, "falcon_host").status, Status::NotFound);
    // No aid at all: nothing to ask.
    let mut a = alert();
    a.host.aid = None;
    let e = context.gather(&a).await;
    assert_eq!(section(&e, "falcon_host").status, Status::NotFound);
    assert_eq!(
        falcon.device_calls().len(),
        1,
        "the unknown aid was asked in the first call and is cached as not found"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn falcon_answers_401_403_and_429_mean_what_they_should() {
    let falcon = FalconHosts::start().await;
    for (i, aid) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        falcon.add_device(device(&aid.repeat(32), &format!("HOST-{i}"), "normal"));
    }
    let provider = build_host(&host_config(&falcon));
    let lookup = |letter: &str| {
        let mut a = alert();
        a.host.aid = Some(letter.repeat(32));
        let provider = provider.clone();
        async move { provider.lookup(&a).await }
    };

    // 401: the token was revoked; drop it, get a new one, retry once.
    falcon.fault(HostFault::RevokeTokens);
    let found = lookup("a").await.expect("retried with a new token");
    assert_eq!(found.data["hostname"], "HOST-0");
    assert_eq!(falcon.token_calls(), 2);

    // 403: the scope is missing; say which.
    falcon.fault(HostFault::MissingScope);
    let err = lookup("b").await.expect_err("403");
    assert!(err.0.contains("\"Hosts: Read\" scope (HTTP 403)"), "{err}");

    // 429 for a moment: wait as told and retry.
    falcon.fault(HostFault::RateLimited { secs: 1 });
    let started = Instant::now();
    let found = lookup("b").await.expect("after the wait");
    assert_eq!(found.data["hostname"], "HOST-1");
    assert!(started.elapsed() <= Duration::from_secs(2));

    // 429 for a minute: fail now, and send nothing until then.
    falcon.fault(HostFault::RateLimited { secs: 60 });
    let err = lookup("c").await.expect_err("429");
    assert!(
        err.0
            .starts_with("rate limited by the Falcon API; retry in"),
        "{err}"
    );
    let calls = falcon.device_calls().len();
    let err = lookup("d").await.expect_err("held");
    assert!(err.0.starts_with("rate limited by the Falcon API"), "{err}");
    assert_eq!(
        falcon.device_calls().len(),
        calls,
        "held calls are not sent"
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        lookup("d").await.expect("released").data["hostname"],
        "HOST-3"
    );

    // A 500 is a failure with the status, not cached.
    falcon.fault(HostFault::ServerError);
    assert_eq!(
        lookup("e").await.expect_err("500").0,
        "HTTP 500 from the Falcon API"
    );
    assert_eq!(
        lookup("e").await.expect("retried").data["hostname"],
        "HOST-4"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_falcon_token_is_renewed_before_it_expires() {
    let falcon = FalconHosts::start().await;
    falcon.set_expires_in(600);
    for aid in ["a", "b", "c"] {
        falcon.add_device(device(&aid.repeat(32), "H", "normal"));
    }
    let provider = build_host(&host_config(&falcon));
    let lookup = |letter: &str| {
        let mut a = alert();
        a.host.aid = Some(letter.repeat(32));
        let provider = provider.clone();
        async move { provider.lookup(&a).await }
    };
    lookup("a").await.expect("found");
    tokio::time::advance(Duration::from_secs(400)).await;
    lookup("b").await.expect("found");
    assert_eq!(falcon.token_calls(), 1, "still valid for 200 s");
    tokio::time::advance(Duration::from_secs(90)).await;
    lookup("c").await.expect("found");
    assert_eq!(falcon.token_calls(), 2, "renewed 2 minutes before expiry");
    assert_eq!(
        falcon.with(|w| w.bad_auth),
        0,
        "never sent an expired token"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn only_configured_services_are_asked_and_greynoise_works_without_a_key() {
    let s = intel_servers().await;
    let community = IntelServer::greynoise(None).await;
    community.know(
        DNS_IP,
        greynoise_record("benign", false, true, "Google Public DNS"),
    );
    let config = IntelConfig {
        virustotal_key: None,
        greynoise_key: None,
        greynoise_without_key: true,
        greynoise_url: community.base_url(),
        ..intel_config(&s)
    };
    let found = build_intel(&config, &mut Registry::default())
        .lookup(&alert_with_ip(DNS_IP))
        .await
        .expect("answers");
    assert_eq!(
        found.table.columns,
        ["Indicator", "Type", "Verdict", "AbuseIPDB", "GreyNoise"]
    );
    assert_eq!(found.data["indicators"][DNS_IP]["verdict"], "safe");
    assert_eq!(
        (s.vt.count(), s.abuse.count(), community.count()),
        (0, 1, 1)
    );
}
