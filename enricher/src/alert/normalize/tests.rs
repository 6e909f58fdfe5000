//! Every shape the enricher accepts, written by hand in Falcon's field names
//! (synthetic values), and the project's stream fixtures end to end.

use super::*;
use falconry_fixtures as scenario;
use falconry_fixtures::{StreamOptions, stream_events};
use serde_json::json;

fn all() -> Selection {
    Selection {
        extra: vec![
            "CustomerIOCEvent".into(),
            "OverwatchGenericDetectionSummaryEvent".into(),
        ],
    }
}

fn norm(v: Value) -> Alert {
    normalize(&v, &all(), Origin::default()).unwrap().unwrap()
}

fn meta(t: &str) -> Value {
    json!({"customerIDString":"0123456789abcdef0123456789abcdef","offset":42,"eventType":t,"eventCreationTime":1773480000000u64,"version":"1.0"})
}

#[test]
fn epp_detection_with_process_tree_and_network() {
    let a = norm(
        json!({"metadata": meta("EppDetectionSummaryEvent"), "event": {
        "AgentId":"ABCDEF0123456789ABCDEF0123456789","Hostname":"WKS-1","UserName":"a.user","LogonDomain":"CORP",
        "CompositeId":"cid:ind:abc:1-2-3","Name":"SuspiciousScript","Description":"d","Severity":"70","SeverityName":"High",
        "FileName":"powershell.exe","FilePath":"\\Device\\X\\","CommandLine":"powershell -enc AAAA",
        "SHA256String":"AA".repeat(32),"MD5String":"00000000000000000000000000000000","SHA1String":"0".repeat(40),
        "ProcessId":18300000000000000123u64,"ParentImageFileName":"WINWORD.EXE","ParentCommandLine":"winword /n x.docm",
        "ParentProcessId":"12000000000000000042","GrandParentImageFileName":"explorer.exe",
        "HostGroups":"g1,g2","Tags":"FalconGroupingTags/Finance",
        "NetworkAccesses":[{"RemoteAddress":"203.0.113.5","RemotePort":"443","LocalAddress":"10.0.0.1","Protocol":"TCP"},{"RemoteAddress":"203.0.113.5","RemotePort":443}],
        "DnsRequests":[{"DomainName":"bad.example"}],
        "IOCType":"domain","IOCValue":"ioc.example","Tactic":"Execution","Technique":"PowerShell",
        "FalconHostLink":"https://falcon.crowdstrike.com/x"}}),
    );
    assert_eq!(a.kind, AlertKind::Epp);
    assert_eq!(a.id, "cid:ind:abc:1-2-3");
    assert_eq!(
        a.host.aid.as_deref(),
        Some("abcdef0123456789abcdef0123456789")
    );
    assert_eq!(
        a.severity,
        Severity {
            score: 70,
            level: Level::High
        }
    );
    assert_eq!(a.process.sha256.as_deref(), Some("aa".repeat(32).as_str()));
    assert_eq!(a.process.md5, None, "all-zero hash is no hash");
    assert_eq!(
        a.process.process_id.as_deref(),
        Some("18300000000000000123")
    );
    assert_eq!(a.parent.process_id.as_deref(), Some("12000000000000000042"));
    assert_eq!(a.grandparent.file_name.as_deref(), Some("explorer.exe"));
    assert_eq!(a.host.groups, ["g1", "g2"]);
    assert_eq!(a.ips, ["203.0.113.5"]);
    assert_eq!(a.domains, ["bad.example", "ioc.example"]);
    assert_eq!(a.connections.len(), 2);
    assert_eq!(a.connections[0].remote_port, Some(443));
    assert_eq!(a.tactic(), Some("Execution"));
    assert_eq!(a.time_ms, 1773480000000);
    assert_eq!(a.origin.offset, Some(42));
}

#[test]
fn upper_case_epp_spelling_is_the_same_kind() {
    let a = norm(
        json!({"metadata": meta("EPPDetectionSummaryEvent"), "event": {"Name":"X","Severity":90}}),
    );
    assert_eq!(a.kind, AlertKind::Epp);
    assert_eq!(a.severity.level, Level::Critical);
}

#[test]
fn legacy_detection_severity_1_to_5_and_old_names() {
    let a = norm(json!({"metadata": meta("DetectionSummaryEvent"), "event": {
        "ComputerName":"OLD-1","SensorId":"c1b4a2e484be900bf1b74056ee0f96b9","DetectId":"ldt:c1b4:59","DetectName":"Credential Theft",
        "DetectDescription":"dd","Severity":4,"SeverityName":"High","ProcessStartTime":1773480140,
        "GrandparentImageFileName":"/usr/libexec/xpcproxy","GrandparentCommandLine":"xpcproxy x",
        "MitreAttack":[{"PatternID":8251,"Tactic":"CredentialAccess","TacticID":"TA0006","Technique":"OSCredentialDumping","TechniqueID":"T1003"}]}}));
    assert_eq!(a.kind, AlertKind::Legacy);
    assert_eq!(a.id, "ldt:c1b4:59");
    assert_eq!(a.name, "Credential Theft");
    assert_eq!(a.description.as_deref(), Some("dd"));
    assert_eq!(a.host.hostname.as_deref(), Some("OLD-1"));
    assert_eq!(
        a.severity,
        Severity {
            score: 70,
            level: Level::High
        }
    );
    assert_eq!(a.start_ms, Some(1773480140000));
    assert_eq!(a.grandparent.command_line.as_deref(), Some("xpcproxy x"));
    assert_eq!(a.mitre[0].technique_id.as_deref(), Some("T1003"));
}

#[test]
fn idp_detection_names_user_and_arrays() {
    let a = norm(
        json!({"metadata": meta("IdpDetectionSummaryEvent"), "event": {
        "CompositeId":"c:ind:c:1","Name":"Kerberoasting","DisplayName":"Service ticket","Severity":50,
        "HostName":["srv-1.corp.example.com"],"SourceEndpointSensorId":"5e3aa662e4f258bfafc45d4a89472f28",
        "SourceAccountName":"v.h","SourceAccountDomain":"corp.example.com","SourceAccountObjectSid":"S-1-5-21-1",
        "UserNames":["v.h","v.h@corp.example.com"],"SourceIps":["172.27.1.2"],
        "Timestamp":"2026-03-14T09:31:11.580209624Z","StartTime":"2026-03-14T09:23:22.417Z",
        "MitreAttack":[{"tactic":"Credential Access","tactic_id":"TA0006","technique":"Kerberoasting","technique_id":"T1558"}]}}),
    );
    assert_eq!(a.kind, AlertKind::Idp);
    assert_eq!(a.name, "Kerberoasting");
    assert_eq!(a.host.hostname.as_deref(), Some("srv-1.corp.example.com"));
    assert_eq!(
        a.host.aid.as_deref(),
        Some("5e3aa662e4f258bfafc45d4a89472f28")
    );
    assert_eq!(a.user.name.as_deref(), Some("v.h"));
    assert_eq!(a.user.others, ["v.h@corp.example.com"]);
    assert_eq!(a.user.sid.as_deref(), Some("S-1-5-21-1"));
    assert_eq!(a.ips, ["172.27.1.2"]);
    assert_eq!(a.time_ms, 1773480671580);
    assert_eq!(a.start_ms, Some(1773480202417));
    assert_eq!(a.process, Process::default());
}

#[test]
fn xdr_detection_comma_lists() {
    let a = norm(
        json!({"metadata": meta("XdrDetectionSummaryEvent"), "event": {
        "Name":"Brute force","Severity":70,"DetectId":"c:xdr:c:bf","Tactics":"Credential Access,Initial Access",
        "Techniques":"Brute Force,Valid Accounts","HostNames":"SRV-1,mbp-7","AgentIds":"AA11,bb22",
        "Users":"x@corp,z@corp","IPv4Addresses":"192.168.1.1,192.0.2.59","DomainNames":"",
        "SHA256Hashes":"d81d197eecb63f61d1cdcb26225996b8950d7f05dc8fc56f6a21d6f791a9d3a0",
        "StartTimeEpoch":1773479056737u64,"EndTimeEpoch":"1773480211673"}}),
    );
    assert_eq!(a.host.hostname.as_deref(), Some("SRV-1"));
    assert_eq!(a.host.aid.as_deref(), Some("aa11"));
    assert_eq!(a.host.others, ["mbp-7", "bb22"]);
    assert_eq!(a.user.name.as_deref(), Some("x@corp"));
    assert_eq!(a.user.others, ["z@corp"]);
    assert_eq!(a.ips, ["192.168.1.1", "192.0.2.59"]);
    assert!(a.domains.is_empty());
    assert_eq!(a.hashes.len(), 1);
    assert_eq!(a.mitre.len(), 2);
    assert_eq!(a.mitre[1].technique.as_deref(), Some("Valid Accounts"));
    assert_eq!(
        (a.start_ms, a.end_ms),
        (Some(1773479056737), Some(1773480211673))
    );
}

#[test]
fn incident_and_custom_ioc_get_names_and_ids() {
    let a = norm(json!({"metadata": meta("IncidentSummaryEvent"), "event": {
        "IncidentID":"inc:98:e6","HostID":"9805EB9845876B9015EBAD0F8FE28949","FineScore":6.2,"IncidentStartTime":1773475563,
        "LMHostIDs":["aaaa","bbbb"],"FalconHostLink":"https://falcon.crowdstrike.com/crowdscore/incidents/details/inc:98:e6"}}));
    assert_eq!(a.kind, AlertKind::Incident);
    assert_eq!(a.id, "inc:98:e6");
    assert_eq!(a.name, "Incident");
    assert_eq!(
        a.severity,
        Severity {
            score: 62,
            level: Level::High
        }
    );
    assert_eq!(
        a.host.aid.as_deref(),
        Some("9805eb9845876b9015ebad0f8fe28949")
    );
    assert_eq!(a.host.others, ["aaaa", "bbbb"]);

    let a = norm(json!({"metadata": meta("CustomerIOCEvent"), "event": {
        "AgentIdString":"f9d3dc219f15566040277e01333ad599","ComputerName":"WKS-MEL","IPv4":"192.0.2.12","ProcessId":"2842141987","FileName":""}}));
    assert_eq!(a.kind, AlertKind::Other);
    assert_eq!(a.id, "CustomerIOCEvent:0123456789abcdef0123456789abcdef:42");
    assert_eq!(a.name, "Custom IOC match");
    assert_eq!(a.severity.level, Level::Medium, "no severity → medium");
    assert_eq!(a.process.file_name, None, "empty strings are absent");
    assert_eq!(a.ips, ["192.0.2.12"]);
}

#[test]
fn non_alerts_and_malformed_events() {
    let sel = all();
    let ok = |v: Value| normalize(&v, &sel, Origin::default());
    assert_eq!(
        ok(json!({"metadata": meta("UserActivityAuditEvent"), "event": {}})),
        Ok(None)
    );
    assert_eq!(
        normalize(
            &json!({"metadata": meta("CustomerIOCEvent"), "event": {}}),
            &Selection::default(),
            Origin::default()
        ),
        Ok(None),
        "extra types only when configured"
    );
    assert_eq!(ok(json!([1])), Err(NormalizeError::NotObject));
    assert_eq!(ok(json!({"event": {}})), Err(NormalizeError::NoEventType));
    assert!(matches!(
        ok(json!({"metadata": meta("EppDetectionSummaryEvent"), "event": "x"})),
        Err(NormalizeError::NoBody { .. })
    ));
    // Wrong types everywhere: still an alert, never a panic.
    let a = norm(
        json!({"metadata": meta("EppDetectionSummaryEvent"), "event": {
        "Severity":"high?","Name":{"x":1},"AgentId":[],"NetworkAccesses":"nope","MitreAttack":{"a":1},
        "Timestamp":"yesterday","HostGroups":17,"ProcessId":-5,"NetworkAccesses2":[1]}}),
    );
    assert_eq!(a.name, "EppDetectionSummaryEvent");
    assert_eq!(a.severity.level, Level::Medium);
    assert_eq!(a.host.groups, ["17"]);
    assert_eq!(a.time_ms, 1773480000000);
}

#[test]
fn times_in_every_unit() {
    let t = |v: Value| time_ms(Some(&v));
    assert_eq!(t(json!(1773480000)), Some(1773480000000));
    assert_eq!(t(json!(1773480000123u64)), Some(1773480000123));
    assert_eq!(t(json!("1773480000123456")), Some(1773480000123));
    assert_eq!(t(json!(1773480000123456789u64)), Some(1773480000123));
    // FILETIME (100 ns since 1601), as the older IDP stream shape sends it.
    assert_eq!(t(json!(134180536001230000u64)), Some(1773580000123));
    assert_eq!(t(json!("2026-03-14T09:20:00Z")), Some(1773480000000));
    assert_eq!(t(json!("2026-03-14T09:20:00.5")), Some(1773480000500));
    assert_eq!(t(json!(0)), None);
    assert_eq!(t(json!("soon")), None);
}

#[test]
fn every_alert_in_the_stream_fixtures_normalises() {
    let sel = all();
    let lines = stream_events(&StreamOptions::default());
    let mut kinds = std::collections::BTreeMap::new();
    for l in &lines {
        let v: Value = serde_json::from_str(&l.line).unwrap();
        if let Some(a) = normalize(&v, &sel, Origin::default()).unwrap() {
            *kinds.entry(a.kind.as_str()).or_insert(0) += 1;
            assert!(!a.name.is_empty() && !a.id.is_empty());
            assert_eq!(a.origin.offset, Some(l.offset));
        }
    }
    for k in ["epp", "idp", "xdr", "legacy", "incident", "other"] {
        assert!(kinds.get(k).copied().unwrap_or(0) > 0, "{k}: {kinds:?}");
    }
    // The planted detection.
    let planted = lines
        .iter()
        .find(|l| l.line.contains(scenario::DETECTION_NAME))
        .unwrap();
    let a = norm(serde_json::from_str(&planted.line).unwrap());
    assert_eq!(a.host.aid.as_deref(), Some(scenario::SCENARIO_HOST_AID));
    assert_eq!(
        a.host.hostname.as_deref(),
        Some(scenario::SCENARIO_HOSTNAME)
    );
    assert_eq!(a.user.name.as_deref(), Some(scenario::SCENARIO_USER));
    assert_eq!(
        a.process.command_line.as_deref(),
        Some(scenario::POWERSHELL_COMMAND_LINE)
    );
    assert_eq!(a.ips, [scenario::C2_IP]);
    assert_eq!(a.domains, [scenario::BAD_DOMAIN]);
    assert_eq!(
        a.parent.process_id.as_deref(),
        Some(scenario::WINWORD_PROCESS_ID.to_string().as_str())
    );
    assert_eq!(a.severity.level, Level::High);
}

/// `CredentialAccess` and `Credential Access` were two labels (issue #12):
/// every spelling of a MITRE tactic is its one name and id.
#[test]
fn tactics_have_one_spelling() {
    for spelling in [
        "CredentialAccess",
        "Credential Access",
        "credential_access",
        " CREDENTIAL-ACCESS ",
    ] {
        assert_eq!(
            super::tactic(Some(spelling), None),
            (
                Some("Credential Access".to_owned()),
                Some("TA0006".to_owned())
            ),
            "{spelling}"
        );
    }
    assert_eq!(
        super::tactic(None, Some("ta0011")),
        (
            Some("Command and Control".to_owned()),
            Some("TA0011".to_owned())
        )
    );
    assert_eq!(
        super::tactic(Some("Malware"), None),
        (Some("Malware".to_owned()), None)
    );
}
