"""Tables that fold prose and never cut an identifier.

A rich ``Table`` squeezes every column, no_wrap ones included, once the wrapping columns cannot shrink
any more, and then crops identifiers with "…". ARNs, event IDs and organization paths must print whole
(they are pasted into the next command), so columns holding them are ``no_wrap`` and ``print_table``
renders the table at least as wide as those columns need: on a narrow terminal the line is longer than
the screen (the terminal wraps it visually) but its text is intact. Piped, a table is as wide as its
content (up to 240 columns) rather than the 80 columns rich assumes without a terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

_PROSE_MIN = 16  # a folding column is never squeezed below this (or its longest cell, if shorter)
_PIPED_MAX = 240  # piped output: prose folds only beyond this line length


def _plain(cell: object) -> str:
    from rich.text import Text

    return cell.plain if isinstance(cell, Text) else str(cell)


def needed_width(table: Table) -> int:
    """The narrowest width at which no ``no_wrap`` column of ``table`` is cut."""
    from rich.cells import cell_len

    total = 0
    for column in table.columns:
        lines = [line for cell in column.cells for line in _plain(cell).splitlines()] + [str(column.header)]
        longest = max((cell_len(line) for line in lines), default=0)
        total += longest if column.no_wrap else min(longest, _PROSE_MIN)
    left, right = table.padding[3], table.padding[1]
    total += len(table.columns) * (left + right) + max(len(table.columns) - 1, 0)
    if table.show_edge and table.box is not None:
        total += 2
    return total


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` at the console's width, or wider when an identifier column needs it."""
    for column in table.columns:  # prose folds (a word longer than its column breaks), never "…"
        if not column.no_wrap:
            column.overflow = "fold"
    need = needed_width(table)
    width = console.width
    if not console.is_terminal:  # piped: no screen to fit, so prose is not folded either (up to a sane width)
        from rich.measure import Measurement

        natural = Measurement.get(console, console.options.update_width(_PIPED_MAX), table).maximum
        need = max(need, min(natural, _PIPED_MAX))
    if need <= width:
        console.print(table)
        return
    console.width = need
    try:
        console.print(table, crop=False)
    finally:
        console.width = width
