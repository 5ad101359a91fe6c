"""Read-only commands: `taxo versions`, `taxo show`, `taxo similar`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select

from taxonomy.db.engine import session_scope
from taxonomy.db.models import Membership, Node, Value, ValueAlias, Version
from taxonomy.errors import NotFoundError, UsageError
from taxonomy.store import get_version, level_counts, read_tree
from taxonomy.tree import level1_sums, node_centroids

if TYPE_CHECKING:
    import numpy as np  # (imported by `similar` only)


def short_id(uid: str) -> str:
    """The first 8 hex digits of a node uid's uuid part (what `taxo show` prints; accepted wherever a node is)."""
    return uid.rsplit(":", 1)[-1][:8]


@dataclass
class VersionInfo:
    id: int
    parent_id: int | None
    created_at: str
    message: str
    author: str | None
    kind: str
    checksum: str
    counts: dict[int, int]  #: level -> number of nodes (0 = values)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["counts"] = {str(k): v for k, v in sorted(self.counts.items())}
        return d


def version_fields(v: Version) -> dict:
    """What every listing of versions shows of one (`taxo versions`, `taxo log`): id, parent, creation time to
    the second, author, kind and message."""
    created = v.created_at.isoformat(timespec="seconds") if v.created_at else ""
    return {"id": v.id, "parent_id": v.parent_id, "created_at": created, "author": v.author, "kind": v.kind,
            "message": v.message}


def _info(v: Version, counts: dict[int, int]) -> VersionInfo:
    return VersionInfo(**version_fields(v), checksum=v.checksum, counts=counts)


def versions(*, db: str | Engine | None = None) -> list[VersionInfo]:
    """All versions, oldest first, with their node counts per level."""
    with session_scope(db) as session:
        rows = session.scalars(select(Version).order_by(Version.id)).all()
        counts = level_counts(session)
        return [_info(v, counts.get(v.id, {})) for v in rows]


def resolve_node(session, version_id: int, ref: str) -> Node:
    """Find a node of a version by full uid, by the uuid part, or by a unique prefix (>= 4 chars) of it (the rule
    of :func:`taxonomy.lineage.resolve_node_id`)."""
    from taxonomy.lineage import resolve_node_id, version_pool

    uid = resolve_node_id(ref, version_pool(session, version_id), scope=f" in version {version_id}")
    if uid is None:
        raise NotFoundError(f"version {version_id} has no node {ref!r}")
    return session.scalar(select(Node).where(Node.version_id == version_id, Node.uid == uid))


@dataclass
class NodeSummary:
    id: str
    short_id: str
    level: int
    name: str
    description: str
    member_count: int
    n_children: int
    weight: float
    pct_total_occurrences: float

    def to_dict(self) -> dict:
        return dict(vars(self))  # (all fields are plain values: no deep copy needed, unlike asdict)


@dataclass
class MemberValue:
    value: str
    weight: float
    count: int
    pct_total_occurrences: float
    aliases: list[str] = field(default_factory=list)


@dataclass
class NodeDetail:
    node: NodeSummary
    version_id: int
    path: list[NodeSummary]  #: from the top level down to the node's parent
    children: list[NodeSummary]
    values: list[MemberValue]  #: the values directly under a level-1 node, or the top values under a higher node
    n_values_total: int
    n_values_shown: int

    def to_dict(self) -> dict:
        return {
            "version_id": self.version_id,
            "node": self.node.to_dict(),
            "path": [p.to_dict() for p in self.path],
            "children": [c.to_dict() for c in self.children],
            "values": [asdict(v) for v in self.values],
            "n_values_total": self.n_values_total,
            "n_values_shown": self.n_values_shown,
        }


@dataclass
class VersionView:
    version: VersionInfo
    level: int
    nodes: list[NodeSummary]
    manifest: dict

    def to_dict(self) -> dict:
        return {
            "version": self.version.to_dict(),
            "level": self.level,
            "nodes": [n.to_dict() for n in self.nodes],
        }


def _children_counts(session, version_id: int) -> dict[int, int]:
    q = (
        select(Node.parent_id, func.count())
        .where(Node.version_id == version_id, Node.parent_id.is_not(None))
        .group_by(Node.parent_id)
    )
    out = {a: b for a, b in session.execute(q)}
    m = select(Membership.node_id, func.count()).where(Membership.version_id == version_id).group_by(Membership.node_id)
    out.update({a: b for a, b in session.execute(m)})
    return out


def _summary(node, n_children: int) -> NodeSummary:
    """``node``: a :class:`Node` or a row with its columns."""
    return NodeSummary(
        id=node.uid,
        short_id=short_id(node.uid),
        level=node.level,
        name=node.name,
        description=node.description,
        member_count=node.member_count,
        n_children=n_children,
        weight=node.weight,
        pct_total_occurrences=node.pct_total_occurrences,
    )


def show(
    version: int,
    *,
    level: int | None = None,
    node: str | None = None,
    limit: int = 25,
    db: str | Engine | None = None,
) -> VersionView | NodeDetail:
    """One version's nodes at a level (default: the top level), or one node in detail.

    For a node: its path from the top, description, children, and member values with weights (the ``limit``
    heaviest values; ``limit=0`` shows all).
    """
    with session_scope(db) as session:
        v = get_version(session, version)
        if node is not None:
            return _node_detail(session, v, node, limit)
        top = v.n_levels
        level = top if level is None else level
        if not 1 <= level <= top:
            raise UsageError(f"version {v.id} has levels 1..{top}; --level {level} does not exist")
        kids = _children_counts(session, v.id)
        nodes = session.execute(  # columns, not ORM objects: thousands of rows at a level
            select(Node.id, Node.uid, Node.level, Node.name, Node.description, Node.member_count, Node.weight,
                   Node.pct_total_occurrences)
            .where(Node.version_id == v.id, Node.level == level).order_by(Node.weight.desc(), Node.name)
        ).all()
        counts = level_counts(session, [v.id]).get(v.id, {})
        return VersionView(
            version=_info(v, counts),
            level=level,
            nodes=[_summary(nd, kids.get(nd.id, 0)) for nd in nodes],
            manifest=v.manifest,
        )


def _node_detail(session, v: Version, ref: str, limit: int) -> NodeDetail:
    nd = resolve_node(session, v.id, ref)
    kids = _children_counts(session, v.id)
    path: list[Node] = []
    cur = nd
    while cur.parent_id is not None:
        cur = session.get(Node, cur.parent_id)
        path.append(cur)
    path.reverse()
    children = session.scalars(
        select(Node).where(Node.parent_id == nd.id).order_by(Node.weight.desc(), Node.name)
    ).all()
    # values under the node: walk down to level 1
    level1_ids = [nd.id]
    for _ in range(nd.level - 1):
        level1_ids = list(session.scalars(select(Node.id).where(Node.parent_id.in_(level1_ids))))
    total_weight = float(v.manifest.get("total_weight") or 0.0)
    q = (
        select(Value.id, Value.text, Membership.weight, Membership.count)
        .join(Membership, Membership.value_id == Value.id)
        .where(Membership.version_id == v.id, Membership.node_id.in_(level1_ids))
        .order_by(Membership.weight.desc(), Value.text)
    )
    n_total = nd.member_count
    rows = session.execute(q.limit(limit) if limit else q).all()
    aliases: dict[int, list[str]] = {}
    ids = [r[0] for r in rows]
    for start in range(0, len(ids), 500):
        for vid, surface in session.execute(
            select(ValueAlias.value_id, ValueAlias.surface)
            .where(ValueAlias.value_id.in_(ids[start : start + 500]))
            .order_by(ValueAlias.n_rows.desc(), ValueAlias.surface)
        ):
            aliases.setdefault(vid, []).append(surface)
    values = [
        MemberValue(
            value=t,
            weight=w,
            count=c,
            pct_total_occurrences=(100.0 * w / total_weight) if total_weight > 0 else 0.0,
            aliases=[a for a in aliases.get(vid, []) if a != t],
        )
        for vid, t, w, c in rows
    ]
    return NodeDetail(
        node=_summary(nd, kids.get(nd.id, 0)),
        version_id=v.id,
        path=[_summary(p, kids.get(p.id, 0)) for p in path],
        children=[_summary(c, kids.get(c.id, 0)) for c in children],
        values=values,
        n_values_total=n_total,
        n_values_shown=len(values),
    )


@dataclass
class SimilarHit:
    kind: str  #: "value" or "node"
    id: str  #: the value text, or the node uid
    name: str
    level: int
    score: float  #: cosine similarity
    path: list[str]  #: names from the top level down to the hit's parent

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SimilarResult:
    query: str
    version_id: int
    values: list[SimilarHit]
    nodes: list[SimilarHit]

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "version_id": self.version_id,
            "values": [h.to_dict() for h in self.values],
            "nodes": [h.to_dict() for h in self.nodes],
        }


def node_vectors(tree, leaf_vectors: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Each node's centroid (:func:`taxonomy.tree.node_centroids`): the weight-weighted mean of the unit vectors
    of the values under it, normalized. (Uniform weights when the values all weigh 0.) Linear in the number of
    values."""
    import numpy as np

    w = np.array([max(leaf.weight, 0.0) for leaf in tree.leaves], dtype=np.float64)
    if w.sum() <= 0:
        w = np.ones_like(w)
    return node_centroids(tree, *level1_sums(tree, leaf_vectors, w + 1e-12))


def similar(
    query: str,
    *,
    version: int,
    k: int = 10,
    model: str | None = None,
    cache_dir: str | None = None,
    db: str | Engine | None = None,
    cache_vectors: bool = True,
    progress=None,
) -> SimilarResult:
    """The ``k`` values and ``k`` nodes of a version nearest to ``query`` (cosine, exact faiss search).

    Uses the embedding model recorded in the version's manifest unless ``model`` is given. The version's value
    and node vectors are cached per version content and model in the embedding cache directory
    (:mod:`taxonomy.similar_cache`); ``cache_vectors=False`` computes them afresh and stores nothing.
    ``progress`` (:class:`taxonomy.progress.Progress`) shows the embedding of values the cache lacks (another
    ``model`` than the version's: every value is embedded once, then cached).
    """
    from embeddings import Embedder, VectorIndex
    from taxonomy.normalize import normalize_value
    from taxonomy.similar_cache import version_vectors

    if not query.strip():
        raise UsageError("the query is empty")
    if k < 1:
        raise UsageError(f"-k must be at least 1, got {k}")
    with session_scope(db) as session:
        v = get_version(session, version)
        recorded = dict(v.manifest.get("model") or {})
        # the version's model and backend (an int8 build's vectors are not the fp32 model's), unless a model is given
        backend = (recorded.get("embed_backend") if model is None else None) or "auto"
        embedder = Embedder(model=model or recorded.get("name"), cache_dir=cache_dir, backend=backend)
        vv = version_vectors(session, v, embedder, cache_dir=cache_dir, cache=cache_vectors, progress=progress)
    qv = embedder.embed_query(normalize_value(query))
    value_hits = VectorIndex(vv.leaf_vecs, range(len(vv.texts))).search(qv, k)[0]
    node_hits = VectorIndex(vv.node_vecs, vv.uids).search(qv, k)[0]
    pos = vv.positions()
    return SimilarResult(
        query=query,
        version_id=version,
        values=[SimilarHit("value", vv.texts[i], vv.texts[i], 0, round(s, 6), vv.path_of(vv.uids[vv.leaf_row[i]]))
                for i, s in value_hits],
        nodes=[
            SimilarHit("node", u, vv.names[pos[u]], vv.levels[pos[u]], round(s, 6), vv.path_of(vv.parents[pos[u]]))
            for u, s in node_hits
        ],
    )
