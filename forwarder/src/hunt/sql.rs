//! The Athena engine's SQL: which Parquet files of the `events` table may
//! hold a match. The indicators go in as a `VALUES` list (split into several
//! queries when one would pass [`MAX_SQL_BYTES`]), joined with the columns
//! the field rules name, in the `dt` partitions of the window. Each branch is
//! an equality join on a key that every true match shares (a hash in lower
//! case, a domain's last labels, an address's leading octets or group, a
//! file name's base), so the answer is a superset of the files holding
//! matches; the scan engine then reads those files alone and decides each
//! match by the same rules as everywhere else. The SQL never decides a match.
//!
//! The SQL is checked on DuckDB over the same Parquet (`deploy/athena/check.py
//! --query`, run by the forwarder's tests).

use super::scan::Window;
use crate::layout::table;
use falconry_detect::ioc::indicator::{self, Kind};
use falconry_detect::ioc::{Indicator, IndicatorSet};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Athena refuses a query string above 262,144 bytes; each query stays under this.
pub const MAX_SQL_BYTES: usize = 200_000;

/// The answer's one column: the Parquet file's URL (`"$path"`).
pub const PATH_COLUMN: &str = "path";

/// The queries of one hunt, and the indicators the SQL cannot narrow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HuntSql {
    pub queries: Vec<String>,
    /// Indicator ids and why they are not in any query (an IPv6 network
    /// wider than /8).
    pub unsupported: Vec<(String, &'static str)>,
}

/// One join key of the `VALUES` list: `(k, v)`.
type Key = (&'static str, String);

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Regular-expression text matching `s` literally.
fn regex_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.^$|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The last `n` labels of a domain.
fn last_labels(d: &str, n: usize) -> String {
    let labels: Vec<&str> = d.split('.').collect();
    labels[labels.len().saturating_sub(n)..].join(".")
}

/// The join keys an indicator needs; `Err` when the SQL cannot narrow it.
fn indicator_keys(
    i: &Indicator,
    command_line_urls: bool,
) -> Result<(Vec<Key>, Vec<String>), &'static str> {
    let v = i.value.clone();
    let mut keys: Vec<Key> = Vec::new();
    // Literal texts looked for in command lines.
    let mut texts: Vec<String> = Vec::new();
    match i.kind {
        Kind::Sha256 => keys.push(("sha256", v)),
        Kind::Sha1 => keys.push(("sha1", v)),
        Kind::Md5 => keys.push(("md5", v)),
        Kind::FileName => keys.push(("file", v)),
        Kind::Domain => {
            if i.subdomains {
                let labels = v.split('.').count();
                if labels >= 2 {
                    keys.push(("domain2", last_labels(&v, 2)));
                } else {
                    keys.push(("domain1", v.clone()));
                }
            } else {
                keys.push(("domain", format!("{v}.")));
                keys.push(("domain", v.clone()));
            }
            if command_line_urls {
                texts.push(longest_label(&v));
            }
        }
        Kind::Url => {
            let host = url::Url::parse(&v)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .ok_or("a URL without a host")?;
            texts.push(longest_label(host.trim_matches(['[', ']'])));
        }
        Kind::Ipv4 => keys.push(("ip", v)),
        // Any text of the address starts with its first group (RFC 5952
        // drops its leading zeros; Falcon writes that form).
        Kind::Ipv6 => match v.parse::<IpAddr>() {
            Ok(IpAddr::V6(a)) => keys.push(("net6", group(a.segments()[0]))),
            _ => return Err("an unreadable address"),
        },
        Kind::Cidr => {
            let c = indicator::cidr(&v).map_err(|_| "an unreadable network")?;
            match c.addr {
                IpAddr::V4(a) => {
                    let o = a.octets();
                    match c.prefix {
                        24.. => keys.push(("net3", format!("{}.{}.{}", o[0], o[1], o[2]))),
                        16..=23 => keys.push(("net2", format!("{}.{}", o[0], o[1]))),
                        8..=15 => keys.push(("net1", o[0].to_string())),
                        p => {
                            let span = 1u16 << (8 - p);
                            let first = u16::from(o[0]) & !(span - 1);
                            for b in first..first + span {
                                keys.push(("net1", b.to_string()));
                            }
                        }
                    }
                }
                IpAddr::V6(a) => {
                    let first = a.segments()[0];
                    match c.prefix {
                        16.. => keys.push(("net6", group(first))),
                        p @ 8..=15 => {
                            let span = 1u32 << (16 - p);
                            let start = u32::from(first) & !(span - 1);
                            for g in start..start + span {
                                keys.push(("net6", group(g as u16)));
                            }
                        }
                        _ => return Err("an IPv6 network wider than /8"),
                    }
                }
            }
        }
    }
    Ok((keys, texts))
}

/// An IPv6 address's first group as RFC 5952 text writes it (`""` for 0:
/// the text then starts with `::`).
fn group(g: u16) -> String {
    if g == 0 {
        String::new()
    } else {
        format!("{g:x}")
    }
}

fn longest_label(host: &str) -> String {
    host.split(['.', ':'])
        .max_by_key(|l| l.len())
        .unwrap_or(host)
        .to_lowercase()
}

/// `column` of a member of the events table, for SQL.
fn col(member: &str) -> Option<String> {
    super::scan::column_of(member).map(|c| format!("ev.{c}"))
}

/// The branches a query needs for `kinds` of keys (and command-line texts).
fn branches(kinds: &BTreeSet<&'static str>, texts: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut join = |k: &str, expr: String| {
        out.push(format!(
            "SELECT ev.path FROM ev JOIN ioc ON ioc.k = '{k}' AND ioc.v = {expr}"
        ));
    };
    for (k, member) in [
        ("sha256", "SHA256HashData"),
        ("sha1", "SHA1HashData"),
        ("md5", "MD5HashData"),
    ] {
        if kinds.contains(k)
            && let Some(c) = col(member)
        {
            join(k, format!("lower(trim({c}))"));
        }
    }
    if let Some(c) = col("DomainName") {
        let d = format!("lower(trim({c}))");
        if kinds.contains("domain") {
            join("domain", d.clone());
        }
        if kinds.contains("domain2") {
            join(
                "domain2",
                format!("regexp_extract({d}, '([^.]+\\.[^.]+)\\.?$', 1)"),
            );
        }
        if kinds.contains("domain1") {
            join("domain1", format!("regexp_extract({d}, '([^.]+)\\.?$', 1)"));
        }
    }
    for member in ["RemoteAddressIP4", "aip", "RemoteAddressIP6"] {
        let Some(c) = col(member) else { continue };
        let a = format!("lower(trim({c}))");
        if kinds.contains("ip") {
            join("ip", a.clone());
        }
        if kinds.contains("net3") {
            join(
                "net3",
                format!("regexp_extract({a}, '^([0-9]+\\.[0-9]+\\.[0-9]+)\\.', 1)"),
            );
        }
        if kinds.contains("net2") {
            join(
                "net2",
                format!("regexp_extract({a}, '^([0-9]+\\.[0-9]+)\\.', 1)"),
            );
        }
        if kinds.contains("net1") {
            join("net1", format!("regexp_extract({a}, '^([0-9]+)\\.', 1)"));
        }
        if kinds.contains("net6") {
            join("net6", format!("regexp_extract({a}, '^([0-9a-f]*):', 1)"));
        }
    }
    if kinds.contains("file") {
        for member in ["ImageFileName", "TargetFileName"] {
            if let Some(c) = col(member) {
                join(
                    "file",
                    format!("lower(regexp_extract(trim({c}), '[^/\\\\]*$'))"),
                );
            }
        }
    }
    if !texts.is_empty()
        && let Some(c) = col("CommandLine")
    {
        let pattern: Vec<String> = texts.iter().map(|t| regex_literal(t)).collect();
        out.push(format!(
            "SELECT ev.path FROM ev WHERE regexp_like(lower({c}), {})",
            quote(&pattern.join("|"))
        ));
    }
    out
}

/// The columns a query reads.
fn columns(kinds: &BTreeSet<&'static str>, texts: bool) -> Vec<String> {
    let mut members: Vec<&str> = Vec::new();
    for (k, m) in [
        ("sha256", "SHA256HashData"),
        ("sha1", "SHA1HashData"),
        ("md5", "MD5HashData"),
    ] {
        if kinds.contains(k) {
            members.push(m);
        }
    }
    if ["domain", "domain1", "domain2"]
        .iter()
        .any(|k| kinds.contains(k))
    {
        members.push("DomainName");
    }
    if ["ip", "net1", "net2", "net3", "net6"]
        .iter()
        .any(|k| kinds.contains(k))
    {
        members.extend(["RemoteAddressIP4", "aip", "RemoteAddressIP6"]);
    }
    if kinds.contains("file") {
        members.extend(["ImageFileName", "TargetFileName"]);
    }
    if texts {
        members.push("CommandLine");
    }
    members
        .into_iter()
        .filter_map(super::scan::column_of)
        .map(str::to_owned)
        .collect()
}

fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

/// One query over `keys` and `texts`.
fn query(database: &str, window: Window, keys: &[Key], texts: &[String], count: usize) -> String {
    let kinds: BTreeSet<&'static str> = keys.iter().map(|(k, _)| *k).collect();
    let mut sql = String::new();
    let _ = writeln!(
        sql,
        "-- falconry hunt: {count} indicator(s); the Parquet files of {} that may hold a match",
        table::EVENTS
    );
    sql.push_str("WITH ");
    if !keys.is_empty() {
        sql.push_str("ioc (k, v) AS (VALUES ");
        for (n, (k, v)) in keys.iter().enumerate() {
            if n > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "('{k}', {})", quote(v));
        }
        sql.push_str("),\n");
    }
    let cols = columns(&kinds, !texts.is_empty());
    let _ = write!(
        sql,
        "ev AS (SELECT \"$path\" AS path, {} FROM \"{database}\".\"{}\"",
        cols.join(", "),
        table::EVENTS
    );
    let mut conds = Vec::new();
    if let Some(s) = window.since_ms {
        conds.push(format!("dt >= '{}'", day(s)));
    }
    if let Some(u) = window.until_ms {
        conds.push(format!("dt <= '{}'", day(u)));
    }
    if !conds.is_empty() {
        let _ = write!(sql, " WHERE {}", conds.join(" AND "));
    }
    sql.push_str(")\n");
    let _ = write!(
        sql,
        "SELECT path, count(*) AS hits FROM (\n  {}\n) AS candidates\nGROUP BY path\nORDER BY path",
        branches(&kinds, texts).join("\n  UNION ALL\n  ")
    );
    sql
}

/// The queries of a hunt of `set` over `window` in `database`.
pub fn queries(set: &IndicatorSet, window: Window, database: &str) -> HuntSql {
    let mut out = HuntSql::default();
    // Grouped so that each query stays under the size bound.
    let mut keys: Vec<Key> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut count = 0usize;
    let mut size = 0usize;
    let flush =
        |keys: &mut Vec<Key>, texts: &mut Vec<String>, count: &mut usize, out: &mut HuntSql| {
            if *count > 0 && (!keys.is_empty() || !texts.is_empty()) {
                texts.sort();
                texts.dedup();
                out.queries
                    .push(query(database, window, keys, texts, *count));
            }
            keys.clear();
            texts.clear();
            *count = 0;
        };
    for i in set.indicators() {
        let (k, t) = match indicator_keys(i, set.command_line_urls) {
            Ok(kt) => kt,
            Err(why) => {
                out.unsupported.push((i.id(), why));
                continue;
            }
        };
        let add: usize = k.iter().map(|(_, v)| v.len() + 16).sum::<usize>()
            + t.iter().map(|t| t.len() + 2).sum::<usize>();
        if size + add > MAX_SQL_BYTES - 8_192 && count > 0 {
            flush(&mut keys, &mut texts, &mut count, &mut out);
            size = 0;
        }
        size += add;
        keys.extend(k);
        texts.extend(t);
        count += 1;
    }
    flush(&mut keys, &mut texts, &mut count, &mut out);
    out
}
