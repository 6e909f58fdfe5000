//! The real-shaped FDR samples in `../shared/samples/fdr/` (not part of the
//! project: their licence does not allow it) through the converter: every line
//! that is a JSON object comes back exactly from the Parquet, typed as the
//! schema says. `scripts/test.sh` sets FALCONRY_SAMPLES (`none` when they are absent).

use falconry_forwarder::convert::roundtrip::{line_members, row_members};
use falconry_forwarder::convert::{ConvertOptions, convert};
use falconry_forwarder::schema;

#[test]
fn real_shaped_samples_round_trip_losslessly() {
    let Some(dir) = falconry_testkit::samples::dir("fdr") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut files = 0;
    let mut lines_checked = 0;
    for entry in std::fs::read_dir(&dir).expect("samples dir") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let table = ["aidmaster", "userinfo", "notmanaged"]
            .into_iter()
            .find(|k| name.contains(k))
            .unwrap_or("events");
        let text = std::fs::read(&path).unwrap();
        let opts = ConvertOptions {
            fallback_ms: 1_700_000_000_000,
            tmp_dir: tmp.path().to_owned(),
            ..Default::default()
        };
        let c = convert(&text[..], &name, table, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut expected: Vec<_> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .filter_map(|l| line_members(l).ok())
            .collect();
        expected.sort();
        let t = schema::table(table);
        let mut got = Vec::new();
        for part in &c.parts {
            let bytes = bytes::Bytes::from(std::fs::read(part.file.path()).unwrap());
            for batch in crate::support::parquet_batches(bytes) {
                for i in 0..batch.num_rows() {
                    got.push(row_members(t, &batch, i).unwrap());
                }
            }
        }
        got.sort();
        assert_eq!(got.len(), expected.len(), "{name}: rows");
        assert!(
            got == expected,
            "{name}: the Parquet rows do not give back the lines"
        );
        files += 1;
        lines_checked += got.len();
    }
    assert!(
        files >= 10,
        "expected the sample files in {}",
        dir.display()
    );
    eprintln!("{files} sample files, {lines_checked} lines round-tripped");
}
