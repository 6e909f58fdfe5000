#!/usr/bin/env python3
"""Generates docs/configuration.md from the configuration structs' source:
every field of every section, its type and its doc comment (which states the
unit and the default). `tests/config_reference.rs` runs this with --check, so
the reference cannot drift from the code.

Usage: scripts/config_reference.py [--check]   (run from the repository root)
"""
import re
import sys
from pathlib import Path

# (section, file, struct): the order of the reference.
SECTIONS = [
    ("log", "common/src/telemetry/logging.rs", "LogSettings"),
    ("admin", "common/src/telemetry/admin.rs", "AdminSettings"),
    ("forwarder", "forwarder/src/config.rs", "ForwarderConfig"),
    ("forwarder.source_aws", "forwarder/src/config.rs", "SourceAws"),
    ("streamer", "streamer/src/config.rs", "StreamerConfig"),
    ("detect", "detect/src/config.rs", "DetectConfig"),
    ("enricher", "enricher/src/config.rs", "EnricherConfig"),
    ("enricher.github", "enricher/src/config.rs", "GitHubConfig"),
    ("enricher.slack", "enricher/src/config.rs", "SlackConfig"),
    ("enricher.context", "enricher/src/context/config.rs", "ContextConfig"),
    ("enricher.context.dns", "enricher/src/context/dns.rs", "DnsConfig"),
    ("enricher.context.geoip", "enricher/src/context/geoip.rs", "GeoIpConfig"),
    ("enricher.context.directory", "enricher/src/context/directory.rs", "DirectoryConfig"),
    ("enricher.context.falcon_host", "enricher/src/context/falcon_host.rs", "FalconHostConfig"),
    ("enricher.context.intel", "enricher/src/context/intel/mod.rs", "IntelConfig"),
    ("enricher.context.history", "enricher/src/context/history/config.rs", "HistoryConfig"),
    ("enricher.context.history.athena", "common/src/athena.rs", "AthenaConfig"),
    ("enricher.alerts", "enricher/src/response/config.rs", "AlertsConfig"),
    ("enricher.response", "enricher/src/response/config.rs", "ResponseConfig"),
    ("hunt", "forwarder/src/hunt/config.rs", "HuntConfig"),
    ("hunt.athena", "common/src/athena.rs", "AthenaConfig"),
]

# Fields that are sub-sections (documented as their own section).
SUBSECTION_TYPES = {s for _, _, s in SECTIONS}


def struct_fields(text, name):
    m = re.search(r"pub struct " + name + r"\s*\{", text)
    if not m:
        raise SystemExit(f"struct {name} not found")
    body, depth, i = [], 1, m.end()
    while depth:
        c = text[i]
        depth += c == "{"
        depth -= c == "}"
        body.append(c)
        i += 1
    fields, docs = [], []
    for line in "".join(body[:-1]).splitlines():
        s = line.strip()
        if s.startswith("///"):
            docs.append(s[3:].strip())
        elif s.startswith("#["):
            continue
        elif s.startswith("pub "):
            fm = re.match(r"pub (\w+):\s*(.+?),?$", s)
            if fm:
                fields.append((fm.group(1), fm.group(2).rstrip(","), " ".join(docs)))
            docs = []
        elif s and not s.startswith("//"):
            docs = []
    return fields


def toml_type(rust):
    t = rust.replace(" ", "")
    inner = re.sub(r"^Option<(.+)>$", r"\1", t)
    table = {
        "String": "string", "Secret": "string (secret)", "PathBuf": "path", "bool": "bool",
        "Duration": "duration (\"30s\", \"5m\")", "usize": "integer", "u64": "integer",
        "u32": "integer", "u16": "integer", "i64": "integer", "f64": "number",
        "Vec<String>": "list of strings", "Vec<PathBuf>": "list of paths",
        "LogFormat": "string", "ChecksumMode": "string", "DnsMode": "string",
        "HistoryBackend": "string", "EngineName": "string", "Start": "string or integer",
        "BTreeMap<String,String>": "table of strings",
        "BTreeMap<String,SlaConfig>": "table of `{ respond, close }` durations",
    }
    return table.get(inner, inner)


def generate():
    out = [
        "# Configuration reference",
        "",
        "Generated from the configuration structs by `scripts/config_reference.py`; the test suite",
        "checks it matches the code. One TOML file configures every daemon (see",
        "[`deploy/config/falconry.toml`](../deploy/config/falconry.toml)); every key can also be set",
        "from the environment as `FALCONRY__<SECTION>__<KEY>` (sections and keys upper-cased, dots as",
        "`__`, e.g. `FALCONRY__ENRICHER__GITHUB__TOKEN`), and the common ones by command-line flags,",
        "which win. Unknown keys are errors; `falconry check-config` lists every problem at once.",
        "",
    ]
    for section, path, struct in SECTIONS:
        fields = struct_fields(Path(path).read_text(), struct)
        out.append(f"## `[{section}]`")
        out.append("")
        out.append(f"From `{struct}` in [`{path}`](../{path}).")
        out.append("")
        out.append("| Key | Type | Meaning |")
        out.append("| --- | --- | --- |")
        for name, rust, doc in fields:
            bare = re.sub(r"^Option<(.+)>$", r"\1", rust.replace(" ", ""))
            if bare in SUBSECTION_TYPES:
                continue
            doc = doc.replace("|", "\\|") or "—"
            out.append(f"| `{name}` | {toml_type(rust)} | {doc} |")
        out.append("")
    return "\n".join(out)


def main():
    text = generate()
    target = Path("docs/configuration.md")
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            sys.stderr.write("docs/configuration.md is stale: run scripts/config_reference.py\n")
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
