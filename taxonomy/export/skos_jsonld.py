"""Streaming JSON-LD writer for the ``skos-jsonld`` export: the graph of :func:`taxonomy.export.skos.tree_to_graph`
written concept by concept without rdflib.

Building the rdflib graph, compacting it with rdflib's ``from_rdf`` and putting the result in canonical order cost
~60 CPU-seconds and ~1.9 GB at 100,000 values; this writer holds the tree, a map of each node's children and one
chunk of output text. The bytes are those of :func:`~taxonomy.export.skos.write_skos_jsonld_rdflib` (the reference,
compared in tests/test_skos.py): the same document as rdflib's compaction with :data:`~taxonomy.export.skos.PREFIXES`
as ``@context`` gives, put in the canonical order that module describes (``@graph`` by ``@id``, keys sorted,
multi-valued properties sorted by their JSON text, doubles as ``{"@type": "xsd:double", "@value": "<repr>"}``,
integers and booleans as JSON numbers and ``true``, a property with one value as that value, not a list), laid out
as ``json.dumps(..., indent=1, sort_keys=True, ensure_ascii=False)`` lays it out.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring  # type: ignore[attr-defined]  # (the C encoder, as ensure_ascii=False)
from operator import itemgetter
from typing import Any, BinaryIO

from taxonomy.domain import Leaf, Tree
from taxonomy.export.base import ExportContext
from taxonomy.export.skos import (
    DEFAULT_BASE,
    PREFIXES,
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

_NS_PREFIX = {ns: p for p, ns in PREFIXES.items()}
_CHUNK = 2000  #: concepts per write
_PADS = ["\n" + " " * i for i in range(16)]  #: a line break and the indentation of each depth
_KEYS: dict[str, str] = {}  #: property names as JSON strings


def compact_iri(iri: str) -> str:
    """``iri`` as rdflib's JSON-LD compaction writes it: ``prefix:name`` when the part up to its last ``#``
    (else ``/``, else ``:``) is one of the bound namespaces, else the IRI itself."""
    for delim in ("#", "/", ":"):
        at = iri.rfind(delim)
        if at > -1:
            prefix = _NS_PREFIX.get(iri[: at + 1])
            return f"{prefix}:{iri[at + 1:]}" if prefix else iri
    return iri


def _ref(iri: str) -> dict[str, str]:
    return {"@id": compact_iri(iri)}


def _double(x: float) -> dict[str, str]:
    return {"@type": "xsd:double", "@value": double_lexical(x)}


def _key(k: str) -> str:
    return _KEYS.setdefault(k, encode_basestring(k))


def _compact_json(v: Any) -> str:
    """``json.dumps(v, sort_keys=True, ensure_ascii=False)`` for strings and ``{"@id": ...}`` / typed values."""
    if isinstance(v, str):
        return encode_basestring(v)
    return "{" + ", ".join(f"{encode_basestring(k)}: {_compact_json(v[k])}" for k in sorted(v)) + "}"


def _values(items: list) -> Any:
    """A property's values: the one value, or the list sorted by each value's JSON text (duplicates dropped, as
    RDF has sets)."""
    keyed = {_compact_json(v): v for v in items}
    if len(keyed) == 1:
        return next(iter(keyed.values()))
    return [keyed[k] for k in sorted(keyed)]


def _layout(value: Any, indent: int) -> str:
    """``json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)`` at nesting depth ``indent``, for the
    shapes a concept has (dicts, lists, strings, integers, booleans), with the C encoder for the strings."""
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad, end = _PADS[indent + 1], _PADS[indent]
        if len(value) == 1 and "@id" in value:  # the most common object: a reference
            return '{' + pad + '"@id": ' + encode_basestring(value["@id"]) + end + "}"
        items = [f"{_key(k)}: {_layout(value[k], indent + 1)}" for k in sorted(value)]
        return "{" + pad + ("," + pad).join(items) + end + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        pad, end = _PADS[indent + 1], _PADS[indent]
        return "[" + pad + ("," + pad).join([_layout(v, indent + 1) for v in value]) + end + "]"
    if value is True or value is False:
        return "true" if value else "false"
    return str(int(value))


def _concepts(tree: Tree, ctx: ExportContext, base: str):
    """(``@id``, node object) for the scheme and every concept, unordered; for a value, (``@id``, (its leaf,
    its parent's ``@id``))."""
    nodes = tree.nodes
    scheme = _ref(scheme_iri(ctx.version, ctx.checksum, base))
    node_id = {uid: compact_iri(node_iri(uid, base)) for uid in nodes}
    leaf_id = [compact_iri(value_iri(lf.text, base)) for lf in tree.leaves]
    narrower: dict[str, list] = {uid: [] for uid in nodes}
    for uid, n in nodes.items():
        if n.parent_uid is not None:
            narrower[n.parent_uid].append({"@id": node_id[uid]})
    for lf, ref in zip(tree.leaves, leaf_id, strict=True):
        narrower[lf.parent_uid].append({"@id": ref})

    label = f"taxo version {ctx.version}" if ctx.version is not None else f"taxo tree {ctx.checksum[:12]}"
    obj: dict[str, Any] = {"@id": scheme["@id"], "@type": "skos:ConceptScheme", "skos:prefLabel": label,
                           "taxo:checksum": ctx.checksum, "taxo:levels": int(tree.depth)}
    if ctx.version is not None:
        obj["dct:identifier"] = str(ctx.version)
    manifest = ctx.manifest or {}
    created = created_lexical(manifest.get("created", manifest.get("created_at")))
    if created is not None:
        lexical, datatype = created
        obj["dct:created"] = {"@type": compact_iri(datatype), "@value": lexical} if datatype else lexical
    if manifest:
        obj["taxo:manifest"] = json.dumps(manifest, sort_keys=True, default=str, ensure_ascii=False,
                                          separators=(",", ":"))
    tops = [{"@id": node_id[u]} for u, n in nodes.items() if n.parent_uid is None]
    if tops:
        obj["skos:hasTopConcept"] = _values(tops)
    yield obj["@id"], obj

    for uid, n in nodes.items():
        obj = {"@id": node_id[uid], "@type": "skos:Concept", "skos:prefLabel": n.name, "skos:notation": n.uid,
               "skos:inScheme": scheme, "taxo:level": int(n.level), "taxo:weight": _double(n.weight),
               "taxo:pctTotalOccurrences": _double(n.pct_total_occurrences), "taxo:memberCount": int(n.member_count)}
        if n.description:
            obj["skos:definition"] = n.description
        if n.parent_uid is None:
            obj["skos:topConceptOf"] = scheme
        else:
            obj["skos:broader"] = {"@id": node_id[n.parent_uid]}
        if narrower[uid]:
            obj["skos:narrower"] = _values(narrower[uid])
        yield obj["@id"], obj

    # the values (most of the document): laid out by _value_text when written, not held as objects
    for lf, ref in zip(tree.leaves, leaf_id, strict=True):
        yield ref, (lf, node_id[lf.parent_uid])

    for uid, t in tree.tombstones.items():
        obj = {"@id": compact_iri(node_iri(uid, base)), "@type": "skos:Concept", "owl:deprecated": True,
               "skos:prefLabel": t.name, "skos:notation": t.uid, "skos:inScheme": scheme, "taxo:level": int(t.level),
               "taxo:retiredReason": t.reason}
        if t.version_id is not None:
            obj["taxo:retiredInVersion"] = int(t.version_id)
        if t.replaced_by:
            obj["dct:isReplacedBy"] = _values([_ref(node_iri(s, base)) for s in t.replaced_by])
        yield obj["@id"], obj


def _value_text(ref: str, lf: Leaf, parent: str, scheme: str, total: float) -> str:
    """A value's node object at depth 2 of the document, as :func:`_layout` would lay it out (keys sorted)."""
    text = encode_basestring(lf.text)
    aliases = [a for a in lf.aliases if a != lf.text]
    alt = f'\n   "skos:altLabel": {_layout(_values(aliases), 3)},' if aliases else ""
    return (f'{{\n   "@id": {encode_basestring(ref)},\n   "@type": "skos:Concept",{alt}\n   "skos:broader": {{\n'
            f'    "@id": {encode_basestring(parent)}\n   }},\n   "skos:inScheme": {{\n    "@id": {scheme}\n   }},\n'
            f'   "skos:notation": {text},\n   "skos:prefLabel": {text},\n   "taxo:count": {int(lf.count)},\n'
            f'   "taxo:level": 0,\n   "taxo:pctTotalOccurrences": {{\n    "@type": "xsd:double",\n'
            f'    "@value": "{double_lexical(leaf_pct(lf.weight, total))}"\n   }},\n   "taxo:weight": {{\n'
            f'    "@type": "xsd:double",\n    "@value": "{double_lexical(lf.weight)}"\n   }}\n  }}')


def write_skos_jsonld(tree: Tree, fh: BinaryIO, ctx: ExportContext, *, base: str = DEFAULT_BASE) -> int:
    """SKOS in JSON-LD (UTF-8, one node object per concept in ``@graph``, canonical order), streamed. Returns the
    number of concepts (nodes + values + retired nodes)."""
    check_base(base)
    check_exportable(tree)
    context = dict(sorted(PREFIXES.items()))
    head = "{\n \"@context\": " + _layout(context, 1) + ",\n \"@graph\": ["
    concepts = sorted(_concepts(tree, ctx, base), key=itemgetter(0))
    scheme, total = encode_basestring(compact_iri(scheme_iri(ctx.version, ctx.checksum, base))), tree.total_weight()
    out = [head]
    for i, (ref, obj) in enumerate(concepts):
        text = _layout(obj, 2) if isinstance(obj, dict) else _value_text(ref, *obj, scheme, total)
        out.append(("\n  " if i == 0 else ",\n  ") + text)
        if len(out) >= _CHUNK:
            fh.write("".join(out).encode("utf-8"))
            out.clear()
    out.append("\n ]\n}\n" if concepts else "]\n}\n")
    fh.write("".join(out).encode("utf-8"))
    return n_concepts(tree)
