"""Fee quotes from the node, cached for a short TTL: one lookup serves a whole sweep pass.

EIP-1559 when the latest block has `baseFeePerGas`: the tip is a percentile of
`eth_feeHistory` rewards over recent blocks (eth_maxPriorityFeePerGas where those blocks
carried no transactions), the max fee is 2 × the next base fee + tip. Otherwise legacy,
`eth_gasPrice`. Everything is asked in one JSON-RPC batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ctripctl.chain.rpc import RpcClient, RpcError
from ctripctl.domain.sweeping import FeeQuote, eip1559_quote, legacy_quote, percentile_tip
from ctripctl.errors import NodeUnavailable

#: Blocks of fee history the tip percentile is taken over.
HISTORY_BLOCKS = 10
#: The reward percentile (50: the median tip paid in each block).
PERCENTILE = 50


class FeeOracle:
    """`quote()` asks the node at most once per `ttl` seconds."""

    def __init__(
        self,
        rpc: RpcClient,
        *,
        ttl: float,
        percentile: int = PERCENTILE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rpc = rpc
        self.ttl = ttl
        self.percentile = percentile
        self.clock = clock
        self.lookups = 0  # node round trips made (the benchmark counts them)
        self._cached: tuple[float, FeeQuote] | None = None

    def quote(self) -> FeeQuote:
        now = self.clock()
        if self._cached is not None and now - self._cached[0] < self.ttl:
            return self._cached[1]
        quote = self._ask()
        self._cached = (self.clock(), quote)
        return quote

    def _ask(self) -> FeeQuote:
        self.lookups += 1
        latest, history, tip, gas_price = self.rpc.batch(
            [
                ("eth_getBlockByNumber", ("latest", False)),
                ("eth_feeHistory", (hex(HISTORY_BLOCKS), "latest", [self.percentile])),
                ("eth_maxPriorityFeePerGas", ()),
                ("eth_gasPrice", ()),
            ]
        )
        if isinstance(latest, RpcError) or not isinstance(latest, dict):
            raise NodeUnavailable(f"cannot read the latest block for a fee quote: {_why(latest)}")
        if latest.get("baseFeePerGas") is None:
            if isinstance(gas_price, RpcError) or not isinstance(gas_price, str):
                raise NodeUnavailable(f"eth_gasPrice failed: {_why(gas_price)}")
            return legacy_quote(int(gas_price, 16))
        if isinstance(history, RpcError) or not isinstance(history, dict):
            raise NodeUnavailable(f"eth_feeHistory failed: {_why(history)}")
        try:
            base_fees = [int(b, 16) for b in history["baseFeePerGas"]]
            rewards = [[int(r, 16) for r in row] for row in history.get("reward") or []]
        except (KeyError, TypeError, ValueError):
            raise NodeUnavailable("eth_feeHistory answered without usable baseFeePerGas/reward") from None
        if not base_fees:
            raise NodeUnavailable("eth_feeHistory answered no base fee")
        fallback = int(tip, 16) if isinstance(tip, str) else 0
        # baseFeePerGas has one entry more than the blocks asked: the next block's base fee.
        return eip1559_quote(base_fees[-1], percentile_tip(rewards, fallback))


def _why(answer: Any) -> str:
    return answer.message if isinstance(answer, RpcError) else f"unexpected answer {answer!r}"[:200]
