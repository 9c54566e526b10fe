"""Every CLI command is documented in the README and has help text (sqlite-utils' test_docs)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from sqltune.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{prefix}{name} ")
        else:
            out.append((f"{prefix}{name}", cmd))
    return out


COMMANDS = _commands(cli)


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS])
def test_command_is_documented(name: str) -> None:
    assert f"### `sqltune {name}`" in README, f"README lacks a '### `sqltune {name}`' section"


@pytest.mark.parametrize("name,command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_has_help_and_example(name: str, command: click.Command) -> None:
    assert command.help and "Example:" in command.help
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"option {param.opts} of {name} has no help text"
