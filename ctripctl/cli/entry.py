"""The `ctripctl` executable: the console script and `python -m ctripctl` start here.

One run is one short command, and most of its objects are created while importing
(typer, rich, then SQLAlchemy and the models for most commands): a few hundred
thousand long-lived objects and almost no cyclic garbage. CPython's default cyclic
collector runs every 700 new container objects, re-walking those objects again and again
during the imports, and walks them all once more when the interpreter exits.

So, before anything else is imported, the young generation's threshold is raised (any
real cyclic garbage is still collected, just in larger steps), and at exit everything
alive is frozen, which the final collection then skips. Database connections are closed
explicitly first: frozen objects are never finalised, and SQLite folds its write-ahead
log back into the database file only when the last connection closes. Before all that
this module imports only gc, sys and contextlib. Measured by benchmarks/bench_cli.py
(start-up of `payment create`) and benchmarks/bench_scan.py (a whole scan process).
"""

from __future__ import annotations

import contextlib
import gc
import sys

#: Container allocations between two young-generation collections (CPython's default: 700).
GEN0_THRESHOLD = 100_000


def main() -> None:
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
    from ctripctl.cli.app import app

    try:
        app()
    finally:
        session = sys.modules.get("ctripctl.db.session")
        if session is not None:
            with contextlib.suppress(Exception):  # best effort: never mask the exit code
                session.dispose_engines()
        gc.freeze()
