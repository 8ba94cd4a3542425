"""Several `webhooks flush` processes at once: every event delivered exactly once, in order per payment.

Real separate processes (the installed CLI), a real receiver counting webhook-ids, and a
real database: PostgreSQL exercises `FOR UPDATE SKIP LOCKED` + leases; SQLite exercises
the BEGIN IMMEDIATE path with the same leases.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from ctripctl.domain.lifecycle import EVENT_CONFIRMED, EVENT_DETECTED, EVENT_SETTLED
from tests.support.databases import migrated
from tests.support.receiver import Receiver
from tests.support.webhooks import events, hook_config, load, make_payments

ROOT = Path(__file__).resolve().parents[2]


def run_flushers(config_path: Path, count: int, concurrency: int) -> list[dict[str, float]]:
    """Start `count` flush processes together; return their --json results."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ctripctl",
                "webhooks",
                "flush",
                "--json",
                "--concurrency",
                str(concurrency),
                "--config",
                str(config_path),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


def check_exactly_once_in_order(config_path: Path, receiver: Receiver, total: int) -> None:
    config = load(config_path)
    stored = events(config)
    assert len(stored) == total
    assert receiver.unverified() == []
    counts = receiver.delivered_ids()
    assert len(counts) == total, f"{total - len(counts)} events never delivered"
    duplicates = {k: n for k, n in counts.items() if n > 1}
    assert duplicates == {}, f"{len(duplicates)} events delivered more than once"
    assert len(receiver.requests) == total  # no attempt was even sent twice
    assert {e.status for e in stored} == {"delivered"}
    assert {e.attempts for e in stored} == {1}
    expected: dict[str, list[str]] = defaultdict(list)
    for e in stored:  # seq order
        expected[e.payment_id].append(e.id)
    arrived: dict[str, list[str]] = defaultdict(list)
    for d in receiver.accepted:  # arrival order
        arrived[d.payload["data"]["id"]].append(d.webhook_id)
    assert arrived == expected


@pytest.mark.integration
def test_four_flushers_on_postgresql_deliver_2000_events_exactly_once(tmp_path: Path) -> None:
    with migrated("postgresql", tmp_path) as url, Receiver(delay=0.02) as receiver:
        path = hook_config(tmp_path / "ctrip.toml", url)
        make_payments(
            load(path), 500, receiver.url(), extra_events=(EVENT_DETECTED, EVENT_CONFIRMED, EVENT_SETTLED)
        )
        results = run_flushers(path, 4, concurrency=8)
        assert sum(r["delivered"] for r in results) == 2000, results
        assert sum(r["attempted"] for r in results) == 2000, results
        assert sum(1 for r in results if r["delivered"] > 0) >= 2, f"the flushers did not overlap: {results}"
        check_exactly_once_in_order(path, receiver, 2000)


@pytest.mark.integration
def test_three_flushers_on_sqlite_deliver_each_event_once(tmp_path: Path) -> None:
    with migrated("sqlite", tmp_path) as url, Receiver(delay=0.01) as receiver:
        path = hook_config(tmp_path / "ctrip.toml", url)
        make_payments(load(path), 150, receiver.url(), extra_events=(EVENT_DETECTED,))
        results = run_flushers(path, 3, concurrency=8)
        assert sum(r["delivered"] for r in results) == 300, results
        check_exactly_once_in_order(path, receiver, 300)
