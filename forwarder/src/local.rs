//! Converting local files without a queue or a bucket: `falconry convert`,
//! used for one-off conversions and by the benchmark. The same converter as
//! the daemon; files are spread over a fixed number of worker threads.

use crate::convert::{ConvertError, ConvertOptions, convert};
use crate::layout::{Layout, Route, route};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Totals of a local conversion.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Totals {
    pub files: u64,
    pub events: u64,
    pub quarantined: u64,
    /// Earlier values of repeated keys (kept under `falconry:duplicates`).
    pub duplicates: u64,
    pub bytes_in: u64,
    pub bytes_uncompressed: u64,
    pub parquet_bytes: u64,
    pub parquet_files: u64,
    /// Findings written (with rules).
    pub findings: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Convert {
        path: PathBuf,
        #[source]
        source: ConvertError,
    },
}

/// Converts `files` into `<out>/<table>/dt=.../hour=.../<stem>.parquet` using
/// `threads` workers. The table is chosen from each file's path as the
/// forwarder would from its key (`fdrv2/<kind>/...` → lookup tables, else events).
pub fn convert_files(
    files: &[PathBuf],
    out: &Path,
    threads: usize,
    opts: &ConvertOptions,
) -> Result<Totals, LocalError> {
    let io = |path: &Path, source| LocalError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let layout = Layout {
        parquet: String::new(),
        ..Layout::default()
    };
    let next = AtomicUsize::new(0);
    let totals = Mutex::new(Totals::default());
    let first_error: Mutex<Option<LocalError>> = Mutex::new(None);
    let mut opts = opts.clone();
    opts.tmp_dir = out.to_owned();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { return };
                    if let Err(e) = convert_one(path, out, &layout, &opts, &totals) {
                        first_error
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(e);
    }
    Ok(totals
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner))
}

fn convert_one(
    path: &Path,
    out: &Path,
    layout: &Layout,
    opts: &ConvertOptions,
    totals: &Mutex<Totals>,
) -> Result<(), LocalError> {
    let io = |p: &Path, source| LocalError::Io {
        path: p.to_owned(),
        source,
    };
    let key = path.to_string_lossy().replace('\\', "/");
    let key = key.trim_start_matches('/');
    let table = match route(key, None) {
        Route::Table(t) => t,
        Route::Skip(_) => return Ok(()),
    };
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let bytes_in = file.metadata().map(|m| m.len()).unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut opts = opts.clone();
    if opts.fallback_ms == 0 {
        opts.fallback_ms = chrono::Utc::now().timestamp_millis();
    }
    let c = convert(file, &name, table, &opts).map_err(|source| LocalError::Convert {
        path: path.to_owned(),
        source,
    })?;
    let mut parquet_bytes = 0;
    let parquet_files = c.parts.len() as u64;
    for part in c.parts {
        let rel = layout.parquet_key(c.table, part.hour, &name, part.seq);
        let dest = out.join(rel.trim_start_matches('/'));
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        parquet_bytes += part.file.as_file().metadata().map(|m| m.len()).unwrap_or(0);
        part.file.persist(&dest).map_err(|e| io(&dest, e.error))?;
    }
    let findings = c.findings.as_ref().map_or(0, |f| f.written);
    if let Some(f) = c.findings {
        let dest = out.join("findings").join(format!(
            "{}{}",
            falconry_common::lake::file_stem(&name),
            falconry_common::lake::findings::FINDINGS_SUFFIX
        ));
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        f.file.persist(&dest).map_err(|e| io(&dest, e.error))?;
    }
    if let Some(q) = c.quarantine {
        let dest = out.join(layout.quarantine_key(&name));
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        q.file.persist(&dest).map_err(|e| io(&dest, e.error))?;
    }
    let mut t = totals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    t.files += 1;
    t.events += c.rows;
    t.quarantined += c.lines - c.rows;
    t.duplicates += c.duplicates;
    t.bytes_in += bytes_in;
    t.bytes_uncompressed += c.bytes_uncompressed;
    t.parquet_bytes += parquet_bytes;
    t.parquet_files += parquet_files;
    t.findings += findings;
    Ok(())
}
