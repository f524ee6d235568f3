#!/usr/bin/env bash
# A native python3 venv with numpy, pandas and matplotlib, pinned, for the same-run baseline of
# benches/data.rs (the bench runs this script). pandas and matplotlib are the data profile's own
# versions; numpy is the newest release for the machine's python3 (the profile has
# 2.5.2, which needs Python 3.12 or later). Idempotent: a finished venv is reused.
# Prints the venv's python on stdout; pip's output goes to stderr.
set -euo pipefail
cache=${CODEMODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/codemode}
pins=(numpy==2.4.6 pandas==3.0.6 matplotlib==3.11.2)
# One venv per python3 version and pins: changing either makes a new one.
version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
venv=$cache/native-data/py$version-$(IFS=-; echo "${pins[*]//==/}")
if [ ! -f "$venv/.complete" ]; then
    echo "==> installing ${pins[*]} into $venv (once)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "${pins[@]}" >&2
    touch "$venv/.complete"
fi
echo "$venv/bin/python"
