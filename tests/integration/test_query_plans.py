"""Every query a cron pass runs is served by an index: none reads a whole table of history.

The passes (scan, confirm, webhooks flush, status, sweep run, db prune) run for real
against anvil and PostgreSQL while every statement they send is captured; each is then
EXPLAINed with `enable_seqscan = off`. With sequential scans priced out the planner takes
any index that can serve a query, so a Seq Scan left on one of the tables that grow with
history means no index can: that query's cost grows with the history. The check does not
depend on table sizes or statistics, so it is deterministic on this small database;
benchmarks/bench_history.py shows the times at 1M payments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from ctripctl.db.session import get_engine
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.sweeping import mnemonic_file, paid_and_confirmed, sweep_config

#: Tables that grow with every payment (the small per-chain ones may be read whole).
HISTORY = {"payments", "transfers", "webhook_events", "webhook_attempts", "sweeps", "sweep_items"}
PASSES = [
    ("scan", "--chain", "local"),
    ("confirm", "--chain", "local"),
    ("webhooks", "flush"),
    ("status",),
    ("sweep", "run", "--chain", "local"),
    ("db", "prune", "--older-than", "90d"),
    ("db", "prune", "--older-than", "90d", "--dry-run"),
]


@dataclass
class Recorder:
    """The SELECT / UPDATE / DELETE statements sent on one engine while `on`."""

    on: bool = False
    seen: list[tuple[str, Any]] = field(default_factory=list)

    def __call__(self, _conn: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if self.on and not many and verb in {"SELECT", "WITH", "UPDATE", "DELETE"}:
            self.seen.append((statement, params))


@pytest.fixture
def recorder(postgres_url: str) -> Iterator[Recorder]:
    engine = get_engine(postgres_url)  # the engine the in-process CLI runs use (cached per URL)
    recording = Recorder()
    event.listen(engine, "before_cursor_execute", recording)
    yield recording
    event.remove(engine, "before_cursor_execute", recording)


def seq_scans(plan: dict[str, Any]) -> list[str]:
    """Relations of HISTORY read by a Seq Scan anywhere in an EXPLAIN (FORMAT JSON) plan."""
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") in HISTORY:
        found.append(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found += seq_scans(child)
    return found


def test_every_pass_query_is_served_by_an_index(
    tmp_path: Path,
    postgres_url: str,
    anvil: Anvil,
    chain: Chain,
    token: Any,
    monkeypatch: pytest.MonkeyPatch,
    recorder: Recorder,
) -> None:
    monkeypatch.setenv("CTRIP_MNEMONIC_FILE", str(mnemonic_file(tmp_path)))
    path = sweep_config(
        tmp_path,
        database_url=postgres_url,
        rpc_url=anvil.url,
        token_address=token.address,
        chain_extra='sweep_strategy = "topup"',
    )
    cli = Cli(path)
    paid_and_confirmed(cli, chain, "1")  # something to sweep, events to flush
    paid_and_confirmed(cli, chain, "5", token)  # a token deposit: its gas money is read
    cli.ok("payment", "create", "--chain", "local", "--amount", "2")  # open: watched, expirable
    chain.mine(2)

    recorder.on = True
    for args in PASSES:
        run = cli(*args)
        assert run.exit_code in (0, 7), run  # status: 7 is "unhealthy", still a full read
    recorder.on = False

    assert recorder.seen, "no statement was captured"
    offenders = []
    engine = get_engine(postgres_url)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in recorder.seen:
            [[plan]] = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).one()
            if tables := seq_scans(plan["Plan"]):
                offenders.append(f"{sorted(set(tables))}: {' '.join(statement.split())}")
        conn.rollback()
    assert not offenders, "sequential scans over history:\n" + "\n".join(offenders)
