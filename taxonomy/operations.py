"""The edit operations on a tree's nodes, as data: what each asks for, and how it reads in messages.

They are applied by :mod:`taxonomy.edits` (which also parses them from change-set entries); the operations on the
version's values (``place``, ``unplace``, ``reweigh``) are in :mod:`taxonomy.edits_values`. A subclass names its
operation and its one-line description in its class line::

    class Merge(Operation, op="merge", summary="merge {node} into {into}"): ...
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from taxonomy.errors import UsageError


class EditError(UsageError):
    """An operation that cannot apply (unknown node, merge into itself, ...). Nothing is written."""

    def __init__(self, message: str, *, op_index: int | None = None, op: "Operation | None" = None):
        self.op_index = op_index
        prefix = ""
        if op_index is not None:
            prefix = f"operation {op_index + 1}"
            if op is not None:
                prefix += f" ({op.describe()})"
            prefix += ": "
        super().__init__(prefix + message)


@dataclass
class Operation:
    """Base class. ``op`` names the operation in change-set files; fields are its arguments."""

    op: ClassVar[str]
    structural: ClassVar[bool] = True  #: changes membership (merge/split/delete/...): may re-summarize
    summary: ClassVar[str] = ""  #: :meth:`describe` as a format string over the fields ("" : the generic form)

    def __init_subclass__(cls, *, op: str | None = None, summary: str | None = None, structural: bool | None = None,
                          **kwargs):
        super().__init_subclass__(**kwargs)
        if op is not None:
            cls.op = op
        if summary is not None:
            cls.summary = summary
        if structural is not None:
            cls.structural = structural

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, **{k: v for k, v in asdict(self).items() if v is not None}}

    def describe(self) -> str:
        if self.summary:
            return self.summary.format_map(vars(self))
        args = ", ".join(f"{k}={v!r}" for k, v in asdict(self).items() if v is not None)
        return f"{self.op} {args}"


@dataclass
class Rename(Operation, op="rename", structural=False):
    """A new name and/or description for ``node``."""

    node: str
    name: str | None = None
    description: str | None = None

    def describe(self) -> str:
        parts = [f"rename {self.node}"]
        if self.name is not None:
            parts.append(f"to {self.name!r}")
        if self.description is not None:
            parts.append("(new description)")
        return " ".join(parts)


@dataclass
class Merge(Operation, op="merge", summary="merge {node} into {into}"):
    """The children (or values) of ``node`` go to ``into``, on the same level; ``node`` is retired."""

    node: str
    into: str  #: a node of the same level


@dataclass
class Move(Operation, op="move", summary="move {node} under {to}"):
    """``node`` gets the parent ``to`` (one level up)."""

    node: str
    to: str


@dataclass
class Split(Operation, op="split"):
    """``node`` becomes ``k`` nodes (clustered), or the given ``groups`` of its members."""

    node: str
    k: int | None = None
    #: [{"name": optional, "description": optional, "members": [...], "keep": optional}, ...]; the one group with
    #: ``"keep": true`` stays the node itself (same id; its name and description unless given), the others are new
    groups: list[dict] | None = None

    def describe(self) -> str:
        how = f"into {self.k}" if self.groups is None else f"into {len(self.groups)} given groups"
        return f"split {self.node} {how}"


@dataclass
class Create(Operation, op="create", summary="create {name!r} at level {level}"):
    """A new node at ``level`` under ``parent``, optionally with ``children`` (nodes, or values at level 1)."""

    level: int
    name: str
    parent: str | None = None
    description: str | None = None
    children: list[str] | None = None


@dataclass
class Delete(Operation, op="delete", summary="delete {node} (reassign to {reassign_to})"):
    """``node`` is retired; its children (or values) go to ``reassign_to``, on the same level."""

    node: str
    reassign_to: str


@dataclass
class Reassign(Operation, op="reassign", summary="reassign {value!r} to {to}"):
    """The value ``value`` of the version goes under the level-1 node ``to``."""

    value: str  #: a value of the version, as given or normalized
    to: str
