"""`ctripctl db prune`: drops old bodies and payloads, never a payment, transfer, sweep or row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from ctripctl.db.models import Payment, WebhookAttempt, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.cli import Cli
from tests.support.config import write_config

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=100)
RECENT = NOW - timedelta(days=10)


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Cli:
    path = write_config(
        tmp_path / "ctrip.toml", database_url=database_url, rpc_urls=["http://127.0.0.1:9"], first_index=0
    )
    return Cli(path)


def seed(url: str) -> None:
    """Payments finished long ago and recently, each with a delivered and a dead event."""
    shapes = [
        ("old_settled", "settled", OLD),
        ("old_expired", "expired", OLD),
        ("old_confirmed", "confirmed", OLD),  # not finished: a sweep will still settle it
        ("new_settled", "settled", RECENT),
    ]
    with transaction(get_engine(url)) as session:
        for n, (name, status, when) in enumerate(shapes):
            pid = f"pay_{name}"
            session.execute(
                insert(Payment).values(
                    id=pid,
                    chain="local",
                    decimals=18,
                    amount_base=10**18,
                    address=f"0x{n + 1:040x}",
                    derivation_index=n,
                    status=status,
                    received_base=0,
                    confirmed_base=0,
                    overpaid=False,
                    underpaid=False,
                    paid_late=False,
                    metadata={},
                    expires_at=when,
                    created_at=when,
                    updated_at=when,
                )
            )
            for kind in ("delivered", "dead"):
                seq = session.execute(
                    insert(WebhookEvent)
                    .values(
                        id=f"evt_{name}_{kind}",
                        payment_id=pid,
                        type="payment.created",
                        payload={"type": "payment.created", "timestamp": "t", "data": {"id": pid}},
                        status=kind,
                        attempts=1,
                        next_attempt_at=when,
                        created_at=when,
                    )
                    .returning(WebhookEvent.seq)
                ).scalar_one()
                session.execute(
                    insert(WebhookAttempt).values(
                        event_seq=seq,
                        attempt=1,
                        url="https://merchant.example/hook",
                        started_at=when,
                        status_code=200 if kind == "delivered" else 500,
                        response_body="the receiver's answer",
                    )
                )


def state(url: str) -> dict[str, Any]:
    with transaction(get_engine(url)) as session:
        events = {e.id: e.payload for e in session.scalars(select(WebhookEvent))}
        bodies = {
            event_id: body
            for event_id, body in session.execute(
                select(WebhookEvent.id, WebhookAttempt.response_body).join(
                    WebhookEvent, WebhookEvent.seq == WebhookAttempt.event_seq
                )
            )
        }
        counts = [
            session.execute(select(func.count()).select_from(t)).scalar_one() for t in (Payment, WebhookEvent)
        ]
    return {"events": events, "bodies": bodies, "counts": counts}


def test_prune_drops_old_bodies_and_finished_payloads_and_keeps_every_row(
    cli: Cli, database_url: str
) -> None:
    seed(database_url)
    before = state(database_url)

    dry = cli.ok("db", "prune", "--older-than", "90d", "--dry-run", "--json")
    # Bodies: the 3 old delivered events' attempts. Payloads: delivered events of the 2 old
    # finished payments (the old confirmed one is not finished; dead events are kept whole).
    assert (dry["dry_run"], dry["attempt_bodies"], dry["event_payloads"]) == (True, 3, 2)
    assert state(database_url) == before

    done = cli.ok("db", "prune", "--older-than", "90d", "--json")
    assert (done["dry_run"], done["attempt_bodies"], done["event_payloads"]) == (False, 3, 2)
    after = state(database_url)
    assert after["counts"] == before["counts"]
    pruned = {e for e, payload in after["events"].items() if "data" not in payload}
    assert pruned == {"evt_old_settled_delivered", "evt_old_expired_delivered"}
    assert after["events"]["evt_old_settled_delivered"]["type"] == "payment.created"
    assert "pruned_at" in after["events"]["evt_old_settled_delivered"]
    emptied = {e for e, body in after["bodies"].items() if body is None}
    assert emptied == {
        "evt_old_settled_delivered",
        "evt_old_expired_delivered",
        "evt_old_confirmed_delivered",
    }

    again = cli.ok("db", "prune", "--older-than", "90d", "--json")
    assert (again["attempt_bodies"], again["event_payloads"]) == (0, 0)

    refused = cli("webhooks", "retry", "evt_old_settled_delivered")
    assert refused.exit_code == 3, refused
    assert "pruned" in refused.stderr
    assert cli("webhooks", "retry", "evt_old_settled_dead").exit_code == 0


def test_a_cutoff_inside_the_late_window_is_refused(cli: Cli, database_url: str) -> None:
    seed(database_url)
    before = state(database_url)
    for age in ("7d", "nonsense"):
        run = cli("db", "prune", "--older-than", age)
        assert run.exit_code == 2, run
        assert "Traceback" not in run.stderr
    assert state(database_url) == before
