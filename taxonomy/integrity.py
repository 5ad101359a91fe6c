"""The integrity checker: the rules every version satisfies (`taxo check`), and the checks built on them.

* :func:`check_tree_integrity`: every violation of :data:`RULES` (a list; empty = valid), for `taxo check`, the
  refusal of an edit that breaks a rule, and :func:`refuse_unsound` (no export of a damaged version);
* :func:`check_structure`: the fail-fast part that tree algebra needs before it walks a tree (every parent one
  level up, every value under a level-1 node, unique value texts), raising :class:`TaxoError` on the first problem;
  used by :func:`taxonomy.tree.recompute_stats`, the exporters and the SKOS reader.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from operator import attrgetter

from taxonomy.domain import Tree
from taxonomy.errors import TaxoError, UsageError
from taxonomy.gcpause import without_gc

#: Rule names, in the order they are checked.
RULES = (
    "one-root-path",  # every value has exactly one level-1 parent, and every node a path to the top level
    "no-cycles",
    "parent-level",  # a node at level L has a parent at level L+1; the top level has none
    "no-empty-clusters",
    "distinct-sibling-names",
    "weights-consistent",  # node weight/member_count/pct_total_occurrences agree with the values under it
)


@dataclass
class Violation:
    rule: str
    message: str
    nodes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CheckReport:
    version_id: int | None
    violations: list[Violation]
    n_nodes: int
    n_values: int

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict:
        return {
            "version_id": self.version_id,
            "ok": self.ok,
            "n_nodes": self.n_nodes,
            "n_values": self.n_values,
            "violations": [v.to_dict() for v in self.violations],
        }


class IntegrityError(UsageError):
    """An edit would break an integrity rule; nothing was written."""

    def __init__(self, violations: list[Violation], context: str = "the edit"):
        self.violations = violations
        shown = "; ".join(f"[{v.rule}] {v.message}" for v in violations[:5])
        more = f"; … and {len(violations) - 5} more" if len(violations) > 5 else ""
        super().__init__(f"{context} was refused (no version written): {shown}{more}")  # one line


def _label(tree: Tree, uid: str) -> str:
    node = tree.nodes.get(uid)
    return f"{uid} ({node.name!r})" if node else uid


def check_structure(tree: Tree) -> None:
    """Raise :class:`TaxoError` unless the tree is structurally sound: every node's parent exists one level up
    (none at the top level), every leaf hangs under a level-1 node, leaf texts are unique."""
    depth = tree.depth
    for uid, n in tree.nodes.items():
        if n.uid != uid:
            raise TaxoError(f"tree is inconsistent: node keyed {uid!r} has uid {n.uid!r}")
        if n.level < 1:
            raise TaxoError(f"tree is inconsistent: node {uid!r} has level {n.level} (cluster levels start at 1)")
        if n.parent_uid is None:
            if n.level != depth:
                raise TaxoError(f"tree is inconsistent: node {uid!r} at level {n.level} has no parent")
            continue
        parent = tree.nodes.get(n.parent_uid)
        if parent is None:
            raise TaxoError(f"tree is inconsistent: node {uid!r} has unknown parent {n.parent_uid!r}")
        if parent.level != n.level + 1:
            raise TaxoError(
                f"tree is inconsistent: node {uid!r} (level {n.level}) has parent {parent.uid!r} at level "
                f"{parent.level}, expected level {n.level + 1}"
            )
    if _leaves_sound(tree):
        return
    seen: set[str] = set()  # (which value is wrong: the first in leaf order, as the checks below find it)
    for leaf in tree.leaves:
        parent = tree.nodes.get(leaf.parent_uid)
        if parent is None or parent.level != 1:
            raise TaxoError(f"tree is inconsistent: value {leaf.text!r} is not under a level-1 node ({leaf.parent_uid!r})")
        if leaf.text in seen:
            raise TaxoError(f"tree is inconsistent: value {leaf.text!r} appears twice")
        seen.add(leaf.text)


def _leaves_sound(tree: Tree) -> bool:
    """Every leaf under a level-1 node and no text twice: what the loops over the leaves check, here with the
    distinct parents and one set of the texts (the loops only to say which value is wrong)."""
    nodes = tree.nodes
    for uid in set(map(attrgetter("parent_uid"), tree.leaves)):
        parent = nodes.get(uid)
        if parent is None or parent.level != 1:
            return False
    return len(set(map(attrgetter("text"), tree.leaves))) == len(tree.leaves)


@without_gc  # (counters and dicts over every value: no collector passes over the tree meanwhile)
def check_tree_integrity(tree: Tree, *, check_stats: bool = True, rel_tol: float = 1e-6,
                         totals: tuple[dict[str, int], dict[str, float], float] | None = None) -> list[Violation]:
    """All violations of :data:`RULES` in ``tree`` (empty list = valid). Linear in the size of the tree.

    ``totals``: :meth:`Tree.subtree_totals` and :meth:`Tree.total_weight` of this tree as it is, when the caller
    has them (e.g. :attr:`taxonomy.edits.ApplyOutcome.totals`): the node statistics are compared with them instead
    of with sums computed again."""
    out: list[Violation] = []
    nodes = tree.nodes
    depth = tree.depth

    # one-root-path: leaves (the loops only when the distinct parents and the set of texts find a problem)
    sound_leaves = _leaves_sound(tree)
    seen: Counter[str] = Counter() if sound_leaves else Counter(map(attrgetter("text"), tree.leaves))
    for text, n in seen.items():
        if n > 1:
            out.append(Violation("one-root-path", f"value {text!r} is placed {n} times"))
    for leaf in () if sound_leaves else tree.leaves:
        parent = nodes.get(leaf.parent_uid)
        if parent is None:
            out.append(Violation("one-root-path", f"value {leaf.text!r} has unknown parent {leaf.parent_uid!r}"))
        elif parent.level != 1:
            out.append(
                Violation(
                    "one-root-path",
                    f"value {leaf.text!r} is under {_label(tree, parent.uid)} at level {parent.level}, not level 1",
                    [parent.uid],
                )
            )

    # no-cycles and parent-level
    for uid, node in nodes.items():
        if node.parent_uid is None:
            if node.level != depth:
                out.append(
                    Violation("parent-level", f"node {_label(tree, uid)} at level {node.level} has no parent", [uid])
                )
            continue
        parent = nodes.get(node.parent_uid)
        if parent is None:
            out.append(Violation("one-root-path", f"node {_label(tree, uid)} has unknown parent {node.parent_uid}", [uid]))
        elif parent.level != node.level + 1:
            out.append(
                Violation(
                    "parent-level",
                    f"node {_label(tree, uid)} at level {node.level} has parent {_label(tree, parent.uid)} at level "
                    f"{parent.level}; expected level {node.level + 1}",
                    [uid, parent.uid],
                )
            )
    state: dict[str, int] = {}
    for start in nodes:
        path: list[str] = []
        uid: str | None = start
        while uid is not None and uid in nodes and state.get(uid, 0) == 0:
            state[uid] = 1
            path.append(uid)
            uid = nodes[uid].parent_uid
        if uid is not None and state.get(uid) == 1:
            cycle = path[path.index(uid) :] if uid in path else [uid]
            out.append(Violation("no-cycles", "cycle: " + " → ".join(_label(tree, u) for u in cycle + [uid]), cycle))
        for u in path:
            state[u] = 2

    # no-empty-clusters
    n_children: Counter[str] = Counter(n.parent_uid for n in nodes.values() if n.parent_uid)
    n_children.update(map(attrgetter("parent_uid"), tree.leaves))
    for uid in nodes:
        if n_children[uid] == 0:
            out.append(Violation("no-empty-clusters", f"node {_label(tree, uid)} has no children", [uid]))

    # distinct-sibling-names
    by_parent: dict[tuple[str | None, int], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for uid, node in nodes.items():
        by_parent[(node.parent_uid, node.level)][node.name.strip().casefold()].append(uid)
    for (_, _), names in by_parent.items():
        for _name, uids in names.items():
            if len(uids) > 1:
                uids = sorted(uids)
                out.append(
                    Violation(
                        "distinct-sibling-names",
                        f"siblings share the name {nodes[uids[0]].name!r}: " + ", ".join(uids),
                        uids,
                    )
                )

    if check_stats and not out:
        out.extend(_check_stats(tree, rel_tol, totals))
    return out


def _check_stats(tree: Tree, rel_tol: float, totals=None) -> list[Violation]:
    counts, weights, total = totals if totals is not None else (*tree.subtree_totals(), tree.total_weight())
    out: list[Violation] = []
    for uid, node in tree.nodes.items():
        problems = []
        if node.member_count != counts[uid]:
            problems.append(f"member_count {node.member_count} but {counts[uid]} values under it")
        if not math.isclose(node.weight, weights[uid], rel_tol=rel_tol, abs_tol=1e-9):
            problems.append(f"weight {node.weight:g} but its values weigh {weights[uid]:g}")
        pct = 100.0 * weights[uid] / total if total > 0 else node.pct_total_occurrences
        if not math.isclose(node.pct_total_occurrences, pct, rel_tol=1e-4, abs_tol=1e-6):
            problems.append(f"pct_total_occurrences {node.pct_total_occurrences:g} but should be {pct:g}")
        if problems:
            out.append(Violation("weights-consistent", f"node {_label(tree, uid)}: " + "; ".join(problems), [uid]))
    if total > 0:
        for level in range(1, tree.depth + 1):
            s = math.fsum(n.pct_total_occurrences for n in tree.nodes_at(level))
            if not math.isclose(s, 100.0, abs_tol=1e-3):
                out.append(Violation("weights-consistent", f"pct_total_occurrences of level {level} sum to {s:g}"))
    return out


class UnsoundVersionError(TaxoError):
    """A stored version fails `taxo check` (a damaged database); it is not exported."""


def unplaced_values(session, version_id: int, tree: Tree) -> list[str]:
    """:func:`taxonomy.changesets.orphaned_values` of a stored version whose tree (:func:`taxonomy.store.read_tree`)
    is ``tree``: none when the tree holds as many values as its manifest says (without reading the memberships
    again), else what that function finds."""
    from taxonomy.store import get_version

    if (get_version(session, version_id).manifest or {}).get("n_values") == len(tree.leaves):
        return []
    from taxonomy.changesets import orphaned_values  # (loads the editing code: only when it is needed)

    return orphaned_values(session, version_id)


@without_gc
def check(version: int, *, db=None) -> CheckReport:
    """`taxo check`: verify a stored version against every integrity rule (``db``: a URL, an Engine or None)."""
    from taxonomy.db.engine import session_scope
    from taxonomy.store import read_tree

    with session_scope(db) as session:
        tree = read_tree(session, version)
        orphans = unplaced_values(session, version, tree)
    return CheckReport(
        version_id=version,
        violations=[
            Violation("one-root-path", f"value {text!r} has no place in the version (its membership is missing)")
            for text in orphans
        ]
        + check_tree_integrity(tree),
        n_nodes=len(tree.nodes),
        n_values=len(tree.leaves),
    )


def refuse_unsound(session, version_id: int, tree: Tree) -> None:
    """Raise :class:`UnsoundVersionError` unless the stored version passes every rule of `taxo check`."""
    orphans = unplaced_values(session, version_id, tree)
    violations = [Violation("one-root-path", f"value {t!r} has no place in the version") for t in orphans[:1]]
    violations += check_tree_integrity(tree)
    if violations:
        n = len(orphans) + len(violations) - min(1, len(orphans))
        v = violations[0]
        raise UnsoundVersionError(
            f"version {version_id} fails `taxo check` ({n} problem{'s' if n != 1 else ''}; first: [{v.rule}] "
            f"{v.message}); nothing was exported. Run `taxo check {version_id}` for the list"
        )
