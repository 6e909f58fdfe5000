//! `falconry rules init | test` as a rules repository's CI runs them, and
//! `check-config` over `[detect]`.

use std::process::Command;

fn falconry(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn rules_test_passes_the_starter_set_and_fails_a_broken_repository() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    let r = rules.to_str().unwrap();
    let (code, out, err) = falconry(&["rules", "init", "--out", r]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = falconry(&["rules", "test", "--rules", r]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("8 rule(s) loaded, 0 error(s)"), "{out}");

    // A test event the rule does not fire on.
    std::fs::write(
        rules.join("whoami_discovery.tests.yml"),
        "match:\n  - {event_simpleName: ProcessRollup2, event_platform: Win, ImageFileName: '\\Device\\HarddiskVolume3\\Windows\\notepad.exe'}\n",
    )
    .unwrap();
    let (code, out, _) = falconry(&["rules", "test", "--rules", r]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL whoami_discovery.tests.yml match[1]"),
        "{out}"
    );

    // A field the FDR mapping cannot give: named with its file, at load.
    std::fs::write(
        rules.join("parent_cl.yml"),
        "title: t\nid: 00000000-0000-4000-8000-000000000001\nlevel: high\nlogsource:\n  category: process_creation\n  product: windows\ndetection:\n  s:\n    ParentCommandLine|contains: x\n  condition: s\n",
    )
    .unwrap();
    let (code, out, _) = falconry(&["rules", "test", "--rules", r]);
    assert_eq!(code, 1);
    assert!(
        out.contains("parent_cl.yml") && out.contains("ParentCommandLine"),
        "{out}"
    );

    // check-config finds the same problem before anything starts.
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[forwarder]\nqueue = \"dir:///tmp/q\"\ndest = \"file:///tmp/d\"\n[detect]\nrules = \"{r}\"\n"),
    )
    .unwrap();
    let (code, _, err) = falconry(&["--config", config.to_str().unwrap(), "check-config"]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("detect.rules") && err.contains("ParentCommandLine"),
        "{err}"
    );
}
