"""The same scan scenarios with `scan_source = "receipts"` (headers + eth_getBlockReceipts
instead of full-transaction blocks), against the real anvil, ERC-20 and both databases.

Each test reruns a scenario of test_scan.py / test_scan_reorg.py unchanged, on a config
that switches the chain's scan source: both sources must record exactly the same facts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration import test_scan as base
from tests.integration import test_scan_reorg as reorg
from tests.support.cli import Cli
from tests.support.evm import Chain


@pytest.fixture
def rcli(cli: Cli, config_file: Path) -> Cli:
    text = config_file.read_text()
    assert 'rpc_timeout = "5s"' in text
    config_file.write_text(text.replace('rpc_timeout = "5s"', 'rpc_timeout = "5s"\nscan_source = "receipts"'))
    return cli


def test_native(rcli: Cli, chain: Chain, database_url: str) -> None:
    base.test_native_credit_is_detected(rcli, chain, database_url)


def test_token(rcli: Cli, chain: Chain, token: Any, database_url: str) -> None:
    base.test_token_credit_is_detected(rcli, chain, token, database_url)


def test_partial_then_completed(rcli: Cli, chain: Chain, token: Any, database_url: str) -> None:
    base.test_partial_then_completed(rcli, chain, token, database_url)


def test_late(rcli: Cli, chain: Chain, database_url: str) -> None:
    base.test_late_credit_is_recorded_and_flagged(rcli, chain, database_url)


def test_noise(rcli: Cli, chain: Chain, token: Any, database_url: str) -> None:
    base.test_noise_is_ignored(rcli, chain, token, database_url)


def test_rescan(rcli: Cli, chain: Chain, token: Any, database_url: str) -> None:
    base.test_rescan_is_idempotent(rcli, chain, token, database_url)


def test_reorg_removes(rcli: Cli, chain: Chain, database_url: str) -> None:
    reorg.test_anvil_reorg_removes_a_credit(rcli, chain, database_url)


def test_reorg_moves(rcli: Cli, chain: Chain, database_url: str) -> None:
    reorg.test_anvil_reorg_moving_a_credit_to_another_block(rcli, chain, database_url)


def test_unknown_source_is_refused(cli: Cli, config_file: Path) -> None:
    config_file.write_text(
        config_file.read_text().replace('rpc_timeout = "5s"', 'rpc_timeout = "5s"\nscan_source = "logs"')
    )
    run = cli("scan", "--chain", "local")
    assert run.exit_code == 2, run
    assert "scan_source must be 'blocks' or 'receipts'" in run.stderr
