"""Test-only crash points: exit the process at a named point, as `kill -9` would.

A pass calls `crash_point("name")` where a crash matters (right before or after a
commit, after a broadcast). When the environment variable CTRIP_TEST_FAULT names that
point (or lists it, comma-separated), the process exits at once with FAULT_EXIT_CODE,
skipping every cleanup handler, so crash-safety tests can run the CLI in a subprocess and
then check what the database kept. Unset, it costs one dictionary lookup. Standard
library only: every layer may call it.
"""

from __future__ import annotations

import os

FAULT_ENV = "CTRIP_TEST_FAULT"
FAULT_EXIT_CODE = 86


def crash_point(name: str) -> None:
    """Exit with FAULT_EXIT_CODE if CTRIP_TEST_FAULT names `name` (one name or a comma list)."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted and name in (part.strip() for part in wanted.split(",")):
        os._exit(FAULT_EXIT_CODE)
