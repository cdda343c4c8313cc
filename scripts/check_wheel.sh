#!/usr/bin/env bash
# Builds the Python package's wheel with maturin, installs it in a fresh venv and runs
# python/tests against the installed package (not the source tree): what `pip install`
# gives a user. Needs python3 with venv and PyPI (for maturin). Used by .ci/run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q "maturin>=1.9,<2"
(cd "$ROOT/python" && "$WORK/venv/bin/maturin" build --release -q -o "$WORK/wheels")
"$WORK/venv/bin/pip" install -q "$WORK"/wheels/*.whl
# From a directory without the source package, so `import pickleproof` is the wheel's.
cd "$WORK"
"$WORK/venv/bin/python" -c 'import pickleproof, sys; print("wheel:", pickleproof.__file__)'
"$WORK/venv/bin/python" -m unittest discover -s "$ROOT/python/tests" -t "$ROOT/python/tests"
