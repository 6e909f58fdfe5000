//! The real binary under SIGTERM: it stops receiving, finishes (or leaves) the
//! work in flight, exits 0, and a second run completes everything.

use falconry_fixtures::{BatchOptions, fdr_batch, notice_json, write_files};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn sigterm_stops_the_forwarder_cleanly_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("queue")).unwrap();
    let mut expected = 0;
    for seed in 0..6 {
        let b = fdr_batch(&BatchOptions {
            seed: 300 + seed,
            events_per_file: 2000,
            ..BatchOptions::default()
        });
        write_files(&b, &root.join("source")).unwrap();
        std::fs::write(
            root.join("queue").join(format!("{seed}.json")),
            notice_json(&b, "b"),
        )
        .unwrap();
        expected += b
            .files
            .iter()
            .map(|f| f.lines - f.invalid_lines.len() as u64)
            .sum::<u64>();
    }
    let args = |until_empty: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_falconry"));
        c.args(["forward", "--admin", "off", "--queue"])
            .arg(format!("dir://{}", root.join("queue").display()))
            .arg("--source")
            .arg(format!("file://{}", root.join("source").display()))
            .arg("--dest")
            .arg(format!("file://{}", root.join("lake").display()))
            .env("FALCONRY__FORWARDER__NOTICES_IN_FLIGHT", "1")
            .env("FALCONRY__FORWARDER__WAIT_TIME", "300ms");
        if until_empty {
            c.arg("--until-empty");
        }
        c
    };
    let mut child = args(false).spawn().expect("start forwarder");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !root.join("queue/done").is_dir() {
        assert!(Instant::now() < deadline, "no notice finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(
        exit.success(),
        "SIGTERM should end the daemon cleanly: {exit:?}"
    );
    let done = std::fs::read_dir(root.join("queue/done")).unwrap().count();
    assert!(done < 6, "the signal should arrive mid-queue ({done} done)");
    // Nothing is left claimed: the notice in flight was finished within the grace period.
    assert_eq!(
        std::fs::read_dir(root.join("queue/inflight"))
            .unwrap()
            .count(),
        0
    );

    let second = args(true).output().unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        std::fs::read_dir(root.join("queue/done"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json"))
            .count(),
        6
    );
    let counts = falconry_forwarder::lake::table_counts(&root.join("lake/parquet")).unwrap();
    assert_eq!(counts["events"].0, expected);
}
