"""`taxo assign`: place new data into a curated version without touching what the taxonomists made.

Every stored value that the base version covers-to-be but does not hold is embedded and compared with the
version's level-1 nodes. A value close enough to its nearest node is placed there (a ``place`` operation); the
others go to the **novelty queue** (:mod:`taxonomy.novelty`), grouped into candidate new clusters. Values already
in the version are never moved; names, descriptions, ids and structure stay exactly as they were; weights and
counts are recomputed from all the batches the new version covers (a ``reweigh`` operation). The result is one
change-set (``source.kind = "assign"``) written through :func:`taxonomy.changesets.apply`, so diff, log, history
and check treat it like any edit.

Placement (``method="centroid"``): cosine similarity to each level-1 node's centroid, the mean of its members'
unit vectors. The novelty threshold is calibrated on the version itself: the ``quantile`` of the similarity of
every member value to its own node's centroid computed *without that member* (leave-one-out), i.e. how well a
member that had not been there would fit. ``threshold`` overrides it. Linear in the number of values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from sqlalchemy import Engine, select

from taxonomy.db.engine import session_scope
from taxonomy.db.models import Batch, BatchValue
from taxonomy.errors import UsageError
from taxonomy.gcpause import without_gc
from taxonomy.progress import NullProgress, Progress
from taxonomy.tree import node_centroids

METHODS = ("centroid",)
DEFAULT_QUANTILE = 0.02
_CHUNK = 2048


@dataclass
class Placement:
    value: str
    weight: float
    count: int
    first_batch: int | None
    node: str  #: nearest level-1 node uid
    node_name: str
    similarity: float
    runner_up: str | None
    runner_up_similarity: float | None
    queued: bool  #: below the threshold: goes to the novelty queue instead

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AssignResult:
    base_version_id: int
    version_id: int | None  #: None for a dry run or when there was nothing to place
    dry_run: bool
    batches: list[int]  #: the batches the new version covers
    n_candidates: int
    n_placed: int
    n_queued: int
    threshold: float | None  #: None when there was nothing to place (no calibration ran)
    threshold_source: str  #: "calibrated" or "given"
    method: dict
    placements: list[Placement] = field(default_factory=list)
    groups: list[dict] = field(default_factory=list)  #: the novelty queue, grouped
    change_set_id: int | None = None
    note: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["placements"] = [p.to_dict() for p in self.placements]
        return d


@dataclass
class Calibration:
    threshold: float
    n_members: int
    quantiles: dict[str, float]


def level1_centroids(tree, X: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Level-1 uids (sorted), their unnormalised member sums, member counts, and each leaf's node index."""
    uids = sorted(n.uid for n in tree.nodes_at(1))
    pos = {u: i for i, u in enumerate(uids)}
    idx = np.array([pos[leaf.parent_uid] for leaf in tree.leaves], dtype=np.int64)
    from scipy import sparse

    member = sparse.csr_matrix(
        (np.ones(len(idx), dtype=np.float32), (idx, np.arange(len(idx)))), shape=(len(uids), len(idx))
    )
    sums = np.asarray(member @ X.astype(np.float32, copy=False), dtype=np.float64)
    sizes = np.bincount(idx, minlength=len(uids))
    return uids, sums, sizes, idx


def calibrate(X: np.ndarray, sums: np.ndarray, sizes: np.ndarray, idx: np.ndarray, quantile: float) -> Calibration:
    """Leave-one-out similarity of every member to its own node's centroid; the threshold is its ``quantile``.

    With x a unit vector and S its node's member sum: cos(x, S - x) = (x.S - 1) / sqrt(|S|^2 - 2 x.S + 1).
    Computed in chunks; members of single-value nodes have no leave-one-out centroid and are left out."""
    if not 0 < quantile < 1:
        raise UsageError(f"--quantile must be between 0 and 1, got {quantile}")
    sq = np.einsum("ij,ij->i", sums, sums)
    parts = []
    for start in range(0, len(X), _CHUNK * 4):
        x = X[start : start + _CHUNK * 4].astype(np.float64)
        c = idx[start : start + _CHUNK * 4]
        dot = np.einsum("ij,ij->i", x, sums[c])
        n2 = sq[c] - 2.0 * dot + 1.0
        ok = (sizes[c] > 1) & (n2 > 1e-12)
        parts.append((dot[ok] - 1.0) / np.sqrt(n2[ok]))
    sims = np.concatenate(parts) if parts else np.zeros(0)
    if len(sims) == 0:
        raise UsageError("cannot calibrate a novelty threshold: no level-1 node has two or more values; give --threshold")
    qs = {f"p{int(q * 100):02d}": float(np.quantile(sims, q)) for q in (0.01, 0.05, 0.25, 0.5)}
    return Calibration(threshold=float(np.quantile(sims, quantile)), n_members=int(len(sims)), quantiles=qs)


def nearest_two(C: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each row of C: best and second-best centroid index and similarity (chunked; linear in rows)."""
    n = len(C)
    b1 = np.zeros(n, dtype=np.int64)
    b2 = np.full(n, -1, dtype=np.int64)
    s1 = np.zeros(n)
    s2 = np.full(n, np.nan)
    for start in range(0, n, _CHUNK):
        S = C[start : start + _CHUNK].astype(np.float64) @ centroids.T
        order = np.argsort(-S, axis=1, kind="stable")[:, :2]
        rows = np.arange(len(S))
        b1[start : start + len(S)] = order[:, 0]
        s1[start : start + len(S)] = S[rows, order[:, 0]]
        if S.shape[1] > 1:
            b2[start : start + len(S)] = order[:, 1]
            s2[start : start + len(S)] = S[rows, order[:, 1]]
    return b1, s1, b2, s2


def check_model(manifest: dict, version: int, cache_dir=None):
    """An embedder for the version's model; refuses if the weights available now differ from the recorded ones."""
    from taxonomy.naming import embedder_for

    recorded = manifest.get("model") or {}
    name = recorded.get("name")
    embedder = embedder_for(manifest, cache_dir)
    try:
        spec = embedder.spec
    except UsageError as exc:
        raise UsageError(f"version {version} was built with embedding model {name!r}, which is not available: {exc}") from None
    want = recorded.get("weights_sha256")
    if want and want != spec.weights_sha256:
        was = recorded.get("identity") or f"{name}@sha256:{want[:16]}"
        raise UsageError(
            f"version {version} was built with embedding model {was}, but the model available now is "
            f"{spec.identity}; placing values with other embeddings would be meaningless"
        )
    return embedder


@without_gc
def assign(
    version: int,
    *,
    batches=None,
    dry_run: bool = False,
    threshold: float | None = None,
    quantile: float = DEFAULT_QUANTILE,
    method: str = "centroid",
    seed: int = 0,
    message: str = "",
    author: str | None = None,
    branch: str | None = None,
    cache_dir: str | None = None,
    db: str | Engine | None = None,
    progress: Progress | None = None,
) -> AssignResult:
    """Place every value the new version covers but ``version`` does not hold; queue those that fit no node.

    ``batches``: batches to add to the version's coverage (default: every stored batch). ``dry_run``: compute and
    return the placements, write nothing. ``threshold``: the novelty threshold (default: calibrated, see the
    module docstring). Values already in the version are never moved.
    """
    from taxonomy.changesets import apply
    from taxonomy.coverage import (
        batch_manifest,
        check_batches,
        coverage_of_manifest,
        coverage_totals,
        first_batches,
        parse_batches,
        resolve_coverage,
    )
    from taxonomy.edits import Place, Reweigh
    from taxonomy.naming import summarizer_for
    from taxonomy.novelty import group_queue
    from taxonomy.store import get_version, read_tree

    progress = progress or NullProgress()
    if method not in METHODS:
        raise UsageError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    if threshold is not None and not -1.0 <= threshold <= 1.0:
        raise UsageError(f"--threshold is a cosine similarity between -1 and 1, got {threshold}")
    requested = parse_batches(batches)
    with session_scope(db) as session:
        base = get_version(session, version)
        manifest = dict(base.manifest)
        tree = read_tree(session, version)
        base_cov = coverage_of_manifest(manifest)
        base_batches = set(base_cov.batches)
        if not base_batches and tree.leaves:  # an old or hand-made version: the batches holding its values
            ids = [leaf.value_id for leaf in tree.leaves]
            for start in range(0, len(ids), 500):
                base_batches.update(
                    session.scalars(
                        select(BatchValue.batch_id).where(BatchValue.value_id.in_(ids[start : start + 500])).distinct()
                    )
                )
        if requested is not None:
            check_batches(session, requested)
            new_batches = sorted(base_batches | set(requested))
        else:
            new_batches = sorted(base_batches | set(session.scalars(select(Batch.id))))
        cov = resolve_coverage(
            session, batches=new_batches, role=base_cov.role, min_conversations=base_cov.min_conversations,
            inherited_from=version,
        )
        totals = coverage_totals(session, cov)
        held = {leaf.text for leaf in tree.leaves}
        cands = [t for t in totals if t.text not in held]
        firsts = first_batches(session, [t.id for t in cands], cov) if cands else {}
        batch_info = batch_manifest(session, new_batches)
    mdesc = {"name": method, "params": {"quantile": quantile, "centroid": "mean of member unit vectors",
                                        "calibration": "leave-one-out similarity of members to their own node"}}
    if not cands:
        return AssignResult(
            base_version_id=version, version_id=None, dry_run=dry_run, batches=new_batches, n_candidates=0,
            n_placed=0, n_queued=0, threshold=threshold,
            threshold_source="given" if threshold is not None else "calibrated", method=mdesc,
            note=f"version {version} already holds every value of batches {','.join(map(str, new_batches))}; "
            "nothing to place, nothing written",
        )
    embedder = check_model(manifest, version, cache_dir)
    texts = [leaf.text for leaf in tree.leaves]
    cand_texts = [t.text for t in cands]
    with progress.step("Embedding values", total=len(texts) + len(cand_texts)) as step:
        X = embedder.embed(texts)
        step.update(len(texts))
        C = embedder.embed(cand_texts)
        step.update(len(cand_texts))
    uids, sums, sizes, idx = level1_centroids(tree, X)
    cal = calibrate(X, sums, sizes, idx, quantile)
    thr = cal.threshold if threshold is None else float(threshold)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    centroids = sums / norms
    with progress.step("Placing values", total=len(cands)) as step:
        b1, s1, b2, s2 = nearest_two(C, centroids)
        step.update(len(cands))
    placements = []
    for i, t in enumerate(cands):
        u = uids[int(b1[i])]
        r = uids[int(b2[i])] if b2[i] >= 0 else None
        placements.append(
            Placement(
                value=t.text, weight=t.weight, count=t.count, first_batch=firsts.get(t.id), node=u,
                node_name=tree.nodes[u].name, similarity=round(float(s1[i]), 6), runner_up=r,
                runner_up_similarity=None if r is None else round(float(s2[i]), 6), queued=bool(s1[i] < thr),
            )
        )
    queued = [i for i, p in enumerate(placements) if p.queued]
    summarizer = summarizer_for(manifest, db) if queued else None
    if summarizer is not None:
        summarizer.preflight()
    nuids, nvecs = node_centroids(tree, uids, sums)
    groups = group_queue(
        [placements[i] for i in queued], C[queued], tree, nuids, nvecs, threshold=thr, summarizer=summarizer, seed=seed
    ) if queued else []
    mdesc["threshold"] = thr
    mdesc["threshold_source"] = "given" if threshold is not None else "calibrated"
    mdesc["calibration"] = {"quantile": quantile, "threshold": cal.threshold, "n_members": cal.n_members,
                            "quantiles": cal.quantiles}
    result = AssignResult(
        base_version_id=version, version_id=None, dry_run=dry_run, batches=new_batches, n_candidates=len(cands),
        n_placed=len(cands) - len(queued), n_queued=len(queued), threshold=thr,
        threshold_source=mdesc["threshold_source"], method=mdesc, placements=placements, groups=groups,
    )
    if dry_run:
        result.note = "dry run: nothing written"
        return result
    if result.n_placed == 0 and set(new_batches) == base_batches:
        result.note = (f"no new batch, and none of the {len(queued)} values version {version} does not hold fits a "
                       "node: they stay in the novelty queue; nothing written")
        return result
    ops = [Reweigh(batches=new_batches)] + [Place(value=p.value, to=p.node) for p in placements if not p.queued]
    table = {t.text: (t.id, t.weight, t.count) for t in totals}
    assign_info = {
        "base_version": version,
        "batches_added": sorted(set(new_batches) - base_batches),
        "method": mdesc,
        "n_candidates": len(cands),
        "n_placed": result.n_placed,
        "n_queued": result.n_queued,
        "seed": seed,
    }
    with progress.step("Writing version", total=1) as step:
        res = apply(
            version,
            ops,
            message=message or f"assign {result.n_placed} values from batches {','.join(map(str, new_batches))}",
            author=author,
            source={"kind": "assign", "batches": new_batches, "method": method, "threshold": thr},
            branch=branch,
            cache_dir=cache_dir,
            db=db,
            kind="assign",
            manifest_update={
                "batches": batch_info,
                "coverage": cov.to_dict(),
                "assign": assign_info,
                "novelty": {"threshold": thr, "groups": groups},
            },
            lookup_value=table.get,
        )
        step.update(1)
    result.version_id = res.version_id
    result.change_set_id = res.change_set_id
    return result
