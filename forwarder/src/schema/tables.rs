//! The tables and their typed columns: the single source of truth for the
//! Parquet schema the converter writes, the Athena DDL, the Glue tables and
//! the column documentation. Columns were chosen from real FDR records: what
//! hunters filter and join on (process lineage, command lines, hashes, files,
//! DNS, network 4-tuples, logons, detections). Everything else stays, exactly,
//! in the catch-all columns `fields` and `fields_json`.
//!
//! Evolution rule: columns are only ever added (never renamed, retyped or
//! removed), and `SCHEMA_VERSION` is bumped. Athena reads Parquet by column
//! name, so older files show NULL in a new column and keep the member in
//! `fields`; `falconry forward replay` re-converts them.

use super::columns::Kind::{self, *};

/// Bumped whenever a column is added; written into every Parquet file's
/// key-value metadata as `falconry.schema_version`.
pub const SCHEMA_VERSION: u32 = 2;

/// `map<string,string>`: string members no typed column gives back exactly.
pub const FIELDS: &str = "fields";
/// A JSON object of the non-string members (numbers with their exact text).
pub const FIELDS_JSON: &str = "fields_json";

#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Column name (lower case snake, Athena-friendly).
    pub name: &'static str,
    /// The member of the JSON line it comes from.
    pub source: &'static str,
    pub kind: Kind,
    pub doc: &'static str,
}

const fn c(name: &'static str, source: &'static str, kind: Kind, doc: &'static str) -> Column {
    Column {
        name,
        source,
        kind,
        doc,
    }
}

/// How a member that gives a row's partition time is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// Epoch ms string/number, or ISO-8601.
    EpochMsOrIso,
    /// Epoch seconds with an optional fraction, e.g. `"1697992784.144"`.
    EpochSeconds,
}

#[derive(Debug)]
pub struct TableSchema {
    pub table: &'static str,
    pub doc: &'static str,
    pub columns: Vec<Column>,
    /// Members tried in order for a row's partition hour (empty: the notice's hour).
    pub time_sources: &'static [(&'static str, TimeFormat)],
    /// Rows are sorted by these columns within each file, so row-group
    /// statistics prune well.
    pub sort_by: &'static [&'static str],
}

/// Columns of every table.
const COMMON: &[Column] = &[
    c(
        "timestamp",
        "timestamp",
        EpochMs,
        "When the sensor or service recorded the record (UTC). Quote it in SQL: \"timestamp\".",
    ),
    c(
        "event_simplename",
        "event_simpleName",
        Text,
        "Event type, e.g. ProcessRollup2, DnsRequest.",
    ),
    c(
        "name",
        "name",
        Text,
        "Versioned event name, e.g. ProcessRollup2V19.",
    ),
    c(
        "event_platform",
        "event_platform",
        Text,
        "Sensor platform: Win, Mac, Lin.",
    ),
    c("aid", "aid", Text, "Agent (host) id, 32 hex."),
    c(
        "aip",
        "aip",
        Text,
        "External IP of the host as seen by the cloud.",
    ),
    c("cid", "cid", Text, "Customer id, 32 hex."),
    c("id", "id", Text, "Event id (UUID)."),
];

const EVENTS: &[Column] = &[
    // Process lineage: TargetProcessId of a process = ParentProcessId of its children.
    c(
        "context_timestamp",
        "ContextTimeStamp",
        Time,
        "When the event happened on the host (UTC).",
    ),
    c(
        "target_process_id",
        "TargetProcessId",
        U64,
        "Falcon's id of the process the event is about (UPID, u64).",
    ),
    c(
        "context_process_id",
        "ContextProcessId",
        U64,
        "Falcon's id of the process that caused the event (u64).",
    ),
    c(
        "parent_process_id",
        "ParentProcessId",
        U64,
        "TargetProcessId of the parent process (u64).",
    ),
    c(
        "source_process_id",
        "SourceProcessId",
        U64,
        "Falcon's id of the source process (u64).",
    ),
    c(
        "raw_process_id",
        "RawProcessId",
        U64,
        "The OS process id (u64).",
    ),
    c(
        "context_thread_id",
        "ContextThreadId",
        U64,
        "Falcon's id of the thread (u64).",
    ),
    c(
        "process_start_time",
        "ProcessStartTime",
        Time,
        "Process start (UTC).",
    ),
    c(
        "process_end_time",
        "ProcessEndTime",
        Time,
        "Process end (UTC).",
    ),
    c("command_line", "CommandLine", Text, "Full command line."),
    c(
        "image_file_name",
        "ImageFileName",
        Text,
        "Path of the process image.",
    ),
    c(
        "parent_base_file_name",
        "ParentBaseFileName",
        Text,
        "File name of the parent's image.",
    ),
    c(
        "grand_parent_base_file_name",
        "GrandParentBaseFileName",
        Text,
        "File name of the grandparent's image.",
    ),
    c(
        "context_base_file_name",
        "ContextBaseFileName",
        Text,
        "File name of the context process image.",
    ),
    c(
        "sha256_hash_data",
        "SHA256HashData",
        Hash,
        "SHA-256 of the image or file (all zeros → NULL).",
    ),
    c(
        "sha1_hash_data",
        "SHA1HashData",
        Hash,
        "SHA-1 of the image or file (all zeros → NULL).",
    ),
    c(
        "md5_hash_data",
        "MD5HashData",
        Hash,
        "MD5 of the image or file (all zeros → NULL).",
    ),
    c(
        "integrity_level",
        "IntegrityLevel",
        Int,
        "Windows integrity level of the process.",
    ),
    c("token_type", "TokenType", Int, "Windows token type."),
    c(
        "authentication_id",
        "AuthenticationId",
        U64,
        "Logon session (LUID) of the process.",
    ),
    c(
        "user_sid",
        "UserSid",
        Text,
        "SID of the user the process runs as.",
    ),
    c("uid", "UID", Int, "Unix user id."),
    // Files.
    c(
        "target_file_name",
        "TargetFileName",
        Text,
        "Path of the file written, read, renamed or deleted.",
    ),
    c("file_name", "FileName", Text, "File name (detections)."),
    c("file_path", "FilePath", Text, "File path (detections)."),
    c("size", "Size", Int, "Size in bytes."),
    // DNS.
    c(
        "domain_name",
        "DomainName",
        Text,
        "Domain asked for (DnsRequest).",
    ),
    c(
        "request_type",
        "RequestType",
        Int,
        "DNS record type (1 A, 28 AAAA, 5 CNAME, ...).",
    ),
    c(
        "ip4_records",
        "IP4Records",
        Text,
        "A records of the answer, separated by semicolons.",
    ),
    c(
        "cname_records",
        "CNAMERecords",
        Text,
        "CNAME records of the answer.",
    ),
    // Network.
    c(
        "local_address_ip4",
        "LocalAddressIP4",
        Text,
        "Local IPv4 address.",
    ),
    c(
        "local_address_ip6",
        "LocalAddressIP6",
        Text,
        "Local IPv6 address.",
    ),
    c("local_port", "LocalPort", Int, "Local port."),
    c(
        "remote_address_ip4",
        "RemoteAddressIP4",
        Text,
        "Remote IPv4 address.",
    ),
    c(
        "remote_address_ip6",
        "RemoteAddressIP6",
        Text,
        "Remote IPv6 address.",
    ),
    c("remote_port", "RemotePort", Int, "Remote port."),
    c(
        "protocol",
        "Protocol",
        Int,
        "IP protocol number (6 TCP, 17 UDP).",
    ),
    c(
        "connection_direction",
        "ConnectionDirection",
        Int,
        "0 outbound, 1 inbound, 2 neither.",
    ),
    // Logons and users.
    c("user_name", "UserName", Text, "User name."),
    c(
        "user_principal",
        "UserPrincipal",
        Text,
        "User principal name.",
    ),
    c("logon_domain", "LogonDomain", Text, "Logon domain."),
    c(
        "logon_type",
        "LogonType",
        Int,
        "Windows logon type (2 interactive, 3 network, 10 remote interactive, ...).",
    ),
    c("logon_time", "LogonTime", Time, "Logon time (UTC)."),
    c("logon_server", "LogonServer", Text, "Logon server."),
    c(
        "user_is_admin",
        "UserIsAdmin",
        Int,
        "1 when the user is an administrator.",
    ),
    c("computer_name", "ComputerName", Text, "Host name."),
    // Detection records.
    c(
        "composite_id",
        "CompositeId",
        Text,
        "Detection id (new style).",
    ),
    c(
        "aggregate_id",
        "AggregateId",
        Text,
        "Id of the aggregate (incident) the detection belongs to.",
    ),
    c(
        "agent_id",
        "AgentId",
        Text,
        "Host (aid) of a detection record.",
    ),
    c(
        "hostname",
        "Hostname",
        Text,
        "Host name of a detection record.",
    ),
    c(
        "detection_name",
        "Name",
        Text,
        "Detection name (detection records).",
    ),
    c(
        "severity",
        "Severity",
        Int,
        "Severity, 0-100 (detection records).",
    ),
    c(
        "severity_name",
        "SeverityName",
        Text,
        "Severity name (detection records).",
    ),
    c("tactic", "Tactic", Text, "MITRE ATT&CK tactic."),
    c("technique", "Technique", Text, "MITRE ATT&CK technique."),
    c("objective", "Objective", Text, "Falcon objective."),
    c(
        "pattern_id",
        "PatternId",
        Int,
        "Falcon behaviour pattern id.",
    ),
    c(
        "ioc_type",
        "IOCType",
        Text,
        "Type of the indicator that matched.",
    ),
    c(
        "ioc_value",
        "IOCValue",
        Text,
        "Value of the indicator that matched.",
    ),
    c(
        "parent_image_file_name",
        "ParentImageFileName",
        Text,
        "Parent image (detection records).",
    ),
    c(
        "parent_command_line",
        "ParentCommandLine",
        Text,
        "Parent command line (detection records).",
    ),
    c(
        "sha256_string",
        "SHA256String",
        Hash,
        "SHA-256 (detection records).",
    ),
    c("md5_string", "MD5String", Hash, "MD5 (detection records)."),
    c(
        "local_ip",
        "LocalIP",
        Text,
        "Local IP of the host (detection records).",
    ),
    c(
        "falcon_host_link",
        "FalconHostLink",
        Text,
        "Link to the detection in the Falcon console.",
    ),
];

const AIDMASTER: &[Column] = &[
    c("time", "Time", Time, "When the row was produced (UTC)."),
    c("computer_name", "ComputerName", Text, "Host name."),
    c(
        "machine_domain",
        "MachineDomain",
        Text,
        "Domain the machine belongs to.",
    ),
    c("ou", "OU", Text, "Organisational unit(s)."),
    c("site_name", "SiteName", Text, "AD site."),
    c("version", "Version", Text, "Operating system."),
    c(
        "product_type",
        "ProductType",
        Text,
        "1 workstation, 2 domain controller, 3 server.",
    ),
    c(
        "agent_version",
        "AgentVersion",
        Text,
        "Falcon sensor version.",
    ),
    c(
        "first_seen",
        "FirstSeen",
        Time,
        "When the sensor was first seen (UTC).",
    ),
    c(
        "agent_local_time",
        "AgentLocalTime",
        Time,
        "Host clock (UTC).",
    ),
    c(
        "system_manufacturer",
        "SystemManufacturer",
        Text,
        "Hardware manufacturer.",
    ),
    c(
        "system_product_name",
        "SystemProductName",
        Text,
        "Hardware model.",
    ),
    c("chassis_type", "ChassisType", Text, "Chassis type."),
    c("city", "City", Text, "City (GeoIP of aip)."),
    c("country", "Country", Text, "Country (GeoIP of aip)."),
    c("continent", "Continent", Text, "Continent (GeoIP of aip)."),
    c("timezone", "Timezone", Text, "Host time zone."),
    c(
        "falcon_grouping_tags",
        "FalconGroupingTags",
        Text,
        "Falcon grouping tags.",
    ),
    c(
        "sensor_grouping_tags",
        "SensorGroupingTags",
        Text,
        "Sensor grouping tags.",
    ),
    c(
        "host_hidden_status",
        "HostHiddenStatus",
        Text,
        "Visible or Hidden in the console.",
    ),
];

const USERINFO: &[Column] = &[
    c("time", "_time", Time, "When the row was produced (UTC)."),
    c(
        "user_sid_readable",
        "UserSid_readable",
        Text,
        "User SID (the key of this table).",
    ),
    c("user_name", "UserName", Text, "User name."),
    c("user", "User", Text, "Domain\\user."),
    c("account_type", "AccountType", Text, "Account type."),
    c(
        "last_logged_on_host",
        "LastLoggedOnHost",
        Text,
        "Host of the last logon.",
    ),
    c("local_admin_access", "LocalAdminAccess", Text, "Yes/No."),
    c("logon_info", "LogonInfo", Text, "Logon kind."),
    c("logon_time", "LogonTime", Time, "Last logon (UTC)."),
    c("logon_type", "LogonType", Text, "Logon type name."),
    c(
        "password_last_set",
        "PasswordLastSet",
        Time,
        "Password last set (UTC).",
    ),
    c(
        "user_is_admin",
        "UserIsAdmin",
        Int,
        "1 when the user is an administrator.",
    ),
];

const MANAGEDASSETS: &[Column] = &[
    c("time", "_time", Time, "When the row was produced (UTC)."),
    c("computer_name", "ComputerName", Text, "Host name."),
    c("mac", "MAC", Text, "MAC address."),
    c("mac_prefix", "MACPrefix", Text, "MAC vendor prefix."),
    c("gateway_ip", "GatewayIP", Text, "Default gateway."),
    c(
        "gateway_mac",
        "GatewayMAC",
        Text,
        "MAC address of the default gateway.",
    ),
    c(
        "interface_alias",
        "InterfaceAlias",
        Text,
        "Network interface.",
    ),
    c(
        "local_address_ip4",
        "LocalAddressIP4",
        Text,
        "Local IPv4 address.",
    ),
    c(
        "network_containment_state",
        "NetworkContainmentState",
        Text,
        "normal or contained.",
    ),
];

const NOTMANAGED: &[Column] = &[
    c("time", "_time", Time, "When the row was produced (UTC)."),
    c(
        "computer_name",
        "ComputerName",
        Text,
        "Host name of the unmanaged neighbour.",
    ),
    c(
        "current_local_ip",
        "CurrentLocalIP",
        Text,
        "Its current local IP.",
    ),
    c(
        "local_address_ip4",
        "LocalAddressIP4",
        Text,
        "Its local IPv4 addresses.",
    ),
    c("mac", "MAC", Text, "Its MAC address."),
    c("mac_prefix", "MACPrefix", Text, "MAC vendor prefix."),
    c(
        "neighbor_name",
        "NeighborName",
        Text,
        "Name seen by the discoverer.",
    ),
    c(
        "first_discovered_date",
        "FirstDiscoveredDate",
        Time,
        "First discovered (UTC).",
    ),
    c(
        "last_discovered_by",
        "LastDiscoveredBy",
        Text,
        "aid of the last discoverer.",
    ),
    c(
        "discoverer_aid",
        "discoverer_aid",
        Text,
        "aid of the discoverer.",
    ),
    c("subnet", "subnet", Text, "Subnet."),
];

const APPINFO: &[Column] = &[
    c("time", "_time", Time, "When the row was produced (UTC)."),
    c("app_name", "AppName", Text, "Application name."),
    c("app_vendor", "AppVendor", Text, "Vendor."),
    c("app_version", "AppVersion", Text, "Version."),
    c(
        "app_install_date",
        "AppInstallDate",
        Time,
        "Install date (UTC).",
    ),
    c("computer_name", "ComputerName", Text, "Host name."),
];

const EVENT_TIME: &[(&str, TimeFormat)] = &[
    ("timestamp", TimeFormat::EpochMsOrIso),
    ("ContextTimeStamp", TimeFormat::EpochSeconds),
];

/// Every table the forwarder writes, in a stable order, with its typed columns.
pub fn definitions() -> Vec<TableSchema> {
    let table = |table, doc, own: &[Column], time_sources, sort_by| TableSchema {
        table,
        doc,
        columns: COMMON.iter().chain(own).copied().collect(),
        time_sources,
        sort_by,
    };
    // Lookup data is a snapshot as of its delivery: partitioned by the notice's
    // hour, not scattered over the hours its rows mention.
    vec![
        table(
            "events",
            "Sensor events and detection records from FDR `data/`.",
            EVENTS,
            EVENT_TIME,
            &["event_simplename", "aid", "timestamp"],
        ),
        table(
            "aidmaster",
            "Hosts by `aid` (FDR `fdrv2/aidmaster`).",
            AIDMASTER,
            &[],
            &["aid", "time"],
        ),
        table(
            "userinfo",
            "Accounts by `user_sid_readable` (FDR `fdrv2/userinfo`).",
            USERINFO,
            &[],
            &["user_sid_readable", "time"],
        ),
        table(
            "managedassets",
            "Network facts of managed hosts (FDR `fdrv2/managedassets`).",
            MANAGEDASSETS,
            &[],
            &["aid", "time"],
        ),
        table(
            "notmanaged",
            "Unmanaged neighbours seen by sensors (FDR `fdrv2/notmanaged`).",
            NOTMANAGED,
            &[],
            &["computer_name", "time"],
        ),
        table(
            "appinfo",
            "Installed applications by host (FDR `fdrv2/appinfo`).",
            APPINFO,
            &[],
            &["aid", "app_name"],
        ),
        table(
            "lookup_other",
            "Lookup data of `fdrv2/` kinds this version does not know yet (lossless all the same).",
            &[],
            &[],
            &["aid"],
        ),
    ]
}
