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
from taxonomy.llm.options import LLMOptions
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


@dataclass
class LoadedValues:
    """The values a build clusters (the coverage's, ordered by id) and the level counts it asks for."""

    texts: list[str]
    weights: np.ndarray
    counts: list[int]
    ids: list[int]
    coverage: object  #: :class:`taxonomy.coverage.Coverage`
    batches: list[dict]  #: the manifest's description of the covered batches
    level_counts: list[int]

    @property
    def n(self) -> int:
        return len(self.texts)


def load_values(
    db, *, levels: list[int] | str, top: int, batches=None, role=None, min_conversations=None
) -> LoadedValues:
    """Stage 1: the coverage's values with their summed weights and counts; ``levels`` "auto" becomes counts."""
    from taxonomy.cluster import auto_levels
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
    level_counts = auto_levels(n, top=top) if levels == "auto" else list(levels)
    if level_counts[0] > n:
        raise UsageError(f"--levels asks for {level_counts[0]} level-1 clusters but only {n} values are stored")
    return LoadedValues(
        texts=[t.text for t in totals],
        weights=np.array([t.weight for t in totals], dtype=np.float64),
        counts=[t.count for t in totals],
        ids=[t.id for t in totals],
        coverage=coverage,
        batches=batch_info,
        level_counts=level_counts,
    )


def embed_values(texts: Sequence[str], *, model, cache_dir, batch_size: int, progress: Progress,
                 backend: str = "auto", device: str = "auto"):
    """Stage 2: the embedder and the unit embedding of every value (through the embedding cache)."""
    from embeddings import Embedder

    embedder = Embedder(model=model, cache_dir=cache_dir, batch_size=batch_size, backend=backend, device=device)
    embedder.spec  # noqa: B018 - the model is resolved (a bad name refused) before the progress bar starts
    embedder.resolved_backend  # noqa: B018 - an unknown or impossible backend is a usage error, before the work
    with progress.step("Embedding values", total=len(texts)) as step:
        X = embedder.embed(texts, progress=step.update)
    return embedder, X


def cluster_values(X: np.ndarray, values: LoadedValues, clusterer, clio, embed, progress: Progress):
    """Stage 3: the hierarchy of cluster labels, the counts reached and, with ``clio``, its named levels."""
    from taxonomy.cluster.base import Hierarchy

    n, level_counts = values.n, list(values.level_counts)
    clio_result = None
    with progress.step("Clustering", total=len(level_counts)) as step:
        if clio is None:
            fitted = clusterer.fit(X, level_counts, sample_weight=values.weights)
            fitted.validate(n, level_counts)
        else:
            first = clusterer.fit(X, level_counts[:1], sample_weight=values.weights)
            first.validate(n, level_counts[:1])
            clio_result = clio.fit(X, values.texts, values.weights, first.labels[0], level_counts, embed=embed)
            level_counts = list(clio_result.levels)
            fitted = Hierarchy(clio_result.labels)
            fitted.validate(n, level_counts)
        step.update(len(level_counts))
    return fitted, level_counts, clio_result


#: ``category_words``: the embedding model's vocabulary and the members' adjectives, or the members' only
CATEGORY_WORDS = ("vocabulary", "members")


def name_clusters(values: LoadedValues, X: np.ndarray, labels, summarizer, clio_result, *, id_prefix, progress,
                  embedder=None):
    """Stage 4: the tree of the clusters, every node named and described (by the summarizer, or as Clio named
    the levels while building them). ``embedder``: the one that made ``X``, handed to the summarizer."""
    from taxonomy.naming import summarize_tree

    tree, value_labels = assemble_tree(
        values.texts, values.weights, values.counts, values.ids, labels, id_prefix=id_prefix
    )
    with progress.step("Naming clusters", total=len(labels)) as step:
        if clio_result is None:
            summarize_tree(tree, X, value_labels, summarizer, embedder=embedder)
        else:  # Clio named every level while building it
            _apply_summaries(tree, value_labels, clio_result.summaries)
        step.update(len(labels))
    return tree


def build_manifest(
    values: LoadedValues,
    *,
    embedder,
    dim: int,
    method_name: str,
    clusterer,
    summarizer,
    clio,
    clio_result,
    level_counts: list[int],
    levels_requested,
    seed: int,
    id_prefix: str,
) -> dict:
    """Stage 5: how the version was made: coverage, model, method, summarizer, levels, seed, package versions."""
    spec = embedder.spec
    manifest = {
        "kind": "build",
        "batches": values.batches,
        "coverage": values.coverage.to_dict(),
        "n_values": values.n,
        "total_weight": float(values.weights.sum()),
        "model": {**spec.to_dict(), "identity": spec.identity, "dim": int(dim), "embed_backend": embedder.resolved_backend},
        "method": {"name": method_name, "params": _jsonable(clusterer.get_params())},
        "summarizer": {"name": summarizer.name, "params": _jsonable(summarizer.get_params())},
        "levels": list(level_counts),
        "levels_requested": levels_requested if isinstance(levels_requested, str) else list(levels_requested),
        "seed": seed,
        "id_prefix": id_prefix,
        "packages": package_versions(),
    }
    if summarizer.uses_model:
        manifest["llm"] = _jsonable(summarizer.llm_info())
        manifest["prompts"] = summarizer.prompts.manifest()
    if clio_result is not None:
        manifest["hierarchy"] = {
            "name": "clio",
            "level1_method": method_name,
            "params": _jsonable(clio.get_params()),
            "report": _jsonable(clio_result.report),
        }
    return manifest


def write_build(
    db, tree: Tree, values: LoadedValues, manifest: dict, checksum: str, *, message, author, progress
) -> int:
    """Stage 6: store the tree as a new version, in one transaction; refused if values were ingested meanwhile."""
    from taxonomy.coverage import coverage_totals
    from taxonomy.store import write_version

    with progress.step("Writing version", total=1) as step:
        with session_scope(db) as session:
            # the values may have changed since they were read (another ingest): refuse rather than mislabel
            if len(coverage_totals(session, values.coverage)) != values.n:
                raise UsageError("values were ingested while the build ran; run the build again")
            version_id = write_version(
                session, tree, kind="build", message=message, manifest=manifest, checksum=checksum, author=author
            )
        step.update(1)
    return version_id


def _check_id_prefix(id_prefix: str) -> None:
    if not id_prefix or any(c in id_prefix for c in ": \t\n,") or not id_prefix.isprintable():
        raise UsageError(f"--id-prefix {id_prefix!r}: use a short word without colons, commas or spaces")
    if len(id_prefix) > 100:
        raise UsageError(f"--id-prefix is {len(id_prefix)} characters long; the limit is 100")


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
    llm: LLMOptions | None = None,
    role: str | None = None,
    batches: Sequence[int] | str | None = None,
    min_conversations: int | None = None,
    category_suffix: str | None = None,
    category_words: str | None = None,
    contrast: float | None = None,
) -> BuildResult:
    """Build a taxonomy from every ingested value and store it as a new version (one transaction).

    ``levels``: cluster counts for levels 1..L ("266,26,5" or a list), or "auto" (a geometric progression from
    about n/12 down to ``top``). ``method``: a name from :data:`taxonomy.cluster.METHODS` (default: the best in the
    benchmark). ``seed``: the random state; the same input and seed give the same tree.

    Language models (``summarizer="anthropic"`` or ``"openai"``): ``llm`` (:class:`taxonomy.llm.options.LLMOptions`:
    model, server, key variable, concurrency, budget) configures the calls (see :mod:`taxonomy.llm`); the key and
    server are checked before any work. ``hierarchy="clio"`` builds the levels above 1 with the model
    (:mod:`taxonomy.cluster.clio`), meeting the counts within ``count_tolerance``.

    Coverage (:mod:`taxonomy.coverage`, recorded in the manifest): ``batches`` (default: all), ``role`` ("ai" or
    "human": only that role's extraction records count) and ``min_conversations`` (only values seen in that many
    distinct conversations).

    ``category_words`` (offline summarizer): "vocabulary" (default) names top-level categories by the adjectives
    of the embedding model's vocabulary and those the members say, whichever lies nearest
    (:mod:`taxonomy.summarize.lexicon`); "members" by the members' adjectives only.

    ``contrast``: a share of the level-1 count (0 < share <= 1, e.g. 0.07; default off): level-1 nodes that hold
    values grouped by a shared word only ("moral clarity", "moral disregard") are split by what the rest of each
    phrase says and merged back to the exact count (:class:`taxonomy.cluster.contrast.Contrast`, the umap-kmeans
    method only). It embeds each such phrase without the shared word, through the same embedder and cache.

    The stages, in order: :func:`load_values`, :func:`embed_values`, :func:`cluster_values`,
    :func:`name_clusters`, :func:`build_manifest`, :func:`write_build`.
    """
    from taxonomy.cluster import DEFAULT_METHOD, get_method
    from taxonomy.tree import content_checksum
    from taxonomy.summarize import DEFAULT_SUMMARIZER
    from taxonomy.summarize.llm import summarizer_for_build

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
    clusterer = get_method(method_name, seed=seed)
    if contrast is not None:
        if isinstance(contrast, bool) or not isinstance(contrast, int | float) or not 0 < contrast <= 1:
            raise UsageError(f"--contrast must be a share between 0 (excluded) and 1, got {contrast!r}")
        if "contrast" not in clusterer.get_params():
            raise UsageError(f"--contrast: only for the umap-kmeans method, not {method_name}")
    summ = summarizer_for_build(
        summarizer or DEFAULT_SUMMARIZER,
        seed=seed,
        db=db,
        hierarchy=hierarchy,
        **(llm or LLMOptions()).summarizer_kwargs(),
    )
    if category_suffix is not None:  # the offline namer's category style ("values", "" = none; default: inferred)
        if not hasattr(summ, "category_suffix") or summ.uses_model:
            raise UsageError("--category-suffix: only for the offline summarizer")
        summ.category_suffix = str(category_suffix).strip()
    if category_words is not None:  # where the offline namer takes top-level categories' adjectives from
        words = str(category_words).strip().lower()
        if words not in CATEGORY_WORDS:
            raise UsageError(f"--category-words {category_words!r}: use {' or '.join(CATEGORY_WORDS)}")
        if not hasattr(summ, "category_lexicon") or summ.uses_model:
            raise UsageError("--category-words: only for the offline summarizer")
        summ.category_lexicon = words == "vocabulary"
    clio = None
    if hierarchy == "clio":
        from taxonomy.cluster.clio import ClioHierarchy

        clio = ClioHierarchy(summ, seed=seed, count_tolerance=count_tolerance)
    _check_id_prefix(id_prefix)

    values = load_values(
        db, levels=parsed_levels, top=top, batches=batches, role=role, min_conversations=min_conversations
    )
    summ.preflight()  # a language model: the key and the server, before any work
    timings["load"] = time.perf_counter() - t0

    t = time.perf_counter()
    embedder, X = embed_values(values.texts, model=model, cache_dir=cache_dir, batch_size=batch_size, progress=progress,
                               backend=embed_backend, device=device)
    if contrast is not None:  # the residual phrases go through the same embedder (and its cache)
        from taxonomy.cluster.contrast import Contrast

        clusterer.contrast = Contrast(values.texts, embedder.embed, share=float(contrast))
    timings["embed"] = time.perf_counter() - t

    t = time.perf_counter()
    fitted, level_counts, clio_result = cluster_values(X, values, clusterer, clio, embedder.embed, progress)
    timings["cluster"] = time.perf_counter() - t
    # what was embedded for the values (and --contrast's phrases), not the namer's general words after it
    n_embedded, n_cached = embedder.stats.n_embedded, embedder.stats.n_cached

    t = time.perf_counter()
    tree = name_clusters(values, X, fitted.labels, summ, clio_result, id_prefix=id_prefix, progress=progress,
                         embedder=embedder)
    timings["summarize"] = time.perf_counter() - t

    checksum = content_checksum(tree)
    manifest = build_manifest(
        values,
        embedder=embedder,
        dim=X.shape[1],
        method_name=method_name,
        clusterer=clusterer,
        summarizer=summ,
        clio=clio,
        clio_result=clio_result,
        level_counts=level_counts,
        levels_requested=levels,
        seed=seed,
        id_prefix=id_prefix,
    )
    t = time.perf_counter()
    version_id = write_build(db, tree, values, manifest, checksum, message=message, author=author, progress=progress)
    from taxonomy.similar_cache import save_built_version

    save_built_version(cache_dir, checksum, embedder, tree, values.texts, X)  # its first `similar` reads them
    timings["write"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return BuildResult(
        version_id=version_id,
        levels=list(level_counts),
        n_values=values.n,
        method=method_name,
        seed=seed,
        model=embedder.spec.identity,
        checksum=checksum,
        timings={k: round(v, 3) for k, v in timings.items()},
        embedded=n_embedded,
        cached=n_cached,
        llm=(
            {"provider": summ.provider, "model": summ.service.model, "stats": summ.service.stats.to_dict()}
            if summ.uses_model
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
