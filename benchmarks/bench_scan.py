"""Scan throughput on a local anvil: the real `ctripctl scan` pass vs the raw floor vs web3.

The chain: 1,000 blocks x 10 transactions (5 native, 5 ERC-20 transfers, to random
addresses), 1 block in 10 paying one of 1,000 open payments (half ETH, half USDT).
Built fast: automine off, each block's 10 transactions sent as one JSON-RPC batch of
eth_sendTransaction with explicit nonces and gas, then one evm_mine.

Measured in one run (medians of --reps repetitions), all over the same 1,000 blocks:

  pass (process)   `python -m ctripctl scan` as cron runs it: interpreter start, imports,
                   config, lock, reorg check, fetch, one write transaction (fresh copy of
                   the database each time, so each pass records all 100 credits)
  pass (in-proc)   the same pass's own `elapsed_s` (without interpreter start-up)
  pass (receipts)  the same pass with the chain's `scan_source = "receipts"`
  raw floor        the same blocks in JSON-RPC batches of 50 over one keep-alive httpx
                   client, 4 in flight, JSON decoded, plus one eth_getLogs
  raw sequential   batches of 50, one at a time (the baseline for web3's batching)
  web3 batch       web3.py `batch_requests()`, batches of 50, one at a time
  naive web3       `w3.eth.get_block(n, full_transactions=True)` one by one
  headers+receipts not what the scanner does: headers plus eth_getBlockReceipts in the
                   floor's batching, to show where the node spends its time

Plus HTTP requests per 1,000 blocks of the pass, and the pass with 10x the open
payments (10,000) vs 1,000. Targets (issue 3): pass >= 0.8 x raw floor, >= 3 x naive,
<= 40 requests per 1,000 blocks, 10x payments < 1.2x time.

Every pass row above runs with the chain's default `internal_transfers = "auto"`: the
balance reconciliation of contract-sent ETH (issue 13, chain/internal.py) is part of them,
2 eth_getBalance per watched address (50 per request), payments in either asset alike.
Its cost on its own (issue 13: <= 1.3x, report the extra requests), side by side and
interleaved with the rows above, on the same busy blocks with no internal credits:

  pass native auto / off   the whole process over 1,000 watched ETH payments (the same
                           addresses: half of them hold USDT, as uncounted deposits in
                           another asset), `internal_transfers = "auto"` vs `"off"`;
                           medians, their ratio (and the median of per-repetition ratios),
                           and each variant's HTTP requests per pass

Run:  .venv/bin/python benchmarks/bench_scan.py [--reps 5] [--blocks 1000]

The ctripctl tree is byte-compiled first (bytecode_cache.py): an installed copy has its
bytecode; this checkout under PYTHONDONTWRITEBYTECODE=1 would recompile it every run.

Measured 2026-11-29 (second session) on the shared 2-core box, medians of 7:
pass 520 blocks/s (process 1.92 s; in-process 1.68 s), raw floor 716 (1.40 s), naive
web3 128; pass/floor 0.73 (in-process 0.83), pass/naive 4.1x; 24 HTTP requests per
1,000 blocks; 10x payments 1.05x; receipts source 1,058 blocks/s (1.48x the floor).
Other runs the same day gave 0.68-0.83 for pass/floor: the box is noisy.
Third session (the top confirmations+16 blocks' logs read by hash, receipts and logs in
one request after the blocks), medians of 7: pass 468 blocks/s (2.14 s; in-process
1.88 s), raw floor 650 (1.54 s), naive web3 116; pass/floor 0.72 (paired 0.77,
in-process 0.82), pass/naive 4.05x, 24 requests per 1,000 blocks, 10x payments 1.00x,
receipts source 1.59x the floor.
Why the whole process stays near 0.75: anvil burns ~2.7 CPU-seconds per 1,000 full
blocks and keeps both cores busy, so every CPU-millisecond of the pass process costs
wall time. CPU seconds in that run (medians): the pass process 0.95, the floor's fetch
threads 0.17, anvil 2.74 during a pass and 2.66 during the floor. On 2 cores that alone
means a pass cannot take less than (2.74 + 0.95) / 2 = 1.85 s, against the floor's
measured 1.54 s: at best 0.83 of the floor, with no serial start-up and perfect overlap
(the floor itself needs (2.66 + 0.17) / 2 = 1.42 s of both cores). ~0.7 CPU-s of
the pass process is imports (typer ~0.08, httpx ~0.12, SQLAlchemy core ~0.33, its ORM
and the models ~0.18; the last load while the node works). The second session's
start-up work moved the whole process from 0.64 to 0.80 of the floor in one
interleaved A/B run (12 reps each: 2.42 s -> 1.93 s at a 1.54 s floor).

2026-12-02 (fifth session; every watched address reconciled, auto the default), medians
of 3 on the shared box: pass 498 blocks/s (process 2.01 s; in-process 1.81 s), raw floor
603 (1.66 s), naive web3 141 (7.10 s), web3 batch 4.92 s, raw sequential 2.84 s;
pass/floor 0.83 (paired 0.72, in-process 0.92), pass/naive 3.53x; receipts source 1.12 s,
1.48x the floor; CPU s: pass process 0.88, anvil 2.61 (floor: 0.17, 2.53).
internal_transfers, 1,000 ETH payments: auto 2.19 s (in-process 2.01), off 2.09 s (1.87):
1.05x (paired 0.97x, in-process 1.07x), 66 requests against 26 (+40 = 2 heights x
1,000 / 50). Compared with the earlier figures: pass/floor, pass/naive, the receipts
ratio and the CPU split match (0.72-0.83 before); the requests per 1,000 blocks do NOT:
66, not 24 — the +40 balance reads of auto (the same 1,000 addresses; off makes 26,
2 more than the third session's 24, not traced here), over the issue-3 target of 40, which
was set before reconciliation existed; and neither does the 10x-payments row: 1.72x
(in-process 1.82x), not ~1.0x, because reconciliation grows with the watched addresses
(10,000: +400 balance requests; 10k off 3.5-5.6 s vs auto 6.6-8.0 s in a separate
interleaved run: docs/scan-pass.md). A
first version of this session's change also spent 0.3 s per 1,000 addresses
checksumming them (pure-Python keccak) to look up our own sweeps: those are now read by
payment id (1,000 ETH payments, 100 blocks: auto 1.1-1.8 s -> 0.7-1.1 s, off 0.7-0.9 s).

Re-run the same day after the balance reads went 4 in flight and the end balances were
kept with the checkpoint (medians of 3, a noisy box): pass 570 blocks/s (1.76 s;
in-process 1.61 s), raw floor 598 (1.67 s): pass/floor 0.95 (paired 0.67 — one slow
rep), naive web3 172, pass/naive 3.31x, receipts source 0.88 s (1.90x the floor);
66 requests per 1,000 blocks; 10x payments 1.36x (in-process 1.38x), and 1.46x when
the 10,000 start balances are kept by a previous pass (the fresh-database rows above
read them: a first pass); internal_transfers auto / off 0.95x (paired 1.09x), and
0.93x with kept balances (46 requests: the 1,000 start reads saved). CPU s: pass 0.81,
anvil 2.16 (floor 0.13, 2.07). The ratios with and without kept balances are within
this box's noise at 3 reps; bench_internal.py isolates the chain reads (10,000
addresses: 2.5x off -> 1.5x off with the start balances kept).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from benchmarks.bytecode_cache import compile_tree  # noqa: E402
from ctripctl.evm.matching import TRANSFER_TOPIC  # noqa: E402
from tests.support.anvil import Anvil  # noqa: E402
from tests.support.config import write_config  # noqa: E402
from tests.support.evm import Chain  # noqa: E402

TXS_PER_BLOCK = 10
PAY_EVERY = 10
NATIVE_AMOUNT = 10**15  # 0.001 ETH
TOKEN_AMOUNT = 10**6  # 1 USDT


def rpc(client: httpx.Client, url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    body = client.post(url, json=payload).json()
    by_id = {item["id"]: item for item in body}
    out = []
    for i in range(len(calls)):
        if "error" in by_id[i]:
            raise RuntimeError(by_id[i]["error"])
        out.append(by_id[i]["result"])
    return out


def create_payments(config: Path, count: int, native_only: bool = False) -> list[dict[str, Any]]:
    """`ctripctl payment import`: alternating ETH / USDT payments (`native_only`: all ETH),
    derivation index order."""
    rows = ["chain,amount,token,expires_in"]
    for i in range(count):
        rows.append("local,0.001,,7d" if i % 2 == 0 or native_only else "local,1,USDT,7d")
    out = subprocess.run(
        [sys.executable, "-m", "ctripctl", "payment", "import", "-", "--json", "--config", str(config)],
        input="\n".join(rows) + "\n",
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)


def build_chain(anvil: Anvil, chain: Chain, token: Any, payments: list[dict[str, Any]], blocks: int) -> int:
    """Mine `blocks` blocks of 10 transactions; every 10th pays the next payment. Returns the first."""
    url = anvil.url
    senders = chain.accounts[1:10]
    token_address = token.address
    client = httpx.Client(timeout=60)
    # Give every sender tokens (the payer holds the minted supply).
    for sender in senders[1:]:
        chain.send_token(token, sender, 10**24)
    anvil.rpc("evm_setAutomine", False)
    nonces = {
        s: int(n, 16)
        for s, n in zip(
            senders,
            rpc(client, url, [("eth_getTransactionCount", [s, "pending"]) for s in senders]),
            strict=True,
        )
    }
    fee = {"maxFeePerGas": hex(100 * 10**9), "maxPriorityFeePerGas": hex(10**9)}
    rng = random.Random(7)
    first = chain.head + 1
    paid = 0
    for b in range(blocks):
        calls = []
        pay_slot = rng.randrange(TXS_PER_BLOCK) if b % PAY_EVERY == 0 and paid < len(payments) else -1
        target = payments[paid] if pay_slot >= 0 else None
        if target is not None:  # the paying tx must be of the payment's asset
            pay_slot = pay_slot % 5 + (0 if target["token"] is None else 5)
        for slot in range(TXS_PER_BLOCK):
            sender = senders[(b * TXS_PER_BLOCK + slot) % len(senders)]
            to = "0x" + rng.randbytes(20).hex()
            if slot == pay_slot:
                to = target["address"]  # type: ignore[index]
            tx: dict[str, Any] = {"from": sender, "nonce": hex(nonces[sender]), **fee}
            nonces[sender] += 1
            if slot < 5:
                tx.update(
                    to=to,
                    value=hex(NATIVE_AMOUNT if slot == pay_slot else rng.randrange(1, 10**15)),
                    gas="0x5208",
                )
            else:
                amount = TOKEN_AMOUNT if slot == pay_slot else rng.randrange(1, 10**6)
                data = "0xa9059cbb" + to[2:].lower().rjust(64, "0") + hex(amount)[2:].rjust(64, "0")
                tx.update(to=token_address, data=data, gas=hex(80_000))
            calls.append(("eth_sendTransaction", [tx]))
        if pay_slot >= 0:
            paid += 1
        rpc(client, url, calls)
        rpc(client, url, [("evm_mine", [])])
    last = chain.head
    counts = rpc(
        client, url, [("eth_getBlockTransactionCountByNumber", [hex(n)]) for n in range(first, last + 1)]
    )
    assert last - first + 1 == blocks and all(int(c, 16) == TXS_PER_BLOCK for c in counts), (
        "chain build failed"
    )
    client.close()
    return first


VARIANTS = (
    "pass 1k",
    "pass 1k in-proc",
    "pass native auto",
    "pass native auto in-proc",
    "pass native off",
    "pass native off in-proc",
    "pass native kept",
    "pass native kept in-proc",
    "pass 10k",
    "pass 10k in-proc",
    "pass 10k kept",
    "pass 10k kept in-proc",
    "pass 1k receipts",
    "pass 1k receipts in-proc",
    "raw floor",
    "raw sequential",
    "receipts",
    "web3 batch",
    "naive web3",
)


def raw_fetch(
    url: str, first: int, last: int, in_flight: int, log_filter: dict[str, Any] | None, receipts: bool = False
) -> int:
    """Blocks with full transactions in batches of 50 (or, `receipts`: headers plus
    eth_getBlockReceipts — not what the scanner does; shown to locate the node's cost)."""
    numbers = list(range(first, last + 1))
    chunks = [numbers[i : i + 50] for i in range(0, len(numbers), 50)]
    with httpx.Client(
        timeout=60, limits=httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    ) as client:

        def one(chunk: list[int]) -> int:
            if receipts:
                calls = [("eth_getBlockByNumber", [hex(n), False]) for n in chunk]
                calls += [("eth_getBlockReceipts", [hex(n)]) for n in chunk]
                answers = rpc(client, url, calls)
                return sum(len(r) for r in answers[len(chunk) :])
            blocks = rpc(client, url, [("eth_getBlockByNumber", [hex(n), True]) for n in chunk])
            return sum(len(b["transactions"]) for b in blocks)

        with ThreadPoolExecutor(in_flight) as pool:
            txs = sum(pool.map(one, chunks))
            if log_filter is not None:
                rpc(client, url, [("eth_getLogs", [log_filter])])
    return txs


def web3_batches(url: str, first: int, last: int) -> int:
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    txs = 0
    for start in range(first, last + 1, 50):
        with w3.batch_requests() as batch:
            for n in range(start, min(start + 50, last + 1)):
                batch.add(w3.eth.get_block(n, full_transactions=True))
            txs += sum(len(b["transactions"]) for b in batch.execute())
    return txs


def naive_web3(url: str, first: int, last: int) -> int:
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    return sum(
        len(w3.eth.get_block(n, full_transactions=True)["transactions"]) for n in range(first, last + 1)
    )


def cpu_seconds(who: int) -> float:
    """User + system CPU time of this process (RUSAGE_SELF, all threads) or of its waited
    children (RUSAGE_CHILDREN)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def node_cpu_seconds(anvil: Anvil) -> float:
    """anvil's user + system CPU time so far, from /proc/<pid>/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{anvil.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fresh_copy(template: Path, database: Path) -> None:
    """A fresh database (payments, no scan yet) for the next pass; not part of the timing."""
    shutil.copyfile(template, database)
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


def scan_process(config: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "ctripctl", "scan", "--chain", "local", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "CTRIP_LOG_FORMAT": "text"},
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout)


def prepare_db(
    workdir: Path, name: str, anvil: Anvil, token: Any, first: int, count: int, native_only: bool = False
) -> tuple[Path, Path, Path, list[dict[str, Any]]]:
    """A migrated SQLite database with `count` payments: (config, template, live db, payments)."""
    from ctripctl.db import migrate

    directory = workdir / name
    directory.mkdir()
    template = directory / "template.db"
    migrate.upgrade(f"sqlite:///{template}")
    config = write_config(
        directory / "ctrip.toml",
        database_url=f"sqlite:///{template}",
        rpc_urls=[anvil.url],
        token_address=token.address,
        block_batch_size=100_000,
        start_block=first,
    )
    payments = create_payments(config, count, native_only)
    import sqlite3

    with sqlite3.connect(template) as conn:  # fold the WAL into the file before copying it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    live = directory / "live.db"
    config.write_text(config.read_text().replace(str(template), str(live)))
    return config, template, live, payments


def with_kept_balances(template: Path, url: str, block: int) -> Path:
    """A copy of `template` holding what a previous pass ending at `block` keeps: every
    payment address's ETH balance there (watch_balances), read from the node — the steady
    state of cron passes, where each pass starts from the last one's end balances."""
    import sqlite3

    kept = template.with_name("kept.db")
    shutil.copyfile(template, kept)
    with sqlite3.connect(kept) as conn:
        addresses = [a.lower() for (a,) in conn.execute("SELECT address FROM payments")]
        with httpx.Client(timeout=60) as client:
            balances = []
            for i in range(0, len(addresses), 50):
                chunk = addresses[i : i + 50]
                balances += rpc(client, url, [("eth_getBalance", [a, hex(block)]) for a in chunk])
        conn.executemany(
            "INSERT INTO watch_balances (chain, address, block_number, balance) VALUES ('local', ?, ?, ?)",
            [(a, block, str(int(b, 16))) for a, b in zip(addresses, balances, strict=True)],
        )
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=1000)
    args = parser.parse_args()
    compile_tree(ROOT / "ctripctl")  # time it as installed: see bytecode_cache.py
    blocks = args.blocks

    anvil = Anvil("--gas-limit", "100000000")
    workdir = Path(tempfile.mkdtemp(prefix="bench_scan_"))
    try:
        chain = Chain(anvil)
        token = chain.deploy_token("USDT", 6)
        # Payments first (their addresses are needed to pay them), start_block fixed later.
        start_guess = chain.head + 1 + 8  # after the 8 token-funding transactions below
        config1, template1, live1, payments = prepare_db(workdir, "p1000", anvil, token, start_guess, 1000)
        config10, template10, live10, _ = prepare_db(workdir, "p10000", anvil, token, start_guess, 10_000)
        config1r = config1.with_name("ctrip-receipts.toml")  # same database, scan_source = "receipts"
        config1r.write_text(
            config1.read_text().replace('rpc_timeout = "5s"', 'rpc_timeout = "5s"\nscan_source = "receipts"')
        )
        # 1,000 ETH payments at the same addresses (same xpub, same indexes): the odd ones
        # are paid in USDT by the chain below, so they hold uncounted deposits in another
        # asset and their ETH balances never move. Two configs over one database.
        native_auto, template_n, live_n, _ = prepare_db(
            workdir, "n1000", anvil, token, start_guess, 1000, native_only=True
        )
        native_off = native_auto.with_name("ctrip-off.toml")
        native_text = native_auto.read_text()
        for config, mode in ((native_auto, "auto"), (native_off, "off")):
            config.write_text(
                native_text.replace(
                    'rpc_timeout = "5s"', f'rpc_timeout = "5s"\ninternal_transfers = "{mode}"'
                )
            )
        t0 = time.perf_counter()
        first = build_chain(anvil, chain, token, payments, blocks)
        assert first == start_guess, (first, start_guess)
        last = first + blocks - 1
        built = time.perf_counter() - t0
        print(f"chain: blocks {first}..{last} ({blocks} x {TXS_PER_BLOCK} txs) built in {built:.1f}s")
        kept_n = with_kept_balances(template_n, anvil.url, first - 1)
        kept10 = with_kept_balances(template10, anvil.url, first - 1)

        token_targets = [p["address"] for p in payments if p["token"] is not None]
        log_filter = {
            "fromBlock": hex(first),
            "toBlock": hex(last),
            "address": [token.address],
            "topics": [TRANSFER_TOPIC, None, ["0x" + "0" * 24 + a[2:].lower() for a in token_targets]],
        }
        reps = args.reps
        url = anvil.url
        expected = len(range(0, blocks, PAY_EVERY))
        fresh_copy(template1, live1)
        scan_process(config1)  # warm-up (OS caches, anvil)
        # Interleaved: every repetition runs every variant once, so a load spike on this
        # shared machine hits all of them alike; medians per variant at the end.
        samples: dict[str, list[float]] = {k: [] for k in VARIANTS}
        requests: list[int] = []
        native_requests: dict[str, list[int]] = {"auto": [], "off": [], "kept": []}
        cpu: dict[str, list[tuple[float, float]]] = {"pass 1k": [], "raw floor": []}  # (client, node)
        for rep in range(reps):
            sizes = [
                ("1k", (config1, template1, live1)),
                ("10k", (config10, template10, live10)),
                ("1k receipts", (config1r, template1, live1)),
                ("native auto", (native_auto, template_n, live_n)),
                ("native off", (native_off, template_n, live_n)),
                ("native kept", (native_auto, kept_n, live_n)),
                ("10k kept", (config10, kept10, live10)),
            ]
            for size, (config, template, live) in sizes if rep % 2 == 0 else sizes[::-1]:
                fresh_copy(template, live)
                c0, n0 = cpu_seconds(resource.RUSAGE_CHILDREN), node_cpu_seconds(anvil)
                t0 = time.perf_counter()
                result = scan_process(config)
                samples[f"pass {size}"].append(time.perf_counter() - t0)
                if size == "1k":
                    c1, n1 = cpu_seconds(resource.RUSAGE_CHILDREN), node_cpu_seconds(anvil)
                    cpu["pass 1k"].append((c1 - c0, n1 - n0))
                samples[f"pass {size} in-proc"].append(result["elapsed_s"])
                assert result["blocks_scanned"] == blocks and result["transfers_found"] == expected, result
                if size == "1k":
                    requests.append(result["rpc_requests"])
                if size.startswith("native"):
                    native_requests[size.split()[1]].append(result["rpc_requests"])
            for name, fn in (
                ("raw floor", lambda: raw_fetch(url, first, last, 4, log_filter)),
                ("raw sequential", lambda: raw_fetch(url, first, last, 1, None)),
                ("receipts", lambda: raw_fetch(url, first, last, 4, None, receipts=True)),
                ("web3 batch", lambda: web3_batches(url, first, last)),
                ("naive web3", lambda: naive_web3(url, first, last)),
            ):
                c0, n0 = cpu_seconds(resource.RUSAGE_SELF), node_cpu_seconds(anvil)
                t0 = time.perf_counter()
                txs = fn()
                samples[name].append(time.perf_counter() - t0)
                if name in cpu:
                    c1, n1 = cpu_seconds(resource.RUSAGE_SELF), node_cpu_seconds(anvil)
                    cpu[name].append((c1 - c0, n1 - n0))
                assert txs == blocks * TXS_PER_BLOCK, (name, txs)
            print(
                f"  rep {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in samples.items()),
                file=sys.stderr,
            )
        med = {k: statistics.median(v) for k, v in samples.items()}
        t_pass, in_proc = med["pass 1k"], med["pass 1k in-proc"]
        t_pass10, in_proc10 = med["pass 10k"], med["pass 10k in-proc"]
        t_floor, t_seq = med["raw floor"], med["raw sequential"]
        t_w3batch, t_naive = med["web3 batch"], med["naive web3"]
        t_receipts = med["receipts"]
        result = {"rpc_requests": statistics.median(requests)}

        def rate(seconds: float) -> str:
            return f"{blocks / seconds:>9.0f} blocks/s  ({seconds * 1000:>7.0f} ms)"

        print(
            f"medians of {reps} runs over {blocks} blocks, {len(payments)} open payments, {expected} credits"
        )
        print(f"  pass, whole process    {rate(t_pass)}")
        print(f"  pass, in-process       {rate(in_proc)}")
        t_pass_r, in_proc_r = med["pass 1k receipts"], med["pass 1k receipts in-proc"]
        print(f"  pass, receipts source  {rate(t_pass_r)}  (process; in-process {rate(in_proc_r).strip()})")
        print(f"  raw floor (50 x 4)     {rate(t_floor)}")
        print(f"  raw sequential (50)    {rate(t_seq)}")
        print(f"  web3 batch_requests    {rate(t_w3batch)}")
        print(f"  naive web3 loop        {rate(t_naive)}")
        print(f"  (headers + receipts)   {rate(t_receipts)}  node cost without full-tx serialization")
        per_1000 = result["rpc_requests"] * 1000 / blocks
        print("ratios")
        print(f"  pass (process) / raw floor     {t_floor / t_pass:5.2f}   (target >= 0.8)")
        pairs = zip(samples["raw floor"], samples["pass 1k"], strict=True)
        paired = statistics.median(floor / one_pass for floor, one_pass in pairs)
        print(f"    same, median of per-repetition ratios  {paired:5.2f}   (each rep's floor / its pass)")
        print(f"  pass (in-proc) / raw floor     {t_floor / in_proc:5.2f}")
        print(f"  pass receipts (process) / raw floor  {t_floor / t_pass_r:5.2f}")
        print(f"  pass receipts (process) / naive web3 {t_naive / t_pass_r:5.2f}x")
        print(f"  pass (process) / naive web3    {t_naive / t_pass:5.2f}x  (target >= 3)")
        print(f"  raw sequential vs web3 batch   {t_w3batch / t_seq:5.2f}x faster (raw kept)")
        print(f"  HTTP requests per 1,000 blocks {per_1000:5.0f}    (target <= 40)")
        ratio10, ratio10_in = t_pass10 / t_pass, in_proc10 / in_proc
        print(f"  10x payments (10,000): process {ratio10:4.2f}x, in-proc {ratio10_in:4.2f}x  (target < 1.2)")
        t_pass10k, in_proc10k = med["pass 10k kept"], med["pass 10k kept in-proc"]
        print(
            f"    same, balances kept by a previous pass: process {t_pass10k / t_pass:4.2f}x, "
            f"in-proc {in_proc10k / in_proc:4.2f}x"
        )
        t_auto, t_off = med["pass native auto"], med["pass native off"]
        in_auto, in_off = med["pass native auto in-proc"], med["pass native off in-proc"]
        pairs = zip(samples["pass native auto"], samples["pass native off"], strict=True)
        paired_auto = statistics.median(auto / off for auto, off in pairs)
        extra = statistics.median(native_requests["auto"]) - statistics.median(native_requests["off"])
        print("internal_transfers, 1,000 watched ETH payments, no internal credits (issue 13)")
        print(f"  pass auto (process)            {rate(t_auto)}  (in-process {rate(in_auto).strip()})")
        print(f"  pass off  (process)            {rate(t_off)}  (in-process {rate(in_off).strip()})")
        print(
            f"  auto / off: process {t_auto / t_off:4.2f}x (paired {paired_auto:4.2f}x), "
            f"in-process {in_auto / in_off:4.2f}x  (target <= 1.3)"
        )
        print(
            f"  HTTP requests per pass: auto {statistics.median(native_requests['auto']):.0f}, "
            f"off {statistics.median(native_requests['off']):.0f} ({extra:+.0f})"
        )
        t_kept, in_kept = med["pass native kept"], med["pass native kept in-proc"]
        pairs = zip(samples["pass native kept"], samples["pass native off"], strict=True)
        paired_kept = statistics.median(kept / off for kept, off in pairs)
        print(
            f"  auto, balances kept by a previous pass (steady state): {rate(t_kept)}; / off: "
            f"process {t_kept / t_off:4.2f}x (paired {paired_kept:4.2f}x), "
            f"in-process {in_kept / in_off:4.2f}x, {statistics.median(native_requests['kept']):.0f} requests"
        )
        print("CPU seconds (medians; client = the pass process / this process's fetch threads)")
        for name, pairs in cpu.items():
            client_s = statistics.median(c for c, _ in pairs)
            node_s = statistics.median(n for _, n in pairs)
            print(f"  {name:<10} client {client_s:5.2f}  anvil {node_s:5.2f}")
    finally:
        anvil.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
