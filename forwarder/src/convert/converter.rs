//! Converting one source file (gzip NDJSON, possibly multi-member, or plain
//! NDJSON) into Parquet part files plus a quarantine of the lines that could
//! not be converted. Streams with bounded memory: decompression, line
//! splitting, parsing and encoding run chunk by chunk, and the outputs are
//! local temporary files.
//!
//! Synchronous and CPU-bound: callers run it off the async runtime.

use super::lines::{Line, Lines};
use super::part_files::{PartFile, PartFiles};
use super::record;
use super::run::{Run, SortKeys};
use super::table_builder::row_time;
use crate::layout::Hour;
use crate::schema;
use flate2::read::MultiGzDecoder;
use parquet::errors::ParquetError;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;

/// Rows whose own time is further than this before the fallback (notice)
/// time go to the fallback hour instead (a sensor clock far off).
const MAX_PAST_MS: i64 = 31 * 24 * 3_600_000;
/// ... and this far after it.
const MAX_FUTURE_MS: i64 = 24 * 3_600_000;

#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Longer lines are quarantined.
    pub max_line_bytes: usize,
    /// Partition time for rows without a usable time of their own (epoch ms).
    pub fallback_ms: i64,
    pub zstd_level: i32,
    pub tmp_dir: PathBuf,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            max_line_bytes: 16 * 1024 * 1024,
            fallback_ms: 0,
            zstd_level: 3,
            tmp_dir: std::env::temp_dir(),
        }
    }
}

/// Lines that could not be converted, as an NDJSON temporary file.
#[derive(Debug)]
pub struct Quarantine {
    pub lines: u64,
    pub file: tempfile::NamedTempFile,
}

#[derive(Debug)]
pub struct Converted {
    pub table: &'static str,
    pub parts: Vec<PartFile>,
    pub quarantine: Option<Quarantine>,
    /// Non-blank lines read.
    pub lines: u64,
    /// Rows written (lines converted).
    pub rows: u64,
    pub bytes_uncompressed: u64,
    /// Values that did not fit their typed column (kept in the catch-all).
    pub misfits: u64,
    /// Rows partitioned by the fallback time because their own was implausible.
    pub clamped: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("reading the input failed after {bytes} uncompressed bytes (line {line}): {source}")]
    Input {
        bytes: u64,
        line: u64,
        #[source]
        source: io::Error,
    },
    #[error("writing Parquet failed: {0}")]
    Parquet(#[from] ParquetError),
    #[error("temporary file in {dir}: {source}")]
    Temp {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Converts `input` (the bytes of `source_key`) into rows of `table`.
pub fn convert(
    input: impl Read,
    source_key: &str,
    table: &str,
    opts: &ConvertOptions,
) -> Result<Converted, ConvertError> {
    let schema = schema::table(table);
    let mut raw = BufReader::with_capacity(256 * 1024, input);
    let gz = raw
        .fill_buf()
        .map_err(|source| ConvertError::Input {
            bytes: 0,
            line: 0,
            source,
        })?
        .starts_with(&[0x1f, 0x8b]);
    let text: Box<dyn BufRead> = if gz {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    let mut lines = Lines::new(text, opts.max_line_bytes);
    let sources: Vec<&str> = schema
        .sort_by
        .iter()
        .filter_map(|name| {
            schema
                .columns
                .iter()
                .find(|c| c.name == *name)
                .map(|c| c.source)
        })
        .collect();
    let sort_keys = SortKeys::new(&sources);
    let mut run = Run::new();
    let mut out = Output {
        parts: PartFiles::new(schema, &opts.tmp_dir, source_key, opts.zstd_level)?,
        quarantine: None,
        bad: Vec::new(),
        bad_bytes: 0,
        rows: 0,
        clamped: 0,
    };
    let mut n_lines = 0u64;
    loop {
        let line = match lines.next_line() {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(source) => {
                return Err(ConvertError::Input {
                    bytes: lines.bytes_read,
                    line: n_lines + 1,
                    source,
                });
            }
        };
        n_lines += 1;
        match line {
            Line::Text { number, bytes } => run.push(number, bytes, &sort_keys),
            Line::TooLong {
                number,
                len,
                prefix,
            } => out.bad(
                number,
                entry(
                    source_key,
                    number,
                    &format!(
                        "line is {len} bytes, over the {} byte limit",
                        opts.max_line_bytes
                    ),
                    prefix,
                    len,
                ),
            ),
        }
        if run.bytes() + out.bad_bytes >= RUN_BYTES {
            out.flush_run(&mut run, schema, source_key, opts)?;
        }
    }
    out.flush_run(&mut run, schema, source_key, opts)?;
    let Output {
        parts,
        quarantine,
        rows,
        clamped,
        ..
    } = out;
    let bytes_uncompressed = lines.bytes_read;
    let (parts, misfits) = parts.finish()?;
    let quarantine = match quarantine {
        Some((mut w, file, count)) => {
            w.flush().map_err(|source| ConvertError::Temp {
                dir: opts.tmp_dir.clone(),
                source,
            })?;
            Some(Quarantine { lines: count, file })
        }
        None => None,
    };
    Ok(Converted {
        table: schema.table,
        parts,
        quarantine,
        lines: n_lines,
        rows,
        bytes_uncompressed,
        misfits,
        clamped,
    })
}

/// Raw line bytes held for sorting at once (one run; one row group per partition).
const RUN_BYTES: usize = 48 * 1024 * 1024;

/// What a conversion has produced so far.
struct Output<'d> {
    parts: PartFiles<'d>,
    quarantine: Option<(io::BufWriter<std::fs::File>, tempfile::NamedTempFile, u64)>,
    /// Quarantine records of the current run, written in line order at its end.
    bad: Vec<(u64, String)>,
    bad_bytes: usize,
    rows: u64,
    clamped: u64,
}

impl Output<'_> {
    fn bad(&mut self, line: u64, record: String) {
        self.bad_bytes += record.len();
        self.bad.push((line, record));
    }

    /// Converts the run's lines in sorted order, ends the row groups, and
    /// writes the run's quarantine records.
    fn flush_run(
        &mut self,
        run: &mut Run,
        schema: &'static crate::schema::Table,
        source_key: &str,
        opts: &ConvertOptions,
    ) -> Result<(), ConvertError> {
        let fallback = Hour::from_ms(opts.fallback_ms);
        let mut bad = std::mem::take(&mut self.bad);
        run.drain_sorted(|number, bytes| {
            match record::parse(bytes) {
                Ok(rec) => {
                    let hour = match row_time(schema, &rec) {
                        Some(t)
                            if t >= opts.fallback_ms - MAX_PAST_MS
                                && t <= opts.fallback_ms + MAX_FUTURE_MS =>
                        {
                            Hour::from_ms(t)
                        }
                        Some(_) => {
                            self.clamped += 1;
                            fallback
                        }
                        None => fallback,
                    };
                    self.parts.append(hour, &rec, bytes.len())?;
                    self.rows += 1;
                }
                Err(reason) => bad.push((
                    number,
                    entry(
                        source_key,
                        number,
                        &format!("not a JSON object: {reason}"),
                        bytes,
                        bytes.len() as u64,
                    ),
                )),
            }
            Ok::<_, ConvertError>(())
        })?;
        self.parts.end_run()?;
        self.bad_bytes = 0;
        if bad.is_empty() {
            return Ok(());
        }
        bad.sort_by_key(|(line, _)| *line);
        let temp_err = |source| ConvertError::Temp {
            dir: opts.tmp_dir.clone(),
            source,
        };
        if self.quarantine.is_none() {
            let file = tempfile::Builder::new()
                .prefix("falconry-quarantine-")
                .tempfile_in(&opts.tmp_dir)
                .map_err(temp_err)?;
            let w = io::BufWriter::new(file.reopen().map_err(temp_err)?);
            self.quarantine = Some((w, file, 0));
        }
        if let Some((w, _, count)) = self.quarantine.as_mut() {
            for (_, json) in bad {
                w.write_all(json.as_bytes())
                    .and_then(|_| w.write_all(b"\n"))
                    .map_err(temp_err)?;
                *count += 1;
            }
        }
        Ok(())
    }
}

/// Text kept of a quarantined line (the raw copy keeps all of it).
const QUARANTINE_TEXT: usize = 64 * 1024;

fn entry(source_key: &str, line: u64, reason: &str, bytes: &[u8], len: u64) -> String {
    let keep = &bytes[..bytes.len().min(QUARANTINE_TEXT)];
    serde_json::json!({
        "source_key": source_key,
        "line": line,
        "reason": reason,
        "length": len,
        "truncated": (keep.len() as u64) < len,
        "text": String::from_utf8_lossy(keep),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;

    fn gz(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(p).unwrap();
            out.extend(e.finish().unwrap());
        }
        out
    }

    fn opts(dir: &std::path::Path) -> ConvertOptions {
        ConvertOptions {
            fallback_ms: 1_625_677_000_000,
            tmp_dir: dir.to_owned(),
            max_line_bytes: 200,
            ..Default::default()
        }
    }

    #[test]
    fn multi_member_gzip_bad_lines_and_hours() {
        let dir = tempfile::tempdir().unwrap();
        let a = b"{\"timestamp\":\"1625677521162\",\"aid\":\"a\"}\n{\"broken\":\n";
        let long = format!("{{\"x\":\"{}\"}}\n", "y".repeat(300));
        let b = format!(
            "{long}{{\"timestamp\":\"1625681121162\",\"aid\":\"b\"}}\n{{\"timestamp\":\"9\",\"aid\":\"c\"}}"
        );
        let data = gz(&[a, b.as_bytes()]);
        let c = convert(
            &data[..],
            "data/x/part-00000.gz",
            "events",
            &opts(dir.path()),
        )
        .unwrap();
        assert_eq!((c.lines, c.rows, c.clamped), (5, 3, 1));
        let q = c.quarantine.unwrap();
        assert_eq!(q.lines, 2);
        let text = std::fs::read_to_string(q.file.path()).unwrap();
        let recs: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(recs[0]["line"], 2);
        assert_eq!(recs[0]["source_key"], "data/x/part-00000.gz");
        assert_eq!(recs[1]["line"], 3);
        assert!(
            recs[1]["reason"]
                .as_str()
                .unwrap()
                .contains("over the 200 byte limit")
        );
        // The clamped row goes to the fallback hour (16:56 UTC); the others to their own.
        let hours: Vec<(String, u32, u64)> = c
            .parts
            .iter()
            .map(|p| (p.hour.date(), p.hour.hour(), p.rows))
            .collect();
        assert_eq!(
            hours,
            vec![
                ("2021-07-07".into(), 16, 1),
                ("2021-07-07".into(), 17, 1),
                ("2021-07-07".into(), 18, 1)
            ]
        );
    }

    #[test]
    fn truncated_gzip_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let data = gz(&[&b"{\"a\":\"1\"}\n".repeat(1000)]);
        let cut = &data[..data.len() - 20];
        let err = convert(cut, "k", "events", &opts(dir.path())).unwrap_err();
        assert!(matches!(err, ConvertError::Input { .. }), "{err}");
    }

    #[test]
    fn plain_ndjson_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let c = convert(
            &b"{\"a\":\"1\"}\n{\"a\":\"2\"}\n"[..],
            "k",
            "events",
            &opts(dir.path()),
        )
        .unwrap();
        assert_eq!(c.rows, 2);
    }
}
