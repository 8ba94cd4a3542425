"""Metrics files: written atomically by write_metrics and by the commands' --metrics-file,
read back with `prometheus_client.parser` (the format node-exporter's textfile collector reads).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ctripctl.errors import InputError
from ctripctl.ops.metrics import write_metrics, write_metrics_many
from tests.support.cli import Cli
from tests.support.evm import Chain

Labels = tuple[tuple[str, str], ...]


def parse(path: Path) -> tuple[dict[tuple[str, Labels], float], dict[str, str]]:
    """{(sample name, labels): value} and {family name: type} of a metrics file."""
    samples: dict[tuple[str, Labels], float] = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(path.read_text()):
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, types


def lab(command: str, chain: str = "") -> Labels:
    return (("chain", chain), ("command", command))


def test_write_metrics_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ctripctl_scan_eth.prom"
    result = {
        "chain": "eth",
        "from_block": 100,
        "to_block": 599,
        "blocks_scanned": 500,
        "transfers_found": 3,
        "lag": 12,
        "elapsed_s": 1.5,
        "reorg": {"depth": 2},
        "caught_up": True,
        "note": "ignored: not a number",
        "ids": [1, 2, 3],
    }
    write_metrics(path, "scan", "eth", result, ok=True, now=1_700_000_000.0)
    samples, types = parse(path)
    eth = lab("scan", "eth")
    assert samples[("ctripctl_blocks_scanned", eth)] == 500
    assert samples[("ctripctl_transfers_found", eth)] == 3
    assert samples[("ctripctl_lag", eth)] == 12
    assert samples[("ctripctl_reorg_depth", eth)] == 2
    assert samples[("ctripctl_caught_up", eth)] == 1
    assert samples[("ctripctl_pass_duration_seconds", eth)] == 1.5
    assert samples[("ctripctl_last_run_timestamp_seconds", eth)] == 1_700_000_000
    assert samples[("ctripctl_last_success_timestamp_seconds", eth)] == 1_700_000_000
    assert samples[("ctripctl_last_run_success", eth)] == 1
    assert samples[("ctripctl_runs_total", eth)] == 1
    assert samples[("ctripctl_run_failures_total", eth)] == 0
    assert types["ctripctl_runs"] == "counter" and types["ctripctl_lag"] == "gauge"
    assert not any(
        name.startswith(("ctripctl_note", "ctripctl_ids", "ctripctl_chain")) for name, _ in samples
    )
    assert not any(name.endswith("_created") for name, _ in samples)
    assert os.listdir(tmp_path) == [path.name]  # the temp file was renamed, nothing left over


def test_a_failed_run_keeps_the_last_success_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    write_metrics(path, "confirm", "eth", {"confirmed": 2}, ok=True, now=1000.0)
    write_metrics(path, "confirm", "eth", {}, ok=False, duration_s=0.25, now=2000.0)
    write_metrics(path, "confirm", "eth", {}, ok=False, now=3000.0)
    samples, _ = parse(path)
    eth = lab("confirm", "eth")
    assert samples[("ctripctl_last_success_timestamp_seconds", eth)] == 1000
    assert samples[("ctripctl_last_run_timestamp_seconds", eth)] == 3000
    assert samples[("ctripctl_last_run_success", eth)] == 0
    assert samples[("ctripctl_runs_total", eth)] == 3
    assert samples[("ctripctl_run_failures_total", eth)] == 2
    assert ("ctripctl_confirmed", eth) not in samples  # a failed pass reports no stale counts
    write_metrics(path, "confirm", "eth", {"confirmed": 0}, ok=True, now=4000.0)
    samples, _ = parse(path)
    assert samples[("ctripctl_last_success_timestamp_seconds", eth)] == 4000
    assert samples[("ctripctl_runs_total", eth)] == 4


def test_a_failed_first_run_writes_no_made_up_success(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    path.write_text("this is not { prometheus text\n")
    write_metrics(path, "scan", "eth", {}, ok=False, now=50.0)
    samples, _ = parse(path)
    assert ("ctripctl_last_success_timestamp_seconds", lab("scan", "eth")) not in samples
    assert samples[("ctripctl_runs_total", lab("scan", "eth"))] == 1


def test_several_chains_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "status.prom"
    write_metrics_many(path, "status", {None: {"healthy": False}, "a": {"lag": 1}, "b": {"lag": 9}}, ok=True)
    samples, _ = parse(path)
    assert samples[("ctripctl_lag", lab("status", "a"))] == 1
    assert samples[("ctripctl_lag", lab("status", "b"))] == 9
    assert samples[("ctripctl_healthy", lab("status"))] == 0
    assert ("ctripctl_runs_total", lab("status")) in samples


def test_unwritable_path_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot write metrics file"):
        write_metrics(tmp_path / "missing-dir" / "m.prom", "scan", "eth", {}, ok=True)


def test_scan_metrics_file_matches_its_json(cli: Cli, chain: Chain, tmp_path: Path) -> None:
    chain.mine(20)
    path = tmp_path / "ctripctl_scan_local.prom"
    result = cli.ok("scan", "--chain", "local", "--metrics-file", str(path))
    samples, _ = parse(path)
    local = lab("scan", "local")
    assert samples[("ctripctl_blocks_scanned", local)] == result["blocks_scanned"] > 0
    assert samples[("ctripctl_lag", local)] == result["lag"]
    assert samples[("ctripctl_last_run_success", local)] == 1
    assert samples[("ctripctl_pass_duration_seconds", local)] > 0


def test_unwritable_metrics_folder_is_refused_before_the_pass(cli: Cli, chain: Chain, tmp_path: Path) -> None:
    chain.mine(5)
    run = cli("scan", "--chain", "local", "--metrics-file", str(tmp_path / "missing" / "scan.prom"))
    assert run.exit_code == 2, run
    assert "does not exist" in run.stderr
    # The pass never ran: the first real pass still starts at the beginning.
    assert cli.ok("scan", "--chain", "local")["from_block"] == 0


def test_status_metrics_file(cli: Cli, chain: Chain, tmp_path: Path) -> None:
    cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    cli.ok("scan", "--chain", "local")
    chain.mine(3)
    path = tmp_path / "ctripctl_status.prom"
    run = cli("status", "--json", "--metrics-file", str(path))
    assert run.exit_code == 7, run  # no confirm pass yet: unhealthy, but the metrics are written
    report: dict[str, Any] = run.json()
    samples, _ = parse(path)
    local, top = lab("status", "local"), lab("status")
    assert samples[("ctripctl_lag", local)] == report["chains"][0]["lag"] == 3
    assert samples[("ctripctl_head", local)] == chain.head
    assert samples[("ctripctl_node_up", local)] == 1
    assert samples[("ctripctl_payments_open", local)] == 1
    assert samples[("ctripctl_payments_24h_pending", local)] == 1
    assert samples[("ctripctl_payments_24h_confirmed", local)] == 0
    assert samples[("ctripctl_healthy", top)] == 0
    assert samples[("ctripctl_problems", top)] == len(report["problems"])
    assert samples[("ctripctl_webhooks_pending", top)] == 1
    assert samples[("ctripctl_last_run_success", top)] == 1  # status itself ran fine
