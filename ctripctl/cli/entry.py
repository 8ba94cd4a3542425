"""The `ctripctl` executable: the console script and `python -m ctripctl` start here.

One run is one short command that creates many long-lived objects and almost no cyclic
garbage, so the young-generation GC threshold is raised before anything else is
imported, and at exit (after closing database connections, so SQLite folds its WAL
back) everything alive is frozen. Until then this module imports only gc, sys and
contextlib. docs/scan-pass.md ("Start-up") has the reasoning and the measurements.
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
