"""`sqltune` commands: leakage (registered on import by sqltune.cli)."""

from __future__ import annotations
