"""Rich rendering for people. Takes plain dicts (the JSON objects), never ORM rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from ctripctl.cli.output import console

STATUS_STYLE = {
    "pending": "yellow",
    "partially_paid": "yellow",
    "detected": "cyan",
    "confirmed": "green",
    "settled": "green",
    "expired": "red",
    "cancelled": "dim",
}


def status_text(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _asset(p: Mapping[str, Any]) -> str:
    return p["token"] or p.get("native_symbol") or "native"


def flags(p: Mapping[str, Any]) -> str:
    return ", ".join(name for name in ("overpaid", "underpaid", "paid_late") if p.get(name))


def payments_table(payments: Iterable[Mapping[str, Any]], title: str = "Payments") -> None:
    table = Table(title=title, title_justify="left")
    for column in (
        "id",
        "chain",
        "amount",
        "received",
        "status",
        "address",
        "reference",
        "expires_at",
    ):
        table.add_column(column, overflow="fold")
    count = 0
    for p in payments:
        count += 1
        status = status_text(p["status"]) + (f" ({flags(p)})" if flags(p) else "")
        table.add_row(
            p["id"],
            p["chain"],
            f"{p['amount']} {_asset(p)}",
            p["received"],
            status,
            p["address"],
            escape(p["reference"] or ""),
            p["expires_at"],
        )
    if count == 0:
        console().print("No payments match.")
    else:
        console().print(table)


def payment_panel(
    p: Mapping[str, Any],
    *,
    confirmations: Mapping[str, int] | None = None,
    events: Iterable[Mapping[str, Any]] = (),
    title: str | None = None,
) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    rows = [
        ("status", status_text(p["status"]) + (f"  ({flags(p)})" if flags(p) else "")),
        ("chain", p["chain"]),
        ("amount", f"{p['amount']} {_asset(p)}  ({p['amount_base']} base units)"),
        ("pay to", p["address"]),
        ("received", f"{p['received']} (confirmed {p['confirmed']})"),
        ("reference", escape(p["reference"] or "-")),  # user text: never rich markup
        ("webhook", escape(p["webhook_url"] or "([webhooks] default_url)")),
        ("expires", p["expires_at"]),
        ("created", p["created_at"]),
    ]
    if p.get("metadata"):
        rows.append(("metadata", escape(", ".join(f"{k}={v}" for k, v in p["metadata"].items()))))
    for key, value in rows:
        grid.add_row(key, value)
    console().print(Panel(grid, title=title or p["id"], title_align="left", expand=False))
    if p["transfers"]:
        table = Table(title="Transfers", title_justify="left")
        for column in ("tx", "block", "amount", "from", "state", "confirmations"):
            table.add_column(column, overflow="fold")
        for t in p["transfers"]:
            key = f"{t['tx_hash']}:{t['log_index']}"
            conf = "" if confirmations is None else str(confirmations.get(key, ""))
            table.add_row(t["tx_hash"], str(t["block_number"]), t["amount"], t["from"], t["state"], conf)
        console().print(table)
    events = list(events)
    if events:
        table = Table(title="Events", title_justify="left")
        for column in ("id", "type", "status", "attempts", "created_at"):
            table.add_column(column)
        for e in events:
            table.add_row(e["id"], e["type"], e["status"], str(e["attempts"]), e["created_at"])
        console().print(table)
