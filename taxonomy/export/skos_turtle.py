"""Streaming Turtle writer for the ``skos-ttl`` export: the triples of :func:`taxonomy.export.skos.tree_to_graph`,
written subject by subject without an rdflib graph.

Building the rdflib graph and running its serializer cost ~60 s and 1.2 GB at 100,000 values; this writer
holds only the tree, a map of each node's children, and one chunk of output text. The graph is the same
(``rdflib.compare.isomorphic`` with the rdflib writer's output, see tests/test_skos.py); the file is laid out
as: the ``@prefix`` lines, the scheme, the live nodes by uid, the values by text, the retired nodes by uid;
each subject's predicates in a fixed order and its multi-valued objects sorted, so the same tree gives the
same bytes.

Escaping (Turtle 1.1): string literals are written as ``"..."`` with ``\\\\``, ``\\"``, ``\\n``, ``\\r``,
``\\t``, ``\\b``, ``\\f`` escaped and every other control character (U+0000-U+001F, U+007F) as ``\\uXXXX``;
everything else (any Unicode, including U+2028) is written as UTF-8. IRIs are percent-encoded by
:func:`~taxonomy.export.skos.node_iri` / :func:`~taxonomy.export.skos.value_iri` and the base is checked by
:func:`~taxonomy.export.skos.check_base`, so none can hold a character IRIREF forbids; each is checked anyway.
"""

from __future__ import annotations

import json
from operator import attrgetter
from typing import BinaryIO

from taxonomy.domain import Tree
from taxonomy.errors import TaxoError
from taxonomy.export.base import ExportContext
from taxonomy.export.skos import (
    DEFAULT_BASE,
    PREFIXES,
    XSD_NS,
    check_base,
    check_exportable,
    created_lexical,
    double_lexical,
    n_concepts,
    node_iri,
    scheme_iri,
    value_iri,
)
from taxonomy.tree import leaf_pct

_ESCAPES = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
            ord("\b"): "\\b", ord("\f"): "\\f"}
for _c in [*range(0x20), 0x7F]:
    _ESCAPES.setdefault(_c, f"\\u{_c:04X}")
_NEEDS_ESCAPE = frozenset(chr(c) for c in _ESCAPES)
_IRI_BAD = frozenset('<>"{}|\\^`') | frozenset(chr(c) for c in range(0x21))

#: Subjects per chunk handed to the file (bounds the text held in memory).
_CHUNK = 5000


def turtle_string(text: str) -> str:
    """``text`` as a Turtle string literal (``"..."``, escaped as the module docstring says)."""
    if _NEEDS_ESCAPE.isdisjoint(text):
        return f'"{text}"'
    return '"' + text.translate(_ESCAPES) + '"'


def turtle_iri(iri: str) -> str:
    """``<iri>``; a character IRIREF forbids is an error (the minted IRIs are percent-encoded)."""
    if not _IRI_BAD.isdisjoint(iri):
        raise TaxoError(f"cannot write IRI {iri!r} in Turtle: it holds a character IRIs may not contain")
    return f"<{iri}>"


def _double(x: float) -> str:
    return f'"{double_lexical(x)}"^^xsd:double'


def _subject(subject: str, pairs: list[tuple[str, str]]) -> str:
    """One subject block: ``s p1 o1 ; p2 o2a, o2b .`` (objects of a repeated predicate on one line)."""
    lines: list[str] = []
    last = None
    for p, o in pairs:
        if p == last:
            lines[-1] += f", {o}"
        else:
            lines.append(f"{p} {o}")
            last = p
    return subject + " " + " ;\n    ".join(lines) + " .\n\n"


def write_skos_turtle(tree: Tree, fh: BinaryIO, ctx: ExportContext, *, base: str = DEFAULT_BASE) -> int:
    """SKOS in Turtle (UTF-8): the graph of ``tree`` (see :mod:`taxonomy.export.skos`), streamed without building
    an rdflib graph. Returns the number of concepts written (nodes + values + retired nodes)."""
    check_base(base)
    check_exportable(tree)
    nodes = tree.nodes
    node_ref = {uid: turtle_iri(node_iri(uid, base)) for uid in sorted(nodes)}
    scheme = turtle_iri(scheme_iri(ctx.version, ctx.checksum, base))
    leaves = sorted(tree.leaves, key=attrgetter("text"))
    leaf_ref = [turtle_iri(value_iri(lf.text, base)) for lf in leaves]
    children: dict[str, list[str]] = {uid: [] for uid in nodes}
    for uid, n in nodes.items():
        if n.parent_uid is not None:
            children[n.parent_uid].append(node_ref[uid])
    for lf, ref in zip(leaves, leaf_ref):
        children[lf.parent_uid].append(ref)

    out: list[str] = [f"@prefix {p}: <{ns}> .\n" for p, ns in PREFIXES.items()]
    out.append("\n")

    def flush(force: bool = False) -> None:
        if force or len(out) >= _CHUNK:
            fh.write("".join(out).encode("utf-8"))
            out.clear()

    # the scheme
    label = f"taxo version {ctx.version}" if ctx.version is not None else f"taxo tree {ctx.checksum[:12]}"
    pairs = [("a", "skos:ConceptScheme"), ("skos:prefLabel", turtle_string(label))]
    if ctx.version is not None:
        pairs.append(("dct:identifier", turtle_string(str(ctx.version))))
    pairs += [("taxo:checksum", turtle_string(ctx.checksum)), ("taxo:levels", str(int(tree.depth)))]
    manifest = ctx.manifest or {}
    created = created_lexical(manifest.get("created", manifest.get("created_at")))
    if created is not None:
        lexical, datatype = created
        dt = f"^^xsd:{datatype[len(XSD_NS):]}" if datatype else ""
        pairs.append(("dct:created", turtle_string(lexical) + dt))
    if manifest:
        text = json.dumps(manifest, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
        pairs.append(("taxo:manifest", turtle_string(text)))
    pairs += [("skos:hasTopConcept", ref) for uid, ref in node_ref.items() if nodes[uid].parent_uid is None]
    out.append(_subject(scheme, pairs))

    for uid, ref in node_ref.items():
        n = nodes[uid]
        pairs = [("a", "skos:Concept"), ("skos:prefLabel", turtle_string(n.name))]
        if n.description:
            pairs.append(("skos:definition", turtle_string(n.description)))
        pairs += [("skos:notation", turtle_string(n.uid)), ("skos:inScheme", scheme)]
        if n.parent_uid is None:
            pairs.append(("skos:topConceptOf", scheme))
        else:
            pairs.append(("skos:broader", node_ref[n.parent_uid]))
        pairs += [("skos:narrower", c) for c in sorted(children[uid])]
        pairs += [("taxo:level", str(int(n.level))), ("taxo:weight", _double(n.weight)),
                  ("taxo:pctTotalOccurrences", _double(n.pct_total_occurrences)),
                  ("taxo:memberCount", str(int(n.member_count)))]
        out.append(_subject(ref, pairs))
        flush()

    total = tree.total_weight()
    for lf, ref in zip(leaves, leaf_ref):
        text = turtle_string(lf.text)
        pairs = [("a", "skos:Concept"), ("skos:prefLabel", text), ("skos:notation", text)]
        pairs += [("skos:altLabel", turtle_string(a)) for a in sorted(set(lf.aliases)) if a != lf.text]
        pairs += [("skos:inScheme", scheme), ("skos:broader", node_ref[lf.parent_uid]), ("taxo:level", "0"),
                  ("taxo:weight", _double(lf.weight)),
                  ("taxo:pctTotalOccurrences", _double(leaf_pct(lf.weight, total))),
                  ("taxo:count", str(int(lf.count)))]
        out.append(_subject(ref, pairs))
        flush()

    for uid in sorted(tree.tombstones):
        t = tree.tombstones[uid]
        pairs = [("a", "skos:Concept"), ("owl:deprecated", "true"), ("skos:prefLabel", turtle_string(t.name)),
                 ("skos:notation", turtle_string(t.uid)), ("skos:inScheme", scheme),
                 ("taxo:level", str(int(t.level))), ("taxo:retiredReason", turtle_string(t.reason))]
        if t.version_id is not None:
            pairs.append(("taxo:retiredInVersion", str(int(t.version_id))))
        pairs += [("dct:isReplacedBy", turtle_iri(node_iri(s, base))) for s in sorted(set(t.replaced_by))]
        out.append(_subject(turtle_iri(node_iri(uid, base)), pairs))
        flush()
    flush(force=True)
    return n_concepts(tree)
