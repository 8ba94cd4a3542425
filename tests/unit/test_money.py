"""Exact money: parse_amount/format_amount over every int and every decimals 0..36."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctripctl.domain.money import MAX_DECIMALS, MAX_UINT256, format_amount, parse_amount
from ctripctl.errors import InputError

decimals_st = st.integers(min_value=0, max_value=MAX_DECIMALS)
base_st = st.integers(min_value=1, max_value=MAX_UINT256)


@given(base=base_st, decimals=decimals_st)
def test_round_trip_any_amount(base: int, decimals: int) -> None:
    text = format_amount(base, decimals)
    assert "e" not in text.lower()
    assert parse_amount(text, decimals) == base
    assert isinstance(parse_amount(text, decimals), int)


@given(base=st.integers(min_value=-MAX_UINT256, max_value=MAX_UINT256), decimals=decimals_st)
def test_format_is_canonical(base: int, decimals: int) -> None:
    """No trailing zeros after the point, no bare point, sign only when negative."""
    text = format_amount(base, decimals)
    if "." in text:
        assert not text.endswith("0") and not text.endswith(".")
        assert len(text.split(".")[1]) <= decimals
    assert text.startswith("-") == (base < 0)


@given(whole=st.integers(min_value=0, max_value=10**30), frac=st.integers(min_value=0, max_value=10**6 - 1))
def test_trailing_zeros_are_exact(whole: int, frac: int) -> None:
    text = f"{whole}.{frac:06d}000"  # 9 places, but the last three are zeros
    expected = whole * 10**6 + frac
    if expected == 0:
        with pytest.raises(InputError):
            parse_amount(text, 6)
    else:
        assert parse_amount(text, 6) == expected


@pytest.mark.parametrize(
    ("text", "decimals", "base"),
    [
        ("12.5", 6, 12_500_000),
        ("1", 18, 10**18),
        ("0.000001", 6, 1),
        ("  3.0 ", 6, 3_000_000),
        ("007", 0, 7),
        ("1.50", 1, 15),
        (str(MAX_UINT256), 0, MAX_UINT256),
    ],
)
def test_examples(text: str, decimals: int, base: int) -> None:
    assert parse_amount(text, decimals) == base


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "not a plain positive decimal"),
        ("+1", "not a plain positive decimal"),
        ("0", "greater than zero"),
        ("0.000", "greater than zero"),
        ("", "not a plain positive decimal"),
        ("abc", "not a plain positive decimal"),
        ("12,5", "not a plain positive decimal"),
        ("1_000", "not a plain positive decimal"),
        ("NaN", "not a plain positive decimal"),
        ("nan", "not a plain positive decimal"),
        ("inf", "not a plain positive decimal"),
        ("-Infinity", "not a plain positive decimal"),
        ("1e999999999", "not a plain positive decimal"),
        ("1E3", "not a plain positive decimal"),
        ("0x10", "not a plain positive decimal"),
        (".5", "not a plain positive decimal"),
        ("5.", "not a plain positive decimal"),
        ("1.2.3", "not a plain positive decimal"),
        ("١٢", "not a plain positive decimal"),  # Arabic-Indic digits: int() would take them
        ("１２", "not a plain positive decimal"),  # full-width digits
        ("1 000", "not a plain positive decimal"),
        ("1.0000001", "7 decimal places"),
        (str(MAX_UINT256 + 1), "too large"),
        ("9" * 99, "too large"),
        ("1" * 101, "too long"),
        ("1." + "0" * 200, "too long"),
    ],
)
def test_rejects(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_amount(text, 6)


def test_too_large_after_scaling() -> None:
    """The whole part fits uint256 but not once multiplied by 10**decimals."""
    whole = MAX_UINT256 // 10**18 + 1
    with pytest.raises(InputError, match="too large"):
        parse_amount(str(whole), 18)
    assert parse_amount(str(whole - 1), 18) == (whole - 1) * 10**18


def test_over_precise_names_the_asset() -> None:
    with pytest.raises(InputError, match="USDT has only 6"):
        parse_amount("0.1234567", 6, asset="USDT")
    with pytest.raises(InputError, match="has only 0"):
        parse_amount("1.5", 0)


@pytest.mark.parametrize("value", [1.5, 12, None, b"1"])
def test_only_text_is_accepted(value: object) -> None:
    """A float (or any non-str) never gets near the parser: no silent binary rounding."""
    with pytest.raises(TypeError):
        parse_amount(value, 6)  # type: ignore[arg-type]


@given(text=st.text(max_size=120))
def test_arbitrary_text_never_crashes(text: str) -> None:
    """Any string either parses to a positive int or is one InputError, never anything else."""
    try:
        base = parse_amount(text, 18)
    except InputError:
        return
    assert isinstance(base, int) and 0 < base <= MAX_UINT256


def test_format_examples() -> None:
    assert format_amount(12_500_000, 6) == "12.5"
    assert format_amount(3, 0) == "3"
    assert format_amount(0, 18) == "0"
    assert format_amount(1, 18) == "0.000000000000000001"
    assert format_amount(-1_500_000, 6) == "-1.5"
    assert format_amount(10**18, 18) == "1"
