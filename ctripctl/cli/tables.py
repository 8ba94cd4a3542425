"""Tables that fit the terminal without breaking what people copy.

Ids, addresses and hashes are copied into the next command (`webhooks show evt_…`, a
block explorer), so they are never wrapped and never cut. When the terminal is too
narrow for every column, the least important columns are left out (`priority`: a higher
number goes first); when even a row's identifying columns and a few others do not fit,
each row is printed as a small block of `name  value` lines instead of a table.

Widths are measured on the cells' plain text; a rich table with a heavy-head box takes
the column widths plus 3 per column plus 1 (one space of padding each side, one rule
between and around the columns).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Row], str]  # rich markup; user text must be escaped by the caller
    ident: bool = False  # an id, address or hash: shown whole on one line, or not at all
    keep: bool = False  # always shown: the row's identity
    priority: int = 0  # which to leave out first when narrow: the highest number
    wrap: int | None = None  # free text: may wrap, at most this wide
    justify: str = "left"


def width_of(markup: str) -> int:
    """Cells of the widest line of `markup` once rendered."""
    return max((Text.from_markup(line).cell_len for line in markup.split("\n")), default=0)


def _table_width(widths: Sequence[int]) -> int:
    return sum(widths) + 3 * len(widths) + 1


def choose_columns(columns: Sequence[Column], cells: Sequence[Sequence[str]], width: int) -> list[int] | None:
    """Indexes of the columns to show, in their own order; None: stack the rows instead."""
    natural = []
    for i, column in enumerate(columns):
        measured = max([width_of(column.header), *(width_of(row[i]) for row in cells)])
        natural.append(min(measured, max(column.wrap, len(column.header))) if column.wrap else measured)
    chosen = [i for i, c in enumerate(columns) if c.keep]
    if _table_width([natural[i] for i in chosen]) > width:
        return None
    for i in sorted((i for i, c in enumerate(columns) if not c.keep), key=lambda i: columns[i].priority):
        if _table_width([natural[j] for j in [*chosen, i]]) <= width:
            chosen.append(i)
    return sorted(chosen)


def fitted_table(
    columns: Sequence[Column],
    rows: Sequence[Row],
    *,
    width: int,
    title: str | None = None,
    min_columns: int = 1,
) -> RenderableType:
    """`rows` as a table no wider than `width`, or stacked blocks when a table would have
    fewer than `min_columns` columns beside the kept ones."""
    cells = [[c.cell(row) for c in columns] for row in rows]
    chosen = choose_columns(columns, cells, width)
    kept = sum(1 for c in columns if c.keep)
    if chosen is None or len(chosen) - kept < min(min_columns, len(columns) - kept):
        return _stacked(columns, cells, title)
    table = Table(title=title, title_justify="left")
    for i in chosen:
        column = columns[i]
        if column.wrap:
            table.add_column(column.header, overflow="fold", max_width=column.wrap, justify=column.justify)  # type: ignore[arg-type]
        else:
            table.add_column(column.header, no_wrap=True, justify=column.justify)  # type: ignore[arg-type]
    for row in cells:
        table.add_row(*(row[i] for i in chosen))
    return table


def _stacked(columns: Sequence[Column], cells: Sequence[Sequence[str]], title: str | None) -> RenderableType:
    """One `name  value` block per row: the identifying values keep their whole line."""
    parts: list[RenderableType] = []
    if title:
        parts.append(Text(title, style="italic"))
    for n, row in enumerate(cells):
        if n:
            parts.append(Text(""))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for column, value in zip(columns, row, strict=True):
            if value:
                grid.add_row(column.header, value)
        parts.append(grid)
    return Group(*parts)
