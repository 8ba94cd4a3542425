"""Health thresholds as one pure function: observations in, the reasons to alert out.

`ctripctl status` gathers what the database and the nodes say, then `evaluate()` decides.
Kept free of I/O so every threshold and edge (never scanned, clock skew, node behind the
checkpoint) is tested exhaustively and fast. A status with any problem exits 7.

Problems, by code::

    node_unreachable   no RPC URL of the chain answered (or it is on another chain id)
    node_behind        the node's chain ends below our checkpoint: a reset node, another
                       network, or one still syncing (the message names the rescan command)
    deep_reorg         the chain reorganised deeper than the kept block hashes
                       (reorg_window): scanning is stopped until the rescan the message names
    lag                head - checkpoint > [chains.C] max_lag_blocks
    never_scanned      no scan pass has ever completed for the chain
    scan_idle          no successful scan pass within [chains.C] max_idle
    confirm_idle       no successful confirm pass within [chains.C] max_idle
    dead_webhooks      webhook events gave up after every retry (re-queue: webhooks retry)
    webhooks_stalled   a due webhook event has waited longer than the idle threshold:
                       no flusher is running

An idle check uses the time of the last *successful* pass (chain_states.last_scan_at /
last_confirm_at, written in the pass's own transaction), so a pass that keeps failing
shows up as idle even though cron runs it every minute. A timestamp in the future (a
host with a fast clock wrote it) counts as fresh, not as an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

NODE_UNREACHABLE = "node_unreachable"
NODE_BEHIND = "node_behind"
DEEP_REORG = "deep_reorg"
GAS_TANK_LOW = "gas_tank_low"
LAG = "lag"
NEVER_SCANNED = "never_scanned"
SCAN_IDLE = "scan_idle"
CONFIRM_IDLE = "confirm_idle"
DEAD_WEBHOOKS = "dead_webhooks"
WEBHOOKS_STALLED = "webhooks_stalled"


@dataclass(frozen=True)
class ChainObservation:
    """What `status` saw for one chain, with that chain's thresholds."""

    name: str
    max_lag_blocks: int
    max_idle: timedelta
    head: int | None  # None: the node did not answer
    checkpoint: int | None  # None: never scanned
    last_scan_at: datetime | None
    last_confirm_at: datetime | None
    node_error: str | None = None
    tank_balance: int | None = None  # wei in the gas tank when the last sweep pass planned
    tank_needed: int | None = None  # wei the token sweeps of that pass needed for gas
    start_block: int = 0  # [chains.C] start_block: where a rescan of a reset node starts
    deep_reorg_from: int | None = None  # a reorg deeper than the kept hashes: rescan from here
    reorg_window: int | None = None  # [chains.C] reorg_window (for the message)


@dataclass(frozen=True)
class WebhookObservation:
    pending: int = 0
    dead: int = 0
    oldest_pending_at: datetime | None = None
    oldest_due_at: datetime | None = None  # earliest next_attempt_at <= now among pending


@dataclass(frozen=True)
class Problem:
    code: str
    chain: str | None
    message: str


def lag(head: int | None, checkpoint: int | None) -> int | None:
    """Blocks between our checkpoint and the node's head (None when either is unknown)."""
    if head is None or checkpoint is None:
        return None
    return head - checkpoint


def shorter_chain_advice(chain: str, start_block: int, head: int, checkpoint: int) -> str:
    """What to say when the node's chain ends below our checkpoint, with the exact command.

    A node that was reset (a dev node restarted) or is another network will not grow back
    into our history: its chain must be rescanned, which orphans the credits recorded from
    blocks that are gone. A node still syncing catches up by itself.
    """
    start = min(start_block, head)
    return (
        f"{chain}: the node's chain ends at block {head}, below the checkpoint {checkpoint}. "
        f"If the node was reset or is another network, rescan: "
        f"`ctripctl scan --chain {chain} --from-block {start}` (credits from blocks that are gone "
        f"are then orphaned); if it is still syncing, wait"
    )


def deep_reorg_advice(chain: str, reorg_window: int | None, from_block: int) -> str:
    """What to say when a scan pass found none of its kept block hashes on the node."""
    kept = f"the {reorg_window} block hashes kept" if reorg_window else "the block hashes kept"
    return (
        f"{chain}: the chain reorganised deeper than {kept} (reorg_window); scanning is "
        f"stopped. Check that the node is on the right network, then run "
        f"`ctripctl scan --chain {chain} --from-block {from_block}`"
    )


def age(moment: datetime | None, now: datetime) -> timedelta | None:
    """How long ago `moment` was; a moment in the future counts as just now."""
    if moment is None:
        return None
    return max(now - moment, timedelta(0))


def evaluate(
    chains: Sequence[ChainObservation],
    webhooks: WebhookObservation,
    now: datetime,
    *,
    webhook_max_delay: timedelta,
) -> list[Problem]:
    """Every threshold crossed, in a stable order (chains in config order, then webhooks)."""
    problems: list[Problem] = []
    for chain in chains:
        problems.extend(_chain_problems(chain, now))
        problems.extend(_tank_problems(chain))
    problems.extend(_webhook_problems(webhooks, now, webhook_max_delay))
    return problems


def _chain_problems(c: ChainObservation, now: datetime) -> Iterable[Problem]:
    if c.head is None:
        detail = f": {c.node_error}" if c.node_error else ""
        yield Problem(NODE_UNREACHABLE, c.name, f"{c.name}: node unreachable{detail}")
    behind = lag(c.head, c.checkpoint)
    if behind is not None and behind < 0:
        assert c.head is not None and c.checkpoint is not None
        yield Problem(NODE_BEHIND, c.name, shorter_chain_advice(c.name, c.start_block, c.head, c.checkpoint))
    if c.deep_reorg_from is not None:
        yield Problem(DEEP_REORG, c.name, deep_reorg_advice(c.name, c.reorg_window, c.deep_reorg_from))
    if behind is not None and behind > c.max_lag_blocks:
        yield Problem(
            LAG, c.name, f"{c.name}: {behind} blocks behind the head (max_lag_blocks {c.max_lag_blocks})"
        )
    if c.checkpoint is None or c.last_scan_at is None:
        yield Problem(
            NEVER_SCANNED, c.name, f"{c.name}: never scanned (run `ctripctl scan --chain {c.name}`)"
        )
    else:
        since = age(c.last_scan_at, now)
        if since is not None and since > c.max_idle:
            yield Problem(
                SCAN_IDLE,
                c.name,
                f"{c.name}: no successful scan for {human(since)} (max_idle {human(c.max_idle)})",
            )
    since_confirm = age(c.last_confirm_at, now)
    if since_confirm is None:
        yield Problem(CONFIRM_IDLE, c.name, f"{c.name}: no confirm pass has ever completed")
    elif since_confirm > c.max_idle:
        yield Problem(
            CONFIRM_IDLE,
            c.name,
            f"{c.name}: no successful confirm pass for {human(since_confirm)} (max_idle {human(c.max_idle)})",
        )


def _tank_problems(c: ChainObservation) -> Iterable[Problem]:
    if c.tank_needed and (c.tank_balance or 0) < c.tank_needed:
        yield Problem(
            GAS_TANK_LOW,
            c.name,
            f"{c.name}: the gas tank holds {c.tank_balance or 0} wei, token sweeps need {c.tank_needed} "
            f"(fund the address `ctripctl sweep tank --chain {c.name}` shows)",
        )


def _webhook_problems(w: WebhookObservation, now: datetime, max_delay: timedelta) -> Iterable[Problem]:
    if w.dead > 0:
        noun = "event is" if w.dead == 1 else "events are"
        yield Problem(
            DEAD_WEBHOOKS, None, f"{w.dead} webhook {noun} dead (see `ctripctl webhooks list --status dead`)"
        )
    waited = age(w.oldest_due_at, now)
    if waited is not None and waited > max_delay:
        yield Problem(
            WEBHOOKS_STALLED,
            None,
            f"a due webhook event has waited {human(waited)} (> {human(max_delay)}): "
            "is `webhooks flush` running?",
        )


def human(delta: timedelta) -> str:
    """A short duration like 45s, 12m, 3h5m, 2d4h (seconds dropped past an hour)."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds}s" if seconds else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def ago(seconds: int | None) -> str:
    """`12m ago`, or `never` for a pass that never ran (for rendering)."""
    return "never" if seconds is None else f"{human(timedelta(seconds=seconds))} ago"
