//! The real-shaped samples beside the repository (`../shared/samples`, not
//! part of the project: their licence does not allow it). `scripts/test.sh`
//! sets `FALCONRY_SAMPLES` to their folder, or to `none` (and says so) when
//! they are absent; a test run without either fails instead of passing
//! silently.

use std::path::PathBuf;

/// The samples of `kind` (`fdr`, `stream`), or `None` when the run was told
/// there are none (`FALCONRY_SAMPLES=none`).
pub fn dir(kind: &str) -> Option<PathBuf> {
    match std::env::var_os("FALCONRY_SAMPLES") {
        None => panic!(
            "FALCONRY_SAMPLES is not set: run scripts/test.sh (it points it at ../shared/samples), \
             or set FALCONRY_SAMPLES=none to skip the real-sample tests"
        ),
        Some(v) if v == "none" => {
            eprintln!("FALCONRY_SAMPLES=none: the real-shaped {kind} samples are not checked");
            None
        }
        Some(v) => {
            let dir = PathBuf::from(v).join(kind);
            assert!(
                dir.is_dir(),
                "FALCONRY_SAMPLES has no {kind}/ folder: {}",
                dir.display()
            );
            Some(dir)
        }
    }
}
