//! The directory queue of the embedded default (`dir://path`): one notice JSON
//! per file in `path`. Receiving claims a file by renaming it into
//! `inflight/` (atomic, so several local forwarders can share a directory);
//! delete moves it to `done/`, release to `failed/` with a `.reason.txt`
//! beside it. A claimed file whose heartbeat stopped for longer than the
//! visibility timeout (a crashed forwarder) is put back, like SQS would.

use super::{Message, QueueError, Receipt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone)]
pub struct DirQueue {
    dir: PathBuf,
}

const POLL: Duration = Duration::from_millis(200);

impl DirQueue {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirQueue { dir: dir.into() }
    }

    pub fn name(&self) -> String {
        format!("dir://{}", self.dir.display())
    }

    fn err(&self, op: &'static str, e: impl std::fmt::Display) -> QueueError {
        QueueError {
            queue: self.name(),
            op,
            message: e.to_string(),
        }
    }

    pub async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let this = self.clone();
            let got = tokio::task::spawn_blocking(move || this.claim(max, visibility))
                .await
                .map_err(|e| self.err("receive", e))??;
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(got);
            }
            tokio::time::sleep(POLL.min(deadline - tokio::time::Instant::now())).await;
        }
    }

    fn claim(&self, max: usize, visibility: Duration) -> Result<Vec<Message>, QueueError> {
        let inflight = self.dir.join("inflight");
        std::fs::create_dir_all(&inflight)
            .map_err(|e| self.err("receive", format!("{}: {e}", inflight.display())))?;
        self.reclaim_stale(&inflight, visibility);
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(|e| self.err("receive", format!("{}: {e}", self.dir.display())))?
            .filter_map(std::result::Result::ok)
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            if out.len() >= max {
                break;
            }
            let from = self.dir.join(&name);
            let to = inflight.join(&name);
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // another consumer won
                Err(e) => return Err(self.err("receive", format!("claim {}: {e}", from.display()))),
            }
            let _ = touch_path(&to);
            let body = std::fs::read(&to)
                .map_err(|e| self.err("receive", format!("{}: {e}", to.display())))?;
            let sent_ms = std::fs::metadata(&to)
                .and_then(|m| m.created().or_else(|_| m.modified()))
                .ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64);
            out.push(Message {
                id: name,
                body: String::from_utf8_lossy(&body).into_owned(),
                receive_count: 1,
                sent_ms,
                receipt: Receipt::Dir(to),
            });
        }
        Ok(out)
    }

    fn reclaim_stale(&self, inflight: &Path, visibility: Duration) {
        let Ok(entries) = std::fs::read_dir(inflight) else {
            return;
        };
        for e in entries.filter_map(std::result::Result::ok) {
            let stale = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > visibility);
            if stale {
                let back = self.dir.join(e.file_name());
                if std::fs::rename(e.path(), &back).is_ok() {
                    tracing::warn!(notice = %back.display(), "claimed notice was abandoned (no heartbeat); put back");
                }
            }
        }
    }

    /// Notices in `inflight/`: claimed by a consumer that has not finished
    /// them (or that crashed: they are put back after the visibility timeout).
    pub async fn claimed(&self) -> Result<u64, QueueError> {
        let inflight = self.dir.join("inflight");
        let count = tokio::task::spawn_blocking(move || match std::fs::read_dir(&inflight) {
            Ok(entries) => Ok(entries
                .filter_map(std::result::Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count() as u64),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        })
        .await
        .map_err(|e| self.err("count claimed notices", e))?;
        count.map_err(|e| self.err("count claimed notices", e))
    }

    pub async fn touch(&self, path: &Path) -> Result<(), QueueError> {
        let p = path.to_owned();
        tokio::task::spawn_blocking(move || touch_path(&p))
            .await
            .map_err(|e| self.err("extend", e))?
            .map_err(|e| self.err("extend", format!("{}: {e}", path.display())))
    }

    pub async fn finish(
        &self,
        path: &Path,
        to: &'static str,
        reason: Option<&str>,
    ) -> Result<(), QueueError> {
        let dest_dir = self.dir.join(to);
        let name = path
            .file_name()
            .map(std::borrow::ToOwned::to_owned)
            .unwrap_or_default();
        let op = if to == "done" { "delete" } else { "release" };
        tokio::fs::create_dir_all(&dest_dir)
            .await
            .map_err(|e| self.err(op, e))?;
        if let Some(reason) = reason {
            let mut reason_name = name.clone();
            reason_name.push(".reason.txt");
            tokio::fs::write(dest_dir.join(reason_name), format!("{reason}\n"))
                .await
                .map_err(|e| self.err(op, e))?;
        }
        tokio::fs::rename(path, dest_dir.join(&name))
            .await
            .map_err(|e| self.err(op, format!("{}: {e}", path.display())))
    }
}

fn touch_path(p: &Path) -> std::io::Result<()> {
    std::fs::File::options()
        .write(true)
        .open(p)?
        .set_modified(SystemTime::now())
}
