"""Every bad `payment create` input: exit 2, one clear stderr line, no traceback, nothing written.

Runs against both databases (the `database_url` fixture); each case counts the payments
and webhook_events rows before and after.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ctripctl.db.models import AddressCounter, Payment, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.cli import Cli

CREATE = ("payment", "create", "--chain", "local")

# (extra arguments, a phrase the one-line error must contain)
BAD_INPUTS: list[tuple[tuple[str, ...], str]] = [
    (("--amount", "-1"), "not a plain positive decimal number"),
    (("--amount", "0"), "greater than zero"),
    (("--amount", "0.000"), "greater than zero"),
    (("--amount", "abc"), "not a plain positive decimal number"),
    (("--amount", ""), "not a plain positive decimal number"),
    (("--amount", "NaN"), "not a plain positive decimal number"),
    (("--amount", "inf"), "not a plain positive decimal number"),
    (("--amount", "-Infinity"), "not a plain positive decimal number"),
    (("--amount", "1e999999999"), "not a plain positive decimal number"),
    (("--amount", "1E3"), "not a plain positive decimal number"),
    (("--amount", "1,5"), "not a plain positive decimal number"),
    (("--amount", "1.0000001", "--token", "USDT"), "7 decimal places; USDT has only 6"),
    (("--amount", "0.0000000000000000001"), "19 decimal places; ETH has only 18"),
    (("--amount", "9" * 80), "too large"),
    (("--amount", "1" * 500), "too long"),
    (("--amount", "1", "--token", "DAI"), "unknown token 'DAI' on chain 'local'"),
    (("--amount", "1", "--webhook-url", "ftp://example.com/h"), "must start with http:// or https://"),
    (("--amount", "1", "--webhook-url", "example.com/h"), "must start with http:// or https://"),
    (("--amount", "1", "--webhook-url", "http://"), "has no host"),
    (("--amount", "1", "--webhook-url", "http://[::1/h"), "is malformed"),
    (("--amount", "1", "--webhook-url", "http://h:99999/"), "is malformed"),
    (("--amount", "1", "--webhook-url", "https://u:p@example.com/"), "must not contain credentials"),
    (("--amount", "1", "--expires-in", "soon"), "expires-in 'soon' is not a duration"),
    (("--amount", "1", "--expires-in", "0m"), "longer than zero"),
    (("--amount", "1", "--expires-in", "-5m"), "is not a duration"),
    (("--amount", "1", "--expires-in", "1.5h"), "is not a duration"),
    (("--amount", "1", "--expires-in", "9999d"), "longer than ten years"),
    (("--amount", "1", "--metadata", "novalue"), "not of the form key=value"),
    (("--amount", "1", "--metadata", "=v"), "metadata key ''"),
    (("--amount", "1", "--metadata", "a b=1"), "metadata key 'a b'"),
    (("--amount", "1", "--metadata", "k=1", "--metadata", "k=2"), "given twice"),
    (("--amount", "1", "--reference", "has space"), "printable ASCII"),
    (("--amount", "1", "--reference", "x" * 129), "printable ASCII"),
    (("--amount", "[/x]"), "amount '[/x]' is not"),  # user text in the message is not rich markup
    (("--amount", "1", "--reference", "[bold] x"), "reference '[bold] x' must be"),
]


def counts(url: str) -> tuple[int, int, int]:
    with transaction(get_engine(url)) as session:
        payments = session.execute(select(func.count()).select_from(Payment)).scalar_one()
        events = session.execute(select(func.count()).select_from(WebhookEvent)).scalar_one()
        next_index = session.execute(select(AddressCounter.next_index)).scalar_one()
    return payments, events, next_index


def assert_one_line_error(run: object, phrase: str) -> None:
    stderr = run.stderr  # type: ignore[attr-defined]
    assert run.exit_code == 2, run  # type: ignore[attr-defined]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, run
    assert lines[0].startswith("Error: "), run
    assert phrase in lines[0], run
    assert "Traceback" not in stderr
    assert run.stdout == "", run  # type: ignore[attr-defined]


def test_bad_inputs_write_nothing(cli: Cli, database_url: str) -> None:
    cli.ok(*CREATE, "--amount", "1")  # one good payment, so "nothing changed" is not vacuous
    before = counts(database_url)
    assert before == (1, 1, 1)
    for args, phrase in BAD_INPUTS:
        for json_flag in ((), ("--json",)):
            run = cli(*CREATE, *args, *json_flag)
            assert_one_line_error(run, phrase)
        assert counts(database_url) == before, args


def test_unknown_chain(cli: Cli, database_url: str) -> None:
    run = cli("payment", "create", "--chain", "bsc", "--amount", "1")
    assert_one_line_error(run, "unknown chain 'bsc' (known: local)")
    assert counts(database_url) == (0, 0, 0)


def test_private_webhook_target_refused_when_not_allowed(cli: Cli, database_url: str) -> None:
    text = cli.config.read_text().replace("allow_private_targets = true", "allow_private_targets = false")
    cli.config.write_text(text)
    for url in (
        "http://127.0.0.1:9/h",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/h",
        "http://[::1]/h",
    ):
        run = cli(*CREATE, "--amount", "1", "--webhook-url", url)
        assert_one_line_error(run, "private or internal address")
    assert counts(database_url) == (0, 0, 0)


@pytest.mark.parametrize(
    ("typed", "base", "shown"),
    [("1.000000", "1000000", "1"), ("  2  ", "2000000", "2"), ("0.000001", "1", "0.000001")],
)
def test_exact_forms_accepted(cli: Cli, typed: str, base: str, shown: str) -> None:
    p = cli.ok(*CREATE, "--amount", typed, "--token", "USDT")
    assert (p["amount_base"], p["amount"]) == (base, shown)


def test_huge_exact_amount_survives_the_database(cli: Cli, database_url: str) -> None:
    """78-digit base-unit amounts round-trip through NUMERIC(78,0) / TEXT exactly."""
    amount = "115792089237316195423570985008687907853269984665640564039457.584007913129639935"
    p = cli.ok(*CREATE, "--amount", amount)
    assert p["amount_base"] == str(2**256 - 1)
    assert p["amount"] == amount
    assert cli.ok("payment", "show", p["id"])["amount_base"] == str(2**256 - 1)


def test_no_wallet_configured(cli: Cli, database_url: str) -> None:
    from tests.support.config import TEST_XPUB

    cli.config.write_text(cli.config.read_text().replace(f'xpub = "{TEST_XPUB}"', ""))
    run = cli(*CREATE, "--amount", "1")
    assert_one_line_error(run, "no wallet configured: set [wallet] xpub or CTRIP_XPUB")
    assert counts(database_url) == (0, 0, 0)
