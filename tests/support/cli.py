"""Invoke the real CLI in-process (typer's CliRunner) and read its JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ctripctl.cli.app import app


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:  # shown by `assert r.exit_code == 0, r`
        return f"exit {self.exit_code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


class Cli:
    """Runs `ctripctl ARGS --config <this test's config>`."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Run:
        result = self.runner.invoke(app, [*args, "--config", str(self.config)], input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str, input: str | None = None) -> Any:
        """Run with --json, assert exit 0, return the parsed document."""
        run = self(*args, "--json", input=input)
        assert run.exit_code == 0, run
        return run.json()
