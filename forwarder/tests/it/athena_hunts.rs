//! The Athena side, proven locally: the default fixtures (with their planted incident) go
//! through the forwarder on the embedded default (`dir://` queue, `file://` source and
//! destination), then `deploy/athena/check.py` parses the DDL and every hunt as Athena SQL,
//! runs the hunts in DuckDB over the Parquet the forwarder wrote, compares their rows with the
//! expected ones, and checks every Parquet column's type against the DDL.
//!
//! It needs the project's virtualenv with sqlglot and DuckDB: `scripts/test.sh` installs them
//! and exports `FALCONRY_PYTHON`.

use crate::support::local_config;
use falconry_common::telemetry::Telemetry;

use falconry_fixtures::{BatchOptions, fdr_batch, lookup_batch, notice_json, write_files};
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio_util::sync::CancellationToken;

fn python() -> PathBuf {
    match std::env::var_os("FALCONRY_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "FALCONRY_PYTHON is not set: run this test with scripts/test.sh, which installs \
             sqlglot and DuckDB into .venv and exports FALCONRY_PYTHON"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hunts_find_the_planted_incident_and_parquet_types_match_the_ddl() {
    let python = python();
    let check = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/athena/check.py");
    assert!(check.is_file(), "{} is missing", check.display());

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue")).unwrap();
    let opts = BatchOptions::default();
    for (name, batch) in [("data", fdr_batch(&opts)), ("lookup", lookup_batch(&opts))] {
        write_files(&batch, &root.join("source")).unwrap();
        std::fs::write(
            root.join("queue").join(format!("{name}.json")),
            notice_json(&batch, "cs-prod-cannon-example"),
        )
        .unwrap();
    }
    // With the starter rules: their findings are checked against findings.sql too.
    let rules = root.join("rules");
    falconry_detect::starter::write_to(&rules).unwrap();
    let mut settings = local_config(root).validate().unwrap();
    settings.detect = falconry_detect::DetectConfig {
        rules: Some(rules.display().to_string()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let summary = falconry_forwarder::run(settings, Telemetry::off(), CancellationToken::new())
        .await
        .expect("the forwarder drains the queue");
    assert_eq!((summary.done, summary.failed), (2, 0), "{summary:?}");

    let parquet = root.join("lake/parquet");
    let out = Command::new(&python)
        .arg(&check)
        .arg("--parquet")
        .arg(&parquet)
        .arg("--findings")
        .arg(root.join("lake/findings"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} {}: {e}", python.display(), check.display()));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "{} exited with {}:\n{stdout}\n{stderr}",
        check.display(),
        out.status
    );
    assert!(stdout.contains("OK:"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("findings: 1 file(s), 3 (rule, host) pair(s)"),
        "{stdout}"
    );
    println!("{stdout}");
}
