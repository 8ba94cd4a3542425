"""Human durations for expiries and thresholds: "90s", "30m", "2h", "1d"."""

from __future__ import annotations

import re
from datetime import timedelta

from ctripctl.errors import InputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([0-9]{1,7})([smhd])")
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str, *, what: str = "duration") -> timedelta:
    """Parse `<positive integer><s|m|h|d>` into a timedelta (at most ten years)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise InputError(f"{what} {text!r} is not a duration like 90s, 30m, 2h or 1d")
    value = timedelta(seconds=int(match[1]) * _UNITS[match[2]])
    if value <= timedelta(0):
        raise InputError(f"{what} must be longer than zero")
    if value > MAX_DURATION:
        raise InputError(f"{what} {text!r} is longer than ten years")
    return value


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling of a whole-second duration ("2h", "90s")."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
