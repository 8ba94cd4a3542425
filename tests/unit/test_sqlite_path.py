"""`sqlite_path` reads the file of a SQLite URL exactly as SQLAlchemy does, or declines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from ctripctl.db.session import Database, sqlite_path

PATH_CHARS = st.characters(codec="utf-8", exclude_characters="?#%\x00")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////var/lib/ctrip/ctrip.db", "/var/lib/ctrip/ctrip.db"),
        ("sqlite:///relative/ctrip.db", "relative/ctrip.db"),
        ("sqlite+pysqlite:////tmp/a b.db", "/tmp/a b.db"),
        ("sqlite://///tmp/x.db", "//tmp/x.db"),  # POSIX reads // as /; db/checkpoint.py copes
        ("sqlite:///:memory:", None),  # nothing on disk
        ("sqlite://", None),
        ("sqlite:////tmp/x.db?mode=ro", None),  # options: let SQLAlchemy read them
        ("sqlite:////tmp/a%20b.db", None),  # %-escapes: let SQLAlchemy decode them
        ("sqlite+aiosqlite:////tmp/x.db", None),
        ("postgresql+psycopg://postgres@127.0.0.1/test", None),
    ],
)
def test_examples(url: str, expected: str | None) -> None:
    assert sqlite_path(url) == expected
    if expected is not None:
        assert make_url(url).database == expected


@given(st.text(PATH_CHARS, min_size=1, max_size=60))
def test_agrees_with_sqlalchemy_whenever_it_answers(path: str) -> None:
    url = f"sqlite:///{path}"
    found = sqlite_path(url)
    if path == ":memory:":
        assert found is None
    else:  # no ?, # or %: taken, and read exactly as SQLAlchemy reads it
        assert found == make_url(url).database


def test_a_given_engine_is_used_for_everything() -> None:
    from ctripctl.db.session import get_engine

    url = "sqlite:////tmp/ctrip-unit-never-created.db"
    assert Database(url).sqlite_path == "/tmp/ctrip-unit-never-created.db"
    with_engine = Database(url, get_engine(url))
    assert with_engine.sqlite_path is None and with_engine.is_sqlite
