"""Fixtures over the real parts: anvil, a deployed ERC-20, SQLite and PostgreSQL, the CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("COLUMNS", "200")  # stable rich output width
os.environ.pop("CTRIP_CONFIG", None)

from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.config import write_config
from tests.support.databases import migrated
from tests.support.evm import Chain


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    """A fresh anvil node on a free port (about 50 ms to start)."""
    node = Anvil()
    yield node
    node.stop()


@pytest.fixture
def chain(anvil: Anvil) -> Chain:
    return Chain(anvil)


@pytest.fixture
def token(chain: Chain) -> Any:
    """A real ERC-20 (6 decimals, symbol USDT) deployed on the test chain; the payer holds plenty."""
    return chain.deploy_token("USDT", 6)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or a fresh PostgreSQL schema."""
    with migrated(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    with migrated("sqlite", tmp_path) as url:
        yield url


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    with migrated("postgresql", tmp_path) as url:
        yield url


@pytest.fixture
def config_file(tmp_path: Path, database_url: str, anvil: Anvil, token: Any) -> Path:
    """ctrip.toml for chain `local` (this test's anvil, USDT = the deployed token)."""
    return write_config(
        tmp_path / "ctrip.toml",
        database_url=database_url,
        rpc_urls=[anvil.url],
        token_address=token.address,
    )


@pytest.fixture
def cli(config_file: Path) -> Cli:
    return Cli(config_file)


@pytest.fixture
def wallet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test mnemonic in a 0600 file, named by CTRIP_MNEMONIC_FILE (for `sweep run`)."""
    from tests.support.sweeping import mnemonic_file

    path = mnemonic_file(tmp_path)
    monkeypatch.setenv("CTRIP_MNEMONIC_FILE", str(path))
    return path


@pytest.fixture
def payout(chain: Chain) -> Any:
    """A deployed batch payout contract (tests/support/payouts.py)."""
    from tests.support.payouts import deploy_payout

    return deploy_payout(chain)
