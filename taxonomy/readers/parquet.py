"""Parquet input, read in record batches; the "line" of a row is its 1-based row number.

Record files are handed over a batch at a time column by column (:meth:`ParquetRows.blocks`), where the batch's
columns are text (see :func:`~taxonomy.readers.arrow.text_cells`); a batch with other types, or a null where
text is needed, goes row by row as Python values (:meth:`ParquetBlock.rows`), which also gives every error its
row and field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from taxonomy.errors import InputError
from taxonomy.readers.arrow import text_cells
from taxonomy.readers.cells import first_line
from taxonomy.readers.options import ReadOptions, Resolved, resolve

Rows = Iterator[tuple[int, tuple]]
BATCH_ROWS = 50_000


def open_rows(path: str, fmt: str, opts: ReadOptions) -> tuple[Resolved, "ParquetRows", None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        names = list(pf.schema_arrow.names)
        n_rows = pf.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError) as e:
        raise InputError(path, f"not a valid Parquet file ({first_line(e)})") from None

    resolved = resolve(opts, path, names, None)
    if n_rows == 0:
        pf.close()
        raise InputError(path, "the file has no data rows (0 rows)")
    return resolved, ParquetRows(path, pf, [col for _, col in resolved.fields]), None


@dataclass
class ParquetBlock:
    """One record batch: ``columns`` (the resolved fields' cells, in order) and their ``lines`` (row numbers) when
    they could be read as text, else None; :meth:`rows` gives the batch row by row."""

    batch: Any  #: the pyarrow RecordBatch
    start: int  #: the row number of its first row
    cols: Sequence[str]
    lines: Sequence[int] | None = None
    columns: list[list[Any]] | None = None

    def rows(self) -> Rows:
        columns = [self.batch.column(c).to_pylist() for c in self.cols]
        return zip(range(self.start, self.start + self.batch.num_rows), zip(*columns))


class ParquetRows:
    """The rows of a Parquet file: iterated, ``(row number, tuple of the resolved fields' cells)``; or by
    :meth:`blocks`. Read once."""

    def __init__(self, path: str, pf, cols: list[str]) -> None:
        self.path = path
        self.pf = pf
        self.cols = cols

    def __iter__(self) -> Rows:
        for block in self.blocks(BATCH_ROWS, None):
            yield from block.rows()

    def blocks(self, n: int, fields: Sequence[str] | None) -> Iterator[ParquetBlock]:
        """The file in record batches of ``n`` rows; with ``fields`` (the logical field of each column), each read
        column by column where it can be."""
        import pyarrow as pa

        start = 1
        try:
            for batch in self.pf.iter_batches(batch_size=n, columns=list(dict.fromkeys(self.cols))):
                block = ParquetBlock(batch, start, self.cols)
                if fields is not None:
                    columns = [text_cells(batch.column(c), f) for c, f in zip(self.cols, fields)]
                    if all(c is not None for c in columns):
                        block.lines, block.columns = range(start, start + batch.num_rows), columns
                start += batch.num_rows
                yield block
        except (pa.ArrowException, OSError, ValueError) as e:
            raise InputError(self.path, f"cannot read the Parquet data ({first_line(e)})") from None
        finally:
            self.pf.close()
