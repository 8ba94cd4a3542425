"""Logging: stderr only, text for people or one JSON object per line for log shippers.

The root callback calls `configure_logging()` from `-v/--verbose`, `-q/--quiet` and
`--log-format text|json` (or `CTRIP_LOG_FORMAT`). Standard library only, so `--help`
stays instant. Levels: default INFO (one summary line per pass, warnings, errors),
`-q` WARNING, `-v` DEBUG for ctripctl, `-vv` DEBUG for libraries too (httpx logs
every request at INFO, which would drown the summary lines, so it is held at WARNING
below `-vv`).

Every URL in every line is masked (`ctripctl.urls.mask_urls_in`) by both formatters, the
message, the structured fields and the traceback alike: httpx logs each request's full
URL, and a hosted node's API key sits in its path or query.

Every pass (scan, confirm, webhooks flush, status) ends with `log_pass(command, chain,
result)`: one line with the chain, the block range, the counts and the duration.
Text::

    2026-11-29T12:00:00Z INFO ctripctl.pass scan chain=eth ok=true from_block=100 to_block=599 ...

JSON (`--log-format json`)::

    {"ts": "2026-11-29T12:00:00.123Z", "level": "info", "logger": "ctripctl.pass",
     "msg": "scan chain=eth ...", "command": "scan", "chain": "eth", "from_block": 100, ...}
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ctripctl.urls import mask_urls_in

LOGGER = "ctripctl"
PASS_LOGGER = "ctripctl.pass"
FORMATS = ("text", "json")
NOISY_LIBRARIES = ("httpx", "httpcore", "web3", "urllib3", "alembic", "sqlalchemy")
_FIELDS_ATTR = "ctrip_fields"
_json_mode = False  # set by configure_logging(); errors then go out as JSON lines too


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at emit time (test runners swap it per run)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, plus the record's structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": _timestamp(record.created, precise=True),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask_urls_in(record.getMessage()),
        }
        for key, value in (getattr(record, _FIELDS_ATTR, None) or {}).items():
            document.setdefault(key, _masked(value))
        if record.exc_info:
            document["exc"] = mask_urls_in(self.formatException(record.exc_info))
        return json.dumps(document, default=_masked_text, separators=(", ", ": "))


class TextFormatter(logging.Formatter):
    """`<UTC time> LEVEL logger message` — greppable, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record.created)} {record.levelname} {record.name} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return mask_urls_in(line)


def _masked(value: Any) -> Any:
    """A structured field with the URLs in its strings masked (lists and mappings too)."""
    if isinstance(value, str):
        return mask_urls_in(value)
    if isinstance(value, Mapping):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


def _masked_text(value: Any) -> str:
    """JSON fallback for values that are not JSON types: their text, URLs masked."""
    return mask_urls_in(str(value))


def configure_logging(verbosity: int = 0, fmt: str = "text") -> None:
    """Install the one stderr handler on the root logger (idempotent: replaces its own).

    verbosity: -1 quiet (warnings and errors), 0 default (info), 1 debug, 2 debug everywhere.
    """
    global _json_mode
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}")
    _json_mode = fmt == "json"
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger(LOGGER).setLevel(level)
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)


def log_error(exc: BaseException) -> bool:
    """In JSON mode, log a command's fatal error as one JSON line and return True.

    In text mode return False: the CLI prints its usual `Error: …` line itself.
    """
    if not _json_mode:
        return False
    fields = {"error": type(exc).__name__, "exit_code": getattr(exc, "exit_code", 1)}
    logging.getLogger(LOGGER).error("Error: %s", exc, extra={_FIELDS_ATTR: fields})
    return True


def log_pass(
    command: str,
    chain: str | None,
    result: Mapping[str, Any],
    *,
    ok: bool = True,
    duration_s: float | None = None,
) -> None:
    """Log the one summary line of a pass: chain, range, counts, duration.

    `result` is the pass's JSON result; its scalar fields (numbers, booleans, short
    strings) go into the line as key=value and into the JSON record as fields; nested
    mappings are flattened with `_`; lists are summarised by their length.
    """
    fields: dict[str, Any] = {"command": command, "chain": chain, "ok": ok}
    if duration_s is not None:
        fields["duration_s"] = round(duration_s, 3)
    fields.update(_scalars(result))
    parts = [command] + [f"{k}={_text(v)}" for k, v in fields.items() if k != "command" and v is not None]
    logger = logging.getLogger(PASS_LOGGER)
    logger.log(logging.INFO if ok else logging.WARNING, " ".join(parts), extra={_FIELDS_ATTR: fields})


def _scalars(result: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in result.items():
        name = f"{prefix}_{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(_scalars(value, name))
        elif isinstance(value, list | tuple):
            out[f"{name}_count"] = len(value)
        elif (
            value is None
            or isinstance(value, bool | int | float)
            or (isinstance(value, str) and len(value) <= 80)
        ):
            out[name] = value
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    text = str(value)
    return json.dumps(text) if (" " in text or "=" in text or not text) else text


def _timestamp(created: float, precise: bool = False) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    spec = "milliseconds" if precise else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")
