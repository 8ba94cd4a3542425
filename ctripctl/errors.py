"""The one error tree of ctripctl.

Every failure a user can cause or meet is one of these; the CLI turns each into a
single `Error: ...` line on stderr and the exit code it carries::

    CtripError                      exit 1 (only if raised bare: a bug)
    ├── InputError                  exit 2  bad value, unknown chain/token, invalid config
    ├── RuleError                   exit 3  a transition the lifecycle forbids
    ├── NotFound                    exit 4  no such payment / event
    ├── Unavailable                 exit 5  node or database unreachable; safe to retry
    │   ├── NodeUnavailable         exit 5
    │   └── DatabaseUnavailable     exit 5
    ├── Busy                        exit 6  another pass holds the lock
    └── Unhealthy                   exit 7  `status` found a threshold crossed

Library code raises these and never imports typer; adapters (database, JSON-RPC, HTTP)
translate their libraries' exceptions into this tree at one boundary.
"""

from __future__ import annotations


class CtripError(Exception):
    """Root of every error ctripctl raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(CtripError):
    """A value given by the user (option, CSV cell, config key) is not acceptable."""

    exit_code = 2


class RuleError(CtripError):
    """The request is well formed but the payment lifecycle forbids it."""

    exit_code = 3


class NotFound(CtripError):
    """The payment or event asked for does not exist."""

    exit_code = 4


class Unavailable(CtripError):
    """A dependency (node or database) cannot be reached; nothing was committed."""

    exit_code = 5


class NodeUnavailable(Unavailable):
    """Every configured RPC URL failed, or answered for the wrong chain."""


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached or opened."""


class Busy(CtripError):
    """Another pass holds this chain's lock; this run changed nothing."""

    exit_code = 6


class Unhealthy(CtripError):
    """`ctripctl status` found a threshold crossed (lag, idle passes, dead webhooks)."""

    exit_code = 7


EXIT_CODES: dict[int, str] = {
    0: "ok",
    1: "unexpected error (a bug: please report it)",
    2: "bad input or usage",
    3: "forbidden by the payment lifecycle",
    4: "not found",
    5: "node or database unavailable (safe to retry)",
    6: "another pass holds the lock (safe to retry later)",
    7: "unhealthy (status thresholds crossed)",
}
