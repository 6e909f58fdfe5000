//! The directory's files, parsed: users (name → display name, department, manager, Slack id,
//! email, privileged) and assets (hostname or `aid` → owner, team, criticality, business unit)
//! from CSV (a header row names the columns, in any order and case; unknown columns are
//! ignored) or JSON (an array of objects with the same keys), indexed for matching:
//! case-insensitive, user names normalised (`CORP\jdoe`, `jdoe@corp.example.com` and `jdoe` are
//! one user), host names with or without their domain.
//!
//! A row that cannot be read (no name, a `privileged` that is not a yes/no, an unknown
//! criticality, bytes that are not UTF-8) is skipped and reported with its line number; only a
//! file without the key column, or JSON that is not an array, fails as a whole. Pure: no I/O.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// How a directory file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Csv,
    Json,
}

impl Format {
    /// From the file name's extension (`.csv`, `.json`).
    pub(super) fn of(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(Format::Csv)
        } else if lower.ends_with(".json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

/// One person or service account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(super) struct UserRecord {
    pub name: String,
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub manager: Option<String>,
    pub slack_id: Option<String>,
    pub email: Option<String>,
    /// `None`: the file does not say.
    pub privileged: Option<bool>,
}

/// How much a host matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Criticality {
    Low,
    Medium,
    High,
    Critical,
}

impl Criticality {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Criticality::Low => "low",
            Criticality::Medium => "medium",
            Criticality::High => "high",
            Criticality::Critical => "critical",
        }
    }

    fn parse(s: &str) -> Option<Criticality> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Criticality::Low),
            "medium" => Some(Criticality::Medium),
            "high" => Some(Criticality::High),
            "critical" => Some(Criticality::Critical),
            _ => None,
        }
    }
}

/// One host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(super) struct AssetRecord {
    pub hostname: Option<String>,
    pub aid: Option<String>,
    pub owner: Option<String>,
    pub team: Option<String>,
    pub criticality: Option<Criticality>,
    pub business_unit: Option<String>,
}

/// A row that was skipped: its 1-based line (CSV) or entry (JSON) number and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BadRow {
    pub line: u64,
    pub reason: String,
}

/// A file's rows, indexed.
#[derive(Debug, Default)]
pub(super) struct Index {
    users: HashMap<String, Arc<UserRecord>>,
    assets_by_aid: HashMap<String, Arc<AssetRecord>>,
    assets_by_host: HashMap<String, Arc<AssetRecord>>,
    pub rows: usize,
    pub bad: Vec<BadRow>,
}

/// `CORP\jdoe`, `jdoe@corp.example.com`, ` JDoe ` → `jdoe`; empty → `None`.
pub(super) fn user_key(name: &str) -> Option<String> {
    let name = name.trim();
    let name = name.rsplit('\\').next().unwrap_or(name);
    let name = name.split('@').next().unwrap_or(name);
    let key = name.trim().to_lowercase();
    (!key.is_empty()).then_some(key)
}

/// Host names match case-insensitively, without a trailing dot.
fn host_key(name: &str) -> Option<String> {
    let key = name.trim().trim_end_matches('.').to_lowercase();
    (!key.is_empty()).then_some(key)
}

impl Index {
    pub(super) fn user(&self, name: &str) -> Option<&Arc<UserRecord>> {
        self.users.get(&user_key(name)?)
    }

    /// By `aid` first, then by full host name, then by its first label
    /// (`wks-acct-0042.corp.example.com` finds `WKS-ACCT-0042`).
    pub(super) fn asset(
        &self,
        aid: Option<&str>,
        hostname: Option<&str>,
    ) -> Option<&Arc<AssetRecord>> {
        if let Some(found) = aid
            .and_then(host_key)
            .and_then(|k| self.assets_by_aid.get(&k))
        {
            return Some(found);
        }
        let key = hostname.and_then(host_key)?;
        self.assets_by_host.get(&key).or_else(|| {
            let short = key.split('.').next()?;
            self.assets_by_host.get(short)
        })
    }

    fn add_user(&mut self, user: UserRecord) {
        let user = Arc::new(user);
        if let Some(k) = user_key(&user.name) {
            self.users.insert(k, user.clone());
        }
        // The e-mail's local part finds the user too, unless it names someone else.
        if let Some(k) = user.email.as_deref().and_then(user_key) {
            self.users.entry(k).or_insert(user);
        }
        self.rows += 1;
    }

    fn add_asset(&mut self, asset: AssetRecord) {
        let asset = Arc::new(asset);
        if let Some(k) = asset.aid.as_deref().and_then(host_key) {
            self.assets_by_aid.insert(k, asset.clone());
        }
        if let Some(k) = asset.hostname.as_deref().and_then(host_key) {
            if let Some((short, _)) = k.split_once('.') {
                self.assets_by_host
                    .entry(short.to_owned())
                    .or_insert(asset.clone());
            }
            self.assets_by_host.insert(k, asset);
        }
        self.rows += 1;
    }
}

/// Which file a parse is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Users,
    Assets,
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Assets => "assets",
        }
    }
}

/// A row's fields by (normalised) column name.
type Fields = HashMap<String, String>;

fn column(name: &str) -> String {
    name.trim()
        .trim_start_matches('\u{feff}')
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
}

fn get(fields: &Fields, key: &str) -> Option<String> {
    fields
        .get(key)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn yes_no(v: &str) -> Option<Option<bool>> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" => Some(None),
        "true" | "yes" | "y" | "1" => Some(Some(true)),
        "false" | "no" | "n" | "0" => Some(Some(false)),
        _ => None,
    }
}

fn user_row(fields: &Fields) -> Result<UserRecord, String> {
    let name = get(fields, "name").ok_or("no name")?;
    let privileged = match fields.get("privileged") {
        Some(v) => yes_no(v).ok_or_else(|| format!("privileged {v:?} is not true or false"))?,
        None => None,
    };
    Ok(UserRecord {
        name,
        display_name: get(fields, "display_name"),
        department: get(fields, "department"),
        manager: get(fields, "manager"),
        slack_id: get(fields, "slack_id"),
        email: get(fields, "email"),
        privileged,
    })
}

fn asset_row(fields: &Fields) -> Result<AssetRecord, String> {
    let hostname = get(fields, "hostname");
    let aid = get(fields, "aid");
    if hostname.is_none() && aid.is_none() {
        return Err("neither hostname nor aid".into());
    }
    let criticality = match get(fields, "criticality") {
        Some(c) => Some(
            Criticality::parse(&c)
                .ok_or_else(|| format!("criticality {c:?} is not low, medium, high or critical"))?,
        ),
        None => None,
    };
    Ok(AssetRecord {
        hostname,
        aid,
        owner: get(fields, "owner"),
        team: get(fields, "team"),
        criticality,
        business_unit: get(fields, "business_unit"),
    })
}

fn add_row(index: &mut Index, kind: Kind, line: u64, fields: &Fields) {
    let added = match kind {
        Kind::Users => user_row(fields).map(|u| index.add_user(u)),
        Kind::Assets => asset_row(fields).map(|a| index.add_asset(a)),
    };
    if let Err(reason) = added {
        index.bad.push(BadRow { line, reason });
    }
}

/// Parses a whole file. `Err` only when nothing can be read from it.
pub(super) fn parse(kind: Kind, format: Format, bytes: &[u8]) -> Result<Index, String> {
    match format {
        Format::Csv => parse_csv(kind, bytes),
        Format::Json => parse_json(kind, bytes),
    }
}

fn parse_csv(kind: Kind, bytes: &[u8]) -> Result<Index, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let headers = reader
        .byte_headers()
        .map_err(|e| format!("header row: {e}"))?
        .iter()
        .map(|h| column(&String::from_utf8_lossy(h)))
        .collect::<Vec<_>>();
    let has = |c: &str| headers.iter().any(|h| h == c);
    let keyed = match kind {
        Kind::Users => has("name"),
        Kind::Assets => has("hostname") || has("aid"),
    };
    if !keyed {
        return Err(match kind {
            Kind::Users => "the header row has no \"name\" column".to_owned(),
            Kind::Assets => {
                "the header row has neither a \"hostname\" nor an \"aid\" column".to_owned()
            }
        });
    }
    let mut index = Index::default();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, csv::Position::line);
                index.bad.push(BadRow {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        }
        let line = record.position().map_or(line, csv::Position::line);
        let mut fields = Fields::new();
        let mut utf8 = true;
        for (h, v) in headers.iter().zip(record.iter()) {
            match std::str::from_utf8(v) {
                Ok(v) => {
                    fields.insert(h.clone(), v.to_owned());
                }
                Err(_) => utf8 = false,
            }
        }
        if !utf8 {
            index.bad.push(BadRow {
                line,
                reason: "not UTF-8".into(),
            });
            continue;
        }
        add_row(&mut index, kind, line, &fields);
    }
    Ok(index)
}

fn parse_json(kind: Kind, bytes: &[u8]) -> Result<Index, String> {
    let entries: Vec<serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON array of objects: {e}"))?;
    let mut index = Index::default();
    for (i, entry) in entries.iter().enumerate() {
        let line = i as u64 + 1;
        let Some(object) = entry.as_object() else {
            index.bad.push(BadRow {
                line,
                reason: "not an object".into(),
            });
            continue;
        };
        let mut fields = Fields::new();
        let mut bad = None;
        for (k, v) in object {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Null => String::new(),
                _ => {
                    bad = Some(format!("{k} is not a string, number or boolean"));
                    continue;
                }
            };
            fields.insert(column(k), text);
        }
        match bad {
            Some(reason) => index.bad.push(BadRow { line, reason }),
            None => add_row(&mut index, kind, line, &fields),
        }
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_normalised() {
        for n in [
            "jdoe",
            "CORP\\jdoe",
            "jdoe@corp.example.com",
            " JDoe ",
            "corp.example.com\\JDOE",
        ] {
            assert_eq!(user_key(n).as_deref(), Some("jdoe"), "{n}");
        }
        assert_eq!(user_key(" "), None);
        assert_eq!(user_key("CORP\\"), None);
    }

    #[test]
    fn csv_rows_in_any_column_order_with_bad_rows_reported_by_line() {
        let text = "\u{feff}Email,Name,Privileged,Department,Slack ID,extra\n\
            jdoe@corp.example.com,jdoe,yes,Finance,U1,x\n\
            ,,no,Sales,,\n\
            \"Doe, Ann\",adoe,maybe,IT,,\n\
            mike@corp.example.com,m.smith,,Legal\n\
            ";
        let index = parse(Kind::Users, Format::Csv, text.as_bytes()).unwrap();
        assert_eq!(index.rows, 2);
        assert_eq!(
            index.bad,
            [
                BadRow {
                    line: 3,
                    reason: "no name".into()
                },
                BadRow {
                    line: 4,
                    reason: "privileged \"maybe\" is not true or false".into()
                },
            ]
        );
        let j = index.user("CORP\\JDoe").unwrap();
        assert_eq!(j.privileged, Some(true));
        assert_eq!(j.department.as_deref(), Some("Finance"));
        assert_eq!(j.slack_id.as_deref(), Some("U1"));
        assert_eq!(
            index.user("mike").unwrap().name,
            "m.smith",
            "found by e-mail"
        );
        assert_eq!(
            index.user("m.smith@corp.example.com").unwrap().privileged,
            None
        );
        assert!(index.user("nobody").is_none());
    }

    #[test]
    fn a_file_without_its_key_column_fails_whole() {
        let err = parse(Kind::Users, Format::Csv, b"user,email\njdoe,x\n").unwrap_err();
        assert!(err.contains("no \"name\" column"), "{err}");
        let err = parse(Kind::Assets, Format::Csv, b"owner\nx\n").unwrap_err();
        assert!(err.contains("hostname"), "{err}");
        let err = parse(Kind::Users, Format::Json, b"{\"users\": []}").unwrap_err();
        assert!(err.starts_with("not a JSON array"), "{err}");
    }

    #[test]
    fn assets_match_by_aid_then_host_name_with_or_without_domain() {
        let text = "hostname,aid,owner,team,criticality,business_unit\n\
            WKS-ACCT-0042,67E393BBA98EC2EAF28CC40F087D3DC2,t.ferreira,Accounting,High,Finance\n\
            srv-db01.corp.example.com,,dba,Infra,critical,IT\n\
            ,,x,,,\n\
            WKS-2,,x,,urgent,\n\
            WKS-3,,x,,,\n";
        let index = parse(Kind::Assets, Format::Csv, text.as_bytes()).unwrap();
        assert_eq!(index.rows, 3);
        assert_eq!(index.bad.iter().map(|b| b.line).collect::<Vec<_>>(), [4, 5]);
        let by_aid = index
            .asset(Some("67e393bba98ec2eaf28cc40f087d3dc2"), Some("other"))
            .unwrap();
        assert_eq!(by_aid.criticality, Some(Criticality::High));
        assert_eq!(
            index
                .asset(None, Some("wks-acct-0042.corp.example.com"))
                .unwrap()
                .owner
                .as_deref(),
            Some("t.ferreira")
        );
        assert_eq!(
            index.asset(None, Some("SRV-DB01")).unwrap().criticality,
            Some(Criticality::Critical)
        );
        assert!(index.asset(Some("ffff"), Some("nowhere")).is_none());
        assert_eq!(index.asset(None, Some("wks-3")).unwrap().criticality, None);
    }

    #[test]
    fn json_entries_with_bad_ones_reported_by_position() {
        let text = r#"[
            {"name": "jdoe", "privileged": true, "display_name": "J. Doe"},
            {"name": "x", "privileged": "sometimes"},
            "not an object",
            {"name": "y", "department": {"nested": 1}},
            {"Name": "Svc-Backup", "Privileged": "yes"}
        ]"#;
        let index = parse(Kind::Users, Format::Json, text.as_bytes()).unwrap();
        assert_eq!(index.rows, 2);
        assert_eq!(
            index.bad.iter().map(|b| b.line).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        assert_eq!(
            index.user("jdoe").unwrap().display_name.as_deref(),
            Some("J. Doe")
        );
        assert_eq!(index.user("svc-backup").unwrap().privileged, Some(true));
    }

    #[test]
    fn invalid_utf8_and_ragged_rows_never_panic() {
        let mut text = b"name,department\njdoe,Finance\n".to_vec();
        text.extend_from_slice(b"bad\xff,IT\n");
        text.extend_from_slice(b"short\n\"unterminated,x\n");
        let index = parse(Kind::Users, Format::Csv, &text).unwrap();
        assert!(index.user("jdoe").is_some());
        assert!(index.user("short").is_some(), "a missing column is empty");
        assert_eq!(
            index.bad[0],
            BadRow {
                line: 3,
                reason: "not UTF-8".into()
            }
        );
        assert!(Format::of("users.CSV") == Some(Format::Csv));
        assert!(Format::of("users.xlsx").is_none());
    }
}
