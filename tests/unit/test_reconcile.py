"""Balance reconciliation (domain/reconcile.py): the ledger's arithmetic and the bisection
that finds the block where unexplained money arrived, over random histories."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ctripctl.domain.reconcile import Ledger, Search, remainder

histories = st.lists(
    st.tuples(st.integers(1, 300), st.integers(-(10**18), 10**18), st.booleans()), max_size=30
)


@given(histories, st.integers(0, 10**20))
def test_bisection_finds_the_first_block_with_unexplained_money(
    changes: list[tuple[int, int, bool]], base: int
) -> None:
    """Known changes are in the ledger; hidden ones (positive, like an internal transfer)
    are only in the balance. The search must land on the first hidden arrival's block."""
    ledger = Ledger(base_block=0, base_balance=base)
    hidden: list[tuple[int, int]] = []
    for block, wei, known in changes:
        if known:
            ledger.add(block, wei)
        elif wei > 0:
            hidden.append((block, wei))

    def balance(b: int) -> int:
        return ledger.expected(b) + sum(w for blk, w in hidden if blk <= b)

    end = 300
    if not hidden:
        assert ledger.unexplained(end, balance(end)) == 0
        return
    assert ledger.unexplained(end, balance(end)) > 0
    search = Search(lo=0, hi=end)
    steps = 0
    while (probe := search.probe()) is not None:
        search.feed(probe, ledger.unexplained(probe, balance(probe)))
        steps += 1
    assert search.block == min(b for b, _ in hidden)
    assert steps <= 9  # log2(300), one eth_getBalance each


def test_the_remainder_of_a_jump_is_what_traces_do_not_explain() -> None:
    assert remainder(10, [3, 4]) == 3
    assert remainder(10, [10]) == 0
    assert remainder(5, [7]) == 0
    assert remainder(9, []) == 9


def test_the_ledger_counts_changes_up_to_and_including_a_block() -> None:
    ledger = Ledger(base_block=10, base_balance=100)
    ledger.add(12, 50)
    ledger.add(11, -30)
    assert [ledger.expected(b) for b in (10, 11, 12, 13)] == [100, 70, 120, 120]
    assert ledger.unexplained(12, 125) == 5
