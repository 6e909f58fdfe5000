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

Keys whose JSON kind changes (FDR does this; pyarrow's reader cannot):

  Real FDR mixes kinds under one key: sensor events carry ids and times as
  strings ("ParentProcessId":"362225661973273550", "ProcessEndTime":"")
  while detection records carry the same keys as numbers, and detection
  records of different products have "DataDomains", "SourceProducts",
  "SourceVendors" as a string or as an array. pyarrow.json.read_json stops
  with "ArrowInvalid: JSON parse error: Column(/ParentProcessId) changed
  from string to number in row 99", and no read option avoids that
  (checked with pyarrow 26.0.1): the check is in the block parser and runs
  before any conversion, so ParseOptions(explicit_schema=...) with pa.string(),
  pa.large_string() or pa.binary() for the key fails with the same error;
  only a decimal explicit type accepts both numbers and strings, and that
  fails on FDR's empty strings ("ProcessEndTime":"") and cannot hold arrays.
  DuckDB copes by typing such a key as JSON; falconry keeps non-string
  values as JSON text in its fields_json column.

  So this script does what a pyarrow user has to do with such data, and the
  time it takes is inside the measured run:

  1. Read the file with the plain read_json above. On that error, take the
     column path from the message (e.g. "/ParentProcessId",
     "/l/[]/b" for keys inside arrays) and add it to the set of conflicting
     paths. A failed full read costs ~0.3-0.6 s (pyarrow has decompressed
     and parsed blocks ahead), and the next conflicts are usually close to
     the first, so read_json is then run on the file's first MiB alone
     (whole lines, ~1,000 FDR events, a few ms a call), adding each new path
     it reports until that MiB reads cleanly; then the whole file is read
     again (step 2). A conflict that first shows up later in the file
     costs another full read. An error that is not a kind change, or names
     a path already handled, is raised.
  2. Once conflicts are known, the file is read through a small Python
     file-like object (FixingStream) over the same pyarrow gzip stream,
     handed to read_json: it passes the decompressed bytes through
     unchanged, except the few lines where a conflicting key has a value
     that is not a string or null (found with one bytes.find scan per key
     on each 1 MiB chunk). Only those lines are json.loads-ed in Python; at every
     conflicting path a non-string value is replaced by its JSON text as a
     string (1748932050587294850 -> "1748932050587294850", ["Identity"] ->
     "[\"Identity\"]"; numbers keep their exact text, so ids above 2^53 are
     not rounded) and the line is re-serialised. Those columns are also
     given to read_json as pa.string() in explicit_schema (with
     unexpected_field_behavior='infer' for every other key), so they are
     utf8 in every file and block, never re-inferred as e.g. timestamp.
  3. The conflicting paths are carried forward: every later file is read
     through FixingStream from the start, so a conflict normally costs one
     retry in the first file that shows it, not one per file.

  Cost: the retries, and for files read through FixingStream one pass of
  Python-level chunk handling over the decompressed bytes (copies plus one
  bytes.find scan per conflicting key, and json for ~1% of lines); pyarrow still
  does all decompression, JSON parsing and Parquet writing itself. Output:
  every key and value is kept; for the conflicting columns only the JSON
  kind is lost (a number and a string of the same digits both end up as the
  same utf8 text), where DuckDB's JSON column keeps it. The paths found,
  the number of retries and the seconds spent in failed reads are in the
  printed JSON line (type_conflicts; retries = failed full reads, probes =
  first-MiB reads, retry_seconds = time spent in both).
"""
import argparse
import concurrent.futures
import json
import os
import re
import sys
import threading
import time

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

# "JSON parse error: Column(/ParentProcessId) changed from string to number in row 99"
KIND_CHANGE = re.compile(r"Column\((/.*)\) changed from (\w+) to (\w+)")
WHITESPACE = frozenset(b" \t\r\n")
PROBE_BYTES = 1 << 20  # first-MiB probe for more conflicts, see read_table
STRING_OR_NULL = frozenset(b'"n')


class RawFloat(float):
    """A JSON float that remembers its text, so stringifying it is exact."""
    __slots__ = ("raw",)


def parse_float(text):
    f = RawFloat(text)
    f.raw = text
    return f


def json_text(v):
    if isinstance(v, RawFloat):
        return v.raw
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def stringify_at(node, segs, i):
    """Replace every non-string, non-null value at path segs[i:] under node by its
    JSON text. "[]" is an array level. Returns whether anything changed."""
    seg = segs[i]
    if seg == "[]":
        if not isinstance(node, list):
            return False
        keys = range(len(node))
    else:
        if not isinstance(node, dict) or seg not in node:
            return False
        keys = (seg,)
    changed = False
    last = i == len(segs) - 1
    for k in keys:
        v = node[k]
        if last:
            if v is not None and not isinstance(v, str):
                node[k] = json_text(v)
                changed = True
        else:
            changed |= stringify_at(v, segs, i + 1)
    return changed


class Fixer:
    """Rewrites, in whole NDJSON lines, the non-string values at the given paths."""

    def __init__(self, paths):
        # shorter paths first: once "/a" is text, "/a/b" no longer needs work
        self.paths = sorted((p[1:].split("/") for p in paths), key=len)
        leaves = set()
        for segs in self.paths:
            named = [s for s in segs if s != "[]"]
            if named:
                leaves.add(named[-1])
        self.needles = [b'"' + json.dumps(k, ensure_ascii=False)[1:-1].encode() + b'":'
                        for k in sorted(leaves)]
        self.lines_rewritten = 0

    def fix_line(self, line):
        try:
            obj = json.loads(line, parse_float=parse_float)
        except ValueError:
            return None  # leave it to pyarrow to report
        changed = False
        for segs in self.paths:
            changed |= stringify_at(obj, segs, 0)
        if not changed:
            return None
        self.lines_rewritten += 1
        return json.dumps(obj, separators=(",", ":")).encode()  # ASCII, \u escapes

    def fix(self, buf):
        """buf: bytes holding whole lines. Returns buf, or a rewritten copy."""
        # lines where a conflicting key is followed by a value that does not
        # start like a string or null (bytes.find: ~2x faster than re here)
        starts = set()
        n = len(buf)
        for needle in self.needles:
            i = buf.find(needle)
            while i >= 0:
                j = i + len(needle)
                while j < n and buf[j] in WHITESPACE:
                    j += 1
                if j < n and buf[j] not in STRING_OR_NULL:
                    starts.add(buf.rfind(b"\n", 0, i) + 1)
                i = buf.find(needle, j)
        if not starts:
            return buf
        out, pos = [], 0
        for s in sorted(starts):
            e = buf.find(b"\n", s)
            if e < 0:
                e = len(buf)
            new = self.fix_line(buf[s:e])
            if new is not None:
                out.append(buf[pos:s])
                out.append(new)
                pos = e
        if pos == 0:
            return buf
        out.append(buf[pos:])
        return b"".join(out)


class FixingStream:
    """Read-only file-like object for read_json: the gzip-decompressed file, in
    whole lines, passed through Fixer."""

    def __init__(self, path, fixer, chunk=1 << 20):
        self.src = pa.input_stream(path, compression="gzip")
        self.fixer = fixer
        self.chunk = chunk
        self.tail = b""
        self.pending = []  # fixed bytes objects not yet handed out
        self.offset = 0    # into pending[0]
        self.eof = False
        self.closed = False

    def readable(self):
        return True

    def _fill(self):
        while not self.eof:
            data = self.src.read(self.chunk)
            if not data:
                self.eof = True
                if self.tail:
                    self.pending.append(self.fixer.fix(self.tail))
                    self.tail = b""
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                self.tail += data
                continue
            whole = self.tail + data[:cut] if self.tail else data[:cut]
            self.tail = data[cut:]
            self.pending.append(self.fixer.fix(whole))
            return

    def read(self, n=-1):
        if n is None or n < 0:
            n = 1 << 62
        parts, have = [], 0
        while have < n:
            if not self.pending:
                self._fill()
                if not self.pending:
                    break
            head = self.pending[0]
            take = min(n - have, len(head) - self.offset)
            if self.offset == 0 and take == len(head):
                parts.append(head)
            else:
                parts.append(memoryview(head)[self.offset:self.offset + take])
            have += take
            self.offset += take
            if self.offset == len(head):
                self.pending.pop(0)
                self.offset = 0
        if len(parts) == 1 and isinstance(parts[0], bytes):
            return parts[0]
        return b"".join(parts)

    def close(self):
        if not self.closed:
            self.closed = True
            self.src.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Conflicts:
    """Conflicting column paths found so far, shared by all files (and threads),
    and what finding them cost."""

    def __init__(self):
        self.lock = threading.Lock()
        self.paths = set()
        self.retries = 0      # full reads that failed on a new conflict
        self.probes = 0       # read_json calls on a file's first MiB
        self.retry_seconds = 0.0

    def snapshot(self):
        with self.lock:
            return frozenset(self.paths)

    def add(self, path):
        with self.lock:
            self.paths.add(path)

    def count(self, seconds, retries=0, probes=0):
        with self.lock:
            self.retries += retries
            self.probes += probes
            self.retry_seconds += seconds


def new_conflict(err, known):
    """The column path of a kind-change error not handled yet, else None."""
    m = KIND_CHANGE.search(str(err))
    if m and m.group(1) not in known:
        return m.group(1)
    return None


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
    conflicts = Conflicts()
    rewritten = [0]

    def parse_options(known):
        top = sorted(p[1:] for p in known if p.count("/") == 1)
        return pj.ParseOptions(explicit_schema=pa.schema([(k, pa.string()) for k in top]),
                               unexpected_field_behavior="infer")

    def read_table(path):
        prefix = None
        while True:
            known = conflicts.snapshot()
            t_try = time.perf_counter()
            try:
                if not known:
                    with pa.input_stream(path, compression="gzip") as stream:
                        return pj.read_json(stream, read_options=read_opts)
                fixer = Fixer(known)
                with FixingStream(path, fixer) as stream:
                    table = pj.read_json(stream, read_options=read_opts,
                                         parse_options=parse_options(known))
                rewritten[0] += fixer.lines_rewritten
                return table
            except pa.ArrowInvalid as e:
                path_found = new_conflict(e, known)
                if path_found is None:
                    raise
                conflicts.add(path_found)
                print("pyarrow_convert: %s: %s; retrying with %s as string"
                      % (os.path.basename(path), str(e).strip(), path_found), file=sys.stderr)
            # A failed full read costs ~0.3-0.6 s (pyarrow has decompressed and
            # parsed blocks ahead); more conflicts usually sit near the first,
            # so look for them in the file's first MiB (a few ms per read_json),
            # then re-read the whole file once. A conflict found only later in
            # the file still costs a full retry.
            probes = 0
            if prefix is None:
                with pa.input_stream(path, compression="gzip") as stream:
                    head = stream.read(min(a.block_size, PROBE_BYTES))
                prefix = head[:head.rfind(b"\n") + 1]  # whole lines only ("" if none)
            while prefix:
                known = conflicts.snapshot()
                probes += 1
                try:
                    pj.read_json(pa.BufferReader(Fixer(known).fix(prefix)),
                                 read_options=read_opts, parse_options=parse_options(known))
                    break
                except pa.ArrowInvalid as e:
                    path_found = new_conflict(e, known)
                    if path_found is None:
                        break  # the full read will report it
                    conflicts.add(path_found)
                    print("pyarrow_convert: %s (first MiB): %s; adding %s as string"
                          % (os.path.basename(path), str(e).strip(), path_found), file=sys.stderr)
            now = time.perf_counter()
            conflicts.count(now - t_try, retries=1, probes=probes)

    def convert_one(i, path):
        table = read_table(path)
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
        "type_conflicts": sorted(conflicts.paths), "retries": conflicts.retries,
        "probes": conflicts.probes, "retry_seconds": round(conflicts.retry_seconds, 3),
        "lines_rewritten": rewritten[0],
    }))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
