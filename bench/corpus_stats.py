#!/usr/bin/env python3
"""Measure a gzip NDJSON corpus once: compressed bytes, uncompressed bytes, events.

    corpus_stats.py FILE...  ->  {"files": F, "bytes_in": C, "bytes_uncompressed": U, "events": N}

Streams each file through gzip (multi-member aware) in 1 MiB chunks; events
is the number of lines (a last line without a trailing newline counts).
Reading every file also warms the page cache before the timed runs.
Standard library only.
"""
import gzip
import json
import os
import sys


def main():
    files = sys.argv[1:]
    if not files:
        sys.exit("usage: corpus_stats.py FILE...")
    bytes_in = bytes_unc = events = 0
    for path in files:
        bytes_in += os.path.getsize(path)
        last = b"\n"
        with gzip.open(path, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                bytes_unc += len(chunk)
                events += chunk.count(b"\n")
                last = chunk[-1:]
        if last != b"\n":
            events += 1
    print(json.dumps({"files": len(files), "bytes_in": bytes_in,
                      "bytes_uncompressed": bytes_unc, "events": events}))


if __name__ == "__main__":
    main()
