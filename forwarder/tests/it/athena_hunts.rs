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

use falconry_common::Location;
use falconry_common::athena::{AthenaError, Rows};
use falconry_detect::ioc::{IndicatorSet, IocSource, source};
use falconry_fixtures::{
    BatchOptions, fdr_batch, indicators_csv, indicators_stix, lookup_batch, notice_json,
    write_files,
};
use falconry_forwarder::hunt::scan::Window;
use falconry_forwarder::hunt::{self, Engine, HuntOptions, HuntReport, SqlEngine};
use futures::future::BoxFuture;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    // With the starter rules: their findings are checked against findings.sql too.
    let rules = root.join("rules");
    falconry_detect::starter::write_to(&rules).unwrap();
    fixture_lake(root, Some(&rules)).await;

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

/// DuckDB standing in for Athena: each query goes through `check.py
/// --query` (parsed and linted as Athena SQL, transpiled, run over the
/// lake's Parquet with each row's file as `"$path"`).
#[derive(Debug)]
struct DuckDb {
    python: PathBuf,
    check: PathBuf,
    parquet: PathBuf,
    dir: PathBuf,
    queries: AtomicU64,
}

impl SqlEngine for DuckDb {
    fn database(&self) -> &str {
        "falconry"
    }

    fn run(&self, sql: String) -> BoxFuture<'_, Result<(Rows, u64), AthenaError>> {
        Box::pin(async move {
            let n = self.queries.fetch_add(1, Ordering::SeqCst);
            let file = self.dir.join(format!("hunt-{n}.sql"));
            std::fs::write(&file, &sql).unwrap();
            let out = Command::new(&self.python)
                .arg(&self.check)
                .arg("--parquet")
                .arg(&self.parquet)
                .arg("--query")
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "check.py --query failed on\n{sql}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let rows = Rows {
                header: serde_json::from_value(v["header"].clone()).unwrap(),
                rows: serde_json::from_value(v["rows"].clone()).unwrap(),
            };
            Ok((rows, 0))
        })
    }
}

/// The default fixtures through the forwarder into `root/lake` (file://),
/// with the Sigma rules in `rules` if given.
async fn fixture_lake(root: &Path, rules: Option<&Path>) {
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
    let mut settings = local_config(root).validate().unwrap();
    if let Some(rules) = rules {
        settings.detect = falconry_detect::DetectConfig {
            rules: Some(rules.display().to_string()),
            ..Default::default()
        }
        .validate()
        .unwrap();
    }
    let summary = falconry_forwarder::run(settings, Telemetry::off(), CancellationToken::new())
        .await
        .expect("the forwarder drains the queue");
    assert_eq!((summary.done, summary.failed), (2, 0), "{summary:?}");
}

fn matches(r: &HuntReport) -> Vec<(String, Option<String>, String, String)> {
    let mut m: Vec<_> = r
        .matches
        .iter()
        .map(|m| {
            (
                m.indicator.clone(),
                m.event_id.clone(),
                m.field.clone(),
                m.file.clone(),
            )
        })
        .collect();
    m.sort();
    m
}

/// The Athena engine's SQL, run on DuckDB over the fixtures' lake, names the
/// files holding every match the scan engine finds (the fixtures' feeds plus
/// indicators of every type, near misses among them: a shorter IP, a parent
/// domain, networks of several widths, subdomains), and only the files read
/// after it give the same matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_athena_engine_finds_what_the_scan_finds() {
    let python = python();
    let check = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/athena/check.py");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fixture_lake(root, None).await;
    let start = BatchOptions::default().start_ms;
    let intel = root.join("intel");
    std::fs::create_dir_all(&intel).unwrap();
    std::fs::write(intel.join("feed.stix.json"), indicators_stix(start)).unwrap();
    std::fs::write(intel.join("feed.csv"), indicators_csv(start)).unwrap();
    let c2 = falconry_fixtures::C2_IP;
    let bad = falconry_fixtures::BAD_DOMAIN;
    let parent = bad.split_once('.').map_or(bad, |(_, p)| p);
    std::fs::write(
        intel.join("near.csv"),
        format!(
            "type,value\n\
         ipv4,{}\n\
         domain,{parent}\n\
         domain,*.{parent}\n\
         ipv4,203.0.113.6\n\
         ipv4,10.0.0.1\n\
         cidr,10.0.0.0/8\n\
         cidr,192.168.0.0/20\n\
         cidr,0.0.0.0/6\n\
         cidr,2001:db8::/32\n\
         ipv6,2001:db8::1\n\
         domain,*.example.com\n\
         domain,com\n\
         domain,*.example\n\
         md5,d41d8cd98f00b204e9800998ecf8427e\n\
         filename,cmd.exe\n\
         filename,powershell.exe\n\
         url,http://update.example.com/get\n",
            &c2[..c2.len() - 1]
        ),
    )
    .unwrap();
    let loaded = source::load(
        &[IocSource::parse(&intel.display().to_string()).unwrap()],
        start + 86_400_000,
    )
    .await
    .unwrap();
    let set = Arc::new(IndicatorSet::new(loaded.indicators, true));
    let lake = Location::parse(&format!("file://{}", root.join("lake").display())).unwrap();
    let window = Window {
        since_ms: Some(start - 86_400_000),
        until_ms: Some(start + 86_400_000),
    };
    let run = |engine: Engine| {
        let (lake, set) = (lake.clone(), set.clone());
        async move {
            let opts = HuntOptions {
                window,
                engine,
                record: false,
                ..HuntOptions::default()
            };
            let (tx, _rx) = tokio::sync::watch::channel(Default::default());
            hunt::hunt(&lake, set, &opts, tx, CancellationToken::new())
                .await
                .unwrap()
        }
    };
    let scan = run(Engine::Scan).await;
    assert!(scan.new >= 5, "the planted incident is found: {scan:#?}");
    let duck = Arc::new(DuckDb {
        python,
        check,
        parquet: root.join("lake/parquet"),
        dir: root.to_owned(),
        queries: AtomicU64::new(0),
    });
    let athena = run(Engine::Athena(duck.clone())).await;
    assert_eq!(athena.engine, "athena");
    let a = athena.athena.clone().expect("the Athena engine ran");
    assert_eq!(a.queries, 1, "{a:?}");
    assert!(a.not_hunted.is_empty(), "{a:?}");
    assert!(
        a.files_named <= scan.files && athena.files <= scan.files,
        "{a:?} vs {} files scanned",
        scan.files
    );
    assert_eq!(matches(&athena), matches(&scan));
    let mut by_indicator = std::collections::BTreeMap::<&str, u64>::new();
    for m in &scan.matches {
        *by_indicator.entry(m.indicator.as_str()).or_default() += 1;
    }
    println!(
        "{} indicators; scan: {} files, {} matches {by_indicator:?}; athena: {a:?}, {} files read",
        set.len(),
        scan.files,
        scan.new,
        athena.files
    );
    // Near misses stay misses: an address matches itself, never a longer one.
    for m in scan.matches.iter().filter(|m| m.kind == "ipv4") {
        assert_eq!(m.matched.trim(), m.value, "{m:?}");
    }
    assert!(by_indicator.contains_key(&*format!("domain:*.{parent}")));
    assert!(!by_indicator.contains_key(&*format!("domain:{parent}")));
    // Indicators nothing holds: Athena names no file, and none is read.
    let absent: Vec<_> = (1..=5u32)
        .map(|n| {
            falconry_detect::ioc::Indicator::new(
                falconry_detect::ioc::Kind::Sha256,
                format!("{n:064x}"),
                "generated",
            )
        })
        .collect();
    let opts = HuntOptions {
        window,
        engine: Engine::Athena(duck.clone()),
        record: false,
        ..HuntOptions::default()
    };
    let (tx, _rx) = tokio::sync::watch::channel(Default::default());
    let none = hunt::hunt(
        &lake,
        Arc::new(IndicatorSet::new(absent, false)),
        &opts,
        tx,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!((none.files, none.new), (0, 0), "{none:?}");
    // Above the size bound, the indicators are split into several queries.
    let many: Vec<_> = (0..12_000u32)
        .map(|n| {
            falconry_detect::ioc::Indicator::new(
                falconry_detect::ioc::Kind::Sha256,
                format!("{n:064x}"),
                "generated",
            )
        })
        .chain(set.indicators().iter().cloned())
        .collect();
    let big = Arc::new(IndicatorSet::new(many, true));
    let planned = hunt::sql::queries(&big, window, "falconry");
    assert!(planned.queries.len() >= 2, "{}", planned.queries.len());
    assert!(
        planned
            .queries
            .iter()
            .all(|q| q.len() < hunt::sql::MAX_SQL_BYTES)
    );
    let opts = HuntOptions {
        window,
        engine: Engine::Athena(duck.clone()),
        record: false,
        ..HuntOptions::default()
    };
    let (tx, _rx) = tokio::sync::watch::channel(Default::default());
    let split = hunt::hunt(&lake, big, &opts, tx, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        split.athena.as_ref().map(|a| a.queries),
        Some(planned.queries.len() as u64)
    );
    assert_eq!(matches(&split), matches(&scan));
    // No --since: refused before any query (Athena bills by the byte).
    let opts = HuntOptions {
        window: Window::default(),
        engine: Engine::Athena(duck),
        record: false,
        ..HuntOptions::default()
    };
    let (tx, _rx) = tokio::sync::watch::channel(Default::default());
    let err = hunt::hunt(&lake, set, &opts, tx, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--since"), "{err}");
}
