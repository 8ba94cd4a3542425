"""`ctripctl payment …`: create, import, show, list, cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ctripctl.cli.options import ConfigOption, JsonOption, engine, load
from ctripctl.cli.output import cli_errors, emit_json, info

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from ctripctl.config import Config
    from ctripctl.db.models import Payment
    from ctripctl.payment_request import PaymentRequest

app = typer.Typer(help="Create and inspect payments.", no_args_is_help=True)

STATUSES = ("pending", "partially_paid", "detected", "confirmed", "expired", "cancelled", "settled")


def _object(payment: Payment, config: Config) -> dict[str, Any]:
    """The public payment object plus, for the rich view only, the native coin's symbol."""
    from ctripctl.db.snapshot import payment_object

    obj = payment_object(payment)
    chain = config.chains.get(payment.chain)
    if obj["token"] is None and chain is not None:
        obj["native_symbol"] = chain.native_symbol
    return obj


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """What --json prints: exactly the payment object (webhooks carry the same shape)."""
    return {k: v for k, v in obj.items() if k != "native_symbol"}


def _create(config: Config, requests: Sequence[PaymentRequest]) -> list[tuple[Payment, bool]]:
    from ctripctl.db.payments import create_idempotent
    from ctripctl.ops.address_reuse import check_first_addresses

    check_first_addresses(config, requests)  # a new database, a used wallet: exit 3
    return create_idempotent(engine(config), config.xpub, requests, datetime.now(UTC))


@app.command()
def create(
    chain: Annotated[str, typer.Option(help="Chain name from ctrip.toml.")],
    amount: Annotated[str, typer.Option(help="Amount in whole units, e.g. 12.5 (exact).")],
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
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a payment and print its deposit address.

    Example:

        ctripctl payment create --chain eth --amount 12.5 --token USDT --reference ORDER-1
    """
    with cli_errors():
        from ctripctl.payment_request import build_request

        config = load(config_path)
        request = build_request(
            config,
            chain=chain,
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

        render.payment_panel(obj, title=f"{payment.id} ({'created' if created else 'existing'})")


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
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one payment with its transfers (and confirmations) and its event history.

    Example:

        ctripctl payment show pay_0123456789abcdefghij
    """
    with cli_errors():
        from ctripctl.db.payments import get_payment, payment_events
        from ctripctl.db.session import transaction
        from ctripctl.db.snapshot import iso

        config = load(config_path)
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
            confirmations = _confirmations(session, payment)
        if as_json:
            emit_json(_public(obj))
            return
        from ctripctl.cli import render  # rich tables: only for people

        render.payment_panel(obj, confirmations=confirmations, events=events)


def _confirmations(session: Session, payment: Payment) -> dict[str, int]:
    """Confirmations of each live transfer, against the last head a pass saw."""
    from ctripctl.db.models import ChainState
    from ctripctl.domain.lifecycle import confirmations

    state = session.get(ChainState, payment.chain)
    head = state.head_block if state is not None else None
    result = {}
    for t in payment.transfers:
        log_index = None if t.log_index < 0 else t.log_index
        if head is not None and t.state != "orphaned":
            result[f"{t.tx_hash}:{log_index}"] = confirmations(head, t.block_number)
    return result


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help=f"Only this status ({', '.join(STATUSES)}).")] = None,
    chain: Annotated[str | None, typer.Option(help="Only this chain.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List payments, newest first.

    Example:

        ctripctl payment list --status pending --chain eth --json
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
                _object(p, config) for p in list_payments(session, status=status, chain=chain, limit=limit)
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

        render.payment_panel(obj, title=f"{payment_id} (cancelled)")
