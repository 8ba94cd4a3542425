"""Confirm-pass cost on a local anvil + SQLite: the batched canonical re-check vs one request
per block, and the whole pass.

Setup: anvil with --blocks mined blocks; a migrated SQLite database holding --transfers
payments, each with one `seen` credit in its own block (real block hashes from the node),
and a checkpoint at the head — i.e. a confirm pass that finds every credit deep enough.

Measured in one run (medians of --reps repetitions):

  check batched    confirmer.check_canonical: eth_getBlockByNumber for every candidate block
                   in JSON-RPC batches of BLOCKS_PER_REQUEST (what the pass does)
  check per block  the baseline: the same calls one HTTP request each
  pass             confirmer.one_pass on a fresh copy of the database: head, candidates,
                   re-check, one write transaction confirming every credit, recomputing
                   every payment and writing one outbox event each
  rerun            the same pass again on the confirmed database (nothing left to do)

Run:  .venv/bin/python benchmarks/bench_confirm.py [--reps 5] [--transfers 1000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ctripctl.chain.rpc import RpcClient  # noqa: E402
from ctripctl.config import load_config  # noqa: E402
from ctripctl.db import confirm_store, migrate  # noqa: E402
from ctripctl.db.models import ChainState, Payment, Transfer  # noqa: E402
from ctripctl.db.session import get_engine, transaction  # noqa: E402
from ctripctl.domain.ids import new_id  # noqa: E402
from ctripctl.passes.confirm import BLOCKS_PER_REQUEST, check_canonical, one_pass  # noqa: E402
from tests.support.anvil import Anvil  # noqa: E402
from tests.support.config import write_config  # noqa: E402


def median_ms(fn: Callable[[], Any], reps: int, setup: Callable[[], Any] | None = None) -> float:
    times = []
    for _ in range(reps):
        arg = setup() if setup else None
        started = time.perf_counter()
        fn() if arg is None else fn(arg)  # type: ignore[call-arg]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def seed(url: str, rpc: RpcClient, count: int) -> None:
    hashes = rpc.batch([("eth_getBlockByNumber", (hex(n), False)) for n in range(1, count + 1)])
    now = datetime.now(UTC)
    with transaction(get_engine(url)) as session:
        for i, block in enumerate(hashes, start=1):
            payment = Payment(
                id=new_id("pay"),
                chain="local",
                token=None,
                token_address=None,
                decimals=18,
                amount_base=10**15,
                address=f"0x{i:040x}",
                derivation_index=i,
                status="detected",
                received_base=10**15,
                confirmed_base=0,
                overpaid=False,
                underpaid=False,
                paid_late=False,
                metadata_={},
                expires_at=now + timedelta(days=7),
                created_at=now,
                updated_at=now,
            )
            payment.transfers = [
                Transfer(
                    chain="local",
                    tx_hash=f"0x{i:064x}",
                    log_index=-1,
                    block_number=i,
                    block_hash=block["hash"],
                    block_time=now,
                    from_address="0x" + "11" * 20,
                    to_address=payment.address,
                    token=None,
                    amount_base=10**15,
                    payment_id=payment.id,
                    state="seen",
                    created_at=now,
                )
            ]
            session.add(payment)
        head = int(rpc.call("eth_blockNumber"), 16)
        session.add(ChainState(chain="local", last_block=head, last_block_hash=None, head_block=head))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--transfers", type=int, default=1000)
    args = parser.parse_args()
    n = args.transfers

    anvil = Anvil()
    work = Path(tempfile.mkdtemp(prefix="bench-confirm-"))
    try:
        anvil.rpc("anvil_mine", hex(n + 20))
        template = work / "template.db"
        migrate.upgrade(f"sqlite:///{template}")
        with RpcClient([anvil.url], chain_id=anvil.chain_id) as rpc:
            seed(f"sqlite:///{template}", rpc, n)
            get_engine(f"sqlite:///{template}").dispose()
            candidates = confirm_store.read_candidates(get_engine(f"sqlite:///{template}"), "local", n, n)
            get_engine(f"sqlite:///{template}").dispose()
            assert len(candidates) == n

            before = rpc.requests_sent
            batched = median_ms(lambda: check_canonical(rpc, candidates), args.reps)
            batched_requests = (rpc.requests_sent - before) // args.reps

            def per_block() -> None:
                for c in candidates:
                    rpc.call("eth_getBlockByNumber", hex(c.block_number), False)

            before = rpc.requests_sent
            naive = median_ms(per_block, args.reps)
            naive_requests = (rpc.requests_sent - before) // args.reps

            copies = iter(range(10_000))

            def fresh_copy() -> str:
                path = work / f"copy-{next(copies)}.db"
                shutil.copy(template, path)
                return f"sqlite:///{path}"

            config = load_config(
                write_config(work / "ctrip.toml", database_url="sqlite:///unused.db", rpc_urls=[anvil.url])
            )
            chain = config.chain("local")
            results: list[Any] = []

            def full_pass(url: str) -> None:
                results.append(one_pass(get_engine(url), rpc, chain))

            before = rpc.requests_sent
            pass_ms = median_ms(full_pass, args.reps, setup=fresh_copy)
            pass_requests = (rpc.requests_sent - before) // args.reps
            assert all(r.confirmed == n and r.payments_updated == n for r in results), results

            last = f"sqlite:///{work / f'copy-{args.reps - 1}.db'}"
            rerun_ms = median_ms(lambda: one_pass(get_engine(last), rpc, chain), args.reps)
    finally:
        anvil.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"confirm pass, {n} seen credits in {n} blocks, SQLite, medians of {args.reps} runs")
    print(
        f"  check batched     {batched:8.1f} ms  {batched_requests:5d} HTTP requests "
        f"(batches of {BLOCKS_PER_REQUEST})"
    )
    print(f"  check per block   {naive:8.1f} ms  {naive_requests:5d} HTTP requests")
    print(f"  -> batched is {naive / batched:.1f}x faster than one request per block")
    print(
        f"  pass              {pass_ms:8.1f} ms  {pass_requests:5d} HTTP requests"
        f"  ({n} confirmed, {n} events)"
    )
    print(f"  rerun (no-op)     {rerun_ms:8.1f} ms")
    print(f"  per credit        {pass_ms / n:8.3f} ms")


if __name__ == "__main__":
    main()
