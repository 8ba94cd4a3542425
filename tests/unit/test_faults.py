"""The test-only crash points: off unless CTRIP_TEST_FAULT names the point."""

from __future__ import annotations

import os

import pytest

from ctripctl import faults


class Exited(Exception):
    pass


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        raise Exited

    monkeypatch.setattr(os, "_exit", fake_exit)
    return codes


@pytest.mark.parametrize("value", [None, "", "other", "crash-after-commit", "crash-before-commit-x"])
def test_other_points_do_not_exit(
    monkeypatch: pytest.MonkeyPatch, exits: list[int], value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv(faults.FAULT_ENV, raising=False)
    else:
        monkeypatch.setenv(faults.FAULT_ENV, value)
    faults.crash_point("crash-before-commit")
    assert exits == []


NAMED = ["crash-before-commit", "other, crash-before-commit", "crash-before-commit,x"]


@pytest.mark.parametrize("value", NAMED)
def test_a_named_point_exits_with_the_fault_code(
    monkeypatch: pytest.MonkeyPatch, exits: list[int], value: str
) -> None:
    monkeypatch.setenv(faults.FAULT_ENV, value)
    with pytest.raises(Exited):
        faults.crash_point("crash-before-commit")
    assert exits == [faults.FAULT_EXIT_CODE] == [86]
