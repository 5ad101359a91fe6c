"""SKOS export (skos-ttl, skos-jsonld) and reading it back (taxonomy.export.skos, skos_turtle, skos_reader)."""

from __future__ import annotations

import io
import json
import random
import re
from dataclasses import replace
from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic

from taxonomy.domain import Leaf, Node, Tombstone, Tree
from taxonomy.errors import InputError, TaxoError, UsageError
from taxonomy.export import EXPORT_FORMATS, FORMATS, ExportContext, export_tree
from taxonomy.export.skos import (
    DEFAULT_BASE,
    TAXO_NS,
    node_iri,
    scheme_iri,
    tree_to_graph,
    value_iri,
    write_skos_jsonld_rdflib,
    write_skos_turtle_rdflib,
)
from taxonomy.export.skos_jsonld import compact_iri, write_skos_jsonld
from taxonomy.export.skos_reader import read_skos
from taxonomy.export.skos_turtle import turtle_iri, turtle_string, write_skos_turtle
from taxonomy.tree import content_checksum, recompute_stats

# plain rdflib's JSON-LD parser warns about its own use of ConjunctiveGraph
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

XSD_DOUBLE = URIRef("http://www.w3.org/2001/XMLSchema#double")
XSD_DATETIME = URIRef("http://www.w3.org/2001/XMLSchema#dateTime")

FORMAT_PAIRS = [("skos-ttl", "turtle"), ("skos-jsonld", "json-ld")]

PREFIXES = f"""
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX owl: <http://www.w3.org/2002/07/owl#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
PREFIX taxo: <{TAXO_NS}>
"""


def make_tree(paths: dict[str, tuple[str, ...]], weights: dict[str, float] | None = None, *,
              names: dict[str, str] | None = None, descriptions: dict[str, str] | None = None,
              aliases: dict[str, list[str]] | None = None, tombstones: list[Tombstone] | None = None,
              version_id: int | None = 7) -> Tree:
    """A tree from ``value -> (l1 uid, l2 uid, ...)``; node names default to ``"name of <uid>"``."""
    names, descriptions, aliases = names or {}, descriptions or {}, aliases or {}
    nodes: dict[str, Node] = {}
    leaves = []
    for i, (value, path) in enumerate(paths.items()):
        for k, uid in enumerate(path):
            parent = path[k + 1] if k + 1 < len(path) else None
            nodes.setdefault(uid, Node(uid=uid, level=k + 1, name=names.get(uid, f"name of {uid}"),
                                       description=descriptions.get(uid, f"about {uid}"), parent_uid=parent))
        leaves.append(Leaf(text=value, parent_uid=path[0], weight=(weights or {}).get(value, 1.0), count=i + 1,
                           value_id=100 + i, aliases=list(aliases.get(value, []))))
    tree = recompute_stats(Tree(nodes=nodes, leaves=leaves, version_id=version_id))
    tree.tombstones = {t.uid: t for t in tombstones or []}
    return tree


def _uid(level: int, n: int) -> str:
    return f"values:l{level}:{n:08x}-9c1d-5e2f-8a3b-4c5d6e7f8091"


A1, B1, C1, D1 = (_uid(1, i) for i in range(4))
X2, Y2 = _uid(2, 0), _uid(2, 1)
TOP, TOP2 = _uid(3, 0), _uid(3, 1)
GONE_MERGED, GONE_SPLIT, GONE_CHAIN = _uid(1, 90), _uid(2, 91), _uid(1, 92)


@pytest.fixture
def tree() -> Tree:
    paths = {
        "honesty": (A1, X2, TOP),
        "truthfulness": (A1, X2, TOP),
        "care": (B1, X2, TOP),
        "safety": (C1, Y2, TOP2),
        "privacy": (C1, Y2, TOP2),
        "efficiency": (D1, Y2, TOP2),
    }
    weights = {"honesty": 10.0, "truthfulness": 0.1, "care": 1 / 3, "safety": 1e-300, "privacy": 0.123456789012345678,
               "efficiency": 123456789.12345679}
    tombstones = [
        Tombstone(GONE_MERGED, 1, "Old honesty", "merged", [A1], version_id=5),
        Tombstone(GONE_SPLIT, 2, "Everything", "split", [Y2, X2], version_id=6),
        Tombstone(GONE_CHAIN, 1, "Older", "merged", [GONE_MERGED]),  # its survivor is itself retired
    ]
    return make_tree(paths, weights, descriptions={B1: ""}, tombstones=tombstones,
                     aliases={"honesty": ["Honesty", "HONESTY "], "privacy": ["Privacy"]})


AWKWARD = [
    'say "hello"',
    'ends with a quote"',
    "ends with a backslash\\",
    '"""triple quoted"""',
    "multi\nline\r\nvalue",
    "naïve café – 価値観 😀",
    "<script>alert('x')</script>",
    "  leading and trailing  ",
    "a/b#c%d?e&f=g",
    "100%",
    "%41 is not A",
    "tab\there",
    "back\\slash \\n is not a newline",
    "e\u0301 combining, \u2028 line separator",
]


@pytest.fixture
def awkward_tree() -> Tree:
    one, two, top = "a:l1:one / #1 %", "a:l1:two<>", "a:l2:top \"q\""
    paths = {v: (one if i % 2 else two, top) for i, v in enumerate(AWKWARD)}
    names = {one: 'Name, with "quotes"', two: "<b>bold</b>\nnext line", top: "Ünïcode ✓ 😀"}
    descriptions = {one: 'desc,\r\nwith CRLF and """', two: "", top: "ends with backslash\\"}
    return make_tree(
        paths, {v: float(i + 1) / 7 for i, v in enumerate(AWKWARD)}, names=names, descriptions=descriptions,
        aliases={v: [v.upper() + "!", v + " (alias)"] for v in AWKWARD},
        tombstones=[Tombstone("a:l1:gone \"x\" / %", 1, "Gone\nname", "deleted", [one], version_id=3)],
    )


def export_bytes(tree: Tree, fmt: str, tmp_path: Path, manifest: dict | None = None) -> bytes:
    out = tmp_path / f"out{FORMATS[fmt].suffix}"
    export_tree(tree, fmt, out, manifest=manifest)
    return out.read_bytes()


def node_view(tree: Tree) -> dict:
    return {u: (n.uid, n.level, n.name, n.description, n.parent_uid) for u, n in tree.nodes.items()}


def leaf_view(tree: Tree) -> dict:
    return {lf.text: (lf.parent_uid, lf.weight, lf.count, sorted(set(lf.aliases) - {lf.text})) for lf in tree.leaves}


def tomb_view(tree: Tree) -> dict:
    return {u: replace(t, replaced_by=sorted(t.replaced_by)) for u, t in tree.tombstones.items()}


def assert_same_tree(got: Tree, want: Tree) -> None:
    assert node_view(got) == node_view(want)
    assert leaf_view(got) == leaf_view(want)
    assert tomb_view(got) == tomb_view(want)
    assert content_checksum(got) == content_checksum(want)


# ------------------------------------------------------------------------------------------------------------
# Registry and round trip
# ------------------------------------------------------------------------------------------------------------


def test_formats_registered():
    assert "skos-ttl" in EXPORT_FORMATS and "skos-jsonld" in EXPORT_FORMATS
    assert FORMATS["skos-ttl"].writer is write_skos_turtle and FORMATS["skos-ttl"].suffix == ".ttl"
    assert FORMATS["skos-jsonld"].writer is write_skos_jsonld and FORMATS["skos-jsonld"].suffix == ".jsonld"
    assert not FORMATS["skos-ttl"].binary and not FORMATS["skos-jsonld"].binary


@pytest.mark.parametrize("fmt,rdf_format", FORMAT_PAIRS)
def test_round_trip(tree, tmp_path, fmt, rdf_format):
    data = export_bytes(tree, fmt, tmp_path)
    got, version, checksum = read_skos(data, rdf_format, verify=True)
    assert version == 7 and got.version_id == 7
    assert checksum == content_checksum(tree)
    assert_same_tree(got, tree)
    # node statistics come back as written, weights bit for bit
    for uid, n in tree.nodes.items():
        g = got.nodes[uid]
        assert (g.member_count, g.weight, g.pct_total_occurrences) == (n.member_count, n.weight, n.pct_total_occurrences)
    # a path works as well as bytes
    got2, _, _ = read_skos(tmp_path / f"out{FORMATS[fmt].suffix}", format=fmt)
    assert node_view(got2) == node_view(got) and leaf_view(got2) == leaf_view(got)


@pytest.mark.parametrize("fmt,rdf_format", FORMAT_PAIRS)
def test_awkward_strings_round_trip(awkward_tree, tmp_path, fmt, rdf_format):
    got, _, checksum = read_skos(export_bytes(awkward_tree, fmt, tmp_path), rdf_format, verify=True)
    assert_same_tree(got, awkward_tree)
    assert {lf.text for lf in got.leaves} == set(AWKWARD)


@pytest.mark.parametrize("fmt,rdf_format", FORMAT_PAIRS)
def test_doubles_are_exact(tree, tmp_path, fmt, rdf_format):
    data = export_bytes(tree, fmt, tmp_path)
    text = data.decode("utf-8")
    for w in (0.1, 1 / 3, 1e-300, 0.123456789012345678, 123456789.12345679):
        assert repr(w) in text  # shortest round-trip form, not rdflib's 6-digit %e
    got, _, _ = read_skos(data, rdf_format)
    assert {lf.text: lf.weight for lf in got.leaves} == {lf.text: lf.weight for lf in tree.leaves}


@pytest.mark.parametrize("fmt", ["skos-ttl", "skos-jsonld"])
def test_deterministic(tree, tmp_path, fmt):
    first = export_bytes(tree, fmt, tmp_path)
    assert export_bytes(tree, fmt, tmp_path) == first
    # the same tree built in another order gives the same bytes
    shuffled = Tree(nodes=dict(reversed(list(tree.nodes.items()))), leaves=list(reversed(tree.leaves)),
                    version_id=tree.version_id,
                    tombstones={u: replace(t, replaced_by=list(reversed(t.replaced_by)))
                                for u, t in reversed(list(tree.tombstones.items()))})
    random.Random(1).shuffle(shuffled.leaves)
    for lf in shuffled.leaves:
        lf.aliases = list(reversed(lf.aliases))
    assert export_bytes(shuffled, fmt, tmp_path) == first


_DIGEST_SCRIPT = """
import hashlib, io, sys
from taxonomy.domain import Leaf, Node, Tombstone, Tree
from taxonomy.export import ExportContext
from taxonomy.export.skos import write_skos_jsonld_rdflib
from taxonomy.export.skos_jsonld import write_skos_jsonld
from taxonomy.export.skos_turtle import write_skos_turtle
from taxonomy.tree import content_checksum, recompute_stats
nodes = {"t:l2:top": Node("t:l2:top", 2, "Top", "", None)}
nodes.update({f"t:l1:{i}": Node(f"t:l1:{i}", 1, f"n{i}", f"d{i}", "t:l2:top") for i in range(5)})
leaves = [Leaf(f"v{i} é", f"t:l1:{i % 5}", i / 3, i, aliases=[f"V{i}", f"v{i}!"]) for i in range(40)]
tree = recompute_stats(Tree(nodes, leaves, 3))
tree.tombstones = {"t:l1:x": Tombstone("t:l1:x", 1, "x", "split", ["t:l1:1", "t:l1:2", "t:l1:3"], 2)}
ctx = ExportContext(3, content_checksum(tree), {"b": 1, "a": 2})
for w in (write_skos_turtle, write_skos_jsonld, write_skos_jsonld_rdflib):
    buf = io.BytesIO()
    w(tree, buf, ctx)
    print(hashlib.sha256(buf.getvalue()).hexdigest())
"""


def test_deterministic_across_hash_seeds():
    """rdflib walks sets in places (its JSON-LD writer does): the bytes must not depend on str hashing."""
    import os
    import subprocess
    import sys

    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        res = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT], env=env, capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[1], check=True)
        outputs.add(res.stdout)
    assert len(outputs) == 1


def test_turtle_and_jsonld_hold_the_same_graph(tree, tmp_path):
    g_ttl = Graph().parse(data=export_bytes(tree, "skos-ttl", tmp_path), format="turtle")
    g_jsonld = Graph().parse(data=export_bytes(tree, "skos-jsonld", tmp_path), format="json-ld")
    assert len(g_ttl) == len(g_jsonld) > 0
    assert isomorphic(g_ttl, g_jsonld)


def test_jsonld_document_shape(tree, tmp_path):
    doc = json.loads(export_bytes(tree, "skos-jsonld", tmp_path))
    assert set(doc) == {"@context", "@graph"}
    assert doc["@context"]["skos"] == "http://www.w3.org/2004/02/skos/core#"
    assert doc["@context"]["taxo"] == TAXO_NS
    ids = [n["@id"] for n in doc["@graph"]]
    assert ids == sorted(ids)
    n_concepts = len(tree.nodes) + len(tree.leaves) + len(tree.tombstones)
    assert len(ids) == 1 + n_concepts
    honesty = next(n for n in doc["@graph"] if n["@id"] == value_iri("honesty"))
    assert honesty["taxo:weight"] == {"@type": "xsd:double", "@value": "10.0"}
    assert honesty["skos:altLabel"] == ["HONESTY ", "Honesty"]


# ------------------------------------------------------------------------------------------------------------
# The graph, seen by plain rdflib and SPARQL
# ------------------------------------------------------------------------------------------------------------


def _count(g: Graph, where: str) -> int:
    rows = list(g.query(PREFIXES + f"SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE {{ {where} }}"))
    return int(rows[0][0])


def test_sparql_over_turtle(tree, tmp_path):
    g = Graph().parse(data=export_bytes(tree, "skos-ttl", tmp_path, manifest={"created_at": "2025-03-04T05:06:07+00:00"}),
                      format="turtle")
    n_nodes, n_leaves, n_tombs = len(tree.nodes), len(tree.leaves), len(tree.tombstones)
    assert _count(g, "?c a skos:ConceptScheme") == 1
    assert _count(g, "?c a skos:Concept") == n_nodes + n_leaves + n_tombs
    assert _count(g, "?c a skos:Concept ; taxo:level 0") == n_leaves
    assert _count(g, "?s skos:hasTopConcept ?c") == 2
    assert _count(g, "?c skos:topConceptOf ?s") == 2
    assert _count(g, "?c skos:inScheme ?s") == n_nodes + n_leaves + n_tombs
    assert _count(g, "?c owl:deprecated true ; dct:isReplacedBy ?r") == n_tombs
    # deprecated concepts are outside the hierarchy
    assert _count(g, "?c owl:deprecated true . { ?c skos:broader ?x } UNION { ?x skos:narrower ?c } "
                     "UNION { ?c skos:topConceptOf ?x }") == 0
    # broader and narrower mirror each other; every value has exactly one broader node
    pairs_b = set(g.query(PREFIXES + "SELECT ?a ?b WHERE { ?a skos:broader ?b }"))
    pairs_n = set(g.query(PREFIXES + "SELECT ?a ?b WHERE { ?b skos:narrower ?a }"))
    assert pairs_b == pairs_n and len(pairs_b) == n_leaves + n_nodes - 2
    # a split's survivors
    split = {str(r[0]) for r in g.query(PREFIXES + "SELECT ?r WHERE { ?c skos:notation ?u ; dct:isReplacedBy ?r }",
                                         initBindings={"u": Literal(GONE_SPLIT)})}
    assert split == {node_iri(X2), node_iri(Y2)}

    scheme = URIRef(scheme_iri(7, content_checksum(tree)))
    assert str(scheme) == "urn:taxo:version:7"
    rows = list(g.query(PREFIXES + """SELECT ?id ?sum ?created ?label WHERE {
        ?s a skos:ConceptScheme ; dct:identifier ?id ; taxo:checksum ?sum ; dct:created ?created ; skos:prefLabel ?label }"""))
    assert len(rows) == 1
    vid, csum, created, label = rows[0]
    assert (str(vid), str(csum), str(label)) == ("7", content_checksum(tree), "taxo version 7")
    assert created.datatype == XSD_DATETIME
    # typed statistics
    w = g.value(URIRef(value_iri("privacy")), URIRef(TAXO_NS + "weight"))
    assert w.datatype == XSD_DOUBLE and float(w) == 0.123456789012345678
    # empty descriptions are left out, others are skos:definition
    assert _count(g, "?c skos:definition ?d") == n_nodes - 1


def test_concept_properties(tree, tmp_path):
    g = Graph().parse(data=export_bytes(tree, "skos-ttl", tmp_path), format="turtle")
    skos = "http://www.w3.org/2004/02/skos/core#"
    a1 = URIRef(node_iri(A1))
    assert str(g.value(a1, URIRef(skos + "notation"))) == A1
    assert str(g.value(a1, URIRef(skos + "prefLabel"))) == f"name of {A1}"
    assert str(g.value(a1, URIRef(skos + "definition"))) == f"about {A1}"
    assert int(g.value(a1, URIRef(TAXO_NS + "level"))) == 1
    assert int(g.value(a1, URIRef(TAXO_NS + "memberCount"))) == 2
    assert g.value(a1, URIRef(TAXO_NS + "pctTotalOccurrences")).datatype == XSD_DOUBLE
    honesty = URIRef(value_iri("honesty"))
    assert {str(x) for x in g.objects(honesty, URIRef(skos + "altLabel"))} == {"Honesty", "HONESTY "}
    assert str(g.value(honesty, URIRef(skos + "notation"))) == "honesty"
    assert int(g.value(honesty, URIRef(TAXO_NS + "count"))) == 1
    gone = URIRef(node_iri(GONE_MERGED))
    assert str(g.value(gone, URIRef(TAXO_NS + "retiredReason"))) == "merged"
    assert int(g.value(gone, URIRef(TAXO_NS + "retiredInVersion"))) == 5


def test_iris_are_valid(awkward_tree, tmp_path):
    g = Graph().parse(data=export_bytes(awkward_tree, "skos-ttl", tmp_path), format="turtle")
    bad = re.compile(r'[\x00-\x20<>"{}|\\^`\x7f-\U0010ffff]')
    iris = {str(t) for triple in g for t in triple if isinstance(t, URIRef)}
    assert iris and not [i for i in iris if bad.search(i)]
    assert node_iri("values:l1:3f2a9c1d-0000") == "urn:taxo:node:values:l1:3f2a9c1d-0000"
    assert value_iri("a b/c#d%e") == "urn:taxo:value:a%20b%2Fc%23d%25e"
    assert value_iri("a b") != value_iri("a%20b")


# ------------------------------------------------------------------------------------------------------------
# Options and edge cases
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,rdf_format", FORMAT_PAIRS)
def test_custom_base(tree, fmt, rdf_format):
    base = "https://data.example.org/taxo/"
    writer = FORMATS[fmt].writer
    ctx = ExportContext(version=7, checksum=content_checksum(tree))
    buf = io.BytesIO()
    writer(tree, buf, ctx, base=base)  # type: ignore[call-arg]
    g = Graph().parse(data=buf.getvalue(), format=rdf_format)
    subjects = {str(s) for s in g.subjects()}
    assert subjects and all(s.startswith(base) for s in subjects)
    assert base + "version:7" in subjects
    got, _, _ = read_skos(buf.getvalue(), rdf_format, verify=True)
    assert_same_tree(got, tree)


@pytest.mark.parametrize("base", ["no-scheme", "urn:has space:", "http://x/<y>", "skos:", ""])
def test_bad_base(tree, base):
    with pytest.raises(UsageError):
        write_skos_turtle(tree, io.BytesIO(), ExportContext(7, content_checksum(tree)), base=base)


def test_no_version_id(tree, tmp_path):
    tree.version_id = None
    data = export_bytes(tree, "skos-ttl", tmp_path)
    assert f"<{DEFAULT_BASE}checksum:{content_checksum(tree)}> a skos:ConceptScheme".encode() in data
    got, version, checksum = read_skos(data)
    assert version is None and got.version_id is None and checksum == content_checksum(tree)


def test_tree_without_tombstones_or_aliases(tmp_path):
    t = make_tree({"x": ("t:l1:a",), "y": ("t:l1:a",)})  # a single level: the level-1 nodes are top concepts
    for fmt, rdf_format in FORMAT_PAIRS:
        got, _, _ = read_skos(export_bytes(t, fmt, tmp_path), rdf_format, verify=True)
        assert_same_tree(got, t)
        assert got.tombstones == {} and all(lf.aliases == [] for lf in got.leaves)


def test_alias_equal_to_text_and_duplicates_are_dropped(tmp_path):
    t = make_tree({"x": ("t:l1:a",)}, aliases={"x": ["x", "X", "X"]})
    got, _, _ = read_skos(export_bytes(t, "skos-ttl", tmp_path))
    assert got.leaves[0].aliases == ["X"]


def test_live_and_retired_uid_clash_is_refused(tree):
    tree.tombstones[A1] = Tombstone(A1, 1, "dup", "merged", [B1])
    with pytest.raises(TaxoError, match="both live and retired"):
        write_skos_turtle(tree, io.BytesIO(), ExportContext(7, content_checksum(tree)))


def test_export_to_stdout(tree, capsysbinary):
    export_tree(tree, "skos-ttl", None)
    out = capsysbinary.readouterr().out
    assert out.startswith(b"@prefix ")
    got, _, _ = read_skos(out)
    assert_same_tree(got, tree)


def test_manifest_is_carried(tree, tmp_path):
    manifest = {"seed": 0, "levels": [4, 2, 2], "created": "2025-01-01T00:00:00"}
    g = Graph().parse(data=export_bytes(tree, "skos-jsonld", tmp_path, manifest=manifest), format="json-ld")
    text = g.value(URIRef(scheme_iri(7, "")), URIRef(TAXO_NS + "manifest"))
    assert json.loads(str(text)) == manifest
    created = g.value(URIRef(scheme_iri(7, "")), URIRef("http://purl.org/dc/terms/created"))
    assert created.datatype == XSD_DATETIME


# ------------------------------------------------------------------------------------------------------------
# Reader errors
# ------------------------------------------------------------------------------------------------------------


def test_read_errors(tree, tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_skos(tmp_path / "missing.ttl")
    with pytest.raises(InputError, match="not valid turtle"):
        read_skos(b"this is not turtle <<<")
    with pytest.raises(InputError, match="not valid json-ld"):
        read_skos(b"{not json", "json-ld")
    with pytest.raises(UsageError):
        read_skos(b"", "rdf/xml")
    with pytest.raises(InputError, match="exactly one skos:ConceptScheme"):
        read_skos(b"@prefix skos: <http://www.w3.org/2004/02/skos/core#> . <urn:x> a skos:Concept .")
    data = export_bytes(tree, "skos-ttl", tmp_path)
    two = data + b'\n<urn:other:scheme> a <http://www.w3.org/2004/02/skos/core#ConceptScheme> .\n'
    with pytest.raises(InputError, match="found 2"):
        read_skos(two)
    # a changed weight is caught by verify=True (and only then)
    edited = data.replace(b'"10.0"^^xsd:double', b'"10.5"^^xsd:double')
    assert edited != data
    read_skos(edited)
    with pytest.raises(InputError, match="checksum mismatch"):
        read_skos(edited, verify=True)
    # a value whose parent is not a node of the scheme
    orphan = data.replace(f"skos:broader <{node_iri(A1)}>".encode(), b"skos:broader <urn:nowhere>")
    with pytest.raises(InputError, match="not a live node"):
        read_skos(orphan)


# ------------------------------------------------------------------------------------------------------------
# A mid-size generated tree (no timing assertions)
# ------------------------------------------------------------------------------------------------------------


def generated_tree(n_values: int = 2000, levels: tuple[int, ...] = (160, 20, 5), seed: int = 0) -> Tree:
    rnd = random.Random(seed)
    nodes: dict[str, Node] = {}
    below: list[str] = []
    for level, n in enumerate(levels, start=1):
        uids = [_uid(level, i) for i in range(n)]
        for i, u in enumerate(uids):
            nodes[u] = Node(u, level, f"level {level} cluster {i}", "" if i % 4 == 0 else f"what {i} means\nin two lines",
                            None)
        for i, child in enumerate(below):
            nodes[child].parent_uid = uids[i % n]
        below = uids
    l1 = [u for u in nodes if nodes[u].level == 1]
    leaves = [Leaf(f"value #{i} / {rnd.random():.3f}% é", l1[i % len(l1)], rnd.expovariate(1.0), rnd.randint(1, 99),
                   aliases=[f"Value #{i}"] if i % 3 == 0 else []) for i in range(n_values)]
    t = recompute_stats(Tree(nodes=nodes, leaves=leaves, version_id=42))
    t.tombstones = {_uid(1, 10_000 + i): Tombstone(_uid(1, 10_000 + i), 1, f"old {i}", "merged", [l1[i]], 41)
                    for i in range(10)}
    return t


@pytest.mark.parametrize("fmt,rdf_format", FORMAT_PAIRS)
def test_midsize_tree(tmp_path, fmt, rdf_format):
    t = generated_tree()
    data = export_bytes(t, fmt, tmp_path)
    got, version, checksum = read_skos(data, rdf_format, verify=True)
    assert version == 42 and checksum == content_checksum(t)
    assert len(got.nodes) == 185 and len(got.leaves) == 2000 and len(got.tombstones) == 10
    assert_same_tree(got, t)


# ------------------------------------------------------------------------------------------------------------
# The streaming Turtle writer holds the same graph as rdflib's serializer
# ------------------------------------------------------------------------------------------------------------

HOSTILE = ['quote " inside', 'two ""', "back\\slash", "trailing backslash\\", "new\nline", "cr\rlf\r\n",
           "tab\t", "nul \x00 and bell \x07 and del \x7f", "form\ffeed \b", "\u2028 and \u2029", "😀 价值 ça",
           "'single' and '''triple'''", '"""', "\\n literally", "\\u0041 literally", "<>{}|^`", "#comment",
           "@prefix x: <y> ."]


def defects_tree() -> Tree:
    """tests/data/defects_tree.csv (top / group / cluster / item, weight), with hostile text in some names."""
    import csv

    rows = list(csv.DictReader(open(Path(__file__).parent / "data" / "defects_tree.csv", encoding="utf-8")))
    paths, weights = {}, {}
    for i, r in enumerate(rows):
        item = r["item"] + (" " + HOSTILE[i % len(HOSTILE)] if i % 3 == 0 else "")
        paths[item] = (f"d:l1:{r['cluster']}", f"d:l2:{r['group']}", f"d:l3:{r['top']}")
        weights[item] = float(r["weight"]) / 7
    uids = sorted({u for p in paths.values() for u in p})
    names = {u: u.split(":", 2)[2] + " " + HOSTILE[i % len(HOSTILE)] for i, u in enumerate(uids)}
    descriptions = {u: f"about {n}\nsecond line \\ end" for u, n in names.items()}
    aliases = {v: [v.upper(), v + ' "alias"\n'] for v in list(paths)[::4]}
    return make_tree(paths, weights, names=names, descriptions=descriptions, aliases=aliases,
                     tombstones=[Tombstone("d:l1:gone " + h, 1, h, "deleted", [uids[0]], 2) for h in HOSTILE[:3]])


def both_writers(tree: Tree, manifest: dict | None = None) -> tuple[bytes, bytes]:
    ctx = ExportContext(tree.version_id, content_checksum(tree), manifest or {})
    new, old = io.BytesIO(), io.BytesIO()
    assert write_skos_turtle(tree, new, ctx) == write_skos_turtle_rdflib(tree, old, ctx)
    return new.getvalue(), old.getvalue()


@pytest.mark.parametrize("make", ["tree", "awkward", "defects", "generated"])
def test_streamed_turtle_is_the_rdflib_graph(make, request):
    t = {"tree": lambda: request.getfixturevalue("tree"), "awkward": lambda: request.getfixturevalue("awkward_tree"),
         "defects": defects_tree, "generated": lambda: generated_tree(300, (30, 6, 2))}[make]()
    manifest = {"created_at": "2025-03-04T05:06:07+00:00", "note": 'json "in" a literal\n\\'}
    new, old = both_writers(t, manifest)
    g_new, g_old = Graph().parse(data=new, format="turtle"), Graph().parse(data=old, format="turtle")
    assert len(g_new) == len(g_old) > 0
    assert isomorphic(g_new, g_old)
    # and both are exactly the graph the export describes (doubles and hostile strings included)
    assert isomorphic(g_new, tree_to_graph(t, ExportContext(t.version_id, content_checksum(t), manifest)))
    got, version, checksum = read_skos(new, verify=True)
    assert version == t.version_id and checksum == content_checksum(t)
    assert_same_tree(got, t)


def test_hostile_text_reads_back_exactly():
    t = defects_tree()
    g = Graph().parse(data=both_writers(t)[0], format="turtle")
    labels = {str(o) for o in g.objects(None, URIRef("http://www.w3.org/2004/02/skos/core#prefLabel"))}
    assert {n.name for n in t.nodes.values()} <= labels and {lf.text for lf in t.leaves} <= labels
    assert set(HOSTILE[:3]) <= labels  # the retired nodes' names
    assert any("\x00" in x for x in labels) and any("\u2028" in x for x in labels)


def test_turtle_escaping():
    assert turtle_string("plain é 😀") == '"plain é 😀"'
    assert turtle_string('a"b\\c\nd\re\tf') == r'"a\"b\\c\nd\re\tf"'
    assert turtle_string("\x00\x1f\x7f") == r'"\u0000\u001F\u007F"'
    assert turtle_iri("urn:taxo:value:a%20b") == "<urn:taxo:value:a%20b>"
    for bad in ("urn:a b", "urn:a>b", 'urn:"', "urn:a\\b", "urn:\n"):
        with pytest.raises(TaxoError, match="cannot write IRI"):
            turtle_iri(bad)


def test_streamed_turtle_is_deterministic():
    t = defects_tree()
    a = both_writers(t)[0]
    t.leaves.reverse()
    t.nodes = dict(reversed(list(t.nodes.items())))
    assert both_writers(t)[0] == a and a.endswith(b" .\n\n")


# ------------------------------------------------------------------------------------------------------------
# The streaming JSON-LD writer writes the bytes of rdflib's compaction in canonical order
# ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", ["tree", "awkward", "defects", "generated", "one child", "no version"])
@pytest.mark.parametrize("base", [DEFAULT_BASE, "https://data.example.org/taxo/", TAXO_NS, "http://purl.org/dc/terms/"])
def test_streamed_jsonld_is_the_rdflib_document(make, base, request):
    def one_child() -> Tree:  # single values where there are usually lists: one top concept, one child, one alias
        return make_tree({"solo": ("o:l1:only", "o:l2:top")}, aliases={"solo": ["SOLO"]},
                         tombstones=[Tombstone("o:l1:gone", 1, "Gone", "merged", ["o:l1:only"], None)])

    def no_version() -> Tree:
        t = request.getfixturevalue("tree")
        t.version_id = None
        return t

    t = {"tree": lambda: request.getfixturevalue("tree"), "awkward": lambda: request.getfixturevalue("awkward_tree"),
         "defects": defects_tree, "generated": lambda: generated_tree(300, (30, 6, 2)), "one child": one_child,
         "no version": no_version}[make]()
    for manifest in ({"created_at": "2025-03-04T05:06:07+00:00", "note": 'json "in" a literal\n\\'},
                     {"created": "not a date"}, {}):
        ctx = ExportContext(t.version_id, content_checksum(t), manifest)
        new, old = io.BytesIO(), io.BytesIO()
        assert write_skos_jsonld(t, new, ctx, base=base) == write_skos_jsonld_rdflib(t, old, ctx, base=base)
        assert new.getvalue() == old.getvalue()
    if base == DEFAULT_BASE:  # the reader knows the default base's IRIs
        got, version, checksum = read_skos(new.getvalue(), "json-ld", verify=True)
        assert version == t.version_id and checksum == content_checksum(t)
        assert_same_tree(got, t)


def test_jsonld_ids_are_compacted_only_under_a_bound_namespace():
    assert compact_iri("urn:taxo:node:values:l1:abc") == "urn:taxo:node:values:l1:abc"
    assert compact_iri(TAXO_NS + "node:x") == "taxo:node:x"
    assert compact_iri("http://purl.org/dc/terms/value:a%20b") == "dct:value:a%20b"
    assert compact_iri("http://purl.org/dc/terms/sub/value:a") == "http://purl.org/dc/terms/sub/value:a"


def test_percent_encode_is_urllib_quote():
    """The IRIs' percent-encoding gives what urllib.parse.quote gives (safe '' for values, ':' for node ids)."""
    from urllib.parse import quote

    from taxonomy.export.skos import percent_encode

    texts = ["", "honesty", "care for others", "a:b/c?d#e%f&g=h+i", "naïve café – 価値観 😀", "tab\tnew\nline",
             "~_.-", "[brackets] {braces} <angle> \"quotes\" 'single' `back`", "\x7f\x00\x1f", "A" * 300 + " z",
             "values:l1:1234abcd-0000", "ü:ö", "%20 already", "\u2028\ufeff\u200b"]
    for t in texts:
        assert percent_encode(t) == quote(t, safe=""), t
        assert percent_encode(t, colon=True) == quote(t, safe=":"), t


def test_double_lexical_forms():
    from taxonomy.export.skos import double_lexical

    assert [double_lexical(x) for x in (0.1, -0.0, 3, float("inf"), -1e308 * 10, float("nan"), 2.5e-12)] == \
        ["0.1", "-0.0", "3.0", "INF", "-INF", "NaN", "2.5e-12"]
