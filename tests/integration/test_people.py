"""People at a terminal (issue 15): what to hand the customer, what a wait means, what
will happen — through the real CLI, against anvil and both databases.

Terminal behaviour (the QR code, colours, the INFO summary line) is checked on a real
pseudo-terminal: the CLI runs in a subprocess whose stdout and stderr are a pty.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ctripctl.db.session import get_engine, transaction
from tests.support.cli import Cli
from tests.support.config import write_config
from tests.support.evm import Chain

ROOT = Path(__file__).resolve().parents[2]
ETH = 10**18
ANSI = re.compile(r"\x1b\[")
ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def run_on_terminal(args: list[str], *, columns: int = 100) -> tuple[int, str]:
    """Run `python -m ctripctl ARGS` with stdout and stderr on one pseudo-terminal."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "ctripctl", *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            process.kill()
            raise AssertionError("the CLI hung on the terminal")
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return process.wait(timeout=30), b"".join(chunks).decode()


def run_piped(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m ctripctl ARGS` with stdout and stderr going to pipes (a file, a log)."""
    return subprocess.run(
        [sys.executable, "-m", "ctripctl", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def create(cli: Cli, *args: str) -> dict[str, Any]:
    return cli.ok("payment", "create", "--amount", "1", *args)  # type: ignore[no-any-return]


# -- 1. a payment request a wallet can scan ---------------------------------------------------
def decode_qr(path: Path) -> str:
    import zxingcpp
    from PIL import Image

    with Image.open(path) as image:
        [barcode] = zxingcpp.read_barcodes(image.convert("L"))
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode
    return barcode.text


def test_payment_uri_and_its_qr_code_decode_back(cli: Cli, token: Any, tmp_path: Path) -> None:
    native = create(cli)
    assert native["payment_uri"] == f"ethereum:{native['address']}@31337?value={10**18}"
    usdt = create(cli, "--token", "USDT", "--amount", "12.5")
    assert usdt["payment_uri"] == (
        f"ethereum:{token.address}@31337/transfer?address={usdt['address']}&uint256=12500000"
    )
    for payment in (native, usdt):
        png = tmp_path / f"{payment['id']}.png"
        written = cli.ok("payment", "qr", payment["id"], "--png", str(png))
        assert written == {"id": payment["id"], "payment_uri": payment["payment_uri"], "file": str(png)}
        assert decode_qr(png) == payment["payment_uri"]  # a real decoder reads back the exact URI
    svg = tmp_path / "native.svg"
    run = cli("payment", "qr", native["id"], "--svg", str(svg))
    assert run.exit_code == 0, run
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg")) and native["payment_uri"] in run.stdout
    both = cli("payment", "qr", native["id"], "--svg", str(svg), "--png", str(tmp_path / "x.png"))
    assert both.exit_code == 2 and "give --svg or --png, not both" in both.stderr
    assert cli("payment", "qr", "pay_nope").exit_code == 4
    unwritable = cli("payment", "qr", native["id"], "--png", str(tmp_path / "no" / "dir.png"))
    assert unwritable.exit_code == 2 and "cannot write" in unwritable.stderr, unwritable


def test_webhook_payload_carries_the_payment_uri(cli: Cli, database_url: str) -> None:
    from sqlalchemy import select

    from ctripctl.db.models import WebhookEvent

    p = create(cli)
    with transaction(get_engine(database_url)) as session:
        [event] = session.execute(select(WebhookEvent).where(WebhookEvent.payment_id == p["id"])).scalars()
        assert event.payload["data"]["payment_uri"] == p["payment_uri"]
        assert event.payload["data"]["chain_id"] == 31337


def test_qr_code_on_a_terminal_only(config_file: Path, cli: Cli) -> None:
    p = create(cli)
    config = ["--config", str(config_file)]
    code, screen = run_on_terminal(["payment", "show", p["id"], *config], columns=80)
    assert code == 0, screen
    assert "▀" in screen and ANSI.search(screen)  # half blocks, coloured dark on light
    assert p["payment_uri"] in screen.replace("\r\n", "")
    code, screen = run_on_terminal(["payment", "show", p["id"], "--no-qr", *config])
    assert code == 0 and "▀" not in screen, screen
    piped = run_piped(["payment", "show", p["id"], *config])  # not a terminal: no QR, no colour
    assert piped.returncode == 0, piped.stderr
    assert "▀" not in piped.stdout and not ANSI.search(piped.stdout + piped.stderr)
    assert p["payment_uri"] in piped.stdout


# -- 2. depth and the wait ---------------------------------------------------------------------
def test_confirm_explains_the_wait_and_show_gives_the_depth(
    config_file: Path, cli: Cli, chain: Chain
) -> None:
    p = create(cli, "--reference", "W-1")
    chain.send_eth(p["address"], ETH)
    scanned = cli.ok("scan")  # --chain left out: exactly one chain is configured
    assert scanned["transfers_found"] == 1
    block = chain.head
    waited = cli.ok("confirm")
    assert waited["confirmed"] == 0 and waited["waiting"] == 1
    assert waited["waiting_from_block"] == block and waited["required_depth"] == 3
    screen = cli("confirm")
    assert screen.exit_code == 0, screen
    assert (
        f"1 credit waiting for depth 3, head {block} (the first, in block {block}, is 1 of 3)"
        in screen.stdout
    )
    shown = cli("payment", "show", p["id"])
    assert shown.exit_code == 0, shown
    assert re.search(r"depth\s+1 of 3", shown.stdout), shown.stdout
    chain.mine(2)
    assert cli.ok("confirm")["confirmed"] == 1
    done = cli.ok("confirm")
    assert (done["confirmed"], done["waiting"], done["waiting_from_block"]) == (0, 0, None)
    assert "waiting" not in cli("confirm").stdout
    assert cli.ok("payment", "show", p["id"])["status"] == "confirmed"
    # Paid: no QR code inviting a second payment, on show or on a create that finds it again.
    for args in (["payment", "show", p["id"]], ["payment", "create", "--amount", "1", "--reference", "W-1"]):
        code, screen = run_on_terminal([*args, "--config", str(config_file)])
        assert code == 0 and "confirmed" in screen and "▀" not in screen, screen


# -- 4. tables at 80 and 200 columns -----------------------------------------------------------
def _lines(text: str) -> list[str]:
    return text.splitlines()


@pytest.mark.parametrize("columns", [80, 100, 200])
def test_tables_keep_ids_addresses_and_hashes_whole(
    config_file: Path, cli: Cli, chain: Chain, columns: int
) -> None:
    payments = [create(cli, "--reference", f"ORDER-{n}-with-a-longish-reference") for n in range(3)]
    receipt = chain.send_eth(payments[0]["address"], ETH)
    cli.ok("scan")
    tx_hash = receipt["transactionHash"].hex()
    tx_hash = tx_hash if tx_hash.startswith("0x") else "0x" + tx_hash
    events = cli.ok("webhooks", "list")
    config = ["--config", str(config_file)]
    screens = {
        "payment list": run_piped(["payment", "list", *config], COLUMNS=str(columns)),
        "payment show": run_piped(["payment", "show", payments[0]["id"], *config], COLUMNS=str(columns)),
        "webhooks list": run_piped(["webhooks", "list", *config], COLUMNS=str(columns)),
    }
    for name, run in screens.items():
        assert run.returncode == 0, (name, run.stderr)
        # The payment URI is one word on its own line, never folded: the terminal wraps it.
        too_wide = [line for line in _lines(run.stdout) if len(line) > columns and "ethereum:" not in line]
        assert not too_wide, (name, too_wide)
    must_be_whole = {
        "payment list": [p["id"] for p in payments],
        "payment show": [payments[0]["id"], payments[0]["address"], tx_hash]
        + [e["id"] for e in events if e["payment_id"] == payments[0]["id"]],
        "webhooks list": [e["id"] for e in events],
    }
    for name, values in must_be_whole.items():
        text = screens[name].stdout
        for value in values:
            assert any(value in line for line in _lines(text)), (name, value, text)
        assert "…" not in text, (name, text)  # nothing cut short
    listing = screens["payment list"].stdout
    if columns == 200:  # room for everything
        for header in ("id", "chain", "amount", "received", "status", "address", "reference", "expires_at"):
            assert header in listing
        assert all(p["address"] in listing for p in payments)
    else:  # the less important columns make way
        assert "expires_at" not in listing and "status" in listing


# -- 5. say what will happen -------------------------------------------------------------------
def test_create_panel_says_where_events_go(tmp_path: Path, database_url: str, anvil: Any) -> None:
    def panel(extra: str, *args: str) -> str:
        path = write_config(tmp_path / "c.toml", database_url=database_url, rpc_urls=[anvil.url], extra=extra)
        run = Cli(path)("payment", "create", "--amount", "1", *args)
        assert run.exit_code == 0, run
        return run.stdout

    assert re.search(r"webhook\s+none: events are recorded, not sent", panel(""))
    shown = panel('default_url = "https://shop.example/hooks/ctrip?token=s3cret"')
    assert re.search(r"webhook\s+https://shop.example/\*\*\* \(\[webhooks\] default_url\)", shown), shown
    assert "s3cret" not in shown
    own = panel("", "--webhook-url", "http://127.0.0.1:9/mine")
    assert re.search(r"webhook\s+http://127.0.0.1:9/\*\*\*\s", own), own


def test_chain_may_be_left_out_only_with_one_chain(tmp_path: Path, database_url: str, anvil: Any) -> None:
    treasury = 'treasury = "0x000000000000000000000000000000000000dEaD"'
    one = Cli(
        write_config(
            tmp_path / "one.toml", database_url=database_url, rpc_urls=[anvil.url], chain_extra=treasury
        )
    )
    for args in (("scan",), ("confirm",), ("chain", "status"), ("sweep", "tank")):
        run = one(*args, "--json")
        assert run.exit_code == 0, (args, run)
        assert run.json()["chain"] == "local"
    assert one.ok("payment", "create", "--amount", "1")["chain"] == "local"
    two_chains = f"""
[chains.other]
chain_id = 31337
rpc_urls = ["{anvil.url}"]
"""
    path = write_config(tmp_path / "two.toml", database_url=database_url, rpc_urls=[anvil.url])
    path.write_text(path.read_text() + two_chains)
    two = Cli(path)
    for args in (
        ("scan",),
        ("confirm",),
        ("chain", "status"),
        ("sweep", "tank"),
        ("sweep", "run", "--dry-run"),
        ("payment", "create", "--amount", "1"),
    ):
        run = two(*args)
        assert run.exit_code == 2, (args, run)
        assert "--chain is required: 2 chains are configured (local, other)" in run.stderr, run
    assert two.ok("scan", "--chain", "other")["chain"] == "other"


def reset_node_after_a_confirmed_payment(cli: Cli, chain: Chain) -> dict[str, Any]:
    p = create(cli)
    snapshot = chain.snapshot()
    chain.send_eth(p["address"], ETH)
    chain.mine(5)
    cli.ok("scan")
    cli.ok("confirm")
    assert cli.ok("payment", "show", p["id"])["status"] == "confirmed"
    chain.revert(snapshot)  # the node's chain now ends below our checkpoint
    return p


def test_a_node_shorter_than_the_checkpoint_is_named_with_its_fix(cli: Cli, chain: Chain) -> None:
    """A reset node: scan and status say so plainly and name the exact rescan command."""
    reset_node_after_a_confirmed_payment(cli, chain)
    command = "`ctripctl scan --chain local --from-block 0`"
    scan = cli("scan")
    assert scan.exit_code == 0, scan
    assert "ends at block" in scan.stderr and "below the checkpoint" in scan.stderr and command in scan.stderr
    status = cli("status", "--json")
    assert status.exit_code == 7, status
    [problem] = [x for x in status.json()["problems"] if x["code"] == "node_behind"]
    assert "below the checkpoint" in problem["message"] and command in problem["message"]


def test_the_named_rescan_orphans_the_vanished_credits(cli: Cli, chain: Chain) -> None:
    p = reset_node_after_a_confirmed_payment(cli, chain)
    rescan = cli("scan", "--chain", "local", "--from-block", "0", "--json")
    assert rescan.exit_code == 0, rescan
    assert rescan.json()["transfers_orphaned"] == 1
    payment = cli.ok("payment", "show", p["id"])
    assert [t["state"] for t in payment["transfers"]] == ["orphaned"]
    assert payment["status"] != "confirmed"


def test_info_summary_line_is_for_logs(config_file: Path, cli: Cli, chain: Chain) -> None:
    config = ["--config", str(config_file)]
    code, screen = run_on_terminal(["confirm", *config])
    assert code == 0, screen
    assert "ctripctl.pass" not in screen and "confirm local" in screen  # the panel says it
    code, screen = run_on_terminal(["confirm", *config, "-v"])
    assert code == 0 and "INFO ctripctl.pass confirm chain=local ok=true" in screen, screen
    piped = run_piped(["confirm", *config])  # a log file, cron: the line is there
    assert piped.returncode == 0 and "INFO ctripctl.pass confirm chain=local ok=true" in piped.stderr
    # A node that is down: one clean line on the terminal, the failed run's line in logs.
    down = config_file.read_text().replace(cli_url := _rpc_url(config_file), "http://127.0.0.1:9")
    config_file.write_text(down)
    code, screen = run_on_terminal(["confirm", *config])
    line = ANSI_CODE.sub("", screen).strip()
    assert code == 5 and "\n" not in line and line.startswith("Error: "), screen
    piped = run_piped(["confirm", *config])
    assert piped.returncode == 5 and "WARNING ctripctl.pass confirm chain=local ok=false" in piped.stderr
    assert cli_url not in down


def _rpc_url(config: Path) -> str:
    found = re.search(r'rpc_urls = \["([^"]+)"\]', config.read_text())
    assert found is not None
    return found.group(1)


def test_no_escape_codes_off_a_terminal(config_file: Path, cli: Cli, chain: Chain) -> None:
    p = create(cli)
    chain.send_eth(p["address"], ETH)
    config = ["--config", str(config_file)]
    for args in (
        ["payment", "create", "--amount", "2"],
        ["payment", "show", p["id"]],
        ["payment", "list"],
        ["payment", "qr", p["id"]],
        ["scan"],
        ["confirm"],
        ["chain", "list"],
        ["status"],
        ["payment", "show", "pay_nope"],  # an error line
        ["payment", "create", "--amount", "x"],
    ):
        run = run_piped([*args, *config])
        assert not ANSI.search(run.stdout + run.stderr), (args, run.stdout, run.stderr)
    code, screen = run_on_terminal(["payment", "list", *config])
    assert code == 0 and ANSI.search(screen)  # colour where it belongs


def test_demo_steps_carry_no_escape_codes_into_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    demo.step("Set up")
    assert capsys.readouterr().out == "\n== Set up\n"


@pytest.mark.parametrize("terminal", [True, False])
def test_the_drawn_qr_code_scans(terminal: bool, tmp_path: Path) -> None:
    """The QR code drawn on a terminal (colours) and off one (characters) decodes back."""
    from PIL import Image

    from ctripctl.cli.render import qr_text

    uri = (
        "ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer"
        "?address=0xfDE6Af53d72605A1528717404C5FF6455e598a44&uint256=12500000"
    )
    text = qr_text(uri, terminal=terminal)
    rows: list[list[int]] = [[], []]
    pixels: list[list[int]] = []
    styles = {span.start: str(span.style) for span in text.spans}
    for index, char in enumerate(text.plain):
        if char == "\n":
            pixels += rows
            rows = [[], []]
            continue
        if terminal:  # "▀": the upper module in the foreground colour, the lower in the background
            upper, lower = styles[index].split(" on ")
            dark = (upper == "black", lower == "black")
        else:
            dark = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}[char]
        rows[0].append(0 if dark[0] else 255)
        rows[1].append(0 if dark[1] else 255)
    image = Image.new("L", (len(pixels[0]), len(pixels)))
    image.putdata([value for row in pixels for value in row])
    path = tmp_path / "drawn.png"
    image.resize((image.width * 8, image.height * 8), Image.NEAREST).save(path)
    assert decode_qr(path) == uri
