//! `falconry convert`: local FDR files to Parquet, with a JSON summary.

use crate::cli::ConvertArgs;

pub async fn run(args: ConvertArgs) -> anyhow::Result<()> {
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
