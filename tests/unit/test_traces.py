"""Internal value transfers from block traces (evm/traces.py): both trace formats, reverted
frames moving nothing, and positions that identify a transfer within its transaction."""

from __future__ import annotations

from ctripctl.evm.traces import InternalTransfer, from_call_tracer, from_parity

A, B, C, D = ("0x" + ch * 40 for ch in "abcd")
TX = "0x" + "1" * 64


def call(to: str, value: int, *calls: dict, kind: str = "CALL", error: str | None = None) -> dict:
    frame = {"type": kind, "from": A, "to": to, "value": hex(value), "calls": list(calls)}
    if error:
        frame["error"] = error
    return frame


def test_call_tracer_keeps_nested_value_and_skips_what_reverted() -> None:
    answer = [
        {
            "txHash": TX,
            "result": call(
                A,
                5,  # the top level: found from the block, not here
                call(B, 7),
                call(C, 0),  # no value
                call(D, 9, call(B, 1), error="execution reverted"),  # reverted, and its child too
                call(C, 3, kind="DELEGATECALL"),  # no value moves to C
                call(C, 2, call(D, 4)),
            ),
        },
        {"txHash": "0x" + "2" * 64, "result": call(A, 0, call(B, 100), error="out of gas")},  # failed tx
    ]
    assert from_call_tracer(answer) == [
        InternalTransfer(TX, 0, A, B, 7),
        InternalTransfer(TX, 1, A, C, 2),
        InternalTransfer(TX, 2, A, D, 4),
    ]


def test_parity_traces_give_the_same_transfers_and_positions() -> None:
    def frame(path: list[int], to: str, value: int, **extra: object) -> dict:
        return {
            "type": "call",
            "action": {"callType": "call", "from": A, "to": to, "value": hex(value)},
            "traceAddress": path,
            "transactionHash": TX,
            **extra,
        }

    answer = [
        frame([], A, 5),
        frame([0], B, 7),
        frame([1], C, 0),
        frame([2], D, 9, error="Reverted"),
        frame([2, 0], B, 1),
        {**frame([3], C, 3), "action": {"callType": "delegatecall", "from": A, "to": C, "value": "0x3"}},
        frame([4], C, 2),
        frame([4, 0], D, 4),
        {
            "type": "suicide",
            "action": {"address": C, "refundAddress": B, "balance": hex(6)},
            "traceAddress": [5],
            "transactionHash": TX,
        },
    ]
    assert from_parity(answer) == [
        InternalTransfer(TX, 0, A, B, 7),
        InternalTransfer(TX, 1, A, C, 2),
        InternalTransfer(TX, 2, A, D, 4),
        InternalTransfer(TX, 3, C, B, 6),
    ]
    failed_top = [frame([], A, 0, error="Reverted"), frame([0], B, 7)]
    assert from_parity(failed_top) == []
