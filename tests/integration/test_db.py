"""`db upgrade` / `db current` on empty SQLite and PostgreSQL, and clear errors without a schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from ctripctl.db.migrate import head
from ctripctl.db.session import get_engine, sqlite_path
from tests.support.cli import Cli
from tests.support.config import write_config
from tests.support.databases import postgres_schema, sqlite_file

TABLES = {
    "alembic_version",
    "payments",
    "transfers",
    "chain_states",
    "scanned_blocks",
    "address_counters",
    "webhook_events",
    "webhook_attempts",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that has never been migrated."""
    maker = postgres_schema() if request.param == "postgresql" else sqlite_file(tmp_path)
    with maker as url:
        yield url


def cli_for(tmp_path: Path, database_url: str) -> Cli:
    # No node: first_index set, so the first payment does not look up the wallet's addresses.
    url = ["http://127.0.0.1:9"]
    return Cli(write_config(tmp_path / "ctrip.toml", database_url=database_url, rpc_urls=url, first_index=0))


def one_line_error(run: object, code: int) -> str:
    assert run.exit_code == code, run  # type: ignore[attr-defined]
    assert run.stdout == "", run  # type: ignore[attr-defined]
    lines = run.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("Error: "), run
    assert "Traceback" not in run.stderr  # type: ignore[attr-defined]
    return lines[0]


def test_unmigrated_database_is_a_clear_error(tmp_path: Path, empty_url: str) -> None:
    cli = cli_for(tmp_path, empty_url)
    path = sqlite_path(empty_url)
    if path is not None:
        Path(path).touch()  # an empty file (a missing one is test_commands_on_a_missing_sqlite_file…)
    for args in (
        ("payment", "list"),
        ("payment", "create", "--chain", "local", "--amount", "1"),
        ("payment", "show", "pay_x"),
        ("payment", "cancel", "pay_x"),
    ):
        message = one_line_error(cli(*args, "--json"), 5)
        assert "has no ctripctl schema or an old one" in message and "run `ctripctl db upgrade`" in message, (
            message
        )


def test_upgrade_is_idempotent_and_current_reports(tmp_path: Path, empty_url: str) -> None:
    cli = cli_for(tmp_path, empty_url)
    before = cli.ok("db", "current")
    assert (before["current"], before["head"], before["up_to_date"]) == (None, head(), False)
    human = cli("db", "current")
    assert human.exit_code == 0 and "run `ctripctl db upgrade`" in human.stdout, human
    path = sqlite_path(empty_url)
    assert path is None or not Path(path).exists()  # asking created no SQLite file

    first = cli.ok("db", "upgrade")
    assert (first["from"], first["to"]) == (None, head())
    assert set(inspect(get_engine(empty_url)).get_table_names()) >= TABLES
    second = cli.ok("db", "upgrade")
    assert (second["from"], second["to"]) == (head(), head())
    again = cli("db", "upgrade")
    assert again.exit_code == 0 and f"already at {head()}" in again.stdout, again
    assert cli.ok("db", "current")["up_to_date"] is True
    assert "up to date" in cli("db", "current").stdout

    # the schema works: the address counter was seeded by the migration
    payment = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    assert cli.ok("payment", "show", payment["id"])["id"] == payment["id"]


def test_database_url_password_is_masked(tmp_path: Path) -> None:
    url = "postgresql+psycopg://ctrip:s3cret@127.0.0.1:1/none"
    cli = cli_for(tmp_path, url)
    run = cli("db", "current")
    message = one_line_error(run, 5)
    assert "database unavailable" in message
    assert "s3cret" not in run.stderr


def test_unopenable_sqlite_file(tmp_path: Path) -> None:
    cli = cli_for(tmp_path, f"sqlite:///{tmp_path}/no/such/dir/ctrip.db")
    for args in (("db", "upgrade"), ("payment", "list")):
        assert "database unavailable" in one_line_error(cli(*args), 5)


def test_unknown_database_driver(tmp_path: Path) -> None:
    cli = cli_for(tmp_path, "mysql+nosuchdriver://x@y/z")
    assert "not a supported database URL" in one_line_error(cli("payment", "list"), 2)


def test_upgrade_to_an_unknown_revision_is_bad_input(tmp_path: Path, empty_url: str) -> None:
    message = one_line_error(cli_for(tmp_path, empty_url)("db", "upgrade", "bogus", "--json"), 2)
    assert "cannot upgrade to 'bogus'" in message


def test_postgres_database_that_does_not_exist(tmp_path: Path) -> None:
    from tests.support.databases import postgres_base_url

    base = postgres_base_url().rsplit("/", 1)[0]
    cli = cli_for(tmp_path, f"{base}/no_such_database_here")
    message = one_line_error(cli("payment", "list"), 5)
    assert "database unavailable" in message and "no_such_database_here" in message
    assert "db upgrade" not in message  # migrating would not help: it is a connection problem


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    cli = cli_for(tmp_path, f"sqlite:///{junk}")
    assert "file is not a database" in one_line_error(cli("payment", "list"), 5)


def test_schema_older_than_the_code(tmp_path: Path, database_url: str) -> None:
    """A column the code expects is missing (an old schema): told to run `db upgrade`.

    `payment create` writes through the ORM on PostgreSQL and with sqlite3 on a SQLite
    file (db/sqlite_payments.py); both write payments.webhook_url."""
    from sqlalchemy import text

    engine = get_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE payments DROP COLUMN webhook_url"))
    cli = cli_for(tmp_path, database_url)
    message = one_line_error(cli("payment", "create", "--chain", "local", "--amount", "1"), 5)
    assert "webhook_url" in message and "run `ctripctl db upgrade`" in message


@pytest.mark.parametrize(
    "command",
    [
        ("payment", "list"),
        ("payment", "show", "pay_x"),
        ("payment", "create", "--chain", "local", "--amount", "1"),
        ("webhooks", "list"),
        ("webhooks", "flush"),
        ("status",),
        ("chain", "status", "local"),
        ("confirm", "--chain", "local"),
    ],
)
def test_commands_on_a_missing_sqlite_file_create_nothing(command: tuple[str, ...], tmp_path: Path) -> None:
    """Only `init` and `db upgrade` create the database: every other command on a mistyped
    SQLite path exits 5 with the fix, and leaves no empty database file behind (`db
    current` reports no revision: test_upgrade_is_idempotent_and_current_reports)."""
    missing = tmp_path / "nowhere.db"
    run = cli_for(tmp_path, f"sqlite:///{missing}")(*command)  # no node: the database check comes first
    assert run.exit_code == 5, run
    assert f"the database file {missing} does not exist" in run.stderr and "db upgrade" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctrip.toml"]
