"""Start-up stays instant: `--help` imports no heavy library, `payment create` only what it needs.

Each check runs a fresh interpreter (`sys.modules` of the test process is polluted by
everything the other tests imported) and reports which heavy modules got imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.config import write_config
from tests.support.databases import migrated

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "web3",
    "eth_account",
    "eth_utils",
    "sqlalchemy",
    "alembic",
    "httpx",
    "psycopg",
    "bip_utils",
    "Crypto",  # pycryptodome: its cffi set-up alone costs ~40 ms
    "prometheus_client",
    "segno",  # QR codes: only when one is drawn or written
)

PROBE = """
import json, sys
from ctripctl.cli.app import app
try:
    app(sys.argv[2:], prog_name="ctripctl")
except SystemExit as exc:
    code = exc.code
heavy = {heavy!r}
loaded = sorted(name for name in heavy if name in sys.modules)
with open(sys.argv[1], "w") as out:
    json.dump({{"exit": code, "loaded": loaded}}, out)
"""


def probe(tmp_path: Path, *args: str) -> dict[str, object]:
    """Run the CLI with `args` in a fresh interpreter; return its exit code and heavy imports."""
    report = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), str(report), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return json.loads(report.read_text())


@pytest.mark.parametrize(
    "args",
    [("--help",), ("payment", "--help"), ("payment", "create", "--help"), ("db", "--help"), ("--version",)],
)
def test_help_imports_nothing_heavy(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = probe(tmp_path, *args)
    assert result == {"exit": 0, "loaded": []}


@pytest.fixture
def sqlite_config(tmp_path: Path) -> Iterator[Path]:
    with migrated("sqlite", tmp_path) as url:
        # first_index set: the first payment does not ask the node about the wallet's addresses.
        nowhere = ["http://127.0.0.1:9"]
        yield write_config(tmp_path / "ctrip.toml", database_url=url, rpc_urls=nowhere, first_index=0)


def test_payment_create_imports_nothing_heavy(tmp_path: Path, sqlite_config: Path) -> None:
    """On a SQLite file `payment create` writes with the standard library's sqlite3
    (db/sqlite_payments.py): not even SQLAlchemy is imported, nor segno for --json."""
    args = (
        "payment",
        "create",
        "--chain",
        "local",
        "--amount",
        "1",
        "--json",
        "--config",
        str(sqlite_config),
    )
    result = probe(tmp_path, *args)
    assert result == {"exit": 0, "loaded": []}


def test_payment_show_imports_nothing_heavy(tmp_path: Path, sqlite_config: Path) -> None:
    create = probe(tmp_path, "payment", "create", "--amount", "1", "--json", "--config", str(sqlite_config))
    assert create["exit"] == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "ctrip.db") as conn:
        [(payment_id,)] = conn.execute("SELECT id FROM payments").fetchall()
    result = probe(tmp_path, "payment", "show", payment_id, "--json", "--config", str(sqlite_config))
    assert result == {"exit": 0, "loaded": []}


def test_python_m_ctripctl_help() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "ctripctl", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "Usage: python -m ctripctl" in run.stdout or "Usage: ctripctl" in run.stdout
    for command in ("init", "db", "payment"):
        assert command in run.stdout
    assert "Exit codes" in run.stdout
