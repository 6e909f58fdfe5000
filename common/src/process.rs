//! Which process owns a lock or a temporary file, written so that another
//! process on the same host can tell, after a `kill -9`, that the owner is
//! gone: host name, pid, and the pid's start time from `/proc` (so a reused
//! pid is not taken for the owner). Off Linux, or on another host, an owner
//! is never known dead; callers fall back to an age bound.
//!
//! And the sweep of a falconry-owned temporary folder that uses it.

use std::path::Path;
use std::time::{Duration, SystemTime};

/// A process, as `host pid start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    pub start: String,
}

impl Owner {
    /// This process.
    pub fn this() -> Owner {
        static THIS: std::sync::OnceLock<Owner> = std::sync::OnceLock::new();
        THIS.get_or_init(|| {
            let pid = std::process::id();
            Owner {
                host: host(),
                pid,
                start: start_time(pid).unwrap_or_else(|| "0".to_owned()),
            }
        })
        .clone()
    }

    /// As written into a lock file: `host pid start\n`.
    pub fn line(&self) -> String {
        format!("{} {} {}\n", self.host, self.pid, self.start)
    }

    /// Reads [`Owner::line`]'s form.
    pub fn parse_line(text: &str) -> Option<Owner> {
        let mut parts = text.split_whitespace();
        let (host, pid, start) = (parts.next()?, parts.next()?, parts.next()?);
        Some(Owner {
            host: host.to_owned(),
            pid: pid.parse().ok()?,
            start: start.to_owned(),
        })
    }

    /// As a file name prefix: `host_pid_start` (host reduced to `[A-Za-z0-9.-]`).
    pub fn tag(&self) -> String {
        format!("{}_{}_{}", self.host, self.pid, self.start)
    }

    /// Reads [`Owner::tag`]'s form at the start of a file name (`tag-…`).
    pub fn parse_tag(name: &str) -> Option<Owner> {
        let head = name.split('-').next()?;
        let mut parts = head.rsplitn(3, '_');
        let (start, pid, host) = (parts.next()?, parts.next()?, parts.next()?);
        Some(Owner {
            host: host.to_owned(),
            pid: pid.parse().ok()?,
            start: start.to_owned(),
        })
    }

    /// Whether this owner is a process of this host that no longer runs.
    pub fn is_dead(&self) -> bool {
        if self.host != host() || !Path::new("/proc/self/stat").exists() {
            return false;
        }
        start_time(self.pid).is_none_or(|now| now != self.start)
    }
}

/// Removes the files in `dir` (a falconry-owned temporary folder) that a gone
/// process left: named with a dead owner's tag, or untouched for `max_age`.
/// Returns how many were removed; a missing folder is nothing to sweep.
pub fn sweep(dir: &Path, max_age: Duration) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let dead = name
            .to_str()
            .and_then(Owner::parse_tag)
            .is_some_and(|o| o.is_dead());
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > max_age);
        if !(dead || old) {
            continue;
        }
        let path = entry.path();
        let gone = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match gone {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// A folder of this process's own under `parent/<name>/` (`<owner tag>-<n>-work`),
/// created after sweeping the folders of processes that are gone (or
/// untouched for a day). A forwarder's temporary Parquet files live there,
/// so a `kill -9` leaves nothing the next start does not remove.
pub fn work_dir(parent: &Path, name: &str) -> std::io::Result<std::path::PathBuf> {
    let base = parent.join(name);
    let swept = sweep(&base, Duration::from_secs(24 * 3600))?;
    if swept > 0 {
        tracing::info!(dir = %base.display(), removed = swept, "removed work folders of processes that are gone");
    }
    // One per call: a process may run more than one (tests do).
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = base.join(format!("{}-{n}-work", Owner::this().tag()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' {
                        c
                    } else {
                        '.'
                    }
                })
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Field 22 of `/proc/<pid>/stat` (counted after the parenthesised name).
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn owners_round_trip_and_the_dead_are_known() {
        let me = Owner::this();
        assert_eq!(Owner::parse_line(&me.line()), Some(me.clone()));
        assert_eq!(
            Owner::parse_tag(&format!("{}-x-y", me.tag())),
            Some(me.clone())
        );
        assert!(!me.is_dead());
        let gone = Owner {
            pid: dead_pid(),
            ..me.clone()
        };
        assert!(gone.is_dead());
        // A reused pid with another start time is not the owner.
        let reused = Owner {
            start: "1".into(),
            ..me.clone()
        };
        assert!(reused.is_dead());
        let elsewhere = Owner {
            host: "another-host".into(),
            ..gone
        };
        assert!(!elsewhere.is_dead());
        assert_eq!(Owner::parse_line("garbage"), None);
    }

    #[test]
    fn sweep_removes_what_the_dead_left_and_keeps_the_living() {
        let dir = tempfile::tempdir().unwrap();
        let me = Owner::this();
        let gone = Owner {
            pid: dead_pid(),
            ..me.clone()
        };
        std::fs::write(dir.path().join(format!("{}-a", me.tag())), b"live").unwrap();
        std::fs::write(dir.path().join(format!("{}-b", gone.tag())), b"dead").unwrap();
        std::fs::create_dir(dir.path().join(format!("{}-c", gone.tag()))).unwrap();
        std::fs::write(dir.path().join("unowned"), b"young").unwrap();
        assert_eq!(sweep(dir.path(), Duration::from_secs(3600)).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![format!("{}-a", me.tag()), "unowned".to_owned()];
        want.sort();
        assert_eq!(left, want);
        assert_eq!(
            sweep(&dir.path().join("missing"), Duration::ZERO).unwrap(),
            0
        );
    }
}
