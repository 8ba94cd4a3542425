"""`ctripctl status` cost as the database grows: does the health check stay cheap?

status runs every few minutes from cron on every host, so its database read (one
transaction: chain states, payments by status in the last 24 h and open, webhook
backlog: pending count and oldest, oldest due, dead count) must not
grow with history. Measured in one run, medians of --reps repetitions:

  small      1,000 payments, 3,000 webhook events (the baseline)
  large      --payments payments (default 100,000) created over 30 days, 3 events each
             (90 % delivered, the rest pending / dead), 2 % of payments still open

for SQLite and (when CTRIP_TEST_POSTGRES_URL is set) PostgreSQL; printed as milliseconds
and the large/small ratio. Plus the whole `collect_status` (database + node probe of a
real anvil, in parallel) on the large database.

Run:  .venv/bin/python benchmarks/bench_status.py [--reps 7] [--payments 100000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from ctripctl.config import load_config  # noqa: E402
from ctripctl.db import migrate  # noqa: E402
from ctripctl.db.models import ChainState, Payment, WebhookEvent  # noqa: E402
from ctripctl.db.session import get_engine, transaction  # noqa: E402
from ctripctl.ops.status import _read_database, collect_status  # noqa: E402
from tests.support.anvil import Anvil  # noqa: E402
from tests.support.config import write_config  # noqa: E402

STATUSES_DONE = ("confirmed", "expired", "cancelled")


def median_ms(fn: Callable[[], Any], reps: int) -> float:
    fn()  # warm caches and the connection pool
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def seed(url: str, payments: int, now: datetime) -> None:
    rnd = random.Random(payments)
    engine = get_engine(url)
    with transaction(engine) as session:
        session.add(
            ChainState(chain="local", last_block=100, head_block=100, last_scan_at=now, last_confirm_at=now)
        )
    for start in range(0, payments, 10_000):
        rows, events = [], []
        for i in range(start, min(start + 10_000, payments)):
            created = now - timedelta(seconds=rnd.randrange(30 * 86_400))
            status = "pending" if rnd.random() < 0.02 else rnd.choice(STATUSES_DONE)
            pid = f"pay_{i:020d}"
            rows.append(
                {
                    "id": pid,
                    "chain": "local",
                    "token": None,
                    "token_address": None,
                    "decimals": 18,
                    "amount_base": 10**18,
                    "address": f"0x{i:040x}",
                    "derivation_index": i,
                    "status": status,
                    "received_base": 0,
                    "confirmed_base": 0,
                    "overpaid": False,
                    "underpaid": False,
                    "paid_late": False,
                    "reference": None,
                    "webhook_url": None,
                    "metadata": {},
                    "expires_at": created + timedelta(hours=1),
                    "created_at": created,
                    "updated_at": created,
                }
            )
            for n in range(3):
                roll = rnd.random()
                state = "delivered" if roll < 0.9 else "pending" if roll < 0.98 else "dead"
                events.append(
                    {
                        "id": f"evt_{i:018d}{n}",
                        "payment_id": pid,
                        "type": "payment.created",
                        "payload": {},
                        "status": state,
                        "attempts": 1,
                        "next_attempt_at": created + timedelta(minutes=n),
                        "delivered_at": created + timedelta(minutes=n) if state == "delivered" else None,
                        "created_at": created,
                    }
                )
        with transaction(engine) as session:
            session.execute(insert(Payment), rows)
            session.execute(insert(WebhookEvent), events)
    if url.startswith("postgresql"):
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


@contextmanager
def database(kind: str, directory: Path, name: str) -> Iterator[str]:
    if kind == "sqlite":
        url = f"sqlite:///{directory / (name + '.db')}"
        migrate.upgrade(url)
        yield url
        return
    base = os.environ["CTRIP_TEST_POSTGRES_URL"]
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        get_engine(url).dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--payments", type=int, default=100_000)
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgresql"] if os.environ.get("CTRIP_TEST_POSTGRES_URL") else [])
    now = datetime.now(UTC)
    print(f"status database read, median of {args.reps} (ms)")
    print(f"{'database':<12}{'small (1k)':>12}{f'large ({args.payments // 1000}k)':>16}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp, _anvil() as anvil:
        directory = Path(tmp)
        for kind in kinds:
            with database(kind, directory, "small") as small, database(kind, directory, "large") as large:
                seed(small, 1_000, now)
                t0 = time.perf_counter()
                seed(large, args.payments, now)
                seeded = time.perf_counter() - t0

                def read(url: str) -> Callable[[], Any]:
                    def run() -> Any:
                        with transaction(get_engine(url)) as session:
                            return _read_database(session, now)

                    return run

                small_ms = median_ms(read(small), args.reps)
                large_ms = median_ms(read(large), args.reps)
                print(
                    f"{kind:<12}{small_ms:>12.1f}{large_ms:>16.1f}{large_ms / small_ms:>7.1f}x"
                    f"   (seeded in {seeded:.0f}s)"
                )
                config = load_config(
                    write_config(directory / f"{kind}.toml", database_url=large, rpc_urls=[anvil.url])
                )
                whole = median_ms(
                    lambda config=config: collect_status(config, get_engine(large), now), args.reps
                )
                print(f"{'':<12}whole collect_status on the large database (db + node probe): {whole:.1f} ms")


@contextmanager
def _anvil() -> Iterator[Anvil]:
    node = Anvil()
    try:
        yield node
    finally:
        node.stop()


if __name__ == "__main__":
    main()
