//! The embedded default's tracker: one Markdown file per issue under
//! `<root>/<owner>/<name>/<number>.md`, a small header (title, state, labels,
//! assignees) then the body, each comment appended below a rule. Closing a
//! case is editing `state: open` to `state: closed` in the header.
//!
//! Numbers are taken with an exclusive create (hard link of a fully written
//! temporary file), so two enrichers on one machine never share a number and
//! a reader never sees half an issue. Temporary files are written in
//! `<root>/.falconry-tmp/`, out of the issue folders, and those a killed
//! enricher left are swept at start.

use super::{IssueRef, NewIssue};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct DirTracker {
    root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("issues directory {path}: {message}")]
pub struct DirError {
    pub path: String,
    pub message: String,
}

/// Line that separates the body from each appended comment.
const COMMENT_RULE: &str = "\n\n---\n\n";

fn err(path: &Path, e: impl std::fmt::Display) -> DirError {
    DirError {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// `owner/name` with safe path segments only.
fn repo_dir(root: &Path, repo: &str) -> Result<PathBuf, DirError> {
    match super::split_repo(repo) {
        Some((o, n)) => Ok(root.join(o).join(n)),
        None => Err(err(root, format!("repository {repo:?} is not owner/name"))),
    }
}

/// Where issue files are written before they are linked into place.
const TMP_DIR: &str = ".falconry-tmp";

impl DirTracker {
    pub fn new(root: impl Into<PathBuf>) -> DirTracker {
        DirTracker { root: root.into() }
    }

    /// Removes the temporary files of enrichers that are gone (a `kill -9`
    /// between writing an issue and linking it).
    pub fn sweep_temporaries(&self) -> Result<usize, DirError> {
        let dir = self.root.join(TMP_DIR);
        falconry_common::process::sweep(&dir, std::time::Duration::from_secs(3600))
            .map_err(|e| err(&dir, e))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn name(&self) -> String {
        format!("dir://{}", self.root.display())
    }

    fn path(&self, issue: &IssueRef) -> Result<PathBuf, DirError> {
        Ok(repo_dir(&self.root, &issue.repo)?.join(format!("{:04}.md", issue.number)))
    }

    pub async fn create(&self, repo: &str, issue: &NewIssue) -> Result<IssueRef, DirError> {
        let dir = repo_dir(&self.root, repo)?;
        let repo = repo.to_owned();
        let text = render_file(issue);
        let tmp_dir = self.root.join(TMP_DIR);
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| err(&dir, e))?;
            std::fs::create_dir_all(&tmp_dir).map_err(|e| err(&tmp_dir, e))?;
            let tmp = tmp_dir.join(format!(
                "{}-{}",
                falconry_common::process::Owner::this().tag(),
                uuid::Uuid::new_v4()
            ));
            let mut f = std::fs::File::create(&tmp).map_err(|e| err(&tmp, e))?;
            f.write_all(text.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| err(&tmp, e))?;
            let mut number = highest(&dir)? + 1;
            let result = loop {
                let target = dir.join(format!("{number:04}.md"));
                match std::fs::hard_link(&tmp, &target) {
                    Ok(()) => {
                        break Ok(IssueRef {
                            repo,
                            number,
                            url: target.display().to_string(),
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => number += 1,
                    Err(e) => break Err(err(&target, e)),
                }
            };
            let _ = std::fs::remove_file(&tmp);
            result
        })
        .await
        .map_err(|e| err(&self.root, e))?
    }

    pub async fn find(&self, repo: &str, marker: &str) -> Result<Option<IssueRef>, DirError> {
        let dir = repo_dir(&self.root, repo)?;
        let mut found = None;
        for (number, path) in issues(&dir)? {
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| err(&path, e))?;
            // Only the body (before the first comment) counts.
            let body = text.split(COMMENT_RULE).next().unwrap_or("");
            if body.contains(marker) {
                found = Some(IssueRef {
                    repo: repo.to_owned(),
                    number,
                    url: path.display().to_string(),
                });
                break;
            }
        }
        Ok(found)
    }

    pub async fn is_open(&self, issue: &IssueRef) -> Result<bool, DirError> {
        let path = self.path(issue)?;
        match tokio::fs::read_to_string(&path).await {
            Ok(text) => Ok(header(&text, "state").is_none_or(|s| s.trim() != "closed")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(err(&path, e)),
        }
    }

    pub async fn comment(&self, issue: &IssueRef, body: &str) -> Result<(), DirError> {
        let path = self.path(issue)?;
        let text = format!("{COMMENT_RULE}{}\n", body.trim_end());
        tokio::task::spawn_blocking(move || {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| err(&path, e))?;
            f.write_all(text.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| err(&path, e))
        })
        .await
        .map_err(|e| err(&self.root, e))?
    }

    pub async fn has(&self, issue: &IssueRef, marker: &str) -> Result<bool, DirError> {
        let path = self.path(issue)?;
        let text = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| err(&path, e))?;
        Ok(text.split(COMMENT_RULE).skip(1).any(|c| c.contains(marker)))
    }

    /// Every issue file, by number: `(repo, number, path)`.
    pub fn all(&self) -> Result<Vec<(String, u64, PathBuf)>, DirError> {
        let mut out = Vec::new();
        for owner in subdirs(&self.root)? {
            for name in subdirs(&owner)? {
                let repo = format!(
                    "{}/{}",
                    owner.file_name().unwrap_or_default().to_string_lossy(),
                    name.file_name().unwrap_or_default().to_string_lossy()
                );
                for (n, p) in issues(&name)? {
                    out.push((repo.clone(), n, p));
                }
            }
        }
        Ok(out)
    }
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, DirError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(err(dir, e)),
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if e.path().is_dir() && !name.to_string_lossy().starts_with('.') {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

fn issues(dir: &Path) -> Result<Vec<(u64, PathBuf)>, DirError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(err(dir, e)),
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".md").and_then(|n| n.parse().ok()) {
            out.push((n, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn highest(dir: &Path) -> Result<u64, DirError> {
    Ok(issues(dir)?.last().map_or(0, |(n, _)| *n))
}

/// The header is JSON-quoted values, one per line, between `---` lines; the
/// title is event-derived and must not break it.
fn render_file(issue: &NewIssue) -> String {
    let q = |v: &serde_json::Value| v.to_string();
    format!(
        "---\ntitle: {}\nstate: open\nlabels: {}\nassignees: {}\ncreated: {}\nconclusion: \n---\n\n{}\n",
        q(&serde_json::Value::from(issue.title.as_str())),
        q(&serde_json::json!(issue.labels)),
        q(&serde_json::json!(issue.assignees)),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        issue.body.trim_end()
    )
}

fn header<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    let rest = text.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    rest[..end]
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
}

/// The title of an issue file (for summaries).
/// What a responder says in an issue file's header: `state: closed` and a
/// `conclusion:` (with, optionally, `closed:` and `closed_by:`), and the
/// `assignees`. The file's modification time stands in for a close time
/// nobody wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirIssue {
    pub open: bool,
    pub conclusion: Option<String>,
    pub closed: Option<chrono::DateTime<chrono::Utc>>,
    pub closed_by: Option<String>,
    pub assignees: Vec<String>,
    pub labels: Vec<String>,
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

fn header_list(text: &str, field: &str) -> Vec<String> {
    header(text, field)
        .and_then(|v| serde_json::from_str::<Vec<String>>(v.trim()).ok())
        .unwrap_or_default()
}

fn header_text(text: &str, field: &str) -> Option<String> {
    let v = header(text, field)?.trim();
    let v = serde_json::from_str::<String>(v).unwrap_or_else(|_| v.to_owned());
    (!v.trim().is_empty()).then(|| v.trim().to_owned())
}

impl DirTracker {
    /// The header of an issue file; `None` when the file is gone.
    pub async fn read(&self, issue: &IssueRef) -> Result<Option<DirIssue>, DirError> {
        let path = self.path(issue)?;
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(&path, e)),
        };
        let modified = tokio::fs::metadata(&path)
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .map(chrono::DateTime::<chrono::Utc>::from);
        Ok(Some(DirIssue {
            open: header(&text, "state").is_none_or(|s| s.trim() != "closed"),
            conclusion: header_text(&text, "conclusion"),
            closed: header_text(&text, "closed")
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&chrono::Utc)),
            closed_by: header_text(&text, "closed_by"),
            assignees: header_list(&text, "assignees"),
            labels: header_list(&text, "labels"),
            modified,
        }))
    }

    /// Closes or reopens an issue file: its `state:` (and `closed:`) header
    /// rewritten, the file replaced whole.
    pub async fn set_state(&self, issue: &IssueRef, open: bool) -> Result<(), DirError> {
        let path = self.path(issue)?;
        let tmp_dir = self.root.join(TMP_DIR);
        tokio::task::spawn_blocking(move || {
            let text = std::fs::read_to_string(&path).map_err(|e| err(&path, e))?;
            let Some(rest) = text.strip_prefix("---\n") else {
                return Err(err(&path, "the file has no header"));
            };
            let Some(end) = rest.find("\n---\n") else {
                return Err(err(&path, "the file's header does not end"));
            };
            let mut lines: Vec<String> = rest[..end]
                .lines()
                .filter(|l| !l.starts_with("state:") && !l.starts_with("closed:"))
                .map(str::to_owned)
                .collect();
            lines.insert(
                1,
                format!("state: {}", if open { "open" } else { "closed" }),
            );
            if !open {
                lines.push(format!(
                    "closed: {}",
                    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
                ));
            }
            let new = format!("---\n{}{}", lines.join("\n"), &rest[end..]);
            std::fs::create_dir_all(&tmp_dir).map_err(|e| err(&tmp_dir, e))?;
            let tmp = tmp_dir.join(format!(
                "{}-{}",
                falconry_common::process::Owner::this().tag(),
                uuid::Uuid::new_v4()
            ));
            std::fs::write(&tmp, new.as_bytes()).map_err(|e| err(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| err(&path, e))
        })
        .await
        .map_err(|e| err(&self.root, e))?
    }
}

pub fn title_of(text: &str) -> Option<String> {
    serde_json::from_str(header(text, "title")?.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `kill -9` between writing an issue and linking it leaves a
    /// temporary in `.falconry-tmp/`, never in the issue folder; the next
    /// start sweeps it.
    #[tokio::test]
    async fn temporaries_stay_out_of_issue_folders_and_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let t = DirTracker::new(dir.path());
        t.create("acme/soc", &new("a", "b")).await.unwrap();
        let in_repo: Vec<String> = std::fs::read_dir(dir.path().join("acme/soc"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(in_repo, vec!["0001.md"]);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = falconry_common::process::Owner {
            pid: child.id(),
            ..falconry_common::process::Owner::this()
        };
        child.wait().unwrap();
        let left = dir.path().join(TMP_DIR).join(format!("{}-x", gone.tag()));
        std::fs::write(&left, "half an issue").unwrap();
        assert_eq!(t.sweep_temporaries().unwrap(), 1);
        assert!(!left.exists());
        assert_eq!(t.all().unwrap().len(), 1);
        assert!(t.create(".falconry-tmp/x", &new("a", "b")).await.is_err());
    }

    fn new(title: &str, body: &str) -> NewIssue {
        NewIssue {
            title: title.into(),
            body: body.into(),
            labels: vec!["severity:high".into()],
            assignees: vec![],
        }
    }

    #[tokio::test]
    async fn create_find_comment_close() {
        let dir = tempfile::tempdir().unwrap();
        let t = DirTracker::new(dir.path());
        let a = t
            .create(
                "soc/alerts",
                &new("t\n---\nstate: closed", "body <!-- m1 -->"),
            )
            .await
            .unwrap();
        let b = t
            .create("soc/alerts", &new("two", "body <!-- m2 -->"))
            .await
            .unwrap();
        assert_eq!((a.number, b.number), (1, 2));
        assert!(a.url.ends_with("soc/alerts/0001.md"));
        assert_eq!(t.find("soc/alerts", "m2").await.unwrap(), Some(b.clone()));
        assert_eq!(t.find("soc/alerts", "m3").await.unwrap(), None);
        assert!(
            t.is_open(&a).await.unwrap(),
            "a hostile title cannot close the issue"
        );
        let text = std::fs::read_to_string(&a.url).unwrap();
        assert_eq!(title_of(&text).as_deref(), Some("t\n---\nstate: closed"));

        t.comment(&a, "again <!-- c1 -->").await.unwrap();
        assert!(t.has(&a, "c1").await.unwrap());
        assert!(!t.has(&a, "m1").await.unwrap(), "the body is not a comment");
        assert_eq!(
            t.find("soc/alerts", "c1").await.unwrap(),
            None,
            "a comment is not the body"
        );

        std::fs::write(&a.url, text.replacen("state: open", "state: closed", 1)).unwrap();
        assert!(!t.is_open(&a).await.unwrap());
        assert_eq!(t.all().unwrap().len(), 2);
        assert!(t.create("../x", &new("t", "b")).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_creators_get_distinct_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let t = DirTracker::new(dir.path());
        let mut tasks = Vec::new();
        for i in 0..12 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                t.create("o/r", &new("x", &format!("b{i}")))
                    .await
                    .unwrap()
                    .number
            }));
        }
        let mut numbers = Vec::new();
        for task in tasks {
            numbers.push(task.await.unwrap());
        }
        numbers.sort();
        assert_eq!(numbers, (1..=12).collect::<Vec<_>>());
    }
}
