//! `falconry convert`: local FDR files to Parquet, with a JSON summary.

use crate::cli::ConvertArgs;

pub async fn run(args: ConvertArgs) -> anyhow::Result<()> {
    if args.inflate_only {
        return inflate_only(args).await;
    }
    let mut opts = falconry_forwarder::convert::ConvertOptions {
        zstd_level: args.zstd_level,
        stop_after: args.stop_after,
        ..Default::default()
    };
    let mut rules = 0;
    if let Some(text) = &args.rules {
        let src = falconry_detect::RulesSource::parse(text).map_err(|e| {
            falconry_common::config::ConfigError::Invalid(vec![format!("--rules: {e}")])
        })?;
        let store = falconry_common::Store::open(&src.location).await;
        let (loaded, _) = falconry_detect::source::load(&store, &src).await?;
        falconry_detect::live::report(&loaded, text);
        let detector = std::sync::Arc::new(falconry_detect::Detector::new(&loaded.rules));
        rules = detector.rule_count();
        opts.detect = Some(falconry_forwarder::convert::Detect {
            detector,
            indicators: None,
            source_bucket: None,
        });
    }
    let mut indicators = 0;
    if !args.ioc.is_empty() {
        let mut sources = Vec::new();
        for t in &args.ioc {
            sources.push(falconry_detect::ioc::IocSource::parse(t).map_err(|e| {
                falconry_common::config::ConfigError::Invalid(vec![format!("--ioc: {e}")])
            })?);
        }
        let loaded =
            falconry_detect::ioc::source::load(&sources, chrono::Utc::now().timestamp_millis())
                .await?;
        for line in loaded.report() {
            eprintln!("{line}");
        }
        let set = std::sync::Arc::new(falconry_detect::ioc::IndicatorSet::new(
            loaded.indicators,
            false,
        ));
        indicators = set.len();
        let detect = opts
            .detect
            .get_or_insert_with(|| falconry_forwarder::convert::Detect {
                detector: std::sync::Arc::default(),
                indicators: None,
                source_bucket: None,
            });
        detect.indicators = Some(set);
    }
    let started = std::time::Instant::now();
    let (files, out, threads) = (args.files, args.out, args.threads);
    let totals = tokio::task::spawn_blocking(move || {
        falconry_forwarder::local::convert_files(&files, &out, threads, &opts)
    })
    .await??;
    let mut summary = serde_json::to_value(&totals)?;
    summary["seconds"] = serde_json::json!(started.elapsed().as_secs_f64());
    summary["rules"] = serde_json::json!(rules);
    summary["indicators"] = serde_json::json!(indicators);
    println!("{summary}");
    Ok(())
}

/// `--inflate-only`: every gzip member of every file through the decoder the
/// conversion uses, on `--threads` threads, output discarded.
async fn inflate_only(args: ConvertArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let threads = args.threads.max(1);
    let files = std::sync::Arc::new(args.files);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..threads {
        let (files, next) = (files.clone(), next.clone());
        workers.push(tokio::task::spawn_blocking(
            move || -> std::io::Result<u64> {
                let mut total = 0;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = files.get(i) else {
                        return Ok(total);
                    };
                    let file =
                        std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
                    total += std::io::copy(
                        &mut flate2::bufread::MultiGzDecoder::new(file),
                        &mut std::io::sink(),
                    )?;
                }
            },
        ));
    }
    let mut bytes = 0;
    for w in workers {
        bytes += w.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "seconds": seconds,
            "bytes_uncompressed": bytes,
            "mb_per_s": bytes as f64 / 1e6 / seconds.max(1e-9),
            "threads": threads,
        })
    );
    Ok(())
}
