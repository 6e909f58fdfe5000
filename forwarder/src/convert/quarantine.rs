//! The quarantine of one source file: a record per line that could not be
//! converted (its source key, line number, reason, length and a bounded
//! prefix of its text), written gzip-compressed to a temporary file as the
//! lines are found, never gathered in memory.
//!
//! What is kept per file has a byte budget (`QUARANTINE_BUDGET` by default):
//! past it the rest are only counted, and a last record says the quarantine
//! was capped, how many lines it left out and which. The raw copy always
//! keeps every line, so nothing is lost; the budget only stops a small
//! compressed file of invalid lines from becoming gigabytes of records.

use flate2::write::GzEncoder;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Record bytes (uncompressed) kept per source file by default.
pub const QUARANTINE_BUDGET: u64 = 16 * 1024 * 1024;
/// Text kept of a quarantined line (the raw copy keeps all of it).
const TEXT: usize = 64 * 1024;

/// A finished quarantine: gzip NDJSON on a temporary file.
#[derive(Debug)]
pub struct Quarantine {
    /// Lines that could not be converted, kept or not.
    pub lines: u64,
    /// Of those, lines past the budget: counted, not recorded.
    pub omitted: u64,
    pub file: tempfile::NamedTempFile,
}

pub struct QuarantineWriter<'a> {
    source_key: &'a str,
    dir: &'a Path,
    budget: u64,
    out: Option<(GzEncoder<BufWriter<std::fs::File>>, tempfile::NamedTempFile)>,
    lines: u64,
    kept_bytes: u64,
    /// Lines past the budget: count, first and last line numbers.
    omitted: u64,
    omitted_range: Option<(u64, u64)>,
}

impl<'a> QuarantineWriter<'a> {
    pub fn new(source_key: &'a str, dir: &'a Path, budget: u64) -> Self {
        QuarantineWriter {
            source_key,
            dir,
            budget,
            out: None,
            lines: 0,
            kept_bytes: 0,
            omitted: 0,
            omitted_range: None,
        }
    }

    /// Records line `line` (`len` bytes long, `text` a prefix or all of it).
    pub fn add(&mut self, line: u64, reason: &str, text: &[u8], len: u64) -> io::Result<()> {
        self.lines += 1;
        if self.kept_bytes >= self.budget {
            self.omitted += 1;
            self.omitted_range = Some(match self.omitted_range {
                Some((first, last)) => (first.min(line), last.max(line)),
                None => (line, line),
            });
            return Ok(());
        }
        let keep = &text[..text.len().min(TEXT)];
        let record = serde_json::json!({
            "source_key": self.source_key,
            "line": line,
            "reason": reason,
            "length": len,
            "truncated": (keep.len() as u64) < len,
            "text": String::from_utf8_lossy(keep),
        });
        self.write(&record)
    }

    fn write(&mut self, record: &serde_json::Value) -> io::Result<()> {
        if self.out.is_none() {
            let file = tempfile::Builder::new()
                .prefix("falconry-quarantine-")
                .tempfile_in(self.dir)?;
            let w = BufWriter::new(file.reopen()?);
            self.out = Some((GzEncoder::new(w, flate2::Compression::fast()), file));
        }
        let Some((w, _)) = self.out.as_mut() else {
            return Ok(());
        };
        let text = record.to_string();
        w.write_all(text.as_bytes())?;
        w.write_all(b"\n")?;
        self.kept_bytes += text.len() as u64 + 1;
        Ok(())
    }

    /// Ends the quarantine (with the capped record if lines were left out);
    /// `None` when every line converted.
    pub fn finish(mut self) -> io::Result<Option<Quarantine>> {
        if let Some((first, last)) = self.omitted_range {
            let record = serde_json::json!({
                "source_key": self.source_key,
                "capped": true,
                "reason": format!(
                    "the quarantine keeps {} bytes of records per file; {} more line(s) could \
                     not be converted and are not recorded here (the raw copy keeps every line)",
                    self.budget, self.omitted
                ),
                "omitted_lines": self.omitted,
                "first_omitted_line": first,
                "last_omitted_line": last,
            });
            self.write(&record)?;
        }
        let Some((w, file)) = self.out.take() else {
            return Ok(None);
        };
        let mut inner = w.finish()?;
        inner.flush()?;
        inner.get_ref().sync_all()?;
        Ok(Some(Quarantine {
            lines: self.lines,
            omitted: self.omitted,
            file,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read(q: &Quarantine) -> Vec<serde_json::Value> {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(q.file.path()).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn keeps_records_up_to_the_budget_then_counts_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = QuarantineWriter::new("k.gz", dir.path(), 1000);
        for line in 1..=1000 {
            w.add(line, "not a JSON object", b"x", 1).unwrap();
        }
        let q = w.finish().unwrap().unwrap();
        let recs = read(&q);
        assert_eq!(q.lines, 1000);
        let kept = recs.len() as u64 - 1;
        assert!(kept > 5 && kept < 20, "{kept}");
        assert_eq!(q.omitted, 1000 - kept);
        let last = recs.last().unwrap();
        assert_eq!(last["capped"], true);
        assert_eq!(last["omitted_lines"], 1000 - kept);
        assert_eq!(last["first_omitted_line"], kept + 1);
        assert_eq!(last["last_omitted_line"], 1000);
        assert_eq!(recs[0]["line"], 1);
    }

    #[test]
    fn nothing_to_quarantine_is_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let w = QuarantineWriter::new("k.gz", dir.path(), 1000);
        assert!(w.finish().unwrap().is_none());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn long_text_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = QuarantineWriter::new("k.gz", dir.path(), QUARANTINE_BUDGET);
        w.add(7, "too long", &vec![b'y'; TEXT * 2], (TEXT * 3) as u64)
            .unwrap();
        let recs = read(&w.finish().unwrap().unwrap());
        assert_eq!(recs[0]["truncated"], true);
        assert_eq!(recs[0]["length"], TEXT * 3);
        assert_eq!(recs[0]["text"].as_str().unwrap().len(), TEXT);
    }
}
