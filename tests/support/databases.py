"""Per-test databases: a SQLite file, or a fresh PostgreSQL schema (search_path in the URL).

PostgreSQL comes from CTRIP_TEST_POSTGRES_URL. When it is unset, PostgreSQL tests are
skipped — unless CTRIP_REQUIRE_POSTGRES=1 (set by `make test` and .ci/run), which turns
"not configured" and "not reachable" into failures: CI never silently skips it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from ctripctl.db import migrate
from ctripctl.db.session import get_engine

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str:
    url = os.environ.get("CTRIP_TEST_POSTGRES_URL")
    required = os.environ.get("CTRIP_REQUIRE_POSTGRES") == "1"
    if not url:
        if required:
            pytest.fail("CTRIP_REQUIRE_POSTGRES=1 but CTRIP_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set CTRIP_TEST_POSTGRES_URL)")
    return url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema; yields a URL whose connections use it (search_path option)."""
    base = postgres_base_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {base} is not reachable: {exc}")
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        _dispose(url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def sqlite_file(directory: Path) -> Iterator[str]:
    url = f"sqlite:///{directory / 'ctrip.db'}"
    try:
        yield url
    finally:
        _dispose(url)


@contextmanager
def migrated(kind: str, directory: Path) -> Iterator[str]:
    """A migrated, empty ctripctl database of `kind` ("sqlite" or "postgresql")."""
    maker = postgres_schema() if kind == "postgresql" else sqlite_file(directory)
    with maker as url:
        migrate.upgrade(url)
        yield url


def _dispose(url: str) -> None:
    get_engine(url).dispose()
    get_engine.cache_clear()
