"""Global options work where people type them: before or after the command.

    ctripctl --config X -q status   ==   ctripctl status --config X -q

typer (click) reads an option only at the level that declares it: `-v`, `-q` and
`--log-format` belong to the root (they set up logging before any command runs), while
`--config` and `--json` belong to each command. `RootGroup.parse_args` rewrites the
argument list once, before click parses it: root options found after the command move to
the front, and `--config`/`--json` found before the command move to just after it. The
walk knows which options of each command take a value (from the commands' own
parameters), so a value that looks like an option (`--reference -q`) stays where it is;
everything after `--` is left alone.
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperGroup

#: Options of the root callback: moved in front of the command.
ROOT_FLAGS = frozenset({"-v", "--verbose", "-q", "--quiet"})
ROOT_VALUED = frozenset({"--log-format"})
#: Options every command declares itself (cli/options.py): moved after the command's name.
COMMAND_FLAGS = frozenset({"--json"})
COMMAND_VALUED = frozenset({"--config", "-c"})
_SHORT_ROOT_FLAGS = re.compile(r"-[vq]+")  # -vv, -qv: click's combined short flags


def _takes_value(command: Any, name: str) -> bool:
    """True if `name` is an option of `command` that is followed by a value."""
    for param in getattr(command, "params", ()):
        if name in getattr(param, "opts", ()) or name in getattr(param, "secondary_opts", ()):
            return not (getattr(param, "is_flag", False) or getattr(param, "count", False))
    return False


def normalize(root: Any, ctx: Any, args: list[str]) -> list[str]:
    """`args` with the global options moved to where click reads them."""
    front: list[str] = []
    for_command: list[str] = []
    out: list[str] = []
    command = root
    command_at = None  # index in `out` just after the innermost command's name
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            out.extend(args[i:])
            break
        if token.startswith("-") and len(token) > 1:
            name, has_value, _ = token.partition("=")
            if name in ROOT_VALUED or name in COMMAND_VALUED:
                taken = [token] if has_value else args[i : i + 2]
                (front if name in ROOT_VALUED else for_command).extend(taken)
                i += len(taken)
                continue
            if name in ROOT_FLAGS or _SHORT_ROOT_FLAGS.fullmatch(token):
                front.append(token)
            elif name in COMMAND_FLAGS:
                for_command.append(token)
            else:  # the command's own option, with its value if it takes one
                out.append(token)
                if not has_value and _takes_value(command, name) and i + 1 < len(args):
                    i += 1
                    out.append(args[i])
            i += 1
            continue
        out.append(token)
        if isinstance(command, TyperGroup):
            sub = command.commands.get(token)
            if sub is not None:
                command = sub
                command_at = len(out)
        i += 1
    if command_at is None:  # no command given: let click report what is missing
        return front + for_command + out
    return front + out[:command_at] + for_command + out[command_at:]


class RootGroup(TyperGroup):
    """The `ctripctl` group: accepts the global options before or after the command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, normalize(self, ctx, args))
