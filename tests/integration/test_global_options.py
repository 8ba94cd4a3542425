"""Global options work before and after the command, for every command the app has.

The commands are enumerated from the typer app itself, so a command added later (a new
`sweep …`) is covered without touching this file. Each runs twice — the global options
before the command, then after it — with a config path that does not exist and JSON
logs: the one JSON error line naming that path proves `--config` reached the command and
`--log-format` reached the root, in both positions. (`init` writes the config there.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ctripctl.cli.app import app
from ctripctl.cli.globals import normalize

ROOT = typer.main.get_command(app)


def leaves(command: object = ROOT, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path, command
        return
    for name, sub in sorted(subcommands.items()):
        yield from leaves(sub, (*path, name))


COMMANDS = dict(leaves())


def required_args(command: object) -> list[str]:
    """Placeholder values for the command's required arguments and options."""
    args: list[str] = []
    for param in command.params:  # type: ignore[attr-defined]
        if not param.required:
            continue
        if param.param_type_name == "argument":
            args.append("x")
        else:
            args += [param.opts[0], "1"]
    return args


def has_option(command: object, name: str) -> bool:
    return any(name in p.opts for p in command.params)  # type: ignore[attr-defined]


def test_every_command_is_enumerated() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"init", "status", "scan", "confirm", "payment create", "payment qr", "sweep run"} <= names
    assert {"sweep tank", "sweep list", "sweep show", "webhooks flush", "chain status"} <= names
    for path, command in COMMANDS.items():  # the options every command shares (cli/options.py)
        assert has_option(command, "--config"), path


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_before_and_after(path: tuple[str, ...], where: str, tmp_path: Path) -> None:
    command = COMMANDS[path]
    config = tmp_path / "nowhere" / "ctrip.toml"
    options = ["--config", str(config), "--log-format", "json", "-q"]
    if has_option(command, "--json"):
        options.append("--json")
    words = [*path, *required_args(command)]
    args = [*options, *words] if where == "before" else [*words, *options]
    result = CliRunner().invoke(app, args)
    if path == ("init",):
        assert result.exit_code == 0, result.output
        assert config.is_file()
        assert json.loads(result.stdout)["config"] == str(config)  # --json reached init too
        return
    assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert result.stdout == ""
    records = [json.loads(line) for line in result.stderr.strip().splitlines()]  # --log-format json
    [error] = [r for r in records if r["level"] == "error"]  # (a pass also logs its failed run)
    assert error["exit_code"] == 2
    assert f"no config file at {config}" in error["msg"]  # --config reached the command


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["status", "--config", "c", "-q"], ["-q", "status", "--config", "c"]),
        (["--config", "c", "-q", "status"], ["-q", "status", "--config", "c"]),
        (["--json", "payment", "show", "pay_1", "-vv"], ["-vv", "payment", "show", "--json", "pay_1"]),
        (
            ["payment", "show", "pay_1", "--log-format=json"],
            ["--log-format=json", "payment", "show", "pay_1"],
        ),
        (
            ["scan", "--log-format", "json", "--chain", "eth"],
            ["--log-format", "json", "scan", "--chain", "eth"],
        ),
        # A value that looks like a global option stays the value of its own option.
        (
            ["payment", "create", "--reference", "-q", "--amount", "1"],
            ["payment", "create", "--reference", "-q", "--amount", "1"],
        ),
        (
            ["payment", "create", "--metadata", "--json", "-c", "x"],
            ["payment", "create", "-c", "x", "--metadata", "--json"],
        ),
        # Everything after `--` is left alone.
        (["payment", "show", "--", "-q"], ["payment", "show", "--", "-q"]),
        # No command: click reports what is missing.
        (["--config", "c"], ["--config", "c"]),
    ],
)
def test_normalize(args: list[str], expected: list[str]) -> None:
    assert normalize(ROOT, None, args) == expected
