#!/usr/bin/env bash
# Line coverage of src/ (without src/main.rs) from the COMMITTED corpus:
# fuzz/coverage.sh [OUT_DIR]
#
# Replays the committed pickles (corpus/{seed,bombs,hostile,compat,regressions,examples,
# fuzz}) through every byte target (decode, stream, roundtrip_bytes, limits, views, scan,
# serde, and cpython and python when a shared libpython is found: fuzz/libpython.sh), every model
# file, container and checkpoint (corpus/{benign,containers,archives,torch,fuzz-zip,
# fuzz-files})
# through scan and container, archives through zip, checkpoints through torch, policy
# files (corpus/fuzz-policy, policies/) through policy, and corpus/fuzz-{ops,roundtrip}
# through the structured targets, with `cargo fuzz coverage`, merges
# the profiles and prints llvm-cov's per-file report plus the total. Needs nightly with
# llvm-tools-preview (installed when missing) and cargo-fuzz.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${1:-fuzz/report/committed-coverage}
mkdir -p "$OUT"
source fuzz/libpython.sh
# cargo fuzz coverage builds with AddressSanitizer, whose leak check at exit would
# report the cpython target's embedded interpreter (never finalized) as leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
BYTE_TARGETS=(decode stream roundtrip_bytes limits views scan serde)
if [ -n "$CPYTHON_MISSING" ]; then
    echo "coverage: cpython and python targets SKIPPED: $CPYTHON_MISSING" >&2
else
    BYTE_TARGETS+=(cpython python)
fi
rustup component add llvm-tools-preview --toolchain nightly >/dev/null 2>&1 || true
TRIPLE=$(rustc +nightly -vV | sed -n 's/^host: //p')
LLVM_BIN=$(rustc +nightly --print sysroot)/lib/rustlib/$TRIPLE/bin
IGNORE='(\.cargo/|/rustc/|/fuzz/|/library/|src/main\.rs)'
PROFILES=()
OBJECTS=()
# cover TARGET GLOB...: replays the files the globs name (flattened into one folder,
# each named after its folder so equal names do not clash) through TARGET.
cover() {
    local t=$1 inputs f
    shift
    inputs=$(mktemp -d)
    for f in "$@"; do
        [ -f "$f" ] || continue
        cp "$f" "$inputs/$(basename "$(dirname "$f")")-$(basename "$f")"
    done
    cargo +nightly fuzz coverage "${CPYTHON_FEATURES[@]}" "$t" "$inputs" >"$OUT/$t.log" 2>&1
    rm -rf "$inputs"
    PROFILES+=("fuzz/coverage/$t/coverage.profdata")
    local obj=target/$TRIPLE/coverage/$TRIPLE/release/$t
    [ -f "$obj" ] || obj=fuzz/target/$TRIPLE/coverage/$TRIPLE/release/$t
    OBJECTS+=(-object "$obj")
}
shopt -s nullglob
PICKLES=(corpus/{seed,bombs,hostile,compat,regressions,examples,fuzz}/*.pkl)
# Every committed file that is not a script or a manifest: model files, containers,
# checkpoints, archives (the scan and container targets read any file).
FILES=()
for f in corpus/{benign,containers,archives,torch,torch/hostile,torch/fuzz,compat,fuzz-zip,fuzz-files}/*; do
    case "$f" in *.py | *.json | *.md) ;; *) FILES+=("$f") ;; esac
done
for t in "${BYTE_TARGETS[@]}"; do
    case "$t" in
        scan) cover scan "${PICKLES[@]}" "${FILES[@]}" ;;
        python) cover python "${PICKLES[@]}" corpus/torch/*.pt corpus/torch/hostile/*.pt ;;
        *) cover "$t" "${PICKLES[@]}" ;;
    esac
done
# Archives through zip; any file through container; checkpoints through torch.
cover zip corpus/archives/*.pt corpus/fuzz-zip/* corpus/regressions/*.zip
cover container "${FILES[@]}" corpus/regressions/container-*.bin
cover torch corpus/torch/*.pt corpus/torch/hostile/*.pt corpus/torch/fuzz/*.pt corpus/archives/*.pt \
    corpus/regressions/torch-*.pt
# Policy files, the presets and the policy target's finds.
cover policy corpus/fuzz-policy/* policies/*.txt corpus/regressions/*.policy
# The structured targets replay their own committed corpora (arbitrary's raw bytes).
for t in ops roundtrip; do
    cover "$t" corpus/fuzz-$t/*.bin corpus/regressions/$t-*.bin
done
"$LLVM_BIN/llvm-profdata" merge -sparse "${PROFILES[@]}" -o "$OUT/all.profdata"
"$LLVM_BIN/llvm-cov" report -instr-profile="$OUT/all.profdata" "${OBJECTS[@]:1}" \
    -ignore-filename-regex="$IGNORE" | tee "$OUT/coverage.txt"
"$LLVM_BIN/llvm-cov" report -instr-profile="$OUT/all.profdata" "${OBJECTS[@]:1}" \
    -ignore-filename-regex="$IGNORE" -show-functions=false >/dev/null
"$LLVM_BIN/llvm-cov" show -instr-profile="$OUT/all.profdata" "${OBJECTS[@]:1}" \
    -ignore-filename-regex="$IGNORE" -show-line-counts -format=text >"$OUT/lines.txt"
echo "uncovered lines listed in $OUT/lines.txt (count 0)"
