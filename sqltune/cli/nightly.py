"""`sqltune` commands: nightly (registered on import by sqltune.cli)."""

from __future__ import annotations
