"""Balance reconciliation: is there ETH on an address that no recorded credit explains,
and in which block did it arrive?

An address's balance over a block range changes by what arrived (the top-level credits
the scan records, ETH sent from inside contract calls, selfdestruct payouts, validator
withdrawals) minus what it sent (its own transactions: value plus fee). The scan knows
the first and its own outgoing transactions; whatever else the balance shows arrived
in ways the blocks' transactions do not show. `Ledger` is that arithmetic, `Search` the
bisection over block heights (one eth_getBalance per step) that finds the first block
where the balance runs ahead of the ledger. No I/O here: the scan asks the node.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Ledger:
    """What is known to have moved an address's balance since `base_block`."""

    base_block: int
    base_balance: int
    changes: list[tuple[int, int]] = field(default_factory=list)  # (block, signed wei), sorted

    def add(self, block: int, wei: int) -> None:
        """A known change at `block`: + a credit, − an outgoing value and its fee."""
        self.changes.append((block, wei))
        self.changes.sort()

    def expected(self, block: int) -> int:
        """The balance the known changes explain at the end of `block`."""
        upto = bisect_right(self.changes, (block, float("inf")))
        return self.base_balance + sum(w for _, w in self.changes[:upto])

    def unexplained(self, block: int, balance: int) -> int:
        """Wei on the address at the end of `block` that no known change explains."""
        return balance - self.expected(block)


@dataclass
class Search:
    """Bisection for the first block in (lo, hi] whose balance is ahead of the ledger.

    Invariant: nothing unexplained at `lo`, something unexplained at `hi`. Unexplained
    arrivals only add up (money that arrived stays counted in later balances, and the
    ledger already holds every outgoing transaction), so the predicate is monotone.
    """

    lo: int
    hi: int

    def probe(self) -> int | None:
        """The next height to ask the node about; None once `hi` is the block."""
        return None if self.hi - self.lo <= 1 else (self.lo + self.hi) // 2

    def feed(self, block: int, unexplained: int) -> None:
        if unexplained > 0:
            self.hi = block
        else:
            self.lo = block

    @property
    def block(self) -> int:
        return self.hi


def remainder(jump: int, traced: Iterable[int]) -> int:
    """What a block's unexplained jump leaves once its traced internal transfers are
    counted: recorded as a `balance` credit (e.g. a validator withdrawal, or a node that
    cannot trace). Never negative: traces never take money away from a jump."""
    return max(0, jump - sum(traced))
