//! The command line: subcommands and the flags that override configuration keys.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "falconry",
    version,
    about = "Keep, query and act on your CrowdStrike Falcon telemetry in your own AWS account."
)]
pub struct Cli {
    /// TOML configuration file (then FALCONRY__SECTION__KEY variables, then flags).
    #[arg(long, short = 'c', global = true, env = "FALCONRY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Forward FDR: notices from SQS → verified raw copies → Parquet.
    Forward(ForwardArgs),
    /// Validate the configuration and print every problem found.
    CheckConfig,
    /// Run the pipeline on generated fixtures with local directories (no AWS).
    Demo(DemoArgs),
    /// Convert local FDR files (gzip NDJSON) to Parquet.
    Convert(ConvertArgs),
    /// Write the project's synthetic test data.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
}

#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// SQS queue URL, or dir://path (one notice JSON per file).
    #[arg(long)]
    pub queue: Option<String>,
    /// s3://bucket (override the notices' bucket) or file://root.
    #[arg(long)]
    pub source: Option<String>,
    /// s3://bucket[/prefix] or file://root.
    #[arg(long)]
    pub dest: Option<String>,
    /// Exit 0 once the queue is drained (non-zero if any notice failed).
    #[arg(long)]
    pub until_empty: bool,
    /// Admin port address, or `off`.
    #[arg(long)]
    pub admin: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working directory of the demo (its source/, queue/ and lake/ are recreated).
    #[arg(long, default_value = "falconry-demo")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Output directory (tables under it as <table>/dt=.../hour=...).
    #[arg(long)]
    pub out: PathBuf,
    /// Worker threads (files are converted in parallel).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// zstd level of the Parquet files.
    #[arg(long, default_value_t = 3)]
    pub zstd_level: i32,
    /// Input files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// An FDR batch and a lookup batch, as files under <out>/source and notices under <out>/queue.
    Fdr {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, default_value_t = 2)]
        files: usize,
        #[arg(long, default_value_t = 500)]
        events_per_file: usize,
    },
    /// A benchmark corpus of gzip NDJSON files.
    Corpus {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 8)]
        files: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}
