"""`ctripctl payment …`: create, import, show, qr, list, cancel.

On a plain SQLite file, create, import, show and qr read and write with the standard
library's sqlite3 (db/sqlite_payments.py: no SQLAlchemy to import, so `payment create`
answers in about a third of the time); anything else goes through the ORM (db/payments.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ctripctl.cli.options import ChainOption, ConfigOption, JsonOption, chain_name, engine, load
from ctripctl.cli.output import cli_errors, console, emit_json, info, is_terminal

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ctripctl.config import Config
    from ctripctl.db.models import Payment
    from ctripctl.db.rows import PaymentRow
    from ctripctl.payment_request import PaymentRequest

app = typer.Typer(help="Create and inspect payments.", no_args_is_help=True)

STATUSES = ("pending", "partially_paid", "detected", "confirmed", "expired", "cancelled", "settled")

NoQrOption = Annotated[
    bool, typer.Option("--no-qr", help="No QR code (it is shown only when stdout is a terminal).")
]


def _object(payment: Payment | PaymentRow, config: Config) -> dict[str, Any]:
    """The public payment object plus, for the rich view only, the native coin's symbol.

    A payment created before its chain id was stored (migration 0005) gets its
    payment URI from the configured chain id.
    """
    from ctripctl.db.snapshot import payment_object, uri_of

    obj = payment_object(payment)
    chain = config.chains.get(payment.chain)
    if chain is not None:
        if obj["token"] is None:
            obj["native_symbol"] = chain.native_symbol
        if obj["payment_uri"] is None:
            obj["payment_uri"] = uri_of(payment, chain.chain_id)
    return obj


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """What --json prints: exactly the payment object (webhooks carry the same shape)."""
    return {k: v for k, v in obj.items() if k != "native_symbol"}


def _create(
    config: Config, requests: Sequence[PaymentRequest]
) -> Sequence[tuple[Payment | PaymentRow, bool]]:
    """Create (or find by reference) in one transaction: sqlite3 on a SQLite file, else the ORM."""
    from ctripctl.db.session import sqlite_path
    from ctripctl.ops.address_reuse import check_first_addresses

    check_first_addresses(config, requests)  # a new database, a used wallet: exit 3
    path = sqlite_path(config.database_url)
    if path is not None:
        from ctripctl.db.sqlite_payments import create_payments

        return create_payments(path, config.xpub, requests, datetime.now(UTC))
    from ctripctl.db.payments import create_idempotent

    return create_idempotent(engine(config), config.xpub, requests, datetime.now(UTC))


def _read(config: Config, payment_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], int | None]:
    """One payment's object, its events (oldest first) and the last head a pass saw."""
    from ctripctl.db.session import sqlite_path

    path = sqlite_path(config.database_url)
    if path is not None:
        from ctripctl.db.sqlite_payments import show_payment

        row, events, head = show_payment(path, payment_id)
        return _object(row, config), events, head
    from ctripctl.db.models import ChainState
    from ctripctl.db.payments import get_payment, payment_events
    from ctripctl.db.session import transaction
    from ctripctl.db.snapshot import iso

    with transaction(engine(config)) as session:
        payment = get_payment(session, payment_id)
        obj = _object(payment, config)
        events = [
            {
                "id": e.id,
                "type": e.type,
                "status": e.status,
                "attempts": e.attempts,
                "created_at": iso(e.created_at),
            }
            for e in payment_events(session, payment_id)
        ]
        state = session.get(ChainState, payment.chain)
        head = state.head_block if state is not None else None
    return obj, events, head


def _depths(obj: dict[str, Any], head: int | None) -> dict[str, int]:
    """Each live credit's depth ("tx_hash:log_index" → blocks) against the last head a pass saw."""
    from ctripctl.domain.lifecycle import confirmations

    if head is None:
        return {}
    return {
        f"{t['tx_hash']}:{t['log_index']}": confirmations(head, t["block_number"])
        for t in obj["transfers"]
        if t["state"] != "orphaned"
    }


def _required(config: Config, chain: str) -> int | None:
    """The depth that confirms a credit on `chain` (None: the node's finalized tag decides)."""
    cfg = config.chains.get(chain)
    if cfg is None or cfg.finality != "confirmations":
        return None
    return cfg.confirmations


@app.command()
def create(
    amount: Annotated[str, typer.Option(help="Amount in whole units, e.g. 12.5 (exact).")],
    chain: ChainOption = None,
    token: Annotated[
        str | None, typer.Option(help="Token symbol from ctrip.toml [default: native coin].")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="Your order id; idempotent: the same reference returns the same payment."),
    ] = None,
    webhook_url: Annotated[
        str | None, typer.Option(help="Where to POST events [default: webhooks.default_url].")
    ] = None,
    expires_in: Annotated[
        str | None, typer.Option(help="Expiry like 90s, 30m, 2h, 1d [default: from config, 60m].")
    ] = None,
    metadata: Annotated[list[str] | None, typer.Option("--metadata", help="key=value, repeatable.")] = None,
    no_qr: NoQrOption = False,
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a payment and print its deposit address, payment URI and QR code.

    The payment URI (EIP-681, also `payment_uri` in --json and in every webhook) is what
    a wallet scans: address, amount and chain id. The QR code of it is drawn when stdout
    is a terminal (not with --no-qr); `payment qr ID --png FILE` writes it as an image.

    Example:

        ctripctl payment create --chain eth --amount 12.5 --token USDT --reference ORDER-1
    """
    with cli_errors():
        from ctripctl.payment_request import build_request

        config = load(config_path)
        request = build_request(
            config,
            chain=chain_name(config, chain),
            amount=amount,
            token=token,
            reference=reference,
            webhook_url=webhook_url,
            expires_in=expires_in,
            metadata=metadata,
        )
        [(payment, created)] = _create(config, [request])
        obj = _object(payment, config)
        if as_json:
            emit_json(_public(obj))
            return
        if not created:
            from rich.markup import escape

            info(escape(f"Reference {reference!r} already exists; showing {payment.id}."))
        from ctripctl.cli import render  # rich tables: only for people

        render.payment_panel(
            obj,
            title=f"{payment.id} ({'created' if created else 'existing'})",
            default_webhook=config.webhooks.default_url,
            qr=is_terminal() and not no_qr and obj["status"] in _PAYABLE,  # an existing reference may be paid
        )


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV with a header row; '-' reads stdin.")],
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create many payments from a CSV, all or nothing.

    Columns: chain,amount,token,reference,webhook_url,expires_in (chain and amount
    required). Every row is validated first; then all are created in one transaction.
    Rows whose reference already exists return the existing payment. The file is UTF-8
    (a BOM and CRLF line ends are fine): at most 100,000 rows, cells of at most 4,096
    characters.

    Example:

        ctripctl payment import orders.csv --json
    """
    with cli_errors():
        import contextlib
        import sys

        from ctripctl.errors import InputError
        from ctripctl.payment_request import parse_import

        config = load(config_path)
        try:
            source = contextlib.nullcontext(sys.stdin.buffer) if str(file) == "-" else file.open("rb")
        except OSError as exc:
            raise InputError(f"cannot read {file}: {exc}") from None
        with source as stream:
            requests = parse_import(config, stream)
        results = _create(config, requests)
        objects = [_object(p, config) for p, _ in results]
        created = sum(1 for _, was_created in results if was_created)
        if as_json:
            emit_json([_public(o) for o in objects])
            return
        from ctripctl.cli import render  # rich tables: only for people

        render.payments_table(objects, title=f"Imported {created} new, {len(results) - created} existing")


@app.command()
def show(
    payment_id: Annotated[str, typer.Argument(metavar="ID", help="Payment id (pay_…).")],
    no_qr: NoQrOption = False,
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one payment: its payment URI and QR code, its transfers with their depth
    ("1 of 2": confirmed at 2), and its event history.

    Depths are counted against the last head a scan or confirm pass saw.

    Example:

        ctripctl payment show pay_0123456789abcdefghij
    """
    with cli_errors():
        config = load(config_path)
        obj, events, head = _read(config, payment_id)
        if as_json:
            emit_json(_public(obj))
            return
        from ctripctl.cli import render  # rich tables: only for people

        render.payment_panel(
            obj,
            confirmations=_depths(obj, head),
            required=_required(config, obj["chain"]),
            default_webhook=config.webhooks.default_url,
            events=events,
            qr=is_terminal() and not no_qr and obj["status"] in _PAYABLE,
        )


#: Statuses in which the customer may still pay: the QR code is worth showing.
_PAYABLE = frozenset({"pending", "partially_paid"})


@app.command()
def qr(
    payment_id: Annotated[str, typer.Argument(metavar="ID", help="Payment id (pay_…).")],
    svg: Annotated[Path | None, typer.Option("--svg", help="Write the QR code to this SVG file.")] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Write the QR code to this PNG file.")] = None,
    scale: Annotated[int, typer.Option(min=1, max=64, help="Pixels per module in the image.")] = 8,
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a payment's QR code (its EIP-681 payment URI), or write it as an SVG or PNG.

    Without --svg/--png the code is drawn in the terminal. A wallet that scans it gets the
    deposit address, the exact amount and the chain id.

    Example:

        ctripctl payment qr pay_0123456789abcdefghij --png order-1.png
    """
    with cli_errors():
        from ctripctl.errors import InputError

        if svg is not None and png is not None:
            raise InputError("give --svg or --png, not both")
        config = load(config_path)
        obj, _events, _head = _read(config, payment_id)
        uri = obj["payment_uri"]
        if uri is None:
            raise InputError(f"{payment_id} has no payment URI: chain {obj['chain']!r} is not configured")
        target = svg or png
        if target is not None:
            import segno

            try:
                segno.make(uri, micro=False).save(target, kind="svg" if svg else "png", scale=scale, border=4)
            except OSError as exc:
                raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
        if as_json:
            emit_json({"id": obj["id"], "payment_uri": uri, "file": None if target is None else str(target)})
            return
        if target is not None:
            info(f"Wrote the QR code of {obj['id']} to {target}.")
            console().print(uri, soft_wrap=True, markup=False)
            return
        from ctripctl.cli import render  # rich output: only for people

        render.qr_code(uri)
        console().print(uri, soft_wrap=True, markup=False)


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help=f"Only this status ({', '.join(STATUSES)}).")] = None,
    chain: Annotated[str | None, typer.Option(help="Only this chain.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    unexpected: Annotated[
        bool, typer.Option("--unexpected", help="Only payments that received a deposit in another asset.")
    ] = False,
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List payments, newest first.

    Example:

        ctripctl payment list --status pending --chain eth --json
        ctripctl payment list --unexpected
    """
    with cli_errors():
        from ctripctl.db.payments import list_payments
        from ctripctl.db.session import transaction
        from ctripctl.errors import InputError

        config = load(config_path)
        if status is not None and status not in STATUSES:
            raise InputError(f"unknown status {status!r} (one of: {', '.join(STATUSES)})")
        if chain is not None:
            config.chain(chain)
        with transaction(engine(config)) as session:
            objects = [
                _object(p, config)
                for p in list_payments(
                    session, status=status, chain=chain, limit=limit, unexpected=unexpected
                )
            ]
        if as_json:
            emit_json([_public(o) for o in objects])
            return
        from ctripctl.cli import render  # rich tables: only for people

        render.payments_table(objects)


@app.command()
def cancel(
    payment_id: Annotated[str, typer.Argument(metavar="ID", help="Payment id (pay_…).")],
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a pending or partially paid payment; it will not expire or confirm any more.

    Its address stays watched for the late window: a transfer that still arrives is
    recorded and announced (the payment stays cancelled), so money is never ignored.

    Example:

        ctripctl payment cancel pay_0123456789abcdefghij
    """
    with cli_errors():
        from ctripctl.db.payments import cancel_payment
        from ctripctl.db.session import transaction

        config = load(config_path)
        with transaction(engine(config)) as session:
            payment = cancel_payment(session, payment_id, datetime.now(UTC))
            obj = _object(payment, config)
        if as_json:
            emit_json(_public(obj))
            return
        from ctripctl.cli import render  # rich tables: only for people

        render.payment_panel(
            obj, title=f"{payment_id} (cancelled)", default_webhook=config.webhooks.default_url
        )
