"""Prometheus metrics for one pass, in the node-exporter textfile-collector format.

`--metrics-file PATH` on scan, confirm, webhooks flush and status ends in
`write_metrics(...)`. The file is built with `prometheus_client` (a CollectorRegistry
holding metric families) and written by `write_to_textfile`, which writes a temporary
file beside PATH and renames it over PATH: node-exporter never reads half a file.

What one file holds (labels `command` and `chain`; `chain=""` for chain-less commands)::

    ctripctl_last_run_timestamp_seconds      when this pass ended (success or not)
    ctripctl_last_run_success                1 if it succeeded, else 0
    ctripctl_last_success_timestamp_seconds  when a pass last succeeded (see below)
    ctripctl_pass_duration_seconds           how long this pass took
    ctripctl_runs_total                      passes run (counter, carried across runs)
    ctripctl_run_failures_total              passes that failed (counter, carried across runs)
    ctripctl_<field>                         each numeric field of the pass result, e.g.
                                             ctripctl_blocks_scanned, ctripctl_lag,
                                             ctripctl_delivered (nested: ctripctl_<a>_<b>)

Surviving a failed run: every run rewrites the whole file, so the values a failed run
cannot know itself (last success time, the counters) are read back from the previous file
with `prometheus_client.parser` and carried forward. If the previous file is missing or
unreadable, a failed run writes no `last_success` sample (absent, not a made-up 0) and the
counters restart (Prometheus' `rate()`/`increase()` handle counter resets). Alert on
`time() - ctripctl_last_success_timestamp_seconds > 600` and on
`absent(ctripctl_last_success_timestamp_seconds)`.

Use one file per (command, chain) — e.g. `/var/lib/node_exporter/textfile/ctripctl_scan_eth.prom`:
each write replaces the file, so two commands sharing a path would erase each other.
`status` is the exception: it writes all chains into its one file.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ctripctl.errors import InputError

PREFIX = "ctripctl_"
LAST_RUN = "ctripctl_last_run_timestamp_seconds"
LAST_RUN_SUCCESS = "ctripctl_last_run_success"
LAST_SUCCESS = "ctripctl_last_success_timestamp_seconds"
DURATION = "ctripctl_pass_duration_seconds"
RUNS = "ctripctl_runs"  # exposed as ctripctl_runs_total
FAILURES = "ctripctl_run_failures"  # exposed as ctripctl_run_failures_total
RESERVED = {LAST_RUN, LAST_RUN_SUCCESS, LAST_SUCCESS, DURATION, RUNS + "_total", FAILURES + "_total"}
DURATION_FIELDS = ("elapsed_s", "duration_s", "elapsed", "duration")
LABELS = ("command", "chain")

_INVALID = re.compile(r"[^a-zA-Z0-9_]+")


def write_metrics(
    path: Path,
    command: str,
    chain: str | None,
    result: Mapping[str, Any],
    ok: bool,
    *,
    duration_s: float | None = None,
    now: float | None = None,
) -> None:
    """Write one pass's metrics to `path` atomically (temp file + rename).

    `result` is the pass's JSON result; its numeric (and boolean, as 0/1) fields become
    gauges, nested mappings are flattened with `_`, everything else is ignored. The pass
    duration is `duration_s`, else the result's `elapsed_s`/`duration_s` field.
    Raises InputError when the file cannot be written (e.g. its directory is missing).
    """
    write_metrics_many(path, command, {chain: result}, ok, duration_s=duration_s, now=now)


def write_metrics_many(
    path: Path,
    command: str,
    results: Mapping[str | None, Mapping[str, Any]],
    ok: bool,
    *,
    duration_s: float | None = None,
    now: float | None = None,
) -> None:
    """Like `write_metrics`, for a command that reports on several chains at once (status).

    `results` maps chain name (None: no chain) to that chain's numeric fields; the run
    bookkeeping (timestamps, counters, duration) is written for chain None.
    """
    from prometheus_client import CollectorRegistry, write_to_textfile

    now = time.time() if now is None else now
    previous = read_metrics(path)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_PassCollector(_families(command, results, ok, duration_s, now, previous)))
    try:
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise InputError(f"cannot write metrics file {path}: {exc.strerror or exc}") from None


def read_metrics(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of a metrics file as {(sample name, sorted labels): value}; {} if unreadable."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    except ValueError:  # a hand-edited or truncated file: start over rather than fail the pass
        return {}
    return samples


def metric_name(field: str) -> str:
    """A result field as a metric name: `blocks_scanned` → `ctripctl_blocks_scanned`."""
    name = _INVALID.sub("_", field).strip("_").lower()
    return PREFIX + (name or "value")


def numeric_fields(result: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, float]]:
    """(field, value) for every int/float/bool in `result`, nested mappings flattened."""
    for key, value in result.items():
        field = f"{prefix}_{key}" if prefix else str(key)
        if isinstance(value, bool):
            yield field, 1.0 if value else 0.0
        elif isinstance(value, int | float):
            if not (isinstance(value, float) and math.isnan(value)):
                yield field, float(value)
        elif isinstance(value, Mapping):
            yield from numeric_fields(value, field)


def _labels(command: str, chain: str | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"command": command, "chain": chain or ""}.items()))


def _families(
    command: str,
    results: Mapping[str | None, Mapping[str, Any]],
    ok: bool,
    duration_s: float | None,
    now: float,
    previous: Mapping[tuple[str, tuple[tuple[str, str], ...]], float],
) -> list[Any]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    run_chain: str | None = next(iter(results)) if len(results) == 1 else None
    labels = [command, run_chain or ""]
    key = _labels(command, run_chain)

    def gauge(name: str, doc: str, value: float) -> Any:
        family = GaugeMetricFamily(name, doc, labels=LABELS)
        family.add_metric(labels, value)
        return family

    def counter(name: str, doc: str, increment: int) -> Any:
        family = CounterMetricFamily(name, doc, labels=LABELS)
        family.add_metric(labels, previous.get((name + "_total", key), 0.0) + increment)
        return family

    families = [
        gauge(LAST_RUN, "Unix time the last ctripctl pass ended.", now),
        gauge(LAST_RUN_SUCCESS, "1 if the last ctripctl pass succeeded, else 0.", 1.0 if ok else 0.0),
        counter(RUNS, "ctripctl passes run (carried across runs via the previous file).", 1),
        counter(FAILURES, "ctripctl passes that failed (carried across runs).", 0 if ok else 1),
    ]
    last_success = now if ok else previous.get((LAST_SUCCESS, key))
    if last_success is not None:
        families.append(gauge(LAST_SUCCESS, "Unix time a ctripctl pass last succeeded.", last_success))
    if duration_s is None:
        for result in results.values():
            found = [result[f] for f in DURATION_FIELDS if isinstance(result.get(f), int | float)]
            if found:
                duration_s = float(found[0])
                break
    if duration_s is not None:
        families.append(gauge(DURATION, "Seconds the last ctripctl pass took.", duration_s))

    fields: dict[str, Any] = {}
    for chain, result in results.items():
        for field, value in numeric_fields(result):
            name = metric_name(field)
            if name in RESERVED:
                continue
            family = fields.get(name)
            if family is None:
                # The help text depends on the field only: node-exporter refuses one metric
                # name with different help texts across the files it merges.
                family = fields[name] = GaugeMetricFamily(
                    name, f"Field {field!r} of the last ctripctl pass result.", labels=LABELS
                )
            family.add_metric([command, chain or ""], value)
    return families + list(fields.values())


class _PassCollector:
    """A fixed set of metric families, collected once into the registry."""

    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> Iterable[Any]:
        return iter(self._families)
