"""The one type namespace results come back as: `r["name"]` and `r.name` both work.

py-code-mode returned NamedTuples, dataclasses or dicts depending on the call and
the executor, so ported agent code uses either spelling. A dict subclass serves
both, stays JSON-serialisable and shows itself as the dict it is.
"""

from __future__ import annotations

from typing import Any


class Record(dict[str, Any]):
    """A dict whose keys are also attributes; an unknown attribute raises
    AttributeError naming the keys there are."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            pass
        # Dunders are Python's own protocol probes (copy, pickle): no key answers them.
        if name.startswith("__"):
            raise AttributeError(name)
        keys = ", ".join(self) or "none"
        raise AttributeError(f"no field {name!r}; fields: {keys}") from None

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(k for k in self if k.isidentifier())})

    # Pickle and copy rebuild a dict subclass from its items; nothing else to keep.
    def __reduce__(self) -> tuple[type[Record], tuple[dict[str, Any]]]:
        return (Record, (dict(self),))


def record(**fields: Any) -> Record:
    """A `Record` of `fields`, in that order."""
    return Record(fields)
