"""Every CLI command is documented in the README and has help text (sqlite-utils' test_docs)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from sqltune.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_documented(name: str) -> None:
    assert f"### `sqltune {name}`" in README, f"README lacks a '### `sqltune {name}`' section"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help_and_example(name: str) -> None:
    command = cli.commands[name]
    assert command.help and "Example:" in command.help
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("help",):
            assert param.help, f"option {param.opts} of {name} has no help text"
