//! The context each template is rendered with, at a given level of detail:
//! the alert and decision as the policy sees them (raw: escaped when a
//! template writes them), plus the parts that are easier to lay out in Rust
//! and are handed over already escaped (the entities table rows, each
//! enrichment section's table and notes, the links).
//!
//! Pure. Only strings this file builds from escaped pieces (or from our own
//! words) are marked safe; every event value either goes through `sanitize`
//! here or stays a plain value the template's formatter escapes.

use super::links;
use super::sanitize::{self, cell, code_cell};
use super::view::{CommentView, IssueView};
use crate::alert::{Alert, Enrichment, Process, Section, Status, Table};
use minijinja::Value;
use serde::Serialize;
use std::collections::BTreeMap;

/// How much detail a body carries. The renderer starts with the first entry
/// of [`LADDER`] and steps down while the body is over GitHub's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Table rows shown per enrichment section.
    pub rows: usize,
    /// Notes shown per enrichment section.
    pub notes: usize,
    /// Characters per table cell and note.
    pub cell: usize,
    /// Characters of the alert's own command line (the tree's others get half).
    pub command_line: usize,
    /// Characters of a file path.
    pub path: usize,
    /// Items per list (IPs, domains, hashes, hosts, ...).
    pub list: usize,
}

/// Least important first: enrichment rows and notes go before entity detail.
pub const LADDER: &[Limits] = &[
    Limits {
        rows: 50,
        notes: 10,
        cell: 300,
        command_line: 4_000,
        path: 1_000,
        list: 20,
    },
    Limits {
        rows: 20,
        notes: 5,
        cell: 200,
        command_line: 4_000,
        path: 1_000,
        list: 20,
    },
    Limits {
        rows: 5,
        notes: 3,
        cell: 120,
        command_line: 4_000,
        path: 1_000,
        list: 20,
    },
    Limits {
        rows: 0,
        notes: 1,
        cell: 120,
        command_line: 4_000,
        path: 1_000,
        list: 20,
    },
    Limits {
        rows: 0,
        notes: 0,
        cell: 120,
        command_line: 1_000,
        path: 300,
        list: 5,
    },
    Limits {
        rows: 0,
        notes: 0,
        cell: 100,
        command_line: 200,
        path: 120,
        list: 2,
    },
];

/// Columns of an enrichment table shown at most.
pub const MAX_COLUMNS: usize = 12;
/// Characters of an id, hash or SID in a cell.
const ID_CAP: usize = 200;

/// What the raw event block shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawEvent<'a> {
    /// No raw event was given.
    None,
    /// Left out to fit the size limit.
    Omitted,
    /// The pretty JSON, shown in a fence of at most this many chars.
    Shown(&'a str, usize),
}

/// The issue template's context. Plain values (escaped when written):
/// `alert` and `decision` (their serde form, as the policy sees them),
/// `severity`, `host`, `user`, `mitre` (one line per entry), `occurrences`,
/// `first_seen_ms`, `last_seen_ms`, `fingerprint`, `version`, `previous`
/// (`{repo, number, url}` or none), `athena_query`, `raw_event` (pretty JSON
/// or none), `raw_event_cap`, `raw_event_omitted`. Already escaped:
/// `console_link`, `runbook_link`, `previous_link`, `entities[].name` and
/// `.value`, `sections[].table` and `.notes[]`; the rest of each section
/// (`provider`, `title`, `status`, `reason`, `omitted_rows`,
/// `omitted_notes`) is plain.
pub fn issue_context(view: &IssueView<'_>, limits: &Limits, raw: RawEvent<'_>) -> Value {
    let a = view.alert;
    let mut ctx = common(a, view.decision);
    ctx.insert("occurrences", Value::from(view.occurrences));
    ctx.insert("first_seen_ms", Value::from(view.first_seen_ms));
    ctx.insert("last_seen_ms", Value::from(view.last_seen_ms));
    ctx.insert("fingerprint", Value::from(view.fingerprint));
    ctx.insert("version", Value::from(view.version));
    ctx.insert("previous", view.previous.map_or(Value::from(()), to_value));
    ctx.insert(
        "console_link",
        safe_opt(a.console_url.as_deref().map(links::console)),
    );
    ctx.insert(
        "runbook_link",
        safe_opt(view.decision.runbook.as_deref().map(links::runbook)),
    );
    ctx.insert(
        "previous_link",
        safe_opt(view.previous.map(links::previous)),
    );
    ctx.insert("entities", Value::from(entities(a, limits)));
    ctx.insert("sections", Value::from(sections(view.enrichment, limits)));
    ctx.insert("athena_query", Value::from(view.athena_query.as_deref()));
    let (raw_event, cap, omitted) = match raw {
        RawEvent::None => (None, 0, false),
        RawEvent::Omitted => (None, 0, true),
        RawEvent::Shown(json, cap) => (Some(json), cap, false),
    };
    ctx.insert("raw_event", Value::from(raw_event));
    ctx.insert("raw_event_cap", Value::from(cap));
    ctx.insert("raw_event_omitted", Value::from(omitted));
    Value::from(ctx)
}

/// The title template's context (the issue's, without the heavy parts).
pub fn title_context(view: &IssueView<'_>) -> Value {
    Value::from(common(view.alert, view.decision))
}

/// The comment template's context.
pub fn comment_context(view: &CommentView<'_>) -> Value {
    let mut ctx = common(view.alert, view.decision);
    ctx.insert("occurrences", Value::from(view.occurrences));
    ctx.insert("first_seen_ms", Value::from(view.first_seen_ms));
    ctx.insert("last_seen_ms", Value::from(view.last_seen_ms));
    ctx.insert("fingerprint", Value::from(view.fingerprint));
    ctx.insert("changes", Value::from(view.changes.clone()));
    ctx.insert("occurrence_key", Value::from(view.occurrence_key));
    Value::from(ctx)
}

/// The raw event pretty-printed (keys sorted), or as received when it is
/// not JSON.
pub fn pretty_json(raw: &str) -> String {
    serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| raw.to_owned())
}

fn common(a: &Alert, decision: &crate::decision::Decision) -> BTreeMap<&'static str, Value> {
    let mut ctx = BTreeMap::new();
    ctx.insert("alert", to_value(a));
    ctx.insert("decision", to_value(decision));
    ctx.insert("severity", Value::from(decision.severity.as_str()));
    ctx.insert("host", Value::from(a.host_label()));
    ctx.insert("user", Value::from(a.user_label()));
    let mitre: Vec<String> = a
        .mitre
        .iter()
        .map(|m| {
            let part = |name: &Option<String>, id: &Option<String>| match (name, id) {
                (Some(n), Some(i)) => format!("{n} ({i})"),
                (Some(n), None) => n.clone(),
                (None, Some(i)) => i.clone(),
                (None, None) => "?".to_owned(),
            };
            format!(
                "{} / {}",
                part(&m.tactic, &m.tactic_id),
                part(&m.technique, &m.technique_id)
            )
        })
        .collect();
    ctx.insert("mitre", Value::from(mitre));
    ctx
}

/// One row of the entities table: our label, the escaped value.
fn row(rows: &mut Vec<Value>, name: &'static str, value: Option<String>) {
    if let Some(value) = value {
        let mut map = BTreeMap::new();
        // Our own label: safe as it is.
        map.insert("name", Value::from_safe_string(name.to_owned()));
        map.insert("value", Value::from_safe_string(value));
        rows.push(Value::from(map));
    }
}

/// Items of a list as cells joined by `, `, at most `max`, the rest counted.
fn list(items: &[String], max: usize, cap: usize, code: bool) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    let max = max.max(1);
    let mut out: Vec<String> = items
        .iter()
        .take(max)
        .map(|s| {
            if code {
                code_cell(s, cap)
            } else {
                cell(s, cap)
            }
        })
        .collect();
    if items.len() > max {
        out.push(format!("… \\+{} more", items.len() - max));
    }
    Some(out.join(", "))
}

fn entities(a: &Alert, l: &Limits) -> Vec<Value> {
    let mut rows = Vec::new();
    let id = |s: &Option<String>| s.as_deref().map(|s| code_cell(s, ID_CAP));
    // Names that look like identifiers are code (copyable, not defanged);
    // anything else is escaped prose.
    let name = |s: &Option<String>| {
        s.as_deref().map(|s| {
            if looks_like_identifier(s) {
                code_cell(s, ID_CAP)
            } else {
                cell(s, l.cell)
            }
        })
    };
    // Host and user names are identifiers, and IPs and domains indicators:
    // code cells, copyable as they are (GitHub links nothing in code).
    row(&mut rows, "Host", name(&a.host.hostname));
    row(&mut rows, "Agent id", id(&a.host.aid));
    row(&mut rows, "Host domain", name(&a.host.domain));
    row(&mut rows, "Local IP", id(&a.host.local_ip));
    row(&mut rows, "External IP", id(&a.host.external_ip));
    row(&mut rows, "MAC", id(&a.host.mac));
    row(
        &mut rows,
        "Host groups",
        list(&a.host.groups, l.list, ID_CAP, true),
    );
    row(
        &mut rows,
        "Sensor tags",
        list(&a.host.tags, l.list, l.cell, false),
    );
    row(
        &mut rows,
        "Other hosts",
        list(
            &a.host.others,
            l.list,
            l.cell,
            a.host.others.iter().all(|h| looks_like_identifier(h)),
        ),
    );
    row(&mut rows, "User", name(&a.user.name));
    row(&mut rows, "User domain", name(&a.user.domain));
    row(&mut rows, "User SID", id(&a.user.sid));
    row(
        &mut rows,
        "Other users",
        list(
            &a.user.others,
            l.list,
            l.cell,
            a.user.others.iter().all(|u| looks_like_identifier(u)),
        ),
    );
    process(&mut rows, &a.process, l, Tree::Own);
    process(&mut rows, &a.parent, l, Tree::Parent);
    process(&mut rows, &a.grandparent, l, Tree::Grandparent);
    row(&mut rows, "IPs", list(&a.ips, l.list, ID_CAP, true));
    row(&mut rows, "Domains", list(&a.domains, l.list, l.cell, true));
    row(
        &mut rows,
        "Other hashes",
        list(&a.hashes, l.list, ID_CAP, true),
    );
    let connections: Vec<String> = a
        .connections
        .iter()
        .map(|c| {
            let mut s = c.remote_ip.clone();
            if let Some(port) = c.remote_port {
                s.push_str(&format!(" port {port}"));
            }
            if let Some(proto) = &c.protocol {
                s.push_str(&format!(" {proto}"));
            }
            if let Some(local) = &c.local_ip {
                s.push_str(&format!(" from {local}"));
            }
            s
        })
        .collect();
    row(
        &mut rows,
        "Connections",
        list(&connections, l.list, l.cell, false),
    );
    row(
        &mut rows,
        "IOC",
        a.ioc.as_ref().map(|i| {
            format!(
                "{}: {}",
                cell(&i.kind, 100),
                code_cell(&i.value, l.cell.max(ID_CAP))
            )
        }),
    );
    row(&mut rows, "Alert id", Some(code_cell(&a.id, ID_CAP)));
    row(&mut rows, "Pattern id", id(&a.pattern_id));
    row(&mut rows, "Customer id", id(&a.cid));
    rows
}

#[derive(Clone, Copy)]
enum Tree {
    Own,
    Parent,
    Grandparent,
}

fn process(rows: &mut Vec<Value>, p: &Process, l: &Limits, tree: Tree) {
    if p.is_empty() {
        return;
    }
    let (image, cmd, sha, md5, pid, cmd_cap) = match tree {
        Tree::Own => (
            "Process",
            "Command line",
            "SHA-256",
            "MD5",
            "Process id",
            l.command_line,
        ),
        Tree::Parent => (
            "Parent process",
            "Parent command line",
            "Parent SHA-256",
            "Parent MD5",
            "Parent process id",
            l.command_line / 2,
        ),
        Tree::Grandparent => (
            "Grandparent process",
            "Grandparent command line",
            "Grandparent SHA-256",
            "Grandparent MD5",
            "Grandparent process id",
            l.command_line / 2,
        ),
    };
    // The image: Falcon's FilePath is sometimes the whole path, sometimes
    // only the directory (EPP detections), so join it with the name.
    let shown = match (&p.file_path, &p.file_name) {
        (Some(path), Some(name)) => Some(code_cell(&image_path(path, name), l.path)),
        (Some(path), None) => Some(code_cell(path, l.path)),
        (None, Some(name)) => Some(code_cell(name, l.path)),
        (None, None) => None,
    };
    row(rows, image, shown);
    row(
        rows,
        cmd,
        p.command_line.as_deref().map(|c| code_cell(c, cmd_cap)),
    );
    row(rows, sha, p.sha256.as_deref().map(|s| code_cell(s, ID_CAP)));
    row(rows, md5, p.md5.as_deref().map(|s| code_cell(s, ID_CAP)));
    row(
        rows,
        pid,
        p.process_id.as_deref().map(|s| code_cell(s, ID_CAP)),
    );
}

/// Host, domain and account names: letters, digits and `.-_@$\\`, no spaces.
fn looks_like_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '$' | '\\'))
}

fn image_path(path: &str, name: &str) -> String {
    if path.to_lowercase().ends_with(&name.to_lowercase()) {
        path.to_owned()
    } else if path.ends_with('\\') || path.ends_with('/') {
        format!("{path}{name}")
    } else if path.contains('\\') {
        format!("{path}\\{name}")
    } else {
        format!("{path}/{name}")
    }
}

fn sections(e: &Enrichment, l: &Limits) -> Vec<Value> {
    e.sections.iter().map(|s| section(s, l)).collect()
}

fn section(s: &Section, l: &Limits) -> Value {
    let mut map = BTreeMap::new();
    map.insert("provider", Value::from(s.provider.as_str()));
    map.insert("title", Value::from(s.title.as_str()));
    map.insert("status", Value::from(s.status.as_str()));
    map.insert("reason", Value::from(s.status.reason()));
    let available = s.status == Status::Available;
    let (table, omitted_rows) = if available {
        table(&s.table, l)
    } else {
        (None, 0)
    };
    map.insert("table", safe_opt(table));
    map.insert("omitted_rows", Value::from(omitted_rows));
    let notes: Vec<Value> = if available {
        s.notes
            .iter()
            .take(l.notes)
            .map(|n| Value::from_safe_string(sanitize::text(n, l.cell)))
            .collect()
    } else {
        Vec::new()
    };
    let omitted_notes = if available {
        s.notes.len() - notes.len()
    } else {
        0
    };
    map.insert("notes", Value::from(notes));
    map.insert("omitted_notes", Value::from(omitted_notes));
    Value::from(map)
}

/// A GFM table of at most `l.rows` rows (`None` when there is none to show)
/// and how many rows were left out.
fn table(t: &Table, l: &Limits) -> (Option<String>, usize) {
    let width = t
        .rows
        .iter()
        .map(Vec::len)
        .chain([t.columns.len()])
        .max()
        .unwrap_or(0)
        .min(MAX_COLUMNS);
    let shown = t.rows.len().min(l.rows);
    if width == 0 || shown == 0 {
        return (None, t.rows.len());
    }
    let line = |cells: &[String]| {
        let mut s = String::from("|");
        for i in 0..width {
            s.push(' ');
            s.push_str(
                &cells
                    .get(i)
                    .map_or_else(|| sanitize::EMPTY_CELL.to_owned(), |c| cell(c, l.cell)),
            );
            s.push_str(" |");
        }
        s
    };
    let mut out = line(&t.columns);
    out.push('\n');
    out.push('|');
    out.push_str(&" --- |".repeat(width));
    for r in &t.rows[..shown] {
        out.push('\n');
        out.push_str(&line(r));
    }
    (Some(out), t.rows.len() - shown)
}

fn safe_opt(s: Option<String>) -> Value {
    s.map_or(Value::from(()), Value::from_safe_string)
}

/// A serialisable value as a template value (plain, never safe).
pub fn to_value<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).map_or(Value::from(()), |v| json(&v))
}

fn json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .unwrap_or_else(|| Value::from(n.as_f64().unwrap_or(f64::NAN))),
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => Value::from(items.iter().map(json).collect::<Vec<_>>()),
        serde_json::Value::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), json(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}
