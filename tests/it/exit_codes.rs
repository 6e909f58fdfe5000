//! Configuration problems end the binary with exit 64 (fix the config, do not
//! restart in a loop), whether `check-config` finds them or the daemon meets
//! them at start; and one run names all of them.

use std::process::Command;

fn falconry(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(args)
        .current_dir(dir)
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("run falconry");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_policy_that_does_not_compile_is_exit_64_at_start_too() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("lake")).unwrap();
    std::fs::write(root.join("bad.rego"), "package falconry\nallow {\n").unwrap();
    std::fs::write(
        root.join("c.toml"),
        format!(
            "[enricher]\nfrom = \"file://{0}/lake\"\nissues = \"dir://{0}/issues\"\npolicy = [\"{0}/bad.rego\"]\n",
            root.display()
        ),
    )
    .unwrap();
    for args in [
        &["check-config", "--config", "c.toml"][..],
        &["enrich", "--config", "c.toml", "--until-empty"][..],
    ] {
        let (code, stderr) = falconry(root, args);
        assert_eq!(code, 64, "{args:?}: {stderr}");
        assert!(stderr.contains("bad.rego"), "{args:?}: {stderr}");
    }
}

#[test]
fn every_wrong_type_is_named_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("c.toml"),
        "[forwarder]\nnotices_in_flight = \"four\"\nzstd_level = \"max\"\ntmp_dir = \"/does/not/exist\"\n",
    )
    .unwrap();
    let (code, stderr) = falconry(root, &["check-config", "--config", "c.toml"]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("forwarder.notices_in_flight"), "{stderr}");
    assert!(stderr.contains("forwarder.zstd_level"), "{stderr}");
}

#[test]
fn a_missing_tmp_dir_is_found_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue")).unwrap();
    let queue = format!("dir://{}/queue", root.display());
    let dest = format!("file://{}/lake", root.display());
    let args = [
        "forward",
        "--admin",
        "off",
        "--until-empty",
        "--queue",
        &queue,
        "--dest",
        &dest,
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_falconry"))
        .args(args)
        .env("FALCONRY__FORWARDER__TMP_DIR", root.join("missing"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("forwarder.tmp_dir"), "{stderr}");
}
