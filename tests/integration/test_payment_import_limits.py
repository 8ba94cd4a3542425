"""`payment import`: what a file may hold, read as a stream, through the real CLI and database.

Bad bytes, NULs and oversized cells are refused with exit 2 naming the line, before
anything is written; a BOM and CRLF line ends are fine; an endless stdin stops at the
row cap instead of filling memory; each webhook host is resolved once per import.
"""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from ctripctl.payment_request import MAX_CELL, MAX_IMPORT_ROWS, parse_import
from tests.integration.test_payment_import import counts
from tests.support.cli import Cli
from tests.support.webhooks import hook_config, load

HEADER = b"chain,amount,token,reference,webhook_url,expires_in\n"
GOOD = [b"local,%d,,OK-%d,," % (n, n) for n in range(1, 4)]  # lines 2-4


@pytest.fixture
def config_path(tmp_path: Path, database_url: str) -> Path:
    return hook_config(tmp_path / "ctrip.toml", database_url)


def write(tmp_path: Path, body: bytes) -> Path:
    path = tmp_path / "orders.csv"
    path.write_bytes(body)
    return path


def refused(cli: Cli, path: Path, database_url: str, message: str) -> None:
    run = cli("payment", "import", str(path), "--json")
    assert run.exit_code == 2, run
    assert run.stdout == "" and "Traceback" not in run.stderr, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), run
    assert message in lines[0], run
    assert len(lines[0]) < 400, run  # the message does not echo a huge cell
    assert counts(database_url) == (0, 0)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b"local,1,,R-" + b"x" * 131_073 + b",,", "CSV line 5: longer than"),  # was _csv.Error, exit 1
        (b"local,1,,R-" + b"x" * (MAX_CELL + 1) + b",,", "CSV line 5: the reference cell is over 4096"),
        (b"local,1,,,http://h.example/" + b"p" * 5000 + b",", "CSV line 5: the webhook_url cell is over"),
        (b'local,1,,"' + b"y\n" * 70_000 + b'",,', "CSV line 5: a cell is over 4096 characters"),
        (b"local,1,,caf\xe9,,", "CSV line 5: not UTF-8 text (byte 0xe9"),
        (b"local,1,,\xff\xfe,,", "CSV line 5: not UTF-8 text (byte 0xff"),
        (b"local,1,,A\x00B,,", "CSV line 5: contains a NUL character"),
        (b"local,1\x00,,,,", "CSV line 5: contains a NUL character"),
    ],
    ids=["cell-131073", "cell-4097", "url-5000", "multiline-cell", "latin1", "ff-fe", "nul", "nul-2"],
)
def test_a_bad_line_exits_2_naming_it_and_writes_nothing(
    config_path: Path, database_url: str, tmp_path: Path, bad_line: bytes, message: str
) -> None:
    body = HEADER + b"\n".join(GOOD) + b"\n" + bad_line + b"\n" + b"local,9,,AFTER,,\n"
    refused(Cli(config_path), write(tmp_path, body), database_url, message)


def test_utf16_and_binary_files_are_refused_on_line_one(
    config_path: Path, database_url: str, tmp_path: Path
) -> None:
    cli = Cli(config_path)
    utf16 = write(tmp_path, (HEADER + GOOD[0] + b"\n").decode().encode("utf-16"))
    refused(cli, utf16, database_url, "CSV line 1: not UTF-8 text (byte 0xff")
    binary = write(tmp_path, b"\xff\xfe\x00\x81chain")
    refused(cli, binary, database_url, "CSV line 1: not UTF-8 text")
    nul_header = write(tmp_path, b"chain,amount\x00\nlocal,1\n")
    refused(cli, nul_header, database_url, "CSV line 1: contains a NUL character")


def test_bom_and_crlf_from_a_file_and_from_stdin(
    config_path: Path, database_url: str, tmp_path: Path
) -> None:
    cli = Cli(config_path)
    body = b"\xef\xbb\xbfreference,amount,chain,webhook_url\r\nW-1,1.5,local,http://127.0.0.1:9/a\r\n\r\nW-2,2,local,\r\n"
    created = cli.ok("payment", "import", str(write(tmp_path, body)))
    assert [(p["reference"], p["amount"], p["webhook_url"]) for p in created] == [
        ("W-1", "1.5", "http://127.0.0.1:9/a"),
        ("W-2", "2", None),
    ]
    again = cli.ok("payment", "import", "-", input=body.decode("utf-8"))  # stdin: the same bytes
    assert [p["id"] for p in again] == [p["id"] for p in created]
    assert counts(database_url) == (2, 2)
    crlf_bad = write(tmp_path, HEADER.replace(b"\n", b"\r\n") + b"local,1,,X,,\r\nlocal,abc,,Y,,\r\n")
    run = cli("payment", "import", str(crlf_bad))
    assert run.exit_code == 2 and "CSV line 3: amount 'abc'" in run.stderr, run


class Endless(io.RawIOBase):
    """A CSV that never ends; counts what was read from it."""

    def __init__(self) -> None:
        self.read_bytes = 0
        self._pending = HEADER
        self._n = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while len(self._pending) < len(buffer):
            self._n += 1
            self._pending += b"local,1,,E-%d,,\n" % self._n
        n = len(buffer)
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.read_bytes += n
        return n


def test_reading_stops_at_the_row_cap(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctripctl.payment_request as payment_request
    from ctripctl.errors import InputError

    monkeypatch.setattr(payment_request, "MAX_IMPORT_ROWS", 1000)
    source = Endless()
    with pytest.raises(InputError, match="more than 1000 rows"):
        parse_import(load(hook_config(tmp_path / "c.toml", sqlite_url)), io.BufferedReader(source))
    assert source.read_bytes < 1001 * 30 + 64 * 1024  # the rows up to the cap, plus one buffer


def test_an_endless_stdin_exits_2_at_the_row_cap(tmp_path: Path, sqlite_url: str) -> None:
    """The real CLI in a subprocess, fed rows for as long as it reads them."""
    config = hook_config(tmp_path / "c.toml", sqlite_url)
    ctripctl = Path(sys.executable).with_name("ctripctl")
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [str(ctripctl), "payment", "import", "-", "--config", str(config)],
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=stderr,
        )
    assert process.stdin is not None
    pipe = process.stdin

    def feed() -> None:
        rows = b"".join(b"local,1,,,,\n" for _ in range(1000))
        try:
            pipe.write(HEADER)
            while True:
                pipe.write(rows)
        except OSError:  # the import stopped reading
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError("import kept reading an endless stdin") from None
    finally:
        feeder.join(timeout=5)
        with contextlib.suppress(OSError):
            pipe.close()
    assert process.returncode == 2, err.read_text()
    assert f"more than {MAX_IMPORT_ROWS} rows" in err.read_text()
    assert out.read_bytes() == b""
    assert counts(sqlite_url) == (0, 0)


def test_each_webhook_host_is_resolved_once(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With private targets refused, 300 rows over three hosts ask DNS three times."""
    cli = Cli(hook_config(tmp_path / "strict.toml", database_url, allow_private=False))
    asked: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    public = {"hooks.shop-a.example": "93.184.216.34", "hooks.shop-b.example": "93.184.216.35"}

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in public or host == "inside.shop-c.example":
            asked.append(host)
            address = public.get(host, "10.0.0.7")
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    hosts = ["hooks.shop-a.example", "HOOKS.shop-b.example", "hooks.shop-a.example:8443"]
    rows = [f"local,1,,H-{n},https://{hosts[n % 3]}/h/{n}," for n in range(300)]
    path = write(tmp_path, HEADER + "\n".join(rows).encode() + b"\n")
    assert len(cli.ok("payment", "import", str(path))) == 300
    assert sorted(asked) == ["hooks.shop-a.example", "hooks.shop-b.example"]
    asked.clear()
    rows.append("local,1,,H-inside,https://inside.shop-c.example/h,")
    path = write(tmp_path, HEADER + "\n".join(rows).encode() + b"\n")
    run = cli("payment", "import", str(path))
    assert run.exit_code == 2 and "CSV line 302:" in run.stderr and "private or internal" in run.stderr, run
    assert sorted(asked) == ["hooks.shop-a.example", "hooks.shop-b.example", "inside.shop-c.example"]
    assert counts(database_url) == (300, 300)
