//! Reading back what the forwarder wrote to a local destination: row counts
//! per table from the Parquet footers, findings per rule (for `falconry demo`
//! and for checks).

use parquet::file::reader::{FileReader, SerializedFileReader};
use std::collections::BTreeMap;
use std::path::Path;

/// Rows and files per table under `<parquet_root>/<table>/**.parquet`.
pub fn table_counts(parquet_root: &Path) -> std::io::Result<BTreeMap<String, (u64, u64)>> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(parquet_root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for table in entries {
        let table = table?;
        if !table.file_type()?.is_dir() {
            continue;
        }
        let mut rows = 0;
        let mut files = 0;
        let mut stack = vec![table.path()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir)? {
                let e = e?;
                let p = e.path();
                if e.file_type()?.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    let reader = SerializedFileReader::new(std::fs::File::open(&p)?)
                        .map_err(|err| std::io::Error::other(format!("{}: {err}", p.display())))?;
                    rows += reader.metadata().file_metadata().num_rows() as u64;
                    files += 1;
                }
            }
        }
        out.insert(
            table.file_name().to_string_lossy().into_owned(),
            (rows, files),
        );
    }
    Ok(out)
}

/// Findings per `(level, rule title)` under a local findings prefix.
pub fn findings_per_rule(findings_root: &Path) -> std::io::Result<BTreeMap<(String, String), u64>> {
    use falconry_common::lake::findings::FindingLine;
    use std::io::BufRead;
    let mut out = BTreeMap::new();
    let mut stack = vec![findings_root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for e in entries {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                stack.push(p);
                continue;
            }
            if !falconry_common::lake::findings::is_findings_key(&p.to_string_lossy()) {
                continue;
            }
            let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
                std::fs::File::open(&p)?,
            ));
            for line in reader.lines() {
                if let Ok(FindingLine::Finding(f)) = serde_json::from_str::<FindingLine>(&line?) {
                    *out.entry((f.rule.level.clone(), f.rule.title.clone()))
                        .or_default() += 1;
                }
            }
        }
    }
    Ok(out)
}
