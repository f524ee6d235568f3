#!/usr/bin/env bash
# Runs every test. The first run builds the guest (componentize-py from PyPI) and
# the host; nothing else needs installing by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building (guest, host, tests, benches)" >&2
cargo build --all-targets

echo "==> testing" >&2
cargo test --no-fail-fast
