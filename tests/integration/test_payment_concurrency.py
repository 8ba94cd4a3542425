"""Concurrent `payment create`: fresh, distinct derivation indexes and one payment per reference.

Real concurrency against the real databases: separate `ctripctl` processes started at
once, and threads released together by a barrier, each thread on its own engine (its
own connection pool, as separate hosts would have).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from ctripctl.config import load_config
from ctripctl.db.models import Payment, WebhookEvent
from ctripctl.db.payments import create_idempotent
from ctripctl.db.session import transaction
from ctripctl.evm.wallet import deposit_address
from ctripctl.payment_request import build_request
from tests.support.config import TEST_XPUB, write_config

ROOT = Path(__file__).resolve().parents[2]
CTRIPCTL = (sys.executable, "-m", "ctripctl")


def make_config(tmp_path: Path, database_url: str) -> Path:
    # With first_index set, payment create never talks to the node; the URL only has to be valid.
    url = ["http://127.0.0.1:9"]
    return write_config(tmp_path / "ctrip.toml", database_url=database_url, rpc_urls=url, first_index=0)


def stored(database_url: str) -> tuple[list[Payment], list[WebhookEvent]]:
    from ctripctl.db.session import get_engine

    with transaction(get_engine(database_url)) as session:
        payments = list(session.execute(select(Payment)).scalars())
        events = list(session.execute(select(WebhookEvent)).scalars())
    return payments, events


def assert_consistent(payments: list[Payment], events: list[WebhookEvent]) -> None:
    """Distinct indexes, each address derived from its own index, one created event each."""
    indexes = [p.derivation_index for p in payments]
    assert len(set(indexes)) == len(indexes)
    assert sorted(indexes) == list(range(len(indexes)))  # no gaps: failed racers gave theirs back
    assert len({p.address for p in payments}) == len(payments)
    for p in payments:
        assert p.address == deposit_address(TEST_XPUB, p.derivation_index)
    assert sorted(e.payment_id for e in events) == sorted(p.id for p in payments)
    assert {e.type for e in events} == {"payment.created"}


def test_concurrent_processes(tmp_path: Path, database_url: str) -> None:
    config = make_config(tmp_path, database_url)
    distinct = [["--amount", str(n)] for n in range(1, 4)]
    same_ref = [["--amount", "9", "--reference", "RACE-1"]] * 4
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [*CTRIPCTL, "payment", "create", "--chain", "local", *args, "--config", str(config), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for args in distinct + same_ref
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    created = results[: len(distinct)]
    raced = results[len(distinct) :]
    assert len({r["id"] for r in created}) == len(distinct)
    assert len({r["id"] for r in raced}) == 1  # every racer got the same payment back
    payments, events = stored(database_url)
    assert len(payments) == len(distinct) + 1
    assert_consistent(payments, events)


def test_concurrent_threads_with_separate_engines(tmp_path: Path, database_url: str) -> None:
    from sqlalchemy import create_engine

    from ctripctl.db.session import _on_sqlite_begin, _on_sqlite_connect

    config = load_config(make_config(tmp_path, database_url), env={})
    threads, rounds = 6, 8
    barrier = threading.Barrier(threads)
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def engine_of_own() -> object:
        if database_url.startswith("sqlite"):
            from sqlalchemy import event

            eng = create_engine(database_url, connect_args={"timeout": 30})
            event.listen(eng, "connect", _on_sqlite_connect)
            event.listen(eng, "begin", _on_sqlite_begin)
            return eng
        return create_engine(database_url)

    def worker(n: int) -> None:
        engine = engine_of_own()
        ids = []
        try:
            for r in range(rounds):
                requests = [
                    build_request(config, chain="local", amount=f"{n}.{r}1"),
                    build_request(config, chain="local", amount="7", reference=f"SHARED-{r}"),
                ]
                barrier.wait(timeout=30)  # everyone hits the database at the same moment
                pairs = create_idempotent(engine, config.xpub, requests, datetime.now(UTC))
                ids.extend(p.id for p, _ in pairs)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)
            barrier.abort()
        finally:
            engine.dispose()  # type: ignore[attr-defined]
            results[n] = ids

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert not errors, errors
    payments, events = stored(database_url)
    # each round: one fresh payment per thread plus ONE shared-reference payment
    assert len(payments) == rounds * (threads + 1)
    assert_consistent(payments, events)
    for r in range(rounds):
        shared = {results[n][2 * r + 1] for n in range(threads)}
        assert len(shared) == 1, f"round {r}: reference SHARED-{r} became {shared}"
