#!/usr/bin/env python3
"""Fallback synthetic FDR corpus generator (stdlib only).

The benchmark normally generates its corpus with
`falconry fixtures corpus --out DIR --events N --files F --seed S`.
This script is only used when falconry is not built (BENCH_SKIP_FALCONRY=1)
or when BENCH_GENERATOR=python is set, and for testing the Python
converters. It writes F gzip NDJSON files DIR/part-00000.gz ... totalling N
events, shaped like CrowdStrike FDR: one flat JSON object per line, ~700
distinct keys across ~45 event types, sparse per-type keys, string values,
occasional long command lines.

Test-only extras: --nested adds a few events with nested object/array values,
--big-line BYTES adds one event whose CommandLine is BYTES long.
"""
import argparse
import gzip
import json
import os
import random

COMMON = [
    "event_simpleName", "name", "aid", "aip", "cid", "event_platform", "id",
    "timestamp", "ContextTimeStamp", "ContextProcessId", "ContextThreadId",
    "ConfigBuild", "ConfigStateHash", "EffectiveTransmissionClass",
    "Entitlements", "event_type",
]
REAL = [
    "CommandLine", "ImageFileName", "ParentBaseFileName", "ParentProcessId",
    "RawProcessId", "SHA256HashData", "MD5HashData", "SHA1HashData",
    "TargetProcessId", "SourceProcessId", "UserSid", "UserName", "TokenType",
    "SessionId", "ProcessStartTime", "ProcessEndTime", "ProcessCreateFlags",
    "IntegrityLevel", "AuthenticationId", "ImageSubsystem", "TreeId",
    "TargetFileName", "FileObject", "Size", "IsOnRemovableDisk",
    "IsOnNetwork", "RemoteAddressIP4", "RemotePort", "LocalAddressIP4",
    "LocalPort", "Protocol", "ConnectionFlags", "InContext", "DomainName",
    "RequestType", "DualRequest", "QueryStatus", "IP4Records", "CNAMERecords",
    "RegObjectName", "RegValueName", "RegStringValue", "RegType",
    "RegOperationType", "ComputerName", "MAC", "City", "Country",
    "Continent", "Timezone", "ProductType", "MachineDomain", "SiteName",
    "AgentVersion", "OSVersionFileName", "BiosManufacturer", "BiosVersion",
    "SystemManufacturer", "SystemProductName", "LogonType", "LogonDomain",
    "UserPrincipal", "UserLogonFlags", "PasswordLastSet", "LogonTime",
    "ModuleCharacteristics", "TargetImageFileName", "ServiceDisplayName",
    "ServiceImagePath", "TaskName", "TaskExecCommand", "ScriptContent",
    "ScriptContentName", "ScriptingLanguageId", "HostProcessType",
]


def key_pool(rng):
    keys = list(REAL)
    while len(keys) < 700 - len(COMMON):
        keys.append("Field%03dName" % len(keys))
    return keys


def make_types(rng, pool):
    types = []
    for i in range(45):
        n = rng.randint(8, 45)
        keys = rng.sample(pool, n)
        probs = [rng.choice((1.0, 1.0, 0.9, 0.6, 0.3)) for _ in keys]
        types.append(("Event%02dRollup" % i if i else "ProcessRollup2", keys, probs))
    # make sure every pool key is used by some type so ~700 keys appear
    used = {k for _, ks, _ in types for k in ks}
    rest = [k for k in pool if k not in used]
    for j, k in enumerate(rest):
        name, ks, ps = types[j % len(types)]
        ks.append(k)
        ps.append(0.5)
    weights = [1.0 / (i + 1) for i in range(len(types))]
    return types, weights


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--nested", action="store_true")
    ap.add_argument("--big-line", type=int, default=0)
    ap.add_argument("--level", type=int, default=6, help="gzip level")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    pool = key_pool(rng)
    types, weights = make_types(rng, pool)
    os.makedirs(a.out, exist_ok=True)

    hexes = ["%032x" % rng.getrandbits(128) for _ in range(512)]
    nums = [str(rng.getrandbits(rng.choice((8, 16, 32, 48)))) for _ in range(512)]
    paths = ["\\Device\\HarddiskVolume3\\Windows\\System32\\%s%d.exe" % (w, i)
             for i, w in enumerate(["svchost", "cmd", "powershell", "conhost", "rundll32"] * 40)]
    cmds = []
    for i in range(256):
        n = rng.choice((20, 40, 60, 90, 120, 200, 300, 500, 800, 2500))
        cmds.append(("C:\\Windows\\System32\\cmd.exe /c " + "x" * n)[:n + 10])
    aids = hexes[:64]
    cid = hexes[100]

    per_file = [a.events // a.files + (1 if i < a.events % a.files else 0)
                for i in range(a.files)]
    big_at = a.events // 2 if a.big_line else -1
    nested_every = 997 if a.nested else 0
    ts = 1700000000000
    idx = 0
    for f, count in enumerate(per_file):
        path = os.path.join(a.out, "part-%05d.gz" % f)
        with gzip.open(path, "wt", compresslevel=a.level, encoding="utf-8") as out:
            buf = []
            for _ in range(count):
                name, keys, probs = rng.choices(types, weights)[0]
                ts += rng.randint(0, 3)
                ev = {
                    "event_simpleName": name, "name": name + "V5",
                    "aid": rng.choice(aids), "aip": "10.%d.%d.%d" % (rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)),
                    "cid": cid, "event_platform": "Win", "id": rng.choice(hexes),
                    "timestamp": str(ts), "ContextTimeStamp": "%d.%03d" % (ts // 1000, ts % 1000),
                    "ContextProcessId": rng.choice(nums), "ContextThreadId": rng.choice(nums),
                    "ConfigBuild": "1007.3.0017706.1", "ConfigStateHash": rng.choice(nums),
                    "EffectiveTransmissionClass": "3", "Entitlements": "15",
                }
                if rng.random() < 0.3:
                    ev["event_type"] = "DataEvent"
                for k, p in zip(keys, probs):
                    if p < 1.0 and rng.random() > p:
                        continue
                    if k in ("CommandLine", "ScriptContent", "TaskExecCommand"):
                        ev[k] = rng.choice(cmds)
                    elif k.endswith("FileName") or k.endswith("Path") or k.endswith("Name"):
                        ev[k] = rng.choice(paths)
                    elif "Hash" in k or k.endswith("Id"):
                        ev[k] = rng.choice(hexes)
                    else:
                        ev[k] = rng.choice(nums)
                if idx == big_at:
                    ev["CommandLine"] = "powershell.exe -enc " + "A" * max(0, a.big_line - 20)
                if nested_every and idx % nested_every == 7:
                    ev["NestedInfo"] = {"Owner": rng.choice(hexes), "Flags": rng.choice(nums),
                                        "Inner": {"Depth": "2"}}
                    ev["Tags"] = ["a", rng.choice(nums)]
                buf.append(json.dumps(ev, separators=(",", ":")))
                idx += 1
                if len(buf) >= 4096:
                    out.write("\n".join(buf))
                    out.write("\n")
                    buf.clear()
            if buf:
                out.write("\n".join(buf))
                out.write("\n")


if __name__ == "__main__":
    main()
