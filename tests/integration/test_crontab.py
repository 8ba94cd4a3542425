"""crontab.example runs as written: every job line, once, through /bin/sh, like cron.

Two real anvil chains named as in the crontab (eth, base), both databases, a real webhook
receiver. Only the file paths (/etc, /var) and the config are swapped for the test's; the
commands, options, redirections and environment lines are the file's own. A line that
prints anything fails the test: cron would mail it to MAILTO on every run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.anvil import Anvil
from tests.support.config import TEST_SECRET, TEST_XPUB
from tests.support.evm import Chain
from tests.support.receiver import Receiver
from tests.support.sweeping import TREASURY, mnemonic_file

ROOT = Path(__file__).resolve().parents[2]
CRONTAB = ROOT / "crontab.example"
VENV_BIN = Path(sys.executable).parent
MAX_LAG = 20
FIELD = r"(\*|\*/\d+|\d+(-\d+)?(,\d+(-\d+)?)*)"
SCHEDULE = re.compile(rf"^{FIELD}\s+{FIELD}\s+{FIELD}\s+{FIELD}\s+{FIELD}\s+(?P<command>\S.*)$")
ENV_LINE = re.compile(r"^(?P<name>[A-Z_][A-Z0-9_]*)=(?P<value>.*)$")


@dataclass(frozen=True)
class Crontab:
    env: dict[str, str]
    jobs: list[tuple[str, str]]  # (schedule, command)


def parse_crontab(text: str) -> Crontab:
    env: dict[str, str] = {}
    jobs: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if match := ENV_LINE.match(line):
            env[match["name"]] = match["value"]
        elif match := SCHEDULE.match(line):
            command = match["command"]
            assert "%" not in command, f"cron turns % into a newline: {line}"
            jobs.append((line[: match.start("command")].strip(), command))
        else:
            raise AssertionError(f"neither a job nor an environment line: {line}")
    return Crontab(env, jobs)


@pytest.fixture
def base_anvil() -> Anvil:
    node = Anvil(chain_id=8453)
    yield node  # type: ignore[misc]
    node.stop()


@pytest.fixture
def site(tmp_path: Path, database_url: str, anvil: Anvil, base_anvil: Anvil) -> dict[str, Path]:
    """/etc/ctripctl, /var/log/ctripctl, /var/lib/... as directories of this test."""
    dirs = {
        "/etc/ctripctl": tmp_path / "etc",
        "/var/log/ctripctl": tmp_path / "log",
        "/var/lib/node_exporter/textfile": tmp_path / "textfile",
        "/var/lib/ctripctl": tmp_path / "state",
    }
    for path in dirs.values():
        path.mkdir()
    (dirs["/etc/ctripctl"] / "webhook-secret").write_text(TEST_SECRET + "\n")
    mnemonic_file(dirs["/etc/ctripctl"])  # wallet.mnemonic, 0600: this host sweeps
    (dirs["/etc/ctripctl"] / "ctrip.toml").write_text(
        f"""
database_url = "{database_url}"

[wallet]
xpub = "{TEST_XPUB}"

[webhooks]
secret_file = "webhook-secret"
allow_private_targets = true

[chains.eth]
chain_id = 31337
rpc_urls = ["{anvil.url}"]
confirmations = 3
max_lag_blocks = {MAX_LAG}
treasury = "{TREASURY}"

[chains.base]
chain_id = 8453
rpc_urls = ["{base_anvil.url}"]
confirmations = 3
max_lag_blocks = {MAX_LAG}
"""
    )
    return dirs


def localise(command: str, site: dict[str, Path]) -> str:
    for real, local in sorted(site.items(), key=lambda kv: -len(kv[0])):
        command = command.replace(real, str(local))
    return command


def cron_env(crontab: Crontab, site: dict[str, Path]) -> dict[str, str]:
    """The crontab's own environment lines (paths swapped), plus this venv first on PATH."""
    env = {name: localise(value, site) for name, value in crontab.env.items() if name != "MAILTO"}
    env["PATH"] = f"{VENV_BIN}:{env['PATH']}"
    env["HOME"] = str(site["/var/lib/ctripctl"])
    return env


def run_line(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [env.get("SHELL", "/bin/sh"), "-c", command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_crontab_parses_with_every_kind_of_job() -> None:
    crontab = parse_crontab(CRONTAB.read_text())
    commands = [c for _, c in crontab.jobs]
    for needed in (
        "scan --chain eth",
        "confirm --chain eth",
        "webhooks flush",
        "sweep run --chain eth",
        "db prune --older-than",
        "status",
    ):
        assert any(needed in c for c in commands), needed
    assert {"PATH", "CTRIP_CONFIG", "CTRIP_LOG_FORMAT", "MAILTO"} <= set(crontab.env)
    assert not any("CTRIP_WEBHOOK_SECRET=" in line for line in CRONTAB.read_text().splitlines())


def test_every_line_runs_as_written(
    site: dict[str, Path], chain: Chain, base_anvil: Anvil, tmp_path: Path, database_url: str
) -> None:
    crontab = parse_crontab(CRONTAB.read_text())
    env = cron_env(crontab, site)
    cwd = tmp_path / "elsewhere"  # cron's cwd is the user's home, not the config's directory
    cwd.mkdir()
    with Receiver() as receiver:
        created = subprocess.run(
            [
                "ctripctl",
                "payment",
                "create",
                "--chain",
                "eth",
                "--amount",
                "1",
                "--json",
                "--webhook-url",
                receiver.url(),
            ],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        payment = json.loads(created.stdout)
        chain.send_eth(payment["address"], 10**18)
        chain.mine(3)
        base_anvil.rpc("anvil_mine", hex(5))

        for schedule, command in crontab.jobs:
            done = run_line(localise(command, site), env, cwd)
            assert done.returncode == 0, (schedule, command, done.stderr)
            assert done.stdout == "" and done.stderr == "", (
                f"cron would mail this:\n{done.stdout}{done.stderr}"
            )

        receiver.wait_for(lambda: len(receiver.accepted) >= 3)
        types = [d.payload["type"] for d in receiver.accepted]
        assert types == ["payment.created", "payment.detected", "payment.confirmed"]
        assert all(d.verified for d in receiver.accepted)

    # One JSON summary line per pass on stderr, appended to the log (status is quiet: -q).
    lines = (site["/var/log/ctripctl"] / "ctripctl.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    passes = [(r["command"], r["chain"], r["ok"]) for r in records if r["logger"] == "ctripctl.pass"]
    assert passes == [
        ("scan", "eth", True),
        ("scan", "base", True),
        ("confirm", "eth", True),
        ("confirm", "base", True),
        ("webhooks_flush", None, True),
        ("sweep", "eth", True),
        ("db_prune", None, True),
    ]
    # Every metrics file parses and says the pass succeeded.
    prom = sorted(p.name for p in site["/var/lib/node_exporter/textfile"].iterdir())
    assert prom == [
        "ctripctl_confirm_base.prom",
        "ctripctl_confirm_eth.prom",
        "ctripctl_db_prune.prom",
        "ctripctl_scan_base.prom",
        "ctripctl_scan_eth.prom",
        "ctripctl_status.prom",
        "ctripctl_sweep_eth.prom",
        "ctripctl_webhooks_flush.prom",
    ]
    for name in prom:
        text = (site["/var/lib/node_exporter/textfile"] / name).read_text()
        success = [
            s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "ctripctl_last_run_success"
        ]
        assert success == [1.0], name
    assert "healthy" in (site["/var/lib/ctripctl"] / "status.txt").read_text()
    # The sweep line moved the confirmed payment's money to the treasury.
    assert chain.w3.eth.get_balance(TREASURY) > 0

    # Unhealthy: the health-check line prints the report (so cron mails it) and still exits 0.
    chain.mine(MAX_LAG + 1)
    [status_line] = [c for _, c in crontab.jobs if " status " in c]
    done = run_line(localise(status_line, site), env, cwd)
    assert done.returncode == 0, done.stderr
    assert "UNHEALTHY" in done.stdout
    # 20 + 1 mined here, + 1: the sweep line's transaction, mined after the scan line ran.
    assert "Error: unhealthy (1): eth: 22 blocks behind the head" in done.stdout
