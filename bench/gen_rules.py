#!/usr/bin/env python3
"""Generate N Sigma rules for the detection benchmark (stdlib only, deterministic).

    python3 bench/gen_rules.py --out DIR --count 1000 [--seed 42]

Shaped like SigmaHQ's: most are Windows process_creation rules (an image suffix, command-line
fragments with contains/startswith/endswith/all/windash, sometimes a regex, a parent, a filter
with `not`, `1 of selection_*`), the rest network_connection (ports as numbers, CIDRs) and
dns_query (domain suffixes). Every rule names only fields the FDR mapping gives, so all load.
"""

from __future__ import annotations

import argparse
import random
import uuid
from pathlib import Path

EXES = [
    "powershell.exe", "pwsh.exe", "cmd.exe", "wscript.exe", "cscript.exe", "mshta.exe", "rundll32.exe",
    "regsvr32.exe", "certutil.exe", "bitsadmin.exe", "schtasks.exe", "at.exe", "wmic.exe", "net.exe",
    "net1.exe", "reg.exe", "sc.exe", "vssadmin.exe", "wevtutil.exe", "bcdedit.exe", "msiexec.exe",
    "installutil.exe", "regasm.exe", "regsvcs.exe", "msbuild.exe", "cmstp.exe", "odbcconf.exe",
    "forfiles.exe", "whoami.exe", "nltest.exe", "dsquery.exe", "tasklist.exe", "taskkill.exe",
    "netsh.exe", "curl.exe", "ftp.exe", "tar.exe", "expand.exe", "makecab.exe", "esentutl.exe",
    "ntdsutil.exe", "procdump.exe", "psexec.exe", "adfind.exe", "rclone.exe", "7z.exe", "winrar.exe",
]
PARENTS = ["winword.exe", "excel.exe", "powerpnt.exe", "outlook.exe", "explorer.exe", "services.exe",
           "svchost.exe", "wmiprvse.exe", "mshta.exe", "w3wp.exe", "sqlservr.exe", "java.exe"]
TOKENS = [
    "-enc", "-nop", "hidden", "bypass", "downloadstring", "iex", "invoke-expression", "frombase64string",
    "/create", "/sc", "minute", "delete", "shadows", "/quiet", "add", "/user:", "localgroup",
    "administrators", "-urlcache", "-split", "-f", "http://", "https://", "\\appdata\\", "\\temp\\",
    "\\users\\public\\", "comsvcs.dll", "minidump", "lsass", "sekurlsa", "/transfer", "/download",
    "advfirewall", "set", "off", "config", "start=", "disabled", "clear-log", "cl", "recoveryenabled",
    "no", "ifm", "create full", "-accepteula", "-ma", "copy", "--config", "a -p", "-hp", "/c",
    "echo", "| iex", "net.webclient", "start-process", "-windowstyle", "reg save", "hklm\\sam",
]
DOMAINS = [".duckdns.org", ".no-ip.org", ".ddns.net", ".ngrok.io", ".onion.ly", ".top", ".xyz",
           ".zip", ".mov", ".pastebin.com", ".transfer.sh", ".anonfiles.com", ".workers.dev"]


BS = "\\"


def q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def process_rule(r: random.Random) -> list[str]:
    lines = ["  selection_img:", "    Image|endswith:"]
    for exe in r.sample(EXES, r.randint(1, 3)):
        lines.append("      - " + q(BS + exe))
    kind = r.random()
    tokens = r.sample(TOKENS, r.randint(1, 4))
    if kind < 0.45:
        lines.append("  selection_cli:")
        lines.append("    CommandLine|contains:")
        lines += [f"      - {q(t)}" for t in tokens]
        cond = "all of selection_*"
    elif kind < 0.65:
        lines.append("  selection_cli:")
        lines.append("    CommandLine|contains|all:")
        lines += [f"      - {q(t)}" for t in r.sample(TOKENS, 2)]
        cond = "all of selection_*"
    elif kind < 0.8:
        lines.append("  selection_cli:")
        lines.append("    CommandLine|windash|contains:")
        lines += [f"      - {q(' -' + t.strip('-/ '))}" for t in tokens]
        cond = "all of selection_*"
    elif kind < 0.9:
        lines.append("  selection_cli:")
        pattern = "(?i)" + r.choice(["enc", "hidden", "bypass", "delete"]) + r"\s+\S{4,}"
        lines.append("    CommandLine|re: " + q(pattern))
        cond = "all of selection_*"
    else:
        lines.append("  selection_parent:")
        lines.append("    ParentImage|endswith:")
        lines += ["      - " + q(BS + p) for p in r.sample(PARENTS, 2)]
        cond = "all of selection_*"
    if r.random() < 0.5:
        lines.append("  filter_main:")
        lines.append("    Image|startswith:")
        folder = "C:" + BS + "Program Files" + BS + r.choice(["Microsoft", "Google", "Tanium", "Qualys"])
        lines.append("      - " + q(folder))
        cond = f"({cond}) and not filter_main"
    lines.append(f"  condition: {cond}")
    return ["logsource:", "  category: process_creation", "  product: windows", "detection:"] + lines


def network_rule(r: random.Random) -> list[str]:
    ports = r.sample([21, 22, 23, 445, 1337, 3389, 4444, 5555, 5900, 6667, 8080, 8443, 9001, 31337, 50050], 3)
    return ["logsource:", "  category: network_connection", "detection:", "  selection:",
            "    Initiated: 'true'", "    DestinationPort:"] + [f"      - {p}" for p in ports] + [
            "  filter:", "    DestinationIp|cidr:", "      - '10.0.0.0/8'", "      - '192.168.0.0/16'",
            "  condition: selection and not filter"]


def dns_rule(r: random.Random) -> list[str]:
    return ["logsource:", "  category: dns_query", "detection:", "  selection:",
            "    QueryName|endswith:"] + [f"      - {q(d)}" for d in r.sample(DOMAINS, 3)] + [
            "  condition: selection"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    r = random.Random(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    for old in a.out.glob("*.yml"):
        old.unlink()
    for i in range(a.count):
        pick = r.random()
        body = process_rule(r) if pick < 0.8 else network_rule(r) if pick < 0.9 else dns_rule(r)
        rid = uuid.UUID(int=r.getrandbits(128), version=4)
        text = "\n".join([f"title: Generated rule {i:04d}", f"id: {rid}", "status: experimental",
                          f"level: {r.choice(['low', 'medium', 'high'])}"] + body + ["falsepositives:", "  - Unknown", ""])
        (a.out / f"gen_{i:04d}.yml").write_text(text)


if __name__ == "__main__":
    main()
