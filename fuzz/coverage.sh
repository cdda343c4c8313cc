#!/usr/bin/env bash
# Line coverage of src/ (without src/main.rs) from the COMMITTED corpus:
# fuzz/coverage.sh [OUT_DIR]
#
# Replays corpus/{seed,bombs,hostile,regressions,examples,fuzz} through every byte target
# (decode, stream, roundtrip_bytes, limits, views, scan, serde, and cpython when a shared
# libpython is found: fuzz/libpython.sh), corpus/archives through zip,
# corpus/{containers,archives} through container, and corpus/fuzz-{ops,roundtrip}
# through the structured targets with `cargo fuzz coverage`, merges
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
    echo "coverage: cpython target SKIPPED: $CPYTHON_MISSING" >&2
else
    BYTE_TARGETS+=(cpython)
fi
rustup component add llvm-tools-preview --toolchain nightly >/dev/null 2>&1 || true
TRIPLE=$(rustc +nightly -vV | sed -n 's/^host: //p')
LLVM_BIN=$(rustc +nightly --print sysroot)/lib/rustlib/$TRIPLE/bin
IGNORE='(\.cargo/|/rustc/|/fuzz/|/library/|src/main\.rs)'
# One flat input folder: cargo fuzz coverage takes one corpus directory per run.
INPUTS=$(mktemp -d)
trap 'rm -rf "$INPUTS"' EXIT
for d in seed bombs hostile compat regressions examples fuzz; do
    find "corpus/$d" -name '*.pkl' -exec cp {} "$INPUTS/" \;
done
PROFILES=()
OBJECTS=()
for t in "${BYTE_TARGETS[@]}"; do
    cargo +nightly fuzz coverage "${CPYTHON_FEATURES[@]}" "$t" "$INPUTS" >"$OUT/$t.log" 2>&1
    PROFILES+=("fuzz/coverage/$t/coverage.profdata")
    obj=target/$TRIPLE/coverage/$TRIPLE/release/$t
    [ -f "$obj" ] || obj=fuzz/target/$TRIPLE/coverage/$TRIPLE/release/$t
    OBJECTS+=(-object "$obj")
done
# The archive target replays the committed archives and the archives its fuzzing found.
ZIPS=$(mktemp -d)
cp corpus/archives/*.pt corpus/fuzz-zip/* corpus/regressions/*.zip "$ZIPS/" 2>/dev/null || true
cargo +nightly fuzz coverage "${CPYTHON_FEATURES[@]}" zip "$ZIPS" >"$OUT/zip.log" 2>&1
rm -rf "$ZIPS"
PROFILES+=("fuzz/coverage/zip/coverage.profdata")
obj=target/$TRIPLE/coverage/$TRIPLE/release/zip
[ -f "$obj" ] || obj=fuzz/target/$TRIPLE/coverage/$TRIPLE/release/zip
OBJECTS+=(-object "$obj")
# The container target replays the committed containers and archives.
CONTAINERS=$(mktemp -d)
# Named after their folder: both hold a generate.py and a manifest.json (skipped).
for f in corpus/containers/* corpus/archives/*; do
    case "$f" in
        *.py | *.json) ;;
        *) cp "$f" "$CONTAINERS/$(basename "$(dirname "$f")")-$(basename "$f")" ;;
    esac
done
cargo +nightly fuzz coverage container "$CONTAINERS" >"$OUT/container.log" 2>&1
rm -rf "$CONTAINERS"
PROFILES+=("fuzz/coverage/container/coverage.profdata")
obj=target/$TRIPLE/coverage/$TRIPLE/release/container
[ -f "$obj" ] || obj=fuzz/target/$TRIPLE/coverage/$TRIPLE/release/container
OBJECTS+=(-object "$obj")
# The torch target replays the generated checkpoints, hostile ones included.
TORCHES=$(mktemp -d)
cp corpus/torch/*.pt corpus/torch/hostile/*.pt "$TORCHES/"
cargo +nightly fuzz coverage torch "$TORCHES" >"$OUT/torch.log" 2>&1
rm -rf "$TORCHES"
PROFILES+=("fuzz/coverage/torch/coverage.profdata")
obj=target/$TRIPLE/coverage/$TRIPLE/release/torch
[ -f "$obj" ] || obj=fuzz/target/$TRIPLE/coverage/$TRIPLE/release/torch
OBJECTS+=(-object "$obj")
# The structured targets replay their own committed corpora (arbitrary's raw bytes).
for t in ops roundtrip; do
    STRUCT=$(mktemp -d)
    cp corpus/fuzz-$t/*.bin "$STRUCT/" 2>/dev/null || true
    cp corpus/regressions/$t-*.bin "$STRUCT/" 2>/dev/null || true
    cargo +nightly fuzz coverage "${CPYTHON_FEATURES[@]}" "$t" "$STRUCT" >"$OUT/$t.log" 2>&1
    rm -rf "$STRUCT"
    PROFILES+=("fuzz/coverage/$t/coverage.profdata")
    obj=target/$TRIPLE/coverage/$TRIPLE/release/$t
    [ -f "$obj" ] || obj=fuzz/target/$TRIPLE/coverage/$TRIPLE/release/$t
    OBJECTS+=(-object "$obj")
done
"$LLVM_BIN/llvm-profdata" merge -sparse "${PROFILES[@]}" -o "$OUT/all.profdata"
"$LLVM_BIN/llvm-cov" report -instr-profile="$OUT/all.profdata" "${OBJECTS[@]:1}" \
    -ignore-filename-regex="$IGNORE" | tee "$OUT/coverage.txt"
"$LLVM_BIN/llvm-cov" report -instr-profile="$OUT/all.profdata" "${OBJECTS[@]:1}" \
    -ignore-filename-regex="$IGNORE" -show-functions=false >/dev/null
"$LLVM_BIN/llvm-cov" show -instr-profile="$OUT/all.profdata" "${OBJECTS[@]:1}" \
    -ignore-filename-regex="$IGNORE" -show-line-counts -format=text >"$OUT/lines.txt"
echo "uncovered lines listed in $OUT/lines.txt (count 0)"
