//! The `falconry` binary: parse the command line, load the configuration,
//! call the daemon or tool asked for. No domain logic lives here.

mod cli;
mod config;
mod demo;
mod progress;

use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command, FixturesCommand, ForwardAction, PolicyCommand, SchemaCommand};
use falconry_common::config::{ConfigError, Override};
use falconry_common::telemetry::{Registry, init_logging, serve_admin};
use std::process::ExitCode;
use std::sync::Arc;

/// Exit code of a configuration error (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.chain().any(|c| c.downcast_ref::<ConfigError>().is_some()) {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Configuration overrides from the flags that were given, and `until_empty`
/// when set.
fn overrides(values: &[(&str, &Option<String>)], until_empty: (&str, bool)) -> Vec<Override> {
    let mut flags: Vec<Override> = values
        .iter()
        .filter_map(|(key, value)| value.as_deref().map(|v| Override::new(key, v)))
        .collect();
    if until_empty.1 {
        flags.push(Override::new(until_empty.0, true));
    }
    flags
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Forward(args) => {
            let flags = overrides(
                &[
                    ("forwarder.queue", &args.queue),
                    ("forwarder.source", &args.source),
                    ("forwarder.dest", &args.dest),
                    ("admin.listen", &args.admin),
                ],
                ("forwarder.until_empty", args.until_empty),
            );
            let config = config::load(cli.config.as_deref(), &flags)?;
            init_logging(&config.log);
            match args.action {
                Some(ForwardAction::Replay {
                    prefix,
                    since,
                    until,
                }) => replay(&config, prefix, since, until).await,
                None => forward(&config).await,
            }
        }
        Command::Stream(args) => {
            let mut flags = Vec::new();
            if let Some(d) = &args.dest {
                flags.push(Override::new("streamer.dest", d.as_str()));
            }
            let config = config::load(cli.config.as_deref(), &flags)?;
            init_logging(&config.log);
            let settings = config.streamer().validate()?;
            let shutdown = falconry_common::shutdown::on_signal();
            match &args.from {
                Some(from) => {
                    let s =
                        falconry_streamer::replay_file(&settings, from, args.partition, shutdown)
                            .await?;
                    println!(
                        "{} events in {} batch(es), {} skipped (already durable or out of order), {} junk line(s)",
                        s.events, s.batches, s.skipped, s.junk
                    );
                }
                None => {
                    let mut registry = Registry::default();
                    let streamer = falconry_streamer::Streamer::new(settings, &mut registry);
                    admin_port(&config, registry, streamer.health.clone(), &shutdown).await?;
                    let report = streamer.run(shutdown).await?;
                    tracing::info!(?report, "done");
                }
            }
            Ok(())
        }
        Command::Enrich(args) => {
            let flags = overrides(
                &[
                    ("enricher.from", &args.from),
                    ("enricher.queue", &args.queue),
                    ("enricher.issues", &args.issues),
                    ("enricher.state", &args.state),
                    ("admin.listen", &args.admin),
                ],
                ("enricher.until_empty", args.until_empty),
            );
            let config = config::load(cli.config.as_deref(), &flags)?;
            init_logging(&config.log);
            enrich(&config).await
        }
        Command::Policy(PolicyCommand::Eval {
            input,
            policy,
            data,
        }) => {
            let config = config::load(cli.config.as_deref(), &[])?;
            let e = config.enricher();
            let (files, data) = if policy.is_empty() {
                (
                    e.policy.clone(),
                    if data.is_empty() {
                        e.policy_data.clone()
                    } else {
                        data
                    },
                )
            } else {
                (policy, data)
            };
            let policy = falconry_enricher::policy::Policy::load(&files, &data)
                .map_err(|err| ConfigError::Invalid(vec![format!("policy: {err}")]))?;
            let text = std::fs::read_to_string(&input)
                .with_context(|| format!("reading {}", input.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", input.display()))?;
            let input = falconry_enricher::policy::eval_input(&value, &e.event_types)?;
            let decision = policy.evaluate(&input)?;
            println!("{}", serde_json::to_string_pretty(&decision)?);
            Ok(())
        }
        Command::CheckConfig => {
            let config = config::load(cli.config.as_deref(), &[])?;
            let mut problems = Vec::new();
            // Each daemon section present is checked; a file with none configures nothing.
            if config.forwarder.is_none() && config.streamer.is_none() && config.enricher.is_none()
            {
                problems.push(
                    "no [forwarder], [streamer] or [enricher] section: nothing to run".to_owned(),
                );
            }
            if let Some(Err(ConfigError::Invalid(p))) =
                config.enricher.as_ref().map(|s| s.validate())
            {
                problems.extend(p);
            }
            if let Some(Err(ConfigError::Invalid(p))) =
                config.forwarder.as_ref().map(|f| f.validate())
            {
                problems.extend(p);
            }
            if let Some(Err(ConfigError::Invalid(p))) =
                config.streamer.as_ref().map(|s| s.validate())
            {
                problems.extend(p);
            }
            if let Err(e) = config.admin.addr() {
                problems.push(format!("admin.listen: {e}"));
            }
            if !problems.is_empty() {
                return Err(ConfigError::Invalid(problems).into());
            }
            println!("configuration is valid");
            Ok(())
        }
        Command::Demo(args) => demo::run(&args.dir).await,
        Command::Convert(args) => {
            let opts = falconry_forwarder::convert::ConvertOptions {
                zstd_level: args.zstd_level,
                ..Default::default()
            };
            let started = std::time::Instant::now();
            let (files, out, threads) = (args.files, args.out, args.threads);
            let totals = tokio::task::spawn_blocking(move || {
                falconry_forwarder::local::convert_files(&files, &out, threads, &opts)
            })
            .await??;
            let mut summary = serde_json::to_value(&totals)?;
            summary["seconds"] = serde_json::json!(started.elapsed().as_secs_f64());
            println!("{summary}");
            Ok(())
        }
        Command::Fixtures(FixturesCommand::Fdr {
            out,
            seed,
            files,
            events_per_file,
        }) => {
            let written = demo::write_fixtures(&out, seed, files, events_per_file)?;
            println!("{written}");
            Ok(())
        }
        Command::Schema(SchemaCommand::Athena {
            location,
            database,
            since,
        }) => {
            use falconry_forwarder::schema::{self, athena};
            let mut target = athena::Target {
                database,
                since,
                ..athena::Target::default()
            };
            if let Some(l) = location {
                target.location = l.trim_end_matches('/').to_owned();
            }
            let tables: Vec<_> = schema::table_names()
                .into_iter()
                .map(|t| &schema::table(t).def)
                .collect();
            print!("{}", athena::ddl(&tables, &target));
            Ok(())
        }
        Command::Schema(SchemaCommand::Glue { write }) => {
            use falconry_forwarder::schema::{self, glue};
            let tables: Vec<_> = schema::table_names()
                .into_iter()
                .map(|t| &schema::table(t).def)
                .collect();
            let block = glue::resources(&tables, &glue::Target::default());
            match write {
                None => print!("{block}"),
                Some(path) => {
                    let template = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let spliced = glue::splice(&template, &block)
                        .with_context(|| format!("{}", path.display()))?;
                    std::fs::write(&path, spliced)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
            }
            Ok(())
        }
        Command::Healthcheck(args) => {
            // Every failure is "unhealthy" (exit 1), a configuration problem included.
            healthcheck(cli.config.as_deref(), args)
                .await
                .map_err(|e| anyhow::anyhow!("unhealthy: {e:#}"))
        }
        Command::Schema(SchemaCommand::Docs) => {
            use falconry_forwarder::schema::{self, docs};
            let tables: Vec<_> = schema::table_names()
                .into_iter()
                .map(|t| &schema::table(t).def)
                .collect();
            print!("{}", docs::markdown(&tables));
            Ok(())
        }
        Command::Fixtures(FixturesCommand::Stream {
            out,
            seed,
            events,
            partition,
        }) => {
            let opts = falconry_fixtures::StreamOptions {
                seed,
                events,
                partition,
                ..Default::default()
            };
            let lines = falconry_fixtures::stream_events(&opts);
            std::fs::write(&out, falconry_fixtures::stream_ndjson(&lines))
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{} events of partition {partition} in {}",
                lines.len(),
                out.display()
            );
            Ok(())
        }
        Command::Fixtures(FixturesCommand::Corpus {
            out,
            events,
            files,
            seed,
        }) => {
            let paths = falconry_fixtures::write_corpus(&out, seed, events, files)
                .with_context(|| format!("writing the corpus to {}", out.display()))?;
            for p in paths {
                println!("{}", p.display());
            }
            Ok(())
        }
    }
}

/// GETs the admin port's `/healthz` (or `--url`) with a timeout; Ok only on a 2xx answer.
async fn healthcheck(
    file: Option<&std::path::Path>,
    args: cli::HealthcheckArgs,
) -> anyhow::Result<()> {
    let url = match args.url {
        Some(u) => u,
        None => {
            let config = config::load(file, &[])?;
            let addr = config
                .admin
                .addr()
                .map_err(|e| anyhow::anyhow!("admin.listen: {e}"))?
                .ok_or_else(|| anyhow::anyhow!("the admin port is off: nothing to probe"))?;
            let host = match addr.ip() {
                std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
                std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
                std::net::IpAddr::V4(ip) => ip.to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            };
            format!("http://{host}:{}/healthz", addr.port())
        }
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(args.timeout.max(1)))
        .build()
        .context("building the HTTP client")?;
    let answer = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("GET {url}: {status} {}", body.trim());
    }
    println!("healthy: GET {url}: {status} {}", body.trim());
    Ok(())
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `[admin] listen` (unless `off`).
async fn admin_port(
    config: &config::Config,
    registry: Registry,
    health: Arc<falconry_common::telemetry::Health>,
    shutdown: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let admin = config
        .admin
        .addr()
        .map_err(|e| ConfigError::Invalid(vec![format!("admin.listen: {e}")]))?;
    if let Some(addr) = admin {
        serve_admin(addr, Arc::new(registry), health, shutdown.clone())
            .await
            .with_context(|| format!("admin port {addr}"))?;
    }
    Ok(())
}

async fn forward(config: &config::Config) -> anyhow::Result<()> {
    let settings = config.forwarder().validate()?;
    let shutdown = falconry_common::shutdown::on_signal();
    let mut registry = Registry::default();
    let forwarder = falconry_forwarder::Forwarder::new(settings, &mut registry).await?;
    admin_port(config, registry, forwarder.health.clone(), &shutdown).await?;
    let summary = forwarder.run(shutdown).await?;
    tracing::info!(?summary, "done");
    Ok(())
}

async fn enrich(config: &config::Config) -> anyhow::Result<()> {
    let settings = config.enricher().validate()?;
    let until_empty = settings.until_empty;
    let shutdown = falconry_common::shutdown::on_signal();
    let mut registry = Registry::default();
    let enricher = falconry_enricher::Enricher::new(settings, &mut registry).await?;
    admin_port(config, registry, enricher.health.clone(), &shutdown).await?;
    let s = enricher.run(shutdown).await?;
    println!(
        "{} batch(es), {} alert(s): {} issue(s) opened, {} repeat(s) commented, {} already handled, {} discarded, {} notified, {} failed; {} line(s) quarantined",
        s.batches,
        s.alerts,
        s.created,
        s.commented,
        s.duplicates,
        s.discarded,
        s.notified,
        s.failed,
        s.quarantined_lines
    );
    if until_empty && s.failed > 0 {
        anyhow::bail!(
            "{} alert(s) failed; their batches will be read again",
            s.failed
        );
    }
    Ok(())
}

async fn replay(
    config: &config::Config,
    prefix: String,
    since: Option<String>,
    until: Option<String>,
) -> anyhow::Result<()> {
    let settings = config.forwarder().validate_for_replay()?;
    let mut problems = Vec::new();
    let mut time = |field: &str, v: Option<String>| match v.as_deref().map(progress::parse_time) {
        Some(Ok(ms)) => Some(ms),
        Some(Err(e)) => {
            problems.push(format!("{field}: {e}"));
            None
        }
        None => None,
    };
    let opts = falconry_forwarder::replay::ReplayOptions {
        prefix,
        since_ms: time("--since", since),
        until_ms: time("--until", until),
    };
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems).into());
    }
    let shutdown = falconry_common::shutdown::on_signal();
    let (tx, rx) = tokio::sync::watch::channel(Default::default());
    let shown = tokio::spawn(progress::render(rx));
    let result = falconry_forwarder::replay::replay(&settings, &opts, tx, shutdown).await;
    let _ = shown.await;
    let done = result?;
    println!(
        "replayed {} file(s), {} bytes, {} rows",
        done.files_done, done.bytes_done, done.rows
    );
    Ok(())
}
