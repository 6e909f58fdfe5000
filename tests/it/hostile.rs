//! The hostile-input corpus (`falconry fixtures hostile`) through the real
//! binary, measured from outside: the child's peak RSS (getrusage of the
//! waited-for child, by `bench/measure.py`) and the bytes it leaves on disk.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Peak RSS any input may cost (the bound).
const MAX_RSS_MB: f64 = 300.0;

struct Measured {
    exit_code: i64,
    max_rss_mb: f64,
    stdout: String,
}

/// Runs `falconry <args>` under `bench/measure.py`.
fn measure(args: &[&str], files: &[PathBuf]) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let stdout_file = dir.path().join("stdout");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/measure.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg("--stdout")
        .arg(&stdout_file)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_falconry"))
        .args(args)
        .args(files)
        .output()
        .expect("python3 runs bench/measure.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("falconry {}: {v}", args[0]);
    Measured {
        exit_code: v["exit_code"].as_i64().unwrap(),
        max_rss_mb: v["max_rss_mb"].as_f64().unwrap(),
        stdout: std::fs::read_to_string(&stdout_file).unwrap_or_default(),
    }
}

fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            disk_bytes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

fn corpus(dir: &Path, bomb_lines: u64) -> Vec<PathBuf> {
    let opts = falconry_fixtures::HostileOptions {
        bomb_lines,
        keys: 300_000,
        notice_files: 10,
    };
    falconry_fixtures::write_hostile(dir, opts).unwrap()
}

/// 32 Mi lines of `x` in a ~64 KB gzip: before the fix, per-line bookkeeping
/// and records built all at once took gigabytes; now a bounded run, a
/// gzip quarantine written as it goes, capped and saying so.
#[test]
fn an_invalid_line_gzip_bomb_costs_bounded_memory_and_disk() {
    let dir = tempfile::tempdir().unwrap();
    let lines = 32 * 1024 * 1024;
    corpus(dir.path(), lines);
    let bomb = dir.path().join("bombs/invalid-lines.gz");
    let input = std::fs::metadata(&bomb).unwrap().len();
    let out = dir.path().join("out");
    let m = measure(&["convert", "--out", out.to_str().unwrap()], &[bomb]);
    assert_eq!(m.exit_code, 0, "{}", m.stdout);
    assert!(
        m.max_rss_mb <= MAX_RSS_MB,
        "peak RSS {} MB for a {input} byte bomb",
        m.max_rss_mb
    );
    let summary: serde_json::Value = serde_json::from_str(m.stdout.trim()).unwrap();
    assert_eq!(summary["quarantined"], lines);
    // The quarantine is compressed and capped: a few MB at most, never the 932 MB of old.
    let written = disk_bytes(&out);
    eprintln!("input {input} bytes, written {written} bytes");
    assert!(written < 8 * 1024 * 1024, "{written} bytes written");
    let q = walk(&out)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".quarantine.ndjson.gz"))
        .expect("a quarantine object");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(q).unwrap()),
        &mut text,
    )
    .unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["capped"], true);
    let kept = text.lines().count() as u64 - 1;
    assert_eq!(last["omitted_lines"], lines - kept);
}

/// The same with `{}` lines, which are valid rows: memory stays bounded
/// while every row is written.
#[test]
fn an_empty_object_gzip_bomb_costs_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let lines = 4 * 1024 * 1024;
    corpus(dir.path(), lines);
    let bomb = dir.path().join("bombs/empty-objects.gz");
    let out = dir.path().join("out");
    let m = measure(&["convert", "--out", out.to_str().unwrap()], &[bomb]);
    assert_eq!(m.exit_code, 0, "{}", m.stdout);
    assert!(m.max_rss_mb <= MAX_RSS_MB, "peak RSS {} MB", m.max_rss_mb);
    let summary: serde_json::Value = serde_json::from_str(m.stdout.trim()).unwrap();
    assert_eq!(summary["events"], lines);
}

/// A line of 300k keys (quadratic before: minutes of one core) and a line
/// whose repeated `CommandLine` hid the first value (kept now, and counted).
#[test]
fn many_and_repeated_keys_are_converted_whole() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path(), 10);
    let out = dir.path().join("out");
    let files = [
        dir.path().join("keys/many-keys.gz"),
        dir.path().join("keys/duplicate-keys.gz"),
    ];
    let m = measure(&["convert", "--out", out.to_str().unwrap()], &files);
    assert_eq!(m.exit_code, 0, "{}", m.stdout);
    assert!(m.max_rss_mb <= MAX_RSS_MB, "peak RSS {} MB", m.max_rss_mb);
    let summary: serde_json::Value = serde_json::from_str(m.stdout.trim()).unwrap();
    assert_eq!(summary["events"], 2);
    assert_eq!(summary["duplicates"], 2, "{summary}");
}

/// A notice listing 100k files (before: a future per file built up front,
/// 1.5 GB): only as many files as may run are in memory at once. None of
/// them exists, so each fails fast and the notice is set aside.
#[test]
fn a_notice_of_100k_files_costs_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let opts = falconry_fixtures::HostileOptions {
        bomb_lines: 1,
        keys: 1,
        notice_files: 100_000,
    };
    falconry_fixtures::write_hostile(dir.path(), opts).unwrap();
    let queue = dir.path().join("queue");
    std::fs::create_dir_all(&queue).unwrap();
    std::fs::rename(
        dir.path().join("notices/huge.json"),
        queue.join("huge.json"),
    )
    .unwrap();
    let m = forward_until_empty(dir.path(), &queue);
    assert_eq!(m.exit_code, 1, "the notice fails (no file exists)");
    assert!(m.max_rss_mb <= MAX_RSS_MB, "peak RSS {} MB", m.max_rss_mb);
    assert_eq!(
        std::fs::read_dir(queue.join("failed")).unwrap().count(),
        2,
        "the notice and its reason"
    );
}

/// Source keys a lossy name mapping would collide, and a symbolic link out
/// of the source root, through the forwarder: every colliding key lands in
/// its own Parquet file (all six rows), the link is refused and nothing of
/// what it points to reaches the lake.
#[test]
fn colliding_keys_stay_apart_and_a_symlink_out_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    corpus(root, 10);
    let queue = root.join("queue");
    std::fs::create_dir_all(&queue).unwrap();
    for n in ["colliding", "symlink"] {
        std::fs::rename(
            root.join(format!("notices/{n}.json")),
            queue.join(format!("{n}.json")),
        )
        .unwrap();
    }
    let m = forward_until_empty(root, &queue);
    assert_eq!(m.exit_code, 1, "the symlink notice fails");
    let done: Vec<String> = std::fs::read_dir(queue.join("done"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(done, vec!["colliding.json"]);
    let reason = std::fs::read_to_string(queue.join("failed/symlink.json.reason.txt")).unwrap();
    assert!(reason.contains("symbolic link"), "{reason}");
    let files = walk(&root.join("lake"));
    let parquet: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    assert_eq!(
        parquet.len(),
        falconry_fixtures::COLLIDING_KEYS.len(),
        "{parquet:?}"
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("outside the source root"),
            "{f:?}"
        );
    }
    assert!(
        !files.iter().any(|p| p.to_string_lossy().contains("escape")),
        "{files:?}"
    );
}

/// `falconry forward --until-empty` over the dir:// `queue`, reading
/// `<root>/source` and writing `<root>/lake`, measured.
fn forward_until_empty(root: &Path, queue: &Path) -> Measured {
    let url = |scheme: &str, p: &Path| format!("{scheme}://{}", p.display());
    measure(
        &[
            "forward",
            "--admin",
            "off",
            "--until-empty",
            "--queue",
            &url("dir", queue),
            "--source",
            &url("file", &root.join("source")),
            "--dest",
            &url("file", &root.join("lake")),
        ],
        &[],
    )
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
