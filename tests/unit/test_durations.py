"""Human durations: "90s", "30m", "2h", "1d" and nothing vaguer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctripctl.domain.durations import MAX_DURATION, format_duration, parse_duration
from ctripctl.errors import InputError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        (" 45M ", timedelta(minutes=45)),
        ("3650d", timedelta(days=3650)),
    ],
)
def test_parses(text: str, value: timedelta) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not a duration"),
        ("30", "is not a duration"),
        ("m", "is not a duration"),
        ("1.5h", "is not a duration"),
        ("-5m", "is not a duration"),
        ("1w", "is not a duration"),
        ("1h30m", "is not a duration"),
        ("30 m", "is not a duration"),
        ("１h", "is not a duration"),  # full-width digit
        ("99999999d", "is not a duration"),
        ("0s", "longer than zero"),
        ("0d", "longer than zero"),
        ("3651d", "longer than ten years"),
        ("9999999h", "longer than ten years"),
    ],
)
def test_rejects(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_duration(text)


def test_error_names_what() -> None:
    with pytest.raises(InputError, match="expires-in 'soon'"):
        parse_duration("soon", what="expires-in")


@given(seconds=st.integers(min_value=1, max_value=int(MAX_DURATION.total_seconds())))
def test_format_round_trips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    text = format_duration(value)
    if len(text) <= 8:  # the parser takes at most 7 digits
        assert parse_duration(text) == value


def test_format_is_shortest() -> None:
    assert format_duration(timedelta(hours=2)) == "2h"
    assert format_duration(timedelta(seconds=90)) == "90s"
    assert format_duration(timedelta(days=7)) == "7d"
    assert format_duration(timedelta(minutes=90)) == "90m"
