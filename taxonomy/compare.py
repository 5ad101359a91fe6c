"""Level-by-level comparison of two taxonomy trees (ours against a reference, e.g. the published one).

Values are matched on normalised text (:func:`taxonomy.normalize.normalize_value`: NFKC, case-folded, whitespace
collapsed), since the two trees may have been built with different normalisation. At each level
``1..min(depth)`` every matched value gets the id of its ancestor at that level in each tree, and the two
labelings are scored from their contingency table (never an n x n matrix):

* NMI (arithmetic mean normalisation, as sklearn's default), ARI, purity and inverse purity, unweighted;
* the same four weighted by value weight (our tree's leaf weights by default, ``weights="reference"`` for the
  reference's).

Weighted definitions (``w_v`` = weight of value v; cell (i, j) = our cluster i x reference cluster j;
``S_ij`` = sum of w_v and ``Q_ij`` = sum of w_v^2 over the values in the cell; ``S_i.``, ``S_.j``, ``N`` the
row, column and grand sums, likewise ``Q``):

* **NMI**: the value distribution is ``p_v = w_v / N``. ``MI = sum_ij (S_ij/N) log(S_ij N / (S_i. S_.j))``,
  ``H(ours) = -sum_i (S_i./N) log(S_i./N)``, likewise H(reference); ``NMI = MI / ((H(ours) + H(ref)) / 2)``.
  Limit cases as sklearn: both labelings a single cluster -> 1; MI = 0 -> 0.
* **ARI**: weighted pair counting. An unordered pair of distinct values {u, v} weighs ``w_u w_v``; the
  total weight of the pairs inside a set with sums S, Q is ``(S^2 - Q) / 2``. Pairs together in both
  (``tp``), only in ours (``fp``), only in the reference (``fn``) and in neither (``tn``) are computed that
  way from the cells, rows, columns and whole table, and ``ARI = 2 (tp tn - fn fp) / ((tp + fn)(fn + tn) +
  (tp + fp)(fp + tn))`` (sklearn's pair-confusion form; 1 when fp = fn = 0). With unit weights this is
  exactly the pair-counting ARI; with weights the chance correction is the independence (product of
  marginal pair shares) model, the weighted analogue of the usual one.
* **purity**: ``sum_i max_j S_ij / N`` (each of our clusters credited with its majority reference cluster);
  **inverse purity**: ``sum_j max_i S_ij / N``.

With all weights 1 the weighted figures equal the unweighted ones (and sklearn's) to rounding error.

**Name fidelity** (when an ``embed`` function is given, e.g. the bundled all-MiniLM-L6-v2): for each of our nodes
at level L, the reference node at level L that shares most of its matched values (ties: the first reference id);
the cosine between the embeddings of the two names, averaged over our nodes weighted by their number of matched
values. The **floor** is the same score for a trivial namer that names every node after its heaviest value (the
first in text order among equals): a namer that does not beat it adds nothing to reading the members.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import sparse

from taxonomy.domain import Tree
from taxonomy.errors import UsageError
from taxonomy.normalize import normalize_value

WeightsFrom = Literal["ours", "reference"]

#: How many example values only present in one tree are kept in the result.
N_EXAMPLES = 10


@dataclass
class LevelComparison:
    """Scores at one level, on the values present in both trees."""

    level: int
    n_values: int  #: matched values scored at this level
    n_clusters_ours: int  #: our clusters at this level that hold at least one matched value
    n_clusters_reference: int
    nmi: float
    ari: float
    purity: float
    inverse_purity: float
    weighted_nmi: float | None  #: None when the matched values' total weight is 0
    weighted_ari: float | None
    weighted_purity: float | None
    weighted_inverse_purity: float | None
    name_fidelity: float | None = None  #: size-weighted cosine of our names to the best-matching reference names
    name_fidelity_floor: float | None = None  #: the same for the trivial namer (each node = its heaviest value)


@dataclass
class ComparisonResult:
    """Outcome of :func:`compare_trees`."""

    weights: str  #: "ours" or "reference": whose leaf weights the weighted scores use
    depth_ours: int
    depth_reference: int
    n_values_ours: int  #: distinct normalised values in our tree
    n_values_reference: int
    n_matched: int
    n_only_ours: int
    n_only_reference: int
    matched_weight_share_ours: float  #: share of our total leaf weight carried by matched values (0..1)
    matched_weight_share_reference: float
    only_ours_examples: list[str] = field(default_factory=list)  #: a few, sorted
    only_reference_examples: list[str] = field(default_factory=list)
    duplicates_ours: int = 0  #: leaves that collapsed onto another leaf's normalised text (first one kept)
    duplicates_reference: int = 0
    levels: list[LevelComparison] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def level(self, level: int) -> LevelComparison:
        for lc in self.levels:
            if lc.level == level:
                return lc
        raise KeyError(level)


# --------------------------------------------------------------------------------------------------------------
# Scores from a contingency table
# --------------------------------------------------------------------------------------------------------------


def contingency(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray | None = None) -> sparse.csr_matrix:
    """Sparse (n_row_labels x n_col_labels) table of summed ``weights`` (1 each when None) per label pair.
    ``rows`` and ``cols`` are integer codes 0..k-1."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    w = np.ones(len(rows), dtype=np.float64) if weights is None else np.asarray(weights, dtype=np.float64)
    shape = (int(rows.max()) + 1 if len(rows) else 0, int(cols.max()) + 1 if len(cols) else 0)
    table = sparse.coo_matrix((w, (rows, cols)), shape=shape).tocsr()
    table.sum_duplicates()
    table.eliminate_zeros()
    return table


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-np.sum(p * np.log(p))) if len(p) else 0.0


def nmi_from_contingency(table: sparse.spmatrix) -> float:
    """Normalised mutual information (arithmetic mean of the entropies) of a (weighted) contingency table."""
    table = sparse.csr_matrix(table, dtype=np.float64)
    total = float(table.sum())
    row = np.asarray(table.sum(axis=1)).ravel()
    col = np.asarray(table.sum(axis=0)).ravel()
    n_rows, n_cols = int(np.count_nonzero(row > 0)), int(np.count_nonzero(col > 0))
    if (n_rows == n_cols == 1) or (n_rows == n_cols == 0):
        return 1.0
    coo = table.tocoo()
    mask = coo.data > 0
    s = coo.data[mask]
    i, j = coo.row[mask], coo.col[mask]
    pij = s / total
    mi = float(np.sum(pij * (np.log(s) + math.log(total) - np.log(row[i]) - np.log(col[j]))))
    mi = max(mi, 0.0)
    if mi == 0.0:
        return 0.0
    h_rows, h_cols = _entropy(row / total), _entropy(col / total)
    denom = (h_rows + h_cols) / 2.0
    return float(mi / denom) if denom > 0 else 0.0


def ari_from_contingency(table: sparse.spmatrix, squares: sparse.spmatrix | None = None) -> float:
    """Adjusted Rand index by (weighted) pair counting.

    ``table`` holds the summed weights S per cell, ``squares`` the summed squared weights Q (None: unit
    weights, Q = S). A set with sums S, Q holds pairs of total weight (S^2 - Q)/2.
    """
    table = sparse.csr_matrix(table, dtype=np.float64)
    squares = table if squares is None else sparse.csr_matrix(squares, dtype=np.float64)

    # Sum of squared weights over all values (the same whichever way they are grouped).
    q_total = float(squares.sum())
    s_rows = np.asarray(table.sum(axis=1)).ravel()
    s_cols = np.asarray(table.sum(axis=0)).ravel()
    total = float(table.sum())
    tp = (float(table.multiply(table).sum()) - q_total) / 2.0  # pairs together in both
    same_ours = (float(np.dot(s_rows, s_rows)) - q_total) / 2.0
    same_ref = (float(np.dot(s_cols, s_cols)) - q_total) / 2.0
    all_pairs = (total * total - q_total) / 2.0
    fp = same_ours - tp
    fn = same_ref - tp
    tn = all_pairs - tp - fp - fn
    eps = 1e-12 * max(all_pairs, 1e-300)
    if abs(fp) <= eps and abs(fn) <= eps:
        return 1.0
    denom = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)
    if denom == 0:
        return 1.0
    return float(2.0 * (tp * tn - fn * fp) / denom)


def purity_from_contingency(table: sparse.spmatrix) -> float:
    """Sum over rows of the row's largest cell, divided by the total (rows = the clustering being judged)."""
    table = sparse.csr_matrix(table, dtype=np.float64)
    total = float(table.sum())
    if total <= 0:
        return 0.0
    return float(np.asarray(table.max(axis=1).todense()).ravel().sum() / total)


# --------------------------------------------------------------------------------------------------------------
# Tree comparison
# --------------------------------------------------------------------------------------------------------------


def _index(tree: Tree, which: str) -> tuple[dict[str, int], int, dict[int, list[str]]]:
    """Normalised text -> leaf index (first occurrence kept), number of duplicates, ancestors per level."""
    if tree.depth < 1:
        raise UsageError(f"the {which} tree has no cluster levels")
    try:
        anc = tree.ancestors_by_level()
    except KeyError as exc:
        raise UsageError(f"the {which} tree is inconsistent: unknown node {exc.args[0]!r}") from None
    pos: dict[str, int] = {}
    dups = 0
    for i, leaf in enumerate(tree.leaves):
        key = normalize_value(leaf.text)
        if key in pos:
            dups += 1
            continue
        pos[key] = i
    return pos, dups, anc


def _codes(labels: list[str]) -> np.ndarray:
    return _codes_and_ids(labels)[0]


def _codes_and_ids(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    ids, inv = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    return inv.astype(np.int64), ids


#: embed(texts) -> (len(texts), d) array of unit vectors
EmbedFn = Callable[[Sequence[str]], np.ndarray]


def heaviest_member_names(tree: Tree) -> dict[str, str]:
    """The trivial namer: every node named after its heaviest value (ties: the first in text order)."""
    anc = tree.ancestors_by_level()
    best: dict[str, tuple[float, str]] = {}
    for level, uids in anc.items():
        for leaf, uid in zip(tree.leaves, uids, strict=True):
            cur = best.get(uid)
            key = (-float(leaf.weight), leaf.text)
            if cur is None or key < (-cur[0], cur[1]):
                best[uid] = (float(leaf.weight), leaf.text)
    return {uid: text for uid, (_, text) in best.items()}


def best_match_fidelity(
    rows: np.ndarray, cols: np.ndarray, row_names: Sequence[str], col_names: Sequence[str], vectors: dict[str, np.ndarray]
) -> float | None:
    """Size-weighted mean cosine between each row label's name and the name of the column label sharing most items
    with it. ``rows``/``cols``: integer codes per item; ``*_names``: a name per code; ``vectors``: name -> unit
    vector. None when no row has a name with a vector."""
    table = contingency(rows, cols).tocsr()
    total, acc = 0.0, 0.0
    for i in range(table.shape[0]):
        start, end = table.indptr[i], table.indptr[i + 1]
        if start == end:
            continue
        data, idx = table.data[start:end], table.indices[start:end]
        top = data.max()
        j = int(idx[data == top].min())
        a, b = vectors.get(row_names[i]), vectors.get(col_names[j])
        if a is None or b is None:
            continue
        size = float(data.sum())
        acc += size * float(np.clip(np.dot(a, b), -1.0, 1.0))
        total += size
    return acc / total if total > 0 else None


def _name_vectors(texts: set[str], embed: EmbedFn) -> dict[str, np.ndarray]:
    uniq = sorted(t for t in texts if t and t.strip())
    if not uniq:
        return {}
    V = np.asarray(embed(uniq), dtype=np.float64)
    n = np.linalg.norm(V, axis=1, keepdims=True)
    V = V / np.where(n > 0, n, 1.0)
    return dict(zip(uniq, V, strict=True))


def compare_trees(
    ours: Tree, reference: Tree, *, weights: WeightsFrom = "ours", embed: EmbedFn | None = None
) -> ComparisonResult:
    """Score ``ours`` against ``reference`` level by level (see the module docstring for the definitions).

    Levels 1..min(depth) are compared, level L against level L. Values in only one tree are counted and
    reported (a warning, not an error); no value in common is a :class:`UsageError`. With ``embed`` (texts ->
    unit vectors), each level also gets its name fidelity and the trivial namer's floor.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    if weights not in ("ours", "reference"):
        raise UsageError(f"weights must be 'ours' or 'reference', not {weights!r}")
    pos_o, dup_o, anc_o = _index(ours, "our")
    pos_r, dup_r, anc_r = _index(reference, "reference")

    common = sorted(pos_o.keys() & pos_r.keys())
    only_o = sorted(pos_o.keys() - pos_r.keys())
    only_r = sorted(pos_r.keys() - pos_o.keys())
    if not common:
        raise UsageError(
            f"the two trees have no value in common (ours: {len(pos_o)} values, reference: {len(pos_r)}), "
            "even after normalising the text; nothing to compare"
        )
    idx_o = np.array([pos_o[k] for k in common], dtype=np.int64)
    idx_r = np.array([pos_r[k] for k in common], dtype=np.int64)

    def share(tree: Tree, idx: np.ndarray, pos: dict[str, int]) -> float:
        kept = [tree.leaves[i].weight for i in pos.values()]
        total = math.fsum(kept)
        return math.fsum(tree.leaves[i].weight for i in idx) / total if total > 0 else 0.0

    src, src_idx = (ours, idx_o) if weights == "ours" else (reference, idx_r)
    w = np.array([src.leaves[i].weight for i in src_idx], dtype=np.float64)
    warnings: list[str] = []
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise UsageError(f"the {'our' if weights == 'ours' else 'reference'} tree has negative or non-finite value weights")
    weighted_ok = float(w.sum()) > 0
    if not weighted_ok:
        warnings.append("the matched values' total weight is 0: weighted scores are not computed")

    if only_o or only_r:
        warnings.append(
            f"{len(common)} values matched; {len(only_o)} only in ours and {len(only_r)} only in the reference "
            "are left out of the scores"
        )
    if dup_o:
        warnings.append(f"{dup_o} of our values repeat another after normalisation (first one kept)")
    if dup_r:
        warnings.append(f"{dup_r} reference values repeat another after normalisation (first one kept)")
    if ours.depth != reference.depth:
        warnings.append(
            f"the trees have different depths (ours {ours.depth}, reference {reference.depth}): "
            f"levels 1..{min(ours.depth, reference.depth)} compared"
        )

    vectors: dict[str, np.ndarray] = {}
    floor_names: dict[str, str] = {}
    if embed is not None:
        floor_names = heaviest_member_names(ours)
        texts = {n.name for n in ours.nodes.values()} | {n.name for n in reference.nodes.values()}
        vectors = _name_vectors(texts | set(floor_names.values()), embed)
    levels: list[LevelComparison] = []
    for level in range(1, min(ours.depth, reference.depth) + 1):
        lo, ids_o = _codes_and_ids([anc_o[level][i] for i in idx_o])
        lr, ids_r = _codes_and_ids([anc_r[level][i] for i in idx_r])
        table = contingency(lo, lr)
        lc = LevelComparison(
            level=level,
            n_values=len(common),
            n_clusters_ours=int(lo.max()) + 1,
            n_clusters_reference=int(lr.max()) + 1,
            nmi=float(normalized_mutual_info_score(lr, lo, average_method="arithmetic")),
            ari=float(adjusted_rand_score(lr, lo)),
            purity=purity_from_contingency(table),
            inverse_purity=purity_from_contingency(table.T),
            weighted_nmi=None,
            weighted_ari=None,
            weighted_purity=None,
            weighted_inverse_purity=None,
        )
        if embed is not None:
            ref_names = [reference.nodes[u].name for u in ids_r]
            lc.name_fidelity = best_match_fidelity(lo, lr, [ours.nodes[u].name for u in ids_o], ref_names, vectors)
            lc.name_fidelity_floor = best_match_fidelity(lo, lr, [floor_names[u] for u in ids_o], ref_names, vectors)
        if weighted_ok:
            wt = contingency(lo, lr, w)
            wq = contingency(lo, lr, w * w)
            lc.weighted_nmi = nmi_from_contingency(wt)
            lc.weighted_ari = ari_from_contingency(wt, wq)
            lc.weighted_purity = purity_from_contingency(wt)
            lc.weighted_inverse_purity = purity_from_contingency(wt.T)
        levels.append(lc)

    return ComparisonResult(
        weights=weights,
        depth_ours=ours.depth,
        depth_reference=reference.depth,
        n_values_ours=len(pos_o),
        n_values_reference=len(pos_r),
        n_matched=len(common),
        n_only_ours=len(only_o),
        n_only_reference=len(only_r),
        matched_weight_share_ours=share(ours, idx_o, pos_o),
        matched_weight_share_reference=share(reference, idx_r, pos_r),
        only_ours_examples=only_o[:N_EXAMPLES],
        only_reference_examples=only_r[:N_EXAMPLES],
        duplicates_ours=dup_o,
        duplicates_reference=dup_r,
        levels=levels,
        warnings=warnings,
    )


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def format_comparison(result: ComparisonResult) -> str:
    """A plain-text report: matching summary, one table row per level, warnings."""
    lines = [
        f"values: ours {result.n_values_ours}, reference {result.n_values_reference}, matched {result.n_matched} "
        f"(only ours {result.n_only_ours}, only reference {result.n_only_reference})",
        f"matched weight share: ours {result.matched_weight_share_ours:.1%}, "
        f"reference {result.matched_weight_share_reference:.1%}; weighted scores use {result.weights} weights",
        "",
    ]
    names = any(lc.name_fidelity is not None for lc in result.levels)
    header = ["level", "ours", "ref", "NMI", *(["names", "floor"] if names else []), "ARI", "purity", "inv.pur",
              "wNMI", "wARI", "wpurity", "winv.pur"]
    rows = [
        [
            str(lc.level), str(lc.n_clusters_ours), str(lc.n_clusters_reference), _f(lc.nmi),
            *([_f(lc.name_fidelity), _f(lc.name_fidelity_floor)] if names else []),
            _f(lc.ari), _f(lc.purity), _f(lc.inverse_purity),
            _f(lc.weighted_nmi), _f(lc.weighted_ari), _f(lc.weighted_purity), _f(lc.weighted_inverse_purity),
        ]
        for lc in result.levels
    ]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    fmt_row = lambda r: "  ".join(c.rjust(widths[k]) for k, c in enumerate(r))  # noqa: E731
    lines.append(fmt_row(header))
    lines.append("  ".join("-" * wd for wd in widths))
    lines.extend(fmt_row(r) for r in rows)
    lines.append("(ours/ref: clusters holding matched values; w*: weighted by value weight)")
    if names:
        lines.append(
            "(names: cosine of each node's name to the name of the reference node sharing most values, weighted by "
            "size; floor: the same when every node is named after its heaviest value)"
        )
    if result.only_ours_examples:
        lines.append("only in ours, e.g.: " + ", ".join(repr(x) for x in result.only_ours_examples[:5]))
    if result.only_reference_examples:
        lines.append("only in the reference, e.g.: " + ", ".join(repr(x) for x in result.only_reference_examples[:5]))
    for wmsg in result.warnings:
        lines.append(f"warning: {wmsg}")
    return "\n".join(lines)
