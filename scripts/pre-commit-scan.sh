#!/usr/bin/env bash
# Entry point of the pre-commit hook (.pre-commit-hooks.yaml): builds the CLI once from
# this checkout, then scans the files pre-commit passes. Exit codes are `scan`'s.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$here/target/release/pickleproof"
if [ ! -x "$bin" ] || [ "$here/Cargo.lock" -nt "$bin" ]; then
    cargo build --release --locked --features cli --manifest-path "$here/Cargo.toml" -q
fi
policy=(--policy ml)
for a in "$@"; do
    [ "$a" = --policy ] && policy=()
done
exec "$bin" scan --no-progress "${policy[@]}" "$@"
