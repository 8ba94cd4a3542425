"""Token sweeps, EIP-7702 batches against gas top-ups, on a local anvil (Prague) + SQLite.

Setup: --count deposit addresses of the test wallet each hold real USDT (an ERC-20 on
anvil) and are recorded as confirmed USDT payments; the tank holds 10 ETH. Each mode
starts from the same chain snapshot and a fresh copy of the database, and runs
`sweep run` passes (anvil mines each transaction at once) until every deposit's tokens
are in the treasury. Reported per mode:

  transactions   sent by the passes (topup: a top-up and a transfer per deposit;
                 7702: one SweepDelegate deployment, once per chain, one batch, and one
                 transaction clearing the deposits' delegations afterwards)
  gas            total gasUsed of those transactions (7702 also without the deployment)
  dust           ETH left on the deposit addresses afterwards
  wall           time of the passes

Run:  .venv/bin/python benchmarks/bench_sweep_7702.py [--count 100]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_sweep import seed  # noqa: E402
from ctripctl.chain.rpc import RpcClient  # noqa: E402
from ctripctl.config import load_config  # noqa: E402
from ctripctl.db import migrate  # noqa: E402
from ctripctl.db.models import Sweep  # noqa: E402
from ctripctl.db.session import get_engine, transaction  # noqa: E402
from ctripctl.evm.transactions import balance_of_data  # noqa: E402
from ctripctl.evm.wallet import deposit_addresses  # noqa: E402
from ctripctl.passes.sweep import sweep  # noqa: E402
from tests.support.anvil import Anvil  # noqa: E402
from tests.support.config import TEST_XPUB  # noqa: E402
from tests.support.evm import TEST_MNEMONIC, Chain  # noqa: E402
from tests.support.sweeping import TANK, TREASURY, sweep_config  # noqa: E402

AMOUNT = 25 * 10**6


def run_mode(
    work: Path, seed_db: Path, rpc_url: str, rpc: RpcClient, token: str, strategy: str, count: int
) -> dict[str, int | float]:
    db = work / f"{strategy}.db"
    shutil.copy(seed_db, db)
    url = f"sqlite:///{db}"
    (work / "ctrip.toml").unlink(missing_ok=True)
    config = load_config(
        sweep_config(
            work,
            database_url=url,
            rpc_url=rpc_url,
            token_address=token,
            chain_extra=f'sweep_strategy = "{strategy}"\nmax_batch = {count}',
        )
    )
    started = time.perf_counter()
    for _ in range(8):  # topup: top-ups, then transfers; 7702: deployment, batch, clearing
        result = sweep(config, "local", mnemonic=TEST_MNEMONIC, max_sweeps=10 * count, rpc=rpc)
        idle = result.planned == result.in_flight == result.waiting_for_delegate == 0
        if idle and result.clears_sent == 0:
            break
    wall = time.perf_counter() - started
    with transaction(get_engine(url)) as session:
        rows = [(s.kind, s.tx_hash) for s in session.query(Sweep).order_by(Sweep.seq)]
    get_engine(url).dispose()
    receipts = rpc.batch([("eth_getTransactionReceipt", (h,)) for _, h in rows])
    gas = {h: int(r["gasUsed"], 16) for (_, h), r in zip(rows, receipts, strict=True)}
    deposits = deposit_addresses(TEST_XPUB, 0, count)
    dust = sum(int(b, 16) for b in rpc.batch([("eth_getBalance", (a, "latest")) for a in deposits]))
    swept = rpc.call("eth_call", {"to": token, "data": balance_of_data(TREASURY)}, "latest")
    return {
        "transactions": len(rows),
        "gas": sum(gas.values()),
        "gas_without_deploy": sum(
            g for (kind, h), g in zip(rows, gas.values(), strict=True) if kind != "deploy"
        ),
        "dust": dust,
        "wall": wall,
        "swept": int(swept, 16),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()

    node = Anvil()
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-7702-"))
    try:
        chain = Chain(node)
        token = chain.deploy_token("USDT", 6)
        deposits = deposit_addresses(TEST_XPUB, 0, args.count)
        node.rpc("evm_setAutomine", False)
        first = chain.w3.eth.get_transaction_count(chain.payer)
        for i, address in enumerate(deposits):
            token.functions.transfer(address, AMOUNT).transact({"from": chain.payer, "nonce": first + i})
        node.rpc("anvil_mine", hex(1))
        node.rpc("evm_setAutomine", True)
        chain.send_eth(TANK, 10 * 10**18, sender=chain.accounts[0])
        chain.mine(4)
        seed_db = work / "seed.db"
        migrate.upgrade(f"sqlite:///{seed_db}")
        with RpcClient([node.url], chain_id=31337) as rpc:
            seed(f"sqlite:///{seed_db}", rpc, deposits, token=token.address, amount=AMOUNT)
            get_engine(f"sqlite:///{seed_db}").dispose()
            snapshot = node.rpc("evm_snapshot")
            results = {}
            for strategy in ("topup", "eip7702"):
                results[strategy] = run_mode(
                    work, seed_db, node.url, rpc, token.address, strategy, args.count
                )
                node.rpc("evm_revert", snapshot)
                snapshot = node.rpc("evm_snapshot")
    finally:
        node.stop()
        shutil.rmtree(work, ignore_errors=True)

    t, b = results["topup"], results["eip7702"]
    assert t["swept"] == b["swept"] == AMOUNT * args.count, (t, b)
    print(f"sweep of {args.count} USDT deposits on anvil (Prague) + SQLite, one run each:")
    print(f"  {'':10} {'transactions':>12} {'gas':>12} {'gas w/o deploy':>15} {'dust (wei)':>18} {'wall':>8}")
    for name, r in (("topup", t), ("eip7702", b)):
        print(
            f"  {name:10} {r['transactions']:12d} {r['gas']:12d} {r['gas_without_deploy']:15d} "
            f"{r['dust']:18d} {r['wall']:7.2f}s"
        )
    print(
        f"  ratio      7702 sends {t['transactions'] / b['transactions']:.0f}x fewer transactions; "
        f"gas topup/7702 {t['gas'] / b['gas']:.2f} ({t['gas_without_deploy'] / b['gas_without_deploy']:.2f} "
        "without the one-time deployment); dust: none with 7702"
    )


if __name__ == "__main__":
    main()
