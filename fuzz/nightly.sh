#!/usr/bin/env bash
# Nightly fuzzing: fuzz/nightly.sh BUDGET_SECONDS
#
#  1. builds every target (cargo fuzz, no sanitizer, release) — a failure here is fatal;
#  2. replays corpus/ through the target bodies (`cargo test ... fuzz_replay`, heap test);
#  3. fuzzes every target for its share of the budget, two targets side by side (2 cores),
#     with fuzz/pickle.dict for the byte targets, -rss_limit_mb=2048 -timeout=10;
#     10% of the budget (at least 30 s) goes to an AddressSanitizer run of `decode`;
#  4. minimises every crash / timeout / OOM (cargo fuzz tmin) into
#     corpus/regressions/<target>-<hash>.pkl (byte targets) or .bin (structured targets,
#     replayed through `arbitrary` by tests/suite/fuzz_replay.rs), with a .txt note;
#  5. merges the new coverage into a minimised corpus, fuzz/corpus/<target> (cargo fuzz
#     cmin; files over MAX_FILE_BYTES dropped, at most MAX_FILES kept);
#  6. measures line coverage of src/ (without src/main.rs) from each target's corpus
#     (cargo fuzz coverage + llvm-cov), per target and for all targets together;
#  7. writes fuzz/report/report.md and fuzz/report/report.json;
#  8. appends the run's figures (execs/s and coverage per target, corpus sizes, new
#     findings) to fuzz/report/history.jsonl, the one file kept from run to run, and
#     draws fuzz/report/trend.html from it (fuzz/trend.py: inline SVG, no dependencies),
#     so a slowdown or a coverage drop shows the next morning.
# The `cpython` target (differential against CPython's unpickler) and the `python`
# target (the Python package's loads, python/src/harness.rs) run when a shared
# libpython is found (fuzz/libpython.sh); otherwise the run says they were skipped.
# Exits 1 if any step found a failure (crash, timeout, OOM, replay failure), 2 if a build
# failed. The budget covers steps 3 (fuzzing); building and coverage come on top
# (about 10 minutes from a cold cache on 2 cores).
set -uo pipefail

BUDGET=${1:?usage: fuzz/nightly.sh BUDGET_SECONDS}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TARGETS=(decode stream ops roundtrip roundtrip_bytes limits views serde zip scan container torch policy)
STRUCTURED=" ops roundtrip "          # inputs go through `arbitrary`, not pickle bytes
SEED_DIRS=(corpus/seed corpus/hostile corpus/bombs corpus/examples corpus/regressions)
source fuzz/libpython.sh
# cargo fuzz coverage builds with AddressSanitizer, whose leak check at exit would
# report the cpython target's embedded interpreter (never finalized) as leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
[ -z "$CPYTHON_MISSING" ] && TARGETS+=(cpython python)
LANES=${LANES:-2}
MAX_LEN=${MAX_LEN:-65536}
MAX_FILES=${MAX_FILES:-4000}
MAX_FILE_BYTES=${MAX_FILE_BYTES:-65536}
LIBFUZZER_FLAGS=(-rss_limit_mb=2048 -timeout=10 -max_len="$MAX_LEN" -print_final_stats=1)

TRIPLE=$(rustc +nightly -vV | sed -n 's/^host: //p')
BIN=fuzz/target/$TRIPLE/release
ASAN_DIR=fuzz/target-asan
REPORT=fuzz/report
LOGS=$REPORT/logs
HISTORY=${HISTORY:-$REPORT/history.jsonl}
# Everything but the history is this run's.
mkdir -p "$REPORT"
find "$REPORT" -mindepth 1 -maxdepth 1 ! -name history.jsonl -exec rm -rf {} +
mkdir -p "$LOGS"
STATUS=0
START=$(date +%s)

say() { echo "[nightly +$(( $(date +%s) - START ))s] $*"; }
is_structured() { [[ $STRUCTURED == *" $1 "* ]]; }
[ -n "$CPYTHON_MISSING" ] && say "cpython and python targets SKIPPED: $CPYTHON_MISSING"

# ----- 1. build ------------------------------------------------------------------------
say "building ${#TARGETS[@]} targets (-s none, release)"
if ! cargo +nightly fuzz build -s none "${CPYTHON_FEATURES[@]}" >"$LOGS/build.log" 2>&1; then
    tail -30 "$LOGS/build.log"
    say "build failed"
    exit 2
fi

# ----- 2. replay the corpus ------------------------------------------------------------
say "replaying corpus/ (cargo test --release: fuzz_replay, heap)"
REPLAY=passed
if [ -z "$CPYTHON_MISSING" ]; then
    REPLAY_ARGS=(--features cpython --test suite -- fuzz_replay cpython::)
else
    REPLAY_ARGS=(--features harness --test suite -- fuzz_replay)
fi
if ! cargo test --release "${REPLAY_ARGS[@]}" >"$LOGS/replay.log" 2>&1; then
    REPLAY=failed
    STATUS=1
    grep -E '^FAILED ' "$LOGS/replay.log" | cut -c1-300 | head -20
fi
# The python target's body lives in the glue crate, which replays it itself.
if [ -z "$CPYTHON_MISSING" ] && ! cargo test --release -p pickleproof-python \
        --features harness --test fuzz_replay >>"$LOGS/replay.log" 2>&1; then
    REPLAY=failed
    STATUS=1
    grep -E 'broke an oracle' -A20 "$LOGS/replay.log" | cut -c1-300 | head -20
fi
HEAP=passed
if ! cargo test --release --features harness --test heap -- --nocapture \
        >"$LOGS/heap.log" 2>&1; then
    HEAP=failed
    STATUS=1
fi
grep '^heap:' "$LOGS/heap.log" || true
say "replay $REPLAY, heap $HEAP"

# ----- 3. fuzz -------------------------------------------------------------------------
ASAN_SECS=$(( BUDGET / 10 > 30 ? BUDGET / 10 : 30 ))
FUZZ_SECS=$(( BUDGET - ASAN_SECS > 60 ? BUDGET - ASAN_SECS : 60 ))
SHARE=$(( FUZZ_SECS * LANES / ${#TARGETS[@]} ))
say "fuzzing: ${SHARE}s per target, $LANES at a time; ASan decode ${ASAN_SECS}s"

declare -A BEFORE
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    BEFORE[$t]=$(find "fuzz/corpus/$t" -type f | wc -l)
done

# One target for `secs` seconds; libFuzzer stops at a crash, so it restarts (at most 3
# times) while time is left, each run appending to the target's log.
fuzz_one() {
    local t=$1 secs=$2 bin=$3 log=$4
    shift 4
    local end=$(( $(date +%s) + secs )) tries=0
    local args=("fuzz/corpus/$t")
    if [ "$t" = zip ]; then
        args+=(corpus/archives)
        [ -d corpus/fuzz-zip ] && args+=(corpus/fuzz-zip)
    elif [ "$t" = container ]; then
        args+=(corpus/containers corpus/archives)
        [ -d corpus/fuzz-files ] && args+=(corpus/fuzz-files)
    elif [ "$t" = torch ]; then
        args+=(corpus/torch corpus/torch/hostile corpus/archives corpus/seed -dict=fuzz/pickle.dict)
        [ -d corpus/torch/fuzz ] && args+=(corpus/torch/fuzz)
    elif [ "$t" = policy ]; then
        args+=(corpus/fuzz-policy policies)
    elif [ "$t" = python ]; then
        # loads over pickles, and pytorch.tensors over checkpoints.
        for d in "${SEED_DIRS[@]}" corpus/torch corpus/torch/hostile; do [ -d "$d" ] && args+=("$d"); done
        args+=(-dict=fuzz/pickle.dict)
    elif ! is_structured "$t"; then
        for d in "${SEED_DIRS[@]}"; do [ -d "$d" ] && args+=("$d"); done
        args+=(-dict=fuzz/pickle.dict)
    fi
    : >"$log"
    while :; do
        local left=$(( end - $(date +%s) ))
        (( left < 5 || tries > 3 )) && break
        local rc=0
        "$bin" "${args[@]}" "${LIBFUZZER_FLAGS[@]}" "$@" -max_total_time="$left" \
            -artifact_prefix="fuzz/artifacts/$t/" >>"$log" 2>&1 || rc=$?
        tries=$(( tries + 1 ))
        (( rc == 0 )) && break
    done
}

progress() {
    local line="" t last
    for t in "$@"; do
        last=$(grep -aoE '^#[0-9]+.*exec/s: [0-9]+' "$LOGS/$t.log" 2>/dev/null | tail -1 |
            sed -E 's/^#([0-9]+).*exec\/s: ([0-9]+)/\1 execs, \2\/s/')
        line+=" | $t: ${last:-starting}"
    done
    say "progress${line}"
}

queue=("${TARGETS[@]}")
running=()
while (( ${#queue[@]} > 0 || ${#running[@]} > 0 )); do
    while (( ${#running[@]} < LANES && ${#queue[@]} > 0 )); do
        t=${queue[0]}
        queue=("${queue[@]:1}")
        fuzz_one "$t" "$SHARE" "$BIN/$t" "$LOGS/$t.log" &
        eval "PID_$t=$!"
        running+=("$t")
    done
    sleep 15
    progress "${running[@]}"
    still=()
    for t in "${running[@]}"; do
        pid_var="PID_$t"
        if kill -0 "${!pid_var}" 2>/dev/null; then still+=("$t"); else wait "${!pid_var}"; fi
    done
    running=("${still[@]}")
done

say "building decode with AddressSanitizer"
if cargo +nightly fuzz build -s address --target-dir "$ASAN_DIR" decode \
        >"$LOGS/build-asan.log" 2>&1; then
    mkdir -p fuzz/corpus/decode-asan
    fuzz_one decode "$ASAN_SECS" "$ASAN_DIR/$TRIPLE/release/decode" "$LOGS/decode-asan.log" \
        -malloc_limit_mb=1024
    ASAN=ran
else
    ASAN=build-failed
    STATUS=1
fi

# ----- 4. crashes ----------------------------------------------------------------------
CRASHES_JSON=""
mkdir -p corpus/regressions
for t in "${TARGETS[@]}"; do
    for f in fuzz/artifacts/"$t"/crash-* fuzz/artifacts/"$t"/timeout-* \
             fuzz/artifacts/"$t"/oom-* fuzz/artifacts/"$t"/leak-*; do
        [ -f "$f" ] || continue
        STATUS=1
        kind=$(basename "$f" | cut -d- -f1)
        say "$t: $kind $(basename "$f"): minimising"
        cargo +nightly fuzz tmin -s none "${CPYTHON_FEATURES[@]}" -r 500 "$t" "$f" -- \
            -timeout=10 -rss_limit_mb=2048 \
            >"$LOGS/tmin-$t-$(basename "$f").log" 2>&1
        min=$(ls -t fuzz/artifacts/"$t"/minimized-from-* 2>/dev/null | head -1)
        [ -n "$min" ] || min=$f
        hash=$(sha1sum "$min" | cut -c1-12)
        ext=pkl
        is_structured "$t" && ext=bin
        [ "$t" = zip ] && ext=zip   # replayed through the zip body by cargo test
        [ "$t" = container ] && ext=bin   # replayed through the container body
        [ "$t" = torch ] && ext=pt   # replayed through the torch body
        [ "$t" = policy ] && ext=policy   # replayed through the policy body
        dest=corpus/regressions/$t-$hash.$ext
        cp "$min" "$dest"
        why=$("$BIN/$t" "$dest" -timeout=10 -rss_limit_mb=2048 2>&1 |
            grep -aE -A2 "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer" | head -3 |
            tr '\n' ' ' | cut -c1-400)
        if is_structured "$t"; then
            fmt=$(cargo +nightly fuzz fmt -s none "${CPYTHON_FEATURES[@]}" "$t" "$dest" 2>/dev/null | head -40 | tr '\n' ' ' | cut -c1-600)
            why="$why input: $fmt"
        fi
        echo "found by fuzz/nightly.sh ($t, $kind); root cause to be written: $why" >"${dest%.*}.txt"
        say "saved $dest"
        CRASHES_JSON+="{\"target\":\"$t\",\"kind\":\"$kind\",\"file\":\"$dest\"},"
        mv "$f" "$f.reported"
    done
done

# ----- 5. minimise and cap the corpora -------------------------------------------------
say "minimising corpora (cargo fuzz cmin)"
declare -A AFTER
for t in "${TARGETS[@]}"; do
    cargo +nightly fuzz cmin -s none "${CPYTHON_FEATURES[@]}" "$t" "fuzz/corpus/$t" -- \
        -max_len="$MAX_LEN" \
        -rss_limit_mb=2048 -timeout=10 >"$LOGS/cmin-$t.log" 2>&1 || true
    find "fuzz/corpus/$t" -type f -size +"$MAX_FILE_BYTES"c -delete
    n=$(find "fuzz/corpus/$t" -type f | wc -l)
    if (( n > MAX_FILES )); then
        find "fuzz/corpus/$t" -type f -printf '%s %p\n' | sort -n | tail -n +$(( MAX_FILES + 1 )) |
            cut -d' ' -f2- | xargs -r rm -f
    fi
    AFTER[$t]=$(find "fuzz/corpus/$t" -type f | wc -l)
done

# ----- 6. coverage ---------------------------------------------------------------------
SYSROOT=$(rustc +nightly --print sysroot)
LLVM_BIN=$SYSROOT/lib/rustlib/$TRIPLE/bin
IGNORE='(\.cargo/|/rustc/|/fuzz/|/library/|src/main\.rs)'
declare -A COV
COV_OBJECTS=()
PROFILES=()
say "coverage (cargo fuzz coverage + llvm-cov)"
for t in "${TARGETS[@]}"; do
    if ! cargo +nightly fuzz coverage "${CPYTHON_FEATURES[@]}" "$t" "fuzz/corpus/$t" \
            >"$LOGS/coverage-$t.log" 2>&1; then
        COV[$t]=null
        continue
    fi
    prof=fuzz/coverage/$t/coverage.profdata
    obj=target/$TRIPLE/coverage/$TRIPLE/release/$t
    [ -f "$obj" ] || obj=fuzz/target/$TRIPLE/coverage/$TRIPLE/release/$t
    if [ -f "$prof" ] && [ -f "$obj" ] && [ -x "$LLVM_BIN/llvm-cov" ]; then
        COV[$t]=$("$LLVM_BIN/llvm-cov" export -summary-only -instr-profile="$prof" "$obj" \
            -ignore-filename-regex="$IGNORE" 2>/dev/null |
            python3 -c 'import json,sys; print(round(json.load(sys.stdin)["data"][0]["totals"]["lines"]["percent"],2))' \
            2>/dev/null || echo null)
        PROFILES+=("$prof")
        COV_OBJECTS+=(-object "$obj")
    else
        COV[$t]=null
    fi
done
COV_ALL=null
if (( ${#PROFILES[@]} > 0 )); then
    "$LLVM_BIN/llvm-profdata" merge -sparse "${PROFILES[@]}" -o "$REPORT/all.profdata" 2>/dev/null
    first=${COV_OBJECTS[1]}
    rest=("${COV_OBJECTS[@]:2}")
    "$LLVM_BIN/llvm-cov" report -instr-profile="$REPORT/all.profdata" "$first" "${rest[@]}" \
        -ignore-filename-regex="$IGNORE" >"$REPORT/coverage.txt" 2>/dev/null
    COV_ALL=$("$LLVM_BIN/llvm-cov" export -summary-only -instr-profile="$REPORT/all.profdata" \
        "$first" "${rest[@]}" -ignore-filename-regex="$IGNORE" 2>/dev/null |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["data"][0]["totals"]["lines"]["percent"],2))' \
        2>/dev/null || echo null)
fi

# ----- 7. report -----------------------------------------------------------------------
ROWS=""
for t in "${TARGETS[@]}" decode-asan; do
    log=$LOGS/$t.log
    [ -f "$log" ] || continue
    base=${t%-asan}
    ROWS+="$t ${BEFORE[$base]:-0} ${AFTER[$base]:-0} ${COV[$t]:-null}\n"
done
printf "$ROWS" >"$REPORT/rows.txt"
python3 - "$REPORT" "$BUDGET" "$SHARE" "$ASAN_SECS" "$REPLAY" "$HEAP" "$ASAN" \
    "$COV_ALL" "[${CRASHES_JSON%,}]" <<'PY'
import json, re, sys, pathlib
report, budget, share, asan_secs, replay, heap, asan, cov_all, crashes = sys.argv[1:10]
logs = pathlib.Path(report) / "logs"
def num(v):
    try:
        return float(v) if "." in v else int(v)
    except (TypeError, ValueError):
        return None
targets = []
for line in pathlib.Path(report, "rows.txt").read_text().split("\n"):
    if not line.strip():
        continue
    name, before, after, cov = line.split()
    text = (logs / f"{name}.log").read_text(errors="replace")
    def stat(key):
        vals = re.findall(rf"stat::{key}:\s+(\d+)", text)
        return [int(v) for v in vals]
    execs = sum(stat("number_of_executed_units"))
    rates = stat("average_exec_per_sec")
    runs = len(rates)
    secs = int(asan_secs) if name.endswith("-asan") else int(share)
    crashes_here = len(re.findall(r"^SUMMARY: libFuzzer|^==\d+== ERROR", text, re.M))
    targets.append({
        "target": name,
        "seconds": secs,
        "runs": runs,
        "execs": execs,
        "execs_per_sec": round(execs / secs, 1) if secs else None,
        "new_corpus_entries": sum(stat("new_units_added")),
        "corpus_before": int(before),
        "corpus_after_cmin": int(after),
        "line_coverage_percent": num(cov),
        "crashes": crashes_here,
        "peak_rss_mb": max(stat("peak_rss_mb"), default=None),
    })
crash_list = json.loads(crashes)
doc = {
    "budget_seconds": int(budget),
    "seconds_per_target": int(share),
    "replay": replay,
    "heap_test": heap,
    "asan": asan,
    "line_coverage_percent_all_targets": num(cov_all),
    "coverage_scope": "src/ without src/main.rs (llvm-cov, corpus of each target)",
    "targets": targets,
    "crashes": crash_list,
}
pathlib.Path(report, "report.json").write_text(json.dumps(doc, indent=2) + "\n")
md = [f"# Nightly fuzzing report", "",
      f"Budget {budget} s ({share} s per target, ASan decode {asan_secs} s). "
      f"Corpus replay: **{replay}**; heap test: **{heap}**; ASan: {asan}.", "",
      f"Line coverage of src/ (without src/main.rs), all targets: **{cov_all}%**", "",
      "| target | s | execs | execs/s | new entries | corpus (cmin) | line cov % | crashes | peak RSS MB |",
      "|---|---|---|---|---|---|---|---|---|"]
for t in targets:
    md.append(f"| {t['target']} | {t['seconds']} | {t['execs']} | {t['execs_per_sec']} | "
              f"{t['new_corpus_entries']} | {t['corpus_after_cmin']} | {t['line_coverage_percent']} | "
              f"{t['crashes']} | {t['peak_rss_mb']} |")
md.append("")
if crash_list:
    md.append("## Crashes (minimised, saved for `cargo test`)")
    md += [f"- `{c['file']}` ({c['target']}, {c['kind']})" for c in crash_list]
else:
    md.append("No crash, timeout or OOM.")
pathlib.Path(report, "report.md").write_text("\n".join(md) + "\n")
print("\n".join(md))
PY

# ----- 8. history and trend ------------------------------------------------------------
python3 fuzz/trend.py append "$REPORT/report.json" "$HISTORY" \
    --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --note "${CPYTHON_MISSING:+cpython skipped: $CPYTHON_MISSING}"
python3 fuzz/trend.py draw "$HISTORY" "$REPORT/trend.html" | tee -a "$REPORT/report.md"
say "trend: $REPORT/trend.html ($(wc -l <"$HISTORY") runs in $HISTORY)"

say "done in $(( $(date +%s) - START ))s, exit $STATUS"
exit $STATUS
