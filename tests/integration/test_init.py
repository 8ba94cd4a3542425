"""`ctripctl init`: a starter config that works on the first run, secrets in 0600 files only."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctripctl.config import load_config
from ctripctl.db.migrate import head
from ctripctl.evm.wallet import account_xpub, deposit_address
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.databases import postgres_schema


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None: init's default (a SQLite file next to the config); else an empty PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    with postgres_schema() as url:
        yield url


def test_init_then_create_with_no_editing(
    tmp_path: Path, empty_database: str | None, anvil: Anvil, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "site" / "ctrip.toml"  # the folder does not exist yet
    cli = Cli(config)
    args = ("init",) if empty_database is None else ("init", "--database-url", empty_database)
    run = cli(*args, "--json")
    assert run.exit_code == 0, run
    result = run.json()

    mnemonic_file, secret_file = config.with_suffix(".mnemonic"), config.with_suffix(".whsec")
    assert result["config"] == str(config)
    assert result["mnemonic_file"] == str(mnemonic_file)
    assert result["webhook_secret_file"] == str(secret_file)
    for path in (config, mnemonic_file, secret_file):
        assert mode(path) == 0o600, path

    mnemonic = mnemonic_file.read_text().strip()
    assert len(mnemonic.split()) == 24
    assert mnemonic not in run.stdout and mnemonic not in run.stderr
    assert mnemonic.split()[0] not in config.read_text().split()  # not in the config either
    assert result["xpub"] == account_xpub(mnemonic)
    assert secret_file.read_text().strip().startswith("whsec_")
    assert result["revision"] == head()

    loaded = load_config(config, env={})
    chain = loaded.chain("local")
    assert (chain.chain_id, chain.rpc_urls) == (31337, ("http://127.0.0.1:8545",))
    assert loaded.webhooks.secret == secret_file.read_text().strip()
    if empty_database is None:
        assert loaded.database_url == f"sqlite:///{config.parent.resolve() / 'ctrip.db'}"

    assert cli.ok("db", "current") == {
        "database_url": result["database_url"],
        "current": head(),
        "head": head(),
        "up_to_date": True,
    }
    # The first payment asks the node whether the new wallet's addresses are unused: the
    # README's quick start has anvil at 127.0.0.1:8545; here it is this test's anvil.
    monkeypatch.setenv("CTRIP_RPC_URLS_LOCAL", anvil.url)
    payment = cli.ok("payment", "create", "--chain", "local", "--amount", "0.1")
    assert payment["address"] == deposit_address(result["xpub"], 0)
    assert payment["amount_base"] == str(10**17)


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    config = tmp_path / "ctrip.toml"
    cli = Cli(config)
    assert cli("init", "--json").exit_code == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    again = cli("init")
    assert again.exit_code == 3, again
    assert again.stderr.strip() == f"Error: {config} already exists; refusing to overwrite it"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_init_refuses_when_only_a_secret_file_exists(tmp_path: Path) -> None:
    config = tmp_path / "ctrip.toml"
    config.with_suffix(".mnemonic").write_text("my old wallet\n")
    run = Cli(config)("init")
    assert run.exit_code == 3, run
    assert "ctrip.mnemonic already exists" in run.stderr
    assert not config.exists()
    assert config.with_suffix(".mnemonic").read_text() == "my old wallet\n"


def test_init_human_output_never_shows_the_mnemonic(tmp_path: Path) -> None:
    config = tmp_path / "ctrip.toml"
    run = Cli(config)("init", "--chain", "dev", "--chain-id", "1337", "--rpc-url", "http://127.0.0.1:9999")
    assert run.exit_code == 0, run
    mnemonic = config.with_suffix(".mnemonic").read_text().strip()
    for word_run in (mnemonic, " ".join(mnemonic.split()[:3])):
        assert word_run not in run.stdout + run.stderr
    assert "mode 0600" in run.stdout
    assert "payment create --chain dev" in run.stderr
    assert load_config(config, env={}).chain("dev").chain_id == 1337


def test_init_with_unreachable_database(tmp_path: Path) -> None:
    config = tmp_path / "ctrip.toml"
    run = Cli(config)("init", "--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert run.exit_code == 5, run
    assert "database unavailable" in run.stderr and "then run `ctripctl db upgrade`" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert config.exists()  # written; `db upgrade` finishes the job once the database is up


@pytest.mark.parametrize("url", ["foo://x", "mysql://x/y"])
def test_init_refuses_an_unsupported_database_before_writing(tmp_path: Path, url: str) -> None:
    run = Cli(tmp_path / "ctrip.toml")("init", "--database-url", url)
    assert run.exit_code == 2, run
    assert "not a supported database URL" in run.stderr and "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_init_rejects_a_bad_chain_name(tmp_path: Path) -> None:
    config = tmp_path / "ctrip.toml"
    run = Cli(config)("init", "--chain", "my chain")
    assert run.exit_code == 2, run
    assert "chain name 'my chain'" in run.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--rpc-url", 'http://x"]\n[evil]', "must not contain quotes"),
        ("--rpc-url", "ws://127.0.0.1:8545", "must start with http:// or https://"),
        ("--database-url", 'sqlite:///x.db"\nx = 1', "must not contain quotes"),
    ],
)
def test_init_rejects_values_that_would_break_the_file(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    run = Cli(tmp_path / "ctrip.toml")("init", option, value)
    assert run.exit_code == 2, run
    assert message in run.stderr
    assert list(tmp_path.iterdir()) == []
