"""Writes the CPython standard library that componentize-py bundles as a plain tar.

componentize-py embeds the stdlib of its WASI CPython as a zstd-compressed tar
inside its native module; there is no other registry source for exactly the
stdlib the guest's interpreter was built with. Usage:

    python extract-stdlib.py OUT.tar
"""

from __future__ import annotations

import io
import pathlib
import sys
import tarfile

import componentize_py
import zstandard

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_MARKER = "encodings/__init__.py"  # present in the stdlib and nowhere else


def _frames(blob: bytes):
    pos = blob.find(_ZSTD_MAGIC)
    while pos >= 0:
        try:
            # decompressobj stops at the end of one frame and ignores what follows.
            yield zstandard.ZstdDecompressor().decompressobj().decompress(blob[pos:])
        except zstandard.ZstdError:
            pass
        pos = blob.find(_ZSTD_MAGIC, pos + 1)


def find_stdlib(blob: bytes) -> bytes:
    for data in _frames(blob):
        if len(data) > 512 and data[257:262] == b"ustar":
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                if _MARKER in tar.getnames():
                    return data
    raise SystemExit("extract-stdlib: no stdlib archive found in componentize-py")


def main() -> None:
    (out,) = sys.argv[1:]
    package = pathlib.Path(componentize_py.__file__).parent
    (native,) = package.glob("componentize_py*.so")
    data = find_stdlib(native.read_bytes())
    pathlib.Path(out).write_bytes(data)


if __name__ == "__main__":
    main()
