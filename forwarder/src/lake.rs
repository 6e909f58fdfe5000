//! Reading back what the forwarder wrote to a local destination: row counts
//! per table from the Parquet footers (for `falconry demo` and for checks).

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
