#!/usr/bin/env bash
# CI fuzz smoke: fuzz/smoke.sh [SECONDS_PER_TARGET]
#
# Builds every cargo-fuzz target (no sanitizer: the fast path) and runs each one for a
# few seconds from the committed corpus, with the dictionary and libFuzzer's RSS and
# time limits. Any crash, timeout or OOM fails the run; the input is left under
# fuzz/artifacts/<target>/ for minimising into corpus/regressions/ (see nightly.sh).
# Installs cargo-fuzz and the nightly toolchain when missing (CI has no stdin).
# The `cpython` target (differential against CPython's unpickler) and the `python`
# target (the Python package's loads) need a shared libpython; without one they are
# skipped, and the run says so (fuzz/libpython.sh).
set -euo pipefail
SECS=${1:-20}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

TARGETS=(decode stream ops roundtrip roundtrip_bytes limits views serde zip scan container torch policy)
STRUCTURED=" ops roundtrip "
source fuzz/libpython.sh
if [ -n "$CPYTHON_MISSING" ]; then
    echo "== fuzz smoke: cpython, python SKIPPED: $CPYTHON_MISSING"
else
    TARGETS+=(cpython python)
fi
cargo +nightly fuzz build -s none "${CPYTHON_FEATURES[@]}"
TRIPLE=$(rustc +nightly -vV | sed -n 's/^host: //p')
BIN=fuzz/target/$TRIPLE/release
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "$WORK/$t" "fuzz/artifacts/$t"
    args=("$WORK/$t")
    if [[ $t == zip ]]; then
        args+=(corpus/archives)
        [[ -d corpus/fuzz-zip ]] && args+=(corpus/fuzz-zip)
    elif [[ $t == container ]]; then
        args+=(corpus/containers corpus/archives)
        [ -d corpus/fuzz-files ] && args+=(corpus/fuzz-files)
    elif [[ $t == torch ]]; then
        args+=(corpus/torch corpus/torch/hostile corpus/archives corpus/seed -dict=fuzz/pickle.dict)
        [ -d corpus/torch/fuzz ] && args+=(corpus/torch/fuzz)
    elif [[ $t == policy ]]; then
        args+=(corpus/fuzz-policy policies)
    elif [[ $t == python ]]; then
        # loads over pickles, and pytorch.tensors over checkpoints.
        args+=(corpus/seed corpus/hostile corpus/bombs corpus/regressions corpus/torch
               corpus/torch/hostile -dict=fuzz/pickle.dict)
    elif [[ $STRUCTURED != *" $t "* ]]; then
        args+=(corpus/seed corpus/hostile corpus/bombs corpus/regressions -dict=fuzz/pickle.dict)
    fi
    echo "== fuzz smoke: $t (${SECS}s)"
    if ! "$BIN/$t" "${args[@]}" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 \
            -max_len=65536 -artifact_prefix="fuzz/artifacts/$t/" >"$WORK/$t.log" 2>&1; then
        tail -40 "$WORK/$t.log"
        echo "fuzz smoke: $t FAILED (input under fuzz/artifacts/$t/)"
        status=1
    else
        grep -aE '^#[0-9]+.*(DONE|exec/s)' "$WORK/$t.log" | tail -1 || true
    fi
done
exit $status
