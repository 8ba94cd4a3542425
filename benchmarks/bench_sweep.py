"""Sweep-pass throughput on a local anvil + SQLite: transactions signed and sent per second,
the pass against a naive loop that looks up the fee and the nonce per transaction.

Setup: --count deposit addresses of the test wallet, each funded with real ETH on anvil
and recorded as a confirmed payment with a confirmed credit; the chain mined past the
confirmation depth. Anvil's automine is switched off while measuring, so a broadcast
only enters the mempool (as on a real network) and both sides pay the same node costs.

Measured in one run, each repetition from the same chain snapshot and a fresh copy of
the database (medians of --reps):

  pass    passes.sweep.sweep(): lock, reconcile, candidates, balances at latest and at
          depth (batched), ONE fee quote, pending nonces (batched), sign all, record all,
          broadcast in batches of 50, record the answers
  naive   per address: a fee quote (latest block + eth_feeHistory), its balance, its
          nonce, sign, eth_sendRawTransaction — one request at a time, nothing recorded

Run:  .venv/bin/python benchmarks/bench_sweep.py [--reps 3] [--count 1000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ctripctl.chain.fees import FeeOracle  # noqa: E402
from ctripctl.chain.rpc import RpcClient  # noqa: E402
from ctripctl.config import load_config  # noqa: E402
from ctripctl.db import migrate  # noqa: E402
from ctripctl.db.models import ChainState, Payment, Sweep, Transfer  # noqa: E402
from ctripctl.db.session import get_engine, transaction  # noqa: E402
from ctripctl.domain.ids import new_id  # noqa: E402
from ctripctl.domain.sweeping import NATIVE_GAS, native_sweep_value  # noqa: E402
from ctripctl.evm.keys import Keyring  # noqa: E402
from ctripctl.evm.transactions import Unsigned, sign  # noqa: E402
from ctripctl.evm.wallet import deposit_addresses  # noqa: E402
from ctripctl.passes.sweep import sweep  # noqa: E402
from tests.support.anvil import Anvil  # noqa: E402
from tests.support.config import TEST_XPUB  # noqa: E402
from tests.support.evm import TEST_MNEMONIC  # noqa: E402
from tests.support.sweeping import sweep_config  # noqa: E402

DEPOSIT = 10**17
CONFIRMATIONS = 3


def fund(node: Anvil, rpc: RpcClient, addresses: list[str]) -> None:
    """One real transfer to each address (anvil's funded account 0), mined together."""
    payer = rpc.call("eth_accounts")[0]
    first = int(rpc.call("eth_getTransactionCount", payer, "pending"), 16)
    node.rpc("evm_setAutomine", False)
    for i in range(0, len(addresses), 50):
        calls = [
            (
                "eth_sendTransaction",
                ({"from": payer, "to": a, "value": hex(DEPOSIT), "nonce": hex(first + j)},),
            )
            for j, a in enumerate(addresses[i : i + 50], start=i)
        ]
        for answer in rpc.batch(calls):
            assert isinstance(answer, str), answer
    node.rpc("anvil_mine", hex(1))
    node.rpc("anvil_mine", hex(CONFIRMATIONS + 1))


def seed(
    url: str, rpc: RpcClient, addresses: list[str], token: str | None = None, amount: int = DEPOSIT
) -> None:
    """Confirmed payments with one confirmed credit each (what scan + confirm would leave);
    `token`: USDT payments (6 decimals) of that token contract, else native ones."""
    now = datetime.now(UTC)
    head = int(rpc.call("eth_blockNumber"), 16)
    block = rpc.call("eth_getBlockByNumber", hex(head), False)
    with transaction(get_engine(url)) as session:
        session.add(ChainState(chain="local", last_block=head, last_block_hash=block["hash"], updated_at=now))
        for i, address in enumerate(addresses):
            payment_id = new_id("pay")
            session.add(
                Payment(
                    id=payment_id,
                    chain="local",
                    token="USDT" if token else None,
                    token_address=token,
                    decimals=6 if token else 18,
                    amount_base=amount,
                    address=address,
                    derivation_index=i,
                    status="confirmed",
                    received_base=amount,
                    confirmed_base=amount,
                    overpaid=False,
                    underpaid=False,
                    paid_late=False,
                    metadata_={},
                    expires_at=now + timedelta(days=1),
                    created_at=now + timedelta(microseconds=i),
                )
            )
            session.flush()
            session.add(
                Transfer(
                    chain="local",
                    tx_hash=f"0x{i:064x}",
                    log_index=-1 if token is None else 0,
                    block_number=1,
                    block_hash=block["hash"],
                    block_time=now,
                    from_address="0x" + "1" * 40,
                    to_address=address,
                    token="USDT" if token else None,
                    amount_base=amount,
                    payment_id=payment_id,
                    state="confirmed",
                    created_at=now,
                )
            )


def naive(rpc: RpcClient, keyring: Keyring, addresses: list[str], treasury: str) -> int:
    sent = 0
    for index, address in enumerate(addresses):
        quote = FeeOracle(rpc, ttl=0).quote()  # a fresh lookup per transaction
        balance = int(rpc.call("eth_getBalance", address, "latest"), 16)
        nonce = int(rpc.call("eth_getTransactionCount", address, "pending"), 16)
        value = native_sweep_value(balance, NATIVE_GAS, quote)
        tx = sign(
            Unsigned(31337, nonce, treasury, value, NATIVE_GAS, quote), keyring.deposit_key(index, address)
        )
        rpc.call("eth_sendRawTransaction", tx.raw)
        sent += 1
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()

    node = Anvil("--accounts", "2", "--balance", "1000000")
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        seed_db = work / "seed.db"
        migrate.upgrade(f"sqlite:///{seed_db}")
        addresses = deposit_addresses(TEST_XPUB, 0, args.count)
        keyring = Keyring(TEST_MNEMONIC, TEST_XPUB)
        with RpcClient([node.url], chain_id=31337) as rpc:
            fund(node, rpc, addresses)
            seed(f"sqlite:///{seed_db}", rpc, addresses)
            get_engine(f"sqlite:///{seed_db}").dispose()
            snapshot = node.rpc("evm_snapshot")

            pass_s: list[float] = []
            naive_s: list[float] = []
            sent_by_pass = 0
            for rep in range(args.reps):
                db = work / f"rep{rep}.db"
                shutil.copy(seed_db, db)
                url = f"sqlite:///{db}"
                config = load_config(_config(work, url, node.url))
                started = time.perf_counter()
                result = sweep(config, "local", mnemonic=TEST_MNEMONIC, max_sweeps=args.count, rpc=rpc)
                pass_s.append(time.perf_counter() - started)
                sent_by_pass = result.sent
                with transaction(get_engine(url)) as session:
                    assert session.query(Sweep).count() == args.count
                get_engine(url).dispose()
                node.rpc("evm_revert", snapshot)
                snapshot = node.rpc("evm_snapshot")

                started = time.perf_counter()
                naive(rpc, keyring, addresses, config.chain("local").treasury or "")
                naive_s.append(time.perf_counter() - started)
                node.rpc("evm_revert", snapshot)
                snapshot = node.rpc("evm_snapshot")
    finally:
        node.stop()
        shutil.rmtree(work, ignore_errors=True)

    p, n = statistics.median(pass_s), statistics.median(naive_s)
    print(f"sweep of {args.count} confirmed native payments, medians of {args.reps} (anvil + SQLite):")
    print(f"  pass   {p:7.2f} s  {args.count / p:7.0f} tx/s  (sent {sent_by_pass}, every one recorded first)")
    print(f"  naive  {n:7.2f} s  {args.count / n:7.0f} tx/s  (fee + balance + nonce per transaction)")
    print(f"  ratio  pass is {n / p:.1f}x the naive loop's throughput")


def _config(work: Path, url: str, rpc_url: str) -> Path:
    """ctrip.toml for this repetition's database (3 confirmations, the test treasury)."""
    (work / "ctrip.toml").unlink(missing_ok=True)
    return sweep_config(work, database_url=url, rpc_url=rpc_url)


if __name__ == "__main__":
    main()
