"""Everything the report pages show about one version, as JSON-able data.

The pages load ``main`` once (nodes as parallel arrays, every value's text and level-1 node, the diff, the
manifest) and what a node page adds -- description, member values with weights and counts, nearest nodes,
history, excerpts -- from a small ``chunk`` only when the node is opened, so that a 100,000-value version opens
quickly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, select

from taxonomy.db.engine import session_scope
from taxonomy.db.models import Version
from taxonomy.errors import TaxoError, UsageError
from taxonomy.progress import NullProgress, Progress
from taxonomy.report.extras import first_excerpts, node_histories, node_neighbours, redacted_excerpts
from taxonomy.store import get_version, level_counts, read_tree

FORMAT = 1
#: image files an analyses directory may hold (shown on the Analyses page, by file name)
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp")


@dataclass(frozen=True)
class ReportOptions:
    neighbours: int = 5  #: nearest other nodes per node (0: none, and no embedding needed)
    top_values: int = 100  #: member values listed for a node above level 1 (level 1: all of them)
    excerpts: int = 5  #: redacted excerpts per node, from its heaviest values with an extraction record
    excerpt_chars: int = 400
    listed_changes: int = 2000  #: entries listed per kind of change (the counts are always complete)
    chunk_values: int = 5000  #: member entries per data chunk
    model: str | None = None  #: embedding model for the nearest nodes (default: the version's)
    cache_dir: str | None = None


@dataclass
class ReportData:
    version_id: int
    main: dict[str, Any]
    chunks: list[dict[str, Any]]
    analyses: list[Path] = field(default_factory=list)  #: image files to copy / serve under analyses/
    notes: list[str] = field(default_factory=list)


def _num(x: float) -> float:
    """6 significant digits: the pages show no more, and the data stays compact."""
    if not math.isfinite(x):
        return 0.0
    return float(f"{x:.6g}")


def _version_row(v: Version, counts: dict[int, int]) -> dict[str, Any]:
    return {
        "id": v.id,
        "parent_id": v.parent_id,
        "created_at": v.created_at.isoformat(timespec="seconds") if v.created_at else "",
        "message": v.message,
        "author": v.author,
        "kind": v.kind,
        "checksum": v.checksum,
        "n_levels": v.n_levels,
        "counts": {str(k): n for k, n in sorted(counts.items())},
    }


def analyses_files(directory: str | Path | None) -> list[Path]:
    """The image files of an analyses directory, sorted by name (a missing directory is bad input)."""
    if directory is None:
        return []
    d = Path(directory)
    if not d.is_dir():
        raise UsageError(f"{d}: the analyses directory does not exist (give the folder the analyses wrote to)")
    return sorted((p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                  key=lambda p: p.name)


def _title(p: Path) -> str:
    return p.stem.replace("_", " ").replace("-", " ").strip().capitalize() or p.name


def _node_order(tree) -> list[str]:
    """Depth-first from the top, heaviest first: siblings stay together (and in the same data chunk)."""
    kids: dict[str | None, list] = defaultdict(list)
    for n in tree.nodes.values():
        kids[n.parent_uid].append(n)
    for lst in kids.values():
        lst.sort(key=lambda n: (-n.weight, n.name, n.uid))
    order: list[str] = []
    stack = list(reversed(kids[None]))
    while stack:
        n = stack.pop()
        order.append(n.uid)
        stack.extend(reversed(kids.get(n.uid, [])))
    return order


def _members(tree, top: int) -> dict[str, list[int]]:
    """Leaf positions under each node, heaviest first: all of them at level 1, the ``top`` heaviest above."""
    leaves = tree.leaves
    order = sorted(range(len(leaves)), key=lambda i: (-leaves[i].weight, leaves[i].text))
    anc = tree.ancestors_by_level()
    out: dict[str, list[int]] = {u: [] for u in tree.nodes}
    for level, uids in anc.items():
        for i in order:
            lst = out[uids[i]]
            if level == 1 or len(lst) < top:
                lst.append(i)
    return out


def _leaf_vectors(tree, manifest: dict, opts: ReportOptions, notes: list[str], progress: Progress):
    from embeddings import Embedder

    model = opts.model or (manifest.get("model") or {}).get("name")
    try:
        with progress.step("Embeddings (cache first)", total=len(tree.leaves)) as step:
            backend = (manifest.get("model") or {}).get("embed_backend") if opts.model is None else None
            return Embedder(model=model, cache_dir=opts.cache_dir, backend=backend or "auto").embed(
                [leaf.text for leaf in tree.leaves], progress=lambda done, total: step.update(done, total))
    except TaxoError as exc:
        notes.append(f"nearest nodes not computed: {exc}")
        return None


def _diff_data(other, tree, opts: ReportOptions) -> dict[str, Any]:
    from taxonomy.diff import KINDS, diff_trees

    d = diff_trees(other, tree)
    out = d.to_dict()
    out["listed"] = {}
    for kind in KINDS:
        out["listed"][kind] = min(len(out[kind]), opts.listed_changes)
        out[kind] = out[kind][: opts.listed_changes]
    return out


def collect(
    version: int,
    *,
    diff: int | None = None,
    analyses: str | Path | None = None,
    options: ReportOptions = ReportOptions(),
    db: str | Engine | None = None,
    progress: Progress | None = None,
) -> ReportData:
    """Gather the report data of ``version``; with ``diff``, the changes from version ``diff`` to it."""
    opts = options
    progress = progress or NullProgress()
    images = analyses_files(analyses)
    notes: list[str] = []
    with session_scope(db) as session, progress.step("Reading the version", total=None):
        v = get_version(session, version)
        if diff is not None:
            get_version(session, diff)
        tree = read_tree(session, version)
        other = read_tree(session, diff) if diff is not None else None
        counts = level_counts(session)
        versions = [_version_row(x, counts.get(x.id, {})) for x in session.scalars(select(Version).order_by(Version.id))]
        manifest = dict(v.manifest or {})
        info = _version_row(v, counts.get(v.id, {}))
        histories = node_histories(session, tree)
        first_rec, n_records = first_excerpts(session, version)
        members = _members(tree, opts.top_values)
        order = _node_order(tree)
        wanted: dict[str, list[tuple[int, int]]] = {}
        if opts.excerpts > 0 and first_rec:
            for uid in order:
                picks = []
                for i in members[uid]:
                    rid = first_rec.get(tree.leaves[i].value_id)  # type: ignore[arg-type]
                    if rid is not None:
                        picks.append((i, rid))
                        if len(picks) >= opts.excerpts:
                            break
                wanted[uid] = picks
        excerpts, n_redactions = redacted_excerpts(
            session, [rid for picks in wanted.values() for _, rid in picks], opts.excerpt_chars)

    index = {uid: i for i, uid in enumerate(order)}
    nodes = [tree.nodes[u] for u in order]
    leaves = tree.leaves
    total_weight = sum(max(leaf.weight, 0.0) for leaf in leaves)
    size_key = "weight" if total_weight > 0 else "count"

    neighbours: list[list] | None = None
    if opts.neighbours > 0 and leaves:
        vecs = _leaf_vectors(tree, manifest, opts, notes, progress)
        if vecs is not None:
            with progress.step("Nearest nodes", total=None):
                near = node_neighbours(tree, vecs, opts.neighbours)
            neighbours = [[[index[h], round(s, 3)] for h, s in near.get(u, [])] for u in order]

    # Member chunks, loaded by the page when a node is opened.
    chunks: list[dict[str, Any]] = []
    chunk_of: list[int] = []
    current: dict[str, Any] = {}
    size = 0
    for i, uid in enumerate(order):
        lst = members[uid]
        if current and size + len(lst) > opts.chunk_values:
            chunks.append(current)
            current, size = {}, 0
        entry: dict[str, Any] = {
            "d": tree.nodes[uid].description,
            "h": histories.get(uid, []),
            "v": lst,
            "w": [_num(leaves[j].weight) for j in lst],
            "c": [leaves[j].count for j in lst],
        }
        if neighbours is not None:
            entry["n"] = neighbours[i]
        picks = wanted.get(uid, [])
        if picks:
            entry["x"] = [[j, *excerpts[rid]] for j, rid in picks if rid in excerpts]
        current[str(i)] = entry
        size += len(lst) + 1
        chunk_of.append(len(chunks))
    if current or not chunks:
        chunks.append(current)

    main: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "version": info,
        "manifest": manifest,
        "versions": versions,
        "levels": tree.depth,
        "size_key": size_key,
        "total_weight": _num(total_weight),
        "nodes": {
            "uid": order,
            "name": [n.name for n in nodes],
            "level": [n.level for n in nodes],
            "parent": [index[n.parent_uid] if n.parent_uid else -1 for n in nodes],
            "weight": [_num(n.weight) for n in nodes],
            "pct": [_num(n.pct_total_occurrences) for n in nodes],
            "members": [n.member_count for n in nodes],
            "chunk": chunk_of,
        },
        "values": {"text": [leaf.text for leaf in leaves], "node": [index[leaf.parent_uid] for leaf in leaves]},
        "neighbours": neighbours is not None,
        "diff": _diff_data(other, tree, opts) if other is not None else None,
        "excerpts": {"records": n_records, "values_with_excerpt": len(first_rec), "redactions": n_redactions,
                     "per_node": opts.excerpts},
        "analyses": [{"file": "analyses/" + quote(p.name), "title": _title(p)} for p in images],
        "notes": notes,
        "n_chunks": len(chunks),
    }
    return ReportData(version_id=version, main=main, chunks=chunks, analyses=images, notes=notes)
