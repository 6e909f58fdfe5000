#!/usr/bin/env bash
# Detection benchmark: the same corpus converted with no rules, with the starter
# rules, and with 1,000 generated rules; then the backtest over the Parquet it wrote.
#
# Usage (from anywhere):
#   scripts/bench_rules.sh
#
# What it does:
#   1. builds falconry (cargo build --release --locked) unless BENCH_FALCONRY_BIN is set;
#   2. generates the corpus (falconry fixtures corpus, 1,000,000 events in 8 files) unless
#      $BENCH_DIR/corpus already holds it (scripts/bench.sh makes the same one);
#   3. generates BENCH_RULE_COUNT rules (bench/gen_rules.py) and checks they all load;
#   4. for each rule set (none, starter, generated) runs, BENCH_RUNS times, under
#      bench/measure.py (wall time + peak RSS):
#        falconry convert --threads T --out OUT [--rules DIR] FILE...
#   5. runs the backtest of each rule set over the Parquet of the no-rule run:
#        falconry rules backtest --rules DIR --lake file://OUT --json
#   6. prints a table: rule set, threads, seconds (fastest run), events/s, % of the
#      no-rule throughput, peak RSS, findings; and backtest events/s. The targets: with
#      1,000 rules at least 75 % of the no-rule throughput, peak RSS under 300 MB.
#
# Environment overrides (defaults in brackets):
#   BENCH_DIR [target/bench]  BENCH_EVENTS [1000000]  BENCH_FILES [8]  BENCH_SEED [42]
#   BENCH_THREADS ["1 2"]  BENCH_RUNS [3]  BENCH_RULE_COUNT [1000]
#   BENCH_FALCONRY_BIN [target/release/falconry]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BENCH_DIR="${BENCH_DIR:-target/bench}"
BENCH_EVENTS="${BENCH_EVENTS:-1000000}"
BENCH_FILES="${BENCH_FILES:-8}"
BENCH_SEED="${BENCH_SEED:-42}"
BENCH_THREADS="${BENCH_THREADS:-1 2}"
BENCH_RUNS="${BENCH_RUNS:-3}"
BENCH_RULE_COUNT="${BENCH_RULE_COUNT:-1000}"
FALCONRY="${BENCH_FALCONRY_BIN:-target/release/falconry}"
PY="${PYTHON:-python3}"
say() { printf '==> %s\n' "$*" >&2; }

if [[ -z "${BENCH_FALCONRY_BIN:-}" ]]; then
    say "cargo build --release --locked"
    cargo build --release --locked
fi
CORPUS="$BENCH_DIR/corpus"
PARAMS="generator=falconry events=$BENCH_EVENTS files=$BENCH_FILES seed=$BENCH_SEED"
if [[ "$(cat "$CORPUS/.params" 2>/dev/null || true)" != "$PARAMS" ]]; then
    say "generating the corpus ($PARAMS)"
    rm -rf "$CORPUS"
    "$FALCONRY" fixtures corpus --out "$CORPUS" --events "$BENCH_EVENTS" --files "$BENCH_FILES" --seed "$BENCH_SEED" >/dev/null
    echo "$PARAMS" >"$CORPUS/.params"
fi
mapfile -t FILES < <(find "$CORPUS" -name '*.gz' | sort)
RULES="$BENCH_DIR/rules"
rm -rf "$RULES"
mkdir -p "$RULES"
"$FALCONRY" rules init --out "$RULES/starter" >/dev/null
"$PY" bench/gen_rules.py --out "$RULES/generated" --count "$BENCH_RULE_COUNT" --seed "$BENCH_SEED"
"$FALCONRY" rules test --rules "$RULES/generated" | tail -n 1 | grep -q " 0 error(s)" \
    || { echo "bench_rules.sh: generated rules do not all load" >&2; exit 1; }

RES="$BENCH_DIR/rules-results"
rm -rf "$RES"
mkdir -p "$RES"
for T in $BENCH_THREADS; do
    for SET in none starter generated; do
        for ((i = 1; i <= BENCH_RUNS; i++)); do
            OUT="$BENCH_DIR/rules-out/$SET-$T"
            rm -rf "$OUT"
            EXTRA=()
            [[ "$SET" != none ]] && EXTRA=(--rules "$RULES/$SET")
            say "convert: rules=$SET threads=$T run $i"
            "$PY" bench/measure.py --label "$SET-$T-$i" --stdout "$RES/$SET-$T-$i.out" -- \
                "$FALCONRY" convert --threads "$T" --out "$OUT/parquet" ${EXTRA[@]+"${EXTRA[@]}"} "${FILES[@]}" \
                >"$RES/$SET-$T-$i.json"
        done
    done
done
T1="$(awk '{print $1}' <<<"$BENCH_THREADS")"
for SET in starter generated; do
    say "backtest: rules=$SET"
    "$PY" bench/measure.py --label "backtest-$SET" --stdout "$RES/backtest-$SET.out" -- \
        "$FALCONRY" rules backtest --rules "$RULES/$SET" --lake "file://$BENCH_DIR/rules-out/none-$T1" --json --samples 1 \
        >"$RES/backtest-$SET.json"
done

"$PY" - "$RES" "$BENCH_THREADS" "$BENCH_RUNS" <<'PYEOF'
import json, sys
from pathlib import Path
res, threads, runs = Path(sys.argv[1]), sys.argv[2].split(), int(sys.argv[3])
rows = []
print("conversion: events/s over the converter's own time (rules loaded once before it, as a daemon does);")
print("process: wall time of the whole command, rule loading included; both the fastest of the runs")
print(f"{'rules':<17} {'threads':>7} {'convert s':>9} {'events/s':>10} {'vs none':>8} {'process s':>9} {'vs none':>8} {'peak RSS MB':>11} {'findings':>9}")
for t in threads:
    base = None
    for s in ["none", "starter", "generated"]:
        runs_ = []
        for i in range(1, runs + 1):
            m = json.loads((res / f"{s}-{t}-{i}.json").read_text())
            out = json.loads((res / f"{s}-{t}-{i}.out").read_text())
            if m["exit_code"] != 0:
                sys.exit(f"{s}-{t}-{i} failed")
            runs_.append((m, out))
        conv = min(runs_, key=lambda r: r[1]["seconds"])
        proc = min(runs_, key=lambda r: r[0]["seconds"])
        eps = conv[1]["events"] / conv[1]["seconds"]
        peps = proc[1]["events"] / proc[0]["seconds"]
        if base is None:
            base = (eps, peps)
        rss = max(r[0]["max_rss_mb"] for r in runs_)
        label = f"{s} ({conv[1]['rules']})"
        print(f"{label:<17} {t:>7} {conv[1]['seconds']:>9.2f} {eps:>10,.0f} {eps / base[0]:>7.0%} "
              f"{proc[0]['seconds']:>9.2f} {peps / base[1]:>7.0%} {rss:>11.1f} {conv[1]['findings']:>9,}")
for s in ["starter", "generated"]:
    m = json.loads((res / f"backtest-{s}.json").read_text())
    r = json.loads((res / f"backtest-{s}.out").read_text())
    hits = sum(x["hits"] for x in r["rules"])
    print(f"backtest {s}: {r['events']:,} events ({r['events_evaluated']:,} read by rules) in {m['seconds']:.2f} s: "
          f"{r['events'] / m['seconds']:,.0f} events/s, {hits:,} hits, peak RSS {m['max_rss_mb']:.1f} MB")
PYEOF
