"""`payment show / list / cancel` and the payment object, through the CLI, on both databases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from ctripctl.db.models import WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.cli import Cli
from tests.support.evm import Chain

CREATE = ("payment", "create", "--chain", "local")
# The list, plus the documented extras (decimal twins of the *_base amounts,
# the token contract, the underpaid flag and updated_at).
PAYMENT_FIELDS = {
    "id",
    "chain",
    "token",
    "address",
    "amount",
    "amount_base",
    "received_base",
    "confirmed_base",
    "status",
    "overpaid",
    "paid_late",
    "reference",
    "webhook_url",
    "metadata",
    "expires_at",
    "created_at",
    "transfers",
} | {"token_address", "received", "confirmed", "underpaid", "updated_at"}
# Money out (issue 11): what the sweeps moved to the treasury, and when it settled.
PAYMENT_FIELDS |= {"swept", "swept_base", "settled_at"}
# A payment request a wallet can scan (issue 15): the EIP-681 URI and the chain id it names.
PAYMENT_FIELDS |= {"payment_uri", "chain_id"}


def events_of(url: str, payment_id: str) -> list[tuple[str, dict[str, Any]]]:
    with transaction(get_engine(url)) as session:
        rows = session.execute(
            select(WebhookEvent).where(WebhookEvent.payment_id == payment_id).order_by(WebhookEvent.seq)
        ).scalars()
        return [(e.type, e.payload) for e in rows]


def parse_time(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


def test_payment_object_shape(cli: Cli, database_url: str, token: Any) -> None:
    p = cli.ok(
        *CREATE,
        "--amount",
        "12.5",
        "--token",
        "usdt",
        "--reference",
        "ORDER-9",
        "--webhook-url",
        "http://127.0.0.1:9/hooks",
        "--expires-in",
        "90s",
        "--metadata",
        "order=9",
        "--metadata",
        "customer=ada",
    )
    assert set(p) == PAYMENT_FIELDS
    assert p["id"].startswith("pay_") and len(p["id"]) == 24
    assert (p["chain"], p["chain_id"]) == ("local", 31337)
    assert p["token"] == "USDT" and p["token_address"] == token.address
    assert p["payment_uri"] == (
        f"ethereum:{token.address}@31337/transfer?address={p['address']}&uint256=12500000"
    )
    assert p["address"].startswith("0x") and p["address"] != p["address"].lower()  # checksummed
    assert (p["amount"], p["amount_base"]) == ("12.5", "12500000")
    assert (p["received_base"], p["confirmed_base"], p["received"], p["confirmed"]) == ("0", "0", "0", "0")
    assert p["status"] == "pending"
    assert (p["overpaid"], p["underpaid"], p["paid_late"]) == (False, False, False)
    assert p["reference"] == "ORDER-9"
    assert p["webhook_url"] == "http://127.0.0.1:9/hooks"
    assert p["metadata"] == {"order": "9", "customer": "ada"}
    assert p["transfers"] == []
    created, expires = parse_time(p["created_at"]), parse_time(p["expires_at"])
    assert expires - created == timedelta(seconds=90)
    assert abs(datetime.now(created.tzinfo) - created) < timedelta(minutes=1)


def test_created_event_written_with_the_payment(cli: Cli, database_url: str) -> None:
    p = cli.ok(*CREATE, "--amount", "0.5")
    [(kind, payload)] = events_of(database_url, p["id"])
    assert kind == "payment.created"
    assert payload["type"] == "payment.created"
    assert payload["data"] == p


def test_default_expiry_from_config(cli: Cli) -> None:
    p = cli.ok(*CREATE, "--amount", "1")
    assert parse_time(p["expires_at"]) - parse_time(p["created_at"]) == timedelta(minutes=60)
    cli.config.write_text(cli.config.read_text() + '\n[payments]\ndefault_expires_in = "2h"\n')
    p = cli.ok(*CREATE, "--amount", "1")
    assert parse_time(p["expires_at"]) - parse_time(p["created_at"]) == timedelta(hours=2)


def test_each_payment_gets_a_fresh_address(cli: Cli) -> None:
    seen = [cli.ok(*CREATE, "--amount", "1")["address"] for _ in range(5)]
    assert len(set(seen)) == 5


def test_reference_idempotent_in_both_output_modes(cli: Cli, database_url: str) -> None:
    first = cli.ok(*CREATE, "--amount", "3", "--reference", "R-1")
    human = cli(*CREATE, "--amount", "3.000", "--reference", "R-1")
    assert human.exit_code == 0, human
    assert first["id"] in human.stdout
    assert "already exists" in human.stderr
    again = cli.ok(*CREATE, "--amount", "3", "--reference", "R-1", "--metadata", "retry=1")
    assert again == first  # the stored payment, unchanged
    for args in (("--amount", "4"), ("--amount", "3", "--token", "USDT")):
        conflict = cli(*CREATE, *args, "--reference", "R-1", "--json")
        assert conflict.exit_code == 3, conflict
        assert conflict.stdout == ""
        assert f"already belongs to {first['id']}" in conflict.stderr
    assert len(events_of(database_url, first["id"])) == 1


def test_show(cli: Cli) -> None:
    p = cli.ok(*CREATE, "--amount", "2", "--reference", "SHOW-1", "--metadata", "k=v")
    assert cli.ok("payment", "show", p["id"]) == p
    human = cli("payment", "show", p["id"])
    assert human.exit_code == 0, human
    for text in (p["id"], p["address"], "pending", "2 ETH", "SHOW-1", "k=v", "payment.created"):
        assert text in human.stdout, text
    missing = cli("payment", "show", "pay_doesnotexist", "--json")
    assert missing.exit_code == 4, missing
    assert missing.stderr.strip() == "Error: no payment 'pay_doesnotexist'"
    assert missing.stdout == ""


def test_list_filters_limit_and_order(cli: Cli, token: Any) -> None:
    assert cli.ok("payment", "list") == []
    ids = [cli.ok(*CREATE, "--amount", str(n), "--token", "USDT")["id"] for n in range(1, 6)]
    cancelled = cli.ok("payment", "cancel", ids[0])
    assert cancelled["status"] == "cancelled"
    listed = cli.ok("payment", "list")
    assert isinstance(listed, list) and len(listed) == 5
    assert all(set(p) == PAYMENT_FIELDS for p in listed)
    assert [p["id"] for p in listed] == sorted(ids, key=lambda i: listed_order(listed, i))
    created = [p["created_at"] for p in listed]
    assert created == sorted(created, reverse=True)  # newest first
    pending = cli.ok("payment", "list", "--status", "pending")
    assert {p["id"] for p in pending} == set(ids[1:])
    assert [p["id"] for p in cli.ok("payment", "list", "--status", "cancelled")] == [ids[0]]
    assert len(cli.ok("payment", "list", "--limit", "2")) == 2
    assert len(cli.ok("payment", "list", "--chain", "local", "--status", "pending", "--limit", "3")) == 3
    assert cli.ok("payment", "list", "--status", "confirmed") == []
    human = cli("payment", "list", "--status", "pending")
    assert human.exit_code == 0 and all(i in human.stdout for i in ids[1:]), human
    assert "No payments match." in cli("payment", "list", "--status", "expired").stdout
    bad_status = cli("payment", "list", "--status", "paid")
    assert bad_status.exit_code == 2 and "unknown status 'paid'" in bad_status.stderr, bad_status
    bad_chain = cli("payment", "list", "--chain", "bsc", "--json")
    assert bad_chain.exit_code == 2 and "unknown chain 'bsc'" in bad_chain.stderr, bad_chain
    assert cli("payment", "list", "--limit", "0").exit_code == 2


def listed_order(listed: list[dict[str, Any]], payment_id: str) -> int:
    return [p["id"] for p in listed].index(payment_id)


def test_json_is_exactly_one_document(cli: Cli) -> None:
    p = cli(*CREATE, "--amount", "1", "--reference", "DOC-1", "--json")
    again = cli(*CREATE, "--amount", "1", "--reference", "DOC-1", "--json")  # the "existing" path
    listed = cli("payment", "list", "--json")
    shown = cli("payment", "show", p.json()["id"], "--json")
    for run in (p, again, listed, shown):
        assert run.exit_code == 0, run
        decoder = json.JSONDecoder()
        document, end = decoder.raw_decode(run.stdout)
        assert run.stdout[end:].strip() == "", run
        assert document


def test_cancel_rules(cli: Cli, database_url: str, chain: Chain, token: Any) -> None:
    pending = cli.ok(*CREATE, "--amount", "1")
    partial = cli.ok(*CREATE, "--amount", "5", "--token", "USDT")
    full = cli.ok(*CREATE, "--amount", "2", "--token", "USDT")
    chain.send_token(token, partial["address"], 2_000_000)
    chain.send_token(token, full["address"], 2_000_000)
    chain.mine(1)
    cli.ok("scan", "--chain", "local")
    assert cli.ok("payment", "show", partial["id"])["status"] == "partially_paid"
    assert cli.ok("payment", "show", full["id"])["status"] == "detected"

    for p in (pending, partial):
        done = cli.ok("payment", "cancel", p["id"])
        assert done["status"] == "cancelled"
        assert events_of(database_url, p["id"])[-1][0] == "payment.cancelled"
        assert cli.ok("payment", "show", p["id"])["status"] == "cancelled"
    assert cli.ok("payment", "show", partial["id"])["received_base"] == "2000000"

    for p, status in ((full, "detected"), (pending, "cancelled")):
        before = events_of(database_url, p["id"])
        refused = cli("payment", "cancel", p["id"], "--json")
        assert refused.exit_code == 3, refused
        assert refused.stdout == ""
        assert f"is {status}; only pending or partially paid" in refused.stderr
        assert events_of(database_url, p["id"]) == before
        assert cli.ok("payment", "show", p["id"])["status"] == status

    missing = cli("payment", "cancel", "pay_nope")
    assert missing.exit_code == 4, missing
    assert "no payment 'pay_nope'" in missing.stderr

    human = cli("payment", "cancel", cli.ok(*CREATE, "--amount", "1")["id"])
    assert human.exit_code == 0 and "cancelled" in human.stdout, human


def test_money_sent_to_a_cancelled_payment_is_recorded_and_announced(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """The address stays watched for the late window after a cancel: money is never
    silently dropped (the status stays cancelled; the money is announced)."""
    p = cli.ok(*CREATE, "--amount", "1", "--token", "USDT")
    cli.ok("payment", "cancel", p["id"])
    chain.send_token(token, p["address"], 1_000_000)
    chain.mine(1)
    cli.ok("scan", "--chain", "local")
    after = cli.ok("payment", "show", p["id"])
    assert after["status"] == "cancelled"
    assert len(after["transfers"]) == 1 and after["received_base"] == "1000000"
    assert events_of(database_url, p["id"])[-1][0] == "payment.detected"


def test_user_text_is_not_rich_markup(cli: Cli) -> None:
    """References and metadata are printed literally (and never crash the renderer)."""
    p = cli(*CREATE, "--amount", "1", "--reference", "A[/b]", "--metadata", "note=[bold]x[/]")
    assert p.exit_code == 0, p
    assert "A[/b]" in p.stdout and "[bold]x[/]" in p.stdout, p
    again = cli(*CREATE, "--amount", "1", "--reference", "A[/b]")
    assert again.exit_code == 0 and "'A[/b]' already exists" in again.stderr, again
    listed = cli("payment", "list")
    assert listed.exit_code == 0 and "A[/b]" in listed.stdout, listed
