"""Change-sets: apply operations to a base version and write the result as a new version, in one transaction.

Also: advancing branch heads (compare-and-swap) and `taxo check`; the log, history and branches are in
:mod:`taxonomy.lineage`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from taxonomy.db.engine import session_scope
from taxonomy.db.models import Branch, ChangeSet, utcnow
from taxonomy.edits import (
    Create,
    Delete,
    EditContext,
    Merge,
    Move,
    Operation,
    Reassign,
    Rename,
    Split,
    apply_operations,
    operation_from_dict,
)
from taxonomy.errors import InputError, TaxoError, UsageError
from taxonomy.gcpause import without_gc
from taxonomy.integrity import IntegrityError, check, check_tree_integrity  # noqa: F401 (check: re-exported)
from taxonomy.naming import embedder_for, name_nodes, summarizer_for
from taxonomy.normalize import MAX_SHORT_TEXT, clean_name
from taxonomy.store import get_version, read_tree, write_version


class BranchConflictError(TaxoError):
    """The branch head moved since the change-set's base version: rebase onto the new head."""

    exit_code = 3


@dataclass
class ChangeResult:
    version_id: int
    base_version_id: int
    change_set_id: int
    operations: list[dict]
    summary: str
    branch: str | None = None
    created: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def summarize_operations(ops: Sequence[Operation]) -> str:
    """A one-line summary, e.g. ``2 rename, 1 merge: rename …``."""
    from collections import Counter

    counts = Counter(op.op for op in ops)
    head = ", ".join(f"{n} {name}" for name, n in counts.items())
    first = ops[0].describe() if ops else ""
    more = f" (+{len(ops) - 1} more)" if len(ops) > 1 else ""
    return f"{head}: {first}{more}" if ops else "no operations"


@without_gc  # ~10^6 objects without cycles (two 100,000-value trees): the collector's passes cost a quarter
def apply(
    version: int,
    operations: Sequence[Operation | dict] | str | os.PathLike,
    *,
    message: str = "",
    author: str | None = None,
    source: dict | None = None,
    branch: str | None = None,
    resummarize: bool = False,
    seed: int = 0,
    cache_dir: str | None = None,
    db: str | Engine | None = None,
    kind: str = "edit",
    manifest_update: dict | None = None,
    lookup_value=None,
) -> ChangeResult:
    """Apply a change-set to ``version`` and store the result as a new version (all or nothing).

    ``kind`` and ``manifest_update`` (keys merged into the new manifest, e.g. a new coverage) serve other sources
    of change-sets such as `taxo assign`. ``place`` and ``reweigh`` operations read values from the batches the
    new version covers (``lookup_value(text) -> (value id, weight, count) | None``, default: from the database).

    ``operations``: Operation objects, dicts like ``{"op": "merge", "node": ..., "into": ...}``, or the path of a
    YAML/JSON change-set file. With ``branch``, the branch must point at ``version`` (or not exist yet) and is
    advanced to the new version atomically; if another change moved it first, :class:`BranchConflictError`.
    """
    from taxonomy.tree import content_checksum

    path = None
    if isinstance(operations, str | os.PathLike):
        path = Path(operations)
        file_ops, file_message = load_changeset_file(path)
        ops = file_ops
        message = message or file_message
        source = source or {"kind": "cli", "file": str(path)}
    else:
        ops = [
            op if isinstance(op, Operation) else operation_from_dict(op, where=f"operation {i + 1}: ")
            for i, op in enumerate(operations)
        ]
    if not ops:
        raise UsageError("the change-set has no operations")
    if "\x00" in (message or ""):
        raise UsageError("the message contains a NUL character")
    if author is not None:
        try:
            author = clean_name(author, what="--author", limit=MAX_SHORT_TEXT)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    with session_scope(db) as session:
        base = get_version(session, version)
        manifest = dict(base.manifest)
        tree = read_tree(session, version)
        if branch is not None:
            head = session.get(Branch, branch)
            if head is not None and head.head_version_id != version:
                raise BranchConflictError(
                    f"branch {branch!r} is at version {head.head_version_id}, not {version}: rebase your change-set "
                    f"onto it (taxo apply {head.head_version_id} ... --branch {branch})"
                )

    embedder = None

    def embed(texts):
        nonlocal embedder
        if embedder is None:
            embedder = embedder_for(manifest, cache_dir)
        return embedder.embed(list(texts))

    new_base = {**{k: v for k, v in manifest.items() if k not in ("kind", "change_set")}, **(manifest_update or {})}
    from taxonomy.coverage import check_reweigh, coverage_lookup

    check_reweigh(ops, new_base, version)
    if lookup_value is None and any(op.op in ("place", "reweigh", "create") for op in ops):
        lookup_value = coverage_lookup(new_base, db)
    summarizer = summarizer_for(manifest, db)
    ctx = EditContext(
        base_version_id=version,
        id_prefix=manifest.get("id_prefix", "values"),
        seed=seed,
        resummarize=resummarize,
        embed=embed,
        summarizer=summarizer,
        lookup_value=lookup_value,
    )
    try:
        outcome = apply_operations(tree, ops, ctx)
    except UsageError as exc:  # EditError, NotFoundError: "changes.yaml, operation 1 (rename ...): ..."
        if path is None or isinstance(exc, IntegrityError):
            raise
        try:
            located = type(exc)(f"{path}, {exc}")
        except TypeError:  # pragma: no cover - an error class with another signature
            located = UsageError(f"{path}, {exc}")
        raise located from None
    new_tree = outcome.tree
    violations = check_tree_integrity(new_tree, totals=outcome.totals)  # (the sums the statistics were set from)
    where = f"the change-set {path} on version {version}" if path else f"the change-set on version {version}"
    if violations:
        raise IntegrityError(violations, context=where)
    to_name = set(outcome.unnamed)
    if resummarize:
        to_name |= {u for u in outcome.touched if u in new_tree.nodes}
        to_name |= set(outcome.created)
    # new split parts named by the user but not described get the summarizer's description (their name stays)
    to_describe = frozenset(u for u in outcome.undescribed if u not in to_name)
    if to_name or to_describe:
        summarizer.preflight()  # a language model: check key and server before naming anything
        vectors = embed([leaf.text for leaf in new_tree.leaves])
        name_nodes(new_tree, sorted(to_name | to_describe), vectors, summarizer, describe_only=to_describe,
                   embedder=embedder)
        violations = check_tree_integrity(new_tree)
        if violations:  # pragma: no cover - naming keeps names distinct
            raise IntegrityError(violations, context=where)

    op_dicts = [op.to_dict() for op in ops]
    summary = summarize_operations(ops)
    new_manifest = {
        **new_base,
        "kind": kind,
        "base_version": version,
        "change_set": {"operations": op_dicts, "summary": summary, "resummarize": resummarize},
    }
    if len(new_tree.leaves) != len(tree.leaves) or any(op.op == "reweigh" for op in ops):
        import math

        new_manifest["n_values"] = len(new_tree.leaves)
        new_manifest["total_weight"] = math.fsum(leaf.weight for leaf in new_tree.leaves)
    source = source or {"kind": "api"}
    try:
        with session_scope(db) as session:
            if branch is not None:  # claim the branch first: a refused attempt takes no version id
                _claim_branch(session, branch, version)
            new_id = write_version(
                session,
                new_tree,
                kind=kind,
                message=message or summary,
                manifest=new_manifest,
                checksum=lambda: content_checksum(new_tree),  # (while the database takes in the memberships)
                parent_id=version,
                author=author,
            )
            cs = ChangeSet(
                base_version_id=version,
                version_id=new_id,
                author=author,
                source=source,
                operations=op_dicts,
                summary=summary,
            )
            session.add(cs)
            session.flush()
            if branch is not None:
                _advance_branch(session, branch, version, new_id)
            cs_id = cs.id
    except SAIntegrityError as exc:
        if branch is not None:
            raise BranchConflictError(
                f"branch {branch!r} was created or moved by another change at the same time; rebase onto its head"
            ) from exc
        raise
    return ChangeResult(
        version_id=new_id,
        base_version_id=version,
        change_set_id=cs_id,
        operations=op_dicts,
        summary=summary,
        branch=branch,
        created=outcome.created,
    )


def _claim_branch(session, name: str, expected: int) -> None:
    """Lock the branch row (or create it at ``expected``) before the new version is inserted, so that a change
    refused because the branch moved allocates no version id. Raises :class:`BranchConflictError`."""
    res = session.execute(
        update(Branch).where(Branch.name == name, Branch.head_version_id == expected).values(updated_at=utcnow())
    )
    if res.rowcount == 1:
        return
    current = session.get(Branch, name)
    if current is None:
        session.execute(insert(Branch).values(name=name, head_version_id=expected, updated_at=utcnow()))
        session.flush()
        return
    raise BranchConflictError(
        f"branch {name!r} moved to version {current.head_version_id} while this change-set was applied to version "
        f"{expected}; nothing was written. Rebase: apply your change-set to version {current.head_version_id}"
    )


def _advance_branch(session, name: str, expected: int, new: int) -> None:
    """Compare-and-swap: move ``name`` from ``expected`` to ``new``; create it if it does not exist."""
    res = session.execute(
        update(Branch)
        .where(Branch.name == name, Branch.head_version_id == expected)
        .values(head_version_id=new, updated_at=utcnow())
    )
    if res.rowcount == 1:
        return
    current = session.get(Branch, name)
    if current is None:
        session.execute(insert(Branch).values(name=name, head_version_id=new, updated_at=utcnow()))
        return
    raise BranchConflictError(
        f"branch {name!r} moved to version {current.head_version_id} while this change-set was applied to version "
        f"{expected}; nothing was written. Rebase: apply your change-set to version {current.head_version_id}"
    )


def load_changeset_file(path: Path) -> tuple[list[Operation], str]:
    """Read a YAML (or JSON) change-set: ``{message: ..., operations: [{op: rename, node: ..., name: ...}, ...]}``
    or just the list of operations. Errors name the file and the operation."""
    import yaml

    if not path.exists():
        raise InputError(str(path), "no such file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text ({exc.reason})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())  # one line
        raise InputError(str(path), f"not valid YAML: {problem}", line=mark.line + 1 if mark else None) from None
    message = ""
    if isinstance(data, dict):
        message = str(data.get("message") or "")
        unknown = set(data) - {"message", "operations"}
        if unknown:
            raise InputError(str(path), f"unknown key(s) {', '.join(sorted(unknown))}; expected message, operations")
        data = data.get("operations")
    if not isinstance(data, list) or not data:
        raise InputError(str(path), "expected a non-empty list of operations (under 'operations:')")
    ops = []
    for i, item in enumerate(data):
        try:
            ops.append(operation_from_dict(item, where=""))
        except UsageError as exc:
            raise InputError(str(path), str(exc), field=f"operations[{i + 1}]") from None
    return ops, message


def load_groups(path: str | os.PathLike) -> list:
    """The groups of a split from a JSON file (`taxo edit V split NODE --groups FILE`): a list of
    ``{name, description, members}`` or ``{"groups": [...]}``. Errors name the file (and the line)."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(path), "no such file") from None
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"invalid JSON: {exc.msg}", line=exc.lineno) from None
    if isinstance(data, dict):
        data = data.get("groups")
    if not isinstance(data, list):
        raise InputError(str(path), "expected a list of groups (or {\"groups\": [...]})")
    return data


# ----------------------------------------------------------------------------------------------- one-op helpers
def _one(version, op, **kw) -> ChangeResult:
    kw.setdefault("source", {"kind": kw.pop("source_kind", "api")})
    return apply(version, [op], **kw)


def rename(version: int, node: str, name: str | None = None, *, description: str | None = None, **kw) -> ChangeResult:
    """Rename a node and/or rewrite its description. Keeps the node id."""
    return _one(version, Rename(node=node, name=name, description=description), **kw)


def merge(version: int, node: str, *, into: str, **kw) -> ChangeResult:
    """Merge ``node`` into ``into`` (same level): its children and values move to the survivor."""
    return _one(version, Merge(node=node, into=into), **kw)


def move(version: int, node: str, *, to: str, **kw) -> ChangeResult:
    """Move ``node`` under a new parent one level up."""
    return _one(version, Move(node=node, to=to), **kw)


def split(version: int, node: str, *, k: int | None = None, groups: list[dict] | None = None, **kw) -> ChangeResult:
    """Split ``node`` into k new siblings by re-clustering its members, or into the given ``groups``."""
    return _one(version, Split(node=node, k=k, groups=groups), **kw)


def create(
    version: int,
    *,
    level: int,
    name: str,
    parent: str | None = None,
    description: str | None = None,
    children: list[str] | None = None,
    **kw,
) -> ChangeResult:
    """Create a node at ``level`` under ``parent``, taking ``children`` (node ids; value texts at level 1)."""
    return _one(version, Create(level=level, name=name, parent=parent, description=description, children=children), **kw)


def delete(version: int, node: str, *, reassign_to: str, **kw) -> ChangeResult:
    """Delete ``node``; everything under it moves to ``reassign_to`` (same level). Nothing is lost."""
    return _one(version, Delete(node=node, reassign_to=reassign_to), **kw)


def reassign(version: int, value: str, *, to: str, **kw) -> ChangeResult:
    """Move a value to another level-1 node."""
    return _one(version, Reassign(value=value, to=to), **kw)


# ------------------------------------------------------------------------------------------------ check, log, ...
# `taxo check` is taxonomy.integrity.check (imported above), which loads less than this module


def orphaned_values(session, version: int) -> list[str]:
    """Values whose membership is missing: when the version holds fewer memberships than its manifest's
    ``n_values``, the values it covers (its batches, role and conversation threshold: :mod:`taxonomy.coverage`)
    that have no membership and are not waiting in its novelty queue (sorted). Covered values that a version
    simply does not hold yet (new batches before `taxo assign`, values taken out with ``unplace``) are not orphans."""
    from taxonomy.coverage import coverage_of_manifest, coverage_totals
    from taxonomy.db.models import Membership

    manifest = get_version(session, version).manifest or {}
    placed = set(session.scalars(select(Membership.value_id).where(Membership.version_id == version)))
    if manifest.get("n_values") == len(placed):
        return []  # every value the version says it holds has its membership; the rest of its coverage is pending
    covered = {t.id: t.text for t in coverage_totals(session, coverage_of_manifest(manifest))}
    queued = {m["value"] for g in ((manifest.get("novelty") or {}).get("groups") or []) for m in g["members"]}
    return sorted(t for vid, t in covered.items() if vid not in placed and t not in queued)
