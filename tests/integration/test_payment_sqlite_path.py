"""`payment create|import|show` on a SQLite file (stdlib sqlite3, db/sqlite_payments.py)
agree with the ORM path (db/payments.py) row for row, and keep its guarantees.

The same database file is reached two ways: `sqlite:///PATH` takes the sqlite3 path, and
`sqlite:///PATH?timeout=30` (a URL with options, which `sqlite_path` leaves alone) the
ORM — so what one writes the other must read back identically.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ctripctl.db.models import AddressCounter, Payment, WebhookEvent
from ctripctl.db.session import get_engine, sqlite_path, transaction
from ctripctl.db.snapshot import payment_object
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.config import write_config
from tests.support.evm import Chain


@pytest.fixture
def two_ways(tmp_path: Path, sqlite_url: str, anvil: Anvil, token: Any) -> tuple[Cli, Cli]:
    """(the sqlite3 path, the ORM path) over one SQLite file."""
    assert sqlite_path(sqlite_url) is not None and sqlite_path(sqlite_url + "?timeout=30") is None
    common = {"rpc_urls": [anvil.url], "token_address": token.address}
    fast = write_config(tmp_path / "fast.toml", database_url=sqlite_url, **common)
    orm = write_config(tmp_path / "orm.toml", database_url=sqlite_url + "?timeout=30", **common)
    return Cli(fast), Cli(orm)


def orm_object(url: str, payment_id: str) -> dict[str, Any]:
    with transaction(get_engine(url)) as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        return payment_object(payment)


def test_both_paths_write_and_read_the_same(two_ways: tuple[Cli, Cli], sqlite_url: str, chain: Chain) -> None:
    fast, orm = two_ways
    args = ("payment", "create", "--amount", "12.5", "--token", "USDT", "--metadata", "order=7")
    by_fast = fast.ok(*args, "--reference", "FAST-1", "--webhook-url", "http://127.0.0.1:9/h")
    by_orm = orm.ok(*args, "--reference", "ORM-1", "--webhook-url", "http://127.0.0.1:9/h")
    # Each path reads what the other wrote, field for field (the ORM's own object too).
    for payment in (by_fast, by_orm):
        assert fast.ok("payment", "show", payment["id"]) == orm.ok("payment", "show", payment["id"])
        assert orm_object(sqlite_url, payment["id"]) == fast.ok("payment", "show", payment["id"])
    differing = {"id", "address", "payment_uri", "reference", "created_at", "updated_at", "expires_at"}
    assert {k: v for k, v in by_fast.items() if k not in differing} == {
        k: v for k, v in by_orm.items() if k not in differing
    }
    # Consecutive indexes from the one counter, whichever path allocated them.
    with transaction(get_engine(sqlite_url)) as session:
        indexes = sorted(session.execute(select(Payment.derivation_index)).scalars())
        counter = session.get(AddressCounter, "deposit")
        assert counter is not None and indexes == [counter.next_index - 2, counter.next_index - 1]
        events = session.execute(select(WebhookEvent).order_by(WebhookEvent.seq)).scalars().all()
        assert [(e.type, e.status, e.attempts) for e in events] == [("payment.created", "pending", 0)] * 2
        assert [e.payload["data"] for e in events] == [by_fast, by_orm]
        assert all(e.next_attempt_at == e.created_at for e in events)
    # A payment with a transfer reads the same both ways, its transfer included.
    native = fast.ok("payment", "create", "--amount", "1")
    chain.send_eth(native["address"], 10**18)
    fast.ok("scan")
    shown = fast.ok("payment", "show", native["id"])
    assert shown["status"] == "detected" and len(shown["transfers"]) == 1
    assert shown == orm.ok("payment", "show", native["id"]) == orm_object(sqlite_url, native["id"])
    human = fast("payment", "show", native["id"])
    assert human.exit_code == 0 and shown["transfers"][0]["tx_hash"] in human.stdout, human


def test_reference_is_an_idempotency_key(two_ways: tuple[Cli, Cli], sqlite_url: str) -> None:
    fast, orm = two_ways
    first = fast.ok("payment", "create", "--amount", "1", "--reference", "R-1")
    assert fast.ok("payment", "create", "--amount", "1", "--reference", "R-1") == first
    assert orm.ok("payment", "create", "--amount", "1", "--reference", "R-1") == first
    other = fast("payment", "create", "--amount", "2", "--reference", "R-1")
    assert other.exit_code == 3 and f"already belongs to {first['id']}" in other.stderr, other
    with sqlite3.connect(sqlite_path(sqlite_url)) as db:  # type: ignore[arg-type]
        assert db.execute("SELECT count(*) FROM payments").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM webhook_events").fetchone() == (1,)
        assert db.execute("SELECT next_index FROM address_counters").fetchone() == (1,)


def test_counter_payment_and_event_commit_together(two_ways: tuple[Cli, Cli], sqlite_url: str) -> None:
    """The outbox insert fails (its table is gone): the counter bump and the payment row
    are rolled back with it — nothing is half written."""
    fast, _ = two_ways
    fast.ok("payment", "create", "--amount", "1")  # the first create also passes the used-wallet check
    path = sqlite_path(sqlite_url)
    assert path is not None
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE webhook_events RENAME TO webhook_events_gone")
    run = fast("payment", "create", "--amount", "1")
    assert run.exit_code == 5 and "run `ctripctl db upgrade`" in run.stderr, run
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM payments").fetchone() == (1,)
        assert db.execute("SELECT next_index FROM address_counters").fetchone() == (1,)


def test_import_on_the_sqlite_path(two_ways: tuple[Cli, Cli], sqlite_url: str, tmp_path: Path) -> None:
    fast, orm = two_ways
    csv = tmp_path / "orders.csv"
    rows = "".join(f"local,{n}.5,,IMP-{n},,\n" for n in range(50))
    csv.write_text("chain,amount,token,reference,webhook_url,expires_in\n" + rows)
    imported = fast.ok("payment", "import", str(csv))
    assert [p["reference"] for p in imported] == [f"IMP-{n}" for n in range(50)]
    assert fast.ok("payment", "import", str(csv)) == imported  # again: the same payments
    assert orm.ok("payment", "import", str(csv)) == imported
    with sqlite3.connect(sqlite_path(sqlite_url)) as db:  # type: ignore[arg-type]
        assert db.execute("SELECT count(*), count(DISTINCT address) FROM payments").fetchone() == (50, 50)
        assert db.execute("SELECT count(*) FROM webhook_events").fetchone() == (50,)
