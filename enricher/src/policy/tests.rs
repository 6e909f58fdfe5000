use super::input::sample_alert;
use super::rego_tests::test_rule_names;
use super::*;
use crate::alert::{AlertKind, Level, Severity};
use crate::decision::Action;
use std::path::Path;

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies")
}

/// Every `*_test.rego` next to the default policy.
fn rego_test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(policies_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("_test.rego"))
        .collect();
    files.sort();
    files
}

/// Panics naming every failed test rule.
fn assert_rego_tests_pass(outcomes: &[TestOutcome]) {
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.failure
                .as_ref()
                .map(|f| format!("{} ({}): {f}", o.rule, o.file.display()))
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} Rego test(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn routing_example() -> Policy {
    Policy::load(&[], &[policies_dir().join("routing.json")]).unwrap()
}

fn alert(kind: AlertKind, level: Level, score: u8) -> Alert {
    let mut alert = sample_alert();
    alert.kind = kind;
    alert.severity = Severity { score, level };
    alert.host.hostname = Some("WS-0042".into());
    alert
}

fn section(provider: &str, data: Value) -> crate::alert::Section {
    crate::alert::Section {
        provider: provider.into(),
        title: provider.into(),
        status: crate::alert::Status::Available,
        table: crate::alert::Table::default(),
        notes: Vec::new(),
        data,
    }
}

/// A policy that returns `input.decision` when given, so a test can hand
/// the output checks any value.
fn echo_policy(dir: &Path) -> Policy {
    let file = write(
        dir,
        "echo.rego",
        "package falconry\nimport rego.v1\n\
         decision := object.get(input, \"decision\", {\"action\": \"issue\", \"severity\": \"low\"})\n",
    );
    Policy::load(&[file], &[]).unwrap()
}

#[test]
fn policy_is_shareable_across_tasks() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Policy>();
}

#[test]
fn input_has_alert_and_enrichment() {
    let enrichment = Enrichment {
        sections: vec![section("geoip", serde_json::json!({"country": "NL"}))],
    };
    let value = input(&sample_alert(), &enrichment);
    assert_eq!(value["alert"]["kind"], "epp");
    assert_eq!(value["alert"]["severity"]["level"], "medium");
    assert_eq!(value["alert"]["host"]["groups"], serde_json::json!([]));
    assert_eq!(value["enrichment"]["geoip"]["status"], "available");
    assert_eq!(value["enrichment"]["geoip"]["data"]["country"], "NL");
    assert_eq!(
        input(&sample_alert(), &Enrichment::default())["enrichment"],
        serde_json::json!({})
    );
}

#[test]
fn builtin_policy_decides_the_sample() {
    let policy = Policy::load(&[], &[]).unwrap();
    let decision = policy.evaluate(&sample_input()).unwrap();
    assert_eq!(
        decision,
        Decision {
            action: Action::Issue,
            severity: Level::Medium,
            reasons: vec![
                "Falcon rates this detection medium (score 50).".into(),
                "Severity medium is at or above the issue threshold (medium): an issue.".into(),
                "No routes configured: the default route.".into(),
            ],
            labels: vec![
                "falconry".into(),
                "severity:medium".into(),
                "source:epp".into(),
                "tactic:execution".into(),
            ],
            assignees: vec![],
            repo: None,
            slack_channel: None,
            runbook: None,
            policy_error: None,
        }
    );
}

#[test]
fn epp_high_is_an_issue() {
    let policy = Policy::load(&[], &[]).unwrap();
    let d = policy.decide(
        &alert(AlertKind::Epp, Level::High, 70),
        &Enrichment::default(),
    );
    assert_eq!((d.action, d.severity), (Action::Issue, Level::High));
    assert!(d.labels.contains(&"severity:high".to_owned()));
    assert!(d.labels.contains(&"source:epp".to_owned()));
    assert_eq!(d.policy_error, None);
}

#[test]
fn idp_medium_on_privileged_account_becomes_high() {
    let policy = Policy::load(&[], &[]).unwrap();
    let idp = alert(AlertKind::Idp, Level::Medium, 50);
    let d = policy.decide(&idp, &Enrichment::default());
    assert_eq!((d.action, d.severity), (Action::Issue, Level::Medium));
    let enrichment = Enrichment {
        sections: vec![section(
            "directory",
            serde_json::json!({"privileged": true}),
        )],
    };
    let d = policy.decide(&idp, &enrichment);
    assert_eq!((d.action, d.severity), (Action::Issue, Level::High));
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("privileged account (sample-user, per the directory)"))
    );
}

#[test]
fn intel_verdict_raises_a_low_alert() {
    let policy = Policy::load(&[], &[]).unwrap();
    let low = alert(AlertKind::Epp, Level::Low, 30);
    assert_eq!(
        policy.decide(&low, &Enrichment::default()).action,
        Action::Notify
    );
    let enrichment = Enrichment {
        sections: vec![section(
            "intel",
            serde_json::json!({"verdict": "malicious", "abuseipdb_score": 10}),
        )],
    };
    let d = policy.decide(&low, &enrichment);
    assert_eq!((d.action, d.severity), (Action::Issue, Level::High));
}

#[test]
fn informational_is_discarded_unless_configured() {
    let dir = tempfile::tempdir().unwrap();
    let info = alert(AlertKind::Epp, Level::Informational, 5);
    let d = Policy::load(&[], &[])
        .unwrap()
        .decide(&info, &Enrichment::default());
    assert_eq!(
        (d.action, d.severity),
        (Action::Discard, Level::Informational)
    );
    let settings = write(
        dir.path(),
        "settings.json",
        r#"{"falconry": {"settings": {"notify_from": "informational"}}}"#,
    );
    let d = Policy::load(&[], &[settings])
        .unwrap()
        .decide(&info, &Enrichment::default());
    assert_eq!(d.action, Action::Notify);
}

#[test]
fn routes_by_host_group() {
    let mut a = alert(AlertKind::Epp, Level::Medium, 50);
    a.host.groups = vec!["5c7f2a1e9d8b4c3a8e6f0d1b2a3c4d5e".into()];
    let d = routing_example().decide(&a, &Enrichment::default());
    assert_eq!(d.repo.as_deref(), Some("example-corp/soc-finance"));
    assert_eq!(d.slack_channel.as_deref(), Some("#soc-finance"));
    assert_eq!(d.assignees, vec!["fin-oncall".to_owned()]);
    assert!(d.labels.contains(&"team:finance".to_owned()));
    assert_eq!(
        d.runbook.as_deref(),
        Some("https://wiki.example.com/soc/runbooks/finance-hosts")
    );
}

#[test]
fn routes_by_sensor_tag() {
    let mut a = alert(AlertKind::Epp, Level::High, 70);
    a.host.tags = vec!["FalconGroupingTags/Finance".into()];
    let d = routing_example().decide(&a, &Enrichment::default());
    assert_eq!(d.repo.as_deref(), Some("example-corp/soc-finance"));
    assert!(d.reasons.last().unwrap().contains("\"finance\""));
}

#[test]
fn routes_by_hostname_pattern() {
    let mut a = alert(AlertKind::Epp, Level::High, 70);
    a.host.hostname = Some("fin-ws-0007".into());
    let d = routing_example().decide(&a, &Enrichment::default());
    assert_eq!(d.repo.as_deref(), Some("example-corp/soc-finance"));
    // Unset by the route: from the default route.
    assert_eq!(d.slack_channel.as_deref(), Some("#soc-alerts"));
    a.host.hostname = Some("dc01.corp.example.com".into());
    let d = routing_example().decide(&a, &Enrichment::default());
    assert_eq!(d.assignees, vec!["ad-oncall".to_owned()]);
    assert_eq!(d.repo, None);
}

#[test]
fn unrouted_alert_takes_the_default_route() {
    let d = routing_example().decide(
        &alert(AlertKind::Epp, Level::High, 70),
        &Enrichment::default(),
    );
    assert_eq!(d.repo, None);
    assert_eq!(d.slack_channel.as_deref(), Some("#soc-alerts"));
    assert_eq!(
        d.runbook.as_deref(),
        Some("https://wiki.example.com/soc/runbooks/triage")
    );
    assert_eq!(
        d.reasons.last().map(String::as_str),
        Some("No route matched: the default route.")
    );
}

#[test]
fn runtime_error_on_one_alert_falls_back_and_others_still_decide() {
    let dir = tempfile::tempdir().unwrap();
    // Two values for one complete rule when the host is BOOM: a runtime
    // conflict, for that alert only.
    let file = write(
        dir.path(),
        "conflict.rego",
        "package falconry\nimport rego.v1\n\
         severity := input.alert.severity.level\n\
         severity := \"critical\" if input.alert.host.hostname == \"BOOM\"\n\
         decision := {\"action\": \"notify\", \"severity\": severity}\n",
    );
    let policy = Policy::load(&[file], &[]).unwrap();
    let mut boom = alert(AlertKind::Epp, Level::Low, 30);
    boom.host.hostname = Some("BOOM".into());
    let d = policy.decide(&boom, &Enrichment::default());
    assert_eq!(d.action, Action::Issue);
    assert_eq!(d.severity, Level::Low);
    assert_eq!(d.labels, vec!["policy-error".to_owned()]);
    let error = d.policy_error.unwrap();
    assert!(error.starts_with("policy evaluation failed"), "{error}");
    let d = policy.decide(
        &alert(AlertKind::Epp, Level::Low, 30),
        &Enrichment::default(),
    );
    assert_eq!(
        (d.action, d.severity, d.policy_error),
        (Action::Notify, Level::Low, None)
    );
}

#[test]
fn a_policy_that_loops_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "slow.rego",
        "package falconry\nimport rego.v1\n\
         spin := count([1 | some i in numbers.range(1, 5000); some j in numbers.range(1, 5000)]) \
         if input.alert.host.hostname == \"SLOW\"\n\
         decision := {\"action\": \"notify\", \"severity\": \"low\", \"reasons\": [sprintf(\"%v\", [spin])]} \
         if input.alert.host.hostname == \"SLOW\"\n\
         else := {\"action\": \"notify\", \"severity\": \"low\"}\n",
    );
    let policy = Policy::load_with_limit(&[file], &[], Duration::from_millis(50)).unwrap();
    let mut slow = alert(AlertKind::Epp, Level::Low, 30);
    slow.host.hostname = Some("SLOW".into());
    let started = std::time::Instant::now();
    let d = policy.decide(&slow, &Enrichment::default());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let error = d.policy_error.unwrap();
    assert!(error.contains("time limit"), "{error}");
}

#[test]
fn output_is_checked_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let policy = echo_policy(dir.path());
    let eval = |decision: Value| policy.evaluate(&serde_json::json!({ "decision": decision }));
    let problem = |decision: Value| match eval(decision) {
        Err(PolicyError::Output { field, problem }) => format!("{field}: {problem}"),
        other => panic!("expected an output error, got {other:?}"),
    };
    // Each problem names its field's path and what is wrong there.
    for (decision, field, says) in [
        (
            serde_json::json!({"action": "page", "severity": "low"}),
            "action",
            "unknown variant `page`, expected one of `discard`, `notify`, `issue`",
        ),
        (
            serde_json::json!({"action": "issue"}),
            "decision",
            "missing field `severity`",
        ),
        (
            serde_json::json!({"action": "issue", "severity": "urgent"}),
            "severity",
            "unknown variant `urgent`, expected one of `informational`, `low`, `medium`, `high`, `critical`",
        ),
        (
            serde_json::json!({"action": 1, "severity": "low"}),
            "action",
            "invalid type: integer `1`",
        ),
        (
            serde_json::json!({"action": "issue", "severity": "low", "labels": ["a", 2]}),
            "labels[1]",
            "invalid type: integer `2`, expected a string",
        ),
        (
            serde_json::json!({"action": "issue", "severity": "low", "assignees": "x"}),
            "assignees",
            "invalid type: string \"x\", expected a sequence",
        ),
        (
            serde_json::json!({"action": "issue", "severity": "low", "repo": "nope"}),
            "repo",
            "\"nope\" is not owner/name",
        ),
        (
            serde_json::json!({"action": "issue", "severity": "low", "runbook": ""}),
            "runbook",
            "empty string (use null for none)",
        ),
        (
            serde_json::json!({"action": "issue", "severity": "low", "assignee": []}),
            "assignee",
            "unknown field `assignee`",
        ),
        (
            serde_json::json!(["issue"]),
            "decision",
            "must be an object, got [\"issue\"]",
        ),
    ] {
        let got = problem(decision.clone());
        assert!(
            got.starts_with(&format!("{field}: ")) && got.contains(says),
            "{decision}: {got}"
        );
    }
    // Sets are lists; absent lists are empty; null is none.
    let d = eval(serde_json::json!({
        "action": "discard", "severity": "informational", "repo": null, "slack_channel": "#x",
    }))
    .unwrap();
    assert_eq!(
        (d.action, d.severity, d.repo, d.slack_channel),
        (
            Action::Discard,
            Level::Informational,
            None,
            Some("#x".into())
        )
    );
    assert!(d.reasons.is_empty() && d.labels.is_empty() && d.assignees.is_empty());
}

#[test]
fn undefined_decision_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "partial.rego",
        "package falconry\nimport rego.v1\n\
         decision := {\"action\": \"issue\", \"severity\": \"low\"} if input.alert.kind == \"epp\"\n",
    );
    let policy = Policy::load(&[file], &[]).unwrap();
    let d = policy.decide(
        &alert(AlertKind::Xdr, Level::High, 70),
        &Enrichment::default(),
    );
    assert_eq!(d.severity, Level::High);
    assert!(d.policy_error.unwrap().contains("undefined"));
}

#[test]
fn load_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let load = |files: &[PathBuf], data: &[PathBuf]| Policy::load(files, data).unwrap_err();

    let syntax = write(
        d,
        "syntax.rego",
        "package falconry\nimport rego.v1\ndecision := {\"action\": \n",
    );
    assert!(
        matches!(load(&[syntax], &[]), PolicyError::Compile { path, .. } if path.ends_with("syntax.rego"))
    );

    let v0 = write(d, "v0.rego", "package falconry\ndecision = x { x := 1 }\n");
    assert!(matches!(load(&[v0], &[]), PolicyError::Compile { .. }));

    let none = write(
        d,
        "none.rego",
        "package falconry\nimport rego.v1\nverdict := \"issue\"\n",
    );
    assert!(matches!(load(&[none], &[]), PolicyError::NoDecision));

    let elsewhere = write(
        d,
        "elsewhere.rego",
        "package other\nimport rego.v1\ndecision := {}\n",
    );
    assert!(matches!(load(&[elsewhere], &[]), PolicyError::NoDecision));

    let wrong = write(
        d,
        "wrong.rego",
        "package falconry\nimport rego.v1\ndecision := {\"action\": \"page\", \"severity\": \"low\"}\n",
    );
    let error = load(&[wrong], &[]);
    assert!(
        matches!(&error, PolicyError::Sample(inner) if matches!(**inner, PolicyError::Output { .. })),
        "{error}"
    );

    let missing = d.join("missing.rego");
    assert!(matches!(
        load(&[missing], &[]),
        PolicyError::ReadPolicy { .. }
    ));

    let empty_dir = d.join("empty");
    std::fs::create_dir(&empty_dir).unwrap();
    assert!(matches!(
        load(&[empty_dir], &[]),
        PolicyError::EmptyPolicyDir { .. }
    ));

    let not_json = write(d, "bad.json", "{\"falconry\": ");
    assert!(matches!(
        load(&[], &[not_json]),
        PolicyError::DataJson { .. }
    ));
    let list = write(d, "list.json", "[]");
    assert!(matches!(load(&[], &[list]), PolicyError::DataJson { .. }));

    let a = write(
        d,
        "a.json",
        r#"{"falconry": {"settings": {"issue_from": "high"}}}"#,
    );
    let b = write(
        d,
        "b.json",
        r#"{"falconry": {"settings": {"issue_from": "low"}}}"#,
    );
    assert!(matches!(load(&[], &[a, b]), PolicyError::DataMerge { .. }));

    let routing = write(
        d,
        "routing.json",
        r#"{"falconry": {"routing": {"routes": [{"match": {"hostname": ["FIN-*"]}, "repo": "x"}]}}}"#,
    );
    match load(&[], &[routing]) {
        PolicyError::Config { errors } => assert_eq!(
            errors,
            vec![
                "routing.routes[0].match: unknown key \"hostname\" (expected one of [\"host_groups\", \"hostname_regexes\", \"hostnames\", \"kinds\", \"min_severity\", \"tags\"])".to_owned(),
                "routing.routes[0].repo: x is not owner/name".to_owned(),
            ]
        ),
        other => panic!("expected config errors, got {other}"),
    }
}

#[test]
fn a_directory_loads_its_policies_but_not_its_tests() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.rego",
        "package falconry\nimport rego.v1\ndecision := {\"action\": \"notify\", \"severity\": level}\n",
    );
    write(
        dir.path(),
        "b.rego",
        "package falconry\nimport rego.v1\nlevel := \"high\"\n",
    );
    write(
        dir.path(),
        "a_test.rego",
        "package falconry\nimport rego.v1\nlevel := \"low\"\n",
    );
    let policy = Policy::load(&[dir.path().to_path_buf()], &[]).unwrap();
    let d = policy.evaluate(&sample_input()).unwrap();
    assert_eq!((d.action, d.severity), (Action::Notify, Level::High));
}

#[test]
fn the_example_routing_is_valid_for_the_builtin_policy() {
    routing_example();
}

#[test]
fn eval_input_accepts_an_event_an_alert_or_a_whole_input() {
    let alert = sample_alert();
    let whole = input(&alert, &Enrichment::default());
    assert_eq!(eval_input(&whole, &[]).unwrap(), whole);
    let bare = serde_json::to_value(&alert).unwrap();
    assert_eq!(eval_input(&bare, &[]).unwrap(), whole);

    let event = serde_json::json!({
        "metadata": {"eventType": "EppDetectionSummaryEvent", "customerIDString": "c1", "offset": 7},
        "event": {"CompositeId": "c1:ind:a1:1", "Name": "Test", "Severity": 70, "Hostname": "WS-1"},
    });
    let from_event = eval_input(&event, &[]).unwrap();
    assert_eq!(from_event["alert"]["id"], "c1:ind:a1:1");
    assert_eq!(from_event["alert"]["severity"]["level"], "high");
    Policy::load(&[], &[])
        .unwrap()
        .evaluate(&from_event)
        .unwrap();

    let custom = serde_json::json!({"metadata": {"eventType": "CustomerIOCEvent"}, "event": {}});
    assert!(matches!(
        eval_input(&custom, &[]),
        Err(PolicyError::NotAnAlert { .. })
    ));
    let other = eval_input(&custom, &["CustomerIOCEvent".to_owned()]).unwrap();
    assert_eq!(other["alert"]["kind"], "other");

    let mut typo = bare.clone();
    typo["host"]["hostnme"] = typo["host"]["hostname"].take();
    typo["host"].as_object_mut().unwrap().remove("hostname");
    let mut typo = serde_json::json!({"alert": typo});
    // Unknown keys are ignored by the model's serde, missing required ones are not.
    typo["alert"].as_object_mut().unwrap().remove("severity");
    let error = eval_input(&typo, &[]).unwrap_err().to_string();
    assert!(error.contains("severity"), "{error}");
    assert!(eval_input(&serde_json::json!([1]), &[]).is_err());
    assert!(eval_input(&serde_json::json!({"alert": bare, "enrichment": []}), &[]).is_err());
}

/// Every field of `input.alert` is in the README's contract table.
#[test]
fn readme_documents_every_alert_field() {
    fn paths(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let path = format!("{prefix}.{k}");
                    paths(&path, v, out);
                    if !v.is_object() {
                        out.push(path);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(first) = items.first() {
                    paths(&format!("{prefix}[]"), first, out);
                }
            }
            _ => {}
        }
    }
    let mut alert = sample_alert();
    alert.connections = vec![crate::alert::Connection {
        remote_ip: "198.51.100.1".into(),
        remote_port: Some(443),
        local_ip: None,
        protocol: None,
    }];
    alert.ioc = Some(crate::alert::Ioc {
        kind: "domain".into(),
        value: "example.com".into(),
    });
    alert.rule = Some(crate::alert::RuleMatch {
        id: "r".into(),
        title: "t".into(),
        level: "high".into(),
        status: Some("test".into()),
        tags: vec!["attack.execution".into()],
        falsepositives: vec!["none".into()],
        file: "r.yml".into(),
        source_bucket: Some("b".into()),
        source_key: "data/x".into(),
        source_line: 1,
        event_simplename: Some("ProcessRollup2".into()),
        matched: vec![("CommandLine".into(), "x".into())],
        indicator: Some(falconry_common::lake::findings::FindingIndicator {
            kind: "domain".into(),
            value: "example.com".into(),
            source: "feeds/x.csv".into(),
            description: Some("c2".into()),
            learned: Some(1),
            labels: vec!["tlp:amber".into()],
            reference: Some("indicator--1".into()),
            found_by: "hunt".into(),
        }),
    });
    let readme = std::fs::read_to_string(policies_dir().join("README.md")).unwrap();
    let mut fields = Vec::new();
    paths("alert", &serde_json::to_value(&alert).unwrap(), &mut fields);
    assert!(fields.len() > 45, "{fields:?}");
    let missing: Vec<&String> = fields
        .iter()
        .filter(|f| !readme.contains(&format!("`{f}`")))
        .filter(|f| !f.starts_with("alert.parent.") && !f.starts_with("alert.grandparent."))
        .collect();
    assert!(missing.is_empty(), "README.md lacks {missing:?}");
}

#[test]
fn long_errors_are_cut_on_a_char_boundary() {
    assert_eq!(truncate("abc".into(), 3), "abc");
    assert_eq!(truncate("aéc".into(), 2), "aé [...]");
}

#[test]
fn test_rules_are_found_by_name() {
    let text = "package p\ntest_a if true\n\ttest_nested := 1\ntest_b if {\n}\ntest_a if false\nnot_test_c if true\n";
    assert_eq!(
        test_rule_names(text),
        vec!["test_a".to_owned(), "test_b".to_owned()]
    );
}

#[test]
fn a_false_rego_test_is_reported_failing() {
    let dir = tempfile::tempdir().unwrap();
    let tests = write(
        dir.path(),
        "deliberate_test.rego",
        "package falconry_test\nimport data.falconry\nimport rego.v1\n\
         test_passes if falconry.levels[4] == \"critical\"\n\
         test_deliberately_false if {\n\tfalconry.levels[0] == \"critical\"\n}\n",
    );
    let outcomes = run_tests(&[policies_dir().join("default.rego")], &[], &[tests]).unwrap();
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.failure.is_some())
        .map(|o| o.rule.as_str())
        .collect();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(failed, vec!["data.falconry_test.test_deliberately_false"]);
    let caught = std::panic::catch_unwind(|| assert_rego_tests_pass(&outcomes));
    assert!(caught.is_err(), "a failing Rego test must fail cargo test");
}

#[test]
fn default_policy_rego_tests_pass() {
    let tests = rego_test_files();
    assert!(
        !tests.is_empty(),
        "no *_test.rego in {}",
        policies_dir().display()
    );
    let outcomes = run_tests(&[policies_dir().join("default.rego")], &[], &tests).unwrap();
    assert!(
        outcomes.len() >= 40,
        "only {} test rules found",
        outcomes.len()
    );
    assert_rego_tests_pass(&outcomes);
}
