#!/usr/bin/env bash
# Lints the guest Python (wasm/guest): ruff's checks and formatting, then mypy
# against the bindings componentize-py generates from wit/. The tools are pinned and
# installed from PyPI into a venv of their own on first use.
#
#   scripts/lint-guest.sh            check (exit status 1 on any finding)
#   scripts/lint-guest.sh --fix      apply ruff's fixes and formatting, then check
#
# CODEMODE_TOOLS_DIR   where the venv lives (default: the codemode cache dir + /tools)
set -euo pipefail

RUFF_VERSION=0.17.5
MYPY_VERSION=2.4.1

root=$(cd "$(dirname "$0")/.." && pwd)
# The guest's bindings must come from the componentize-py that builds it.
componentize_py_version=$(sed -n 's/^COMPONENTIZE_PY_VERSION=//p' "$root/scripts/build-guest.sh")
cache=${CODEMODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/codemode}
venv=${CODEMODE_TOOLS_DIR:-$cache/tools}/lint-guest-ruff-$RUFF_VERSION-mypy-$MYPY_VERSION-cpy-$componentize_py_version

python=${PYTHON:-python3}
# The marker is written last, so an interrupted install is redone rather than trusted.
if [ ! -f "$venv/.installed" ]; then
    echo "lint-guest: installing ruff==$RUFF_VERSION, mypy==$MYPY_VERSION and componentize-py==$componentize_py_version into $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --disable-pip-version-check --progress-bar off --quiet \
        "ruff==$RUFF_VERSION" "mypy==$MYPY_VERSION" "componentize-py==$componentize_py_version" >&2
    touch "$venv/.installed"
fi

guest="$root/wasm/guest"
if [ "${1:-}" = "--fix" ]; then
    "$venv/bin/ruff" check --fix "$guest"
    "$venv/bin/ruff" format "$guest"
fi

status=0
"$venv/bin/ruff" check "$guest" || status=1
"$venv/bin/ruff" format --check "$guest" || status=1

bindings=$(mktemp -d)
trap 'rm -rf "$bindings"' EXIT
(cd "$bindings" && env -u VIRTUAL_ENV "$venv/bin/componentize-py" -d "$root/wit" -w sandbox bindings . >/dev/null)
(cd "$guest" && MYPYPATH="$bindings" "$venv/bin/mypy" --config-file "$guest/mypy.ini" codemode_guest) || status=1
exit $status
