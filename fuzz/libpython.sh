# Sourced by smoke.sh, nightly.sh and coverage.sh. The `cpython` target links a shared
# libpython (pyo3 finds it through $PYO3_PYTHON or python3, as the build will).
# Sets CPYTHON_FEATURES=(--features cpython) when there is one; otherwise leaves it
# empty and sets CPYTHON_MISSING to the reason, for the caller to print.
CPYTHON_FEATURES=()
CPYTHON_MISSING=""
_py=${PYO3_PYTHON:-python3}
if ! command -v "$_py" >/dev/null 2>&1; then
    CPYTHON_MISSING="$_py not found"
else
    CPYTHON_MISSING=$("$_py" - <<'PY' 2>&1 || echo "$_py failed"
import os, sysconfig
libdir = sysconfig.get_config_var("LIBDIR") or ""
lib = sysconfig.get_config_var("LDLIBRARY") or ""
if not sysconfig.get_config_var("Py_ENABLE_SHARED") or not os.path.exists(os.path.join(libdir, lib)):
    print("no shared libpython (%s, LDLIBRARY=%s in %s; build Python with --enable-shared)"
          % (os.path.realpath(__import__("sys").executable), lib or "unset", libdir or "?"))
PY
)
fi
[ -z "$CPYTHON_MISSING" ] && CPYTHON_FEATURES=(--features cpython)
unset _py
