#!/usr/bin/env bash
# Indicator benchmark: the corpus converted with no indicators and with
# BENCH_IOC_CONVERT (100,000) loaded (target: at least 90 % of the throughput),
# then BENCH_IOC_HUNT (10,000) indicators hunted through the Parquet it wrote
# (rows scanned per second, peak RSS).
#
# Usage: scripts/bench_hunt.sh   (after scripts/bench.sh or bench_rules.sh made the corpus)
# Environment: BENCH_DIR [target/bench]  BENCH_RUNS [3]  BENCH_THREADS ["1"]
#   BENCH_IOC_CONVERT [100000]  BENCH_IOC_HUNT [10000]  BENCH_FALCONRY_BIN [target/release/falconry]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BENCH_DIR="${BENCH_DIR:-target/bench}"
BENCH_RUNS="${BENCH_RUNS:-3}"
BENCH_THREADS="${BENCH_THREADS:-1}"
FALCONRY="${BENCH_FALCONRY_BIN:-target/release/falconry}"
PY="${PYTHON:-python3}"
CORPUS="$BENCH_DIR/corpus"
[[ -d "$CORPUS" ]] || { echo "no corpus in $CORPUS: run scripts/bench_rules.sh first" >&2; exit 1; }
mapfile -t FILES < <(find "$CORPUS" -name '*.gz' | sort)
IOC="$BENCH_DIR/iocs"
mkdir -p "$IOC"
"$PY" bench/gen_iocs.py --out "$IOC/convert.csv" --count "${BENCH_IOC_CONVERT:-100000}"
"$PY" bench/gen_iocs.py --out "$IOC/hunt.csv" --count "${BENCH_IOC_HUNT:-10000}" --seed 7
best() { sort -n | head -n 1; }
for t in $BENCH_THREADS; do
  for set in none convert; do
    secs=()
    for _ in $(seq 1 "$BENCH_RUNS"); do
      rm -rf "$BENCH_DIR/ioc-lake"
      args=(convert --threads "$t" --out "$BENCH_DIR/ioc-lake/parquet")
      [[ $set == convert ]] && args+=(--ioc "$IOC/convert.csv")
      out=$("$PY" bench/measure.py --stdout /dev/null -- "$FALCONRY" "${args[@]}" "${FILES[@]}" 2>/dev/null | tail -n 1)
      secs+=("$(echo "$out" | "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); print("%.2f s, %.1f MB" % (d["seconds"], d["max_rss_mb"]))')")
    done
    printf 'convert threads=%s indicators=%s: %s\n' "$t" "$set" "$(printf '%s\n' "${secs[@]}" | best)"
  done
done
m=$("$PY" bench/measure.py --stdout "$BENCH_DIR/hunt.json" -- "$FALCONRY" hunt --dry-run --json \
  --ioc "$IOC/hunt.csv" --lake "file://$ROOT/$BENCH_DIR/ioc-lake" 2>/dev/null | tail -n 1)
"$PY" - "$BENCH_DIR/hunt.json" "$m" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1])); m = json.loads(sys.argv[2])
print(f"hunt: {r['indicators']} indicators over {r['rows']} rows in {r['files']} files "
      f"({r['row_groups_pruned']}/{r['row_groups']} row groups pruned): {r['seconds']:.2f} s, "
      f"{r['rows_per_second']:,.0f} rows/s, peak RSS {m['max_rss_mb']:.1f} MB, {r['new']} matches")
PYEOF
# What an Athena hunt of this lake would scan: the compressed bytes of the
# columns the hunt SQL reads (hash, domain, address, file and command-line
# columns), against the whole events table.
VENV_PY="${FALCONRY_PYTHON:-.venv/bin/python}"
if "$VENV_PY" -c 'import duckdb' 2>/dev/null; then
  "$VENV_PY" - "$BENCH_DIR/ioc-lake/parquet/events" <<'PYEOF'
import duckdb, sys
glob = sys.argv[1] + "/*/*/*.parquet"
cols = ["sha256_hash_data", "sha1_hash_data", "md5_hash_data", "domain_name", "remote_address_ip4",
        "remote_address_ip6", "aip", "image_file_name", "target_file_name", "command_line"]
rows = duckdb.sql(f"SELECT path_in_schema, sum(total_compressed_size) FROM parquet_metadata('{glob}') GROUP BY 1").fetchall()
total = sum(b for _, b in rows)
by = {c: b for c, b in rows}
hunt = sum(by.get(c, 0) for c in cols)
no_cmd = hunt - by.get("command_line", 0)
mb = lambda b: b / 1e6
print(f"athena scan: hunt columns {mb(hunt):.1f} MB ({mb(no_cmd):.1f} MB without command_line) "
      f"of {mb(total):.1f} MB in the events table ({100 * hunt / max(total, 1):.0f} %)")
PYEOF
fi
