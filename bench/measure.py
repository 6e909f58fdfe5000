#!/usr/bin/env python3
"""Run one command and report its wall time and peak RSS as one JSON line.

    measure.py [--stdout FILE] [--label NAME] -- CMD [ARG...]

The command's stdout goes to FILE (default: inherited), its stderr is
inherited. When it has exited, measure.py prints on its own stdout:

    {"label": NAME, "exit_code": C, "seconds": S, "cpu_seconds": U,
     "max_rss_kb": K, "max_rss_mb": M}

seconds is wall-clock time (time.perf_counter around spawn + wait).
cpu_seconds is the user + system time of the command's waited-for process
tree (getrusage(RUSAGE_CHILDREN)): the work done on every core, so bytes per
CPU-second is a per-core figure however many threads the command used.
max_rss_kb is resource.getrusage(RUSAGE_CHILDREN).ru_maxrss taken after the
wait: the peak resident set size of the largest process in the command's
process tree that was waited for (Linux reports it in KiB). Because
measure.py starts no other child, this is the peak RSS of the command.
Only the standard library is used, so it works wherever python3 does.
"""
import argparse
import json
import resource
import subprocess
import sys
import time


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit("usage: measure.py [--stdout FILE] [--label NAME] -- CMD [ARG...]")
    cut = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--stdout", default=None)
    ap.add_argument("--label", default=None)
    a = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    if not cmd:
        sys.exit("measure.py: no command given")

    out = open(a.stdout, "wb") if a.stdout else None
    t0 = time.perf_counter()
    try:
        rc = subprocess.call(cmd, stdout=out)
    except OSError as e:
        print("measure.py: cannot run %s: %s" % (cmd[0], e), file=sys.stderr)
        rc = 127
    secs = time.perf_counter() - t0
    if out:
        out.close()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    kb = usage.ru_maxrss
    if sys.platform == "darwin":  # bytes there
        kb //= 1024
    print(json.dumps({"label": a.label, "exit_code": rc, "seconds": round(secs, 4),
                      "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 4),
                      "max_rss_kb": kb, "max_rss_mb": round(kb / 1024.0, 1)}))
    sys.exit(0)


if __name__ == "__main__":
    main()
