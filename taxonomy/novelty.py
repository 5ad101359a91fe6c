"""The novelty queue: values `taxo assign` did not force into the tree, grouped into candidate new clusters.

The queue is stored in the manifest of the version `assign` wrote (key ``novelty``) and travels with every later
version made from it; a queued value that a later version holds (accepted, placed) is simply no longer listed.
Each group has an id (``g`` + 8 hex digits of a hash of its members), a name and description from the version's
summarizer, its members (weight, count, similarity to their nearest node, the first batch they appeared in), and
its nearest existing level-1 nodes (where its values could be placed) and level-2 nodes (where a new node made
from it could go).

`taxo novelty V accept G --parent P` makes the group a new level-1 node under P; `taxo novelty V place G|VALUE
--into N` puts the values under an existing level-1 node. Each is one change-set (``source.kind = "novelty"``).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import numpy as np
from sqlalchemy import Engine

from taxonomy.db.engine import session_scope
from taxonomy.errors import NotFoundError, UsageError

#: above this many queued values, groups come from k-means instead of average-linkage clustering
_AGGLOMERATIVE_MAX = 3000
_NEAREST = 3


def group_id(members: list[str]) -> str:
    return "g" + hashlib.sha1("\n".join(sorted(members)).encode("utf-8")).hexdigest()[:8]


def _nearest(vec: np.ndarray, tree, nuids: list[str], nvecs: np.ndarray, level: int, k: int = _NEAREST) -> list[dict]:
    sel = [i for i, u in enumerate(nuids) if tree.nodes[u].level == level]
    if not sel:
        return []
    sims = nvecs[sel].astype(np.float64) @ vec
    order = np.argsort(-sims, kind="stable")[:k]
    return [
        {"node": nuids[sel[j]], "name": tree.nodes[nuids[sel[j]]].name, "similarity": round(float(sims[j]), 6)}
        for j in order
    ]


def group_queue(placements, C: np.ndarray, tree, nuids, nvecs, *, threshold: float, summarizer, seed: int = 0) -> list[dict]:
    """Group queued values into candidate clusters: average-linkage (cosine) clustering that joins values only
    while they are, on average, as similar to each other as the novelty threshold asks of a node's members."""
    from taxonomy.summarize.base import ClusterInfo

    n = len(placements)
    order = sorted(range(n), key=lambda i: placements[i].value)
    P = [placements[i] for i in order]
    V = C[order].astype(np.float64)
    if n == 1:
        labels = np.zeros(1, dtype=int)
    elif n <= _AGGLOMERATIVE_MAX:
        from sklearn.cluster import AgglomerativeClustering

        labels = AgglomerativeClustering(
            n_clusters=None, distance_threshold=max(1.0 - threshold, 1e-6), metric="cosine", linkage="average"
        ).fit_predict(V)
    else:
        from sklearn.cluster import MiniBatchKMeans

        labels = MiniBatchKMeans(n_clusters=max(2, n // 10), random_state=seed, n_init=3).fit_predict(V)
    clusters: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        clusters.setdefault(int(lab), []).append(i)
    parts = sorted(clusters.values(), key=lambda m: (-sum(P[i].weight for i in m), P[m[0]].value))
    infos = [
        ClusterInfo(level=1, members=[P[i].value for i in m], weights=np.array([P[i].weight for i in m]),
                    embeddings=V[m])
        for m in parts
    ]
    summaries = summarizer.summarize_level(infos, [list(range(len(infos)))])
    groups = []
    for m, s in zip(parts, summaries, strict=True):
        c = V[m].mean(axis=0)
        c /= np.linalg.norm(c) or 1.0
        groups.append(
            {
                "id": group_id([P[i].value for i in m]),
                "name": s.name,
                "description": s.description,
                "weight": float(sum(P[i].weight for i in m)),
                "first_batch": min((P[i].first_batch for i in m if P[i].first_batch is not None), default=None),
                "members": [
                    {"value": P[i].value, "weight": P[i].weight, "count": P[i].count, "first_batch": P[i].first_batch,
                     "nearest": P[i].node, "similarity": P[i].similarity}
                    for i in sorted(m, key=lambda i: (-P[i].weight, P[i].value))
                ],
                "nearest_nodes": _nearest(c, tree, nuids, nvecs, 1),
                "nearest_parents": _nearest(c, tree, nuids, nvecs, 2),
            }
        )
    return groups


@dataclass
class NoveltyQueue:
    version_id: int
    threshold: float | None
    groups: list[dict] = field(default_factory=list)
    n_values: int = 0
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def novelty(version: int, *, db: str | Engine | None = None) -> NoveltyQueue:
    """The version's novelty queue: the groups `assign` queued, less the values the version now holds."""
    from taxonomy.store import get_version, read_tree

    with session_scope(db) as session:
        v = get_version(session, version)
        info = (v.manifest or {}).get("novelty")
        if not info:
            return NoveltyQueue(version, None, note=f"version {version} has no novelty queue (no `taxo assign` made it)")
        held = {leaf.text for leaf in read_tree(session, version).leaves}
    groups = []
    for g in info.get("groups") or []:
        members = [m for m in g["members"] if m["value"] not in held]
        if members:
            groups.append({**g, "members": members, "weight": float(sum(m["weight"] for m in members))})
    return NoveltyQueue(version, info.get("threshold"), groups, sum(len(g["members"]) for g in groups))


def _find_group(queue: NoveltyQueue, ref: str) -> dict | None:
    ref = ref.strip().lower()
    if len(ref) < 4 or not ref.startswith("g"):
        return None
    hits = [g for g in queue.groups if g["id"].startswith(ref)]
    if len(hits) > 1:
        raise UsageError(f"group id {ref!r} is ambiguous: {', '.join(g['id'] for g in hits[:5])}")
    return hits[0] if hits else None


def _group(queue: NoveltyQueue, ref: str) -> dict:
    g = _find_group(queue, ref)
    if g is None:
        known = ", ".join(x["id"] for x in queue.groups[:8]) or "none"
        raise NotFoundError(f"version {queue.version_id} has no novelty group {ref!r} (groups: {known})")
    return g


def novelty_accept(
    version: int,
    group: str,
    *,
    parent: str | None = None,
    name: str | None = None,
    description: str | None = None,
    message: str = "",
    author: str | None = None,
    branch: str | None = None,
    cache_dir: str | None = None,
    db: str | Engine | None = None,
):
    """Make a queued group a new level-1 node under ``parent`` (default: the group's nearest level-2 node)."""
    from taxonomy.changesets import apply
    from taxonomy.edits import Create

    queue = novelty(version, db=db)
    g = _group(queue, group)
    if parent is None and g["nearest_parents"]:
        parent = g["nearest_parents"][0]["node"]
    op = Create(
        level=1,
        name=(name or g["name"]).strip() or g["name"],
        parent=parent,
        description=description if description is not None else g["description"],
        children=[m["value"] for m in g["members"]],
    )
    return apply(
        version, [op], message=message or f"novelty: accept {g['id']} as {op.name!r}", author=author,
        source={"kind": "novelty", "action": "accept", "group": g["id"], "queue_version": version},
        branch=branch, cache_dir=cache_dir, db=db,
    )


def novelty_place(
    version: int,
    ref: str,
    *,
    into: str,
    message: str = "",
    author: str | None = None,
    branch: str | None = None,
    cache_dir: str | None = None,
    db: str | Engine | None = None,
):
    """Put a queued group (or one queued value) under an existing level-1 node."""
    from taxonomy.changesets import apply
    from taxonomy.edits import Place
    from taxonomy.normalize import normalize_value

    queue = novelty(version, db=db)
    g = _find_group(queue, ref)
    if g is not None:
        values, what = [m["value"] for m in g["members"]], g["id"]
    else:
        queued = {m["value"] for grp in queue.groups for m in grp["members"]}
        text = ref if ref in queued else normalize_value(ref)
        if text not in queued:
            raise NotFoundError(
                f"{ref!r} is neither a novelty group nor a queued value of version {version}"
                + (f" ({queue.note})" if queue.note else "")
            )
        values, what = [text], text
    ops = [Place(value=v, to=into) for v in values]
    return apply(
        version, ops, message=message or f"novelty: place {what} into {into}", author=author,
        source={"kind": "novelty", "action": "place", "ref": what, "queue_version": version},
        branch=branch, cache_dir=cache_dir, db=db,
    )
