"""A used wallet on a new database: never hand out an address an old customer still pays.

Deposit addresses come from one counter that a new database starts at 0. If the xpub
served payments before — from another database, or a restored old backup — index 0 is an
old customer's address, and their late payment would credit a new payment. So before the
first address a database ever derives (its counter still at the initial value), the
wallet's first GAP_LIMIT addresses are looked up on each chain that payments are being
created on: native balance, nonce and each configured token's balance, in one batched
JSON-RPC request. Any of them non-zero: RuleError (exit 3) naming them and asking for
`[wallet] first_index`. With `first_index` set there is no check: the counter is raised
to it (never lowered) and the database starts there.

Cost: one counter read per `payment create`; the node is asked only while the counter is
at its initial value. A node that cannot be asked is NodeUnavailable (exit 5): nothing has
been written by then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ctripctl.db.counter import INITIAL_INDEX, next_deposit_index
from ctripctl.domain.money import format_amount
from ctripctl.errors import RuleError

if TYPE_CHECKING:
    from ctripctl.chain.usage import Usage
    from ctripctl.config import ChainConfig, Config
    from ctripctl.payment_request import PaymentRequest

#: How many of the first addresses are looked at: the usual wallet gap limit (BIP-44).
GAP_LIMIT = 20


def check_first_addresses(config: Config, requests: Sequence[PaymentRequest]) -> None:
    """Before creating `requests`: refuse if this database would hand out used addresses.

    Raises RuleError when the counter is at its initial value, no `first_index` is set,
    and one of the wallet's first GAP_LIMIT addresses holds coins or has sent a
    transaction on a chain of `requests`; NodeUnavailable when that cannot be asked.
    """
    if config.xpub is None or not requests:
        return  # creating will say what is missing
    if next_deposit_index(config.database_url, config.first_index) != INITIAL_INDEX:
        return
    if config.first_index is not None:  # the operator said where to start
        return
    from ctripctl.evm.wallet import deposit_addresses

    addresses = deposit_addresses(config.xpub, INITIAL_INDEX, GAP_LIMIT)
    for name in dict.fromkeys(request.chain for request in requests):
        chain = config.chain(name)
        used = [(i, u) for i, u in enumerate(_usage(chain, addresses), INITIAL_INDEX) if u.used]
        if used:
            raise RuleError(_refusal(config, chain, used))


def _usage(chain: ChainConfig, addresses: list[str]) -> list[Usage]:
    from ctripctl.chain.rpc import RpcClient
    from ctripctl.chain.usage import read_usage

    tokens = [token.address for token in chain.tokens.values()]
    # The chain id is checked inside the same batch: one request in all.
    with RpcClient(chain.rpc_urls, timeout=chain.rpc_timeout.total_seconds()) as rpc:
        return read_usage(rpc, addresses, tokens, chain_id=chain.chain_id)


def _refusal(config: Config, chain: ChainConfig, used: list[tuple[int, Usage]]) -> str:
    symbols = {token.address: (symbol, token.decimals) for symbol, token in chain.tokens.items()}
    shown = []
    for index, usage in used[:3]:
        facts = []
        if usage.balance:
            facts.append(f"holds {format_amount(usage.balance, 18)} {chain.native_symbol}")
        facts += [
            f"holds {format_amount(amount, symbols[token][1])} {symbols[token][0]}"
            for token, amount in usage.tokens.items()
            if amount
        ]
        if usage.nonce:
            facts.append(f"sent {usage.nonce} transaction{'s' if usage.nonce != 1 else ''}")
        shown.append(f"index {index} ({usage.address}) {', '.join(facts)}")
    more = f" and {len(used) - 3} more" if len(used) > 3 else ""
    highest = used[-1][0]
    return (
        f"this wallet's deposit addresses were used before on chain {chain.name!r}: "
        f"{'; '.join(shown)}{more}. This database has never handed out an address and would "
        f"start again at index {INITIAL_INDEX}, so an old customer's payment could credit a "
        f"new one. Set [wallet] first_index in {config.path} past every index this wallet "
        f"ever handed out (at least {highest + 1}); nothing was created"
    )
