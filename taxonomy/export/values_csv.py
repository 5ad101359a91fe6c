"""The ``values-tree-csv`` writer: exactly the columns of the published Values-in-the-Wild file, in its order
(:data:`VALUES_TREE_COLUMNS`): ``cluster_id,description,name,level,parent_cluster_id,pct_total_occurrences``.

* Level-0 rows are the values: ``cluster_id`` = ``name`` = the value text, empty description, parent = the
  level-1 node. Their ``pct_total_occurrences`` is ``100 * weight / total leaf weight``.
* Rows at levels >= 1 are the cluster nodes, with their stored ``pct_total_occurrences``; the top level
  has an empty ``parent_cluster_id``.
* Row order (stable, as in the published file): level-0 rows sorted by (parent id, value text), then the
  nodes of level 1, 2, ... each sorted by (parent id, node id).
* ``pct_total_occurrences`` is rounded to 3 decimals and written in the shortest form (``0.01``,
  ``4.319``), like the published file. Round-tripping therefore keeps percentages to 3 decimals, not the
  raw weights.
* CRLF line endings (the csv module's default, as published) but, unlike the published file, with a final
  line ending. The version id and checksum are *not* written: the published columns stay exact.

The file reads back with :func:`taxonomy.reference.load_values_tree_csv`.
"""

from __future__ import annotations

import csv
import io
from operator import attrgetter
from typing import BinaryIO

from taxonomy.domain import Node, Tree
from taxonomy.export.base import ExportContext
from taxonomy.tree import leaf_pct

#: Columns of the published ``values_tree.csv``, in order.
VALUES_TREE_COLUMNS: tuple[str, ...] = (
    "cluster_id",
    "description",
    "name",
    "level",
    "parent_cluster_id",
    "pct_total_occurrences",
)

#: Decimals of ``pct_total_occurrences`` in the values-tree CSV (as published).
CSV_PCT_DECIMALS = 3


def _fmt_pct(x: float) -> str:
    return repr(round(float(x), CSV_PCT_DECIMALS) + 0.0)


def _sorted_nodes(tree: Tree, level: int) -> list[Node]:
    return sorted(tree.nodes_at(level), key=lambda n: (n.parent_uid or "", n.uid))


def write_values_tree_csv(tree: Tree, fh: BinaryIO, ctx: ExportContext) -> int:
    """The published ``values_tree.csv`` layout (see the module docstring for order and rounding)."""
    text = io.TextIOWrapper(fh, encoding="utf-8", newline="", write_through=True)
    try:
        w = csv.writer(text, lineterminator="\r\n")
        w.writerow(VALUES_TREE_COLUMNS)
        total = tree.total_weight()
        n = 0
        for leaf in sorted(tree.leaves, key=attrgetter("parent_uid", "text")):
            w.writerow([leaf.text, "", leaf.text, 0, leaf.parent_uid, _fmt_pct(leaf_pct(leaf.weight, total))])
            n += 1
        for level in range(1, tree.depth + 1):
            for node in _sorted_nodes(tree, level):
                w.writerow([node.uid, node.description, node.name, level, node.parent_uid or "",
                            _fmt_pct(node.pct_total_occurrences)])
                n += 1
        text.flush()
    finally:
        text.detach()  # leave ``fh`` open for the caller
    return n
