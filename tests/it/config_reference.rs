//! docs/configuration.md is generated from the configuration structs
//! (`scripts/config_reference.py`): it must match them, so the reference
//! cannot drift from the code. And every key it documents is accepted by the
//! loader (strict serde), checked by loading one file that sets them all.

use std::process::Command;

fn python() -> String {
    std::env::var("FALCONRY_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[test]
fn configuration_reference_matches_the_structs() {
    let out = Command::new(python())
        .arg("scripts/config_reference.py")
        .arg("--check")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_documented_section_and_key_is_known_to_the_loader() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let mut keys = 0;
    let mut section = String::new();
    for line in doc.lines() {
        if let Some(s) = line
            .strip_prefix("## `[")
            .and_then(|s| s.strip_suffix("]`"))
        {
            section = s.to_owned();
        } else if let Some(rest) = line.strip_prefix("| `") {
            let key = rest.split('`').next().unwrap();
            // A section with only this key, given a value of the wrong type on
            // purpose: an unknown key says "unknown field", a known one a type error.
            let mut text = format!("[{section}]\n{key} = {{ not = \"a value\" }}\n");
            if section.starts_with("enricher.") {
                text = format!("[enricher]\n{text}");
            }
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("c.toml");
            std::fs::write(&file, text).unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_falconry"))
                .args(["check-config", "--config"])
                .arg(&file)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!err.contains("unknown field"), "[{section}] {key}: {err}");
            keys += 1;
        }
    }
    assert!(keys > 100, "{keys} keys");
}
