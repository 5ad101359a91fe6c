"""`taxo drift`: how the share of each node changed between two sets of batches.

Unit of the shares: the **conversation**. A node's share in a batch set is the fraction of that set's
conversations (of the version's role, if it has one) with at least one extraction record whose value lies under
the node — the published tree's ``pct_convos`` notion. For each node, the difference after − before gets a 95%
confidence interval by Newcombe's hybrid score method (method 10: Wilson intervals of each share combined), which
behaves well for rare nodes where the Wald interval does not.

The **chi-square test** compares the distribution of extraction records over the level's nodes before and after
(a 2 × k contingency table of record counts; every record lies in exactly one node, which the test needs;
nodes with no record on either side are left out). Records whose value the version does not hold count in the
conversation totals but in no node (reported as ``records_outside``).

New values: values of the version with records after but none before; vanished: the reverse. Both batch sets
must lie inside the version's coverage, be disjoint and non-empty, and hold extraction records (a batch of the
aggregated shape has no conversations to count). Linear in the number of records.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from sqlalchemy import Engine, select

from taxonomy.db.engine import session_scope
from taxonomy.db.models import ExtractionRecord
from taxonomy.errors import UsageError
from taxonomy.gcpause import without_gc

Z95 = 1.959963984540054  #: the 0.975 quantile of the standard normal


def wilson(x: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion x/n (no continuity correction)."""
    if n <= 0:
        return (0.0, 1.0)
    p = x / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, center - half), min(1.0, center + half))


def newcombe(x1: float, n1: float, x2: float, n2: float, z: float = Z95) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) for p2 - p1."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p2 - p1
    return (d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2))


@dataclass
class NodeDrift:
    node: str
    name: str
    before: float  #: share of conversations, 0..1
    after: float
    difference: float  #: after - before
    ci_low: float
    ci_high: float
    conversations_before: int
    conversations_after: int
    records_before: int
    records_after: int
    significant: bool  #: the 95% interval excludes 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DriftResult:
    version_id: int
    level: int
    from_batches: list[int]
    to_batches: list[int]
    role: str | None
    conversations_before: int
    conversations_after: int
    records_before: int
    records_after: int
    records_outside: dict[str, int]  #: records whose value the version does not hold, per side
    chi_square: dict | None  #: statistic, dof, p_value, n_nodes, cramers_v
    nodes: list[NodeDrift] = field(default_factory=list)  #: biggest movers first
    new_values: list[dict] = field(default_factory=list)
    vanished_values: list[dict] = field(default_factory=list)
    n_new_values: int = 0
    n_vanished_values: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["nodes"] = [n.to_dict() for n in self.nodes]
        return d


def chi_square(table: np.ndarray) -> dict | None:
    """Pearson's chi-square test of homogeneity on a 2 x k table (columns with no counts dropped)."""
    from scipy.stats import chi2

    t = np.asarray(table, dtype=np.float64)
    t = t[:, t.sum(axis=0) > 0]
    if t.shape[1] < 2 or (t.sum(axis=1) == 0).any():
        return None
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()
    stat = float(((t - expected) ** 2 / expected).sum())
    dof = int((t.shape[0] - 1) * (t.shape[1] - 1))
    n = t.sum()
    return {
        "statistic": stat,
        "dof": dof,
        "p_value": float(chi2.sf(stat, dof)),
        "n_nodes": int(t.shape[1]),
        "cramers_v": float(math.sqrt(stat / (n * min(t.shape[0] - 1, t.shape[1] - 1)))),
    }


@without_gc
def drift(
    version: int,
    *,
    from_batches,
    to_batches,
    level: int = 1,
    limit: int = 20,
    db: str | Engine | None = None,
) -> DriftResult:
    """Per node of ``level``: share of conversations before (``from_batches``) and after (``to_batches``), the
    difference with a 95% CI, a chi-square test across the level, and new and vanished values."""
    from taxonomy.coverage import check_batches, coverage_of_manifest, parse_batches
    from taxonomy.store import get_version, read_tree

    fb = parse_batches(from_batches, option="--from-batches")
    tb = parse_batches(to_batches, option="--to-batches")
    if fb is None or tb is None:
        raise UsageError("drift needs --from-batches and --to-batches")
    overlap = sorted(set(fb) & set(tb))
    if overlap:
        raise UsageError(
            f"--from-batches and --to-batches overlap (batch {', '.join(map(str, overlap))}); they must be disjoint"
        )
    with session_scope(db) as session:
        v = get_version(session, version)
        cov = coverage_of_manifest(v.manifest or {})
        tree = read_tree(session, version)
        if not 1 <= level <= tree.depth:
            raise UsageError(f"version {version} has levels 1..{tree.depth}; --level {level} does not exist")
        for option, ids in (("--from-batches", fb), ("--to-batches", tb)):
            for b in check_batches(session, ids, option=option):
                if b.shape != "records":
                    raise UsageError(
                        f"{option}: batch {b.id} ({b.source}) is of the aggregated shape: it has no conversations, "
                        "and drift counts conversations; use batches of extraction records"
                    )
            covered = set(cov.batches)
            if covered and not set(ids) <= covered:
                missing = sorted(set(ids) - covered)
                raise UsageError(
                    f"{option}: batch {missing[0]} is not covered by version {version} (it covers "
                    f"{','.join(map(str, sorted(covered)))}); run `taxo assign {version} --batches {missing[0]}` first"
                )
        q = select(ExtractionRecord.batch_id, ExtractionRecord.conversation_id, ExtractionRecord.value_id).where(
            ExtractionRecord.batch_id.in_(fb + tb)
        )
        if cov.role is not None:
            q = q.where(ExtractionRecord.role == cov.role)
        rows = session.connection().execute(q).fetchall()  # Core rows: no ORM overhead
    cols = list(zip(*rows)) if rows else [(), (), ()]
    del rows
    return compute_drift(tree, cols, version=version, level=level, fb=fb, tb=tb, role=cov.role, limit=limit)


def compute_drift(tree, cols, *, version: int, level: int, fb, tb, role, limit: int = 20) -> DriftResult:
    """The statistics from the columns (batch ids, conversation ids, value ids) of the records."""
    import pandas as pd

    anc = tree.ancestors_by_level()[level]
    nodes = sorted(n.uid for n in tree.nodes_at(level))
    pos = {u: i for i, u in enumerate(nodes)}
    k = len(nodes)
    vids = [leaf.value_id for leaf in tree.leaves]
    size = (max(vids) + 1) if vids else 1
    node_of = np.full(size, -1, dtype=np.int64)
    node_of[np.array(vids, dtype=np.int64)] = [pos[u] for u in anc]
    batch = np.asarray(cols[0], dtype=np.int64)
    conv = pd.factorize(np.asarray(cols[1], dtype=object))[0].astype(np.int64) if len(cols[1]) else batch.copy()
    vid = np.asarray(cols[2], dtype=np.int64)
    after = np.isin(batch, np.array(tb, dtype=np.int64))
    inside = vid < size
    nd = np.full(len(vid), -1, dtype=np.int64)
    nd[inside] = node_of[vid[inside]]
    sides = []
    for flag in (False, True):
        sel = after == flag
        if not sel.any():
            which = "--to-batches" if flag else "--from-batches"
            raise UsageError(f"{which}: the batches hold no extraction records{f' of role {role}' if role else ''}")
        c, n_ = conv[sel], nd[sel]
        n_conv = int(len(np.unique(c)))
        placed = n_ >= 0
        pairs = np.unique(c[placed] * (k + 1) + n_[placed])
        x = np.bincount(pairs % (k + 1), minlength=k + 1)[:k]
        r = np.bincount(n_[placed], minlength=k)[:k]
        vals = np.unique(vid[sel][placed])
        sides.append({"N": n_conv, "x": x, "r": r, "outside": int((~placed).sum()), "values": vals})
    b, a = sides
    out_nodes = []
    for i, u in enumerate(nodes):
        x1, x2 = int(b["x"][i]), int(a["x"][i])
        lo, hi = newcombe(x1, b["N"], x2, a["N"])
        p1, p2 = x1 / b["N"], x2 / a["N"]
        out_nodes.append(
            NodeDrift(
                node=u, name=tree.nodes[u].name, before=p1, after=p2, difference=p2 - p1, ci_low=lo, ci_high=hi,
                conversations_before=x1, conversations_after=x2, records_before=int(b["r"][i]),
                records_after=int(a["r"][i]), significant=bool(lo > 0 or hi < 0),
            )
        )
    out_nodes.sort(key=lambda n: (-abs(n.difference), n.name))
    by_id = {leaf.value_id: leaf for leaf in tree.leaves}
    rb = np.bincount(vid[~after], minlength=size)
    ra = np.bincount(vid[after], minlength=size)
    new = np.setdiff1d(a["values"], b["values"])
    gone = np.setdiff1d(b["values"], a["values"])

    def describe(ids, counts):
        items = sorted(ids.tolist(), key=lambda i: (-int(counts[i]), by_id[i].text))
        return [
            {"value": by_id[i].text, "records": int(counts[i]), "node": tree.ancestor(by_id[i], level),
             "node_name": tree.nodes[tree.ancestor(by_id[i], level)].name}
            for i in items[: limit or None]
        ]

    return DriftResult(
        version_id=version, level=level, from_batches=list(fb), to_batches=list(tb), role=role,
        conversations_before=b["N"], conversations_after=a["N"], records_before=int(b["r"].sum()),
        records_after=int(a["r"].sum()), records_outside={"before": b["outside"], "after": a["outside"]},
        chi_square=chi_square(np.vstack([b["r"], a["r"]])), nodes=out_nodes,
        new_values=describe(new, ra), vanished_values=describe(gone, rb),
        n_new_values=int(len(new)), n_vanished_values=int(len(gone)),
    )

