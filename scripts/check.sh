#!/usr/bin/env bash
# Static checks, before anything is built for the tests: formatting, clippy on the
# default build, every optional feature alone on top of the minimal build (so a
# missing `#[cfg]` or a dependency a feature forgot is caught), and the guest's
# Python lint when scripts/lint-guest.sh is there. Warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."

# One per `[features]` entry in Cargo.toml but `default` and `cli` (which is the
# default build, checked first).
features=(redis embeddings http-tools mcp-tools remote server mcp-server model-install data-profile)

echo "==> cargo fmt --check" >&2
cargo fmt --check

echo "==> cargo clippy --all-targets (default features)" >&2
cargo clippy --all-targets -- -D warnings

# --all-targets here is the library, its unit tests and the targets that need no
# feature (or only this one); the rest are skipped by their required-features.
echo "==> cargo clippy --no-default-features --all-targets" >&2
cargo clippy --no-default-features --all-targets -- -D warnings

for feature in "${features[@]}"; do
    echo "==> cargo clippy --no-default-features --features $feature --all-targets" >&2
    cargo clippy --no-default-features --features "$feature" --all-targets -- -D warnings
done

if [ -x scripts/lint-guest.sh ]; then
    echo "==> scripts/lint-guest.sh" >&2
    scripts/lint-guest.sh
fi
