#!/usr/bin/env python3
"""Convert gzip NDJSON (CrowdStrike FDR) files to one zstd Parquet file with DuckDB.

    duckdb_convert.py FILE... --out OUTDIR --threads T

Runs exactly one statement:

    COPY (SELECT * FROM read_json([FILE, ...], format='newline_delimited',
                                  union_by_name=true, sample_size=-1,
                                  map_inference_threshold=-1))
      TO 'OUTDIR/x.parquet' (FORMAT parquet, COMPRESSION zstd)

and prints one JSON line on stdout: {"events": <rows written>, ...}.

Options and why (everything else, including memory_limit, zstd level and
row group size, is left at DuckDB's default):

* format='newline_delimited': FDR files are NDJSON; avoids format sniffing.
* map_inference_threshold=-1: REQUIRED. FDR records have hundreds of sparse
  keys; with the default (200) DuckDB's auto-detection turns the whole record
  into a single `json MAP(VARCHAR, JSON)` column instead of one column per
  key, which is not a columnar conversion at all.
* sample_size=-1 + union_by_name=true: REQUIRED for lossless output. With the
  default sample (20480 records) DuckDB silently DROPS every key that first
  appears after the sample (verified: a key seen only in record 30001 is not
  in the schema and its values are gone). union_by_name makes DuckDB detect
  the schema of each file separately and take the union, and sample_size=-1
  makes detection look at every record. The price is a full extra read and
  parse of the input for detection; that is the cost of getting every key
  with DuckDB when the schema is not known in advance, which is the situation
  falconry handles too. Pass --sample-size 20480 to measure the faster but
  lossy default detection.
* maximum_object_size: default (16 MiB) already covers the multi-KB to
  MB-sized lines FDR has; --maximum-object-size raises it if ever needed.
* temp_directory is put under OUTDIR so a spill (if any) does not land in
  the current directory.
"""
import argparse
import json
import os
import sys
import time

import duckdb


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--sample-size", type=int, default=-1)
    ap.add_argument("--maximum-object-size", type=int, default=None)
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    out_file = os.path.join(a.out, "x.parquet")
    con = duckdb.connect()  # in-memory database
    con.execute("SET threads=%d" % a.threads)
    con.execute("SET temp_directory=%s" % sql_str(os.path.join(a.out, ".duckdb_tmp")))

    opts = [
        "format='newline_delimited'",
        "union_by_name=true",
        "sample_size=%d" % a.sample_size,
        "map_inference_threshold=-1",
    ]
    if a.maximum_object_size:
        opts.append("maximum_object_size=%d" % a.maximum_object_size)
    files = "[" + ", ".join(sql_str(os.path.abspath(f)) for f in a.files) + "]"
    sql = ("COPY (SELECT * FROM read_json(%s, %s)) TO %s (FORMAT parquet, COMPRESSION zstd)"
           % (files, ", ".join(opts), sql_str(out_file)))

    t0 = time.perf_counter()
    rows = con.execute(sql).fetchall()
    secs = time.perf_counter() - t0
    events = int(rows[0][0]) if rows and rows[0] and rows[0][0] is not None else None
    if events is None:
        events = con.execute("SELECT count(*) FROM read_parquet(%s)" % sql_str(out_file)).fetchone()[0]
    ncols = len(con.execute("DESCRIBE SELECT * FROM read_parquet(%s)" % sql_str(out_file)).fetchall())
    print(json.dumps({
        "tool": "duckdb", "version": duckdb.__version__, "threads": a.threads,
        "files": len(a.files), "events": events, "columns": ncols,
        "parquet_bytes": os.path.getsize(out_file), "seconds": round(secs, 3),
    }))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
