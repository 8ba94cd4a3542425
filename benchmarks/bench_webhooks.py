"""Webhook delivery throughput: `webhooks flush` vs a sequential one-at-a-time loop.

Setup per round: a fresh migrated database (SQLite file by default, a fresh PostgreSQL
schema with --postgres) holding --events pending events (one `payment.created` per
payment, created through the library), and a verifying receiver (tests/support/receiver.py,
the reference `standardwebhooks` library) in its own process that answers each request
after --delay seconds (20 ms).

Measured in one run (medians of --rounds):

  flush        ctripctl.passes.flush.flush — what `ctripctl webhooks flush` runs: claim
               under a lease, deliver concurrently over one pooled AsyncClient, record
  sequential   the baseline: for each event, claim it (one transaction), sign and POST it
               with a keep-alive sync httpx.Client, wait for the answer, record the outcome
               (one transaction) — the same protocol one attempt at a time. It runs on
               --sequential events per round (its rate does not depend on the count).

The receiver's count of distinct verified webhook-ids is checked after every round.

Run:  .venv/bin/python benchmarks/bench_webhooks.py [--rounds 3] [--events 2000] [--postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from ctripctl.config import Config, load_config  # noqa: E402
from ctripctl.db import claims  # noqa: E402
from ctripctl.db.session import get_engine, transaction  # noqa: E402
from ctripctl.domain.signing import secret_key  # noqa: E402
from ctripctl.passes.flush import flush  # noqa: E402
from ctripctl.webhooks import schedule  # noqa: E402
from ctripctl.webhooks.delivery import USER_AGENT, body_bytes, signed_headers  # noqa: E402
from tests.support.databases import migrated  # noqa: E402
from tests.support.webhooks import hook_config, make_payments  # noqa: E402


class ReceiverProcess:
    """tests/support/receiver.py in its own process, so it does not share our GIL."""

    def __init__(self, delay: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.receiver", "--delay", str(delay)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline().split()[1])

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def stats(self) -> dict[str, int]:
        return httpx.get(f"http://127.0.0.1:{self.port}/stats").json()

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def sequential(config: Config, limit: int) -> int:
    """The baseline: claim one, send one, record one, until `limit` events are done."""
    engine = get_engine(config.database_url)
    key = secret_key(config.webhooks.secret or "")
    lease = 2 * config.webhooks.timeout
    done = 0
    with httpx.Client(timeout=10, follow_redirects=False, headers={"user-agent": USER_AGENT}) as client:
        while done < limit:
            now = datetime.now(UTC)
            with transaction(engine) as session:
                [event] = claims.claim_due(session, now=now, limit=1, lease=lease, default_url=None).events
            body = body_bytes(event.payload)
            started = time.perf_counter()
            response = client.post(
                event.url, content=body, headers=signed_headers(key, event.id, int(time.time()), body)
            )
            latency = round((time.perf_counter() - started) * 1000)
            finished = datetime.now(UTC)
            decision = schedule.decide(event.attempt, finished, status_code=response.status_code)
            outcome = claims.Outcome(
                event, now, finished, response.status_code, None, response.text[:1024], latency,
                decision.status, decision.next_attempt_at,
            )  # fmt: skip
            with transaction(engine) as session:
                claims.record_outcomes(session, [outcome])
            done += decision.status == schedule.DELIVERED
    return done


def one_round(
    kind: str, receiver: ReceiverProcess, events: int, seq_events: int, concurrency: int
) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        base = receiver.stats()["unique"]
        with migrated(kind, Path(tmp)) as url:
            config = load_config(hook_config(Path(tmp) / "ctrip.toml", url, timeout="10s"))
            make_payments(config, events, receiver.url())
            result = flush(get_engine(url), config.webhooks, concurrency=concurrency)
            assert result.delivered == events, result
            flush_rate = events / result.elapsed_s
            assert receiver.stats()["unique"] == base + events, receiver.stats()
        with migrated(kind, Path(tmp)) as url:
            config = load_config(hook_config(Path(tmp) / "ctrip.toml", url, timeout="10s"))
            make_payments(config, seq_events, receiver.url())
            started = time.perf_counter()
            assert sequential(config, seq_events) == seq_events
            seq_rate = seq_events / (time.perf_counter() - started)
    return flush_rate, seq_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--sequential", type=int, default=200, help="events per round for the baseline")
    parser.add_argument("--delay", type=float, default=0.02, help="receiver answer delay, seconds")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--postgres", action="store_true", help="use CTRIP_TEST_POSTGRES_URL instead of SQLite"
    )
    args = parser.parse_args()
    kind = "postgresql" if args.postgres else "sqlite"
    if args.postgres:
        os.environ.setdefault("CTRIP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    receiver = ReceiverProcess(args.delay)
    flush_rates, seq_rates = [], []
    try:
        for n in range(1, args.rounds + 1):
            f, s = one_round(kind, receiver, args.events, args.sequential, args.concurrency)
            flush_rates.append(f)
            seq_rates.append(s)
            print(f"round {n}: flush {f:7.1f}/s   sequential {s:6.1f}/s   ratio {f / s:5.1f}x", flush=True)
        stats = receiver.stats()
    finally:
        receiver.stop()
    flush_rate, seq_rate = statistics.median(flush_rates), statistics.median(seq_rates)
    ratio = flush_rate / seq_rate
    print(
        f"\n{kind}, {args.events} events, receiver answers after {args.delay * 1000:.0f} ms, "
        f"concurrency {args.concurrency}, {os.cpu_count()} CPUs (load {os.getloadavg()[0]:.1f})"
    )
    met = "met" if ratio >= 10 and flush_rate >= 300 else "NOT met"
    print(f"webhooks flush  {flush_rate:8.1f} deliveries/s (median of {args.rounds})")
    print(f"sequential loop {seq_rate:8.1f} deliveries/s ({args.sequential} events per round)")
    print(f"ratio           {ratio:8.1f}x   (target >= 10x and >= 300/s: {met})")
    print(f"receiver        {json.dumps(stats)}")


if __name__ == "__main__":
    main()
