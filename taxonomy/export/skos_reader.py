"""The reader of the SKOS exports (``skos-ttl``, ``skos-jsonld``, see :mod:`taxonomy.export.skos`): it rebuilds
the tree, its version id and the checksum the file states."""

from __future__ import annotations

import warnings
from pathlib import Path
from urllib.parse import quote, unquote

from taxonomy.domain import Leaf, Node, Tombstone, Tree
from taxonomy.errors import InputError, TaxoError, UsageError
from taxonomy.export.skos import DCT_NS, OWL_NS, SKOS_NS, TAXO_NS
from taxonomy.integrity import check_structure
from taxonomy.tree import content_checksum

#: ``format`` names accepted by :func:`read_skos` -> rdflib parser names.
_READ_FORMATS = {
    "turtle": "turtle", "ttl": "turtle", "skos-ttl": "turtle",
    "json-ld": "json-ld", "jsonld": "json-ld", "skos-jsonld": "json-ld",
}


def read_skos(
    source: str | Path | bytes, format: str = "turtle", *, verify: bool = False  # noqa: A002
) -> tuple[Tree, int | None, str]:
    """Parse a ``skos-ttl`` / ``skos-jsonld`` export back into ``(tree, version_id, checksum)``.

    ``source``: a file path, or the document itself as ``bytes``. ``format``: ``"turtle"`` (also ``ttl``,
    ``skos-ttl``) or ``"json-ld"`` (also ``jsonld``, ``skos-jsonld``). The tree holds the nodes (uid, level,
    name, description, parent, member_count, weight, pct_total_occurrences as written), the leaves (text,
    parent, weight, count, aliases sorted) and the tombstones (replaced_by sorted); ``tree.version_id`` is the
    version id. ``checksum`` is the one stated in the file; with ``verify=True`` an :class:`InputError` is raised
    unless it equals :func:`~taxonomy.tree.content_checksum` of the tree read back.
    """
    from rdflib import Graph, Literal, URIRef
    from rdflib.namespace import RDF

    parser = _READ_FORMATS.get(str(format).lower())
    if parser is None:
        raise UsageError(f"unknown SKOS format {format!r}; use 'turtle' or 'json-ld'")
    if isinstance(source, (bytes, bytearray, memoryview)):
        where, data = "<SKOS data>", bytes(source)
    else:
        where = str(source)
        try:
            data = Path(source).read_bytes()
        except FileNotFoundError:
            raise InputError(where, "file not found") from None
        except OSError as exc:
            raise InputError(where, f"cannot read the file: {exc.strerror or exc}") from None
    g = Graph(bind_namespaces="none")
    try:
        with warnings.catch_warnings():  # rdflib's own JSON-LD parser uses its deprecated ConjunctiveGraph
            warnings.filterwarnings("ignore", "ConjunctiveGraph is deprecated", DeprecationWarning)
            g.parse(data=data, format=parser)
    except Exception as exc:  # rdflib raises many types (BadSyntax, JSONDecodeError, ValueError, ...)
        raise InputError(where, f"not valid {parser}: {exc}") from None

    SKOS = lambda name: URIRef(SKOS_NS + name)  # noqa: E731
    TAXO = lambda name: URIRef(TAXO_NS + name)  # noqa: E731
    DCT_ID, DCT_REPL = URIRef(DCT_NS + "identifier"), URIRef(DCT_NS + "isReplacedBy")
    DEPRECATED = URIRef(OWL_NS + "deprecated")

    def fail(problem: str) -> InputError:
        return InputError(where, problem)

    def one(s, p, what: str, *, required: bool = True):
        vals = list(g.objects(s, p))
        if len(vals) > 1:
            raise fail(f"{s} has {len(vals)} values of {what} (expected one)")
        if not vals:
            if required:
                raise fail(f"{s} has no {what}")
            return None
        return vals[0]

    def text(s, p, what: str, *, default: str | None = None) -> str:
        v = one(s, p, what, required=default is None)
        if v is None:
            return default  # type: ignore[return-value]
        if not isinstance(v, Literal):
            raise fail(f"{s}: {what} is not a literal")
        return str(v)

    def number(s, p, what: str, kind, default=None, *, required: bool | None = None):
        v = one(s, p, what, required=(default is None) if required is None else required)
        if v is None:
            return default
        try:
            return kind(str(v))
        except ValueError:
            raise fail(f"{s}: {what} is not a number: {str(v)!r}") from None

    schemes = sorted(set(g.subjects(RDF.type, SKOS("ConceptScheme"))))
    if len(schemes) != 1:
        raise fail(f"expected exactly one skos:ConceptScheme, found {len(schemes)}")
    scheme = schemes[0]
    vid_text = text(scheme, DCT_ID, "dct:identifier", default="")
    try:
        version_id = int(vid_text) if vid_text else None
    except ValueError:
        raise fail(f"dct:identifier of the scheme is not a version id: {vid_text!r}") from None
    checksum = text(scheme, TAXO("checksum"), "taxo:checksum", default="")

    concepts = sorted(set(g.subjects(RDF.type, SKOS("Concept"))))
    retired: list = []
    values: list = []
    clusters: list = []
    for c in concepts:
        dep = one(c, DEPRECATED, "owl:deprecated", required=False)
        if dep is not None and isinstance(dep, Literal) and str(dep).strip().lower() in ("true", "1"):
            retired.append(c)
            continue
        level = number(c, TAXO("level"), "taxo:level", int)
        (values if level == 0 else clusters).append((c, level))

    uid_of: dict = {}
    nodes: dict[str, Node] = {}
    for c, level in clusters:
        if level < 0:
            raise fail(f"{c}: taxo:level must be >= 0, found {level}")
        uid = text(c, SKOS("notation"), "skos:notation (node uid)")
        if uid in nodes:
            raise fail(f"node uid {uid!r} appears twice")
        uid_of[c] = uid
        nodes[uid] = Node(
            uid=uid, level=level, name=text(c, SKOS("prefLabel"), "skos:prefLabel"),
            description=text(c, SKOS("definition"), "skos:definition", default=""), parent_uid=None,
            member_count=number(c, TAXO("memberCount"), "taxo:memberCount", int, 0),
            weight=number(c, TAXO("weight"), "taxo:weight", float, 0.0),
            pct_total_occurrences=number(c, TAXO("pctTotalOccurrences"), "taxo:pctTotalOccurrences", float, 0.0),
        )

    def parent_of(c) -> str | None:
        p = one(c, SKOS("broader"), "skos:broader", required=False)
        if p is None:
            return None
        if p not in uid_of:
            raise fail(f"{c}: skos:broader {p} is not a live node of the scheme")
        return uid_of[p]

    for c, _level in clusters:
        nodes[uid_of[c]].parent_uid = parent_of(c)

    leaves: list[Leaf] = []
    for c, _level in values:
        parent = parent_of(c)
        label = text(c, SKOS("prefLabel"), "skos:prefLabel")
        if parent is None:
            raise fail(f"value {label!r} has no skos:broader (level-1 node)")
        leaves.append(Leaf(
            text=label, parent_uid=parent, weight=number(c, TAXO("weight"), "taxo:weight", float),
            count=number(c, TAXO("count"), "taxo:count", int, 0),
            aliases=sorted(str(a) for a in g.objects(c, SKOS("altLabel"))),
        ))
    leaves.sort(key=lambda lf: lf.text)

    tomb_uid = {c: text(c, SKOS("notation"), "skos:notation (node uid)") for c in retired}
    # IRI prefix of node concepts (``<base>node:``), for a survivor that the file does not describe
    prefixes = {str(c)[: -len(q)] for c, u in [*uid_of.items(), *tomb_uid.items()]
                if (q := quote(u, safe=":")) and str(c).endswith(q)}
    tombstones: dict[str, Tombstone] = {}
    for c in retired:
        uid = tomb_uid[c]
        if uid in nodes or uid in tombstones:
            raise fail(f"node uid {uid!r} appears twice")
        survivors = []
        for s in g.objects(c, DCT_REPL):
            su = uid_of.get(s) or tomb_uid.get(s)
            if su is None:
                starts = [p for p in prefixes if str(s).startswith(p)]
                if len(starts) != 1:
                    raise fail(f"{c}: dct:isReplacedBy {s} is not a node IRI")
                su = unquote(str(s)[len(starts[0]):])
            survivors.append(su)
        tombstones[uid] = Tombstone(
            uid=uid, level=number(c, TAXO("level"), "taxo:level", int),
            name=text(c, SKOS("prefLabel"), "skos:prefLabel"),
            reason=text(c, TAXO("retiredReason"), "taxo:retiredReason", default=""),
            replaced_by=sorted(set(survivors)),
            version_id=number(c, TAXO("retiredInVersion"), "taxo:retiredInVersion", int, required=False),
        )

    tree = Tree(nodes=nodes, leaves=leaves, version_id=version_id, tombstones=tombstones)
    try:
        check_structure(tree)
    except TaxoError as exc:
        raise fail(str(exc)) from None
    if verify and content_checksum(tree) != checksum:
        raise fail(f"content checksum mismatch: the file states {checksum!r}, its content hashes to "
                   f"{content_checksum(tree)!r}")
    return tree, version_id, checksum
