"""The cost of finding contract-sent ETH (chain/internal.py) in a scan pass's chain reads.

The chain: busy blocks as in bench_scan.py (10 transactions each: 5 native, 5 ERC-20, to
random addresses; every 10th block pays one of the watched addresses with a top-level
transaction) and NO internal credits, so the reconciliation finds nothing — the common
case, whose cost is what every pass pays. 1,000 watched native addresses.

Measured over the same blocks, a pass's range (block_batch_size, default 500) at a time,
interleaved, medians of --reps:

  off    fetch_range (the pass's chain reads: blocks, receipts, logs)
  auto   fetch_range, then reconcile() over the range with the recorded native credits
         as the ledger (balances of every watched address at start - 1 and at end)
  auto 1 auto with its balance requests sent one at a time (the code before
         BALANCE_IN_FLIGHT requests at once)
  auto*  the same as auto with the balances at start - 1 already known (kept at the checkpoint
         by the previous pass, as scan passes do: watch_balances): one read per address

and the extra HTTP requests per pass. Target (issue 13): auto <= 1.3 x off.
The database write of a pass is the same for both and not included here, so the ratio
measured is an upper bound on the ratio of whole passes.

Run:  .venv/bin/python benchmarks/bench_internal.py [--reps 5] [--blocks 500]

Measured 2026-12-02 (fifth session) with --addresses 10000, 500 busy blocks, medians of
3, two runs: off 633 / 640 ms (11 requests); auto 1 (one request at a time) 1,752 /
1,606 ms = 2.77x / 2.51x; auto (4 in flight) 1,539 / 1,649 ms = 2.43x / 2.58x (+400
requests); auto* (the start balances kept, as scan passes now do: watch_balances) 1,034
/ 986 ms = 1.63x / 1.54x (+200). On anvil the balance reads cost CPU, not round trips:
4 in flight gains nothing consistent here; keeping the start balances halves the reads.

Measured 2026-12-02 on the shared 2-core box, 500 busy blocks, 1,000 addresses, medians
of 7: off 2,134 ms (11 requests), auto 2,338 ms = 1.10x (+40 requests: 20 per height),
auto* 2,326 ms = 1.09x (+20). The balance reads are cheap for anvil next to the blocks
(the saving of auto* is within the noise here); on a paid provider each eth_getBalance
is billed, which is what keeping the checkpoint balances would halve.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_scan import build_chain  # noqa: E402
from ctripctl.chain import internal  # noqa: E402
from ctripctl.chain.fetch import fetch_range  # noqa: E402
from ctripctl.chain.internal import reconcile  # noqa: E402
from ctripctl.chain.rpc import RpcClient  # noqa: E402
from ctripctl.domain.records import Watch  # noqa: E402
from tests.support.anvil import Anvil  # noqa: E402
from tests.support.evm import Chain  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=500)
    parser.add_argument("--addresses", type=int, default=1000)
    args = parser.parse_args()

    rng = random.Random(13)
    payments = [{"address": "0x" + rng.randbytes(20).hex(), "token": None} for _ in range(args.addresses)]
    watched = {p["address"]: Watch(f"p{i}", None) for i, p in enumerate(payments)}
    in_flight = internal.BALANCE_IN_FLIGHT
    anvil = Anvil()
    try:
        chain = Chain(anvil)
        token = chain.deploy_token("USDT", 6)
        first = build_chain(anvil, chain, token, payments, args.blocks)
        last = chain.head
        print(f"{last - first + 1} busy blocks, {len(watched)} watched native addresses", flush=True)

        times: dict[str, list[float]] = {"off": [], "auto 1": [], "auto": [], "auto*": []}
        requests: dict[str, int] = {}
        found = 0
        for _ in range(args.reps):
            for variant in times:
                # "auto 1": the balance requests one at a time (before BALANCE_IN_FLIGHT).
                internal.BALANCE_IN_FLIGHT = 1 if variant == "auto 1" else in_flight
                with RpcClient([anvil.url], chain_id=31337) as rpc:
                    rpc.call("eth_chainId")
                    sent = rpc.requests_sent
                    began = time.perf_counter()
                    data = fetch_range(rpc, first, last, watched)
                    if variant != "off":
                        known: dict[str, list[tuple[int, int]]] = {}
                        for credit in data.credits:
                            known.setdefault(credit.to_address, []).append(
                                (credit.block_number, credit.amount)
                            )
                        bases: dict[str, int] | None = {a: 0 for a in watched} if variant == "auto*" else None
                        result = reconcile(rpc, first, last, list(watched), known, bases=bases)
                        assert not result.arrivals and not result.skipped, result
                    times[variant].append(time.perf_counter() - began)
                    requests[variant] = rpc.requests_sent - sent
                    found = len(data.credits)
        off = statistics.median(times["off"])
        print(f"credits per pass: {found} (top-level, to watched addresses)")
        for variant, values in times.items():
            median = statistics.median(values)
            print(
                f"{variant:7} {median * 1000:8.1f} ms  {median / off:5.2f}x off  "
                f"{requests[variant]:4d} requests ({requests[variant] - requests['off']:+d})"
            )
    finally:
        anvil.stop()


if __name__ == "__main__":
    main()
