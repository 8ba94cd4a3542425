"""Matching: which native transfers and ERC-20 Transfer logs are credits to watched addresses.

Pure: JSON-RPC answers in, `Found` records out. Matching is a dict lookup per
transaction / log (`watched[to]`), so the cost per block does not grow with the number
of open payments. A credit counts only when its asset is the payment's asset. With
`other_assets=True`, a deposit in another asset (ETH sent to a USDT payment's address, a
configured token sent to an ETH or other-token payment's address) is returned too, with
`counted=False`: recorded and announced, never added to what the payment received.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ctripctl.domain.records import BALANCE_POSITION, INTERNAL_POSITION, Arrival, Found, Watch
from ctripctl.domain.sweeping import TokenMove
from ctripctl.evm.keccak import keccak256

#: keccak256("Transfer(address,address,uint256)"): topic 0 of an ERC-20 Transfer log.
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
NATIVE = None

#: A native transfer as the block workers keep it: (to, value, tx hash, from, block number,
#: block hash), addresses lowercase; value -1 = not known yet (receipts carry no value).
Native = tuple[str, int, str, str, int, str]
UNKNOWN_VALUE = -1

Watched = Mapping[str, Watch]


def native_credits(natives: Sequence[Native], watched: Watched, *, other_assets: bool = False) -> list[Found]:
    """The native transfers to watched addresses of native-coin payments (a dict lookup
    each); with `other_assets`, also those to token payments' addresses, not counted."""
    found = []
    for to, value, tx_hash, sender, number, block_hash in natives:
        watch = watched.get(to)
        if watch is None or value == 0:
            continue
        if watch.token_address is not NATIVE and not other_assets:
            continue
        found.append(
            Found(
                payment_id=watch.payment_id,
                tx_hash=tx_hash,
                log_index=-1,
                block_number=number,
                block_hash=block_hash,
                from_address=sender,
                to_address=to,
                token_address=None,
                amount=value,
                counted=watch.token_address is NATIVE,
            )
        )
    return found


def token_credits(
    logs: list[dict[str, Any]], watched: Watched, *, other_assets: Collection[str] = ()
) -> list[Found]:
    """The Transfer logs to watched addresses of payments in that token (amount > 0);
    also, not counted, the logs of the `other_assets` tokens (the chain's configured
    tokens, lowercase) to any other watched address."""
    found = []
    for log in logs:
        topics = log.get("topics") or []
        if log.get("removed") or len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
            continue
        to = "0x" + topics[2][-40:].lower()
        watch = watched.get(to)
        token = log["address"].lower()
        if watch is None or (watch.token_address != token and token not in other_assets):
            continue
        data = log.get("data") or "0x"
        amount = int(data[:66], 16) if len(data) > 2 else 0
        if amount <= 0:
            continue
        found.append(
            Found(
                payment_id=watch.payment_id,
                tx_hash=log["transactionHash"],
                log_index=int(log["logIndex"], 16),
                block_number=int(log["blockNumber"], 16),
                block_hash=log["blockHash"],
                from_address="0x" + topics[1][-40:].lower(),
                to_address=to,
                token_address=token,
                amount=amount,
                via="log",
                counted=watch.token_address == token,
            )
        )
    return found


def balance_tx_hash(block_hash: str, address: str) -> str:
    """The synthetic transaction hash of a `balance` credit (no transaction shows it):
    keccak256(block hash ‖ address). Another branch's block gives another hash, so the
    credit is orphaned with its block and never confused with the new branch's."""
    data = bytes.fromhex(block_hash.removeprefix("0x")) + bytes.fromhex(address.removeprefix("0x"))
    return "0x" + keccak256(data).hex()


def arrival_credits(
    arrivals: Sequence[Arrival], hashes: Mapping[int, str], watched: Watched, sender: str = "0x" + "00" * 20
) -> list[Found]:
    """chain/internal.py's Arrivals (ETH found by balance reconciliation) as credits.

    `via="internal"`: its transaction's hash and INTERNAL_POSITION - its place among the
    transaction's internal transfers. `via="balance"`: a synthetic hash (balance_tx_hash)
    and BALANCE_POSITION; its sender is unknown (`sender`). Counted only for a native
    payment; ETH that reached a token payment's address is recorded, not counted."""
    found = []
    for arrival in arrivals:
        watch = watched.get(arrival.address)
        block_hash = hashes.get(arrival.block_number)
        if watch is None or block_hash is None or arrival.amount <= 0:
            continue
        internal = arrival.via == "internal"
        found.append(
            Found(
                payment_id=watch.payment_id,
                tx_hash=arrival.tx_hash or "" if internal else balance_tx_hash(block_hash, arrival.address),
                log_index=-1,
                block_number=arrival.block_number,
                block_hash=block_hash,
                from_address=(arrival.sender or sender) if internal else sender,
                to_address=arrival.address,
                token_address=None,
                amount=arrival.amount,
                tx_log_position=INTERNAL_POSITION - (arrival.position or 0) if internal else BALANCE_POSITION,
                via=arrival.via,
                counted=watch.token_address is NATIVE,
            )
        )
    return found


def moved(candidate: Found) -> Found:
    """Mark a candidate as inconsistent so the range is cut below its block."""
    return replace(candidate, block_hash="0x" + "0" * 64)


def token_move(log: dict[str, Any]) -> TokenMove | None:
    """An ERC-20 Transfer log as a TokenMove (None for any other log), for receipts."""
    topics = log.get("topics") or []
    if log.get("removed") or len(topics) != 3 or str(topics[0]).lower() != TRANSFER_TOPIC:
        return None
    data = log.get("data") or "0x"
    return TokenMove(
        token=str(log["address"]).lower(),
        sender="0x" + topics[1][-40:].lower(),
        recipient="0x" + topics[2][-40:].lower(),
        amount=int(data[:66], 16) if len(data) > 2 else 0,
    )
