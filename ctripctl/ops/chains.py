"""`chain list` and `chain status`: what is configured, and what each node says right now.

`chain status` asks every RPC URL of the chain separately (not through failover), so an
operator sees which of the fallbacks is down or on the wrong chain before it is needed.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ctripctl.config import ChainConfig, Config
from ctripctl.ops import health
from ctripctl.ops.status import PROBE_ATTEMPTS, PROBE_TIMEOUT_S, node_error_text
from ctripctl.urls import mask_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def chain_list(config: Config) -> list[dict[str, Any]]:
    """Every configured chain with its tokens and settings; RPC URL passwords masked."""
    return [
        {
            "chain": c.name,
            "chain_id": c.chain_id,
            "native_symbol": c.native_symbol,
            "rpc_urls": [mask_url(u) for u in c.rpc_urls],
            "confirmations": c.confirmations,
            "finality": c.finality,
            "block_batch_size": c.block_batch_size,
            "start_block": c.start_block,
            "max_lag_blocks": c.max_lag_blocks,
            "max_idle_s": int(c.max_idle.total_seconds()),
            "reorg_window": c.hashes_kept,
            "scan_source": c.scan_source,
            "internal_transfers": c.internal_transfers,
            "treasury": c.treasury,
            "sweep_strategy": c.sweep_strategy,
            "tokens": [
                {"symbol": t.symbol, "address": t.address, "decimals": t.decimals} for t in c.tokens.values()
            ],
        }
        for c in config.chains.values()
    ]


def probe_url(url: str, expected_chain_id: int, timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """One URL's chain id and head in one batched request; errors reported, never raised.

    `latency_ms` is how long the node took to answer, and None when it did not answer at
    all (refused, timed out, not JSON-RPC): there is no latency to show for those.
    """
    from ctripctl.chain.rpc import RpcClient, RpcError
    from ctripctl.errors import CtripError

    started = time.perf_counter()
    masked = mask_url(url)
    result: dict[str, Any] = {
        "url": masked,
        "chain_id": None,
        "head": None,
        "ok": False,
        "error": None,
        "latency_ms": None,
    }
    with RpcClient([url], timeout=timeout, attempts=PROBE_ATTEMPTS, backoff_max=0.5) as client:
        try:
            chain_id, head = client.batch([("eth_chainId", ()), ("eth_blockNumber", ())])
            result["latency_ms"] = round((time.perf_counter() - started) * 1000)
            for answer in (chain_id, head):
                if isinstance(answer, RpcError):
                    raise answer
            result["chain_id"], result["head"] = int(chain_id, 16), int(head, 16)
        except (CtripError, RpcError, ValueError, TypeError) as exc:
            result["error"] = node_error_text(str(exc), masked)
    if result["chain_id"] is not None and result["chain_id"] != expected_chain_id:
        result["error"] = f"node is on chain id {result['chain_id']}, config says {expected_chain_id}"
    result["ok"] = result["error"] is None
    return result


def chain_status(config: Config, engine: Engine, name: str, now: datetime) -> dict[str, Any]:
    """Each node's chain id and head, our checkpoint and lag (against the first good node)."""
    from ctripctl.db.models import ChainState
    from ctripctl.db.session import transaction
    from ctripctl.db.snapshot import iso

    chain: ChainConfig = config.chain(name)
    timeout = min(PROBE_TIMEOUT_S, chain.rpc_timeout.total_seconds())
    with ThreadPoolExecutor(max_workers=min(8, len(chain.rpc_urls))) as pool:
        futures = [pool.submit(probe_url, u, chain.chain_id, timeout) for u in chain.rpc_urls]
        with transaction(engine) as session:
            state = session.get(ChainState, name)
            checkpoint = state.last_block if state else None
            last_scan_at = state.last_scan_at if state else None
            last_confirm_at = state.last_confirm_at if state else None
            last_head_seen = state.head_block if state else None
        nodes = [f.result() for f in futures]
    head = next((n["head"] for n in nodes if n["ok"]), None)
    return {
        "chain": name,
        "chain_id": chain.chain_id,
        "nodes": nodes,
        "head": head,
        "checkpoint": checkpoint,
        "lag": health.lag(head, checkpoint),
        "last_head_seen": last_head_seen,
        "last_scan_at": iso(last_scan_at),
        "last_confirm_at": iso(last_confirm_at),
        "since_last_scan_s": _seconds(health.age(last_scan_at, now)),
        "since_last_confirm_s": _seconds(health.age(last_confirm_at, now)),
    }


def _seconds(delta: Any) -> int | None:
    return None if delta is None else int(delta.total_seconds())
