"""Tables on the terminal: rich for small ones, a plain aligned table for large ones.

rich measures and lays out every cell of a table (several ms a row under load: ~8 s for the 8,000 level-1 nodes
of a 100,000-value version). Above :data:`PLAIN_MIN_ROWS` rows :func:`print_table` writes a plain table instead:
a header, a rule, and one row per record, the columns padded to their widest cell (in terminal cells, so wide
characters line up), text columns folded into the terminal's width. Cells are data: they are passed through
:func:`taxonomy.normalize.printable` (control characters shown as escapes) and written as text, never as markup.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

#: Tables with at least this many rows are written plain (below it: rich, with its box drawing).
PLAIN_MIN_ROWS = 200


def print_table(console, columns: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[str] = (),
                title: str | None = None, plain_min_rows: int = PLAIN_MIN_ROWS) -> None:
    """Print ``rows`` (raw text cells, one per column) under ``columns`` on ``console`` (a rich Console).
    ``numeric`` columns are right-aligned and never folded."""
    from taxonomy.normalize import printable

    if len(rows) < plain_min_rows:
        from rich.markup import escape
        from rich.table import Table

        t = Table(title=escape(title) if title else None)
        for col in columns:
            t.add_column(col, overflow="fold", justify="right" if col in numeric else "left")
        for row in rows:
            t.add_row(*(escape(printable(c)) for c in row))
        console.print(t)
        return
    text = plain_table(columns, [[printable(c) for c in row] for row in rows], width=console.width,
                       numeric=numeric)
    if title:
        text = f"{title}\n{text}"
    console.file.write(text)
    console.file.flush()


def plain_table(columns: Sequence[str], rows: Sequence[Sequence[str]], *, width: int,
                numeric: Sequence[str] = ()) -> str:
    """The plain aligned table (see the module docstring) as a string ending with a newline."""
    from rich.cells import cell_len as rich_cell_len

    def cell_len(text: str) -> int:  # printable ASCII is one cell a character: rich's answer without its per-call work
        return len(text) if text.isascii() and text.isprintable() else rich_cell_len(text)

    n = len(columns)
    right = [c in numeric for c in columns]
    cells = [[c.replace("\t", " ") for c in row] for row in rows]
    natural = [max([cell_len(columns[j])] + [max(map(cell_len, r[j].split("\n"))) for r in cells])
               for j in range(n)]
    widths = list(natural)
    gap = 2
    # fold the text columns, widest first, until the row fits the terminal (each keeps at least 12 cells)
    over = sum(widths) + gap * (n - 1) - width
    text_cols = sorted((j for j in range(n) if not right[j]), key=lambda j: -widths[j])
    for j in text_cols:
        if over <= 0:
            break
        floor = max(12, cell_len(columns[j]))
        cut = min(over, widths[j] - floor)
        if cut > 0:
            widths[j] -= cut
            over -= cut

    def fold(text: str, w: int) -> list[str]:
        if cell_len(text) <= w and "\n" not in text:
            return [text]
        lines: list[str] = []
        for para in text.split("\n"):
            lines.extend(textwrap.wrap(para, w, break_long_words=True, break_on_hyphens=False) or [""])
        return lines

    def pad(text: str, j: int) -> str:
        fill = " " * max(0, widths[j] - cell_len(text))
        return fill + text if right[j] else text + fill

    sep = " " * gap
    out = [sep.join(pad(c, j) for j, c in enumerate(columns)).rstrip(),
           sep.join("-" * widths[j] for j in range(n))]
    for row in cells:
        folded = [fold(c, widths[j]) for j, c in enumerate(row)]
        for i in range(max(map(len, folded))):
            out.append(sep.join(pad(f[i] if i < len(f) else "", j) for j, f in enumerate(folded)).rstrip())
    return "\n".join(out) + "\n"
