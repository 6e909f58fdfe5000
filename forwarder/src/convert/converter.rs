//! Converting one source file (gzip NDJSON, possibly multi-member, or plain
//! NDJSON) into Parquet part files plus a quarantine of the lines that could
//! not be converted. Streams with bounded memory: decompression, line
//! splitting, parsing and encoding run chunk by chunk, and the outputs are
//! local temporary files.
//!
//! Synchronous and CPU-bound: callers run it off the async runtime.

use super::findings::{Detect, Findings, FindingsWriter, Tally};
use super::lines::{Line, Lines};
use super::part_files::{PartFile, PartFiles};
use super::quarantine::{QUARANTINE_BUDGET, Quarantine, QuarantineWriter};
use super::record;
use super::run::{Run, SortKeys};
use super::table_builder::row_time;
use crate::layout::Hour;
use crate::schema;
use flate2::read::MultiGzDecoder;
use parquet::errors::ParquetError;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

/// Rows whose own time is further than this before the fallback (notice)
/// time go to the fallback hour instead (a sensor clock far off).
const MAX_PAST_MS: i64 = 31 * 24 * 3_600_000;
/// ... and this far after it.
const MAX_FUTURE_MS: i64 = 24 * 3_600_000;

/// The default zstd level of the Parquet files. Level 1 rather than zstd's
/// own 3: on FDR data it is about 10 % faster to convert and its files come
/// out 0.5-4 % smaller (Parquet compresses each page on its own, where
/// level 3's larger search pays less), measured by `scripts/bench.sh`.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;

/// How far a conversion goes. Anything short of [`Stage::Write`] is for the
/// benchmark's breakdown of where the time goes (`convert --stop-after`):
/// every line goes through the stages up to that one, and nothing is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Decompress and split into lines.
    Lines,
    /// ... and hold the lines in runs, sorted by the table's sort keys.
    Sort,
    /// ... and parse each line and find its partition hour.
    Parse,
    /// ... and build the Arrow columns (the batches are dropped) and run
    /// the rules, if any.
    Build,
    /// ... and encode and write the Parquet files: the whole conversion.
    #[default]
    Write,
}

impl Stage {
    pub const NAMES: [(&'static str, Stage); 5] = [
        ("lines", Stage::Lines),
        ("sort", Stage::Sort),
        ("parse", Stage::Parse),
        ("build", Stage::Build),
        ("write", Stage::Write),
    ];
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Stage, String> {
        Stage::NAMES
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, stage)| *stage)
            .ok_or_else(|| {
                let names: Vec<&str> = Stage::NAMES.iter().map(|(n, _)| *n).collect();
                format!("unknown stage {s:?} (one of: {})", names.join(", "))
            })
    }
}

#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Longer lines are quarantined.
    pub max_line_bytes: usize,
    /// Partition time for rows without a usable time of their own (epoch ms).
    pub fallback_ms: i64,
    pub zstd_level: i32,
    pub tmp_dir: PathBuf,
    /// Quarantine record bytes kept per file; the rest are counted.
    pub quarantine_budget: u64,
    /// The rules to run over every event, if any.
    pub detect: Option<Detect>,
    /// The last stage to run ([`Stage::Write`] but in the benchmark).
    pub stop_after: Stage,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            max_line_bytes: 16 * 1024 * 1024,
            fallback_ms: 0,
            zstd_level: DEFAULT_ZSTD_LEVEL,
            tmp_dir: std::env::temp_dir(),
            quarantine_budget: QUARANTINE_BUDGET,
            detect: None,
            stop_after: Stage::Write,
        }
    }
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
    /// Earlier values of duplicated keys, kept in `fields_json`.
    pub duplicates: u64,
    /// What the rules found (`None`: nothing, or no rules).
    pub findings: Option<Findings>,
    /// Whether rules ran (without them, earlier findings are not stale).
    pub detected: bool,
    /// What detection did.
    pub tally: Tally,
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
    let mut run = Run::new(RUN_BYTES);
    let temp_err = |source| ConvertError::Temp {
        dir: opts.tmp_dir.clone(),
        source,
    };
    let mut out = Output {
        parts: PartFiles::new(
            schema,
            &opts.tmp_dir,
            source_key,
            opts.zstd_level,
            opts.stop_after == Stage::Write,
        )?,
        quarantine: QuarantineWriter::new(source_key, &opts.tmp_dir, opts.quarantine_budget),
        findings: FindingsWriter::new(opts.detect.as_ref(), source_key, &opts.tmp_dir),
        rows: 0,
        clamped: 0,
        duplicates: 0,
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
        if opts.stop_after == Stage::Lines {
            continue;
        }
        match line {
            Line::Text { number, bytes } => run.push(number, bytes, &sort_keys),
            Line::TooLong {
                number,
                len,
                prefix,
            } => out
                .quarantine
                .add(
                    number,
                    &format!(
                        "line is {len} bytes, over the {} byte limit",
                        opts.max_line_bytes
                    ),
                    prefix,
                    len,
                )
                .map_err(temp_err)?,
        }
        if run.cost() >= RUN_BYTES {
            out.flush_run(&mut run, schema, opts)?;
        }
    }
    out.flush_run(&mut run, schema, opts)?;
    let Output {
        parts,
        quarantine,
        findings,
        rows,
        clamped,
        duplicates,
    } = out;
    let bytes_uncompressed = lines.bytes_read;
    let (mut parts, misfits) = parts.finish()?;
    if opts.stop_after != Stage::Write {
        // Nothing was encoded: the temporary files go.
        parts.clear();
    }
    let quarantine = quarantine.finish().map_err(temp_err)?;
    let (findings, tally) = findings.finish().map_err(temp_err)?;
    Ok(Converted {
        table: schema.table,
        parts,
        quarantine,
        lines: n_lines,
        rows,
        bytes_uncompressed,
        misfits,
        clamped,
        duplicates,
        findings,
        detected: opts.detect.is_some(),
        tally,
    })
}

/// What a run may hold at once (line bytes plus a per-line charge, see
/// `Run::cost`); one row group per partition per run. 32 MiB rather than 48:
/// 50 MB less peak memory with two files in flight, for 2-3 % larger
/// Parquet (smaller row groups) and about 3 % more time.
const RUN_BYTES: usize = 32 * 1024 * 1024;

/// What a conversion has produced so far.
struct Output<'d> {
    parts: PartFiles<'d>,
    quarantine: QuarantineWriter<'d>,
    findings: FindingsWriter<'d>,
    rows: u64,
    clamped: u64,
    duplicates: u64,
}

impl Output<'_> {
    /// Converts the run's lines in sorted order and ends the row groups;
    /// lines that do not parse go to the quarantine as they are met.
    fn flush_run(
        &mut self,
        run: &mut Run,
        schema: &'static crate::schema::Table,
        opts: &ConvertOptions,
    ) -> Result<(), ConvertError> {
        let fallback = Hour::from_ms(opts.fallback_ms);
        run.drain_sorted(|number, bytes| {
            if opts.stop_after == Stage::Sort {
                return Ok(());
            }
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
                    if opts.stop_after == Stage::Parse {
                        std::hint::black_box(hour);
                        return Ok(());
                    }
                    self.parts.append(hour, &rec, bytes.len())?;
                    self.findings.event(&rec, number, bytes).map_err(|source| {
                        ConvertError::Temp {
                            dir: opts.tmp_dir.clone(),
                            source,
                        }
                    })?;
                    self.rows += 1;
                    self.duplicates += rec.displaced.len() as u64;
                }
                Err(reason) => self
                    .quarantine
                    .add(
                        number,
                        &format!("not a JSON object: {reason}"),
                        bytes,
                        bytes.len() as u64,
                    )
                    .map_err(|source| ConvertError::Temp {
                        dir: opts.tmp_dir.clone(),
                        source,
                    })?,
            }
            Ok::<_, ConvertError>(())
        })?;
        self.parts.end_run()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

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
        assert_eq!((q.lines, q.omitted), (2, 0));
        let mut text = String::new();
        MultiGzDecoder::new(std::fs::File::open(q.file.path()).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let mut recs: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        recs.sort_by_key(|r| r["line"].as_u64());
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
    fn a_repeated_key_cannot_hide_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let line = br#"{"event_simpleName":"ProcessRollup2","timestamp":"1625677521162","CommandLine":"evil","CommandLine":"benign","N":1,"N":2}"#;
        let c = convert(&line[..], "k", "events", &opts(dir.path())).unwrap();
        assert_eq!((c.rows, c.duplicates), (1, 2));
        let file = std::fs::File::open(c.parts[0].file.path()).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let batch = reader.into_iter().next().unwrap().unwrap();
        let table = crate::schema::table("events");
        let back = super::super::roundtrip::row_members(table, &batch, 0).unwrap();
        assert_eq!(back, super::super::roundtrip::line_members(line).unwrap());
        let dup = &back[super::super::record::DUPLICATES];
        assert_eq!(
            dup,
            &super::super::roundtrip::Member::Json(r#"[["CommandLine","evil"],["N",1]]"#.into())
        );
    }

    #[test]
    fn the_catch_all_columns_carry_no_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let line = br#"{"event_simpleName":"ProcessRollup2","timestamp":"1625677521162","Other":"x","N":1}"#;
        let c = convert(&line[..], "k", "events", &opts(dir.path())).unwrap();
        let file = std::fs::File::open(c.parts[0].file.path()).unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let stats: std::collections::BTreeMap<String, bool> = reader
            .metadata()
            .row_group(0)
            .columns()
            .iter()
            .map(|c| (c.column_path().string(), c.statistics().is_some()))
            .collect();
        let with: Vec<&str> = stats
            .iter()
            .filter(|(_, has)| **has)
            .map(|(c, _)| c.as_str())
            .collect();
        for catch_all in ["fields.entries.key", "fields.entries.value", "fields_json"] {
            assert!(stats.contains_key(catch_all), "{stats:?}");
            assert!(!with.contains(&catch_all), "{with:?}");
        }
        assert!(with.contains(&"timestamp"), "{with:?}");
    }

    #[test]
    fn a_column_of_distinct_values_gives_up_its_dictionary_early() {
        use parquet::basic::Encoding;
        let dir = tempfile::tempdir().unwrap();
        // 2,000 distinct command lines of ~100 bytes: 200 KB of distinct
        // values, past the 64 KiB limit but under parquet's default 1 MiB.
        let mut text = String::new();
        for i in 0..2000 {
            let name = ["ProcessRollup2", "DnsRequest", "NetworkConnectIP4"][i % 3];
            text.push_str(&format!(
                r#"{{"event_simpleName":"{name}","timestamp":"1625677521162","CommandLine":"C:\\Windows\\system32\\cmd.exe /c run-task --id {i:08} {pad}"}}"#,
                pad = "x".repeat(60)
            ));
            text.push('\n');
        }
        let long_lines = ConvertOptions {
            max_line_bytes: 4096,
            ..opts(dir.path())
        };
        let c = convert(text.as_bytes(), "k", "events", &long_lines).unwrap();
        assert_eq!(c.rows, 2000);
        let file = std::fs::File::open(c.parts[0].file.path()).unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let group = reader.metadata().row_group(0);
        let data_pages = |column: &str| {
            let chunk = group
                .columns()
                .iter()
                .find(|c| c.column_path().string() == column)
                .unwrap();
            *chunk.page_encoding_stats_mask().unwrap()
        };
        assert!(data_pages("event_simplename").is_only(Encoding::RLE_DICTIONARY));
        assert!(data_pages("command_line").is_set(Encoding::PLAIN));
    }

    #[test]
    fn the_benchmark_stages_read_every_line_and_only_write_writes() {
        let dir = tempfile::tempdir().unwrap();
        let data = gz(&[
            b"{\"timestamp\":\"1625677521162\",\"aid\":\"a\"}\n{\"broken\":\n{\"aid\":\"b\"}\n",
        ]);
        for (name, stage) in Stage::NAMES {
            assert_eq!(name.parse::<Stage>(), Ok(stage));
            let o = ConvertOptions {
                stop_after: stage,
                ..opts(dir.path())
            };
            let c = convert(&data[..], "k", "events", &o).unwrap();
            assert_eq!(c.lines, 3, "{name}");
            let rows = if stage >= Stage::Build { 2 } else { 0 };
            assert_eq!(c.rows, rows, "{name}");
            assert_eq!(c.parts.is_empty(), stage != Stage::Write, "{name}");
        }
        // The stages that write nothing leave no temporary file behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!("gzip".parse::<Stage>().unwrap_err().contains("lines, sort"));
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
