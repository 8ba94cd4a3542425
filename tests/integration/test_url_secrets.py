"""No command ever shows an RPC API key or a database password: every command of the app,
node up and node down, with `-vv` (httpx's and httpcore's request logs included) and with
`--log-format json`, stdout, stderr and the metrics file.

Hosted providers put the key in the path (`/v3/KEY`) or the query (`?apikey=KEY`). anvil
answers only at `/`, so the node sits behind tests/support/rpc_proxy.py, which takes any
path. The database URL carries a password and a query option (PostgreSQL here trusts
local connections, so both are accepted and ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from sqlalchemy.engine import make_url

from ctripctl.cli.app import app
from tests.support.anvil import Anvil
from tests.support.cli import Cli, Run
from tests.support.config import write_config
from tests.support.evm import Chain
from tests.support.rpc_proxy import RpcProxy
from tests.support.sweeping import mnemonic_file, paid_and_confirmed, sweep_config

SECRETS = ("SECRETKEY123", "SECRETKEY456", "DBSECRET321", "DBSECRET654")
#: Global options before the command, and whether the command gets `--json`:
#: people's tables with text logs, and scripts' JSON with JSON logs.
VARIANTS = ((("-vv",), False), (("-vv", "--log-format", "json"), True))


def secret_rpc_url(proxy: RpcProxy) -> str:
    return f"{proxy.url}/v3/SECRETKEY123?apikey=SECRETKEY456"


def secret_database_url(url: str) -> str:
    with_secrets = make_url(url).set(password="DBSECRET321")
    query = {**with_secrets.query, "application_name": "DBSECRET654"}
    return with_secrets.set(query=query).render_as_string(hide_password=False)


def commands() -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf command of the typer app, as (path, click command): new ones included."""

    def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                yield from walk(sub, (*path, name))
        else:
            yield path, command

    yield from walk(typer.main.get_command(app), ())


def arguments(path: tuple[str, ...], command: Any, values: dict[str, str], metrics: Path) -> list[str]:
    """What `path` needs to run: its required parameters by name, plus --metrics-file."""
    args: list[str] = []
    for param in command.params:
        opts = list(getattr(param, "opts", []))
        if "--metrics-file" in opts:
            args += ["--metrics-file", str(metrics)]
        if not param.required:
            continue
        key = f"{' '.join(path)}:{param.name}"
        value = values.get(key, values.get(param.name))
        assert value is not None, f"tell this test what to pass as {param.name!r} to `{' '.join(path)}`"
        args += [opts[0], value] if opts and opts[0].startswith("-") else [value]
    return args


def has_option(command: Any, option: str) -> bool:
    return any(option in getattr(p, "opts", []) for p in command.params)


def assert_clean(run: Run, where: str, metrics: Path) -> str:
    shown = run.stdout + run.stderr + (metrics.read_text() if metrics.exists() else "")
    for secret in SECRETS:
        assert secret not in shown, f"{secret} shown by {where}:\n{run}"
    assert "ops:" not in shown, f"user-info shown by {where}:\n{run}"
    return shown


@pytest.fixture
def setup(
    tmp_path: Path, postgres_url: str, anvil: Anvil, chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Cli, RpcProxy, dict[str, str]]]:
    proxy = RpcProxy(anvil.url)
    monkeypatch.setenv("CTRIP_MNEMONIC_FILE", str(mnemonic_file(tmp_path)))
    database = secret_database_url(postgres_url)
    config = sweep_config(tmp_path, database_url=database, rpc_url=secret_rpc_url(proxy))
    cli = Cli(config)
    # State for the commands that take an id: a confirmed, swept payment with events,
    # and a pending one to cancel.
    confirmed = paid_and_confirmed(cli, chain, "1")
    pending = cli.ok("payment", "create", "--chain", "local", "--amount", "0.2")
    cli.ok("sweep", "run", "--chain", "local")
    [swept] = cli.ok("sweep", "list")
    event = cli.ok("webhooks", "list")[0]
    csv = tmp_path / "payments.csv"
    csv.write_text("chain,amount\nlocal,0.3\n")
    values = {
        "chain": "local",
        "amount": "0.1",
        "file": str(csv),
        "payment_id": confirmed["id"],
        "payment cancel:payment_id": pending["id"],
        "event_id": event["id"],
        "sweep_id": swept["id"],
    }
    try:
        yield cli, proxy, values
    finally:
        proxy.stop()


def run_everything(
    cli: Cli, tmp_path: Path, values: dict[str, str], phase: str, init_args: list[str]
) -> list[str]:
    """Every command in every variant; returns what each showed (all checked already)."""
    shown: list[str] = []
    for path, command in commands():
        for number, (options, as_json) in enumerate(VARIANTS):
            metrics = tmp_path / "metrics" / phase / f"{'-'.join(path)}-{number}.prom"
            metrics.parent.mkdir(parents=True, exist_ok=True)
            args = arguments(path, command, values, metrics)
            if as_json and has_option(command, "--json"):
                args.append("--json")
            runner = cli
            if path == ("init",):  # a fresh config each time, from URLs with secrets
                runner = Cli(tmp_path / f"init-{phase}-{number}" / "ctrip.toml")
                args += init_args
            run = runner(*options, *path, *args)
            where = f"{phase}: ctripctl {' '.join([*options, *path, *args])}"
            shown.append(assert_clean(run, where, metrics))
    return shown


def test_no_command_shows_a_url_secret(
    tmp_path: Path, setup: tuple[Cli, RpcProxy, dict[str, str]], postgres_url: str
) -> None:
    cli, proxy, values = setup
    init_args = ["--rpc-url", secret_rpc_url(proxy), "--database-url", secret_database_url(postgres_url)]
    paths = [path for path, _ in commands()]
    for expected in [("chain", "list"), ("chain", "status"), ("status",), ("db", "current"), ("init",)]:
        assert expected in paths
    assert {p for p in paths if p[0] == "sweep"} >= {("sweep", s) for s in ("run", "tank", "list", "show")}

    up = "\n".join(run_everything(cli, tmp_path, values, "up", init_args))
    # The test looks where the secrets would be: the masked URLs are there instead.
    assert f"{proxy.url}/***" in up  # chain list, chain status, status
    assert f'HTTP Request: POST {proxy.url}/*** \\"HTTP/1.1 200 OK\\"' in up  # httpx, JSON log
    assert f'HTTP Request: POST {proxy.url}/*** "HTTP/1.1 200 OK"' in up  # httpx, text log
    assert "postgresql+psycopg://127.0.0.1:5432/***" in up  # db current, init

    proxy.mode = "error"  # the node answers HTTP 500: httpx still logs every URL it asks
    failing = "\n".join(run_everything(cli, tmp_path, values, "error", init_args))
    assert f"no usable RPC URL: {proxy.url}/***: HTTP 500" in failing
    assert '"HTTP/1.1 500 Internal Server Error"' in failing

    proxy.stop()  # nothing listens any more
    down = "\n".join(run_everything(cli, tmp_path, values, "down", init_args))
    assert f"no usable RPC URL: {proxy.url}/***: ConnectError" in down


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_failover_warning_masks_both_urls(
    tmp_path: Path, sqlite_url: str, anvil: Anvil, chain: Chain, log_format: str
) -> None:
    # The first node dies mid-pass (after its chain id and head): the scan fails over to
    # the second, warns, and redoes the pass there. Neither key may show.
    first = RpcProxy(anvil.url, fail_after=2)
    second = RpcProxy(anvil.url)
    try:
        config = write_config(
            tmp_path / "ctrip.toml",
            database_url=sqlite_url,
            rpc_urls=[f"{first.url}/v2/SECRETKEY123", secret_rpc_url(second)],
        )
        chain.mine(5)
        run = Cli(config)("-vv", "--log-format", log_format, "scan", "--chain", "local")
        assert run.exit_code == 0, run
        assert "the node changed mid-pass" in run.stderr, run
        assert f"failover to {second.url}/***" in run.stderr, run
        assert_clean(run, "scan with a failover", tmp_path / "none.prom")
    finally:
        first.stop()
        second.stop()
