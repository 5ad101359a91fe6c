"""`taxo resummarize`: regenerate the names and descriptions of some nodes of a version as a new version.

The result is an ordinary change-set of ``rename`` operations (name and description) applied to the base version,
with source ``{"kind": "resummarize", ...}``: the new version's parent is the base, node ids are unchanged, and
``taxo diff`` / ``taxo log`` show what was renamed. Levels are done bottom-up, so a parent is named from its
children's new names. The language-model summarizers only send the requested nodes to the model (the whole level
is still used for contrast and for distinct sibling names); the offline summarizer names the whole level and the
requested nodes take their new summaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from sqlalchemy import Engine

from taxonomy.db.engine import session_scope
from taxonomy.errors import UsageError
from taxonomy.llm.options import LLMOptions
from taxonomy.store import get_version, read_tree


@dataclass
class ResummarizeResult:
    version_id: int
    base_version_id: int
    change_set_id: int
    summarizer: str
    nodes: list[dict] = field(default_factory=list)  #: uid, level, old and new name, old and new description
    llm: dict | None = None  #: provider, model, statistics (language-model summarizers)

    @property
    def n_renamed(self) -> int:
        return sum(1 for n in self.nodes if n["name"] != n["old_name"])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["n_renamed"] = self.n_renamed
        return d


def _split_refs(nodes) -> list[str]:
    if nodes is None:
        return []
    if isinstance(nodes, str):
        nodes = [nodes]
    out = []
    for item in nodes:
        out.extend(p.strip() for p in str(item).split(",") if p.strip())
    return out


def _targets(tree, version: int, level: int | None, refs: list[str]) -> list[str]:
    from taxonomy.edits import resolve_node

    depth = tree.depth
    if level is not None and not 1 <= int(level) <= depth:
        raise UsageError(f"--level {level}: version {version} has levels 1..{depth}")
    if refs:
        uids = []
        for ref in refs:
            node = resolve_node(tree, ref, version_id=version)
            if level is not None and node.level != int(level):
                raise UsageError(f"node {ref!r} ({node.name!r}) is at level {node.level}, not --level {level}")
            if node.uid not in uids:
                uids.append(node.uid)
        return uids
    if level is not None:
        return sorted(n.uid for n in tree.nodes_at(int(level)))
    return sorted(tree.nodes)


def _rename_order(tree, current: dict[str, str], new_names: dict[str, str]) -> list[tuple[str, str]]:
    """(uid, name) renames in an order in which no intermediate state repeats a sibling's name: a node whose new
    name is a sibling's current name waits for that sibling; a cycle (a swap) goes through a temporary name.
    ``current``: every node's name before; ``new_names``: the wanted names (unchanged ones are skipped)."""
    cur = dict(current)
    siblings: dict[str, list[str]] = {}
    for u, n in tree.nodes.items():
        siblings.setdefault(f"{n.parent_uid}|{n.level}", []).append(u)
    group = {u: f"{n.parent_uid}|{n.level}" for u, n in tree.nodes.items()}
    pending = {u for u, nm in new_names.items() if nm != cur[u]}
    out: list[tuple[str, str]] = []

    def blocker(u: str) -> str | None:
        key = new_names[u].strip().casefold()
        for s in siblings[group[u]]:
            if s != u and cur[s].strip().casefold() == key:
                return s
        return None

    while pending:
        ready = sorted(u for u in pending if blocker(u) is None)
        if ready:
            for u in ready:
                if blocker(u) is None:
                    out.append((u, new_names[u]))
                    cur[u] = new_names[u]
                    pending.discard(u)
            continue
        u = min(pending)  # a cycle: park one node under a temporary name
        taken = {cur[s].strip().casefold() for s in siblings[group[u]]} | {
            new_names[s].strip().casefold() for s in siblings[group[u]] if s in new_names
        }
        k = 1
        temp = f"{cur[u]} (renaming)"
        while temp.casefold() in taken:
            k += 1
            temp = f"{cur[u]} (renaming {k})"
        out.append((u, temp))
        cur[u] = temp
    return out


def resummarize(
    version: int,
    level: int | None = None,
    nodes: Sequence[str] | str | None = None,
    *,
    message: str = "",
    summarizer: str | None = None,
    author: str | None = None,
    branch: str | None = None,
    cache_dir: str | None = None,
    db: str | Engine | None = None,
    llm: LLMOptions | None = None,
    refresh: bool = False,
) -> ResummarizeResult:
    """Regenerate the summaries of ``nodes`` (ids or 4+ character uuid prefixes), or of every node at ``level``, or
    of every node, and store them as a new version whose parent is ``version`` (a change-set of renames).

    ``summarizer``: default the base version's; a language-model summarizer reuses the base version's model and
    server unless ``llm`` (:class:`taxonomy.llm.options.LLMOptions`) names others. Answers come from the response
    cache when the prompt is unchanged (``refresh=True`` asks the model again and replaces them).
    """
    from taxonomy.changesets import apply
    from taxonomy.naming import embedder_for, name_nodes, summarizer_for

    with session_scope(db) as session:
        base = get_version(session, version)
        manifest = dict(base.manifest or {})
        tree = read_tree(session, version)
    refs = _split_refs(nodes)
    uids = _targets(tree, version, level, refs)
    if not uids:
        raise UsageError(f"version {version} has no nodes to resummarize")

    overrides = {"summarizer": summarizer, **(llm or LLMOptions()).summarizer_kwargs()}
    summ = summarizer_for(manifest, db, overrides, refresh=refresh)
    summ.preflight()  # before any work

    old = {u: (tree.nodes[u].name, tree.nodes[u].description) for u in uids}
    embedder = embedder_for(manifest, cache_dir)
    vectors = embedder.embed([leaf.text for leaf in tree.leaves])
    name_nodes(tree, uids, vectors, summ, embedder=embedder)

    # the change-set: the renames in a safe order (each node's last one carries its description), then the nodes
    # whose name stayed (their description may have changed)
    current = {u: n.name for u, n in tree.nodes.items()}
    current.update({u: old[u][0] for u in uids})
    new_names = {u: tree.nodes[u].name for u in uids}
    order = _rename_order(tree, current, new_names)
    last = {u: i for i, (u, _) in enumerate(order)}
    ops: list[dict] = []
    for i, (u, nm) in enumerate(order):
        op = {"op": "rename", "node": u, "name": nm}
        if last[u] == i:
            op["description"] = tree.nodes[u].description
        ops.append(op)
    for u in uids:
        if u not in last:
            ops.append({"op": "rename", "node": u, "name": new_names[u], "description": tree.nodes[u].description})
    what = f"level {level}" if level is not None and not refs else f"{len(uids)} node{'s' if len(uids) != 1 else ''}"
    source = {
        "kind": "resummarize",
        "summarizer": summ.name,
        "level": level,
        "nodes": uids,
    }
    llm_info = None
    if summ.uses_model:
        svc = summ.service
        llm_info = {"provider": summ.provider, "model": svc.model, "stats": svc.stats.to_dict()}
        source.update(
            provider=summ.provider,
            model=svc.model,
            base_url=svc.config.base_url,
            prompts=summ.prompts.hashes(),
            llm_stats=svc.stats.to_dict(),
            repairs=summ.repairs[:100],
        )
    res = apply(
        version,
        ops,
        message=message or f"resummarize {what} with {summ.name}",
        author=author,
        source=source,
        branch=branch,
        cache_dir=cache_dir,
        db=db,
    )
    return ResummarizeResult(
        version_id=res.version_id,
        base_version_id=version,
        change_set_id=res.change_set_id,
        summarizer=summ.name,
        nodes=[
            {
                "uid": u,
                "level": tree.nodes[u].level,
                "old_name": old[u][0],
                "name": tree.nodes[u].name,
                "old_description": old[u][1],
                "description": tree.nodes[u].description,
            }
            for u in uids
        ],
        llm=llm_info,
    )
