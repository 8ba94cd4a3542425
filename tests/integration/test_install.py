"""The built wheel carries its migrations: install it in a fresh venv and migrate from there.

Offline on purpose: the wheel is built without build isolation (hatchling from this
environment) and installed with --no-deps; the fresh venv borrows this environment's
third-party packages through a .pth path line. That path line is appended after the
venv's own site-packages, so `ctripctl` itself is imported from the installed wheel,
never from the source tree (the test checks where it came from).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from ctripctl.db.migrate import head
from tests.support.config import write_config

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("hatchling") is None,
    reason="hatchling (the wheel build backend) is not installed: pip install -e '.[test]'",
)


def run(*args: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CTRIP_CONFIG", "VIRTUAL_ENV")}
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def test_wheel_installs_and_migrates(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "-q", "-w", dist, ROOT, cwd=tmp_path,
    )  # fmt: skip
    [wheel] = dist.glob("ctripctl-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
        ).stdout.strip()
    )
    (site / "zz_borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel,
        cwd=tmp_path,
    )  # fmt: skip

    where = run(
        python,
        "-c",
        "import ctripctl.db.migrate as m; print(m.__file__); print(m.script_location())",
        cwd=tmp_path,
    ).stdout.split()
    assert where[0].startswith(str(site)), where  # the installed copy, not the checkout
    assert where[1] == str(site / "ctripctl" / "_alembic"), where
    assert (site / "ctripctl" / "_alembic" / "versions").is_dir()

    config = write_config(  # no node: first_index set, the first payment asks none
        tmp_path / "ctrip.toml",
        database_url="sqlite:///installed.db",
        rpc_urls=["http://127.0.0.1:9"],
        first_index=0,
    )
    ctripctl = env_dir / "bin" / "ctripctl"  # the console script of the wheel
    upgraded = json.loads(run(ctripctl, "db", "upgrade", "--config", config, "--json", cwd=tmp_path).stdout)
    assert (upgraded["from"], upgraded["to"]) == (None, head())
    current = json.loads(run(ctripctl, "db", "current", "--config", config, "--json", cwd=tmp_path).stdout)
    assert current["up_to_date"] is True
    assert (tmp_path / "installed.db").exists()
    payment = json.loads(
        run(ctripctl, "payment", "create", "--chain", "local", "--amount", "1", "--config", config, "--json",
            cwd=tmp_path).stdout
    )  # fmt: skip
    assert payment["status"] == "pending"
