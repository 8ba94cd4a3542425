"""Cron passes as history grows: is every pass as cheap at 1M payments as at 10k?

Two databases per engine (SQLite, and PostgreSQL when CTRIP_TEST_POSTGRES_URL is set),
seeded in bulk with SQL (generate_series on PostgreSQL, a recursive CTE on SQLite — never
the ORM row by row), then the real commands run as processes, as cron runs them:

  scan        `scan --chain local` over 50 freshly mined (empty) blocks
  confirm     `confirm --chain local` (nothing deep enough, nothing due to expire)
  flush       `webhooks flush` (the backlog is retrying, nothing due yet)
  status      `status --json` (database read + node probe)
  sweep       `sweep run --chain local` (5 confirmed deposits waiting, zero balance)

What is seeded, for each size N (--sizes, default 10,000 and 1,000,000):

  live     the newest --live payments (default 10,000) spread over the last 30 days: the
           same shop at both sizes — 2 % open (their events pending, retrying in an hour),
           8 % expired, 2 % cancelled, the rest paid and settled (one confirmed, swept
           transfer each, and its confirmed sweep transaction), 5 confirmed deposits
           waiting for a sweep
  history  N − live older payments, 31 days to ~3 years old, the same mix but nothing open
           and 2 % of their events dead

3 webhook events each (a ~400-byte payload) and one delivery attempt per event (with a
response body). At 10k the database is all live; at 1M it is the same live part under
990k payments of history, so a ratio above 1 is a cost that grows with history — which
is what the target forbids. (A shop with 100× the *rate* has 100× the open payments and
watched addresses; that cost is the work itself, see the README's production notes.)

Printed: per engine and command, the median wall time of --reps runs of the whole
process at each size, their ratio, and the largest max-RSS of those runs. PostgreSQL
databases are VACUUM ANALYZEd after seeding (what autovacuum reaches in steady state);
SQLite is left as ctripctl leaves it. Databases are dropped at the end (--keep: not).

Run:  CTRIP_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
      .venv/bin/python benchmarks/bench_history.py [--sizes 10000,1000000] [--reps 5]

Measured at commit fff9880 (migration 0009), --reps 5, 2-core box at a load of 0.3-3;
seconds at 10k -> 1M, ratio, max RSS at 1M (the same at 10k). Target: <= 1.5x SQLite,
<= 1.2x PostgreSQL.

  command          SQLite                       PostgreSQL
  scan             2.77 -> 2.74  0.99x  64 MB   3.21 -> 3.40  1.06x  70 MB
  confirm          0.57 -> 0.65  1.14x  57 MB   0.64 -> 0.67  1.05x  65 MB
  webhooks flush   0.67 -> 0.67  1.00x  58 MB   0.69 -> 0.64  0.93x  66 MB
  status           0.56 -> 0.77  1.38x  61 MB   0.74 -> 0.80  1.08x  68 MB
  sweep run        0.73 -> 0.73  1.01x  73 MB   0.96 -> 0.86  0.90x  81 MB

Before (migration 0006, a load of ~9): scan 1.81x / 1.45x (the watched set as one OR
with IN-subqueries: a read of every payment of the chain, 1,077 ms at 1M on SQLite and
464 ms on PostgreSQL, now 12 and 19 ms), sweep run 7.62x / 6.99x at ~400 MB (every
swept address's nonce; then, on SQLite, fee-refused sweeps grouped over every sweep:
360 ms). scan's ~2.7 s at both sizes is the balance reconciliation of the 2,495 watched
ETH addresses (work per watched address, not history). status on SQLite still grows a
little: its live-sweep count per chain walks the whole sweeps (chain, status) index
(119 ms at 880k sweeps) — within the target. README, "Large databases", has the rest.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, inspect, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from ctripctl.db import migrate  # noqa: E402
from ctripctl.db.session import dispose_engines  # noqa: E402
from tests.support.anvil import Anvil  # noqa: E402
from tests.support.config import write_config  # noqa: E402
from tests.support.sweeping import TREASURY, mnemonic_file  # noqa: E402

CTRIPCTL = str(Path(sys.executable).parent / "ctripctl")
DAY = 86_400
LIVE_DAYS = 30
HISTORY_DAYS = 1_000
WAITING_SWEEPS = 5
BLOCKS_PER_SCAN = 50
FIRST_BLOCKS = 1_000  # mined before seeding; seeded transfers sit in blocks 1..900
COMMANDS: dict[str, list[str]] = {
    "scan": ["scan", "--chain", "local", "--json"],
    "confirm": ["confirm", "--chain", "local", "--json"],
    "webhooks flush": ["webhooks", "flush", "--json"],
    "status": ["status", "--json"],
    "sweep run": ["sweep", "run", "--chain", "local", "--json"],
}
OK_EXITS = {"status": {0, 7}}  # 7: unhealthy (history holds dead webhooks), still a full run


@dataclass
class Timing:
    seconds: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)


# -- seeding: PostgreSQL ------------------------------------------------------------------

_PG_SERIES = """
SELECT i, (i * 37) % 100 AS r, i >= :n - :live AS live,
       :now - make_interval(secs => CASE WHEN i >= :n - :live THEN (:n - 1 - i) * :live_step
                                         ELSE :hist0 + (:n - :live - 1 - i) * :hist_step END) AS created
FROM generate_series(0, :n - 1) AS i
"""

_PG_PAYMENTS = f"""
INSERT INTO payments (id, chain, token, token_address, decimals, amount_base, address,
    derivation_index, status, received_base, confirmed_base, overpaid, underpaid, paid_late,
    reference, webhook_url, metadata, expires_at, expired_at, cancelled_at, settled_at,
    swept_base, created_at, updated_at)
SELECT 'pay_' || lpad(i::text, 20, '0'), 'local', NULL, NULL, 18, 1000000000000000000,
    '0x' || lpad(to_hex(i + 4096), 40, '0'), i, st,
    CASE WHEN st IN ('settled', 'confirmed') THEN 1000000000000000000 ELSE 0 END,
    CASE WHEN st IN ('settled', 'confirmed') THEN 1000000000000000000 ELSE 0 END,
    false, false, false, NULL, NULL, '{{}}'::jsonb,
    CASE st WHEN 'pending' THEN :now + interval '1 hour' ELSE created + interval '1 hour' END,
    CASE st WHEN 'expired' THEN created + interval '62 minutes' END,
    CASE st WHEN 'cancelled' THEN created + interval '10 minutes' END,
    CASE st WHEN 'settled' THEN created + interval '40 minutes' END,
    CASE st WHEN 'settled' THEN 1000000000000000000 ELSE 0 END,
    created,
    CASE st WHEN 'pending' THEN created WHEN 'expired' THEN created + interval '62 minutes'
            WHEN 'cancelled' THEN created + interval '10 minutes'
            WHEN 'confirmed' THEN created + interval '20 minutes' ELSE created + interval '40 minutes' END
FROM (SELECT s.*, CASE WHEN i >= :n - {WAITING_SWEEPS} THEN 'confirmed'
                       WHEN live AND r < 2 THEN 'pending' WHEN r < 10 THEN 'expired'
                       WHEN r < 12 THEN 'cancelled' ELSE 'settled' END AS st
      FROM ({_PG_SERIES}) AS s) AS p
"""

_PG_TRANSFERS = """
INSERT INTO transfers (chain, tx_hash, log_index, {position} block_number, block_hash, block_time,
    from_address, to_address, token, amount_base, payment_id, state, created_at, confirmed_at,
    swept_at)
SELECT 'local', '0x' || lpad(to_hex(derivation_index), 64, '0'), -1, {position_value}
    1 + derivation_index % 900, '0x' || lpad(to_hex(derivation_index % 900 + 1), 64, 'b'),
    created_at + interval '5 minutes', '0x' || repeat('be', 20), address, NULL, amount_base, id,
    'confirmed', created_at + interval '5 minutes', created_at + interval '15 minutes',
    CASE status WHEN 'settled' THEN created_at + interval '40 minutes' END
FROM payments WHERE status IN ('settled', 'confirmed') ORDER BY derivation_index
"""

_PG_EVENTS = """
INSERT INTO webhook_events (id, payment_id, type, payload, status, attempts, next_attempt_at,
    lease_until, last_error, last_status_code, delivered_at, created_at)
SELECT 'evt_' || lpad((p.derivation_index * 3 + k)::text, 24, '0'), p.id, t.type,
    jsonb_build_object('id', 'evt_' || lpad((p.derivation_index * 3 + k)::text, 24, '0'),
        'type', t.type, 'timestamp', p.created_at,
        'data', jsonb_build_object('id', p.id, 'chain', 'local', 'status', p.status,
            'amount', '1', 'amount_base', '1000000000000000000', 'address', p.address,
            'received', '1', 'confirmed', '1', 'expires_at', p.expires_at, 'metadata', '{}'::jsonb,
            'transfers', jsonb_build_array(jsonb_build_object('tx_hash', '0x' || repeat('ab', 32),
                'amount', '1', 'state', 'confirmed', 'block_number', 123)))),
    CASE WHEN p.status = 'pending' THEN 'pending'
         WHEN (p.derivation_index * 37) % 100 IN (50, 51) AND p.created_at < :now - interval '31 days'
              THEN 'dead' ELSE 'delivered' END,
    CASE WHEN p.status = 'pending' THEN 1 WHEN (p.derivation_index * 37) % 100 IN (50, 51)
         AND p.created_at < :now - interval '31 days' THEN 8 ELSE 1 END,
    CASE WHEN p.status = 'pending' THEN :now + interval '1 hour'
         ELSE p.created_at + make_interval(mins => k) END,
    NULL, NULL, 200,
    CASE WHEN p.status <> 'pending' THEN p.created_at + make_interval(mins => k) END,
    p.created_at + make_interval(mins => k)
FROM payments AS p
CROSS JOIN LATERAL (VALUES (0, 'payment.created'), (1, 'payment.detected'),
    (2, CASE p.status WHEN 'expired' THEN 'payment.expired' WHEN 'cancelled' THEN 'payment.cancelled'
         WHEN 'settled' THEN 'payment.settled' ELSE 'payment.confirmed' END)) AS t(k, type)
ORDER BY p.derivation_index, k
"""

_PG_ATTEMPTS = """
INSERT INTO webhook_attempts (event_seq, attempt, url, started_at, status_code, error,
    response_body, latency_ms)
SELECT seq, attempts, 'https://merchant.example/hooks/ctrip', next_attempt_at,
    CASE status WHEN 'dead' THEN 500 ELSE 200 END, NULL,
    '{"received": true, "id": "' || id || '", "note": "' || repeat('x', 60) || '"}', 120
FROM webhook_events ORDER BY seq
"""


_PG_SWEEPS = """
INSERT INTO sweeps (id, chain, kind, status, from_address, to_address, token, token_address,
    amount_base, nonce, gas_limit, fee, tx_hash, raw_tx, payment_ids, transfer_ids, block_number,
    block_hash, broadcasts, last_error, created_at, updated_at, final_at)
SELECT 'swp_' || lpad(t.id::text, 24, '0'), 'local', 'native', 'confirmed', t.to_address, :treasury,
    NULL, NULL, t.amount_base - 21000000000000, 0, 21000,
    '{"type": "eip1559", "max_fee_per_gas": 2000000000, "max_priority_fee_per_gas": 1000000000,
      "gas_price": null}'::jsonb,
    '0xc' || lpad(to_hex(t.id), 63, '0'), '0x02f8' || repeat('ab', 110),
    jsonb_build_array(t.payment_id), jsonb_build_array(t.id), t.block_number + 5,
    '0x' || lpad(to_hex(t.block_number + 5), 64, 'b'), 1, NULL, t.swept_at - interval '10 minutes',
    t.swept_at, t.swept_at
FROM transfers AS t WHERE t.swept_at IS NOT NULL ORDER BY t.id
"""


def seed_postgres(url: str, n: int, live: int, now: datetime, head: dict) -> None:
    engine = create_engine(url)
    params = _params(n, live) | {"now": now}
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text(_PG_PAYMENTS), params)
        has_position = "tx_log_position" in {c["name"] for c in inspect(conn).get_columns("transfers")}
        conn.execute(
            text(
                _PG_TRANSFERS.format(
                    position="tx_log_position," if has_position else "",
                    position_value="-1," if has_position else "",
                )
            )
        )
        conn.execute(text(_PG_SWEEPS), {"treasury": TREASURY})
        conn.execute(text(_PG_EVENTS), params)
        conn.execute(text(_PG_ATTEMPTS))
        _seed_state(conn, n, now, head)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


# -- seeding: SQLite ----------------------------------------------------------------------


def _ts(expr: str) -> str:
    """An epoch-seconds SQL expression as SQLAlchemy's SQLite DateTime text."""
    return f"(strftime('%Y-%m-%d %H:%M:%S', {expr}, 'unixepoch') || '.000000')"


def seed_sqlite(path: Path, n: int, live: int, now: datetime, head: dict) -> None:
    p = _params(n, live) | {"now": now.timestamp()}
    conn = sqlite3.connect(path, isolation_level=None)
    # A rollback journal while seeding (a fresh file: nearly nothing to journal), not the
    # WAL, which would first copy every page of the transaction into the log (GBs at 1M).
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    conn.execute("BEGIN")
    created = (
        "(:now - CASE WHEN i >= :n - :live THEN (:n - 1 - i) * :live_step"
        " ELSE :hist0 + (:n - :live - 1 - i) * :hist_step END)"
    )
    conn.execute(
        f"""
        WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < :n - 1),
        q AS (SELECT i, {created} AS c,
                 CASE WHEN i >= :n - {WAITING_SWEEPS} THEN 'confirmed'
                      WHEN i >= :n - :live AND (i * 37) % 100 < 2 THEN 'pending'
                      WHEN (i * 37) % 100 < 10 THEN 'expired' WHEN (i * 37) % 100 < 12 THEN 'cancelled'
                      ELSE 'settled' END AS st FROM s)
        INSERT INTO payments (id, chain, token, token_address, decimals, amount_base, address,
            derivation_index, status, received_base, confirmed_base, overpaid, underpaid, paid_late,
            reference, webhook_url, metadata, expires_at, expired_at, cancelled_at, settled_at,
            swept_base, created_at, updated_at)
        SELECT 'pay_' || printf('%020d', i), 'local', NULL, NULL, 18, '1000000000000000000',
            printf('0x%040x', i + 4096), i, st,
            CASE WHEN st IN ('settled', 'confirmed') THEN '1000000000000000000' ELSE '0' END,
            CASE WHEN st IN ('settled', 'confirmed') THEN '1000000000000000000' ELSE '0' END,
            0, 0, 0, NULL, NULL, '{{}}',
            CASE st WHEN 'pending' THEN {_ts(":now + 3600")} ELSE {_ts("c + 3600")} END,
            CASE st WHEN 'expired' THEN {_ts("c + 3720")} END,
            CASE st WHEN 'cancelled' THEN {_ts("c + 600")} END,
            CASE st WHEN 'settled' THEN {_ts("c + 2400")} END,
            CASE st WHEN 'settled' THEN '1000000000000000000' ELSE '0' END,
            {_ts("c")},
            CASE st WHEN 'pending' THEN {_ts("c")} WHEN 'expired' THEN {_ts("c + 3720")}
                    WHEN 'cancelled' THEN {_ts("c + 600")} WHEN 'confirmed' THEN {_ts("c + 1200")}
                    ELSE {_ts("c + 2400")} END
        FROM q
        """,
        p,
    )
    columns = {row[1] for row in conn.execute("PRAGMA table_info(transfers)")}
    position = ("tx_log_position, ", "-1, ") if "tx_log_position" in columns else ("", "")
    conn.execute(
        f"""
        INSERT INTO transfers (chain, tx_hash, log_index, {position[0]}block_number, block_hash,
            block_time, from_address, to_address, token, amount_base, payment_id, state, created_at,
            confirmed_at, swept_at)
        SELECT 'local', printf('0x%064x', derivation_index), -1, {position[1]}
            1 + derivation_index % 900, printf('0x%064x', derivation_index % 900 + 1),
            created_at, '0x' || 'bebebebebebebebebebebebebebebebebebebebe', address, NULL, amount_base,
            id, 'confirmed', created_at, created_at,
            CASE status WHEN 'settled' THEN settled_at END
        FROM payments WHERE status IN ('settled', 'confirmed') ORDER BY derivation_index
        """
    )
    conn.execute(
        """
        INSERT INTO sweeps (id, chain, kind, status, from_address, to_address, token, token_address,
            amount_base, nonce, gas_limit, fee, tx_hash, raw_tx, payment_ids, transfer_ids,
            block_number, block_hash, broadcasts, last_error, created_at, updated_at, final_at)
        SELECT 'swp_' || printf('%024d', t.id), 'local', 'native', 'confirmed', t.to_address,
            :treasury, NULL, NULL, '999979000000000000', 0, 21000,
            '{"type": "eip1559", "max_fee_per_gas": 2000000000, "max_priority_fee_per_gas": 1000000000, '
            || '"gas_price": null}',
            printf('0x%064x', t.id + 1000000000), '0x02f8' || hex(zeroblob(110)),
            json_array(t.payment_id), json_array(t.id), t.block_number + 5,
            printf('0x%064x', t.block_number + 5), 1, NULL, t.swept_at, t.swept_at, t.swept_at
        FROM transfers AS t WHERE t.swept_at IS NOT NULL ORDER BY t.id
        """,
        {"treasury": TREASURY},
    )
    old = "p.created_at < " + _ts(":now - 31 * 86400")
    dead = f"((p.derivation_index * 37) % 100 IN (50, 51) AND {old})"
    conn.execute(
        f"""
        WITH k(k, t) AS (VALUES (0, 'payment.created'), (1, 'payment.detected'), (2, NULL))
        INSERT INTO webhook_events (id, payment_id, type, payload, status, attempts, next_attempt_at,
            lease_until, last_error, last_status_code, delivered_at, created_at)
        SELECT 'evt_' || printf('%024d', p.derivation_index * 3 + k.k), p.id,
            coalesce(k.t, CASE p.status WHEN 'expired' THEN 'payment.expired'
                WHEN 'cancelled' THEN 'payment.cancelled' WHEN 'settled' THEN 'payment.settled'
                ELSE 'payment.confirmed' END),
            json_object('id', 'evt_' || printf('%024d', p.derivation_index * 3 + k.k),
                'type', coalesce(k.t, 'payment.settled'), 'timestamp', p.created_at,
                'data', json_object('id', p.id, 'chain', 'local', 'status', p.status, 'amount', '1',
                    'amount_base', '1000000000000000000', 'address', p.address, 'received', '1',
                    'confirmed', '1', 'expires_at', p.expires_at, 'metadata', json('{{}}'),
                    'transfers', json_array(json_object('tx_hash', '0x' || hex(zeroblob(32)),
                        'amount', '1', 'state', 'confirmed', 'block_number', 123)))),
            CASE WHEN p.status = 'pending' THEN 'pending' WHEN {dead} THEN 'dead' ELSE 'delivered' END,
            CASE WHEN p.status = 'pending' THEN 1 WHEN {dead} THEN 8 ELSE 1 END,
            CASE WHEN p.status = 'pending' THEN {_ts(":now + 3600")}
                 ELSE p.created_at END,
            NULL, NULL, 200,
            CASE WHEN p.status <> 'pending' THEN p.created_at END,
            p.created_at
        FROM payments AS p CROSS JOIN k ORDER BY p.derivation_index, k.k
        """,
        p,
    )
    conn.execute(
        """
        INSERT INTO webhook_attempts (event_seq, attempt, url, started_at, status_code, error,
            response_body, latency_ms)
        SELECT seq, attempts, 'https://merchant.example/hooks/ctrip', next_attempt_at,
            CASE status WHEN 'dead' THEN 500 ELSE 200 END, NULL,
            '{"received": true, "id": "' || id || '", "note": "' || printf('%.60c', 'x') || '"}', 120
        FROM webhook_events ORDER BY seq
        """
    )
    conn.execute("COMMIT")
    conn.close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as sa_conn:
        _seed_state(sa_conn, n, now, head)
    engine.dispose()


def _params(n: int, live: int) -> dict:
    live = min(live, n)
    return {
        "n": n,
        "live": live,
        "live_step": LIVE_DAYS * DAY / live,
        "hist0": (LIVE_DAYS + 1) * DAY,
        "hist_step": HISTORY_DAYS * DAY / max(1, n - live),
    }


def _seed_state(conn, n: int, now: datetime, head: dict) -> None:
    """Checkpoint at the node's head (its real hash), every pass just ran, counter past n."""
    conn.execute(text("UPDATE address_counters SET next_index = :n"), {"n": n})
    number = int(head["number"], 16)
    block_time = datetime.fromtimestamp(int(head["timestamp"], 16), UTC)
    conn.execute(
        text(
            "INSERT INTO chain_states (chain, last_block, last_block_hash, last_block_time, head_block, "
            "last_scan_at, last_confirm_at, last_sweep_at, updated_at) "
            "VALUES ('local', :b, :h, :t, :b, :now, :now, :now, :now)"
        ),
        {"b": number, "h": head["hash"], "t": _bind_time(conn, block_time), "now": _bind_time(conn, now)},
    )
    conn.execute(
        text("INSERT INTO scanned_blocks (chain, number, hash, parent_hash) VALUES ('local', :b, :h, :p)"),
        {"b": number, "h": head["hash"], "p": head["parentHash"]},
    )


def _bind_time(conn, moment: datetime):
    if conn.dialect.name == "sqlite":
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


# -- databases ----------------------------------------------------------------------------


@contextmanager
def database(kind: str, directory: Path, name: str, keep: bool) -> Iterator[str]:
    """A fresh, migrated database (SQLite file or PostgreSQL database), dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{directory / (name + '.db')}"
        migrate.upgrade(url)
        dispose_engines()  # the seeding connection must be the file's only one
        yield url
        return
    base = make_url(os.environ["CTRIP_TEST_POSTGRES_URL"])
    db = f"ctrip_bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    url = base.set(database=db).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        dispose_engines()
        if keep:
            print(f"kept {url}", file=sys.stderr)
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{db}" WITH (FORCE)'))
        admin.dispose()


# -- timing -------------------------------------------------------------------------------


def run(command: str, config: Path, mnemonic: Path, timing: Timing) -> None:
    """One command as its own process: its wall time, and its own max RSS.

    Through /usr/bin/time: a child forked from this (large) Python process would inherit
    its RSS high-water mark; one forked from `time` starts from nothing.
    """
    env = os.environ | {"CTRIP_CONFIG": str(config), "CTRIP_MNEMONIC_FILE": str(mnemonic)}
    env.pop("CTRIP_DATABASE_URL", None)
    with tempfile.NamedTemporaryFile() as rss, tempfile.TemporaryFile() as err:
        argv = ["/usr/bin/time", "-f", "%M", "-o", rss.name, CTRIPCTL, *COMMANDS[command]]
        started = time.perf_counter()
        code = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=err).returncode
        elapsed = time.perf_counter() - started
        if code not in OK_EXITS.get(command, {0}):
            err.seek(0)
            raise RuntimeError(f"{command} exited {code}: {err.read().decode()[-2000:]}")
        timing.rss_kb.append(int(Path(rss.name).read_text().split()[-1]))
    timing.seconds.append(elapsed)


def measure(
    kind: str, sizes: list[int], live: int, reps: int, anvil: Anvil, directory: Path, keep: bool
) -> dict[tuple[str, int], Timing]:
    now = datetime.now(UTC)
    mnemonic = mnemonic_file(directory)
    timings: dict[tuple[str, int], Timing] = {}
    with _databases(kind, sizes, directory, keep) as urls:
        configs = {}
        head = anvil.rpc("eth_getBlockByNumber", "latest", False)
        for size, url in urls.items():
            started = time.perf_counter()
            if kind == "sqlite":
                seed_sqlite(Path(make_url(url).database), size, live, now, head)
            else:
                seed_postgres(url, size, live, now, head)
            print(f"  {kind}: seeded {size:,} payments in {time.perf_counter() - started:.0f} s", flush=True)
            configs[size] = write_config(
                directory / f"{kind}-{size}.toml",
                database_url=url,
                rpc_urls=[anvil.url],
                chain_extra=f'treasury = "{TREASURY}"\n',
            )
        for _ in range(reps + 1):  # the first round warms the OS caches and is not counted
            anvil.rpc("anvil_mine", hex(BLOCKS_PER_SCAN))
            for command in COMMANDS:
                for size in sizes:  # interleaved: drift on the box hits both sizes alike
                    run(command, configs[size], mnemonic, timings.setdefault((command, size), Timing()))
        for t in timings.values():
            del t.seconds[0]
            del t.rss_kb[0]
    return timings


@contextmanager
def _databases(kind: str, sizes: list[int], directory: Path, keep: bool) -> Iterator[dict[int, str]]:
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield {s: stack.enter_context(database(kind, directory, f"h{s}", keep)) for s in sizes}


def report(kind: str, sizes: list[int], timings: dict[tuple[str, int], Timing]) -> None:
    small, large = sizes[0], sizes[-1]
    print(f"\n{kind}: median wall time of the whole process (s), ratio, max RSS (MB)")
    print(
        f"{'command':<16}{f'{small:,}':>12}{f'{large:,}':>12}{'ratio':>8}{'RSS small':>11}{'RSS large':>11}"
    )
    for command in COMMANDS:
        a, b = timings[(command, small)], timings[(command, large)]
        ma, mb = statistics.median(a.seconds), statistics.median(b.seconds)
        print(
            f"{command:<16}{ma:>12.3f}{mb:>12.3f}{mb / ma:>7.2f}x"
            f"{max(a.rss_kb) / 1024:>11.0f}{max(b.rss_kb) / 1024:>11.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--live", type=int, default=10_000, help="payments in the last 30 days")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--keep", action="store_true", help="keep the databases (prints their URLs)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    kinds = [k for k in args.engines.split(",") if k == "sqlite" or os.environ.get("CTRIP_TEST_POSTGRES_URL")]
    anvil = Anvil()
    try:
        anvil.rpc("anvil_mine", hex(FIRST_BLOCKS))
        tmp = tempfile.mkdtemp(prefix="bench_history_") if args.keep else None
        with tempfile.TemporaryDirectory() if tmp is None else _existing(tmp) as directory:
            for kind in kinds:
                timings = measure(kind, sizes, args.live, args.reps, anvil, Path(directory), args.keep)
                report(kind, sizes, timings)
    finally:
        anvil.stop()


@contextmanager
def _existing(path: str) -> Iterator[str]:
    print(f"kept files in {path}", file=sys.stderr)
    yield path


if __name__ == "__main__":
    main()
