#!/usr/bin/env bash
# Builds the guest component (CPython 3.14 on WASI + wasm/guest + wit/) with a pinned
# componentize-py from PyPI, installed into a venv of its own.
#
#   scripts/build-guest.sh OUT.wasm
#
# CODEMODE_TOOLS_DIR   where the venv lives (default: the codemode cache dir + /tools)
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

out=${1:?usage: build-guest.sh OUT.wasm}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${CODEMODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/codemode}
venv=${CODEMODE_TOOLS_DIR:-$cache/tools}/componentize-py-$COMPONENTIZE_PY_VERSION

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
    echo "build-guest: python3 is needed to install componentize-py (set PYTHON=...)" >&2
    exit 1
fi

# The marker is written last, so an interrupted install is redone rather than trusted.
if [ ! -f "$venv/.installed" ]; then
    echo "build-guest: installing componentize-py==$COMPONENTIZE_PY_VERSION from PyPI into $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --disable-pip-version-check --progress-bar off \
        "componentize-py==$COMPONENTIZE_PY_VERSION" >&2
    touch "$venv/.installed"
fi

echo "build-guest: componentizing wasm/guest (about 15 s)" >&2
mkdir -p "$(dirname "$out")"
# An empty VIRTUAL_ENV keeps componentize-py from bundling the venv's site-packages.
cd "$root/wasm/guest"
env -u VIRTUAL_ENV "$venv/bin/componentize-py" \
    -d "$root/wit" -w sandbox \
    componentize codemode_guest -p "$root/wasm/guest" \
    -o "$out.tmp"
mv "$out.tmp" "$out"
echo "build-guest: wrote $out ($(stat -c %s "$out") bytes)" >&2
