"""Files that ship with sqltune: sample schemas (``schemas/``) and hand-written evalsets (``evalsets/``).

In a source checkout they are the repository's top-level folders; in an installed wheel they
are packaged under ``sqltune/_data/``.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def resource_dir(kind: str) -> Path:
    """The folder holding ``kind`` (``"schemas"`` or ``"evalsets"``)."""
    if kind not in ("schemas", "evalsets"):
        raise ValueError(kind)
    for candidate in (_PKG / "_data" / kind, _PKG.parent / kind):
        if candidate.is_dir():
            return candidate
    return _PKG.parent / kind
