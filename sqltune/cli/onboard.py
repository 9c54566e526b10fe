"""`sqltune` commands: onboard (registered on import by sqltune.cli)."""

from __future__ import annotations
