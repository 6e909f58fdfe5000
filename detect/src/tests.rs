//! Each Sigma feature the issue names, on FDR-shaped events: numbers as
//! strings, base-name parents, device paths, repeated keys, u64 ids.

use crate::rules::{RuleFile, Severity, load};
use crate::{Detector, source};
use std::collections::BTreeSet;

fn rule(id: &str, category: &str, detection: &str) -> RuleFile {
    RuleFile {
        name: format!("{id}.yml"),
        text: format!(
            "title: rule {id}\nid: {id}\nlevel: high\nlogsource:\n  category: {category}\n  product: windows\ndetection:\n{detection}\n"
        ),
    }
}

/// The ids of the rules `events` (JSON objects) fire, one set per event.
fn fired(rules: &[RuleFile], events: &[&str]) -> Vec<BTreeSet<String>> {
    let loaded = load(rules);
    assert_eq!(loaded.errors(), 0, "{:?}", loaded.problems);
    let d = Detector::new(&loaded.rules);
    events
        .iter()
        .map(|e| {
            let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(e).unwrap();
            let members: Vec<(String, String)> =
                v.into_iter().map(|(k, v)| (k, v.to_string())).collect();
            let mut hits = Vec::new();
            d.evaluate(
                members.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                std::iter::empty(),
                &mut hits,
            );
            hits.into_iter().map(|h| h.rule.id.clone()).collect()
        })
        .collect()
}

fn one(rules: &[RuleFile], event: &str) -> BTreeSet<String> {
    fired(rules, &[event]).remove(0)
}

const PROC: &str = r#""event_simpleName":"ProcessRollup2","event_platform":"Win""#;

#[test]
fn modifiers() {
    let rules = [
        rule(
            "contains",
            "process_creation",
            "  s:\n    CommandLine|contains: 'Invoke-Mimikatz'\n  condition: s",
        ),
        rule(
            "starts",
            "process_creation",
            "  s:\n    CommandLine|startswith: 'certutil'\n  condition: s",
        ),
        rule(
            "all",
            "process_creation",
            "  s:\n    CommandLine|contains|all: ['-urlcache', '-f']\n  condition: s",
        ),
        rule(
            "re",
            "process_creation",
            "  s:\n    CommandLine|re: 'vssadmin(\\.exe)?\\s+delete\\s+shadows'\n  condition: s",
        ),
        rule(
            "b64",
            "process_creation",
            "  s:\n    CommandLine|base64offset|contains: 'IEX'\n  condition: s",
        ),
        rule(
            "windash",
            "process_creation",
            "  s:\n    CommandLine|windash|contains: ' -decode '\n  condition: s",
        ),
    ];
    let ev = |cl: &str| {
        format!(
            r#"{{{PROC},"CommandLine":{}}}"#,
            serde_json::Value::from(cl)
        )
    };
    let got = fired(
        &rules,
        &[
            &ev("powershell Invoke-Mimikatz -DumpCreds"),
            &ev("CERTUTIL -urlcache -f http://x/y.exe y.exe"),
            &ev("cmd /c vssadmin.exe  delete shadows /all"),
            // "IEX" base64-encoded at offset 0 inside a longer string.
            &ev("powershell -e SUVYIChOZXctT2JqZWN0"),
            &ev("certutil /decode a b"),
            &ev("notepad.exe"),
        ],
    );
    let ids = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(got[0], ids(&["contains"]));
    assert_eq!(got[1], ids(&["starts", "all"]));
    assert_eq!(got[2], ids(&["re"]));
    assert_eq!(got[3], ids(&["b64"]));
    assert_eq!(got[4], ids(&["starts", "windash"]));
    assert!(got[5].is_empty());
}

#[test]
fn numbers_written_as_strings_and_comparisons() {
    let rules = [
        rule(
            "port",
            "network_connection",
            "  s:\n    DestinationPort: 4444\n  condition: s",
        ),
        rule(
            "high",
            "network_connection",
            "  s:\n    DestinationPort|gte: 49152\n  condition: s",
        ),
        rule(
            "cidr",
            "network_connection",
            "  s:\n    DestinationIp|cidr: '203.0.113.0/24'\n  condition: s",
        ),
    ];
    let net = r#""event_simpleName":"NetworkConnectIP4","event_platform":"Win""#;
    let got = fired(
        &rules,
        &[
            &format!(r#"{{{net},"RemotePort":"4444","RemoteAddressIP4":"198.51.100.1"}}"#),
            &format!(r#"{{{net},"RemotePort":"50000","RemoteAddressIP4":"203.0.113.66"}}"#),
            &format!(r#"{{{net},"RemotePort":"443","RemoteAddressIP4":"10.1.1.1"}}"#),
        ],
    );
    assert_eq!(got[0], BTreeSet::from(["port".to_owned()]));
    assert_eq!(
        got[1],
        BTreeSet::from(["high".to_owned(), "cidr".to_owned()])
    );
    assert!(got[2].is_empty());
}

#[test]
fn conditions() {
    let rules = [
        rule(
            "cond",
            "process_creation",
            "  selection_a:\n    CommandLine|contains: 'alpha'\n  selection_b:\n    CommandLine|contains: 'beta'\n  filter:\n    User: 'SYSTEM'\n  condition: 1 of selection_* and not filter",
        ),
        rule(
            "allof",
            "process_creation",
            "  sel_a:\n    CommandLine|contains: 'alpha'\n  sel_b:\n    CommandLine|contains: 'beta'\n  condition: all of sel_*",
        ),
    ];
    let ev =
        |cl: &str, user: &str| format!(r#"{{{PROC},"CommandLine":"{cl}","UserName":"{user}"}}"#);
    let got = fired(
        &rules,
        &[
            &ev("alpha", "jdoe"),
            &ev("beta", "SYSTEM"),
            &ev("alpha beta", "jdoe"),
            &ev("gamma", "jdoe"),
        ],
    );
    assert_eq!(got[0], BTreeSet::from(["cond".to_owned()]));
    assert!(got[1].is_empty());
    assert_eq!(
        got[2],
        BTreeSet::from(["cond".to_owned(), "allof".to_owned()])
    );
    assert!(got[3].is_empty());
}

#[test]
fn parents_are_base_names_and_paths_have_device_volumes() {
    let rules = [
        rule(
            "parent",
            "process_creation",
            "  s:\n    ParentImage|endswith: '\\winword.exe'\n  condition: s",
        ),
        rule(
            "drive",
            "process_creation",
            "  s:\n    Image: 'C:\\Windows\\System32\\cmd.exe'\n  condition: s",
        ),
        rule(
            "device",
            "process_creation",
            "  s:\n    Image|startswith: '\\Device\\HarddiskVolume'\n  condition: s",
        ),
        rule(
            "hash",
            "process_creation",
            "  s:\n    Hashes|contains: 'SHA256=AB12'\n  condition: s",
        ),
    ];
    let got = one(
        &rules,
        &format!(
            r#"{{{PROC},"ParentBaseFileName":"WINWORD.EXE","ImageFileName":"\\Device\\HarddiskVolume2\\Windows\\System32\\cmd.exe","SHA256HashData":"ab12cd"}}"#
        ),
    );
    assert_eq!(
        got,
        ["parent", "drive", "device", "hash"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    );
}

#[test]
fn a_repeated_key_cannot_hide_a_value_and_u64_ids_stay_exact() {
    let rules = [
        rule(
            "evil",
            "process_creation",
            "  s:\n    CommandLine|contains: 'evil'\n  condition: s",
        ),
        rule(
            "id",
            "process_creation",
            "  s:\n    TargetProcessId: '18446744073709551615'\n  condition: s",
        ),
    ];
    let loaded = load(&rules);
    let d = Detector::new(&loaded.rules);
    // As the forwarder's parser hands them over: each member once (its last
    // value), the earlier values of repeated keys apart.
    let members = [
        ("event_simpleName", r#""ProcessRollup2""#),
        ("event_platform", r#""Win""#),
        ("CommandLine", r#""benign""#),
        ("TargetProcessId", r#""18446744073709551615""#),
    ];
    let earlier = [("CommandLine", r#""evil""#)];
    let mut hits = Vec::new();
    d.evaluate(members.iter().copied(), earlier.iter().copied(), &mut hits);
    let got: BTreeSet<String> = hits.into_iter().map(|h| h.rule.id.clone()).collect();
    assert_eq!(got, BTreeSet::from(["evil".to_owned(), "id".to_owned()]));
}

#[test]
fn unmappable_fields_and_bad_files_are_reported_and_skipped() {
    let files = [
        rule("good", "process_creation", "  s:\n    CommandLine|contains: 'x'\n  condition: s"),
        rule("parentcl", "process_creation", "  s:\n    ParentCommandLine|contains: 'x'\n  condition: s"),
        rule("webserver", "webserver", "  s:\n    cs-uri-query|contains: 'x'\n  condition: s"),
        RuleFile {
            name: "broken.yml".into(),
            text: "title: [unclosed\n".into(),
        },
        RuleFile {
            name: "noid.yml".into(),
            text: "title: t\nlogsource:\n  category: process_creation\ndetection:\n  s:\n    CommandLine: x\n  condition: s\n".into(),
        },
        rule("parentpath", "process_creation", "  s:\n    ParentImage: 'C:\\Windows\\explorer.exe'\n  condition: s"),
    ];
    let loaded = load(&files);
    let ids: Vec<&str> = loaded.rules.iter().map(|r| r.meta.id.as_str()).collect();
    assert_eq!(ids, vec!["good", "parentpath"]);
    let said: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    let has = |file: &str, text: &str| {
        assert!(
            said.iter().any(|p| p.contains(file) && p.contains(text)),
            "{file} / {text} in {said:#?}"
        );
    };
    has("parentcl.yml", "ParentCommandLine");
    has("webserver.yml", "category `webserver`");
    has("broken.yml", "error");
    has("noid.yml", "no `id`");
    has("parentpath.yml", "only the file name");
    assert_eq!(loaded.errors(), 4);
    assert!(
        loaded
            .problems
            .iter()
            .any(|p| p.severity == Severity::Warning && p.file == "parentpath.yml")
    );
}

#[tokio::test]
async fn a_directory_is_reloaded_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let src = source::RulesSource::parse(dir.path().to_str().unwrap()).unwrap();
    let store = falconry_common::Store::open(&src.location).await;
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    let r = rule(
        "one",
        "process_creation",
        "  s:\n    CommandLine|contains: 'x'\n  condition: s",
    );
    write(&r.name, &r.text);
    let (loaded, first) = source::load(&store, &src).await.unwrap();
    assert_eq!(loaded.rules.len(), 1);
    assert_eq!(source::fingerprint(&store, &src).await.unwrap(), first);
    // A second rule and a broken one: the good ones load, the bad is reported.
    let r2 = rule(
        "two",
        "dns_query",
        "  s:\n    QueryName|endswith: '.example'\n  condition: s",
    );
    write(&r2.name, &r2.text);
    write("bad.yml", "detection: [");
    write("notes.txt", "not a rule");
    let second = source::fingerprint(&store, &src).await.unwrap();
    assert_ne!(second, first);
    let (loaded, _) = source::load(&store, &src).await.unwrap();
    assert_eq!(loaded.rules.len(), 2);
    assert_eq!(loaded.errors(), 1);
    assert_eq!(loaded.problems[0].file, "bad.yml");
}

#[tokio::test]
async fn live_rules_reload_on_change_and_keep_the_old_set_when_the_source_fails() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let r = rule(
        "one",
        "process_creation",
        "  s:\n    CommandLine|contains: 'x'\n  condition: s",
    );
    std::fs::write(rules.join(&r.name), &r.text).unwrap();
    let settings = crate::DetectConfig {
        rules: Some(rules.display().to_string()),
        ..Default::default()
    }
    .validate()
    .unwrap()
    .unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    let live = crate::LiveRules::start(settings, crate::DetectMetrics::new(&mut registry))
        .await
        .unwrap();
    assert_eq!(live.current().rule_count(), 1);
    assert!(!live.reload_if_changed().await.unwrap());
    let r2 = rule(
        "two",
        "dns_query",
        "  s:\n    QueryName|endswith: '.example'\n  condition: s",
    );
    std::fs::write(rules.join(&r2.name), &r2.text).unwrap();
    std::fs::write(rules.join("bad.yml"), "title: [").unwrap();
    assert!(live.reload_if_changed().await.unwrap());
    assert_eq!(live.current().rule_count(), 2);
    assert_eq!(live.metrics.load_errors.get(), 1);
    // The folder gone: the rules in force stay.
    std::fs::remove_dir_all(&rules).unwrap();
    let _ = live.reload_if_changed().await;
    assert_eq!(live.current().rule_count(), 2);
}

/// The prefilter only skips rules that cannot match: over the fixtures'
/// events (hard cases included), the rules fire exactly as when every rule
/// meets every event of its type. Rules of every shape the prefilter reads:
/// selectors, `not`, `|all`, wildcards, exact values, numbers, regexes.
#[test]
fn the_prefilter_never_drops_a_hit() {
    let exes = [
        "cmd.exe",
        "powershell.exe",
        "svchost.exe",
        "rundll32.exe",
        "explorer.exe",
        "winword.exe",
    ];
    let tokens = [
        "-enc", "/c", "hidden", "temp", "http", "-nop", "system32", ".dll", "a", "e",
    ];
    let mut rules: Vec<RuleFile> = crate::starter::files().0;
    let mut n = 0u64;
    let mut next = || {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (n >> 33) as usize
    };
    for i in 0..300 {
        let exe = exes[next() % exes.len()];
        let tok = tokens[next() % tokens.len()];
        let tok2 = tokens[next() % tokens.len()];
        let detection = match i % 8 {
            0 => format!(
                "  selection_a:\n    Image|endswith: '\\{exe}'\n  selection_b:\n    CommandLine|contains: '{tok}'\n  condition: all of selection_*"
            ),
            1 => format!(
                "  selection_a:\n    Image|endswith: '\\{exe}'\n  selection_b:\n    CommandLine|contains: '{tok}'\n  condition: 1 of selection_*"
            ),
            2 => format!(
                "  s:\n    CommandLine|contains|all: ['{tok}', '{tok2}']\n  f:\n    ParentImage|endswith: '\\{exe}'\n  condition: s and not f"
            ),
            3 => format!("  s:\n    Image: '*\\{exe}'\n  condition: s"),
            4 => format!(
                "  s:\n    CommandLine|re: '(?i){tok}'\n  t:\n    Image|contains: 'windows'\n  condition: s or t"
            ),
            5 => format!("  s:\n    ParentImage|endswith: '\\{exe}'\n  condition: not s"),
            6 => format!(
                "  s:\n    - Image|endswith: '\\{exe}'\n    - CommandLine|startswith: '{tok}'\n  condition: all of them"
            ),
            _ => format!(
                "  s:\n    CommandLine|cased|contains: '{tok}'\n    User|contains: '{tok2}'\n  condition: s"
            ),
        };
        rules.push(rule(&format!("gen{i}"), "process_creation", &detection));
    }
    for (i, port) in [443, 4444, 53].iter().enumerate() {
        rules.push(rule(
            &format!("net{i}"),
            "network_connection",
            &format!("  s:\n    DestinationPort: {port}\n  condition: s"),
        ));
        rules.push(rule(
            &format!("dns{i}"),
            "dns_query",
            &format!(
                "  s:\n    QueryName|endswith: '.{}'\n  condition: s",
                ["example", "com", "org"][i]
            ),
        ));
    }
    let loaded = load(&rules);
    assert_eq!(loaded.errors(), 0, "{:?}", loaded.problems);
    let (fast, slow) = (
        Detector::new(&loaded.rules),
        Detector::without_prefilter(&loaded.rules),
    );
    let batch = falconry_fixtures::fdr_batch(&falconry_fixtures::BatchOptions {
        seed: 5,
        data_files: 2,
        events_per_file: 1500,
        ..Default::default()
    });
    let (mut events, mut hits) = (0, 0);
    for f in &batch.files {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(&f.bytes[..]),
            &mut text,
        );
        for line in text.split(|b| *b == b'\n') {
            let Ok(serde_json::Value::Object(m)) =
                serde_json::from_slice::<serde_json::Value>(line)
            else {
                continue;
            };
            let members: Vec<(String, String)> =
                m.into_iter().map(|(k, v)| (k, v.to_string())).collect();
            let run = |d: &Detector| {
                let mut h = Vec::new();
                d.evaluate(
                    members.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    std::iter::empty(),
                    &mut h,
                );
                h.into_iter()
                    .map(|h| h.rule.id.clone())
                    .collect::<BTreeSet<_>>()
            };
            let (a, b) = (run(&fast), run(&slow));
            assert_eq!(a, b, "{members:?}");
            events += 1;
            hits += a.len();
        }
    }
    assert!(events > 2000 && hits > 500, "{events} events, {hits} hits");
}

/// A YAML alias bomb (a small file that expands into billions of nodes) is
/// refused by the parser's repetition limit, quickly, in the rule and the
/// test files alike.
#[test]
fn a_yaml_alias_bomb_is_refused() {
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (i, name) in "bcdefghi".chars().enumerate() {
        let prev = "abcdefghi".chars().nth(i).unwrap();
        bomb.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
    }
    let rule_file = RuleFile {
        name: "bomb.yml".into(),
        text: format!(
            "title: bomb\nid: bomb\n{bomb}logsource:\n  category: process_creation\ndetection:\n  s:\n    CommandLine: x\n  condition: s\n"
        ),
    };
    let loaded = load(std::slice::from_ref(&rule_file));
    assert!(loaded.rules.is_empty());
    assert!(
        loaded.problems[0].message.contains("repetition limit"),
        "{:?}",
        loaded.problems
    );
    let tests = RuleFile {
        name: "bomb.tests.yml".into(),
        text: format!("{bomb}match: []\n"),
    };
    let report = crate::testing::run(&[], &[tests]);
    assert!(report.failed());
}
