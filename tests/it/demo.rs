//! `falconry demo` on a fresh directory: runs the pipeline with no AWS and
//! prints a summary that matches the fixtures.

use falconry_fixtures::{BatchOptions, fdr_batch, lookup_batch};
use std::process::Command;

#[test]
fn demo_runs_without_aws_and_reports_what_the_fixtures_hold() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("run falconry demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let opts = BatchOptions {
        seed: 7,
        data_files: 2,
        events_per_file: 500,
        ..BatchOptions::default()
    };
    let valid = |b: &falconry_fixtures::FdrBatch| -> u64 {
        b.files
            .iter()
            .map(|f| f.lines - f.invalid_lines.len() as u64)
            .sum()
    };
    let events = valid(&fdr_batch(&opts));
    let lookup = lookup_batch(&opts);
    assert!(stdout.contains("2 notices done, 0 failed"), "{stdout}");
    let streamed =
        falconry_fixtures::stream_events(&falconry_fixtures::StreamOptions::default()).len();
    assert!(
        stdout.contains(&format!("streamer:  {streamed} events in ")),
        "{stdout}"
    );
    assert!(dir.path().join("lake/stream/partition=0").is_dir());
    // The enricher turned the stream's detections into Markdown issues.
    let enricher = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("enricher:"))
        .expect("enricher line");
    assert!(enricher.contains(" 0 failed"), "{enricher}");
    let opened: usize = enricher
        .split(" issues opened")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("issues opened count");
    assert!(opened > 0, "{enricher}");
    let first = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("first issue: "))
        .expect("first issue path");
    let issue = std::fs::read_to_string(first.trim()).expect("first issue file");
    assert!(issue.contains("falconry:fingerprint="), "{issue}");
    let files = std::fs::read_dir(dir.path().join("issues/falconry/alerts"))
        .unwrap()
        .count();
    assert_eq!(files, opened);
    let events_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("events ") && l.contains(" rows in "))
        .expect("events line");
    assert!(
        events_line.contains(&format!(" {events} rows")),
        "expected {events} events: {events_line}"
    );
    for kind in falconry_fixtures::LOOKUP_KINDS {
        let rows: u64 = lookup
            .files
            .iter()
            .filter(|f| f.key.starts_with(&format!("fdrv2/{kind}/")))
            .map(|f| f.lines - f.invalid_lines.len() as u64)
            .sum();
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{kind} ")) && l.contains(" rows in "))
            .unwrap_or_else(|| panic!("{kind} line missing:\n{stdout}"));
        assert!(
            line.contains(&format!(" {rows} rows")),
            "{kind}: expected {rows}: {line}"
        );
    }
    assert!(dir.path().join("lake/raw/data").is_dir());
    assert!(dir.path().join("queue/done").is_dir());
    // The starter rules fired on the planted incident, and its issues sit
    // beside the CrowdStrike ones.
    for rule in [
        "1  [high] Office application starts a shell or script host",
        "1  [medium] PowerShell runs an encoded command",
        "1  [medium] Rundll32 loads a DLL from a user-writable folder",
    ] {
        assert!(stdout.contains(rule), "{rule}: {stdout}");
    }
    let rule_issues: Vec<String> = std::fs::read_dir(dir.path().join("issues/falconry/alerts"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|t| t.contains("source:rule"))
        .collect();
    assert_eq!(rule_issues.len(), 3, "one issue per (rule, host)");
    assert!(rule_issues.iter().any(|t| {
        t.contains("Office application starts a shell or script host") && t.contains("WINWORD.EXE")
    }));
    // The retro-hunt: the fixtures' feeds, learned a day after the incident,
    // find it in the lake; run again, nothing is new. Each match is an issue
    // per (indicator, host) that says the indicator came after the event.
    assert!(
        stdout.contains("11 new match(es); run again: 0 new, 11 known"),
        "{stdout}"
    );
    let ioc_issues: Vec<String> = std::fs::read_dir(dir.path().join("issues/falconry/alerts"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|t| t.contains("source:ioc"))
        .collect();
    // sha256, the C2 domain on two hosts, its address and network, the file name.
    assert_eq!(ioc_issues.len(), 6, "one issue per (indicator, host)");
    assert!(ioc_issues.iter().any(|t| {
        t.contains(falconry_fixtures::DROPPED_DLL_SHA256)
            && t.contains("after the event: found by looking back")
            && t.contains("campaign.stix.json")
    }));
    // `falconry hunt` over the same lake, as a user runs it: all known now.
    let hunted = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(["hunt", "--json", "--ioc"])
        .arg(dir.path().join("intel"))
        .arg("--lake")
        .arg(format!("file://{}", dir.path().join("lake").display()))
        .args(["--since", "2026-03-14", "--until", "2026-03-15"])
        .output()
        .unwrap();
    assert!(
        hunted.status.success(),
        "{}",
        String::from_utf8_lossy(&hunted.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&hunted.stdout).unwrap();
    assert_eq!(
        (report["new"].as_u64(), report["known"].as_u64()),
        (Some(0), Some(11)),
        "{report}"
    );
    let stderr = String::from_utf8_lossy(&hunted.stderr);
    assert!(
        stderr.contains("internal.csv: line 4"),
        "the bad entry is reported: {stderr}"
    );
    assert!(
        stderr.contains("not hunted: STIX pattern with FOLLOWEDBY"),
        "{stderr}"
    );
    // `rules backtest` over the demo's lake finds what the live rules found.
    let backtest = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(["rules", "backtest", "--json", "--rules"])
        .arg(dir.path().join("rules"))
        .arg("--lake")
        .arg(format!("file://{}", dir.path().join("lake").display()))
        .output()
        .unwrap();
    assert!(
        backtest.status.success(),
        "{}",
        String::from_utf8_lossy(&backtest.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&backtest.stdout).unwrap();
    let hits = |id: &str| {
        report["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["hits"].as_u64().unwrap())
    };
    assert_eq!(
        hits("48252ff0-dc22-4e97-a22d-6c2d986c453d"),
        Some(1),
        "{report}"
    );
    assert_eq!(
        hits("f2d94e7b-9b95-438b-ae9f-04d4a8e678ba"),
        Some(1),
        "{report}"
    );
    assert_eq!(
        hits("ea567313-484b-4539-afd5-df9eba79631b"),
        Some(0),
        "{report}"
    );
    assert_eq!(report["events"].as_u64(), Some(events), "{report}");
    assert!(
        report["uncovered_event_types"]["UserLogon"]
            .as_u64()
            .unwrap()
            > 0
    );
    // The response loop: two issues concluded, the report read them back.
    assert!(
        stdout.contains("response:    closed 2 issue(s) with a conclusion"),
        "{stdout}"
    );
    assert!(stdout.contains("# falconry response report"), "{stdout}");
    for f in [
        "report.md",
        "report.json",
        "cases-per-day.svg",
        "time-to-respond.svg",
    ] {
        assert!(dir.path().join("report").join(f).is_file(), "{f}");
    }
    let svg = std::fs::read_to_string(dir.path().join("report/cases-per-day.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    // `falconry report` over the same issues, as JSON for scripts.
    let report = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(["report", "--format", "json", "--since", "7d", "--issues"])
        .arg(format!("dir://{}", dir.path().join("issues").display()))
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(r["totals"]["opened"].as_u64(), Some(opened as u64), "{r}");
    assert_eq!(r["totals"]["closed"], 2, "{r}");
    let all = r["conclusions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["source"] == "all")
        .unwrap();
    assert_eq!(
        (
            all["false_positive"].as_u64(),
            all["true_positive"].as_u64()
        ),
        (Some(1), Some(1)),
        "{r}"
    );
    // `forward replay` re-converts the demo's raw files in place.
    let replayed = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(["forward", "replay", "--dest"])
        .arg(format!("file://{}", dir.path().join("lake").display()))
        .output()
        .unwrap();
    let replay_out = String::from_utf8_lossy(&replayed.stdout);
    assert!(
        replayed.status.success(),
        "{replay_out}\n{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert!(replay_out.contains("replayed 7 file(s)"), "{replay_out}");
    // Running it again starts from scratch and gives the same figures.
    let again = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains(events_line));
}

#[test]
fn bad_configuration_exits_64_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[forwarder]\nqueue = \"ftp://nope\"\nnotices_in_flight = 0\n[forwarder.source_aws]\nsecret_access_key = \"sup3r-s3cret\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .arg("--config")
        .arg(&path)
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "forwarder.queue",
        "forwarder.dest",
        "notices_in_flight",
        "source_aws",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert!(
        !stderr.contains("sup3r-s3cret"),
        "a secret leaked: {stderr}"
    );
    let unknown = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(["check-config"])
        .env("FALCONRY__FORWARDER__NO_SUCH_KEY", "1")
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no_such_key"));
}

/// `check-config` finds what the enricher would only refuse at start: a policy
/// that does not compile, a Slack URL that is not a URL, a missing GeoIP
/// database; all of them in one run, exit 64, the webhook's secret unshown.
#[test]
fn check_config_finds_what_the_enricher_would_refuse_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bad.rego");
    std::fs::write(&policy, "package falconry\n\ndecision := {\n").unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        format!(
            "[enricher]\nfrom = \"file://{lake}\"\nissues = \"dir://{issues}\"\npolicy = [\"{policy}\"]\n\
             [enricher.slack]\nwebhook_url = \"not-a-url-s3cr3t\"\n\
             [enricher.context.geoip]\ncity = \"{missing}\"\n",
            lake = dir.path().join("lake").display(),
            issues = dir.path().join("issues").display(),
            policy = policy.display(),
            missing = dir.path().join("no-such.mmdb").display(),
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .arg("--config")
        .arg(&path)
        .arg("check-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    for needle in [
        "enricher.policy",
        "enricher.slack",
        "enricher.context.geoip",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert!(!stderr.contains("s3cr3t"), "a secret leaked: {stderr}");
}

/// Messages that say what is accepted, and a log level that is refused rather
/// than silently replaced by `info`.
#[test]
fn wrong_values_say_what_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_falconry"))
            .arg("--config")
            .arg(&path)
            .arg("check-config")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = check("[streamer]\nstart = \"yesterday\"\n");
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains("\"oldest\", \"newest\" or an offset") && stderr.contains("yesterday"),
        "{stderr}"
    );
    let (code, stderr) = check(
        "[log]\nlevel = \"loud[\"\n[forwarder]\nqueue = \"dir:///tmp/q\"\ndest = \"file:///tmp/l\"\nsource = \"file:///tmp/s\"\n",
    );
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("log.level"), "{stderr}");
}

/// `falconry policy eval` on one Falcon event (the planted detection): the
/// built-in policy's decision as JSON.
#[test]
fn policy_eval_decides_on_one_event() {
    let line = falconry_fixtures::stream_events(&falconry_fixtures::StreamOptions::default())
        .into_iter()
        .find(|l| l.line.contains(falconry_fixtures::DETECTION_NAME))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("alert.json");
    std::fs::write(&input, &line.line).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(["policy", "eval", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["action"], "issue");
    assert_eq!(d["severity"], "high");
    assert!(
        d["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "tactic:execution"),
        "{d}"
    );
    // A policy that does not compile is a configuration error (exit 64).
    let bad = dir.path().join("bad.rego");
    std::fs::write(&bad, "package falconry\ndecision := {").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(["policy", "eval", "--input"])
        .arg(&input)
        .arg("--policy")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
