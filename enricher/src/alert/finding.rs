//! A finding (one of the organisation's Sigma rules matching an FDR event,
//! as the forwarder wrote it under `findings/`) becomes an [`Alert`] of kind
//! `rule`: the rule is the detection, its level the severity, the event's
//! members the host, user, process and network facts. A finding with an
//! `indicator` becomes an alert of kind `ioc`, its indicator in `ioc` and
//! `rule.indicator`.
//!
//! Pure and lenient, as `normalize.rs`.

use super::model::*;
use super::normalize::{level_score, push_unique};
use falconry_common::lake::findings::Finding;
use serde_json::{Map, Value};

/// `event_type` of every rule alert.
pub const RULE_EVENT_TYPE: &str = "SigmaRuleFinding";
/// `event_type` of every indicator alert.
pub const IOC_EVENT_TYPE: &str = "IocFinding";

pub fn from_finding(f: &Finding, origin: Origin) -> Alert {
    let event: Map<String, Value> = serde_json::from_str(&f.event).unwrap_or_default();
    let s = |k: &str| {
        event.get(k).and_then(|v| match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let level = Level::parse(&f.rule.level).unwrap_or(Level::Medium);
    let image = s("ImageFileName");
    let process = Process {
        file_name: image
            .as_deref()
            .and_then(|p| p.rsplit(['\\', '/']).next())
            .map(str::to_owned),
        file_path: image,
        command_line: s("CommandLine"),
        sha256: s("SHA256HashData").map(|h| h.to_ascii_lowercase()),
        md5: s("MD5HashData").map(|h| h.to_ascii_lowercase()),
        process_id: s("TargetProcessId"),
    };
    let parent = Process {
        file_name: s("ParentBaseFileName"),
        process_id: s("ParentProcessId"),
        ..Process::default()
    };
    let mut ips = Vec::new();
    for k in ["RemoteAddressIP4", "RemoteAddressIP6"] {
        if let Some(ip) = s(k) {
            push_unique(&mut ips, &ip);
        }
    }
    let mut domains = Vec::new();
    if let Some(d) = s("DomainName") {
        push_unique(&mut domains, &d);
    }
    let connections = ips
        .first()
        .map(|ip| Connection {
            remote_ip: ip.clone(),
            remote_port: s("RemotePort").and_then(|p| p.parse().ok()),
            local_ip: s("LocalAddressIP4").or_else(|| s("LocalAddressIP6")),
            protocol: s("Protocol"),
        })
        .into_iter()
        .collect();
    let aid = f
        .aid
        .as_deref()
        .or(event.get("aid").and_then(Value::as_str))
        .and_then(super::agent_id);
    let (kind, event_type) = if f.indicator.is_some() {
        (AlertKind::Ioc, IOC_EVENT_TYPE)
    } else {
        (AlertKind::Rule, RULE_EVENT_TYPE)
    };
    Alert {
        kind,
        event_type: event_type.to_owned(),
        // One alert per rule, source file and line: a redelivered finding is
        // the same alert (the dedup records skip it). An indicator's rule id
        // is `ioc:<type>:<value>`.
        id: if f.indicator.is_some() {
            format!("{}:{}:{}", f.rule.id, f.source.key, f.source.line)
        } else {
            format!("rule:{}:{}:{}", f.rule.id, f.source.key, f.source.line)
        },
        composite_id: None,
        product: None,
        cid: s("cid"),
        name: f.rule.title.clone(),
        description: f.rule.description.clone(),
        pattern_id: Some(if f.indicator.is_some() {
            f.rule.id.clone()
        } else {
            format!("sigma:{}", f.rule.id)
        }),
        severity: Severity {
            score: level_score(level),
            level,
        },
        time_ms: f.timestamp.unwrap_or(0),
        start_ms: None,
        end_ms: None,
        host: Host {
            aid,
            hostname: f.computer_name.clone().or_else(|| s("ComputerName")),
            local_ip: s("LocalAddressIP4"),
            ..Host::default()
        },
        user: User {
            name: s("UserName"),
            sid: s("UserSid"),
            ..User::default()
        },
        process,
        parent,
        grandparent: Process {
            file_name: s("GrandParentBaseFileName"),
            ..Process::default()
        },
        ips,
        domains,
        hashes: Vec::new(),
        connections,
        ioc: f.indicator.as_ref().map(|i| Ioc {
            kind: i.kind.clone(),
            value: i.value.clone(),
        }),
        mitre: mitre(&f.rule.tags),
        objective: None,
        disposition: None,
        console_url: None,
        origin,
        rule: Some(RuleMatch {
            id: f.rule.id.clone(),
            title: f.rule.title.clone(),
            level: f.rule.level.clone(),
            status: f.rule.status.clone(),
            tags: f.rule.tags.clone(),
            falsepositives: f.rule.falsepositives.clone(),
            file: f.rule.file.clone(),
            source_bucket: f.source.bucket.clone(),
            source_key: f.source.key.clone(),
            source_line: f.source.line,
            event_simplename: f.event_simplename.clone(),
            matched: f
                .matched
                .iter()
                .map(|m| (m.field.clone(), m.value.clone()))
                .collect(),
            indicator: f.indicator.clone(),
        }),
    }
}

/// Sigma's ATT&CK tags (`attack.execution`, `attack.t1059.001`) as entries.
/// Sigma does not pair tactics with techniques: the n-th technique is given
/// the n-th tactic (else the first); tactics left over stand alone.
fn mitre(tags: &[String]) -> Vec<Mitre> {
    let mut tactics = Vec::new();
    let mut techniques = Vec::new();
    for t in tags {
        let Some(rest) = t.strip_prefix("attack.") else {
            continue;
        };
        let mut chars = rest.chars();
        let head = chars.next().map(|c| c.to_ascii_lowercase());
        let numbered = chars.next().is_some_and(|c| c.is_ascii_digit());
        match head {
            Some('t') if numbered => techniques.push(rest.to_ascii_uppercase()),
            // Groups (g0016) and software (s0002) are not tactics.
            Some('g' | 's') if numbered => {}
            _ => tactics.push(title_case(rest)),
        }
    }
    let mut out: Vec<Mitre> = techniques
        .iter()
        .enumerate()
        .map(|(i, t)| Mitre {
            tactic: tactics.get(i).or(tactics.first()).cloned(),
            technique_id: Some(t.clone()),
            ..Mitre::default()
        })
        .collect();
    for t in tactics.iter().skip(techniques.len()) {
        out.push(Mitre {
            tactic: Some(t.clone()),
            ..Mitre::default()
        });
    }
    out
}

/// `initial-access` / `initial_access` → `Initial Access`.
fn title_case(s: &str) -> String {
    s.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_is_a_rule_alert() {
        let line = r#"{"rule":{"id":"r-1","title":"Office spawns PowerShell","level":"high","tags":["attack.execution","attack.t1059.001"],"falsepositives":["Add-ins"],"file":"office.yml"},
            "source":{"bucket":"b","key":"data/x/part-00000.gz","line":7},"aid":"ABCDEF0123456789ABCDEF0123456789",
            "event_simplename":"ProcessRollup2","timestamp":1773480000000,"matched":[{"field":"ParentBaseFileName","value":"WINWORD.EXE"}],
            "event":"{\"event_simpleName\":\"ProcessRollup2\",\"ImageFileName\":\"\\\\Device\\\\HarddiskVolume3\\\\Windows\\\\powershell.exe\",\"CommandLine\":\"powershell -enc x\",\"UserName\":\"t.ferreira\",\"ParentBaseFileName\":\"WINWORD.EXE\",\"RawProcessId\":\"4242\"}"}"#;
        let f: Finding = serde_json::from_str(line).unwrap();
        let a = from_finding(&f, Origin::default());
        assert_eq!(a.kind, AlertKind::Rule);
        assert_eq!(a.severity.level, Level::High);
        assert_eq!(a.id, "rule:r-1:data/x/part-00000.gz:7");
        assert_eq!(
            a.host.aid.as_deref(),
            Some("abcdef0123456789abcdef0123456789")
        );
        assert_eq!(a.process.file_name.as_deref(), Some("powershell.exe"));
        assert_eq!(a.parent.file_name.as_deref(), Some("WINWORD.EXE"));
        assert_eq!(a.user.name.as_deref(), Some("t.ferreira"));
        assert_eq!(a.tactic(), Some("Execution"));
        assert_eq!(a.mitre[0].technique_id.as_deref(), Some("T1059.001"));
        assert_eq!(a.mitre.len(), 1);
        let r = a.rule.unwrap();
        assert_eq!(r.falsepositives, vec!["Add-ins".to_owned()]);
        assert_eq!(
            r.matched[0],
            ("ParentBaseFileName".into(), "WINWORD.EXE".into())
        );
    }
}
