"""What every export writer shares: the context it may state, the format record, and the result of an export."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

from taxonomy.domain import Tree


@dataclass(frozen=True)
class ExportContext:
    """What every writer may state besides the tree itself."""

    version: int | None
    checksum: str
    manifest: dict[str, Any] = field(default_factory=dict)


Writer = Callable[[Tree, BinaryIO, ExportContext], int]


@dataclass(frozen=True)
class ExportFormat:
    name: str
    writer: Writer  #: writes the tree to a binary stream, returns the number of rows/records written
    binary: bool  #: binary formats cannot go to standard output
    suffix: str
    description: str


@dataclass(frozen=True)
class ExportResult:
    """One export: what was written, where (``taxonomy.export.export_tree``, and ``taxonomy.api.export``, which
    states the version's stored checksum and the privacy report)."""

    version_id: int | None
    format: str
    path: str | None  #: None when written to stdout
    checksum: str
    n_nodes: int
    n_values: int
    privacy: dict | None = None  #: with ``min_conversations``: the threshold and what was suppressed
    rows: int = 0  #: rows (CSV, Parquet), nodes + values (JSON) or concepts (SKOS) written

    def to_dict(self) -> dict:
        """The ``taxo export --json`` document (without ``rows``)."""
        out = asdict(self)
        del out["rows"]
        return out


def json_safe(obj: Any) -> Any:
    """``obj`` as plain JSON data with sorted keys (non-JSON values become strings)."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False))
