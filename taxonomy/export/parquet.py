"""The ``parquet`` writer: one row per value, ``value, weight, pct_total_occurrences, l1_id, l1_name, ..., lN_id,
lN_name`` (N = the tree's depth), rows sorted by value text. The Parquet schema metadata key ``b"taxo"``
(:data:`PARQUET_METADATA_KEY`) holds a JSON object ``{"format", "version", "checksum", "levels", "manifest"}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO

from taxonomy.domain import Tree
from taxonomy.errors import InputError
from taxonomy.export.base import ExportContext, json_safe
from taxonomy.tree import leaf_pct

#: Key of the Parquet schema metadata entry that carries version id, checksum and manifest.
PARQUET_METADATA_KEY = b"taxo"


def parquet_metadata(ctx: ExportContext, levels: int) -> dict[str, Any]:
    return {"format": "taxo-values-parquet", "version": ctx.version, "checksum": ctx.checksum, "levels": levels,
            "manifest": json_safe(ctx.manifest)}


def write_parquet(tree: Tree, fh: BinaryIO, ctx: ExportContext) -> int:
    """One row per value with its ancestors' ids and names (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    depth = tree.depth
    total = tree.total_weight()
    texts = [lf.text for lf in tree.leaves]
    order = sorted(range(len(texts)), key=texts.__getitem__)
    anc = tree.ancestors_by_level() if tree.leaves else {lv: [] for lv in range(1, depth + 1)}
    cols: dict[str, pa.Array] = {
        "value": pa.array([tree.leaves[i].text for i in order], type=pa.string()),
        "weight": pa.array([float(tree.leaves[i].weight) for i in order], type=pa.float64()),
        "pct_total_occurrences": pa.array([leaf_pct(tree.leaves[i].weight, total) for i in order], type=pa.float64()),
    }
    for lv in range(1, depth + 1):
        ids = [anc[lv][i] for i in order]
        cols[f"l{lv}_id"] = pa.array(ids, type=pa.string())
        cols[f"l{lv}_name"] = pa.array([tree.nodes[u].name for u in ids], type=pa.string())
    table = pa.table(cols)
    meta = json.dumps(parquet_metadata(ctx, depth), ensure_ascii=False, sort_keys=True).encode("utf-8")
    table = table.replace_schema_metadata({PARQUET_METADATA_KEY: meta})
    pq.write_table(table, fh)
    return len(order)


def read_parquet_metadata(path: str | Path) -> dict[str, Any]:
    """The ``b"taxo"`` metadata object of a Parquet export."""
    import pyarrow.parquet as pq

    md = pq.read_schema(path).metadata or {}
    raw = md.get(PARQUET_METADATA_KEY)
    if raw is None:
        raise InputError(str(path), "no taxo metadata in the Parquet schema")
    return json.loads(raw.decode("utf-8"))
