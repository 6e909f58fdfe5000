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
    /// Event Streams → exactly-once batches in S3: the live Falcon API, or a
    /// recorded stream file with `--from`.
    Stream(StreamArgs),
    /// Detections from the stream batches → policy → deduplicated GitHub
    /// issues (or Markdown files with `--issues dir://path`) and Slack notices.
    Enrich(EnrichArgs),
    /// Try the Rego policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The organisation's Sigma rules: test them, or run them over history.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Hunt indicators of compromise (CSV, lists, STIX, MISP, TAXII) through
    /// the Parquet lake's history; new matches become findings and issues.
    Hunt(HuntArgs),
    /// The response report: cases opened, closed and open by severity and
    /// source, time to first response and to close against the SLAs,
    /// conclusions, the rules to tune first, the oldest open cases.
    Report(ReportArgs),
    /// Validate the configuration and print every problem found.
    CheckConfig,
    /// Run the pipeline on generated fixtures with local directories (no AWS).
    Demo(DemoArgs),
    /// Convert local FDR files (gzip NDJSON) to Parquet.
    Convert(ConvertArgs),
    /// Write the project's synthetic test data.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Print what the schema definition generates.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Probe a daemon's admin port (/healthz) for container health checks:
    /// exit 0 when it answers 200, 1 otherwise.
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// An indicator source, repeatable: `[FORMAT=]PATH`, `s3://bucket/key-or-prefix`
    /// (FORMAT: csv, stix, misp, list:<type>; else told by name and content), or
    /// `taxii:https://host/api-root/collections/<id>/` (credentials from
    /// FALCONRY_TAXII_TOKEN or FALCONRY_TAXII_USER/FALCONRY_TAXII_PASSWORD).
    /// Default: `[detect] indicators`.
    #[arg(long = "ioc", value_name = "FILE_OR_URL")]
    pub ioc: Vec<String>,
    /// The forwarder's destination: file://root or s3://bucket[/prefix].
    /// Default: `[forwarder] dest`.
    #[arg(long)]
    pub lake: Option<String>,
    /// From (a day, an RFC 3339 time, or a duration back such as 90d).
    #[arg(long)]
    pub since: Option<String>,
    /// Until (same forms).
    #[arg(long)]
    pub until: Option<String>,
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Report only: record nothing, write no findings.
    #[arg(long)]
    pub dry_run: bool,
    /// Domains also match their subdomains.
    #[arg(long)]
    pub subdomains: bool,
    /// Also read the host of each URL in command lines for domains.
    #[arg(long)]
    pub command_line_urls: bool,
    /// `scan` (read the window's Parquet files), `athena` (Athena names the
    /// files that may hold a match, from `[hunt.athena]`; needs --since) or
    /// `auto` (Athena above `[hunt] athena_above` bytes). Default: `[hunt]
    /// engine`, else scan.
    #[arg(long)]
    pub engine: Option<String>,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// URL to probe. Default: /healthz on the configured admin port
    /// (`[admin] listen`, FALCONRY__ADMIN__LISTEN; 0.0.0.0:9090 unless set),
    /// asked on 127.0.0.1 when it listens on every address.
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds to wait for the whole answer.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Athena DDL of every table, with partition projection (deploy/athena/tables.sql).
    Athena {
        /// The forwarder's Parquet prefix, e.g. s3://my-bucket/fdr/parquet.
        #[arg(long)]
        location: Option<String>,
        /// Glue/Athena database name.
        #[arg(long, default_value = "falconry")]
        database: String,
        /// First day partition projection enumerates (YYYY-MM-DD).
        #[arg(long, default_value = "2020-01-01")]
        since: String,
        /// The findings table instead (deploy/athena/findings.sql), beside the Parquet prefix.
        #[arg(long)]
        findings: bool,
    },
    /// The column documentation in Markdown (docs/schema.md).
    Docs,
    /// The AWS::Glue::Table resources of every table, as spliced into
    /// deploy/cloudformation/falconry.yaml between its marker lines.
    Glue {
        /// Replace the generated block of this template in place instead of printing it.
        #[arg(long)]
        write: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ForwardArgs {
    #[command(subcommand)]
    pub action: Option<ForwardAction>,
    /// SQS queue URL, or dir://path (one notice JSON per file).
    #[arg(long, global = true)]
    pub queue: Option<String>,
    /// s3://bucket (override the notices' bucket) or file://root.
    #[arg(long, global = true)]
    pub source: Option<String>,
    /// s3://bucket[/prefix] or file://root.
    #[arg(long, global = true)]
    pub dest: Option<String>,
    /// Exit 0 once the queue is drained (non-zero if any notice failed).
    #[arg(long)]
    pub until_empty: bool,
    /// Admin port address, or `off`.
    #[arg(long, global = true)]
    pub admin: Option<String>,
    /// Sigma rules to run over every event (a directory or s3://bucket/prefix): `[detect] rules`.
    #[arg(long)]
    pub rules: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ForwardAction {
    /// Re-convert raw files already in the destination into Parquet with the
    /// current schema (after an upgrade, or for data copied before falconry).
    Replay {
        /// Key prefix under the raw prefix, e.g. data/ or fdrv2/aidmaster/ (default: all).
        #[arg(long, default_value = "")]
        prefix: String,
        /// Only raw files last modified at or after this time (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only raw files last modified before this time (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Replay a recorded stream instead: one event line per line (one partition; offsets from the lines).
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// The partition the recording belongs to.
    #[arg(long, default_value_t = 0)]
    pub partition: u32,
    /// s3://bucket[/prefix] or file://root.
    #[arg(long)]
    pub dest: Option<String>,
}

#[derive(Debug, Args)]
pub struct EnrichArgs {
    /// Scan the streamer's destination for batches: s3://bucket[/prefix] or file://root.
    #[arg(long)]
    pub from: Option<String>,
    /// Or an SQS queue URL receiving the S3 event notifications of new batches.
    #[arg(long)]
    pub queue: Option<String>,
    /// `github`, or dir://path for Markdown files.
    #[arg(long)]
    pub issues: Option<String>,
    /// Where dedup records and quarantined lines live (s3://… or file://…).
    #[arg(long)]
    pub state: Option<String>,
    /// Exit once there is nothing left to read (non-zero if an alert failed).
    #[arg(long)]
    pub until_empty: bool,
    /// Admin port address, or `off`.
    #[arg(long)]
    pub admin: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The issues: `github`, or dir://path (the embedded default's Markdown
    /// files, whose conclusions are read first). Default: `[enricher] issues`.
    #[arg(long)]
    pub issues: Option<String>,
    /// Where the cases live (s3://… or file://…). Default: `[enricher] state`.
    #[arg(long)]
    pub state: Option<String>,
    /// The window: a duration back from now (7d, 24h) or a date. Default 7d.
    #[arg(long, default_value = "7d")]
    pub since: String,
    /// `md` (Markdown) or `json`.
    #[arg(long, default_value = "md")]
    pub format: String,
    /// Also write report.md, report.json and the two SVG charts into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Post the report as an issue in `[enricher.response] report_repo`.
    #[arg(long)]
    pub post: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Evaluate the policy on one alert and print the decision as JSON.
    Eval {
        /// A Falcon event (one stream line), a normalised alert, or `{alert, enrichment}`.
        #[arg(long)]
        input: PathBuf,
        /// Policy files instead of the configured or built-in policy.
        #[arg(long)]
        policy: Vec<PathBuf>,
        /// JSON data documents (e.g. routing.json).
        #[arg(long)]
        data: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load and lint every rule, run the tests beside them (`<rule>.tests.yml`);
    /// exit non-zero on any error or failed test. For a rules repository's CI.
    Test {
        /// A directory or s3://bucket/prefix. Default: `[detect] rules`.
        #[arg(long)]
        rules: Option<String>,
    },
    /// Run the rules over the Parquet lake's history and print, per rule, its
    /// hits, hosts, first and last hit and a few events.
    Backtest {
        /// A directory or s3://bucket/prefix. Default: `[detect] rules`.
        #[arg(long)]
        rules: Option<String>,
        /// The forwarder's destination: file://root or s3://bucket[/prefix].
        #[arg(long)]
        lake: String,
        /// First day (YYYY-MM-DD, inclusive).
        #[arg(long)]
        since: Option<String>,
        /// Last day (YYYY-MM-DD, inclusive).
        #[arg(long)]
        until: Option<String>,
        /// Sample events shown per rule.
        #[arg(long, default_value_t = 3)]
        samples: usize,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the starter rules (and their tests) into a directory.
    Init {
        #[arg(long)]
        out: PathBuf,
    },
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
    #[arg(long, default_value_t = falconry_forwarder::convert::DEFAULT_ZSTD_LEVEL)]
    pub zstd_level: i32,
    /// Sigma rules to run over every event (a directory or s3://bucket/prefix);
    /// findings go to <out>/findings/.
    #[arg(long)]
    pub rules: Option<String>,
    /// Indicator sources to look for in every event (`[FORMAT=]PATH` or
    /// s3://…, as `falconry hunt --ioc`), repeatable; their matches are
    /// findings too.
    #[arg(long = "ioc")]
    pub ioc: Vec<String>,
    /// Only inflate the files (the same gzip decoder, output thrown away) and
    /// print the seconds and bytes: the floor the benchmark compares with.
    #[arg(long)]
    pub inflate_only: bool,
    /// Run every line only through this stage and write nothing: lines
    /// (decompress and split), sort, parse, build (the Arrow columns and the
    /// rules) or write (the whole conversion). The benchmark's breakdown of
    /// where the time goes.
    #[arg(long, value_name = "STAGE", default_value = "write")]
    pub stop_after: falconry_forwarder::convert::Stage,
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
    /// A recorded Event Streams file (one partition), for `falconry stream --from`.
    Stream {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, default_value_t = 200)]
        events: usize,
        #[arg(long, default_value_t = 0)]
        partition: u32,
    },
    /// The hostile-input corpus: gzip bombs, many and duplicate keys, colliding
    /// source keys, a huge notice.
    Hostile {
        #[arg(long)]
        out: PathBuf,
        /// Lines of each gzip bomb.
        #[arg(long, default_value_t = 32 * 1024 * 1024)]
        bomb_lines: u64,
        /// Keys of the many-keys line.
        #[arg(long, default_value_t = 300_000)]
        keys: usize,
        /// Files the huge notice lists.
        #[arg(long, default_value_t = 100_000)]
        notice_files: usize,
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
        /// `mixed` (the fixtures' whole mix, typed records too) or `sensor` (the 20
        /// commonest sensor event types, every value a string, full headers).
        #[arg(long, default_value = "mixed")]
        shape: falconry_fixtures::Shape,
    },
}
