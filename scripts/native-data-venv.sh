#!/usr/bin/env bash
# A native python3 venv with numpy, pandas and matplotlib, pinned, for the same-run baseline of
# benches/data.rs (the bench runs this script). pandas and matplotlib are the data profile's own
# versions, and so is numpy (2.5.2) on Python 3.12 or later; on an older python3 numpy is the
# newest release for it (2.4.6), which the bench's output and the README state.
# CODEMODE_NATIVE_PYTHON picks the interpreter (default: python3), e.g. a pyenv 3.13.
# Idempotent: a finished venv is reused.
# Prints the venv's python on stdout; pip's output goes to stderr.
set -euo pipefail
cache=${CODEMODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/codemode}
python=${CODEMODE_NATIVE_PYTHON:-python3}
if "$python" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then numpy=2.5.2; else numpy=2.4.6; fi
pins=(numpy==$numpy pandas==3.0.6 matplotlib==3.11.2)
# One venv per python version and pins: changing either makes a new one.
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
venv=$cache/native-data/py$version-$(IFS=-; echo "${pins[*]//==/}")
if [ ! -f "$venv/.complete" ]; then
    echo "==> installing ${pins[*]} into $venv (once)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "${pins[@]}" >&2
    touch "$venv/.complete"
fi
echo "$venv/bin/python"
