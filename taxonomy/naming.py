"""Naming nodes: the one path from a tree's nodes to the summarizer and back, and the naming rules.

* :func:`name_nodes` (re)names and describes some nodes of a tree, a level at a time, bottom-up, with the whole
  level shown to the summarizer (contrast, distinct sibling names). A fresh build (:func:`summarize_tree`),
  change-sets (``--resummarize``, new split parts) and ``taxo resummarize`` all go through it.
* :func:`summarizer_for` and :func:`embedder_for`: the summarizer and the embedder a version was built with, from
  its manifest.
* The rules: :func:`distinct_name` (sibling names differ, casefolded; a clash becomes "Name (2)", "Name (3)", ...)
  and :func:`sentence_case`.

Nothing here imports a summarizer at module level, so that the summarizers may use the rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence

import numpy as np


# ---------------------------------------------------------------------------------------------------- rules
def name_key(name: str) -> str:
    """What two names are compared by: stripped and casefolded ("Honesty " and "honesty" clash)."""
    return str(name).strip().casefold()


def distinct_name(name: str, taken: Collection[str]) -> str:
    """``name`` if its key (:func:`name_key`) is not in ``taken``, else the first free ``"name (2)"``,
    ``"name (3)"``, ... ``taken`` holds keys, not names; the caller adds the result's key when it is used."""
    out, k = name, 2
    while name_key(out) in taken:
        out = f"{name} ({k})"
        k += 1
    return out


def sentence_case(name: str) -> str:
    """Capitalise the first letter unless the first word already has capitals ("iOS apps", "AI safety")."""
    first = name.split(" ", 1)[0]
    if any(ch.isupper() for ch in first):
        return name
    return name[:1].upper() + name[1:]


# ---------------------------------------------------------------------------------------------------- naming
def name_nodes(
    tree,
    uids: Sequence[str],
    vectors: np.ndarray,
    summarizer,
    *,
    describe_only: Collection[str] = frozenset(),
    order: Mapping[int, Sequence[str]] | None = None,
    embedder=None,
) -> None:
    """Name and describe the nodes ``uids`` of ``tree`` in place, one level at a time, bottom-up (a parent is named
    from its children's new names).

    ``vectors``: the embedding of every value, in ``tree.leaves`` order. The summarizer sees the whole level of
    each target (its other nodes keep their names, which count as taken; a language model is sent only the
    targets) and is told every node's current description first. Nodes in ``describe_only`` keep their name and
    take the summarizer's description. A new name that repeats a sibling's is made distinct (:func:`distinct_name`).
    ``order``: per level, the level's node uids in the order the summarizer sees them (default: by uid; a fresh
    build gives its clusters' order). ``embedder``: the one that made ``vectors``, handed to the summarizer
    (:meth:`~taxonomy.summarize.base.Summarizer.use_embedder`: the offline one names broad categories with it).
    """
    if not uids:
        return
    if embedder is not None:
        summarizer.use_embedder(embedder)
    from taxonomy.gcpause import gc_paused

    # a level of 100,000 values makes millions of small objects without cycles (tokens, n-gram counts): the cyclic
    # collector's repeated passes over that heap would cost as much as the naming itself
    with gc_paused():
        _name_levels(tree, uids, vectors, summarizer, describe_only, order)


def _name_levels(tree, uids, vectors, summarizer, describe_only, order) -> None:
    wanted = set(uids)
    keep_name = set(describe_only)
    renamed = wanted - keep_name  # once: a set difference per node would make a level quadratic in its nodes
    for n in tree.nodes.values():
        summarizer.remember(n.name, n.description)
    anc = tree.ancestors_by_level()
    texts = [leaf.text for leaf in tree.leaves]
    weights = np.array([leaf.weight for leaf in tree.leaves], dtype=np.float64)
    X = np.asarray(vectors)
    for level in sorted({tree.nodes[u].level for u in wanted}):
        if order is not None and level in order:
            level_nodes = [tree.nodes[u] for u in order[level]]
        else:
            level_nodes = sorted(tree.nodes_at(level), key=lambda n: n.uid)
        infos = cluster_infos(tree, level, level_nodes, anc[level], texts, weights, X)
        groups: dict[str | None, list[int]] = {}
        for i, n in enumerate(level_nodes):
            groups.setdefault(n.parent_uid, []).append(i)
        targets = [i for i, n in enumerate(level_nodes) if n.uid in wanted]
        fixed = [None if n.uid in wanted else n.name for n in level_nodes]
        summaries = summarizer.summarize_targets(infos, list(groups.values()), targets, fixed)
        for g in groups.values():
            taken = {name_key(level_nodes[i].name) for i in g if level_nodes[i].uid not in renamed}
            for i in g:
                n, s = level_nodes[i], summaries[i]
                if n.uid not in wanted:
                    continue
                if n.uid in keep_name:
                    n.description = s.description
                    continue
                name = distinct_name(s.name, taken)
                taken.add(name_key(name))
                n.name, n.description = name, s.description


def cluster_infos(tree, level: int, nodes, ancestors: Sequence[str], texts, weights: np.ndarray, X: np.ndarray) -> list:
    """What the summarizer sees of each of ``nodes`` (all at ``level``): its values (in leaf order), their
    weights and embeddings, and its children heaviest first. ``ancestors``: each leaf's ancestor at ``level``."""
    from taxonomy.summarize.base import ClusterInfo

    # each leaf's node as a position in ``nodes`` (-1: another node), the leaves grouped by it in leaf order
    pos = {n.uid: j for j, n in enumerate(nodes)}
    code = np.fromiter(map(pos.get, ancestors, itertools.repeat(-1)), dtype=np.int64, count=len(ancestors))
    order = np.argsort(code, kind="stable")
    ends = np.cumsum(np.bincount(code + 1, minlength=len(nodes) + 1))  # slot 0: the leaves of other nodes
    kids: dict[str, list] = {}
    if level > 1:
        for n in tree.nodes.values():
            if n.parent_uid is not None and n.level == level - 1:
                kids.setdefault(n.parent_uid, []).append(n)
    out = []
    for j, n in enumerate(nodes):
        idx = order[ends[j] : ends[j + 1]]
        ch = sorted(kids.get(n.uid, []), key=lambda c: (-c.weight, c.name))
        out.append(
            ClusterInfo(
                level=level,
                members=[texts[i] for i in idx.tolist()],
                weights=weights[idx],
                embeddings=X[idx],
                child_names=[c.name for c in ch],
                child_weights=[c.weight for c in ch],
            )
        )
    return out


def summarize_tree(tree, X: np.ndarray, value_labels: Sequence[np.ndarray], summarizer, embedder=None) -> None:
    """Name and describe every node of a freshly clustered tree, bottom-up. ``value_labels``: per level, each
    value's cluster index (the summarizer sees a level's clusters in that index order). ``embedder``: the one
    that made ``X`` (:func:`name_nodes`)."""
    order: dict[int, list[str]] = {}
    for level, vl in enumerate(value_labels, start=1):
        first: dict[int, int] = {}
        for j, c in enumerate(np.asarray(vl).tolist()):
            first.setdefault(int(c), j)
        order[level] = [tree.ancestor(tree.leaves[first[c]], level) for c in range(int(np.max(vl)) + 1)]
    name_nodes(tree, [u for uids in order.values() for u in uids], X, summarizer, order=order, embedder=embedder)


# ---------------------------------------------------------------------------------------------------- from a manifest
#: the language-model options :func:`summarizer_for` takes from the base version unless given
_RECORDED_LLM_OPTIONS = ("model", "base_url", "api_key_env")


def summarizer_for(manifest: Mapping, db=None, overrides: Mapping | None = None, *, refresh: bool = False):
    """The summarizer that named a version (its manifest), or ``overrides["summarizer"]``, with its options.

    ``overrides``: ``summarizer`` (a name) and the language-model options (``model``, ``base_url``,
    ``api_key_env``, ``concurrency``, ``max_calls``, ``max_cost``, ``price``; None = not given). A language-model
    summarizer reuses the version's model, server and key variable (never a key) when the provider is the same,
    and the version's seed; the offline summarizer takes the version's recorded parameters (those it still has).
    The result is bound to ``db`` for its response cache; call ``preflight()`` before
    any work.
    """
    from taxonomy.summarize import DEFAULT_SUMMARIZER, SUMMARIZERS
    from taxonomy.summarize.llm import summarizer_for_build

    given = dict(overrides or {})
    name = given.pop("summarizer", None) or (manifest.get("summarizer") or {}).get("name") or DEFAULT_SUMMARIZER
    name = str(name).strip().lower()
    cls = SUMMARIZERS.get(name)
    if cls is not None and cls.uses_model:
        prev = manifest.get("llm") or {}
        if prev.get("provider") == cls.provider:
            for key in _RECORDED_LLM_OPTIONS:
                if given.get(key) is None and prev.get(key):
                    given[key] = prev[key]
    summ = summarizer_for_build(name, seed=int(manifest.get("seed") or 0), db=db, refresh=refresh, **given)
    recorded = manifest.get("summarizer") or {}
    if cls is not None and not cls.uses_model and str(recorded.get("name") or "").lower() == name:
        # the offline namer with the version's parameters (its category style, ...): an edit names as the build did
        import inspect

        accepted = inspect.signature(cls.__init__).parameters
        params = {k: v for k, v in (recorded.get("params") or {}).items() if k in accepted and k != "self"}
        try:
            summ = cls(**params)
        except (TypeError, ValueError) as exc:
            from taxonomy.errors import UsageError

            raise UsageError(f"the version's manifest records summarizer parameters {name} refuses: {exc}") from None
    return summ


def embedder_for(manifest: Mapping, cache_dir=None):
    """An embedder for the model and backend recorded in a version's manifest (through the embedding cache), so
    that an edit embeds with what built the version (an int8 build's vectors are not the fp32 model's)."""
    from embeddings import Embedder

    model = manifest.get("model") or {}
    return Embedder(model=model.get("name"), cache_dir=cache_dir, backend=model.get("embed_backend") or "auto")
