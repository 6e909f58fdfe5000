//! The deployment, checked without Docker or AWS:
//!
//! - `falconry healthcheck` (the image's and the ECS tasks' health check) against live admin
//!   ports: healthy, unhealthy, closed, silent, and a real forwarder found through its config;
//! - the CloudFormation template: cfn-lint, least-privilege IAM and wiring checks
//!   (`deploy/tests/check_cloudformation.py`), a broadened policy rejected, the Glue tables
//!   equal to what the schema definition generates, and every task definition's environment
//!   accepted by `falconry check-config`;
//! - `deploy/compose.yaml`: its structure, then its init script and every falconry command it
//!   runs, executed in start order against the test suite's moto server (`deploy/tests/check_compose.py`);
//! - `deploy/Dockerfile` and `.dockerignore`: the essentials, read from the files.
//!
//! The Python checks need the project's virtualenv (cfn-lint, PyYAML, boto3, sqlglot), the
//! compose run needs moto: `scripts/test.sh` provides both and exports `FALCONRY_PYTHON`.

use falconry_common::telemetry::{Health, Registry, serve_admin};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    let p = repo(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn python() -> PathBuf {
    match std::env::var_os("FALCONRY_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "FALCONRY_PYTHON is not set: run this test with scripts/test.sh, which installs \
             cfn-lint into .venv and exports FALCONRY_PYTHON"
        ),
    }
}

fn falconry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_falconry"))
}

fn text(out: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a check script; returns its output.
fn run_check(script: &str, args: &[&str]) -> Output {
    let path = repo(script);
    Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()))
}

// ---------------------------------------------------------------- healthcheck

fn healthcheck(url: &str, timeout_s: u64) -> Output {
    falconry()
        .args([
            "healthcheck",
            "--timeout",
            &timeout_s.to_string(),
            "--url",
            url,
        ])
        .output()
        .expect("run falconry healthcheck")
}

async fn admin_port(max_silence: Duration) -> (std::net::SocketAddr, CancellationToken) {
    let token = CancellationToken::new();
    let addr = serve_admin(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(Registry::default()),
        Arc::new(Health::new(max_silence)),
        token.clone(),
    )
    .await
    .expect("admin port");
    (addr, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_passes_on_a_live_admin_port_and_fails_on_a_silent_daemon() {
    let (live, stop_live) = admin_port(Duration::from_secs(60)).await;
    // No beat is ever allowed to be old: unhealthy as soon as a millisecond passes.
    let (stale, stop_stale) = admin_port(Duration::ZERO).await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    let ok = tokio::task::spawn_blocking(move || healthcheck(&format!("http://{live}/healthz"), 3))
        .await
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("200"),
        "{}",
        text(&ok)
    );

    let bad =
        tokio::task::spawn_blocking(move || healthcheck(&format!("http://{stale}/healthz"), 3))
            .await
            .unwrap();
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("503"),
        "{}",
        text(&bad)
    );
    stop_live.cancel();
    stop_stale.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_fails_on_a_closed_port_and_within_its_timeout_on_a_silent_server() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let out =
        tokio::task::spawn_blocking(move || healthcheck(&format!("http://{closed}/healthz"), 3))
            .await
            .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            open.push(s);
        }
    });
    let started = Instant::now();
    let out =
        tokio::task::spawn_blocking(move || healthcheck(&format!("http://{addr}/healthz"), 1))
            .await
            .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout bounds the probe: {:?}",
        started.elapsed()
    );
    held.abort();
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The real daemon: `falconry healthcheck` without --url finds the admin port the
/// configuration gives (here FALCONRY__ADMIN__LISTEN, as in a container), and fails once
/// the daemon is gone or the admin port is off.
#[test]
fn healthcheck_finds_a_running_forwarders_configured_admin_port() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue")).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut daemon = falconry()
        .args(["forward", "--queue"])
        .arg(format!("dir://{}", root.join("queue").display()))
        .arg("--source")
        .arg(format!("file://{}", root.join("source").display()))
        .arg("--dest")
        .arg(format!("file://{}", root.join("lake").display()))
        .env("FALCONRY__ADMIN__LISTEN", &listen)
        .env("FALCONRY__FORWARDER__WAIT_TIME", "200ms")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the forwarder");
    let probe = |listen: &str| {
        falconry()
            .arg("healthcheck")
            .env("FALCONRY__ADMIN__LISTEN", listen)
            .env_remove("FALCONRY_CONFIG")
            .output()
            .expect("run falconry healthcheck")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let healthy = loop {
        let out = probe(&listen);
        if out.status.success() {
            break out;
        }
        if Instant::now() > deadline {
            let _ = daemon.kill();
            panic!(
                "the forwarder's admin port never answered healthy: {}",
                text(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        String::from_utf8_lossy(&healthy.stdout).contains(&format!("http://{listen}/healthz")),
        "{}",
        text(&healthy)
    );
    // 0.0.0.0 (the default's shape) is asked on 127.0.0.1.
    let port = listen.rsplit(':').next().unwrap();
    let any = probe(&format!("0.0.0.0:{port}"));
    assert!(any.status.success(), "{}", text(&any));

    let off = probe("off");
    assert_eq!(off.status.code(), Some(1), "{}", text(&off));
    assert!(
        String::from_utf8_lossy(&off.stderr).contains("off"),
        "{}",
        text(&off)
    );

    assert!(
        Command::new("kill")
            .args(["-TERM", &daemon.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(daemon.wait().unwrap().success());
    let gone = probe(&listen);
    assert_eq!(gone.status.code(), Some(1), "{}", text(&gone));
}

// ---------------------------------------------------------------- CloudFormation

const TEMPLATE: &str = "deploy/cloudformation/falconry.yaml";

#[test]
fn glue_tables_in_the_template_are_what_the_schema_definition_generates() {
    use falconry_forwarder::schema::{self, glue};
    let tables: Vec<_> = schema::table_names()
        .into_iter()
        .map(|t| &schema::table(t).def)
        .collect();
    let template = read(TEMPLATE);
    let block = glue::block(&template).expect("the template has the generated block");
    assert!(
        template[block] == glue::resources(&tables, &glue::Target::default()),
        "the Glue tables in {TEMPLATE} are stale: run `cargo run -- schema glue --write {TEMPLATE}`"
    );
    for t in schema::table_names() {
        assert!(
            template.contains(&format!("  {}:\n", glue::logical_id(t))),
            "{t}"
        );
    }
    // The command prints the same block, and --write splices it in place.
    let out = falconry().args(["schema", "glue"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout) == template[glue::block(&template).unwrap()]);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("t.yaml");
    let stale = glue::splice(&template, &format!("  {}\n  {}\n", glue::BEGIN, glue::END)).unwrap();
    std::fs::write(&copy, &stale).unwrap();
    let out = falconry()
        .args(["schema", "glue", "--write"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read_to_string(&copy).unwrap() == template);
}

#[test]
fn cloudformation_lints_clean_and_its_policies_are_least_privilege() {
    let out = run_check("deploy/tests/check_cloudformation.py", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK:"),
        "{}",
        text(&out)
    );
}

/// The checks can fail: a wildcard action, a whole-bucket grant and a second streamer
/// during deployments are each reported.
#[test]
fn cloudformation_checks_reject_broadened_policies() {
    let template = read(TEMPLATE);
    let dir = tempfile::tempdir().unwrap();
    for (what, from, to, expect) in [
        (
            "wildcard action",
            "Action: [athena:StartQueryExecution,",
            "Action: [\"athena:*\", athena:StartQueryExecution,",
            "wildcard action 'athena:*'",
        ),
        (
            "whole bucket",
            "!Sub \"${StreamBucket.Arn}/state/stream/*\"",
            "!Sub \"${StreamBucket.Arn}/*\"",
            "not a bucket prefix",
        ),
        (
            "findings notified to the queue for every key",
            "Value: .findings.ndjson.gz",
            "Value: .gz",
            "LakeBucket: filter",
        ),
        (
            "overlapping streamers",
            "MaximumPercent: 100",
            "MaximumPercent: 200",
            "two streamers never overlap",
        ),
        (
            "the weekly report's schedule passing a role it does not run",
            "                  - !GetAtt EnricherTaskRole.Arn\n\n  WeeklyReportSchedule:",
            "                  - !GetAtt EnricherTaskRole.Arn\n                  - !GetAtt ForwarderTaskRole.Arn\n\n  WeeklyReportSchedule:",
            "not exactly EnricherTaskDefinition's roles",
        ),
        (
            "the weekly report overriding a container the task lacks",
            "{\"name\": \"enricher\", \"command\": [\"report\"",
            "{\"name\": \"reporter\", \"command\": [\"report\"",
            "overrides container 'reporter'",
        ),
        (
            "star resource",
            "Resource: !GetAtt EnricherQueue.Arn\n              - Sid: Findings",
            "Resource: \"*\"\n              - Sid: Findings",
            "on Resource '*'",
        ),
    ] {
        assert!(
            template.contains(from),
            "{what}: {from:?} not in the template"
        );
        let path = dir.path().join("broadened.yaml");
        std::fs::write(&path, template.replacen(from, to, 1)).unwrap();
        let out = run_check(
            "deploy/tests/check_cloudformation.py",
            &["--template", path.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(expect),
            "{what}: {}",
            text(&out)
        );
    }
}

/// Every task definition's environment, with its secrets filled, is a configuration
/// `falconry check-config` accepts, for each way of authenticating to GitHub and with the
/// optional context providers on and off; the enricher's history settings also pass the
/// checks its provider makes at start.
#[test]
fn every_task_definitions_environment_passes_check_config() {
    let pem = read("testkit/src/github/app-key.pem");
    let base = [
        "Image=example.com/falconry:test",
        "FdrQueueUrl=https://sqs.us-west-1.amazonaws.com/123456789012/cs-prod-cannon-queue",
        "GitHubRepo=my-org/security-alerts",
        // The App's client id: a numeric app id arrives as a number through the environment.
        "GitHubAppId=Iv23liExampleClient",
        "GitHubInstallationId=7654321",
        "SlackEnabled=true",
        "FalconHostLookups=true",
    ];
    let variants: [&[&str]; 4] = [
        &[],
        &[
            "GitHubAuth=token",
            "SlackEnabled=false",
            "FalconHostLookups=false",
            "HistoryBackend=off",
            "FalconAlertsSync=true",
            "WeeklyReportRepo=my-org/soc-reports",
        ],
        &[
            "EnableHunt=true",
            "HuntEngine=athena",
            "TaxiiCollectionUrl=https://taxii.example/api1/collections/abc/",
        ],
        &[
            "GitHubAuth=token",
            "EnableHunt=true",
            "HuntEngine=auto",
            "TaxiiCollectionUrl=https://taxii.example/api1/collections/abc/",
            "TaxiiAuth=basic",
            "EnableDetections=false",
        ],
    ];
    let mut seen = std::collections::BTreeSet::new();
    for extra in variants {
        let mut args = vec!["--env"];
        args.extend(base);
        args.extend(extra);
        let out = run_check("deploy/tests/check_cloudformation.py", &args);
        assert!(out.status.success(), "{}", text(&out));
        let containers: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&out.stdout).expect("JSON from --env");
        let expected: &[&str] = if extra.contains(&"EnableHunt=true") {
            &["enricher", "forwarder", "hunt", "streamer"]
        } else {
            &["enricher", "forwarder", "streamer"]
        };
        assert_eq!(
            containers.keys().map(String::as_str).collect::<Vec<_>>(),
            expected
        );
        for (name, c) in &containers {
            let mut env: Vec<(String, String)> = c["env"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            for (k, s) in c["secrets"].as_object().unwrap() {
                let value = match s["key"].as_str().unwrap() {
                    "private_key" => pem.clone(),
                    "webhook_url" => "https://hooks.slack.com/services/T0/B0/x".to_owned(),
                    _ => "not-a-real-secret".to_owned(),
                };
                env.push((k.clone(), value));
                seen.insert(k.clone());
            }
            let mut cmd = falconry();
            cmd.arg("check-config")
                .env_clear()
                .envs(env.iter().cloned());
            if let Some(path) = std::env::var_os("PATH") {
                cmd.env("PATH", path);
            }
            let out = cmd.output().expect("run falconry check-config");
            assert!(
                out.status.success(),
                "{name} with {extra:?}: {}\nenv: {c}",
                text(&out)
            );
            if name == "enricher" {
                #[derive(serde::Deserialize)]
                struct File {
                    enricher: falconry_enricher::EnricherConfig,
                }
                let file: File = falconry_common::config::load_from(None, env, &[])
                    .unwrap_or_else(|e| panic!("{extra:?}: {e}"));
                let context = &file.enricher.context;
                context
                    .history
                    .validate()
                    .unwrap_or_else(|e| panic!("{extra:?}: {e:?}"));
                let alerts = extra.contains(&"FalconAlertsSync=true");
                assert_eq!(file.enricher.alerts.enabled, alerts);
                if alerts {
                    assert!(
                        file.enricher.alerts.client_id.is_some()
                            && file.enricher.alerts.client_secret.is_some()
                    );
                    assert_eq!(
                        file.enricher.response.report_repo.as_deref(),
                        Some("my-org/soc-reports")
                    );
                }
                let falcon_host = !extra.contains(&"FalconHostLookups=false");
                assert_eq!(context.falcon_host.enabled, falcon_host);
                if falcon_host {
                    assert!(
                        context.falcon_host.client_id.is_some()
                            && context.falcon_host.client_secret.is_some()
                    );
                }
            }
        }
    }
    for k in [
        "FALCONRY__FORWARDER__SOURCE_AWS__SECRET_ACCESS_KEY",
        "FALCONRY__STREAMER__CLIENT_SECRET",
        "FALCONRY__ENRICHER__GITHUB__PRIVATE_KEY",
        "FALCONRY__ENRICHER__GITHUB__TOKEN",
        "FALCONRY__ENRICHER__SLACK__WEBHOOK_URL",
        "FALCONRY__ENRICHER__CONTEXT__INTEL__VIRUSTOTAL_KEY",
        "FALCONRY__ENRICHER__CONTEXT__INTEL__ABUSEIPDB_KEY",
        "FALCONRY__ENRICHER__CONTEXT__INTEL__GREYNOISE_KEY",
        "FALCONRY__ENRICHER__CONTEXT__FALCON_HOST__CLIENT_SECRET",
        "FALCONRY__ENRICHER__ALERTS__CLIENT_SECRET",
        "FALCONRY__HUNT__TAXII_TOKEN",
        "FALCONRY__HUNT__TAXII_USER",
        "FALCONRY__HUNT__TAXII_PASSWORD",
    ] {
        assert!(seen.contains(k), "{k} never injected: {seen:?}");
    }
}

// ---------------------------------------------------------------- compose

/// The compose file's structure, then the laptop pipeline it describes without Docker:
/// its init script creates the buckets, queues and notification in moto, and each falconry
/// service's command runs (jobs in start order, then the daemons until their input is
/// drained): FDR fixtures reach the lake bucket, the replayed stream's batches are announced
/// on the queue, and the enricher opens issues whose history comes from the lake.
#[test]
fn compose_pipeline_runs_against_moto() {
    let out = run_check("deploy/tests/check_compose.py", &[]);
    assert!(out.status.success(), "{}", text(&out));

    assert!(
        std::env::var("FALCONRY_TEST_MOTO").is_ok() && std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "this test needs moto's S3/SQS server: run it with scripts/test.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let suffix = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let out = run_check(
        "deploy/tests/check_compose.py",
        &["--plan", "--root", root, "--suffix", &suffix],
    );
    assert!(out.status.success(), "{}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON plan");
    let mut ran = Vec::new();
    let mut outputs = BTreeMap::new();
    for step in plan["steps"].as_array().unwrap() {
        let service = step["service"].as_str().unwrap().to_owned();
        let mut cmd = falconry();
        cmd.args(
            step["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap()),
        )
        .env_remove("FALCONRY_CONFIG")
        .env("FALCONRY__ADMIN__LISTEN", "off");
        if step["daemon"].as_bool().unwrap() {
            cmd.arg("--until-empty");
        }
        for (k, v) in step["env"].as_object().unwrap() {
            cmd.env(k, v.as_str().unwrap());
        }
        let out = cmd.output().expect("run a compose service's command");
        assert!(out.status.success(), "{service}: {}", text(&out));
        outputs.insert(
            service.clone(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        );
        ran.push(service);
    }
    let pos = |s: &str| {
        ran.iter()
            .position(|r| r == s)
            .unwrap_or_else(|| panic!("{s} not run: {ran:?}"))
    };
    assert!(pos("fdr-fixtures") < pos("forwarder") && pos("stream-fixtures") < pos("streamer"));

    let done = std::fs::read_dir(dir.path().join("fdr/queue/done"))
        .expect("the forwarder moved its notices to done/")
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(done, 2, "both fixture notices forwarded to the lake bucket");
    assert!(
        outputs["streamer"].contains(" events in ") && !outputs["streamer"].starts_with("0 events"),
        "{}",
        outputs["streamer"]
    );
    let issues: Vec<_> = walk(&dir.path().join("issues"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    assert!(
        !issues.is_empty(),
        "the enricher opened issues from the notified batches: {}",
        outputs["enricher"]
    );
    // The history section reads the Parquet the forwarder wrote to the lake bucket.
    assert!(
        issues.iter().any(|p| std::fs::read_to_string(p)
            .unwrap_or_default()
            .contains("| process | ")),
        "no issue shows the host's activity from the lake: {}",
        outputs["enricher"]
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

// ---------------------------------------------------------------- Dockerfile

/// Instructions of one Dockerfile stage (continuation lines joined).
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            current.push_str(part);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (op, rest) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((op.to_ascii_uppercase(), rest.trim().to_owned()));
        current.clear();
    }
    out
}

#[test]
fn dockerfile_builds_locked_and_runs_unprivileged_with_a_health_check() {
    let file = instructions(&read("deploy/Dockerfile"));
    let froms: Vec<_> = file.iter().filter(|(op, _)| op == "FROM").collect();
    assert_eq!(
        froms.len(),
        2,
        "a build stage and a runtime stage: {froms:?}"
    );
    let arg = |name: &str| {
        file.iter()
            .find_map(|(op, v)| {
                (op == "ARG")
                    .then(|| v.strip_prefix(&format!("{name}=")))
                    .flatten()
            })
            .map(str::to_owned)
    };
    let rust = arg("RUST_VERSION").expect("ARG RUST_VERSION");
    assert!(
        froms[0]
            .1
            .starts_with("rust:${RUST_VERSION}-bookworm AS build"),
        "{:?}",
        froms[0]
    );
    let wanted: Vec<u32> = read("Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version in Cargo.toml")
        .trim_matches('"')
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    let have: Vec<u32> = rust.split('.').map(|n| n.parse().unwrap()).collect();
    assert!(
        have >= wanted,
        "the image's Rust {rust} is older than rust-version {wanted:?}"
    );
    assert_eq!(froms[1].1, "gcr.io/distroless/cc-debian12:nonroot");

    let build_stage: Vec<_> = file
        .iter()
        .skip_while(|(op, _)| op != "FROM")
        .take_while(|(op, v)| !(op == "FROM" && v.starts_with("gcr.io")))
        .collect();
    assert!(
        build_stage
            .iter()
            .any(|(op, v)| op == "RUN" && v.contains("cargo build --release --locked")),
        "the build runs `cargo build --release --locked`"
    );
    let runtime: Vec<_> = file
        .iter()
        .skip_while(|(op, v)| !(op == "FROM" && v.starts_with("gcr.io")))
        .collect();
    let last = |name: &str| {
        runtime
            .iter()
            .rev()
            .find(|(op, _)| op == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in the runtime stage"))
    };
    assert!(
        runtime
            .iter()
            .any(|(op, v)| op == "COPY" && v == "--from=build /falconry /falconry")
    );
    let user = last("USER");
    assert!(
        !["root", "0", "0:0"].contains(&user),
        "the runtime user is {user}"
    );
    assert!(
        last("HEALTHCHECK").ends_with("CMD [\"/falconry\", \"healthcheck\"]"),
        "{}",
        last("HEALTHCHECK")
    );
    assert_eq!(last("ENTRYPOINT"), "[\"/falconry\"]");
    // The health check's default port is the admin port the image exposes.
    assert_eq!(last("EXPOSE"), "9090");
    assert_eq!(
        falconry_common::telemetry::AdminSettings::default().listen,
        "0.0.0.0:9090"
    );
}

/// `.dockerignore` keeps build output and local state out of the context, and nothing the
/// build needs (the crates, the lock file, the policy the enricher embeds).
#[test]
fn dockerignore_excludes_local_state_but_nothing_the_build_needs() {
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_matches('/').to_owned())
        .collect();
    // A path is excluded when a pattern matches it or one of its parent folders.
    let excluded = |path: &str| {
        let parts: Vec<&str> = path.split('/').collect();
        (1..=parts.len()).any(|n| {
            let prefix = parts[..n].join("/");
            patterns.iter().any(|p| glob(p, &prefix))
        })
    };
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        "common/Cargo.toml",
        "forwarder/src/lib.rs",
        "streamer/src/lib.rs",
        "enricher/src/lib.rs",
        "fixtures/src/lib.rs",
        "deploy/policies/default.rego",
        "deploy/policies/routing.json",
        "enricher/src/render/templates/issue.md.j2",
    ] {
        assert!(repo(needed).exists(), "{needed} moved: update this test");
        assert!(
            !excluded(needed),
            "{needed} is needed by the build but .dockerignore excludes it"
        );
    }
    for local in [
        "target/debug/falconry",
        ".git/HEAD",
        ".venv/bin/python",
        "falconry-demo/lake",
    ] {
        assert!(
            excluded(local),
            "{local} should stay out of the build context"
        );
    }
    // The workspace members are all in the context.
    let manifest = read("Cargo.toml");
    let members = manifest
        .lines()
        .find_map(|l| l.strip_prefix("members = "))
        .expect("workspace members");
    for m in members.trim_matches(|c| c == '[' || c == ']').split(',') {
        let m = m.trim().trim_matches('"');
        assert!(!excluded(&format!("{m}/Cargo.toml")), "member {m} excluded");
    }
}

/// `*` matches within one path segment, `**/` any number of leading segments.
fn glob(pattern: &str, path: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("**/") {
        let parts: Vec<&str> = path.split('/').collect();
        return (0..parts.len()).any(|i| glob(rest, &parts[i..].join("/")));
    }
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), path.chars().collect());
    fn m(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => m(&p[1..], s) || (!s.is_empty() && s[0] != '/' && m(p, &s[1..])),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(&p, &s)
}
