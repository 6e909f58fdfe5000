//! The fingerprint of an alert: a hash of the configured fields (default:
//! detection pattern or name, host, main hash). Alerts with one fingerprint
//! within the window are one case: one issue, a comment per repeat.
//!
//! Pure.

use crate::alert::Alert;
use sha2::{Digest, Sha256};

/// A field the fingerprint can include.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The detection: its pattern id when it has one, else its name.
    Detection,
    /// Detection name only.
    Name,
    /// The host: aid, else hostname (lower case).
    Host,
    /// The user name (lower case).
    User,
    /// The main hash: the process's SHA-256, else the first hash or IOC the
    /// alert names. Empty for `rule` alerts: a rule's case on a host spans
    /// processes, so (rule, host) is one case by default.
    Hash,
    /// The command line of the process.
    CommandLine,
    /// The alert family (epp, idp, ...).
    Kind,
    /// The first MITRE technique.
    Technique,
    /// The customer id (for multi-tenant deployments).
    Cid,
}

impl Field {
    pub fn parse(s: &str) -> Option<Field> {
        Some(match s {
            "detection" => Field::Detection,
            "name" => Field::Name,
            "host" => Field::Host,
            "user" => Field::User,
            "hash" => Field::Hash,
            "command_line" => Field::CommandLine,
            "kind" => Field::Kind,
            "technique" => Field::Technique,
            "cid" => Field::Cid,
            _ => return None,
        })
    }

    pub const NAMES: &'static str =
        "detection, name, host, user, hash, command_line, kind, technique, cid";

    fn value(self, a: &Alert) -> String {
        let lower = |s: Option<&str>| s.unwrap_or("").to_lowercase();
        match self {
            Field::Detection => match &a.pattern_id {
                Some(p) => format!("pattern:{p}"),
                None => format!("name:{}", a.name),
            },
            Field::Name => a.name.clone(),
            Field::Host => lower(a.host.aid.as_deref().or(a.host.hostname.as_deref())),
            Field::User => lower(a.user.name.as_deref()),
            // A rule's or an indicator's case is (rule, host): the hash of
            // each matched binary must not split it.
            Field::Hash
                if matches!(
                    a.kind,
                    crate::alert::AlertKind::Rule | crate::alert::AlertKind::Ioc
                ) =>
            {
                String::new()
            }
            Field::Hash => lower(
                a.process
                    .sha256
                    .as_deref()
                    .or(a.hashes.first().map(String::as_str))
                    .or(a.ioc.as_ref().map(|i| i.value.as_str())),
            ),
            Field::CommandLine => a.process.command_line.clone().unwrap_or_default(),
            Field::Kind => a.kind.as_str().to_owned(),
            Field::Technique => lower(a.technique()),
            Field::Cid => lower(a.cid.as_deref()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Fingerprinter {
    fields: Vec<Field>,
}

impl Default for Fingerprinter {
    fn default() -> Self {
        Fingerprinter {
            fields: vec![Field::Detection, Field::Host, Field::Hash],
        }
    }
}

impl Fingerprinter {
    pub fn new(fields: Vec<Field>) -> Fingerprinter {
        Fingerprinter { fields }
    }

    /// 32 hex characters (128 bits of SHA-256).
    pub fn of(&self, alert: &Alert) -> String {
        let mut h = Sha256::new();
        for f in &self.fields {
            let v = f.value(alert);
            // Length-prefixed, so ("ab","c") and ("a","bc") differ.
            h.update((v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        }
        hex::encode(&h.finalize()[..16])
    }
}
