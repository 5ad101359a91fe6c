"""Parquet input, read in record batches; the "line" of a row is its 1-based row number."""

from __future__ import annotations

from typing import Iterator

from taxonomy.errors import InputError
from taxonomy.readers.cells import first_line
from taxonomy.readers.options import ReadOptions, Resolved, resolve

Rows = Iterator[tuple[int, tuple]]
BATCH_ROWS = 50_000


def open_rows(path: str, fmt: str, opts: ReadOptions) -> tuple[Resolved, Rows, None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        names = list(pf.schema_arrow.names)
        n_rows = pf.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError) as e:
        raise InputError(path, f"not a valid Parquet file ({first_line(e)})") from None

    resolved = resolve(opts, path, names, None)
    cols = [col for _, col in resolved.fields]
    if n_rows == 0:
        raise InputError(path, "the file has no data rows (0 rows)")

    def raw() -> Rows:
        line = 0
        try:
            batches = pf.iter_batches(batch_size=BATCH_ROWS, columns=list(dict.fromkeys(cols)))
            for batch in batches:
                columns = [batch.column(c).to_pylist() for c in cols]
                for row in zip(*columns):
                    line += 1
                    yield line, row
        except (pa.ArrowException, OSError, ValueError) as e:
            raise InputError(path, f"cannot read the Parquet data ({first_line(e)})") from None
        finally:
            pf.close()

    return resolved, raw(), None
