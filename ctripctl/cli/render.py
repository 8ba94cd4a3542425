"""Rich rendering for people. Takes plain dicts (the JSON objects), never ORM rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ctripctl.cli.output import console
from ctripctl.cli.tables import Column, fitted_table

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


def _status_cell(p: Mapping[str, Any]) -> str:
    return status_text(p["status"]) + (f" ({flags(p)})" if flags(p) else "")


PAYMENT_COLUMNS = (
    Column("id", lambda p: p["id"], ident=True, keep=True),
    Column("chain", lambda p: escape(p["chain"]), priority=5),
    Column("amount", lambda p: f"{p['amount']} {escape(_asset(p))}", priority=2, justify="right"),
    Column("received", lambda p: p["received"], priority=6, justify="right"),
    Column("status", _status_cell, priority=1),
    Column("address", lambda p: p["address"], ident=True, priority=3),
    Column("reference", lambda p: escape(p["reference"] or ""), priority=4, wrap=24),
    Column("expires_at", lambda p: p["expires_at"], priority=7),
)


def payments_table(payments: Iterable[Mapping[str, Any]], title: str = "Payments") -> None:
    rows = list(payments)
    if not rows:
        console().print("No payments match.")
        return
    console().print(fitted_table(PAYMENT_COLUMNS, rows, width=console().width, title=title))


def depth_text(depth: int, required: int | None) -> str:
    """`1 of 2`: how deep a credit is against the depth that confirms it."""
    return f"{depth} of {required}" if required is not None else f"{depth} (confirmed once finalized)"


def webhook_text(p: Mapping[str, Any], default_url: str | None) -> str:
    """Where this payment's events go, in words (URLs shown masked)."""
    from ctripctl.urls import mask_url

    if p["webhook_url"]:
        return escape(mask_url(p["webhook_url"]))
    if default_url:
        return escape(f"{mask_url(default_url)} ([webhooks] default_url)")
    return "none: events are recorded, not sent"


def payment_panel(
    p: Mapping[str, Any],
    *,
    confirmations: Mapping[str, int] | None = None,
    required: int | None = None,
    default_webhook: str | None = None,
    events: Iterable[Mapping[str, Any]] = (),
    title: str | None = None,
    qr: bool = False,
) -> None:
    """The payment as a panel, its payment URI (and QR code), its transfers and events.

    `confirmations` maps "tx_hash:log_index" to each live credit's depth against the last
    head a pass saw; `required` is the chain's `confirmations` (None: finality by tag).
    """
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    rows = [
        ("status", _status_cell(p)),
        ("chain", escape(p["chain"]) + (f" (chain id {p['chain_id']})" if p.get("chain_id") else "")),
        ("amount", f"{p['amount']} {escape(_asset(p))}  ({p['amount_base']} base units)"),
        ("pay to", p["address"]),
        ("received", f"{p['received']} (confirmed {p['confirmed']})"),
    ]
    waiting = _waiting_depths(p, confirmations)
    if waiting:
        shallowest = min(waiting)
        more = f", {len(waiting)} credits waiting" if len(waiting) > 1 else ""
        rows.append(("depth", depth_text(shallowest, required) + more))
    rows += [
        ("reference", escape(p["reference"] or "-")),  # user text: never rich markup
        ("webhook", webhook_text(p, default_webhook)),
        ("expires", p["expires_at"]),
        ("created", p["created_at"]),
    ]
    if p.get("metadata"):
        rows.append(("metadata", escape(", ".join(f"{k}={v}" for k, v in p["metadata"].items()))))
    for key, value in rows:
        grid.add_row(key, value)
    console().print(Panel(grid, title=title or p["id"], title_align="left", expand=False))
    if p.get("payment_uri"):
        # Its own line, never folded by rich: a terminal that wraps it keeps it one line to copy.
        console().print(Text(p["payment_uri"]), soft_wrap=True)
        if qr:
            qr_code(p["payment_uri"])
    if p["transfers"]:
        _transfers_table(p, confirmations, required)
    events = list(events)
    if events:
        columns = (
            Column("id", lambda e: e["id"], ident=True, keep=True),
            Column("type", lambda e: e["type"], priority=1),
            Column("status", lambda e: e["status"], priority=2),
            Column("attempts", lambda e: str(e["attempts"]), priority=4, justify="right"),
            Column("created_at", lambda e: e["created_at"], priority=3),
        )
        console().print(fitted_table(columns, events, width=console().width, title="Events"))


def _key(t: Mapping[str, Any]) -> str:
    return f"{t['tx_hash']}:{t['log_index']}"


def _waiting_depths(p: Mapping[str, Any], confirmations: Mapping[str, int] | None) -> list[int]:
    """Depths of the credits seen but not confirmed yet."""
    if confirmations is None:
        return []
    seen = [t for t in p["transfers"] if t["state"] == "seen"]
    return [confirmations[_key(t)] for t in seen if _key(t) in confirmations]


def _transfers_table(
    p: Mapping[str, Any], confirmations: Mapping[str, int] | None, required: int | None
) -> None:
    def depth(t: Mapping[str, Any]) -> str:
        if confirmations is None or _key(t) not in confirmations:
            return "-"
        d = confirmations[_key(t)]
        return depth_text(d, required) if t["state"] == "seen" else str(d)

    columns = (
        Column("tx", lambda t: t["tx_hash"] or f"({t.get('via', 'balance')})", ident=True, keep=True),
        Column("block", lambda t: str(t["block_number"]), priority=4, justify="right"),
        Column("amount", lambda t: t["amount"], priority=1, justify="right"),
        Column("from", lambda t: t["from"], ident=True, priority=5),
        Column("via", lambda t: t.get("via", ""), priority=6),
        Column("state", lambda t: t["state"], priority=2),
        Column("depth", depth, priority=3),
    )
    counted = [t for t in p["transfers"] if t.get("counted", True)]
    other = [t for t in p["transfers"] if not t.get("counted", True)]
    if counted:
        console().print(
            fitted_table(columns, counted, width=console().width, title="Transfers", min_columns=3)
        )
    if other:
        # A distinct style: money that arrived in another asset, recorded, never counted.
        asset = Column("asset", lambda t: t["token"] or "native", priority=1)
        console().print(
            fitted_table(
                (*columns[:3], asset, *columns[3:]),  # amounts in that asset
                other,
                width=console().width,
                title="[bold yellow]Deposits in another asset: not counted[/]",
                min_columns=3,
            ),
            style="yellow",
        )


_COLOUR = {0: "bright_white", 1: "black"}  # light and dark modules


def qr_text(uri: str, *, terminal: bool) -> Text:
    """`uri` as a QR code of half-block characters, two modules a character cell.

    For a terminal, every cell is "▀" with its upper module's colour as foreground and its
    lower module's as background: dark on light whatever the terminal's theme (rich sends
    the colours only to a terminal). Otherwise plain characters draw the dark modules,
    for a light page.
    """
    import segno

    matrix = [list(row) for row in segno.make(uri, micro=False).matrix_iter(border=4)]
    if len(matrix) % 2:
        matrix.append([0] * len(matrix[0]))
    text = Text()
    for top, bottom in zip(matrix[::2], matrix[1::2], strict=True):
        for up, down in zip(top, bottom, strict=True):
            if terminal:
                text.append("▀", style=f"{_COLOUR[up]} on {_COLOUR[down]}")
            else:
                text.append({(1, 1): "█", (1, 0): "▀", (0, 1): "▄", (0, 0): " "}[(up, down)])
        text.append("\n")
    return text


def qr_code(uri: str) -> None:
    """Draw `uri`'s QR code on stdout (see `qr_text`)."""
    out = console()
    out.print(qr_text(uri, terminal=out.is_terminal), end="", soft_wrap=True)
