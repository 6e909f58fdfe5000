//! The mapping from Sigma to FDR: the one place that says which FDR events a
//! rule's `logsource` means and which FDR member each Sigma field name reads.
//! Documented for users in `docs/detections.md` (a test checks that every
//! category and field here is listed there).
//!
//! pySigma's `crowdstrike_fdr_pipeline` is the reference for which mappings
//! exist; the facts carry over, the code is our own. Where FDR holds less
//! than Sigma assumes, the mapping says how it is read:
//!
//! - `ParentImage` → `ParentBaseFileName`, a base name only: the value is read
//!   as `\WINWORD.EXE`, so `ParentImage|endswith: '\winword.exe'` matches and a
//!   rule that needs the parent's folder never does (`lint` warns).
//! - Paths are device paths (`\Device\HarddiskVolume3\Windows\...`): path
//!   fields are read both as they are and with the volume written as `C:`, so
//!   rules written with drive letters match.
//! - Numbers are strings (`RemotePort: "4444"`): numeric rule values compare
//!   as numbers against the string's value.
//! - `Hashes` is built from the hash members (`SHA1=…,MD5=…,SHA256=…`).
//!
//! Pure data and string functions.

/// A Sigma `logsource` category and the FDR events it means.
#[derive(Debug, PartialEq, Eq)]
pub struct Category {
    pub name: &'static str,
    pub events: &'static [&'static str],
    /// Sigma field → how it is read, for this category only (ahead of [`COMMON_FIELDS`]).
    pub fields: &'static [(&'static str, Source)],
}

/// How a Sigma field is read from an FDR event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// One member, as it is.
    Member(&'static str),
    /// A path member, read as it is and with `\Device\HarddiskVolumeN\` as `C:\`.
    Path(&'static str),
    /// A base-name member, read as `\<name>` (FDR keeps no folder).
    BaseName(&'static str),
    /// The first of these members the event has.
    FirstOf(&'static [&'static str]),
    /// `SHA1=…,MD5=…,SHA256=…` from the hash members present.
    Hashes,
    /// `RegObjectName` + `\` + `RegValueName`.
    RegistryTarget,
    /// `true` for outbound connections (`NetworkConnect…`), `false` for accepted ones.
    Initiated,
}

/// `Hashes` parts, in the order Sysmon writes them.
pub const HASH_MEMBERS: [(&str, &str); 3] = [
    ("SHA1", "SHA1HashData"),
    ("MD5", "MD5HashData"),
    ("SHA256", "SHA256HashData"),
];

/// The categories falconry can evaluate on FDR.
pub const CATEGORIES: &[Category] = &[
    Category {
        name: "process_creation",
        events: &["ProcessRollup2", "SyntheticProcessRollup2"],
        fields: &[],
    },
    Category {
        name: "network_connection",
        events: &[
            "NetworkConnectIP4",
            "NetworkConnectIP6",
            "NetworkReceiveAcceptIP4",
            "NetworkReceiveAcceptIP6",
        ],
        fields: &[],
    },
    Category {
        name: "dns_query",
        events: &["DnsRequest"],
        fields: &[],
    },
    Category {
        name: "image_load",
        events: &["ClassifiedModuleLoad", "ImageHash"],
        fields: &[
            ("ImageLoaded", Source::Path("ImageFileName")),
            ("Image", Source::Path("ContextImageFileName")),
        ],
    },
    Category {
        name: "driver_load",
        events: &["DriverLoad"],
        fields: &[("ImageLoaded", Source::Path("ImageFileName"))],
    },
    Category {
        name: "file_event",
        events: &[
            "NewExecutableWritten",
            "NewScriptWritten",
            "PeFileWritten",
            "GenericFileWritten",
            "ZipFileWritten",
            "OoxmlFileWritten",
            "PdfFileWritten",
            "JarFileWritten",
        ],
        fields: &[("Image", Source::Path("ContextImageFileName"))],
    },
    Category {
        name: "file_delete",
        events: &["FileDeleteInfo"],
        fields: &[("Image", Source::Path("ContextImageFileName"))],
    },
    Category {
        name: "registry_set",
        events: &[
            "AsepValueUpdate",
            "RegGenericValueUpdate",
            "RegSystemConfigValueUpdate",
        ],
        fields: &[],
    },
    Category {
        name: "registry_event",
        events: &[
            "AsepValueUpdate",
            "RegGenericValueUpdate",
            "RegSystemConfigValueUpdate",
            "RegKeyCreated",
            "RegValueDeleted",
        ],
        fields: &[],
    },
    Category {
        name: "registry_add",
        events: &["RegKeyCreated"],
        fields: &[],
    },
    Category {
        name: "registry_delete",
        events: &["RegValueDeleted", "RegKeyDeleted"],
        fields: &[],
    },
    Category {
        name: "ps_script",
        events: &["ScriptControlScanTelemetry", "CommandHistory"],
        fields: &[],
    },
];

/// Sigma fields every category reads the same way.
pub const COMMON_FIELDS: &[(&str, Source)] = &[
    // Processes.
    ("Image", Source::Path("ImageFileName")),
    ("CommandLine", Source::Member("CommandLine")),
    ("ParentImage", Source::BaseName("ParentBaseFileName")),
    ("OriginalFileName", Source::Member("OriginalFilename")),
    ("Product", Source::Member("ProductName")),
    ("Company", Source::Member("CompanyName")),
    ("Description", Source::Member("FileDescription")),
    ("ProcessId", Source::Member("RawProcessId")),
    ("User", Source::Member("UserName")),
    ("LogonId", Source::Member("AuthenticationId")),
    ("IntegrityLevel", Source::Member("IntegrityLevel")),
    ("Hashes", Source::Hashes),
    ("md5", Source::Member("MD5HashData")),
    ("sha1", Source::Member("SHA1HashData")),
    ("sha256", Source::Member("SHA256HashData")),
    ("Imphash", Source::Member("Imphash")),
    // Network.
    (
        "DestinationIp",
        Source::FirstOf(&["RemoteAddressIP4", "RemoteAddressIP6"]),
    ),
    ("DestinationPort", Source::Member("RemotePort")),
    (
        "SourceIp",
        Source::FirstOf(&["LocalAddressIP4", "LocalAddressIP6"]),
    ),
    ("SourcePort", Source::Member("LocalPort")),
    ("Protocol", Source::Member("Protocol")),
    ("Initiated", Source::Initiated),
    // DNS.
    ("QueryName", Source::Member("DomainName")),
    ("QueryResults", Source::Member("IP4Records")),
    // Files.
    ("TargetFilename", Source::Path("TargetFileName")),
    // Registry.
    ("TargetObject", Source::RegistryTarget),
    (
        "Details",
        Source::FirstOf(&["RegStringValue", "RegNumericValue", "RegBinaryValue"]),
    ),
    // PowerShell.
    (
        "ScriptBlockText",
        Source::FirstOf(&["ScriptContent", "CommandHistory"]),
    ),
    // Hosts.
    ("ComputerName", Source::Member("ComputerName")),
    ("Computer", Source::Member("ComputerName")),
];

/// `logsource.product` → `event_platform`.
pub const PRODUCTS: [(&str, &str); 3] = [("windows", "Win"), ("linux", "Lin"), ("macos", "Mac")];

/// The `logsource` of rules written for FDR itself (`product: crowdstrike`,
/// `service: fdr`): any event, fields named as FDR names them.
pub const NATIVE_PRODUCT: &str = "crowdstrike";
pub const NATIVE_SERVICE: &str = "fdr";

/// FDR members a Sigma rule may also name directly.
pub const FDR_MEMBERS: &[&str] = &[
    "event_simpleName",
    "event_platform",
    "aid",
    "aip",
    "cid",
    "name",
    "timestamp",
    "ContextTimeStamp",
    "ComputerName",
    "ImageFileName",
    "CommandLine",
    "ParentBaseFileName",
    "GrandParentBaseFileName",
    "ContextBaseFileName",
    "ContextImageFileName",
    "TargetFileName",
    "UserName",
    "UserSid",
    "SHA256HashData",
    "MD5HashData",
    "SHA1HashData",
    "DomainName",
    "RemoteAddressIP4",
    "RemoteAddressIP6",
    "RemotePort",
    "LocalAddressIP4",
    "LocalAddressIP6",
    "LocalPort",
    "Protocol",
    "RegObjectName",
    "RegValueName",
    "RegStringValue",
    "ScriptContent",
    "CommandHistory",
    "RawProcessId",
    "TargetProcessId",
    "ParentProcessId",
    "ContextProcessId",
    "LogonType",
    "IntegrityLevel",
];

/// Event types falconry knows exist in FDR besides the categories' own; an
/// event of any other type is "unseen" (counted and logged once).
pub const KNOWN_EVENTS: &[&str] = &[
    "UserLogon",
    "UserLogonFailed2",
    "UserLogoff",
    "SyntheticProcessRollup2",
    "EndOfProcess",
    "ProcessBlocked",
    "NetworkListenIP4",
    "NetworkListenIP6",
    "NetworkCloseIP4",
    "FirewallSetRuleIP4",
    "AgentOnline",
    "AgentConnect",
    "SensorHeartbeat",
    "OsVersionInfo",
    "ConfigStateUpdate",
    "HostnameChanged",
    "ServiceStarted",
    "ScheduledTaskRegistered",
    "CriticalFileAccessed",
    "DirectoryCreate",
    "FileOpenInfo",
    "HttpRequest",
    "DmpFileWritten",
    "LFODownloadConfirmation",
    "ModuleBlockedEvent",
    "ProcessInjection",
    "InjectedThread",
    "SuspiciousDnsRequest",
    "UserIdentity",
    "UserAccountCreated",
    "UserAccountAddedToGroup",
    "RemovableMediaVolumeMounted",
    "CurrentSystemTags",
    "ResourceUtilization",
    "ChannelVersionRequired",
    "LocalIpAddressIP4",
    "LocalIpAddressIP6",
    "NeighborListIP4",
    "SmbClientShareOpenedEtw",
    "ActiveDirectoryAuthentication",
    "ActiveDirectoryServiceAccessRequest",
    "EppDetectionSummaryEvent",
    "DetectionSummaryEvent",
];

/// What a rule's `logsource` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// `None`: every event type (FDR-native rules).
    pub events: Option<Vec<&'static str>>,
    /// `event_platform` the events must have, if the rule names a product.
    pub platform: Option<&'static str>,
    pub category: Option<&'static Category>,
    /// Fields are FDR's own names (no Sigma mapping).
    pub native: bool,
}

/// The events a `logsource` means, or why it cannot be evaluated on FDR.
pub fn select(
    category: Option<&str>,
    product: Option<&str>,
    service: Option<&str>,
) -> Result<Selected, String> {
    let product = product.map(str::to_ascii_lowercase);
    if product.as_deref() == Some(NATIVE_PRODUCT) {
        return match service.map(str::to_ascii_lowercase).as_deref() {
            None | Some(NATIVE_SERVICE) => Ok(Selected {
                events: None,
                platform: None,
                category: None,
                native: true,
            }),
            Some(other) => Err(format!(
                "logsource service `{other}` of product crowdstrike: only `fdr` is read here"
            )),
        };
    }
    let platform = match product.as_deref() {
        None => None,
        Some(p) => Some(
            PRODUCTS
                .iter()
                .find(|(name, _)| *name == p)
                .map(|(_, platform)| *platform)
                .ok_or_else(|| {
                    format!(
                        "logsource product `{p}` is not in FDR (windows, linux, macos, crowdstrike)"
                    )
                })?,
        ),
    };
    let Some(category) = category else {
        return Err(match service {
            Some(s) => format!(
                "logsource service `{s}` (with no category) has no FDR events; use a category or product: crowdstrike"
            ),
            None => "logsource has no category: say which events the rule reads".to_owned(),
        });
    };
    let c = CATEGORIES
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(category))
        .ok_or_else(|| {
            format!("logsource category `{category}` has no FDR events in the mapping")
        })?;
    Ok(Selected {
        events: Some(c.events.to_vec()),
        platform,
        category: Some(c),
        native: false,
    })
}

/// The key a rule field is rewritten to at load (see [`Source::key`]), in
/// `selected`'s context, or `None` when the mapping cannot give it.
pub fn field(selected: &Selected, name: &str) -> Option<String> {
    if selected.native {
        // FDR's own names, whatever they are; the reserved prefix is ours.
        return (!name.starts_with(RESERVED)).then(|| name.to_owned());
    }
    if let Some(c) = selected.category
        && let Some((_, s)) = c.fields.iter().find(|(f, _)| *f == name)
    {
        return Some(s.key());
    }
    if let Some((_, s)) = COMMON_FIELDS.iter().find(|(f, _)| *f == name) {
        return Some(s.key());
    }
    FDR_MEMBERS.contains(&name).then(|| name.to_owned())
}

/// Keys of the sources that are not one member as it is.
pub const RESERVED: &str = "falconry:";

impl Source {
    /// The field name a rule is compiled with: a member's own name, or
    /// `falconry:<how>:<members>` (read back by [`Source::parse`]).
    pub fn key(&self) -> String {
        match self {
            Source::Member(m) => (*m).to_owned(),
            Source::Path(m) => format!("{RESERVED}path:{m}"),
            Source::BaseName(m) => format!("{RESERVED}base:{m}"),
            Source::FirstOf(ms) => format!("{RESERVED}first:{}", ms.join(",")),
            Source::Hashes => format!("{RESERVED}hashes"),
            Source::RegistryTarget => format!("{RESERVED}regtarget"),
            Source::Initiated => format!("{RESERVED}initiated"),
        }
    }
}

/// A compiled field name read back: how to read it from an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    Member(&'a str),
    Path(&'a str),
    BaseName(&'a str),
    /// Comma-separated members.
    FirstOf(&'a str),
    Hashes,
    RegistryTarget,
    Initiated,
}

impl<'a> Key<'a> {
    pub fn parse(key: &'a str) -> Key<'a> {
        let Some(rest) = key.strip_prefix(RESERVED) else {
            return Key::Member(key);
        };
        let (how, what) = rest.split_once(':').unwrap_or((rest, ""));
        match how {
            "path" => Key::Path(what),
            "base" => Key::BaseName(what),
            "first" => Key::FirstOf(what),
            "hashes" => Key::Hashes,
            "regtarget" => Key::RegistryTarget,
            "initiated" => Key::Initiated,
            _ => Key::Member(key),
        }
    }

    /// The FDR member a report names for this key (the first one read).
    pub fn member(&self) -> &'a str {
        match self {
            Key::Member(m) | Key::Path(m) | Key::BaseName(m) => m,
            Key::FirstOf(ms) => ms.split(',').next().unwrap_or(ms),
            Key::Hashes => "SHA256HashData",
            Key::RegistryTarget => "RegObjectName",
            Key::Initiated => "event_simpleName",
        }
    }
}

/// Every event type the mapping or the known list names.
pub fn is_known_event(event: &str) -> bool {
    static KNOWN: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    KNOWN
        .get_or_init(|| {
            KNOWN_EVENTS
                .iter()
                .chain(CATEGORIES.iter().flat_map(|c| c.events.iter()))
                .copied()
                .collect()
        })
        .contains(event)
}

/// `\Device\HarddiskVolumeN\rest` → `C:\rest`; other paths are `None`.
pub fn drive_letter_form(path: &str) -> Option<String> {
    let rest = strip_prefix_ci(path, "\\Device\\HarddiskVolume")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let rest = &rest[digits..];
    rest.starts_with('\\').then(|| format!("C:{rest}"))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_paths_read_with_a_drive_letter() {
        assert_eq!(
            drive_letter_form("\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe").as_deref(),
            Some("C:\\Windows\\System32\\cmd.exe")
        );
        assert_eq!(drive_letter_form("\\Device\\HarddiskVolume\\x"), None);
        assert_eq!(drive_letter_form("C:\\x"), None);
        assert_eq!(drive_letter_form("\\Device\\Harddisk"), None);
    }

    #[test]
    fn logsources() {
        let s = select(Some("process_creation"), Some("windows"), None).unwrap();
        assert_eq!(
            s.events.as_deref(),
            Some(&["ProcessRollup2", "SyntheticProcessRollup2"][..])
        );
        assert_eq!(s.platform, Some("Win"));
        assert!(select(Some("webserver"), None, None).is_err());
        assert!(select(None, Some("windows"), Some("security")).is_err());
        assert!(select(None, Some("aws"), None).is_err());
        assert!(
            select(None, Some("CrowdStrike"), Some("fdr"))
                .unwrap()
                .native
        );
        let s = select(Some("image_load"), None, None).unwrap();
        assert_eq!(
            field(&s, "ImageLoaded").as_deref(),
            Some("falconry:path:ImageFileName")
        );
        assert_eq!(
            Key::parse(&field(&s, "Image").unwrap()),
            Key::Path("ContextImageFileName")
        );
        assert_eq!(field(&s, "ParentCommandLine"), None);
        assert_eq!(field(&s, "aid").as_deref(), Some("aid"));
        let native = select(None, Some("crowdstrike"), None).unwrap();
        assert_eq!(
            field(&native, "AnyNewMember").as_deref(),
            Some("AnyNewMember")
        );
        assert_eq!(field(&native, "falconry:hashes"), None);
    }
}

#[cfg(test)]
mod doc_tests {
    use super::*;

    /// docs/detections.md lists every category, event, field and member here.
    #[test]
    fn the_user_documentation_lists_the_whole_mapping() {
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/detections.md"
        ))
        .unwrap();
        for c in CATEGORIES {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", c.name)))
                .unwrap_or_else(|| panic!("category {} missing", c.name));
            for e in c.events {
                assert!(row.contains(e), "{} of {} missing", e, c.name);
            }
            for (f, _) in c.fields {
                assert!(doc.contains(&format!("`{f}`")), "field {f} missing");
            }
        }
        for (f, _) in COMMON_FIELDS {
            assert!(doc.contains(&format!("`{f}`")), "field {f} missing");
        }
        for m in FDR_MEMBERS {
            assert!(doc.contains(m), "member {m} missing");
        }
        for (product, platform) in PRODUCTS {
            assert!(doc.contains(&format!("`{product}` → `{platform}`")));
        }
    }
}
