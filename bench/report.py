#!/usr/bin/env python3
"""Print the benchmark table from the runs recorded by scripts/bench.sh.

    report.py --manifest RES/runs.tsv --corpus-stats STATS.json --corpus-desc TEXT
              [--falconry-version V] [--rustc V] [--git V] [--json-out FILE]

runs.tsv has one line per measured run, tab separated:
    tool  threads  run  measure.json  tool-stdout  command
measure.json is bench/measure.py's output; tool-stdout holds the tool's own
JSON summary line (the last line with an "events" field is used); the
Parquet bytes written are read from measure.json's name with the suffix
.parquet_bytes (written by bench.sh, the same way for every tool).

Throughput uses the corpus' own figures (events and uncompressed bytes as
counted by corpus_stats.py), identical for every tool; each tool's reported
event count is checked against it. With several runs per cell the fastest
run's time is shown and peak RSS is the maximum over the runs.
MB means 10^6 bytes everywhere, including peak RSS.
"""
import argparse
import datetime
import json
import os
import platform
import sys

TARGET_RATIO = 3.0
TARGET_RSS_MB = 300.0


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def mem_total_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return None


def os_name():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def tool_summary(path):
    found = None
    try:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(obj, dict) and "events" in obj:
                        found = obj
    except OSError:
        pass
    return found


def versions():
    v = {"python": platform.python_version()}
    for mod in ("duckdb", "pyarrow"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception as e:  # pragma: no cover - reported, not fatal
            v[mod] = "unavailable (%s)" % e.__class__.__name__
    return v


def fmt_int(n):
    return "{:,}".format(int(round(n)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--corpus-stats", required=True)
    ap.add_argument("--corpus-desc", default="")
    ap.add_argument("--falconry-version", default="")
    ap.add_argument("--rustc", default="")
    ap.add_argument("--git", default="")
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--floor", action="append", default=[],
                    help="T=FILE: falconry convert --inflate-only --threads T's output (the gunzip floor)")
    ap.add_argument("--stage", action="append", default=[],
                    help="NAME=FILE: measure.py's line for falconry convert --threads 1 --stop-after NAME")
    a = ap.parse_args()
    # name -> the run with the least CPU time (each stage adds to the one
    # before it; a stage given several times is its best run), in first-given order
    best_stage = {}
    for spec in a.stage:
        name, _, path = spec.partition("=")
        try:
            with open(path) as sf:
                m = json.loads(sf.read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            continue
        if m.get("exit_code") != 0 or not m.get("cpu_seconds"):
            continue
        if name not in best_stage or m["cpu_seconds"] < best_stage[name]["cpu_seconds"]:
            best_stage[name] = m
    stages = list(best_stage.items())
    floors = {}  # threads -> MB/s of uncompressed JSON the decoder alone reaches
    for spec in a.floor:
        t, _, path = spec.partition("=")
        try:
            with open(path) as ff:
                floors[int(t)] = json.loads(ff.read().strip().splitlines()[-1])["mb_per_s"]
        except (OSError, ValueError, KeyError, IndexError):
            pass

    with open(a.corpus_stats) as f:
        corpus = json.load(f)
    events = corpus["events"]
    mb_unc = corpus["bytes_uncompressed"] / 1e6

    cells = {}  # (tool, threads) -> list of runs
    order = []
    with open(a.manifest) as f:
        for line in f:
            if not line.strip():
                continue
            tool, threads, run, mpath, opath, cmd = line.rstrip("\n").split("\t", 5)
            key = (tool, int(threads))
            if key not in cells:
                cells[key] = []
                order.append(key)
            try:
                with open(mpath) as mf:
                    m = json.loads(mf.read().strip().splitlines()[-1])
            except (OSError, ValueError, IndexError):
                m = {"exit_code": None, "seconds": None, "max_rss_kb": None}
            pq_bytes = None
            try:
                with open(os.path.splitext(mpath)[0] + ".parquet_bytes") as bf:
                    pq_bytes = int(bf.read().strip())
            except (OSError, ValueError):
                pass
            cells[key].append({"run": int(run), "measure": m, "summary": tool_summary(opath),
                               "parquet_bytes": pq_bytes, "command": cmd})

    rows = []
    for key in order:
        tool, threads = key
        runs = cells[key]
        ok = [r for r in runs if r["measure"].get("exit_code") == 0 and r["measure"].get("seconds")]
        row = {"tool": tool, "threads": threads, "runs": runs, "ok": bool(ok) and len(ok) == len(runs)}
        rss = [r["measure"]["max_rss_kb"] for r in runs if r["measure"].get("max_rss_kb")]
        row["peak_rss_mb"] = max(rss) * 1024 / 1e6 if rss else None
        if ok:
            best = min(ok, key=lambda r: r["measure"]["seconds"])
            secs = best["measure"]["seconds"]
            row["seconds"] = secs
            row["events_per_s"] = events / secs
            row["mb_per_s"] = mb_unc / secs
            cpu = best["measure"].get("cpu_seconds")
            row["mb_per_cpu_s"] = mb_unc / cpu if cpu else None
            s = best["summary"] or {}
            row["reported_events"] = s.get("events")
            row["quarantined"] = s.get("quarantined")
            row["parquet_bytes"] = best["parquet_bytes"] or s.get("parquet_bytes")
            row["summary"] = s
            got = (s.get("events") or 0) + (s.get("quarantined") or 0)
            row["events_ok"] = s.get("events") is not None and got == events
        else:
            bad = [r["measure"].get("exit_code") for r in runs]
            row["error"] = "FAILED (exit %s)" % ",".join(str(b) for b in bad)
        rows.append(row)

    # ratio of falconry to the faster of duckdb/pyarrow at the same thread count
    by = {(r["tool"], r["threads"]): r for r in rows}
    for r in rows:
        if r["tool"] != "falconry" or "events_per_s" not in r:
            continue
        others = [by[(t, r["threads"])] for t in ("duckdb", "pyarrow") if (t, r["threads"]) in by]
        others = [o for o in others if "events_per_s" in o]
        if others:
            fastest = max(others, key=lambda o: o["events_per_s"])
            r["ratio"] = r["events_per_s"] / fastest["events_per_s"]
            r["ratio_vs"] = fastest["tool"]

    v = versions()
    mem = mem_total_gb()
    fv = a.falconry_version.strip()
    if fv.startswith("falconry "):
        fv = fv[len("falconry "):]
    a.falconry_version = fv
    out = []
    p = out.append
    p("falconry conversion benchmark, %s" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    p("machine:  nproc=%d, CPU: %s, memory %s, %s, kernel %s" % (
        os.cpu_count() or 0, cpu_model(), ("%.1f GB" % mem) if mem else "?", os_name(), platform.release()))
    p("versions: falconry %s%s, %sPython %s, duckdb %s, pyarrow %s" % (
        a.falconry_version or "(not run)", (" (git %s)" % a.git) if a.git else "",
        (a.rustc + ", ") if a.rustc else "", v["python"], v["duckdb"], v["pyarrow"]))
    p("corpus:   %s" % a.corpus_desc)
    p("          %s files, %s events, %.1f MB uncompressed JSON (%s bytes), %.1f MB gzip, %.0f bytes/event" % (
        corpus["files"], fmt_int(events), mb_unc, fmt_int(corpus["bytes_uncompressed"]),
        corpus["bytes_in"] / 1e6, corpus["bytes_uncompressed"] / max(events, 1)))
    nruns = max((len(c) for c in cells.values()), default=0)
    p("runs:     %d per cell (fastest wall time shown, peak RSS = max over runs); MB = 10^6 bytes;"
      " events/s and MB/s use the corpus totals above" % nruns)
    p("")
    if floors:
        p("gunzip floor (falconry convert --inflate-only, the same decoder, output discarded): " + ", ".join(
            "%.1f MB/s at %d thread(s)" % (floors[t], t) for t in sorted(floors)))
        p("")
    hdr = ("tool", "threads", "seconds", "events/s", "MB/s", "MB/cpu-s", "peak RSS MB", "parquet MB", "events",
           "vs floor", "vs faster of duckdb/pyarrow")
    table = []
    for r in rows:
        if "error" in r:
            table.append((r["tool"], str(r["threads"]), r["error"], "", "", "",
                          "%.1f" % r["peak_rss_mb"] if r["peak_rss_mb"] else "", "", "", "", ""))
            continue
        ev = r.get("reported_events")
        evs = fmt_int(ev) if ev is not None else "?"
        if r.get("quarantined"):
            evs += " +%s quarantined" % fmt_int(r["quarantined"])
        if not r.get("events_ok"):
            evs += " (MISMATCH)"
        table.append((
            r["tool"], str(r["threads"]), "%.2f" % r["seconds"], fmt_int(r["events_per_s"]),
            "%.1f" % r["mb_per_s"], "%.1f" % r["mb_per_cpu_s"] if r.get("mb_per_cpu_s") else "?",
            "%.1f" % r["peak_rss_mb"] if r["peak_rss_mb"] else "?",
            "%.1f" % (r["parquet_bytes"] / 1e6) if r.get("parquet_bytes") else "?", evs,
            ("%.0f %%" % (100 * r["mb_per_s"] / floors[r["threads"]])) if r["threads"] in floors else "",
            ("%.2fx (vs %s)" % (r["ratio"], r["ratio_vs"])) if "ratio" in r else "",
        ))
    widths = [max(len(hdr[i]), *(len(t[i]) for t in table)) if table else len(hdr[i]) for i in range(len(hdr))]
    right = {1, 2, 3, 4, 5, 6, 7, 9}
    def line(cols):
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cols)).rstrip()
    p(line(hdr))
    p(line(["-" * w for w in widths]))
    for t in table:
        p(line(t))
    p("")

    if stages:
        # Each stage runs every line through the ones before it too, so the
        # difference between neighbours is what that stage adds.
        p("where the time goes (falconry convert --threads 1 --stop-after STAGE, nothing written but by write;"
          " least CPU time of %d run(s) each):" % max(1, len(a.stage) // max(1, len(stages))))
        sh = ("stage", "seconds", "cpu s", "MB/s", "adds ms/MB", "share")
        st = []
        total = stages[-1][1].get("cpu_seconds") or 0
        before = 0.0
        for name, m in stages:
            cpu = m.get("cpu_seconds") or 0
            st.append((name, "%.2f" % (m.get("seconds") or 0), "%.2f" % cpu,
                       "%.1f" % (mb_unc / m["seconds"]) if m.get("seconds") else "?",
                       "%.2f" % (1000 * (cpu - before) / mb_unc),
                       ("%.0f %%" % (100 * (cpu - before) / total)) if total else ""))
            before = cpu
        sw = [max(len(sh[i]), *(len(t[i]) for t in st)) for i in range(len(sh))]
        def sline(cols):
            return "  ".join(c.ljust(sw[i]) if i == 0 else c.rjust(sw[i]) for i, c in enumerate(cols)).rstrip()
        p(sline(sh))
        p(sline(["-" * w for w in sw]))
        for t in st:
            p(sline(t))
        p("  (adds ms/MB: CPU milliseconds per MB of uncompressed JSON the stage adds; 170 MB/s per core is 5.88 ms/MB in all)")
        p("")

    verdicts = []
    for r in rows:
        if r["tool"] != "falconry":
            continue
        if "error" in r:
            verdicts.append("threads=%d: falconry %s" % (r["threads"], r["error"]))
            continue
        parts = []
        if "ratio" in r:
            parts.append("throughput %.2fx the faster of duckdb/pyarrow (target >= %.0fx): %s" % (
                r["ratio"], TARGET_RATIO, "PASS" if r["ratio"] >= TARGET_RATIO else "FAIL"))
        if r["peak_rss_mb"]:
            parts.append("peak RSS %.1f MB (target < %.0f MB): %s" % (
                r["peak_rss_mb"], TARGET_RSS_MB, "PASS" if r["peak_rss_mb"] < TARGET_RSS_MB else "FAIL"))
        if not r.get("events_ok"):
            parts.append("event count MISMATCH")
        verdicts.append("threads=%d: falconry %s" % (r["threads"], "; ".join(parts)))
    if verdicts:
        p("targets:")
        for vd in verdicts:
            p("  " + vd)
        p("")
    p("commands (each run as its own process under bench/measure.py):")
    seen = set()
    for key in order:
        cmd = cells[key][0]["command"]
        if cmd not in seen:
            seen.add(cmd)
            p("  " + cmd)

    text = "\n".join(out)
    print(text)
    all_pass = all(("FAIL" not in vd and "MISMATCH" not in vd and "FAILED" not in vd) for vd in verdicts) and bool(verdicts)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"corpus": corpus, "corpus_desc": a.corpus_desc, "versions": v,
                       "falconry_version": a.falconry_version, "rustc": a.rustc, "git": a.git,
                       "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "mem_gb": mem,
                                   "os": os_name(), "kernel": platform.release()},
                       "rows": rows, "floor_mb_per_s": floors, "stages": dict(stages),
                       "targets_met": all_pass}, f, indent=1, default=str)
    # exit 3 when falconry ran and missed a target; bench.sh decides what to do with it
    sys.exit(0 if all_pass or not verdicts else 3)


if __name__ == "__main__":
    main()
