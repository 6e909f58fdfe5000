#!/usr/bin/env bash
# falconry conversion benchmark: falconry vs DuckDB vs pyarrow, side by side.
#
# Usage (from anywhere; it works from the repository root):
#   scripts/bench.sh
#
# What it does:
#   1. creates or reuses the virtualenv .venv-bench (python3 -m venv) and
#      installs the pinned duckdb and pyarrow below from PyPI;
#   2. builds falconry: cargo build --release --locked;
#   3. generates the corpus once, with
#        target/release/falconry fixtures corpus --out DIR --events N --files F --seed S
#      (reused on later runs while N, F, S and the generator are unchanged);
#   4. measures the corpus once (events, gzip and uncompressed JSON bytes;
#      this also warms the page cache);
#   5. measures the floor: every gzip member inflated by the decoder falconry
#      uses, output discarded (falconry convert --inflate-only --threads T);
#      and where the time goes: the conversion at 1 thread stopped after each
#      stage in turn (falconry convert --stop-after STAGE, nothing written);
#      then for each thread count (1 and 2) runs, each as its own process under
#      bench/measure.py (wall time + peak RSS):
#        falconry convert --threads T --out OUT FILE...
#        falconry forward --until-empty (the daemon path users run: a dir://
#          queue holding one notice of every corpus file, file:// source and
#          destination, FALCONRY__FORWARDER__FILES_IN_FLIGHT=T; raw copies,
#          manifests and Parquet written as in production)
#        falconry forward --until-empty over moto (tool forward-s3: the same
#          notice on a real SQS queue, the corpus in an S3 source bucket, the
#          raw copies and Parquet written to an S3 destination bucket, all
#          served by moto's server on 127.0.0.1; the figure includes moto's own
#          cost, a Python server, so it is a floor for the S3 path, not AWS's)
#        bench/duckdb_convert.py  FILE... --out OUT --threads T
#        bench/pyarrow_convert.py FILE... --out OUT --threads T
#   6. prints machine, versions, corpus, the stage breakdown, a table (tool,
#      threads, seconds, events/s, MB/s of uncompressed JSON, MB per CPU-second
#      (user + system time on every core: the per-core figure), peak RSS MB, Parquet MB, events,
#      falconry's throughput / the faster of DuckDB and pyarrow), the target
#      verdicts and the exact commands. The same text goes to
#      $BENCH_DIR/results.txt and the raw figures to $BENCH_DIR/results.json.
#
# Environment overrides (defaults in brackets):
#   BENCH_EVENTS [1000000]   events in the corpus
#   BENCH_FILES  [8]         gzip NDJSON files in the corpus
#   BENCH_SEED   [42]        corpus seed
#   BENCH_DIR    [target/bench]  corpus, outputs and results go here
#   BENCH_THREADS ["1 2"]    thread counts to run
#   BENCH_RUNS   [1]         runs per tool and thread count (fastest is shown)
#   BENCH_TOOLS  ["falconry forward duckdb pyarrow"]  tools to run (also:
#                            forward-s3, the daemon over moto's S3 and SQS)
#   BENCH_MOTO_VERSION [5.2.5]  moto[server] installed into the bench venv for forward-s3
#   BENCH_SHAPE  [mixed]     corpus shape: mixed (the fixtures' whole mix) or
#                            sensor (string-valued sensor events, ~200 keys,
#                            ~1,250 bytes a line: falconry fixtures corpus --shape)
#   BENCH_SKIP_FALCONRY [0]  1 = no cargo build and no falconry rows; the corpus
#                            is then made by bench/gen_corpus.py (a stdlib Python
#                            fallback generator). For testing the harness itself.
#   BENCH_GENERATOR [falconry, or python when BENCH_SKIP_FALCONRY=1]
#                            python = use bench/gen_corpus.py even with falconry
#   BENCH_DUCKDB_SAMPLE_SIZE [-1]  DuckDB read_json sample_size; -1 = lossless
#                            (see bench/duckdb_convert.py), 20480 = DuckDB default
#   BENCH_PYARROW_FILE_PARALLEL [0]  1 = pyarrow converts T files concurrently
#   BENCH_KEEP_OUTPUT [0]    1 = keep each tool's Parquet output under $BENCH_DIR/out
#   BENCH_STAGES [1]         1 = also time the conversion stage by stage at 1
#                            thread (convert --stop-after lines|sort|parse|build|write)
#   BENCH_STRICT [0]         1 = exit 3 when falconry misses a target
#   BENCH_FALCONRY_BIN [target/release/falconry]  another falconry binary; when
#                            set, cargo build is not run (e.g. to bench an installed
#                            release, or to test this script with a stand-in)
#   BENCH_VENV   [.venv-bench]
#   PYTHON       [python3]   interpreter used to create the virtualenv
set -euo pipefail

DUCKDB_VERSION=2.0.0
PYARROW_VERSION=26.0.1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BENCH_EVENTS="${BENCH_EVENTS:-1000000}"
BENCH_FILES="${BENCH_FILES:-8}"
BENCH_SEED="${BENCH_SEED:-42}"
BENCH_DIR="${BENCH_DIR:-target/bench}"
BENCH_THREADS="${BENCH_THREADS:-1 2}"
BENCH_RUNS="${BENCH_RUNS:-1}"
BENCH_TOOLS="${BENCH_TOOLS:-falconry forward duckdb pyarrow}"
BENCH_SHAPE="${BENCH_SHAPE:-mixed}"
BENCH_SKIP_FALCONRY="${BENCH_SKIP_FALCONRY:-0}"
BENCH_DUCKDB_SAMPLE_SIZE="${BENCH_DUCKDB_SAMPLE_SIZE:--1}"
BENCH_PYARROW_FILE_PARALLEL="${BENCH_PYARROW_FILE_PARALLEL:-0}"
BENCH_KEEP_OUTPUT="${BENCH_KEEP_OUTPUT:-0}"
BENCH_STRICT="${BENCH_STRICT:-0}"
BENCH_STAGES="${BENCH_STAGES:-1}"
BENCH_VENV="${BENCH_VENV:-.venv-bench}"
PYTHON="${PYTHON:-python3}"
if [[ "$BENCH_SKIP_FALCONRY" == 1 ]]; then
    BENCH_GENERATOR="${BENCH_GENERATOR:-python}"
    BENCH_TOOLS="$(tr ' ' '\n' <<<"$BENCH_TOOLS" | grep -vx -e falconry -e forward -e forward-s3 | tr '\n' ' ' || true)"
else
    BENCH_GENERATOR="${BENCH_GENERATOR:-falconry}"
fi
FALCONRY="${BENCH_FALCONRY_BIN:-target/release/falconry}"
# The forwarder rows run with the allocator settings the container image sets
# (deploy/Dockerfile's GLIBC_TUNABLES), as users run the daemon.
IMAGE_TUNABLES="$(sed -n 's/^ENV GLIBC_TUNABLES=//p' deploy/Dockerfile)"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

case "$BENCH_SHAPE" in
    mixed|sensor) ;;
    *) die "BENCH_SHAPE must be mixed or sensor, not '$BENCH_SHAPE'" ;;
esac
[[ "$BENCH_SHAPE" == mixed || "$BENCH_GENERATOR" == falconry ]] \
    || die "BENCH_SHAPE=$BENCH_SHAPE needs the falconry generator"
case "$BENCH_GENERATOR" in
    falconry) [[ "$BENCH_SKIP_FALCONRY" == 1 ]] && die "BENCH_GENERATOR=falconry needs falconry (unset BENCH_SKIP_FALCONRY)" ;;
    python) ;;
    *) die "BENCH_GENERATOR must be falconry or python, not '$BENCH_GENERATOR'" ;;
esac
[[ "$BENCH_EVENTS" =~ ^[0-9]+$ && "$BENCH_FILES" =~ ^[1-9][0-9]*$ && "$BENCH_RUNS" =~ ^[1-9][0-9]*$ ]] \
    || die "BENCH_EVENTS, BENCH_FILES and BENCH_RUNS must be positive integers"

# --- 1. Python side: virtualenv with pinned duckdb and pyarrow ---------------
PY="$BENCH_VENV/bin/python"
if [[ ! -x "$PY" ]] || ! "$PY" -c 'import sys' 2>/dev/null; then
    say "creating virtualenv $BENCH_VENV"
    rm -rf "$BENCH_VENV"
    "$PYTHON" -m venv "$BENCH_VENV" \
        || die "'$PYTHON -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
fi
if ! "$PY" - "$DUCKDB_VERSION" "$PYARROW_VERSION" 2>/dev/null <<'PYEOF'
import sys, duckdb, pyarrow
sys.exit(0 if (duckdb.__version__, pyarrow.__version__) == (sys.argv[1], sys.argv[2]) else 1)
PYEOF
then
    say "installing duckdb==$DUCKDB_VERSION pyarrow==$PYARROW_VERSION into $BENCH_VENV"
    "$PY" -m pip install --disable-pip-version-check -q \
        "duckdb==$DUCKDB_VERSION" "pyarrow==$PYARROW_VERSION"
fi

BENCH_MOTO_VERSION="${BENCH_MOTO_VERSION:-5.2.5}"
if [[ " $BENCH_TOOLS " == *" forward-s3 "* ]] \
    && ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('moto') != '$BENCH_MOTO_VERSION')" 2>/dev/null; then
    say "installing moto[server]==$BENCH_MOTO_VERSION into $BENCH_VENV"
    "$PY" -m pip install --disable-pip-version-check -q "moto[server]==$BENCH_MOTO_VERSION"
fi

# --- 2. falconry release build ------------------------------------------------
if [[ "$BENCH_SKIP_FALCONRY" != 1 ]]; then
    if [[ -z "${BENCH_FALCONRY_BIN:-}" ]]; then
        say "cargo build --release --locked"
        cargo build --release --locked
    fi
    [[ -x "$FALCONRY" ]] || die "$FALCONRY is missing or not executable"
fi

# --- 3. corpus (generated once, reused while its parameters are unchanged) ----
if [[ "$BENCH_SHAPE" == mixed ]]; then CORPUS="$BENCH_DIR/corpus"; else CORPUS="$BENCH_DIR/corpus-$BENCH_SHAPE"; fi
PARAMS="generator=$BENCH_GENERATOR events=$BENCH_EVENTS files=$BENCH_FILES seed=$BENCH_SEED shape=$BENCH_SHAPE"
if [[ -f "$CORPUS/.params" && "$(cat "$CORPUS/.params")" == "$PARAMS" ]] \
        && compgen -G "$CORPUS/part-*.gz" >/dev/null; then
    say "reusing corpus $CORPUS ($PARAMS)"
else
    say "generating corpus $CORPUS ($PARAMS)"
    rm -rf "$CORPUS"
    mkdir -p "$CORPUS"
    if [[ "$BENCH_GENERATOR" == falconry ]]; then
        GEN_CMD=("$FALCONRY" fixtures corpus --out "$CORPUS" --events "$BENCH_EVENTS" --files "$BENCH_FILES" --seed "$BENCH_SEED" --shape "$BENCH_SHAPE")
    else
        GEN_CMD=("$PY" bench/gen_corpus.py --out "$CORPUS" --events "$BENCH_EVENTS" --files "$BENCH_FILES" --seed "$BENCH_SEED")
    fi
    "${GEN_CMD[@]}" >&2
    compgen -G "$CORPUS/part-*.gz" >/dev/null || die "the generator wrote no $CORPUS/part-*.gz"
    rm -f "$CORPUS/.stats.json"
    printf '%s' "$PARAMS" >"$CORPUS/.params"
fi
mapfile -t FILES < <(printf '%s\n' "$CORPUS"/part-*.gz | LC_ALL=C sort)
if [[ "$BENCH_GENERATOR" == falconry ]]; then
    CORPUS_DESC="$CORPUS, made by: $FALCONRY fixtures corpus --out $CORPUS --events $BENCH_EVENTS --files $BENCH_FILES --seed $BENCH_SEED --shape $BENCH_SHAPE"
else
    CORPUS_DESC="$CORPUS, made by: bench/gen_corpus.py --out $CORPUS --events $BENCH_EVENTS --files $BENCH_FILES --seed $BENCH_SEED (fallback generator)"
fi

# --- 4. measure the corpus once; warm the page cache -------------------------
if [[ ! -s "$CORPUS/.stats.json" ]]; then
    say "measuring uncompressed size of ${#FILES[@]} files"
    "$PY" bench/corpus_stats.py "${FILES[@]}" >"$CORPUS/.stats.json.tmp"
    mv "$CORPUS/.stats.json.tmp" "$CORPUS/.stats.json"
else
    cat "${FILES[@]}" >/dev/null  # warm the page cache
fi
say "corpus: $(cat "$CORPUS/.stats.json")"

# --- 5. timed runs -----------------------------------------------------------
RES="$BENCH_DIR/results"
OUT="$BENCH_DIR/out"
rm -rf "$RES" "$OUT"
mkdir -p "$RES" "$OUT"
: >"$RES/runs.tsv"

# The floor: the same gzip decoder, nothing else (one figure per thread count).
FLOOR_ARGS=()
if [[ "$BENCH_SKIP_FALCONRY" != 1 ]]; then
    for T in $BENCH_THREADS; do
        "$FALCONRY" convert --inflate-only --threads "$T" --out "$OUT/floor" "${FILES[@]}" >"$RES/floor-t$T.json"
        say "gunzip floor, $T thread(s): $(cat "$RES/floor-t$T.json")"
        FLOOR_ARGS+=(--floor "$T=$RES/floor-t$T.json")
    done
fi

# Where the time goes: the conversion at 1 thread, each line taken only
# through one stage and nothing written (the last stage is the whole thing).
STAGE_ARGS=()
if [[ "$BENCH_SKIP_FALCONRY" != 1 && "$BENCH_STAGES" == 1 ]]; then
    # The stages take turns, BENCH_RUNS rounds, so a drifting machine moves them alike.
    for ((run = 1; run <= BENCH_RUNS; run++)); do
        for stage in lines sort parse build write; do
            rm -rf "$OUT/stage"
            "$PY" bench/measure.py --label "stage-$stage-r$run" --stdout /dev/null -- \
                "$FALCONRY" convert --threads 1 --stop-after "$stage" --out "$OUT/stage" "${FILES[@]}" \
                >"$RES/stage-$stage-r$run.json"
            say "stage $stage: $(cat "$RES/stage-$stage-r$run.json")"
            STAGE_ARGS+=(--stage "$stage=$RES/stage-$stage-r$run.json")
        done
    done
    rm -rf "$OUT/stage"
fi

# The daemon's input: the corpus files (hard links) under a source root, and
# one FDR notice naming them all (sizes and MD5s, as CrowdStrike sends them).
FWD="$BENCH_DIR/forward-$BENCH_SHAPE"
if [[ " $BENCH_TOOLS " == *" forward "* || " $BENCH_TOOLS " == *" forward-s3 "* ]]; then
    rm -rf "$FWD"
    mkdir -p "$FWD/source/data/bench"
    for f in "${FILES[@]}"; do
        ln "$f" "$FWD/source/data/bench/" 2>/dev/null || cp "$f" "$FWD/source/data/bench/"
    done
    "$PY" - "$FWD" "${FILES[@]}" <<'PYEOF'
import hashlib, json, os, sys
root, files = sys.argv[1], sys.argv[2:]
entries = []
for f in files:
    h = hashlib.md5()
    with open(f, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    entries.append({"path": "data/bench/" + os.path.basename(f), "size": os.path.getsize(f), "checksum": h.hexdigest()})
notice = {"cid": "0" * 32, "timestamp": 1773480000000, "fileCount": len(entries),
          "totalSize": sum(e["size"] for e in entries), "bucket": "bench",
          "pathPrefix": "data/bench", "files": entries}
with open(os.path.join(root, "notice.json"), "w") as out:
    json.dump(notice, out)
PYEOF
fi

# The S3 path: moto's server on a free port, the corpus in a source bucket
# (uploaded once, outside the measured time); each run gets a fresh queue
# holding the notice and a fresh destination bucket.
MOTO_PID=""
stop_moto() { [[ -n "$MOTO_PID" ]] && kill "$MOTO_PID" 2>/dev/null; wait "$MOTO_PID" 2>/dev/null || true; }
trap stop_moto EXIT
if [[ " $BENCH_TOOLS " == *" forward-s3 "* ]]; then
    MOTO_PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$BENCH_VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$BENCH_DIR/moto.log" 2>&1 &
    MOTO_PID=$!
    export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    for _ in $(seq 50); do "$PY" -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL/moto-api/')" 2>/dev/null && break; sleep 0.2; done
    say "moto on $AWS_ENDPOINT_URL: uploading the corpus to s3://bench-src"
    "$PY" - "$FWD/notice.json" "${FILES[@]}" <<'PYEOF'
import json, os, sys, boto3
notice, files = sys.argv[1], sys.argv[2:]
s3 = boto3.client("s3")
s3.create_bucket(Bucket="bench-src")
for f in files:
    s3.upload_file(f, "bench-src", "data/bench/" + os.path.basename(f))
n = json.load(open(notice))
n["bucket"] = "bench-src"
json.dump(n, open(notice + ".s3", "w"))
PYEOF
fi

PYARROW_EXTRA=()
[[ "$BENCH_PYARROW_FILE_PARALLEL" == 1 ]] && PYARROW_EXTRA=(--file-parallel)
DUCKDB_EXTRA=()
[[ "$BENCH_DUCKDB_SAMPLE_SIZE" != -1 ]] && DUCKDB_EXTRA=(--sample-size "$BENCH_DUCKDB_SAMPLE_SIZE")

for T in $BENCH_THREADS; do
    for tool in $BENCH_TOOLS; do
        for ((run = 1; run <= BENCH_RUNS; run++)); do
            dest="$OUT/$tool-t$T"
            case "$tool" in
                falconry) CMD=("$FALCONRY" convert --threads "$T" --out "$dest" "${FILES[@]}") ;;
                forward)
                    rm -rf "$FWD/queue"
                    mkdir -p "$FWD/queue"
                    cp "$FWD/notice.json" "$FWD/queue/notice.json"
                    CMD=(env GLIBC_TUNABLES="$IMAGE_TUNABLES" FALCONRY__FORWARDER__FILES_IN_FLIGHT="$T" "$FALCONRY" forward --until-empty --admin off
                         --queue "dir://$FWD/queue" --source "file://$FWD/source" --dest "file://$dest") ;;
                forward-s3)
                    bucket="bench-dest-t$T-r$run"
                    queue_url="$("$PY" - "$bucket" "$FWD/notice.json.s3" <<'PYEOF'
import sys, boto3
bucket, notice = sys.argv[1], sys.argv[2]
s3, sqs = boto3.client("s3"), boto3.client("sqs")
s3.create_bucket(Bucket=bucket)
url = sqs.create_queue(QueueName=bucket)["QueueUrl"]
sqs.send_message(QueueUrl=url, MessageBody=open(notice).read())
print(url)
PYEOF
)"
                    CMD=(env GLIBC_TUNABLES="$IMAGE_TUNABLES" FALCONRY__FORWARDER__FILES_IN_FLIGHT="$T" "$FALCONRY" forward --until-empty --admin off
                         --queue "$queue_url" --dest "s3://$bucket") ;;
                duckdb)   CMD=("$PY" bench/duckdb_convert.py "${FILES[@]}" --out "$dest" --threads "$T" ${DUCKDB_EXTRA[@]+"${DUCKDB_EXTRA[@]}"}) ;;
                pyarrow)  CMD=("$PY" bench/pyarrow_convert.py "${FILES[@]}" --out "$dest" --threads "$T" ${PYARROW_EXTRA[@]+"${PYARROW_EXTRA[@]}"}) ;;
                *) die "unknown tool '$tool' in BENCH_TOOLS" ;;
            esac
            rm -rf "$dest"
            mkdir -p "$dest"
            sync  # earlier runs' dirty pages are not flushed on this run's time
            tag="$tool-t$T-r$run"
            say "run $tag: ${CMD[*]}"
            "$PY" bench/measure.py --label "$tag" --stdout "$RES/$tag.out" -- "${CMD[@]}" >"$RES/$tag.json"
            if [[ "$tool" == forward ]]; then
                # The daemon prints no summary: its rows, counted from the Parquet footers.
                "$PY" -c 'import json, pathlib, sys, pyarrow.parquet as pq; print(json.dumps({"events": sum(pq.ParquetFile(p).metadata.num_rows for p in pathlib.Path(sys.argv[1]).rglob("*.parquet"))}))' \
                    "$dest" >>"$RES/$tag.out"
            fi
            if [[ "$tool" == forward-s3 ]]; then
                # Rows and Parquet bytes from the destination bucket, then the bucket goes.
                "$PY" - "$bucket" "$RES/$tag.out" "$dest" <<'PYEOF'
import io, json, os, sys, boto3, pyarrow.parquet as pq
bucket, out, dest = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3")
rows = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    for o in page.get("Contents", []):
        if o["Key"].endswith(".parquet"):
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            rows += pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
            path = os.path.join(dest, o["Key"].replace("/", "_"))
            open(path, "wb").write(body)
        s3.delete_object(Bucket=bucket, Key=o["Key"])
with open(out, "a") as f:
    f.write(json.dumps({"events": rows}) + "\n")
PYEOF
            fi
            say "  $(cat "$RES/$tag.json")"
            # Parquet bytes written, measured the same way for every tool
            "$PY" -c 'import os, sys; print(sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(sys.argv[1]) for f in fs if f.endswith(".parquet")))' \
                "$dest" >"$RES/$tag.parquet_bytes"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$T" "$run" "$RES/$tag.json" "$RES/$tag.out" \
                "$(printf '%q ' "${CMD[@]}" | sed 's/ $//')" >>"$RES/runs.tsv"
            [[ "$BENCH_KEEP_OUTPUT" == 1 ]] || rm -rf "$dest"
        done
    done
done

# --- 6. report ---------------------------------------------------------------
FALCONRY_VERSION=""
RUSTC_VERSION=""
if [[ "$BENCH_SKIP_FALCONRY" != 1 ]]; then
    FALCONRY_VERSION="$("$FALCONRY" --version 2>/dev/null | head -n1 || true)"
    FALCONRY_VERSION="${FALCONRY_VERSION:-(version unknown)}"
    RUSTC_VERSION="$(rustc --version 2>/dev/null || true)"
fi
GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || true)"
if [[ -n "$GIT_REV" ]] && [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null || true)" ]]; then
    GIT_REV="$GIT_REV+dirty"
fi

set +e
"$PY" bench/report.py --manifest "$RES/runs.tsv" --corpus-stats "$CORPUS/.stats.json" \
    --corpus-desc "$CORPUS_DESC" --falconry-version "$FALCONRY_VERSION" --rustc "$RUSTC_VERSION" \
    --git "$GIT_REV" --json-out "$BENCH_DIR/results.json" ${FLOOR_ARGS[@]+"${FLOOR_ARGS[@]}"} \
    ${STAGE_ARGS[@]+"${STAGE_ARGS[@]}"} >"$BENCH_DIR/results.txt"
rc=$?
set -e
cat "$BENCH_DIR/results.txt"
echo
echo "(also in $BENCH_DIR/results.txt and $BENCH_DIR/results.json)"
if [[ "$rc" == 3 ]]; then
    if [[ "$BENCH_STRICT" == 1 ]]; then exit 3; fi
elif [[ "$rc" != 0 ]]; then
    die "report.py failed (exit $rc)"
fi
exit 0
