#!/usr/bin/env bash
# Builds the guest: the component (CPython 3.14 on WASI + wasm/guest + wit/) and the
# matching pure-Python stdlib as a tar, with a pinned componentize-py from PyPI
# installed into a venv of its own.
#
#   scripts/build-guest.sh OUT_DIR        writes OUT_DIR/sandbox.wasm, OUT_DIR/stdlib.tar
#
# CODEMODE_TOOLS_DIR   where the venv lives (default: the codemode cache dir + /tools)
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
ZSTANDARD_VERSION=0.25.0

out=${1:?usage: build-guest.sh OUT_DIR}
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
        "componentize-py==$COMPONENTIZE_PY_VERSION" "zstandard==$ZSTANDARD_VERSION" >&2
    touch "$venv/.installed"
fi

mkdir -p "$out"
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "build-guest: componentizing wasm/guest (about 15 s)" >&2
# componentize-py bundles the active venv's site-packages unless VIRTUAL_ENV is unset.
(cd "$root/wasm/guest" && env -u VIRTUAL_ENV "$venv/bin/componentize-py" \
    -d "$root/wit" -w sandbox \
    componentize codemode_guest -p "$root/wasm/guest" \
    -o "$tmp/sandbox.wasm")
"$venv/bin/python" "$root/scripts/extract-stdlib.py" "$tmp/stdlib.tar"

mv "$tmp/sandbox.wasm" "$tmp/stdlib.tar" "$out/"
echo "build-guest: wrote $out/sandbox.wasm ($(stat -c %s "$out/sandbox.wasm") bytes) and stdlib.tar" >&2
