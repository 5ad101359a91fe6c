"""The ``json`` writer: one nested document ``{"version", "checksum", "manifest", "levels", "roots": [node, ...]}``.

A node is ``{id, name, description, level, member_count, weight, pct_total_occurrences}`` plus ``children``
(nodes of the level below) or, at level 1, ``values``: ``[{value, weight, pct_total_occurrences}]``. Children are
sorted by id, values by text; numbers are written at full precision; the manifest's keys are sorted.

The text is ``json.dumps(tree_to_json_dict(...), ensure_ascii=False, indent=2, allow_nan=False)``, byte for byte,
but laid out here with the C string encoder: ``json.dumps`` with ``indent`` runs its pure-Python encoder, ~1 CPU-s
at 100,000 values.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring  # type: ignore[attr-defined]  # (the C encoder, as ensure_ascii=False)
from operator import attrgetter
from typing import Any, BinaryIO

from taxonomy.domain import Leaf, Node, Tree
from taxonomy.errors import TaxoError
from taxonomy.export.base import ExportContext, json_safe
from taxonomy.tree import leaf_pct


def tree_to_json_dict(tree: Tree, ctx: ExportContext) -> dict[str, Any]:
    """The nested document written by the ``json`` format."""
    total = tree.total_weight()
    children: dict[str | None, list[Node]] = {}
    for node in sorted(tree.nodes.values(), key=lambda n: n.uid):
        children.setdefault(node.parent_uid, []).append(node)
    values: dict[str, list[Leaf]] = {}
    for leaf in sorted(tree.leaves, key=lambda lf: lf.text):
        values.setdefault(leaf.parent_uid, []).append(leaf)

    def node_dict(node: Node) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": node.uid,
            "name": node.name,
            "description": node.description,
            "level": node.level,
            "member_count": node.member_count,
            "weight": node.weight,
            "pct_total_occurrences": node.pct_total_occurrences,
        }
        if node.level == 1:
            d["values"] = [
                {"value": lf.text, "weight": lf.weight, "pct_total_occurrences": leaf_pct(lf.weight, total)}
                for lf in values.get(node.uid, [])
            ]
        else:
            d["children"] = [node_dict(c) for c in children.get(node.uid, [])]
        return d

    return {
        "version": ctx.version,
        "checksum": ctx.checksum,
        "manifest": json_safe(ctx.manifest),
        "levels": tree.depth,
        "roots": [node_dict(n) for n in children.get(None, [])],
    }


def write_json(tree: Tree, fh: BinaryIO, ctx: ExportContext) -> int:
    """Nested JSON (see the module docstring)."""
    try:
        data = _document(tree, ctx)
    except ValueError as exc:  # NaN / infinite weight
        raise TaxoError(f"cannot export to JSON: {exc}") from None
    fh.write((data + "\n").encode("utf-8"))
    return len(tree.nodes) + len(tree.leaves)


_PADS = ["\n" + "  " * i for i in range(64)]  #: a line break and the indentation of each depth


def _pad(depth: int) -> str:
    return _PADS[depth] if depth < len(_PADS) else "\n" + "  " * depth


def _scalar(x: Any, depth: int) -> str:
    """``x`` as ``json.dumps(x, ensure_ascii=False, indent=2, allow_nan=False)`` writes it at nesting ``depth``
    (the same text, and the same ValueError or TypeError)."""
    t = type(x)
    if t is str:
        return encode_basestring(x)
    if t is float and x - x == 0.0:  # finite
        return float.__repr__(x)
    if t is int:
        return int.__repr__(x)
    return json.dumps(x, ensure_ascii=False, indent=2, allow_nan=False).replace("\n", _pad(depth))


def _float(x: Any, depth: int) -> str:
    """:func:`_scalar` for what is almost always a finite float."""
    return float.__repr__(x) if type(x) is float and x - x == 0.0 else _scalar(x, depth)


def _container(open_: str, close: str, items: list[str], depth: int) -> str:
    """``items`` (laid out at ``depth + 1``) in brackets at ``depth``, as ``json.dumps(indent=2)`` lays them out."""
    if not items:
        return open_ + close
    inner = _pad(depth + 1)
    return open_ + inner + ("," + inner).join(items) + _pad(depth) + close


def _document(tree: Tree, ctx: ExportContext) -> str:
    total = tree.total_weight()
    children: dict[str | None, list[Node]] = {}
    for node in sorted(tree.nodes.values(), key=attrgetter("uid")):
        children.setdefault(node.parent_uid, []).append(node)
    values: dict[str, list[Leaf]] = {}
    for leaf in sorted(tree.leaves, key=attrgetter("text")):
        values.setdefault(leaf.parent_uid, []).append(leaf)

    def values_text(leaves: list[Leaf], depth: int) -> str:
        """The ``values`` list at ``depth``: one object per value (the bulk of the document, laid out inline)."""
        d = depth + 2
        pad, end = _pad(d), _pad(d - 1) + "}"
        out = []
        for lf in leaves:
            text, weight = lf.text, lf.weight
            pct = leaf_pct(weight, total)
            out.append(f'{{{pad}"value": {encode_basestring(text) if type(text) is str else _scalar(text, d)},'
                       f'{pad}"weight": {_float(weight, d)},{pad}"pct_total_occurrences": {_float(pct, d)}{end}')
        return _container("[", "]", out, depth)

    def node_text(node: Node, depth: int) -> str:
        d = depth + 1
        items = [f'"id": {_scalar(node.uid, d)}', f'"name": {_scalar(node.name, d)}',
                 f'"description": {_scalar(node.description, d)}', f'"level": {_scalar(node.level, d)}',
                 f'"member_count": {_scalar(node.member_count, d)}', f'"weight": {_scalar(node.weight, d)}',
                 f'"pct_total_occurrences": {_scalar(node.pct_total_occurrences, d)}']
        if node.level == 1:
            items.append('"values": ' + values_text(values.get(node.uid, []), d))
        else:
            inner = [node_text(c, d + 1) for c in children.get(node.uid, [])]
            items.append('"children": ' + _container("[", "]", inner, d))
        return _container("{", "}", items, depth)

    top = [f'"version": {_scalar(ctx.version, 1)}', f'"checksum": {_scalar(ctx.checksum, 1)}',
           f'"manifest": {_scalar(json_safe(ctx.manifest), 1)}', f'"levels": {_scalar(tree.depth, 1)}',
           '"roots": ' + _container("[", "]", [node_text(n, 2) for n in children.get(None, [])], 1)]
    return _container("{", "}", top, 0)
