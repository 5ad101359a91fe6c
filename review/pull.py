"""From Label Studio annotations to change-set operations.

1. :func:`decide` reads one annotation's result (see :mod:`review.config`) into a :class:`Decision`: approve,
   change (rename, re-describe, merge, move, split), flag, or invalid (with the reason), comparing against what was
   pushed (the task payload), so that a pre-filled field left as it was changes nothing.
2. :func:`settle` groups the decisions by node: the latest annotation of each annotator counts; when annotators
   disagree the node is a conflict unless ``resolve`` is ``"latest"`` (the most recently updated annotation wins)
   or ``"majority"`` (the decision most annotators made wins; a tie stays a conflict).
3. :func:`plan` turns the winning decisions into operations against the base version and tries them one by one on
   a working copy of its tree, so that each one that cannot apply (target merged away meanwhile, a cycle, a sibling
   name clash, an empty parent left behind, ...) is reported with its own reason while the others go on.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from review import config as C
from taxonomy.domain import Tree
from taxonomy.errors import UsageError
from taxonomy.normalize import normalize_value

RESOLVE_MODES = ("latest", "majority")


@dataclass
class Decision:
    """What one annotation asks for one node."""

    annotation_id: int
    task_id: int  #: Label Studio task id
    node: str  #: node uid
    annotator: str
    annotator_id: int | None
    updated_at: str
    kind: str  #: approve | change | flag | invalid | skipped
    name: str | None = None
    description: str | None = None
    merge_into: str | None = None
    move_to: str | None = None
    split: list[dict] | None = None  #: [{"name": str | None, "members": [member keys]}, ...]
    comment: str = ""
    reason: str = ""  #: why an annotation is invalid

    def signature(self) -> str:
        """Two decisions with the same signature ask for the same thing (comments do not count)."""
        if self.kind in ("approve", "flag", "skipped", "invalid"):
            return self.kind
        split = None
        if self.split is not None:
            split = sorted([g.get("name") or "", sorted(g["members"])] for g in self.split)
        return json.dumps([self.name, self.description, self.merge_into, self.move_to, split], ensure_ascii=False)

    def describe(self, names: dict[str, str] | None = None) -> str:
        names = names or {}

        def nm(uid):
            return repr(names.get(uid, uid))

        if self.kind == "approve":
            return "approve"
        if self.kind == "flag":
            return "flag" + (f": {self.comment}" if self.comment else "")
        if self.kind in ("invalid", "skipped"):
            return self.kind
        parts = []
        if self.name is not None:
            parts.append(f"rename to {self.name!r}")
        if self.description is not None:
            parts.append("new description")
        if self.merge_into:
            parts.append(f"merge into {nm(self.merge_into)}")
        if self.move_to:
            parts.append(f"move under {nm(self.move_to)}")
        if self.split is not None:
            parts.append(f"split into {len(self.split)} listed group(s) + the rest")
        return ", ".join(parts)


class Refusal(UsageError):
    """An annotation that cannot become operations (or whose operations cannot apply)."""


# ---------------------------------------------------------------------------------------------------- decide
def _fields(result: list[dict]) -> dict[str, list]:
    """{from_name: [values]}: text areas -> their texts, choices -> the chosen values."""
    out: dict[str, list] = defaultdict(list)
    for item in result or []:
        if not isinstance(item, dict):
            continue
        value = item.get("value") or {}
        name = item.get("from_name")
        if "text" in value:
            texts = value["text"]
            out[name] += [texts] if isinstance(texts, str) else list(texts or [])
        elif "choices" in value:
            out[name] += list(value["choices"] or [])
    return out


def _last_text(values: list) -> str | None:
    texts = [str(t).strip() for t in values if str(t).strip()]
    return texts[-1] if texts else None


def _one(choices: list, none: str, what: str) -> str:
    """The one choice made (Refusal ``none`` when there is none, or when there are several)."""
    if not choices:
        raise Refusal(none)
    if len(choices) > 1:
        raise Refusal(f"more than one {what} is chosen")
    return choices[0]


def _option(choice: str, options: list[dict], what: str) -> str:
    for o in options:
        if choice == o.get("value") or choice == o.get("alias"):
            return o["alias"]
    raise Refusal(f"{what} {choice!r} is not one of the options the task offered")


_RANGE = re.compile(r"^#?(\d+)\s*[-–]\s*#?(\d+)$")
_NUMBER = re.compile(r"^#?(\d+)$")


def parse_split(text: str, member_keys: list[str], member_names: list[str]) -> list[dict]:
    """``New name: 1, 4-6, exact member`` per line → ``[{"name": ..., "members": [keys]}]``. Members by number
    (as listed in the task) or by exact text (values) / name (child nodes); a line without ``:`` is an unnamed
    group (the summarizer names it). Raises :class:`Refusal` naming the line and the problem."""
    lookup: dict[str, str] = {}
    for key, name in zip(member_keys, member_names, strict=True):
        lookup.setdefault(name.strip().casefold(), key)
        lookup.setdefault(normalize_value(name), key)
        lookup.setdefault(key.strip().casefold(), key)
    groups: list[dict] = []
    seen: dict[str, int] = {}
    lines = [ln.strip() for ln in text.splitlines()]
    for lineno, line in enumerate(lines, start=1):
        if not line or line.startswith("#") and not _NUMBER.match(line) and not _RANGE.match(line):
            continue
        name: str | None = None
        refs_text = line
        if ":" in line:
            name, refs_text = line.rsplit(":", 1)
            name = name.strip() or None
        refs = [r.strip() for r in re.split(r"[,;]", refs_text) if r.strip()]
        if not refs:
            raise Refusal(f"split, line {lineno} ({line!r}): the group lists no members")
        members: list[str] = []
        for ref in refs:
            keys: list[str] = []
            m_range, m_num = _RANGE.match(ref), _NUMBER.match(ref)
            if m_range or m_num:
                lo, hi = (int(m_range.group(1)), int(m_range.group(2))) if m_range else (int(m_num.group(1)),) * 2
                if not (1 <= lo <= hi <= len(member_keys)):
                    raise Refusal(
                        f"split, line {lineno}: member number {ref!r} is not between 1 and {len(member_keys)} "
                        "(the numbered members of the task)"
                    )
                keys = member_keys[lo - 1 : hi]
            else:
                key = lookup.get(ref.casefold()) or lookup.get(normalize_value(ref))
                if key is None:
                    raise Refusal(
                        f"split, line {lineno}: {ref!r} is neither a member number nor a listed member "
                        "(use the numbers shown in the task)"
                    )
                keys = [key]
            for k in keys:
                if k in seen:
                    raise Refusal(f"split, line {lineno}: member {k!r} is already in the group of line {seen[k]}")
                seen[k] = lineno
                members.append(k)
        groups.append({"name": name, "members": members})
    return groups


def decide(annotation: dict, task: dict, payload: dict, annotator_names: dict[int, str] | None = None) -> Decision:
    """One annotation (Label Studio JSON) of a task → a :class:`Decision`. ``payload`` is what push stored.

    The chosen action (:data:`review.config.ACTION`) decides which fields count: Rename reads the name and
    description, Merge and Move their target, Split its groups (and the name and description of the members left
    in the node), Flag the comment; anything else in the result is ignored. An annotation without an action (a
    project pushed before the one-action config) is read the old way (:func:`decide_legacy`)."""
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who_id = who.get("id")
        who_name = who.get("email") or f"user {who_id}"
    else:
        who_id = who
        who_name = (annotator_names or {}).get(who, f"user {who}") if who is not None else "unknown"
    d = Decision(
        annotation_id=int(annotation["id"]),
        task_id=int(task["id"]),
        node=payload["node"],
        annotator=who_name,
        annotator_id=who_id,
        updated_at=str(annotation.get("updated_at") or annotation.get("created_at") or ""),
        kind="approve",
    )
    if annotation.get("was_cancelled"):
        d.kind = "skipped"
        return d
    f = _fields(annotation.get("result") or [])
    actions = [a for a in f.get(C.ACTION, []) if str(a).strip()]
    if not actions:
        return decide_legacy(d, f, payload)
    action = str(actions[-1]).strip()
    d.comment = _last_text(f.get(C.COMMENT if action == C.FLAG else C.NOTE, [])) or ""
    data = payload["data"]
    try:
        if len(set(actions)) > 1:
            raise Refusal(f"more than one action is chosen ({', '.join(map(repr, actions))})")
        if action == C.APPROVE:
            return d
        if action == C.FLAG:  # the editor requires the comment; one sent through the API without it still flags
            d.kind = "flag"
            return d
        if action in (C.RENAME, C.SPLIT_ACTION):
            _read_rename(d, f, payload)
        if action == C.RENAME:
            if d.name is None and d.description is None:
                raise Refusal("Rename is chosen but the name and the description are unchanged")
        elif action == C.MERGE:
            merge = _one(f.get(C.MERGE_INTO, []), "Merge is chosen but no node to merge into", "merge target")
            d.merge_into = _option(merge, data.get("merge_options", []), "merge target")
            if d.merge_into == d.node:
                raise Refusal("the node cannot be merged into itself")
        elif action == C.MOVE:
            move = _one(f.get(C.MOVE_TO, []), "Move is chosen but no new parent", "new parent")
            target = _option(move, data.get("move_options", []), "new parent")
            if target == payload.get("parent"):
                raise Refusal("Move is chosen but the new parent is the current one")
            d.move_to = target
        elif action == C.SPLIT_ACTION:
            d.split = split_groups(f, payload)
        else:
            raise Refusal(f"unknown action {action!r} (expected one of {', '.join(C.ACTIONS)})")
    except Refusal as exc:
        d.kind, d.reason = "invalid", str(exc)
        d.name = d.description = d.merge_into = d.move_to = d.split = None
        return d
    d.kind = "change"
    return d


def _read_rename(d: Decision, f: dict[str, list], payload: dict) -> None:
    name = _last_text(f.get(C.NEW_NAME, []))
    if name is not None and name != payload["name"].strip():
        d.name = name
    desc = _last_text(f.get(C.NEW_DESCRIPTION, []))
    if desc is not None and desc != (payload.get("description") or "").strip():
        d.description = desc


_LABEL_NUMBER = re.compile(r"^(\d+)\.\s")


def split_groups(f: dict[str, list], payload: dict) -> list[dict]:
    """The ticked split groups → ``[{"name": ..., "members": [keys]}]``, checked against the task: every ticked
    member is one of its numbered members and in one group only; a named group has members; names are distinct and
    not the node's own name when members stay in the node."""
    keys = payload.get("member_keys", [])
    groups: list[dict] = []
    seen: dict[str, int] = {}
    for g in range(1, C.SPLIT_GROUPS + 1):
        name = _last_text(f.get(C.SPLIT_NAME.format(g), []))
        ticked = f.get(C.SPLIT_MEMBERS.format(g), [])
        if not ticked:
            if name is not None:
                raise Refusal(f"split group {g} ({name!r}) has a name but no member is ticked")
            continue
        members = []
        for choice in ticked:
            text = str(choice).strip()
            m = _LABEL_NUMBER.match(text)
            number = int(text) if text.isdigit() else int(m.group(1)) if m else None
            if number is None or not 1 <= number <= len(keys):
                raise Refusal(f"split group {g}: {text!r} is not one of the task's {len(keys)} numbered members")
            key = keys[number - 1]
            if key in seen:
                raise Refusal(f"split: member {number} ({key!r}) is ticked in group {seen[key]} and in group {g}")
            seen[key] = g
            members.append(key)
        groups.append({"name": name, "members": members})
    if not groups:
        raise Refusal("Split is chosen but no member is ticked into a new group")
    names = [g["name"].casefold() for g in groups if g["name"]]
    if len(set(names)) < len(names):
        raise Refusal("split: two new groups have the same name")
    return groups


def decide_legacy(d: Decision, f: dict[str, list], payload: dict) -> Decision:
    """An annotation of the earlier config (checkboxes for merge and move, a split text box, a decision)."""
    d.comment = _last_text(f.get(C.COMMENT, [])) or ""
    data = payload["data"]
    flagged = C.LEGACY_FLAG in f.get(C.DECISION, [])
    try:
        _read_rename(d, f, payload)
        merge = f.get(C.MERGE_INTO, [])
        if len(merge) > 1:
            raise Refusal("more than one merge target is chosen")
        if merge:
            d.merge_into = _option(merge[0], data.get("merge_options", []), "merge target")
        move = f.get(C.MOVE_TO, [])
        if len(move) > 1:
            raise Refusal("more than one new parent is chosen")
        if move:
            target = _option(move[0], data.get("move_options", []), "new parent")
            if target != payload.get("parent"):
                d.move_to = target
        split_text = "\n".join(str(t) for t in f.get(C.SPLIT, []) if str(t).strip())
        if split_text.strip():
            d.split = parse_split(split_text, payload.get("member_keys", []), payload.get("member_names", []))
            if not d.split:
                d.split = None
        if d.merge_into and (d.move_to or d.split is not None or d.name is not None or d.description is not None):
            raise Refusal(
                "the annotation merges the node and also renames, moves or splits it; a merged node disappears: "
                "choose either the merge or the other changes"
            )
        if d.merge_into and d.merge_into == d.node:
            raise Refusal("the node cannot be merged into itself")
    except Refusal as exc:
        if flagged:  # flagged: nothing is applied anyway, so nothing to refuse
            d.kind = "flag"
            return d
        d.kind, d.reason = "invalid", str(exc)
        return d
    if flagged:
        d.kind = "flag"
    elif any(x is not None for x in (d.name, d.description, d.merge_into, d.move_to, d.split)):
        d.kind = "change"
    return d


# ---------------------------------------------------------------------------------------------------- settle
@dataclass
class Settled:
    """The outcome for one node (task)."""

    task_id: int
    node: str
    winner: Decision | None
    status: dict[int, tuple[str, str]] = field(default_factory=dict)  #: annotation id -> (status, reason)
    conflict: str = ""  #: why the node is a conflict ("" when it is not)
    votes: list[Decision] = field(default_factory=list)  #: the latest valid decision of each reviewer
    decisions: list[Decision] = field(default_factory=list)  #: every annotation of the task

    @property
    def agreeing(self) -> list[Decision]:
        """The votes that ask for the same as the winner (the winner included)."""
        if self.winner is None:
            return []
        sig = self.winner.signature()
        return [d for d in self.votes if d.signature() == sig]


def settle(decisions: list[Decision], resolve: str | None = None) -> list[Settled]:
    """Per task: the decision to apply (or none: a conflict, or nothing valid), and every annotation's status."""
    if resolve is not None and resolve not in RESOLVE_MODES:
        raise UsageError(f"--resolve must be one of {', '.join(RESOLVE_MODES)}, got {resolve!r}")
    by_task: dict[int, list[Decision]] = defaultdict(list)
    for d in decisions:
        by_task[d.task_id].append(d)
    out = []
    for task_id in sorted(by_task):
        ds = by_task[task_id]
        s = Settled(task_id=task_id, node=ds[0].node, winner=None, decisions=list(ds))
        latest_by_annotator: dict[object, Decision] = {}
        for d in sorted(ds, key=lambda d: (d.updated_at, d.annotation_id)):
            if d.kind == "skipped":
                s.status[d.annotation_id] = ("skipped", "the reviewer skipped the task")
                continue
            if d.kind == "invalid":
                s.status[d.annotation_id] = ("refused", d.reason)
                continue
            key = d.annotator_id if d.annotator_id is not None else d.annotator
            prev = latest_by_annotator.get(key)
            if prev is not None:
                s.status[prev.annotation_id] = (
                    "superseded", f"replaced by annotation {d.annotation_id} of the same reviewer")
            latest_by_annotator[key] = d
        votes = sorted(latest_by_annotator.values(), key=lambda d: (d.updated_at, d.annotation_id))
        s.votes = votes
        if not votes:
            out.append(s)
            continue
        sigs = Counter(d.signature() for d in votes)
        if len(sigs) == 1:
            s.winner = votes[-1]
        else:
            variants = "; ".join(f"{d.annotator}: {d.describe()}" for d in votes)
            if resolve == "latest":
                s.winner = votes[-1]
            elif resolve == "majority":
                (top, n_top), *rest = sigs.most_common()
                if rest and rest[0][1] == n_top:
                    s.conflict = f"reviewers disagree and there is no majority ({variants})"
                else:
                    s.winner = [d for d in votes if d.signature() == top][-1]
            else:
                s.conflict = f"reviewers disagree ({variants}); use --resolve latest|majority to pick one"
            if s.conflict:
                for d in votes:
                    s.status[d.annotation_id] = ("conflict", s.conflict)
        if s.winner is not None:
            for d in votes:
                if d.annotation_id != s.winner.annotation_id and d.signature() != s.winner.signature():
                    s.status[d.annotation_id] = (
                        "superseded",
                        f"conflict resolved ({resolve}) in favour of annotation {s.winner.annotation_id}",
                    )
        out.append(s)
    return out


# ------------------------------------------------------------------------------------------------------ plan
def members_of(tree: Tree, uid: str) -> list[str]:
    """The node's members: value texts under a level-1 node, child node ids above."""
    if tree.nodes[uid].level == 1:
        return [leaf.text for leaf in tree.leaves if leaf.parent_uid == uid]
    return [n.uid for n in tree.nodes.values() if n.parent_uid == uid]


def operations_for(d: Decision, tree: Tree, members: list[str] | None = None) -> list[dict]:
    """The change-set operations for a decision, against ``tree`` (the base the change-set applies to).
    ``members``: the node's members when the operations run (after earlier merges into it), for a split."""
    if d.kind != "change":
        return []
    if d.node not in tree.nodes:
        tomb = tree.tombstones.get(d.node)
        how = f"it was {tomb.reason} in version {tomb.version_id}" if tomb else "it is not in the base version"
        raise Refusal(f"node {d.node} no longer exists: {how}")
    if d.merge_into:
        return [{"op": "merge", "node": d.node, "into": d.merge_into}]
    ops: list[dict] = []
    if d.move_to:
        ops.append({"op": "move", "node": d.node, "to": d.move_to})
    if d.split is not None:
        current = members if members is not None else members_of(tree, d.node)
        listed = {m for g in d.split for m in g["members"]}
        rest = [m for m in current if m not in listed]
        groups = [{"name": g.get("name"), "members": list(g["members"])} for g in d.split]
        node = tree.nodes[d.node]
        if rest:  # the members not listed stay in the node, which keeps its id
            groups.append({"name": d.name or node.name, "description": d.description if d.description is not None
                           else node.description, "members": rest, "keep": True})
        elif d.name is not None or d.description is not None:
            raise Refusal("the split lists every member, so nothing keeps the node: a rename has nothing to rename")
        if len(groups) < 2:
            raise Refusal("a split needs at least two groups (list some members, the rest stay together)")
        for g in groups:
            if g.get("name") is None:
                g.pop("name")
            if g.get("description") is None:
                g.pop("description", None)
        ops.append({"op": "split", "node": d.node, "groups": groups})
        return ops
    if d.name is not None or d.description is not None:
        op = {"op": "rename", "node": d.node}
        if d.name is not None:
            op["name"] = d.name
        if d.description is not None:
            op["description"] = d.description
        ops.append(op)
    return ops


@dataclass
class Planned:
    decision: Decision
    operations: list[dict]


@dataclass
class PlanResult:
    applicable: list[Planned]
    refused: list[tuple[Decision, str]]


def plan(tree: Tree, decisions: list[Decision], *, base_version_id: int, id_prefix: str = "values") -> PlanResult:
    """Try each decision's operations, in order, on a working copy of ``tree``; one that cannot apply is refused
    with its reason and leaves the copy as it was. Finally the integrity rules are checked on the result; a
    decision that leaves a rule broken (e.g. the last child moved out of a parent) is refused too
    (:func:`taxonomy.edits.plan`)."""
    from taxonomy.edits import OPERATIONS, EditContext
    from taxonomy.edits import plan as plan_steps

    def step(d: Decision):
        def operations(work) -> list:  # against the tree as the decisions before left it (a Refusal refuses)
            members = work.members(d.node) if d.split is not None and d.node in work.tree.nodes else None
            return [OPERATIONS[op["op"]](**{k: v for k, v in op.items() if k != "op"})
                    for op in operations_for(d, work.tree, members)]
        return operations

    applicable, refused = plan_steps(tree, [step(d) for d in decisions],
                                     EditContext(base_version_id=base_version_id, id_prefix=id_prefix))
    return PlanResult([Planned(decisions[i], [op.to_dict() for op in ops]) for i, ops in applicable],
                      [(decisions[i], why) for i, why in refused])


def decision_dict(d: Decision) -> dict:
    return {k: v for k, v in asdict(d).items() if v not in (None, "", [])}
