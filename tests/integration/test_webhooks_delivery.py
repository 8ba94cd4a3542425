"""`webhooks flush|list|show|retry` against real HTTP receivers on loopback, SQLite and PostgreSQL.

Every receiver verifies requests with the reference `standardwebhooks` library. Time is
stepped, not slept: the library's `flush(now=...)` runs the scheduling clock at a later
instant, exactly as a later cron run would.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from ctripctl import __version__
from ctripctl.db.claims import claim_due
from ctripctl.domain.lifecycle import EVENT_CONFIRMED, EVENT_DETECTED
from ctripctl.webhooks.delivery import BODY_KEEP
from ctripctl.webhooks.schedule import MAX_ATTEMPTS
from tests.support.cli import Cli
from tests.support.config import TEST_SECRET
from tests.support.receiver import Receiver, Reply, always, close, fail_first, hang
from tests.support.webhooks import (
    attempts,
    event,
    events,
    hook_config,
    load,
    make_payments,
    payment,
    run_flush,
)


@pytest.fixture
def receiver() -> Receiver:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def config_path(tmp_path: Path, database_url: str) -> Path:
    return hook_config(tmp_path / "ctrip.toml", database_url, timeout="1s")


@pytest.fixture
def cli(config_path: Path) -> Cli:
    return Cli(config_path)


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_delivery_is_signed_per_standard_webhooks(cli: Cli, config_path: Path, receiver: Receiver) -> None:
    p = cli.ok("payment", "create", "--chain", "local", "--amount", "2.5", "--webhook-url", receiver.url())
    result = cli.ok("webhooks", "flush")
    assert {k: result[k] for k in ("attempted", "delivered", "failed", "dead", "skipped")} == {
        "attempted": 1,
        "delivered": 1,
        "failed": 0,
        "dead": 0,
        "skipped": 0,
    }
    assert result["elapsed_s"] >= 0
    [got] = receiver.requests
    assert got.verified, "the reference standardwebhooks library rejected our signature"
    [stored] = events(load(config_path))
    assert got.webhook_id == stored.id
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith(f"ctripctl/{__version__}")
    assert abs(int(got.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 30
    assert got.headers["webhook-signature"].startswith("v1,")
    assert got.payload == stored.payload
    assert got.payload["type"] == "payment.created" and got.payload["data"]["id"] == p["id"]
    assert stored.status == "delivered" and stored.attempts == 1 and stored.last_status_code == 200
    assert stored.delivered_at is not None
    shown = cli.ok("webhooks", "show", stored.id)
    assert shown["status"] == "delivered" and shown["payload"] == stored.payload
    [attempt] = shown["history"]
    assert attempt["status_code"] == 200 and attempt["latency_ms"] >= 0 and attempt["response_body"] == "ok"
    # nothing left to do: a second pass attempts nothing
    assert cli.ok("webhooks", "flush")["attempted"] == 0


def test_failing_receiver_is_retried_with_the_same_id_and_history_kept(
    config_path: Path, receiver: Receiver
) -> None:
    config = load(config_path)
    receiver.script = fail_first(2, status=500)
    [pid] = make_payments(config, 1, receiver.url())
    first = run_flush(config)
    assert (first.attempted, first.failed, first.delivered) == (1, 1, 0)
    [e] = events(config)
    assert e.status == "pending" and e.attempts == 1 and e.last_status_code == 500
    assert e.last_error == "HTTP 500"
    # the first retry waits 5 s (±10 %): not due yet, due once that time has passed
    [first_attempt] = attempts(config, e.id)
    delay = (e.next_attempt_at - first_attempt.started_at).total_seconds() - first_attempt.latency_ms / 1000
    assert 4.45 <= delay <= 5.6, delay
    assert run_flush(config).attempted == 0
    assert run_flush(config, now=later(6)).failed == 1
    assert event(config, e.id).next_attempt_at - later(6) > timedelta(minutes=4)  # then 5 min
    assert run_flush(config, now=later(6 + 330)).delivered == 1
    assert [d.webhook_id for d in receiver.requests] == [e.id] * 3
    assert all(d.verified for d in receiver.requests)
    assert len({d.headers["webhook-signature"] for d in receiver.requests}) >= 1
    history = attempts(config, e.id)
    assert [(a.attempt, a.status_code) for a in history] == [(1, 500), (2, 500), (3, 200)]
    done = event(config, e.id)
    assert done.status == "delivered" and done.attempts == 3 and done.last_error is None
    assert payment(config, pid).id == pid


def test_always_failing_event_dies_after_the_last_attempt(config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    receiver.script = always(500)
    make_payments(config, 1, receiver.url())
    now = None
    for n in range(1, MAX_ATTEMPTS + 1):
        result = run_flush(config, now=now)
        assert result.attempted == 1, n
        [e] = events(config)
        now = e.next_attempt_at + timedelta(seconds=1)
    assert result.dead == 1 and e.status == "dead" and e.attempts == MAX_ATTEMPTS
    gaps = [b.started_at - a.started_at for a, b in pairwise(attempts(config, e.id))]
    assert gaps[-1] > timedelta(hours=9) and len(gaps) == MAX_ATTEMPTS - 1
    assert run_flush(config, now=now + timedelta(days=3)).attempted == 0  # dead stays dead
    assert len(receiver.requests) == MAX_ATTEMPTS


def test_gone_is_dead_at_once_and_retry_requeues_it(cli: Cli, config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    receiver.script = always(410)
    make_payments(config, 1, receiver.url())
    result = cli.ok("webhooks", "flush")
    assert (result["attempted"], result["dead"]) == (1, 1)
    [e] = events(config)
    assert e.status == "dead" and e.last_status_code == 410 and "Gone" in e.last_error
    dead = cli.ok("webhooks", "list", "--status", "dead")
    assert [d["id"] for d in dead] == [e.id]
    assert cli.ok("webhooks", "list", "--status", "pending") == []
    # the operator fixes the receiver and re-queues the event
    receiver.script = always(200)
    requeued = cli.ok("webhooks", "retry", e.id)
    assert requeued["status"] == "pending" and requeued["attempts"] == 0
    again = cli("webhooks", "retry", e.id)
    assert again.exit_code == 3 and "pending" in again.stderr, again
    missing = cli("webhooks", "retry", "evt_doesnotexist000000")
    assert missing.exit_code == 4 and "evt_doesnotexist000000" in missing.stderr, missing
    assert cli.ok("webhooks", "flush")["delivered"] == 1
    delivered = event(config, e.id)
    assert delivered.status == "delivered"
    assert [a.status_code for a in attempts(config, e.id)] == [410, 200]
    assert receiver.delivered_ids()[e.id] == 1
    # a delivered event can be re-sent on purpose, with the same webhook-id
    cli.ok("webhooks", "retry", e.id)
    assert cli.ok("webhooks", "flush")["delivered"] == 1
    assert receiver.delivered_ids()[e.id] == 2


def test_timeout_and_connection_failures_are_retried(config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)  # timeout = 1s
    refused_url = f"http://127.0.0.1:{free_port()}/hook"
    receiver.script = hang(5)
    [slow] = make_payments(config, 1, receiver.url("/slow"))
    [nobody] = make_payments(config, 1, refused_url)
    result = run_flush(config)
    assert (result.attempted, result.failed, result.delivered) == (2, 2, 0)
    slow_event = events(config, slow)[0]
    assert slow_event.status == "pending" and slow_event.last_error == "timeout after 1s"
    assert slow_event.last_status_code is None
    [slow_attempt] = attempts(config, slow_event.id)
    assert 900 <= slow_attempt.latency_ms < 3000
    refused_event = events(config, nobody)[0]
    assert refused_event.status == "pending" and refused_event.last_error.startswith("cannot connect")


def test_dropped_connection_and_redirect_are_failures(config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    [dropped] = make_payments(config, 1, receiver.url("/close"))
    [redirected] = make_payments(config, 1, receiver.url("/redirect"))
    receiver.script = lambda d: (
        close()(d) if d.path == "/close" else Reply(302, {"location": receiver.url("/elsewhere")}, b"")
    )
    result = run_flush(config)
    assert (result.attempted, result.failed) == (2, 2)
    assert "closed" in events(config, dropped)[0].last_error
    e = events(config, redirected)[0]
    assert e.last_status_code == 302 and "not followed" in e.last_error
    assert [d.path for d in receiver.requests if d.path == "/elsewhere"] == []


def test_retry_after_is_honoured(config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    receiver.script = always(429, {"retry-after": "120"})
    make_payments(config, 1, receiver.url())
    before = datetime.now(UTC)
    assert run_flush(config).failed == 1
    [e] = events(config)
    assert timedelta(seconds=119) <= e.next_attempt_at - before <= timedelta(seconds=125)
    assert run_flush(config, now=later(60)).attempted == 0
    receiver.script = always(200)
    assert run_flush(config, now=later(125)).delivered == 1


def test_long_response_bodies_are_truncated_before_storage(config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    receiver.script = always(500, body=b"x" * 200_000)
    make_payments(config, 1, receiver.url())
    run_flush(config)
    [a] = attempts(config, events(config)[0].id)
    assert a.response_body == "x" * BODY_KEEP


def test_default_url_and_skipped_events(tmp_path: Path, database_url: str, receiver: Receiver) -> None:
    without = load(hook_config(tmp_path / "none.toml", database_url))
    [orphan] = make_payments(without, 1, None)
    result = run_flush(without)
    assert (result.skipped, result.attempted) == (1, 0)
    [e] = events(without, orphan)
    assert e.status == "skipped" and "default_url" in e.last_error
    assert run_flush(without).skipped == 0  # skipped is final, not retried forever
    with_default = load(hook_config(tmp_path / "default.toml", database_url, default_url=receiver.url("/d")))
    [pid] = make_payments(with_default, 1, None)
    assert run_flush(with_default).delivered == 1
    assert [d.path for d in receiver.accepted] == ["/d"]
    assert receiver.accepted[0].payload["data"]["id"] == pid


def test_events_of_one_payment_arrive_in_creation_order(config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    receiver.script = lambda d: (
        Reply(503) if d.nth == 1 and d.payload["type"] == "payment.created" else Reply()
    )
    [pid] = make_payments(config, 1, receiver.url(), extra_events=(EVENT_DETECTED, EVENT_CONFIRMED))
    first = run_flush(config)
    # only the oldest event was tried; the later ones wait behind it although they are due
    assert first.attempted == 1
    assert [e.attempts for e in events(config, pid)] == [1, 0, 0]
    result = run_flush(config, now=later(10))
    assert result.delivered == 3
    types = [d.payload["type"] for d in receiver.accepted]
    assert types == ["payment.created", EVENT_DETECTED, EVENT_CONFIRMED]
    assert [e.status for e in events(config, pid)] == ["delivered"] * 3


def test_a_dead_event_unblocks_the_next_one(config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    receiver.script = lambda d: Reply(410) if d.payload["type"] == "payment.created" else Reply(200)
    [pid] = make_payments(config, 1, receiver.url(), extra_events=(EVENT_DETECTED,))
    result = run_flush(config)
    assert (result.dead, result.delivered) == (1, 1)
    assert [e.status for e in events(config, pid)] == ["dead", "delivered"]


def test_a_crashed_flushers_lease_expires_then_the_event_is_sent_once(
    config_path: Path, receiver: Receiver
) -> None:
    from ctripctl.db.session import get_engine, transaction

    config = load(config_path)
    make_payments(config, 1, receiver.url())
    now = datetime.now(UTC)
    with transaction(get_engine(config.database_url)) as session:  # a flusher claims, then dies
        claim = claim_due(session, now=now, limit=10, lease=timedelta(minutes=2), default_url=None)
    assert len(claim.events) == 1
    assert run_flush(config).attempted == 0  # leased: nobody else touches it
    assert run_flush(config, now=now + timedelta(minutes=1)).attempted == 0
    result = run_flush(config, now=now + timedelta(minutes=2, seconds=1))
    assert result.delivered == 1
    [e] = events(config)
    assert e.attempts == 2  # the lost attempt counts; its number has no history row
    assert [a.attempt for a in attempts(config, e.id)] == [2]
    assert receiver.delivered_ids() == {e.id: 1}


def test_list_filters_and_show(cli: Cli, config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    [a, b] = make_payments(config, 2, receiver.url(), extra_events=(EVENT_DETECTED,))
    listed = cli.ok("webhooks", "list")
    assert len(listed) == 4 and listed[0]["created_at"] >= listed[-1]["created_at"]
    assert {e["payment_id"] for e in cli.ok("webhooks", "list", "--payment", a)} == {a}
    assert len(cli.ok("webhooks", "list", "--limit", "1")) == 1
    bad = cli("webhooks", "list", "--status", "nope")
    assert bad.exit_code == 2 and "nope" in bad.stderr
    assert cli("webhooks", "show", "evt_missing").exit_code == 4
    people = cli("webhooks", "list")
    assert people.exit_code == 0 and b in people.stdout
    cli.ok("webhooks", "flush")
    shown = cli("webhooks", "show", events(config, b)[0].id)
    assert shown.exit_code == 0 and "Attempts" in shown.stdout and "200" in shown.stdout


def test_no_secret_refuses_before_claiming(tmp_path: Path, database_url: str, receiver: Receiver) -> None:
    path = hook_config(tmp_path / "nosecret.toml", database_url, secret=False)
    make_payments(load(path), 1, receiver.url())
    run = Cli(path)("webhooks", "flush")
    assert run.exit_code == 2 and "secret" in run.stderr, run
    [e] = events(load(path))
    assert e.attempts == 0 and e.lease_until is None and receiver.requests == []


def test_secret_never_appears_in_output(cli: Cli, config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    receiver.script = always(500)
    make_payments(config, 1, receiver.url())
    runs = [cli("webhooks", "flush"), cli("webhooks", "flush", "--json"), cli("webhooks", "list")]
    runs.append(cli("webhooks", "show", events(config)[0].id, "--json"))
    for run in runs:
        assert run.exit_code == 0, run
        assert TEST_SECRET not in run.stdout + run.stderr
        assert TEST_SECRET.removeprefix("whsec_") not in run.stdout + run.stderr


def test_ssrf_refused_at_creation(tmp_path: Path, database_url: str) -> None:
    strict = Cli(hook_config(tmp_path / "strict.toml", database_url, allow_private=False))
    for url in (
        "http://127.0.0.1/hook",
        "http://169.254.169.254/latest",
        "http://10.0.0.5/x",
        "ftp://x.example/",
    ):
        run = strict("payment", "create", "--chain", "local", "--amount", "1", "--webhook-url", url)
        assert run.exit_code == 2, run
        assert "Error" in run.stderr
    assert strict.ok("payment", "list") == []


def test_ssrf_refused_at_delivery(tmp_path: Path, database_url: str, receiver: Receiver) -> None:
    lax = load(hook_config(tmp_path / "lax.toml", database_url))
    make_payments(lax, 1, receiver.url())  # accepted while private targets were allowed
    strict_path = hook_config(tmp_path / "strict.toml", database_url, allow_private=False)
    result = Cli(strict_path).ok("webhooks", "flush")
    assert (result["attempted"], result["dead"]) == (1, 1)
    [e] = events(lax)
    assert e.status == "dead" and "private or internal address" in e.last_error
    assert receiver.requests == []


def test_connections_are_kept_alive_and_reused(config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    make_payments(config, 60, receiver.url())
    result = run_flush(config, concurrency=4)
    assert result.delivered == 60
    ports = {d.client_port for d in receiver.requests}
    assert 1 <= len(ports) <= 8, f"{len(ports)} connections for 60 requests at concurrency 4"


def test_a_half_read_response_does_not_poison_the_next_request(config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    make_payments(config, 6, receiver.url())
    # huge error bodies are abandoned after the read limit: their connections must be dropped
    receiver.script = lambda d: Reply(500, {}, b"y" * 300_000) if d.nth == 1 else Reply()
    first = run_flush(config, concurrency=2)
    assert (first.failed, first.delivered) == (6, 0)
    second = run_flush(config, concurrency=2, now=later(6))
    assert second.delivered == 6 and receiver.unverified() == []


def test_limit_bounds_the_pass_and_metrics_file_is_written(
    cli: Cli, config_path: Path, receiver: Receiver, tmp_path: Path
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    config = load(config_path)
    make_payments(config, 5, receiver.url())
    metrics = tmp_path / "webhooks.prom"
    first = cli.ok("webhooks", "flush", "--limit", "3", "--metrics-file", str(metrics))
    assert first["delivered"] == 3
    samples = {
        s.name: s.value for f in text_string_to_metric_families(metrics.read_text()) for s in f.samples
    }
    assert samples["ctripctl_delivered"] == 3
    assert samples["ctripctl_last_run_success"] == 1
    assert cli.ok("webhooks", "flush", "--limit", "3")["delivered"] == 2
    assert cli("webhooks", "flush", "--limit", "0").exit_code == 2


def test_a_skipped_event_can_be_requeued_once_a_url_exists(tmp_path: Path, database_url: str) -> None:
    without = hook_config(tmp_path / "none.toml", database_url)
    make_payments(load(without), 1, None)
    assert run_flush(load(without)).skipped == 1
    [e] = events(load(without))
    with Receiver() as receiver:
        fixed = hook_config(tmp_path / "fixed.toml", database_url, default_url=receiver.url())
        assert Cli(fixed).ok("webhooks", "retry", e.id)["status"] == "pending"
        assert run_flush(load(fixed)).delivered == 1
        assert receiver.delivered_ids() == {e.id: 1}


def test_a_stale_outcome_does_not_overwrite_a_newer_attempt(config_path: Path, receiver: Receiver) -> None:
    from ctripctl.db.claims import record_outcomes
    from ctripctl.db.session import get_engine, transaction
    from ctripctl.domain.events import Outcome

    config = load(config_path)
    make_payments(config, 1, receiver.url())
    now = datetime.now(UTC)
    engine = get_engine(config.database_url)
    with transaction(engine) as session:  # a slow flusher claims attempt 1 ...
        [slow] = claim_due(session, now=now, limit=1, lease=timedelta(seconds=1), default_url=None).events
    assert run_flush(config, now=now + timedelta(seconds=2)).delivered == 1  # ... another one delivers 2
    stale = Outcome(slow, now, now, 500, "HTTP 500", "late", 9000, "pending", now + timedelta(seconds=5))
    with transaction(engine) as session:  # ... and the slow one finally records its failure
        record_outcomes(session, [stale])
    [e] = events(config)
    assert e.status == "delivered" and e.attempts == 2 and e.last_status_code == 200
    assert sorted((a.attempt, a.status_code) for a in attempts(config, e.id)) == [(1, 500), (2, 200)]


def test_postgresql_flushers_skip_rows_another_claim_holds(tmp_path: Path, receiver: Receiver) -> None:
    from ctripctl.db.session import get_engine, transaction
    from tests.support.databases import migrated

    with migrated("postgresql", tmp_path) as url:
        config = load(hook_config(tmp_path / "ctrip.toml", url))
        make_payments(config, 4, receiver.url())
        now = datetime.now(UTC)
        with transaction(get_engine(url)) as session:  # a claim in progress: rows locked, not committed
            held = claim_due(session, now=now, limit=2, lease=timedelta(minutes=5), default_url=None)
            # must neither wait for nor take the locked rows (a thread, so a wait fails, not hangs)
            pool = ThreadPoolExecutor(1)
            try:
                result = pool.submit(run_flush, config).result(timeout=30)
            finally:
                pool.shutdown(wait=False)  # on failure the rollback below releases the waiter
            assert result.delivered == 2
        assert {d.webhook_id for d in receiver.accepted}.isdisjoint({c.id for c in held.events})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_connect_time_guard_refuses_internal_addresses(receiver: Receiver, host: str) -> None:
    """The second line of SSRF defence: even a URL that slipped past the pre-check
    (e.g. DNS rebound after it) cannot connect to an internal address."""
    import asyncio

    import httpx

    from ctripctl.webhooks.delivery import make_client

    url = f"http://{host}:{receiver.port}/hook"

    async def post(allow_private: bool) -> int:
        async with make_client(concurrency=2, timeout=5, allow_private=allow_private) as client:
            return (await client.post(url, content=b"{}")).status_code

    with pytest.raises(httpx.ConnectError, match="private or internal"):
        asyncio.run(post(allow_private=False))
    assert receiver.requests == []
    assert asyncio.run(post(allow_private=True)) == 401  # reached (and unsigned, so refused by it)
