"""The migrations build exactly the schema ctripctl/db/models.py declares (both engines).

A column, index or constraint added to the models without a migration (or the other way
round) is a database that differs from what the code and its query-plan tests assume:
alembic's autogenerate comparison of the migrated database against the models is empty.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ctripctl.db.models import Base
from ctripctl.db.session import get_engine


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    with get_engine(database_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], "\n".join(map(str, differences))
