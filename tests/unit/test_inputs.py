"""Small non-money inputs: metadata pairs, references, webhook URL syntax."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctripctl.domain.inputs import (
    MAX_METADATA_PAIRS,
    MAX_METADATA_VALUE,
    check_reference,
    check_webhook_url,
    parse_metadata,
)
from ctripctl.errors import InputError


def test_metadata_pairs() -> None:
    assert parse_metadata([]) == {}
    assert parse_metadata(["order=7", "note=a=b", "empty=", "x.y-z_1=ü"]) == {
        "order": "7",
        "note": "a=b",
        "empty": "",
        "x.y-z_1": "ü",
    }


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["order"], "not of the form key=value"),
        (["=7"], "metadata key ''"),
        (["a b=1"], "metadata key 'a b'"),
        (["k" * 65 + "=1"], "1-64 letters"),
        (["ключ=1"], "1-64 letters"),
        (["a=1", "a=2"], "given twice"),
        (["a=" + "x" * (MAX_METADATA_VALUE + 1)], "over 500 chars"),
        ([f"k{i}=v" for i in range(MAX_METADATA_PAIRS + 1)], "at most 50"),
    ],
)
def test_metadata_rejects(pairs: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_metadata(pairs)


KEYS = st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True)


@given(st.dictionaries(KEYS, st.text(max_size=50), max_size=10))
def test_metadata_round_trip(data: dict[str, str]) -> None:
    assert parse_metadata([f"{k}={v}" for k, v in data.items()]) == data


@pytest.mark.parametrize("reference", ["ORDER-1", "a", "x" * 128, "inv/2024#7", "~!@"])
def test_references(reference: str) -> None:
    assert check_reference(reference) == reference


@pytest.mark.parametrize("reference", ["", "x" * 129, "has space", "tab\there", "naïve", "new\nline"])
def test_bad_references(reference: str) -> None:
    with pytest.raises(InputError, match="printable ASCII"):
        check_reference(reference)


@pytest.mark.parametrize(
    "url",
    [
        "https://merchant.example/hooks/ctrip",
        "http://127.0.0.1:8080/h?x=1",
        "https://[::1]:8443/h",
        "HTTPS://EXAMPLE.COM/",
    ],
)
def test_webhook_urls(url: str) -> None:
    assert check_webhook_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "must start with http"),
        ("example.com/hook", "must start with http"),
        ("javascript:alert(1)", "must start with http"),
        ("file:///etc/passwd", "must start with http"),
        ("", "must start with http"),
        ("http://", "has no host"),
        ("https:///path", "has no host"),
        ("http://[::1/x", "malformed"),
        ("http://example.com:99999/", "malformed"),
        ("http://example.com:port/", "malformed"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://exa mple.com/", "whitespace"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_bad_webhook_urls(url: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_webhook_url(url)


@given(st.text(max_size=200))
def test_webhook_url_never_crashes(url: str) -> None:
    """Any text is either accepted unchanged or one InputError (never a ValueError)."""
    try:
        assert check_webhook_url(url) == url
    except InputError:
        return


def test_public_ids() -> None:
    from ctripctl.domain.ids import new_id

    ids = {new_id("pay") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"pay_[0-9a-z]{20}", i) for i in ids)
    assert re.fullmatch(r"evt_[0-9a-z]{8}", new_id("evt", 8))
    # Every position, the first included, is drawn from the whole alphabet.
    for position in (4, 13, 23):
        assert {i[position] for i in ids} == set("0123456789abcdefghijklmnopqrstuvwxyz")
