"""`payment import FILE.csv`: all rows validated first, all created in one transaction."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ctripctl.db.models import Payment, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.cli import Cli

HEADER = "chain,amount,token,reference,webhook_url,expires_in\n"


def counts(url: str) -> tuple[int, int]:
    with transaction(get_engine(url)) as session:
        return (
            session.execute(select(func.count()).select_from(Payment)).scalar_one(),
            session.execute(select(func.count()).select_from(WebhookEvent)).scalar_one(),
        )


def write_csv(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def thousand_rows() -> list[str]:
    return [
        f"local,{n}.{n % 7},USDT,INV-{n:04d},http://127.0.0.1:9/h,{1 + n % 3}h"
        if n % 2
        else f"local,0.{n:04d}1,,INV-{n:04d},,"
        for n in range(1000)
    ]


def test_import_thousand_rows_then_rerun(cli: Cli, database_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path, thousand_rows())
    started = time.perf_counter()
    created = cli.ok("payment", "import", str(path))
    elapsed = time.perf_counter() - started
    print(f"\nimport of 1,000 rows on {database_url.split(':')[0]}: {elapsed:.2f} s")
    assert len(created) == 1000
    assert counts(database_url) == (1000, 1000)
    assert len({p["address"] for p in created}) == 1000
    assert [p["reference"] for p in created] == [f"INV-{n:04d}" for n in range(1000)]  # file order
    first, second = created[0], created[1]
    assert (first["token"], first["amount"], first["amount_base"]) == (None, "0.00001", str(10**13))
    assert (second["token"], second["amount"], second["amount_base"]) == ("USDT", "1.1", "1100000")
    assert second["webhook_url"] == "http://127.0.0.1:9/h"
    assert cli.ok("payment", "show", second["id"]) == second

    again = cli.ok("payment", "import", str(path))  # a retried job creates nothing new
    assert [p["id"] for p in again] == [p["id"] for p in created]
    assert counts(database_url) == (1000, 1000)
    human = cli("payment", "import", str(path))
    assert human.exit_code == 0 and "Imported 0 new, 1000 existing" in human.stdout, human


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        (["local,1,,A-1,,", "local,abc,,A-2,,"], HEADER, "CSV line 3: amount 'abc' is not"),
        (["local,1,,A-1,,", "local,1,,A-1,,"], HEADER, "CSV line 3: reference 'A-1' repeats line 2"),
        (["local,1.0000001,USDT,,,"], HEADER, "CSV line 2: amount '1.0000001' has 7 decimal places"),
        (["local,1,DAI,,,"], HEADER, "CSV line 2: unknown token 'DAI'"),
        (["bsc,1,,,,"], HEADER, "CSV line 2: unknown chain 'bsc'"),
        (["local,1,,,ftp://x/h,"], HEADER, "CSV line 2: webhook URL 'ftp://x/h' must start with http"),
        (["local,1,,,,soon"], HEADER, "CSV line 2: expires-in 'soon' is not a duration"),
        (["local,NaN,,,,"], HEADER, "CSV line 2: amount 'NaN'"),
        (["local,1e999999999,,,,"], HEADER, "CSV line 2: amount '1e999999999'"),
        (["local,-5,,,,"], HEADER, "CSV line 2: amount '-5'"),
        (["local,1,,,,,extra"], HEADER, "CSV line 2: more cells than header columns"),
        (["local,1"], "chain,amount,colour\n", "unknown column(s) colour"),
        (["1"], "amount\n", "CSV has no 'chain' column"),
        ([], HEADER, "CSV has a header but no rows"),
        ([], "", "CSV is empty"),
    ],
)
def test_one_bad_row_writes_nothing(
    cli: Cli, database_url: str, tmp_path: Path, rows: list[str], header: str, message: str
) -> None:
    good = [f"local,{n},,OK-{n},," for n in range(1, 50)]
    path = write_csv(tmp_path, good + rows if header == HEADER and rows else rows, header=header)
    run = cli("payment", "import", str(path), "--json")
    assert run.exit_code == 2, run
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), run
    if header == HEADER and rows and message.startswith("CSV line "):
        number = int(message.split()[2].rstrip(":")) + len(good)
        message = f"CSV line {number}:" + message.split(":", 1)[1]
        message = message.replace("repeats line 2", f"repeats line {2 + len(good)}")
    assert message in lines[0], run
    assert counts(database_url) == (0, 0)


def test_conflicting_existing_reference_writes_nothing(cli: Cli, database_url: str, tmp_path: Path) -> None:
    existing = cli.ok("payment", "create", "--chain", "local", "--amount", "5", "--reference", "OLD-1")
    path = write_csv(tmp_path, ["local,1,,NEW-1,,", "local,6,,OLD-1,,"])
    run = cli("payment", "import", str(path))
    assert run.exit_code == 3, run
    assert f"already belongs to {existing['id']}" in run.stderr
    assert counts(database_url) == (1, 1)


def test_mixed_new_and_existing(cli: Cli, database_url: str, tmp_path: Path) -> None:
    existing = cli.ok("payment", "create", "--chain", "local", "--amount", "5", "--reference", "OLD-1")
    path = write_csv(tmp_path, ["local,1,,NEW-1,,", "local,5,,OLD-1,,", "local,2,,,,"])
    result = cli.ok("payment", "import", str(path))
    assert result[1]["id"] == existing["id"]
    assert len({p["id"] for p in result}) == 3
    assert counts(database_url) == (3, 3)


def test_stdin_bom_and_column_order(cli: Cli, database_url: str) -> None:
    text = "\ufeffreference,amount,chain\nS-1,1.5,local\nS-2,2,local\n"
    result = cli.ok("payment", "import", "-", input=text)
    assert [(p["reference"], p["amount"]) for p in result] == [("S-1", "1.5"), ("S-2", "2")]


def test_unreadable_file(cli: Cli, tmp_path: Path) -> None:
    run = cli("payment", "import", str(tmp_path / "missing.csv"))
    assert run.exit_code == 2, run
    assert "cannot read" in run.stderr and "Traceback" not in run.stderr
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81chain")
    run = cli("payment", "import", str(binary))
    assert run.exit_code == 2, run
    assert "CSV line 1: not UTF-8" in run.stderr, run
    run = cli("payment", "import", str(tmp_path))  # a directory
    assert run.exit_code == 2 and "cannot read" in run.stderr, run
