#!/usr/bin/env python3
"""Convert gzip NDJSON (CrowdStrike FDR) files to zstd Parquet with pyarrow.

    pyarrow_convert.py FILE... --out OUTDIR --threads T

For each input file: pyarrow.json.read_json on a gzip-decompressing input
stream, then pyarrow.parquet.write_table(table, OUTDIR/part-NNNNN.parquet,
compression='zstd'). Prints one JSON line on stdout: {"events": N, ...}.

Choices and why:

* pyarrow.set_cpu_count(T) and pyarrow.set_io_thread_count(T): the thread
  count under test. read_json(use_threads=True) parses blocks in parallel on
  that pool; decompression and write_table run on the calling thread, which
  is how pyarrow is normally used. By default files are processed one after
  another: that keeps one table in memory at a time, and pyarrow's own
  threading is what "T threads" means. Because decompression and
  write_table do not use the pool, that scales little from 1 to 2 threads;
  --file-parallel (bench.sh: BENCH_PYARROW_FILE_PARALLEL=1) instead converts
  up to T files at once on T Python threads (pyarrow releases the GIL), a
  stronger multi-thread baseline at the cost of T tables in memory.
* One Parquet file per input file instead of unifying: schemas differ per
  file (sparse keys), and unify_schemas + concat_tables would need every
  table in memory at once (several times the RSS) for the same output data.
  falconry also writes per-input output, so this is the like-for-like choice.
* ReadOptions(block_size=16 MiB): a block must hold at least one whole line;
  FDR has multi-KB to MB-sized lines (the default 1 MiB block fails on a
  line longer than that). 16 MiB blocks still give plenty of blocks to
  parallelise over.
* Schema: inferred (unexpected_field_behavior='infer', the default), so keys
  that first appear in a later block are kept - lossless, like falconry.
* Input is opened with pyarrow.input_stream(path, compression='gzip'), so it
  does not depend on the file name ending in .gz.
* zstd level, row group size, dictionary encoding: pyarrow's defaults.
"""
import argparse
import concurrent.futures
import json
import os
import sys
import time

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--block-size", type=int, default=16 << 20)
    ap.add_argument("--file-parallel", action="store_true",
                    help="convert up to THREADS files concurrently")
    a = ap.parse_args()

    pa.set_cpu_count(a.threads)
    pa.set_io_thread_count(a.threads)
    os.makedirs(a.out, exist_ok=True)
    read_opts = pj.ReadOptions(use_threads=True, block_size=a.block_size)

    def convert_one(i, path):
        with pa.input_stream(path, compression="gzip") as stream:
            table = pj.read_json(stream, read_options=read_opts)
        out_file = os.path.join(a.out, "part-%05d.parquet" % i)
        pq.write_table(table, out_file, compression="zstd")
        return table.num_rows, table.num_columns, os.path.getsize(out_file)

    t0 = time.perf_counter()
    if a.file_parallel and a.threads > 1:
        with concurrent.futures.ThreadPoolExecutor(max_workers=a.threads) as ex:
            results = list(ex.map(convert_one, range(len(a.files)), a.files))
    else:
        results = [convert_one(i, p) for i, p in enumerate(a.files)]
    secs = time.perf_counter() - t0
    events = sum(r[0] for r in results)
    max_cols = max(r[1] for r in results)
    parquet_bytes = sum(r[2] for r in results)
    print(json.dumps({
        "tool": "pyarrow", "version": pa.__version__, "threads": a.threads,
        "file_parallel": bool(a.file_parallel and a.threads > 1), "files": len(a.files), "events": events, "max_columns_per_file": max_cols,
        "parquet_bytes": parquet_bytes, "seconds": round(secs, 3),
    }))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
