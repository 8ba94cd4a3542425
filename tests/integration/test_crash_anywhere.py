"""Crash anywhere: `scan`, `confirm` and `webhooks flush` run side by side on PostgreSQL
as real processes while payments are paid on anvil, and are killed with SIGKILL at random
moments. After clean passes, the totals must be exact and confirmed, every event must
have reached a real receiver (which verifies each signature with `standardwebhooks`),
and no payment state may have been announced twice.

The schedule — amounts, which transfer goes out in which round, which process is killed
after how long — comes from one seeded random generator: CTRIP_CRASH_SEED reproduces a
run (the seed is in every failure message), CTRIP_CRASH_ROUNDS makes it longer.

A kill moment counts from the process's first database connection, not from its start:
three Python processes starting on two cores spend a second or more importing, and a
kill then would test nothing. Each process connects under its own PostgreSQL
`application_name` (in its database URL), and the test watches `pg_stat_activity` for
it; from then on the pass is locking, reading the node, committing, or delivering. Where
inside the code a kill lands still depends on the machine's speed.

At the end a flusher that was killed mid-delivery has left its events leased (2 ×
timeout + 60 s); the final flush runs in this process with its scheduling clock moved
past every lease (`flush(now=…)`) instead of sleeping a minute. Delivery is at least
once: an event whose answer arrived but was not recorded before the kill is sent again,
with the same `webhook-id` — receivers de-duplicate by it.

The test was checked against two planted bugs, each caught: a claim that marks events
delivered before sending them (events never reach the receiver), and a scan pass that
commits its checkpoint in a transaction of its own before the credits (transfers lost).
A bug whose window is narrow is caught only when a kill lands in it; run with more rounds
or other seeds to look harder.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from ctripctl.config import load_config
from ctripctl.db import confirm_store, scan_store
from ctripctl.db.models import Payment, Transfer, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from ctripctl.faults import FAULT_ENV, FAULT_EXIT_CODE
from ctripctl.passes.flush import flush
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.config import write_config
from tests.support.evm import Chain
from tests.support.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("CTRIP_CRASH_SEED", "20261202"))
ROUNDS = int(os.environ.get("CTRIP_CRASH_ROUNDS", "8"))
PAYMENTS = 10
ETH, USDT = 10**18, 10**6
CONFIRMATIONS = 3

#: The passes of one round, all started at once; each is killed or left to finish.
COMMANDS = {
    "scan": ("scan", "--chain", "local", "--batches", "3"),
    "confirm": ("confirm", "--chain", "local"),
    "flush": ("webhooks", "flush", "--concurrency", "4"),
}
#: A process dies in 3 of 4 cases: mostly by SIGKILL, up to this many seconds after its
#: first database connection (about how long each pass works from there, measured here;
#: the receiver takes 50 ms an answer, so a flush spends its time with requests in
#: flight); sometimes at one of the passes' own crash points (CTRIP_TEST_FAULT, an
#: `os._exit` right at a commit boundary, where a timed kill rarely lands).
DEATH_SHARE = 3 / 4
KILL_WITHIN = {"scan": 2.0, "confirm": 1.0, "flush": 0.8}
CRASH_POINTS = {
    "scan": (scan_store.FAULT_CRASH_BEFORE_COMMIT, scan_store.FAULT_CRASH_AFTER_COMMIT),
    "confirm": (confirm_store.FAULT_CRASH_BEFORE_COMMIT,),
    "flush": (),
}
#: Exit codes a pass may end with when it is not killed: done, or busy (another holds the lock).
FINE = {0, 6}

#: How one process of a round ends: None runs to the end, a number is a SIGKILL that many
#: seconds after it connected, a string is the crash point it dies at.
Death = float | str | None


@dataclass
class PaymentPlan:
    token: bool
    amount: int  # base units
    sends: list[tuple[int, int]] = field(default_factory=list)  # (round, base units)

    @property
    def total(self) -> int:
        return sum(amount for _, amount in self.sends)


def death(rng: random.Random, name: str) -> Death:
    if rng.random() >= DEATH_SHARE:
        return None
    if CRASH_POINTS[name] and rng.random() < 0.25:
        return rng.choice(CRASH_POINTS[name])
    return rng.uniform(0, KILL_WITHIN[name])


def plan(rng: random.Random) -> tuple[list[PaymentPlan], list[dict[str, Death]]]:
    """The seeded schedule: what each payment is sent and when, and each round's kills."""
    payments = []
    for n in range(PAYMENTS):
        token = n % 3 == 2
        unit = USDT // 100 if token else ETH // 10_000  # cents of USDT, 0.0001 ETH
        amount = rng.randint(100, 50_000) * unit
        first = rng.randrange(ROUNDS)
        second = rng.randrange(first, ROUNDS)
        shape = rng.choice(["exact", "over", "two parts", "then more"])
        if shape == "exact":
            sends = [(first, amount)]
        elif shape == "over":
            sends = [(first, amount + rng.randint(1, 1_000) * unit)]
        elif shape == "two parts":  # partially paid, then the rest
            part = rng.randint(1, amount // unit - 1) * unit
            sends = [(first, part), (second, amount - part)]
        else:  # paid in full, then an overpayment in another transfer
            sends = [(first, amount), (second, rng.randint(1, 1_000) * unit)]
        payments.append(PaymentPlan(token, amount, sends))
    return payments, [{name: death(rng, name) for name in COMMANDS} for _ in range(ROUNDS)]


def start(
    config: Path, database_url: str, tag: str, name: str, crash_point: str | None, logs: Path
) -> subprocess.Popen[bytes]:
    """`ctripctl <command>` as a process whose database sessions are named `<tag>-<name>`."""
    env = {**os.environ, "COLUMNS": "200", "CTRIP_LOG_FORMAT": "text"}
    env.pop(FAULT_ENV, None)
    if crash_point is not None:
        env[FAULT_ENV] = crash_point
    sep = "&" if "?" in database_url else "?"
    env["CTRIP_DATABASE_URL"] = f"{database_url}{sep}application_name={tag}-{name}"
    with (logs / f"{name}.out").open("wb") as out, (logs / f"{name}.err").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "ctripctl", *COMMANDS[name], "--json", "--config", str(config)],
            stdout=out,
            stderr=err,
            env=env,
            cwd=ROOT,
        )


def connected(watch: Any, tag: str) -> set[str]:
    """The passes (by name) of this round that have a database session open now."""
    rows = watch.execute(
        text("SELECT application_name FROM pg_stat_activity WHERE application_name LIKE :tag"),
        {"tag": f"{tag}-%"},
    )
    return {name.rsplit("-", 1)[1] for (name,) in rows}


def run_round(
    config: Path, database_url: str, watch: Any, deaths: dict[str, Death], logs: Path
) -> dict[str, str]:
    """Start every pass at once; kill each whose moment (after it connected) comes."""
    logs.mkdir(parents=True)
    tag = f"ctripcrash{os.getpid()}{logs.name}"  # unique among concurrent test workers
    started = time.monotonic()
    points = {name: d if isinstance(d, str) else None for name, d in deaths.items()}
    kills = {name: d if isinstance(d, float) else None for name, d in deaths.items()}
    running = {name: start(config, database_url, tag, name, points[name], logs) for name in COMMANDS}
    since: dict[str, float] = {}  # when each pass was first seen connected
    outcome: dict[str, str] = {}
    while running:
        elapsed = time.monotonic() - started
        for name in connected(watch, tag) - set(since):
            since[name] = elapsed
        for name, process in list(running.items()):
            moment = None if kills[name] is None or name not in since else since[name] + kills[name]
            if process.poll() is not None:
                code = process.returncode
                if code == FAULT_EXIT_CODE and points[name]:
                    outcome[name] = f"died at {points[name]}"
                else:
                    outcome[name] = f"exit {code} at {elapsed:.2f}s"
                    err = (logs / f"{name}.err").read_text()
                    assert code in FINE and "Traceback" not in err, f"{name}: exit {code}\n{err}"
            elif moment is not None and elapsed >= moment:
                process.kill()  # SIGKILL: no cleanup handler, no rollback from our side
                process.wait()
                outcome[name] = f"killed at {elapsed:.2f}s, {elapsed - since[name]:.2f}s after connecting"
            else:
                continue
            del running[name]
        assert elapsed < 60, f"passes still running after 60 s: {list(running)}"
        time.sleep(0.002)
    return outcome


def send(chain: Chain, token: Any, payment: dict[str, Any], amount: int) -> None:
    if payment["token"] is None:
        chain.send_eth(payment["address"], amount)
    else:
        chain.send_token(token, payment["address"], amount)


@pytest.mark.integration
def test_kill_9_anywhere_loses_and_repeats_nothing(
    tmp_path: Path, postgres_url: str, anvil: Anvil, chain: Chain, token: Any
) -> None:
    rng = random.Random(SEED)
    seed = f"CTRIP_CRASH_SEED={SEED} CTRIP_CRASH_ROUNDS={ROUNDS}"
    plans, deaths = plan(rng)
    with Receiver(delay=0.05) as receiver:
        config = write_config(
            tmp_path / "ctrip.toml",
            database_url=postgres_url,
            rpc_urls=[anvil.url],
            token_address=token.address,
            confirmations=CONFIRMATIONS,
            extra=f'default_url = "{receiver.url()}"\ntimeout = "2s"',
        )
        cli = Cli(config)
        payments = []
        for p in plans:
            amount = Decimal(p.amount) / (USDT if p.token else ETH)
            args = ["--amount", str(amount)] + (["--token", "USDT"] if p.token else [])
            payments.append(cli.ok("payment", "create", "--chain", "local", *args))

        history = []
        with get_engine(postgres_url).connect() as watch:  # polls pg_stat_activity
            watch.execution_options(isolation_level="AUTOCOMMIT")
            for number in range(ROUNDS):
                for p, payment in zip(plans, payments, strict=True):
                    for round_, amount in p.sends:
                        if round_ == number:
                            send(chain, token, payment, amount)
                chain.mine(rng.randint(0, 2))
                logs = tmp_path / "rounds" / f"r{number}"
                history.append(run_round(config, postgres_url, watch, deaths[number], logs))

        # Clean passes: nothing is killed any more.
        chain.mine(CONFIRMATIONS)
        for args in (("scan", "--chain", "local", "--batches", "100"), ("confirm", "--chain", "local")):
            run = cli(*args, "--json")
            assert run.exit_code == 0, f"{seed}\n{run}"
        after_every_lease = datetime.now(UTC) + timedelta(minutes=5)
        cfg = load_config(config)
        flush(get_engine(postgres_url), cfg.webhooks, now=after_every_lease)
        assert cli("webhooks", "flush", "--json").json()["attempted"] == 0, seed  # nothing left over

        # The kills must have happened (not every pass finished before its moment).
        killed = sum(o.startswith(("killed", "died")) for round_ in history for o in round_.values())
        assert killed >= ROUNDS // 2, f"{seed}: only {killed} kills ({history})"
        check(postgres_url, plans, payments, receiver, f"{seed}\n{history}")


def check(
    url: str, plans: list[PaymentPlan], payments: list[dict[str, Any]], receiver: Receiver, seed: str
) -> None:
    with transaction(get_engine(url)) as session:
        stored = {p.id: p for p in session.execute(select(Payment)).scalars()}
        transfers = list(session.execute(select(Transfer)).scalars())
        events = list(session.execute(select(WebhookEvent).order_by(WebhookEvent.seq)).scalars())

    # Totals exact and confirmed: every transfer sent was recorded once, and confirmed.
    assert len(transfers) == sum(len(p.sends) for p in plans), seed
    assert {t.state for t in transfers} == {"confirmed"}, seed
    for p, created in zip(plans, payments, strict=True):
        row = stored[created["id"]]
        assert row.status == "confirmed", (seed, created["id"], row.status)
        assert (row.received_base, row.confirmed_base) == (p.total, p.total), (seed, created["id"])
        assert row.overpaid is (p.total > p.amount), (seed, created["id"])

    # Every event delivered, each to the verifying receiver, in each payment's order.
    # A flusher killed while sending leaves a request cut short (headers, part of the
    # body): no receiver acts on it. Every complete request must verify.
    complete = [d for d in receiver.unverified() if len(d.body) >= int(d.headers.get("content-length") or 0)]
    assert complete == [], seed
    assert {e.status for e in events} == {"delivered"}, seed
    delivered = receiver.delivered_ids()
    assert set(delivered) == {e.id for e in events}, seed
    first_arrival: dict[str, list[str]] = defaultdict(list)
    for d in receiver.accepted:
        if d.webhook_id not in first_arrival[d.payload["data"]["id"]]:
            first_arrival[d.payload["data"]["id"]].append(d.webhook_id)
    in_order: dict[str, list[str]] = defaultdict(list)
    for e in events:
        in_order[e.payment_id].append(e.id)
    assert first_arrival == in_order, seed

    # No payment state announced twice: per payment, one event per (type, status, amounts).
    for payment_id, ids in in_order.items():
        announced = [_state(e) for e in events if e.payment_id == payment_id]
        twice = [s for s, n in Counter(announced).items() if n > 1]
        assert twice == [], (seed, payment_id, announced)
        types = Counter(kind for kind, *_ in announced)
        assert types["payment.created"] == 1 and types["payment.confirmed"] == 1, (seed, announced)
        assert len(ids) == len(announced)
    # ... and the newest event of each payment says it is confirmed, with all that arrived.
    last = {e.payment_id: e for e in events}
    for p, created in zip(plans, payments, strict=True):
        data = last[created["id"]].payload["data"]
        assert (data["status"], data["received_base"]) == ("confirmed", str(p.total)), (seed, data)


def _state(event: WebhookEvent) -> tuple[str, str, str, str]:
    data = event.payload["data"]
    return (event.type, data["status"], data["received_base"], data["confirmed_base"])
