#!/usr/bin/env bash
# Installs the third-party MCP servers and the MCP client the tests use, pinned,
# into one local folder (never globally):
#   <dir>/venv   PyPI: mcp (the Python SDK: client for the server tests, and the
#                base of tests/fixtures/mcp/*.py) and mcp-server-time
#   <dir>/node   npm:  @modelcontextprotocol/server-everything, and the MCP Inspector
#                (its CLI drives `codemode mcp` in the tests)
# Usage: scripts/install-mcp-servers.sh [DIR]   (default: $CODEMODE_MCP_SERVERS or
# ~/.cache/codemode/mcp-servers). Re-running is a no-op once complete.
set -euo pipefail
cache=${CODEMODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/codemode}
dir=${1:-${CODEMODE_MCP_SERVERS:-$cache/mcp-servers}}
stamp="mcp==2.3.0 mcp-server-time==2026.10.19 @modelcontextprotocol/server-everything@2026.8.31 @modelcontextprotocol/inspector@2.12.0"
if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$stamp" ]; then
    exit 0
fi
mkdir -p "$dir"
echo "==> installing MCP test servers into $dir" >&2
# npm and the venv module come from Debian when the machine lacks them.
missing=()
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x "$dir/venv/bin/python" ]; then
    python3 -m venv "$dir/venv"
fi
"$dir/venv/bin/python" -m pip install --disable-pip-version-check --progress-bar on -q \
    mcp==2.3.0 mcp-server-time==2026.10.19
npm install --prefix "$dir/node" --no-audit --no-fund --loglevel=error \
    @modelcontextprotocol/server-everything@2026.8.31 @modelcontextprotocol/inspector@2.12.0
echo "$stamp" >"$dir/.complete"
