"""A credit's identity survives a reorg that moves its transaction to another block.

Log indexes count across the whole block: re-mined behind (or no longer behind) another
transaction, every log of a transaction gets another index. A credit is identified by its
place among its own transaction's logs instead, so the same credits are found again —
exact amounts, no second row, no crash — in whichever block the transaction lands.
Real anvil (anvil_reorg), a disperse.app-style batch payout (tests/contracts/Disperse.sol),
SQLite and PostgreSQL, both scan sources.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import select, update

from ctripctl.db import migrate
from ctripctl.db.models import Transfer
from ctripctl.db.session import get_engine, transaction
from tests.support.cli import Cli
from tests.support.config import write_config
from tests.support.databases import postgres_schema, sqlite_file
from tests.support.evm import Chain
from tests.support.queries import event_types

USDT = 10**6


@pytest.fixture(params=["blocks", "receipts"])
def source_cli(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str, chain: Chain, token: Any
) -> Cli:
    config = write_config(
        tmp_path / "ctrip.toml",
        database_url=database_url,
        rpc_urls=[chain.anvil.url],
        token_address=token.address,
        chain_extra=f'scan_source = "{request.param}"',
    )
    return Cli(config)


def create(cli: Cli, amount: str) -> dict[str, Any]:
    return cli.ok("payment", "create", "--chain", "local", "--amount", amount, "--token", "USDT")


def scan(cli: Cli) -> dict[str, Any]:
    return cli.ok("scan", "--chain", "local")


def rows(url: str) -> list[tuple[str, int, str, int, int | None, int, str]]:
    """(payment, block, block hash, log index, position, amount, state) of every transfer."""
    with transaction(get_engine(url)) as session:
        found = session.execute(
            select(
                Transfer.payment_id,
                Transfer.block_number,
                Transfer.block_hash,
                Transfer.log_index,
                Transfer.tx_log_position,
                Transfer.amount_base,
                Transfer.state,
            ).order_by(Transfer.payment_id, Transfer.amount_base)
        ).all()
        return [tuple(r) for r in found]  # type: ignore[misc]


def mint_request(chain: Chain, token: Any) -> dict[str, Any]:
    """A transaction with one Transfer log (to the payer, not watched), to go first in a block."""
    return chain.request(token.functions.mint(chain.payer, 1), chain.accounts[0])


def payout_logs(chain: Chain, tx_hash: Any) -> tuple[int, str, list[int]]:
    """(block number, block hash, log indexes) of the payout as the node has it now."""
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20)  # a loaded node can lag
    return (
        receipt["blockNumber"],
        receipt["blockHash"].to_0x_hex(),
        [log["logIndex"] for log in receipt["logs"]],
    )


def check_exact(cli: Cli, url: str, a: dict[str, Any], b: dict[str, Any], tx_hash: Any, chain: Chain) -> None:
    """A holds 100 and 5, B holds 7, all three in the payout's current block with its
    current log indexes; nothing orphaned, nothing twice."""
    block, block_hash, indexes = payout_logs(chain, tx_hash)
    # logs: [payer -> disperse (total), -> A 100, -> A 5, -> B 7]: positions 1, 2, 3
    expected = sorted(
        [
            (a["id"], block, block_hash, indexes[2], 2, 5 * USDT, "seen"),
            (a["id"], block, block_hash, indexes[1], 1, 100 * USDT, "seen"),
            (b["id"], block, block_hash, indexes[3], 3, 7 * USDT, "seen"),
        ]
    )
    assert sorted(rows(url)) == expected
    shown_a = cli.ok("payment", "show", a["id"])
    shown_b = cli.ok("payment", "show", b["id"])
    assert (shown_a["status"], shown_a["received_base"], shown_a["overpaid"]) == (
        "detected",
        str(105 * USDT),
        False,
    )
    assert (shown_b["status"], shown_b["received_base"], shown_b["overpaid"]) == (
        "detected",
        str(7 * USDT),
        False,
    )


def later_passes_work(cli: Cli, url: str, a: dict[str, Any], b: dict[str, Any], chain: Chain) -> None:
    """Every later scan exits 0; the credits confirm at depth with their exact amounts."""
    for _ in range(3):
        chain.mine(2)
        run = cli("scan", "--chain", "local", "--json")
        assert run.exit_code == 0, run
    assert cli.ok("confirm", "--chain", "local")["confirmed"] == 3
    assert scan(cli)["transfers_found"] == 0
    for payment, amount in ((a, 105), (b, 7)):
        shown = cli.ok("payment", "show", payment["id"])
        assert (shown["status"], shown["confirmed_base"]) == ("confirmed", str(amount * USDT))
        assert event_types(url, payment["id"]) == ["payment.created", "payment.detected", "payment.confirmed"]


def test_payout_re_mined_behind_another_transaction(
    source_cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """Re-mined one block later behind a mint: every log index of the payout grows by one."""
    cli = source_cli
    a, b = create(cli, "105"), create(cli, "7")
    disperse = chain.deploy_disperse(token)
    payouts = [(a["address"], 100 * USDT), (a["address"], 5 * USDT), (b["address"], 7 * USDT)]
    tx_hash = chain.disperse_call(disperse, token, payouts).transact({"from": chain.payer})
    before = payout_logs(chain, tx_hash)
    chain.mine(1)
    assert scan(cli)["transfers_found"] == 3
    check_exact(cli, database_url, a, b, tx_hash, chain)

    depth = chain.head - before[0] + 1
    chain.reorg(depth, [(mint_request(chain, token), 1), (chain.same_transaction(tx_hash), 1)])
    after = payout_logs(chain, tx_hash)
    assert after[0] == before[0] + 1 and after[2] == [i + 1 for i in before[2]]

    result = scan(cli)
    assert result["reorg_depth"] == depth
    assert (result["transfers_found"], result["transfers_orphaned"]) == (0, 0)
    check_exact(cli, database_url, a, b, tx_hash, chain)
    later_passes_work(cli, database_url, a, b, chain)


def test_payout_re_mined_no_longer_behind_another_transaction(
    source_cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """Mined behind a mint, then re-mined alone: every log index shrinks by one (the old
    index of A's 5 is now the index of B's 7, and A's 100 takes A's old 5's index)."""
    cli = source_cli
    a, b = create(cli, "105"), create(cli, "7")
    disperse = chain.deploy_disperse(token)
    payouts = [(a["address"], 100 * USDT), (a["address"], 5 * USDT), (b["address"], 7 * USDT)]
    payout = chain.request(chain.disperse_call(disperse, token, payouts), chain.payer)
    chain.mine(1)
    chain.reorg(1, [(mint_request(chain, token), 0), (payout, 0)])  # the block: mint, payout
    [tx_hash] = [t for t in chain.w3.eth.get_block(chain.head)["transactions"]][1:]
    before = payout_logs(chain, tx_hash)
    assert before[2][0] == 1
    chain.mine(1)
    assert scan(cli)["transfers_found"] == 3
    check_exact(cli, database_url, a, b, tx_hash, chain)

    depth = chain.head - before[0] + 1
    chain.reorg(depth, [(chain.same_transaction(tx_hash), 0)])
    after = payout_logs(chain, tx_hash)
    assert after[0] == before[0] and after[1] != before[1] and after[2] == [i - 1 for i in before[2]]

    result = scan(cli)
    assert result["reorg_depth"] == depth
    assert (result["transfers_found"], result["transfers_orphaned"]) == (0, 0)
    check_exact(cli, database_url, a, b, tx_hash, chain)
    later_passes_work(cli, database_url, a, b, chain)


def test_rows_recorded_before_the_migration_keep_their_identity(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """Credits recorded by an older version have no position (the migration cannot ask a
    node): when their transaction is seen again, moved, they are adopted — not counted twice."""
    a, b = create(cli, "105"), create(cli, "7")
    disperse = chain.deploy_disperse(token)
    payouts = [(a["address"], 100 * USDT), (a["address"], 5 * USDT), (b["address"], 7 * USDT)]
    tx_hash = chain.disperse_call(disperse, token, payouts).transact({"from": chain.payer})
    block = payout_logs(chain, tx_hash)[0]
    assert scan(cli)["transfers_found"] == 3
    with transaction(get_engine(database_url)) as session:  # as the migration leaves old rows
        session.execute(update(Transfer).values(tx_log_position=None))

    chain.reorg(
        chain.head - block + 1, [(mint_request(chain, token), 0), (chain.same_transaction(tx_hash), 0)]
    )
    result = scan(cli)
    assert (result["transfers_found"], result["transfers_orphaned"]) == (0, 0)
    check_exact(cli, database_url, a, b, tx_hash, chain)
    later_passes_work(cli, database_url, a, b, chain)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_keeps_existing_transfers(kind: str, tmp_path: Path) -> None:
    """Migration 0004 adds the position: native credits get theirs (-1), token credits none
    (NULL: adopted when their transaction is seen again); the old rows all stay."""
    from sqlalchemy import text

    maker = postgres_schema() if kind == "postgresql" else sqlite_file(tmp_path)
    with maker as url:
        before = ScriptDirectory(str(migrate.script_location())).get_revision("0004").down_revision
        migrate.upgrade(url, before)  # the schema before this migration
        engine = get_engine(url)
        now = "2026-01-01 00:00:00+00:00"
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO payments (id, chain, token, token_address, decimals, amount_base,"
                    " address, derivation_index, status, received_base, confirmed_base, overpaid,"
                    " underpaid, paid_late, metadata, expires_at, created_at, updated_at, swept_base)"
                    " VALUES ('pay_a', 'local',"
                    " 'USDT', '0xtoken', 6, 105, '0xA', 0, 'detected', 105, 0, false, false, false, '{}',"
                    " :now, :now, :now, 0)"
                ),
                {"now": now},
            )
            for tx, log_index, amount in (("0xt1", 4, 100), ("0xt1", 5, 5), ("0xt2", -1, 7)):
                conn.execute(
                    text(
                        "INSERT INTO transfers (chain, tx_hash, log_index, block_number, block_hash,"
                        " block_time, from_address, to_address, token, amount_base, payment_id, state,"
                        " created_at) VALUES ('local', :tx, :log_index, 9, '0xb9', :now, '0xF', '0xA',"
                        " 'USDT', :amount, 'pay_a', 'seen', :now)"
                    ),
                    {"tx": tx, "log_index": log_index, "amount": amount, "now": now},
                )
        migrate.upgrade(url)
        with engine.begin() as conn:
            found = conn.execute(
                text("SELECT tx_hash, log_index, tx_log_position, amount_base FROM transfers ORDER BY id")
            ).all()
        assert [(tx, i, p, int(a)) for tx, i, p, a in found] == [
            ("0xt1", 4, None, 100),
            ("0xt1", 5, None, 5),
            ("0xt2", -1, -1, 7),
        ]
