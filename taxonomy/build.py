"""`taxo build`: embed the stored values, cluster them into levels, name every cluster, store version 1..n.

The pipeline has one module per stage behind a small interface, so a stage can be swapped:
embedding (:mod:`embeddings`), clustering (:mod:`taxonomy.cluster`), summarizing (:mod:`taxonomy.summarize`),
and storage (:mod:`taxonomy.store`).
"""

from __future__ import annotations

import platform
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata

import numpy as np
from sqlalchemy import Engine

from taxonomy.db.engine import session_scope
from taxonomy.domain import Leaf, Node, Tree
from taxonomy.errors import UsageError
from taxonomy.progress import NullProgress, Progress

#: Namespace of the content-derived node uuids (uuid5 of the level and the sorted member values).
NODE_NAMESPACE = uuid.UUID("6f1c2b1e-8d3a-5a7e-9b0c-4e2f1d3c5a7b")
DEFAULT_ID_PREFIX = "values"

_PACKAGES = (
    "taxo-workbench",
    "numpy",
    "scikit-learn",
    "sentence-transformers",
    "torch",
    "transformers",
    "faiss-cpu",
    "umap-learn",
    "hdbscan",
    "SQLAlchemy",
)


@dataclass
class BuildResult:
    version_id: int
    levels: list[int]
    n_values: int
    method: str
    seed: int
    model: str
    checksum: str
    timings: dict[str, float] = field(default_factory=dict)
    embedded: int = 0  #: texts sent to the model (0 with a warm cache)
    cached: int = 0  #: texts found in the embedding cache
    llm: dict | None = None  #: language-model provider, model and call statistics (LLM summarizers only)

    def to_dict(self) -> dict:
        d = asdict(self)
        if d.get("llm") is None:
            d.pop("llm", None)
        return d


def parse_levels(levels: str | Sequence[int]) -> list[int] | str:
    """``"266,26,5"`` -> [266, 26, 5]; ``"auto"`` stays "auto". Errors name the bad part."""
    if isinstance(levels, str):
        text = levels.strip()
        if text.lower() == "auto":
            return "auto"
        parts = [p.strip() for p in text.split(",")]
        if len(parts) > 1 and any(not p for p in parts):
            i = parts.index("")
            raise UsageError(
                f"--levels: item {i + 1} of {levels!r} is empty; give one integer per level, like 266,26,5"
            )
        try:
            out = [int(p) for p in parts if p]
        except ValueError:
            raise UsageError(
                f"--levels: expected 'auto' or comma-separated integers like 266,26,5, got {levels!r}"
            ) from None
    else:
        out = [int(x) for x in levels]
    if not out:
        raise UsageError("--levels: give at least one level count, e.g. 266,26,5")
    for i, k in enumerate(out, start=1):
        if k < 1:
            raise UsageError(f"--levels: level {i} has {k} clusters; every level needs at least 1")
    for i in range(1, len(out)):
        if out[i] > out[i - 1]:
            raise UsageError(
                f"--levels: level {i + 1} asks for {out[i]} clusters but level {i} has only {out[i - 1]}; "
                "counts must not increase towards the top"
            )
    return out


def _checked_author(author: str) -> str:
    from taxonomy.normalize import MAX_SHORT_TEXT, clean_name

    try:
        return clean_name(author, what="--author", limit=MAX_SHORT_TEXT)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def node_uid(prefix: str, level: int, member_texts: Sequence[str]) -> str:
    """A content-derived, reproducible node id: ``<prefix>:l<level>:<uuid5 of the sorted members>``."""
    digest = uuid.uuid5(NODE_NAMESPACE, f"{level}\n" + "\n".join(sorted(member_texts)))
    return f"{prefix}:l{level}:{digest}"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def assemble_tree(
    texts: Sequence[str],
    weights: np.ndarray,
    counts: Sequence[int],
    value_ids: Sequence[int] | None,
    labels: Sequence[np.ndarray],
    *,
    id_prefix: str = DEFAULT_ID_PREFIX,
) -> tuple[Tree, list[np.ndarray]]:
    """Turn a hierarchy's label arrays into a Tree (names empty). Also returns, per level, each value's cluster."""
    n = len(texts)
    total = float(weights.sum())
    value_labels: list[np.ndarray] = []
    lab = np.asarray(labels[0])
    for i in range(len(labels)):
        if i > 0:
            lab = np.asarray(labels[i])[lab]
        value_labels.append(lab)
    tree = Tree()
    uids_by_level: list[list[str]] = []
    for level, vl in enumerate(value_labels, start=1):
        k = int(np.asarray(labels[level - 1]).max()) + 1
        order = np.argsort(vl, kind="stable")
        bounds = np.searchsorted(vl[order], np.arange(k + 1))
        uids = []
        for c in range(k):
            members = order[bounds[c] : bounds[c + 1]]
            w = float(weights[members].sum())
            uid = node_uid(id_prefix, level, [texts[j] for j in members])
            uids.append(uid)
            tree.nodes[uid] = Node(
                uid=uid,
                level=level,
                name="",
                description="",
                parent_uid=None,
                member_count=len(members),
                weight=w,
                pct_total_occurrences=(100.0 * w / total) if total > 0 else 100.0 * len(members) / n,
            )
        uids_by_level.append(uids)
    for level in range(1, len(labels)):
        parents = np.asarray(labels[level])
        for c, uid in enumerate(uids_by_level[level - 1]):
            tree.nodes[uid].parent_uid = uids_by_level[level][int(parents[c])]
    first = value_labels[0]
    tree.leaves = [
        Leaf(
            text=texts[j],
            parent_uid=uids_by_level[0][int(first[j])],
            weight=float(weights[j]),
            count=int(counts[j]),
            value_id=int(value_ids[j]) if value_ids is not None else None,
        )
        for j in range(n)
    ]
    return tree, value_labels


def summarize_tree(tree: Tree, texts: Sequence[str], weights: np.ndarray, X: np.ndarray, value_labels, summarizer):
    """Name and describe every node, bottom-up, one level at a time (fills ``name``/``description`` in place)."""
    from taxonomy.summarize.base import ClusterInfo

    for level, vl in enumerate(value_labels, start=1):
        k = int(vl.max()) + 1
        order = np.argsort(vl, kind="stable")
        bounds = np.searchsorted(vl[order], np.arange(k + 1))
        level_nodes: list[Node] = []
        infos: list[ClusterInfo] = []
        children: dict[str, list[Node]] = {}
        if level > 1:
            for node in tree.nodes_at(level - 1):
                children.setdefault(node.parent_uid or "", []).append(node)
        for c in range(k):
            members = order[bounds[c] : bounds[c + 1]]
            # the node is the ancestor at `level` of any of its members
            uid = tree.ancestor(tree.leaves[int(members[0])], level)
            node = tree.nodes[uid]
            kids = sorted(children.get(uid, []), key=lambda nd: (-nd.weight, nd.name))
            infos.append(
                ClusterInfo(
                    level=level,
                    members=[texts[j] for j in members],
                    weights=weights[members],
                    embeddings=X[members],
                    child_names=[kd.name for kd in kids],
                    child_weights=[kd.weight for kd in kids],
                )
            )
            level_nodes.append(node)
        groups: dict[str | None, list[int]] = {}
        for i, node in enumerate(level_nodes):
            groups.setdefault(node.parent_uid, []).append(i)
        summaries = summarizer.summarize_level(infos, list(groups.values()))
        for node, s in zip(level_nodes, summaries, strict=True):
            node.name, node.description = s.name, s.description


def build(
    *,
    db: str | Engine | None = None,
    levels: str | Sequence[int] = "auto",
    method: str | None = None,
    seed: int = 0,
    model: str | None = None,
    summarizer: str | None = None,
    message: str = "",
    author: str | None = None,
    id_prefix: str = DEFAULT_ID_PREFIX,
    top: int = 5,
    cache_dir: str | None = None,
    batch_size: int = 64,
    embed_backend: str = "auto",
    device: str = "auto",
    progress: Progress | None = None,
    hierarchy: str = "embedding",
    count_tolerance: int = 0,
    llm_model: str | None = None,
    llm_base_url: str | None = None,
    llm_api_key_env: str | None = None,
    llm_concurrency: int | None = None,
    max_calls: int | None = None,
    max_cost: float | None = None,
    llm_price: Sequence[float] | None = None,
    role: str | None = None,
    batches: Sequence[int] | str | None = None,
    min_conversations: int | None = None,
    category_suffix: str | None = None,
) -> BuildResult:
    """Build a taxonomy from every ingested value and store it as a new version (one transaction).

    ``levels``: cluster counts for levels 1..L ("266,26,5" or a list), or "auto" (a geometric progression from
    about n/12 down to ``top``). ``method``: a name from :data:`taxonomy.cluster.METHODS` (default: the best in the
    benchmark). ``seed``: the random state; the same input and seed give the same tree.

    Language models (``summarizer="anthropic"`` or ``"openai"``): ``llm_model``, ``llm_base_url``,
    ``llm_api_key_env``, ``llm_concurrency``, ``max_calls``, ``max_cost``, ``llm_price`` configure the calls (see
    :mod:`taxonomy.llm`); the key and server are checked before any work. ``hierarchy="clio"`` builds the levels
    above 1 with the model (:mod:`taxonomy.cluster.clio`), meeting the counts within ``count_tolerance``.

    Coverage (:mod:`taxonomy.coverage`, recorded in the manifest): ``batches`` (default: all), ``role`` ("ai" or
    "human": only that role's extraction records count) and ``min_conversations`` (only values seen in that many
    distinct conversations).
    """
    from embeddings import Embedder
    from taxonomy.cluster import DEFAULT_METHOD, auto_levels, get_method
    from taxonomy.export import content_checksum
    from taxonomy.summarize import DEFAULT_SUMMARIZER

    progress = progress or NullProgress()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    parsed_levels = parse_levels(levels)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer, got {batch_size!r}")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise UsageError(f"--top must be a positive integer, got {top!r}")
    if author is not None:
        author = _checked_author(author)
    method_name = method or DEFAULT_METHOD
    clusterer = get_method(method_name, random_state=seed)
    from taxonomy.summarize.llm import is_llm_summarizer, summarizer_for_build

    summ = summarizer_for_build(
        summarizer or DEFAULT_SUMMARIZER,
        seed=seed,
        db=db,
        hierarchy=hierarchy,
        model=llm_model,
        base_url=llm_base_url,
        api_key_env=llm_api_key_env,
        concurrency=llm_concurrency,
        max_calls=max_calls,
        max_cost=max_cost,
        price=llm_price,
    )
    use_llm = is_llm_summarizer(summ)
    if category_suffix is not None:  # the offline namer's category style ("values", "" = none; default: inferred)
        if not hasattr(summ, "category_suffix") or use_llm:
            raise UsageError("--category-suffix: only for the offline summarizer")
        summ.category_suffix = str(category_suffix).strip()
    clio = None
    if hierarchy == "clio":
        from taxonomy.cluster.clio import ClioHierarchy

        clio = ClioHierarchy(summ, seed=seed, count_tolerance=count_tolerance)
    if not id_prefix or any(c in id_prefix for c in ": \t\n,") or not id_prefix.isprintable():
        raise UsageError(f"--id-prefix {id_prefix!r}: use a short word without colons, commas or spaces")
    if len(id_prefix) > 100:
        raise UsageError(f"--id-prefix is {len(id_prefix)} characters long; the limit is 100")

    from taxonomy.coverage import batch_manifest, coverage_totals, parse_batches, resolve_coverage

    with session_scope(db) as session:
        coverage = resolve_coverage(
            session, batches=parse_batches(batches), role=role, min_conversations=min_conversations
        )
        totals = coverage_totals(session, coverage)
        batch_info = batch_manifest(session, coverage.batches)
    if not totals:
        if coverage.batches:
            raise UsageError(f"no values match the coverage {coverage.to_dict()}; nothing to build")
        raise UsageError("there are no values to build from; run `taxo ingest FILE` first")
    n = len(totals)
    level_counts = auto_levels(n, top=top) if parsed_levels == "auto" else parsed_levels
    if level_counts[0] > n:
        raise UsageError(f"--levels asks for {level_counts[0]} level-1 clusters but only {n} values are stored")
    texts = [t.text for t in totals]
    weights = np.array([t.weight for t in totals], dtype=np.float64)
    counts = [t.count for t in totals]
    ids = [t.id for t in totals]
    if use_llm:  # the key and the server, before any work
        summ.preflight()
    timings["load"] = time.perf_counter() - t0

    t = time.perf_counter()
    embedder = Embedder(model=model, cache_dir=cache_dir, batch_size=batch_size, backend=embed_backend, device=device)
    spec = embedder.spec
    backend = embedder.resolved_backend  # before the work: an unknown or impossible backend is a usage error
    with progress.step("Embedding values", total=n) as step:
        X = embedder.embed(texts, progress=step.update)
    timings["embed"] = time.perf_counter() - t

    t = time.perf_counter()
    clio_result = None
    with progress.step("Clustering", total=len(level_counts)) as step:
        if clio is None:
            fitted = clusterer.fit(X, level_counts, sample_weight=weights)
            fitted.validate(n, level_counts)
        else:
            from taxonomy.cluster.base import Hierarchy

            first = clusterer.fit(X, level_counts[:1], sample_weight=weights)
            first.validate(n, level_counts[:1])
            clio_result = clio.fit(X, texts, weights, first.labels[0], level_counts, embed=embedder.embed)
            level_counts = list(clio_result.levels)
            fitted = Hierarchy(clio_result.labels)
            fitted.validate(n, level_counts)
        step.update(len(level_counts))
    timings["cluster"] = time.perf_counter() - t

    t = time.perf_counter()
    tree, value_labels = assemble_tree(texts, weights, counts, ids, fitted.labels, id_prefix=id_prefix)
    with progress.step("Naming clusters", total=len(level_counts)) as step:
        if clio_result is None:
            summarize_tree(tree, texts, weights, X, value_labels, summ)
        else:  # Clio named every level while building it
            _apply_summaries(tree, value_labels, clio_result.summaries)
        step.update(len(level_counts))
    timings["summarize"] = time.perf_counter() - t

    checksum = content_checksum(tree)
    manifest = {
        "kind": "build",
        "batches": batch_info,
        "coverage": coverage.to_dict(),
        "n_values": n,
        "total_weight": float(weights.sum()),
        "model": {**spec.to_dict(), "identity": spec.identity, "dim": int(X.shape[1]), "embed_backend": backend},
        "method": {"name": method_name, "params": _jsonable(clusterer.get_params())},
        "summarizer": {"name": summ.name, "params": _jsonable(summ.get_params())},
        "levels": list(level_counts),
        "levels_requested": levels if isinstance(levels, str) else list(levels),
        "seed": seed,
        "id_prefix": id_prefix,
        "packages": package_versions(),
    }
    if use_llm:
        manifest["llm"] = _jsonable(summ.llm_info())
        manifest["prompts"] = summ.prompts.manifest()
    if clio_result is not None:
        manifest["hierarchy"] = {
            "name": "clio",
            "level1_method": method_name,
            "params": _jsonable(clio.get_params()),
            "report": _jsonable(clio_result.report),
        }
    t = time.perf_counter()
    from taxonomy.store import write_version

    with progress.step("Writing version", total=1) as step:
        with session_scope(db) as session:
            # the values may have changed since they were read (another ingest): refuse rather than mislabel
            if len(coverage_totals(session, coverage)) != n:
                raise UsageError("values were ingested while the build ran; run the build again")
            version_id = write_version(
                session, tree, kind="build", message=message, manifest=manifest, checksum=checksum, author=author
            )
        step.update(1)
    timings["write"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return BuildResult(
        version_id=version_id,
        levels=list(level_counts),
        n_values=n,
        method=method_name,
        seed=seed,
        model=spec.identity,
        checksum=checksum,
        timings={k: round(v, 3) for k, v in timings.items()},
        embedded=embedder.stats.n_embedded,
        cached=embedder.stats.n_cached,
        llm=(
            {"provider": summ.provider, "model": summ.service.model, "stats": summ.service.stats.to_dict()}
            if use_llm
            else None
        ),
    )


def _apply_summaries(tree: Tree, value_labels, summaries) -> None:
    """Names and descriptions given per level and cluster index (as the labels number them)."""
    for level, (vl, summ) in enumerate(zip(value_labels, summaries, strict=True), start=1):
        first_member: dict[int, int] = {}
        for j, c in enumerate(vl):
            first_member.setdefault(int(c), j)
        for c, j in first_member.items():
            node = tree.nodes[tree.ancestor(tree.leaves[j], level)]
            node.name, node.description = summ[c].name, summ[c].description


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return repr(obj)
