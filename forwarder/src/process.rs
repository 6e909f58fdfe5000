//! Processing one notice: decode it, then for each file (concurrently, within
//! the global file bound) copy it verified into the raw prefix, convert it, and
//! publish its outputs. The notice is done only when every file is; any
//! failure leaves the whole notice for redelivery (outputs are idempotent, so
//! the files that did succeed are simply rewritten).

use crate::config::Settings;
use crate::copy::{CopyJob, copy_and_convert};
use crate::error::FileError;
use crate::layout::{Route, route};
use crate::metrics::Metrics;
use crate::notice::{self, Decoded, FileRef, Notice, NoticeError};
use crate::outputs::{Target, check_owner, previous_manifest, publish};
use falconry_common::{Location, Store};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use tracing::Instrument;

/// Everything processing needs, shared by all notices.
pub struct Context {
    pub settings: Settings,
    /// Where files are read: the source-side S3 client (bucket per notice), or the configured source.
    pub source: Store,
    pub dest: Store,
    pub metrics: Metrics,
    pub files: Arc<Semaphore>,
    /// The rules in force (`[detect]`), if any.
    pub rules: Option<Arc<falconry_detect::LiveRules>>,
    /// Detection metrics (unknown event types are counted without rules too).
    pub detect_metrics: falconry_detect::DetectMetrics,
    /// The indicators in force (`[detect] indicators`), if any.
    pub indicators: Option<Arc<falconry_detect::ioc::LiveIndicators>>,
}

#[derive(Debug)]
pub enum Outcome {
    Done {
        files: usize,
        rows: u64,
        quarantined: u64,
    },
    Nothing(&'static str),
    Rejected(NoticeError),
    Failed(Vec<FileError>),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Done { .. } => "done",
            Outcome::Nothing(_) => "ignored",
            Outcome::Rejected(_) => "rejected",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// File errors a failed notice reports in full; the rest are counted.
const MAX_ERRORS: usize = 16;

struct FileDone {
    rows: u64,
    quarantined: u64,
}

pub async fn process(ctx: &Context, body: &str, now_ms: i64) -> Outcome {
    let notice = match notice::decode(body) {
        Ok(Decoded::Work(n)) => n,
        Ok(Decoded::Nothing(why)) => return Outcome::Nothing(why),
        Err(e) => return Outcome::Rejected(e),
    };
    let allowed = &ctx.settings.source_buckets;
    if let Some(f) = notice
        .files
        .iter()
        .find(|f| !allowed.is_empty() && !allowed.contains(&f.bucket))
    {
        return Outcome::Rejected(NoticeError::BucketNotAllowed(f.bucket.clone()));
    }
    if let Some(t) = notice.time_ms {
        ctx.metrics
            .notice_age_seconds
            .observe(((now_ms - t).max(0) as f64) / 1000.0);
    }
    let fallback_ms = notice.time_ms.unwrap_or(now_ms);
    // Only as many files' futures exist at once as may run (a notice can list
    // 100k files); the global limiter still bounds them across notices.
    let limit = ctx.settings.files_in_flight.get();
    let mut files = notice.files.iter();
    let mut running = futures::stream::FuturesUnordered::new();
    let mut results = Vec::with_capacity(notice.files.len());
    loop {
        while running.len() < limit {
            let Some(f) = files.next() else { break };
            let span = tracing::info_span!("file", key = %f.key);
            running.push(process_file(ctx, &notice, f, fallback_ms).instrument(span));
        }
        match running.next().await {
            Some(r) => results.push(r),
            None => break,
        }
    }
    let (mut rows, mut quarantined, mut files, mut errors) = (0, 0, 0, Vec::new());
    let mut more_errors = 0u64;
    for r in results {
        match r {
            Ok(Some(done)) => {
                files += 1;
                rows += done.rows;
                quarantined += done.quarantined;
            }
            Ok(None) => {}
            // A notice of 100k failing files must not become a 20 MB reason line.
            Err(e) if errors.len() < MAX_ERRORS => errors.push(e),
            Err(_) => more_errors += 1,
        }
    }
    if more_errors > 0 {
        errors.push(FileError::Internal {
            key: format!("{more_errors} more file(s)"),
            message: "failed too (their errors are in the log)".into(),
        });
    }
    if errors.is_empty() {
        Outcome::Done {
            files,
            rows,
            quarantined,
        }
    } else {
        Outcome::Failed(errors)
    }
}

async fn process_file(
    ctx: &Context,
    notice: &Notice,
    file: &FileRef,
    fallback_ms: i64,
) -> Result<Option<FileDone>, FileError> {
    let table = match route(&file.key, file.size) {
        Route::Table(t) => t,
        Route::Skip(why) => {
            tracing::debug!(reason = why, "skipped");
            ctx.metrics.file("skipped");
            return Ok(None);
        }
    };
    let _permit = ctx.files.acquire().await.map_err(|e| FileError::Internal {
        key: file.key.clone(),
        message: format!("file limiter closed: {e}"),
    })?;
    let started = Instant::now();
    let (source, source_key) = source_of(ctx, file);
    let layout = &ctx.settings.layout;
    let mut convert = ctx.settings.convert.clone();
    convert.fallback_ms = fallback_ms;
    let indicators = ctx.indicators.as_ref().map(|i| i.current());
    if ctx.rules.is_some() || indicators.is_some() {
        convert.detect = Some(crate::convert::Detect {
            detector: ctx.rules.as_ref().map(|r| r.current()).unwrap_or_default(),
            indicators,
            source_bucket: source_bucket(ctx, file),
        });
    }
    let result = async {
        // Outputs derive from the key alone: the same key from another bucket is refused.
        let previous = previous_manifest(&ctx.dest, layout, &file.key).await?;
        let bucket = source_bucket(ctx, file);
        check_owner(previous.as_ref(), &file.key, bucket.as_deref())?;
        let mut copied = copy_and_convert(CopyJob {
            file,
            table,
            source,
            read_key: source_key,
            dest: &ctx.dest,
            raw_key: layout.raw_key(&file.key),
            part_size: ctx.settings.part_size,
            checksum: ctx.settings.checksum_mismatch,
            convert,
        })
        .await?;
        let c = &copied.converted;
        let (rows, lines, bytes_json, misfits, clamped) = (c.rows, c.lines, c.bytes_uncompressed, c.misfits, c.clamped);
        let omitted = c.quarantine.as_ref().map_or(0, |q| q.omitted);
        let duplicates = c.duplicates;
        let tally = std::mem::take(&mut copied.converted.tally);
        let findings = copied.converted.findings.as_ref().map_or((0, 0), |f| (f.written, f.omitted));
        let target = Target {
            dest: &ctx.dest,
            layout,
            source_key: &file.key,
            source_bucket: bucket.as_deref(),
            previous,
            part_size: ctx.settings.part_size,
            notice_time_ms: fallback_ms,
        };
        let manifest = publish(target, &copied.raw, copied.converted).await?;
        let quarantined = manifest.quarantine.as_ref().map_or(0, |q| q.rows);
        let m = &ctx.metrics;
        m.bytes("raw", copied.raw.size);
        m.bytes("json", bytes_json);
        m.bytes("parquet", manifest.parquet.iter().map(|p| p.size).sum());
        m.lines("converted", rows);
        m.lines("quarantined", quarantined);
        m.lines("quarantine_omitted", omitted);
        m.misfit_values.inc_by(misfits);
        m.duplicate_values.inc_by(duplicates);
        if duplicates > 0 {
            tracing::warn!(duplicates, "lines repeat keys: the earlier values are kept in fields_json under falconry:duplicates");
        }
        m.clamped_rows.inc_by(clamped);
        if let Some(i) = &ctx.indicators {
            record_live_matches(ctx, &tally.ioc_records, manifest.findings.as_ref().map(|f| f.key.as_str())).await;
            i.metrics.matched("live", tally.ioc_hits);
            if tally.ioc_hits > 0 {
                tracing::warn!(matches = tally.ioc_hits, key = ?manifest.findings.as_ref().map(|f| &f.key), "indicators of compromise matched");
            }
        }
        match &ctx.rules {
            Some(rules) => {
                record_detection(&ctx.detect_metrics, &rules.current(), &tally, findings.1);
                if findings.0 > 0 {
                    tracing::info!(findings = findings.0, omitted = findings.1, key = ?manifest.findings.as_ref().map(|f| &f.key), "rules matched");
                }
            }
            None => {
                for (t, n) in &tally.unseen {
                    ctx.detect_metrics.unseen(t, *n);
                }
            }
        }
        tracing::info!(
            source = notice.source.as_str(),
            table,
            bytes = copied.raw.size,
            md5 = %copied.raw.md5_hex(),
            lines,
            rows,
            quarantined,
            parquet_files = manifest.parquet.len(),
            "file copied and converted"
        );
        if quarantined > 0 {
            tracing::warn!(quarantined, omitted, key = ?manifest.quarantine.as_ref().map(|q| &q.key), "lines quarantined");
        }
        Ok::<_, FileError>(FileDone { rows, quarantined })
    }
    .await;
    ctx.metrics
        .conversion_seconds
        .observe(started.elapsed().as_secs_f64());
    match &result {
        Ok(_) => ctx.metrics.file("converted"),
        Err(e) => {
            ctx.metrics.file("failed");
            ctx.metrics.failure(e.kind());
            tracing::error!(kind = e.kind(), error = %e, "file failed; the notice will be retried");
        }
    }
    result.map(Some)
}

/// The bucket a file is read from (`None` for a local source).
fn source_bucket(ctx: &Context, file: &FileRef) -> Option<String> {
    match &ctx.settings.source {
        Some(Location::Local { .. }) => None,
        Some(Location::S3 { bucket, .. }) => Some(bucket.clone()),
        None => Some(file.bucket.clone()),
    }
}

/// The store and key a file is read from.
fn source_of(ctx: &Context, file: &FileRef) -> (Store, String) {
    match &ctx.settings.source {
        Some(Location::Local { .. }) => (ctx.source.clone(), file.key.clone()),
        Some(loc @ Location::S3 { .. }) => (ctx.source.clone(), loc.key(&file.key)),
        None => (ctx.source.with_bucket(&file.bucket), file.key.clone()),
    }
}

/// Adds one file's detection to the metrics: evaluations per rule (events of
/// each type times the rules that type meets), hits, time, unknown types.
/// Records the live indicator matches (their findings are durable now) so
/// a hunt through the lake later finds them known. A record that cannot be
/// written is logged, not retried: the finding is already out, and the
/// enricher's dedup records keep a second report of it to the same case.
async fn record_live_matches(
    ctx: &Context,
    records: &[(String, String, crate::hunt::record::Record)],
    findings: Option<&str>,
) {
    use falconry_common::lake::state::{HUNT_STATE, HuntState};
    let state = HuntState::new(&falconry_common::store::join(
        ctx.settings.dest.prefix(),
        HUNT_STATE,
    ));
    let now = chrono::Utc::now().timestamp_millis();
    for (indicator, event, r) in records {
        let key = crate::hunt::record::key(&state, indicator, event);
        let mut r = r.clone();
        r.at_ms = now;
        r.findings = findings.map(str::to_owned);
        if let Err(e) = crate::hunt::record::record_reported(&ctx.dest, &key, r).await {
            tracing::warn!(error = %e, key, "could not record an indicator match; a hunt may report it again");
        }
    }
}

fn record_detection(
    m: &falconry_detect::DetectMetrics,
    detector: &falconry_detect::Detector,
    tally: &crate::convert::Tally,
    omitted: u64,
) {
    use falconry_detect::metrics::RuleLabel;
    for (event_type, n) in &tally.evaluated {
        // Platform-specific rules are counted for every event of the type:
        // an upper bound, cheap to keep.
        for rule in detector.rules_for(event_type, None) {
            m.evaluations
                .get_or_create(&RuleLabel {
                    rule: rule.id.clone(),
                })
                .inc_by(*n);
        }
    }
    for (rule, n) in &tally.hits {
        m.hits
            .get_or_create(&RuleLabel { rule: rule.clone() })
            .inc_by(*n);
    }
    m.findings_omitted.inc_by(omitted);
    m.evaluation_seconds.observe(tally.seconds);
    for (t, n) in &tally.unseen {
        m.unseen(t, *n);
    }
}
