"""The `ctripctl` executable itself (ctripctl/cli/entry.py), run as a real process.

Its start-up tuning freezes every object at exit; database connections must still be
closed, so SQLite folds its write-ahead log back into the file and a plain copy of
ctrip.db holds everything once no command runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.anvil import Anvil

ROOT = Path(__file__).resolve().parents[2]


def ctripctl(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctripctl", *args, "--config", "ctrip.toml"],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=120,
    )


def test_commands_leave_the_sqlite_database_folded(
    tmp_path: Path, anvil: Anvil, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The starter's node (127.0.0.1:8545) is this test's anvil: the first payment asks it
    # whether the new wallet's addresses are unused.
    monkeypatch.setenv("CTRIP_RPC_URLS_LOCAL", anvil.url)
    assert ctripctl(tmp_path, "init", "--json").returncode == 0
    assert not list(tmp_path.glob("ctrip.db-*"))  # no -wal / -shm left behind

    created = ctripctl(tmp_path, "payment", "create", "--chain", "local", "--amount", "0.5", "--json")
    assert created.returncode == 0, created.stderr
    assert not list(tmp_path.glob("ctrip.db-*"))

    # Everything is in ctrip.db itself: a copy of that one file sees the payment.
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "ctrip.db").write_bytes((tmp_path / "ctrip.db").read_bytes())
    config = (tmp_path / "ctrip.toml").read_text()
    (copy / "ctrip.toml").write_text(config)
    for name in ("ctrip.mnemonic", "ctrip.whsec"):
        if (tmp_path / name).exists():
            (copy / name).write_bytes((tmp_path / name).read_bytes())
    shown = ctripctl(copy, "payment", "show", json.loads(created.stdout)["id"], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["amount_base"] == str(5 * 10**17)


def test_a_failing_command_keeps_its_exit_code(tmp_path: Path) -> None:
    assert ctripctl(tmp_path, "init", "--json").returncode == 0
    bad = ctripctl(tmp_path, "payment", "create", "--chain", "local", "--amount", "-1", "--json")
    assert bad.returncode == 2 and "Error:" in bad.stderr
    missing = ctripctl(tmp_path, "payment", "show", "pay_doesnotexist0000000")
    assert missing.returncode == 4, missing.stderr
    assert not list(tmp_path.glob("ctrip.db-*"))
