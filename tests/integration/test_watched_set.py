"""The scan's watched set reads the watched payments, not the history (SQLite and PostgreSQL).

`scan_store.read_watched` selects, on every pass, the payments that can still receive
money: open ones, those inside their late window, those with a credit orphaned within
it, and those with a live credit at or above the range. A history of old settled,
expired and cancelled payments (with their credits, some orphaned long ago) lies beside
a few payments of each watched kind; the test checks the exact set returned, then how
the query reads: on PostgreSQL (EXPLAIN ANALYZE, sequential scans priced out) the rows
its scans of payments and transfers touch stay far below the history's size; on SQLite
(no statistics, as ctripctl leaves it) every access to those tables seeks an index with
more than the chain. Row counts and plans only: benchmarks/bench_history.py has the times.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert

from ctripctl.db.models import Payment, Transfer
from ctripctl.db.scan_store import read_watched
from ctripctl.db.session import get_engine, transaction

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LATE = timedelta(days=7)
RECORDED_FROM = 1_000  # the pass's range starts here
HISTORY = 1_500  # old payments per kind below; the watched set is a dozen
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(days=1)


def _payment(n: int, status: str, *, chain: str = "local", at: datetime = OLD, **extra: Any) -> dict:
    return {
        "id": f"pay_{n:020d}",
        "chain": chain,
        "decimals": 18,
        "amount_base": 10**18,
        "address": f"0x{n + 4096:040x}",
        "derivation_index": n,
        "status": status,
        "expires_at": at + timedelta(hours=1),
        "created_at": at,
        "updated_at": at,
        "metadata_": {},
        **extra,
    }


def _transfer(n: int, payment_id: str, state: str, block: int, **extra: Any) -> dict[str, Any]:
    return {
        "chain": "local",
        "tx_hash": f"0x{n:064x}",
        "log_index": -1,
        "tx_log_position": -1,
        "block_number": block,
        "block_hash": f"0x{block:064x}",
        "block_time": OLD,
        "from_address": "0x" + "be" * 20,
        "to_address": f"0x{n + 4096:040x}",
        "amount_base": 10**18,
        "payment_id": payment_id,
        "state": state,
        "created_at": OLD,
        **extra,
    }


def seed(url: str) -> set[str]:
    """History plus one payment per watched case; returns the watched payments' ids."""
    payments, transfers = [], []
    n = 0
    for status in ("settled", "expired", "cancelled"):  # history: outside every window
        for _ in range(HISTORY):
            extra = {"cancelled_at": OLD} if status == "cancelled" else {}
            payments.append(_payment(n, status, **extra))
            if status == "settled":
                state = "orphaned" if n % 10 == 0 else "confirmed"  # some orphaned long ago
                orphaned = {"orphaned_at": OLD} if state == "orphaned" else {}
                transfers.append(_transfer(n, payments[-1]["id"], state, 1 + n % 900, **orphaned))
            n += 1
    watched_from = n
    cases = [
        _payment(n, "pending", at=RECENT, expires_at=NOW + timedelta(hours=1)),
        _payment(n + 1, "partially_paid", at=OLD),  # open: watched whatever its age
        _payment(n + 2, "detected", at=OLD),
        _payment(n + 3, "expired", at=RECENT, expires_at=RECENT),
        _payment(n + 4, "cancelled", at=RECENT, cancelled_at=RECENT),
        _payment(n + 5, "confirmed", at=RECENT),
        _payment(n + 6, "settled", at=RECENT),
        _payment(n + 7, "settled"),  # a credit orphaned inside the window
        _payment(n + 8, "confirmed"),  # a live credit at the range
        _payment(n + 9, "settled"),  # a live (seen) credit above the range
    ]
    transfers += [
        _transfer(n + 7, cases[7]["id"], "orphaned", 500, orphaned_at=RECENT),
        _transfer(n + 8, cases[8]["id"], "confirmed", RECORDED_FROM),
        _transfer(n + 9, cases[9]["id"], "seen", RECORDED_FROM + 40),
    ]
    n += len(cases)
    near_misses = [
        _payment(n, "expired", at=NOW - LATE - timedelta(hours=1)),  # expires_at == since: out
        _payment(n + 1, "pending", chain="other", at=RECENT),  # another chain
        _payment(n + 2, "settled"),  # its only credit above the range was orphaned long ago
    ]
    transfers.append(_transfer(n + 2, near_misses[2]["id"], "orphaned", RECORDED_FROM + 5, orphaned_at=OLD))
    payments += cases + near_misses
    with transaction(get_engine(url)) as session:
        session.execute(insert(Payment), payments)
        session.execute(insert(Transfer), transfers)
    return {p["id"] for p in payments[watched_from : watched_from + len(cases)]}


def captured_read(url: str) -> tuple[dict[str, Any], tuple[str, Any]]:
    """read_watched's result and the one statement it sent."""
    engine = get_engine(url)
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        sent.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        watched = read_watched(engine, "local", NOW, LATE, recorded_from=RECORDED_FROM)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    [query] = [(s, p) for s, p in sent if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    return watched, query


def rows_touched(plan: dict[str, Any]) -> int:
    """Rows read from payments and transfers by every scan in an EXPLAIN ANALYZE plan."""
    total = 0
    if plan.get("Relation Name") in {"payments", "transfers"}:
        loops = plan.get("Actual Loops", 1)
        removed = plan.get("Rows Removed by Filter", 0) + plan.get("Rows Removed by Index Recheck", 0)
        total += (plan.get("Actual Rows", 0) + removed) * loops
    for child in plan.get("Plans", []):
        total += rows_touched(child)
    return total


def test_watched_set_is_exact_and_read_through_indexes(database_url: str) -> None:
    expected = seed(database_url)
    watched, (statement, params) = captured_read(database_url)
    assert {w.payment_id for w in watched.values()} == expected
    assert all(address == address.lower() for address in watched)

    engine = get_engine(database_url)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE payments")
            conn.exec_driver_sql("ANALYZE transfers")
            conn.exec_driver_sql("SET enable_seqscan = off")
            [[plan]] = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params).one()
            touched = rows_touched(plan["Plan"])
            # 12 watched rows (and their credits); the history holds 4,500 payments and
            # 1,500 credits. A branch that reads a chain's whole history fails this.
            assert touched < 100, f"{touched} rows read:\n{plan}"
        else:
            details = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)]
            accesses = [d for d in details if re.search(r"\b(payments|transfers)\b", d)]
            assert accesses, details
            for access in accesses:
                assert access.startswith("SEARCH"), details  # never a SCAN of the table
                seek = re.search(r"\((.*)\)$", access)
                assert seek and seek.group(1) != "chain=?", f"reads a whole chain: {access}"
        conn.rollback()
