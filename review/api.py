"""`taxo review push/status/pull`: review the nodes of a version in Label Studio and bring the annotations back as
one change-set, i.e. one new version. This module holds the pull and exports all three (push is in
:mod:`review.push`, status in :mod:`review.status`, the novelty queue's review in :mod:`review.novelty`).

The database stays the source of truth: a :class:`~taxonomy.db.models.ReviewBatch` remembers the Label Studio URL
(never the token) and project, a :class:`~taxonomy.db.models.ReviewTask` each task ↔ node pair with what a pull
needs to read the task's annotations (the node's name and description as pushed, the options offered, the numbered
members), a :class:`~taxonomy.db.models.ReviewAnnotation` each annotation pulled (its result and the decision read
from it) and what became of it:

==============  ===========================================================================================
status          meaning
==============  ===========================================================================================
``applied``     its operations are in version ``applied_version_id``
``approved``    the reviewer approved the node as it is (nothing to change)
``flagged``     flagged for discussion; nothing applied (its comment is reported)
``conflict``    reviewers disagree on the node; nothing applied (``--resolve latest|majority`` picks one)
``refused``     cannot apply, with the reason (re-tried on the next pull)
``superseded``  replaced by a later annotation of the same reviewer, or outvoted by ``--resolve``
``skipped``     the reviewer skipped (cancelled) the task
==============  ===========================================================================================

Pulling again applies nothing twice: the change-sets written by earlier pulls of the batch name their
annotations (``source.annotations``), and those are never applied again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, select, update

from review import ls_ui
from review.labelstudio import LabelStudioClient, LabelStudioError, RetryPolicy
from review.pull import Decision, Planned, Refusal, Settled, decision_dict, operations_for, plan, settle
from review.push import PushResult, push
from review.status import (
    Batch,
    BatchInfo,
    BatchStatus,
    applied_by_changesets,
    batches,
    client_for,
    fetch_annotations,
    load_batch,
    result_hash,
    status,
)
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ReviewAnnotation, ReviewBatch, Version, utcnow
from taxonomy.edit_state import EditState
from taxonomy.errors import TaxoError, UsageError
from taxonomy.store import get_version, read_tree

__all__ = ["BatchInfo", "BatchStatus", "ChangeTarget", "PullItem", "PullReport", "PushResult", "ReviewBusyError", "batches", "pull",
           "push", "status"]

FINAL = {"applied", "approved", "flagged", "superseded", "skipped"}


class ReviewBusyError(TaxoError):
    """Another pull of the same batch is running."""

    exit_code = 3


# ------------------------------------------------------------------------------------------------------- pull
@dataclass
class PullItem:
    node: str
    name: str
    task: int  #: Label Studio task id
    annotations: list[int]
    annotators: list[str]
    decision: str = ""
    operations: list[dict] = field(default_factory=list)
    reason: str = ""
    comment: str = ""
    link: str = ""  #: the task in Label Studio


@dataclass
class PullReport:
    batch_id: int
    base_version_id: int
    version_id: int | None  #: the new version, None when nothing was applied
    change_set_id: int | None
    applied: list[PullItem] = field(default_factory=list)
    approved: list[PullItem] = field(default_factory=list)
    flagged: list[PullItem] = field(default_factory=list)
    conflicts: list[PullItem] = field(default_factory=list)
    refused: list[PullItem] = field(default_factory=list)
    already_pulled: int = 0  #: annotations settled by earlier pulls
    skipped: int = 0
    partial: bool = False
    resolve: str | None = None
    blocked: bool = False  #: refusals without --partial: nothing was applied
    warnings: list[str] = field(default_factory=list)
    outcomes_written: int = 0  #: tasks whose outcome (``taxo_outcome``) was written back to Label Studio

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def summary(self) -> str:
        head = (
            f"Version {self.version_id} from {self.base_version_id}" if self.version_id is not None
            else f"No new version (base {self.base_version_id})"
        )
        parts = [f"{len(self.applied)} applied", f"{len(self.approved)} approved", f"{len(self.flagged)} flagged",
                 f"{len(self.conflicts)} conflicting", f"{len(self.refused)} refused"]
        if self.already_pulled:
            parts.append(f"{self.already_pulled} annotations already pulled")
        return f"{head}: " + ", ".join(parts)


@dataclass(frozen=True)
class ChangeTarget:
    """Where and how a pull writes its change-set (the parameters of :func:`pull` of that name)."""

    message: str = ""
    author: str | None = None
    onto: int | None = None
    branch: str | None = None
    cache_dir: str | None = None


def _descendants_newest(session, root: int) -> int:
    rows = session.execute(select(Version.id, Version.parent_id).order_by(Version.id)).all()
    inside = {root}
    for vid, parent in rows:
        if parent in inside:
            inside.add(vid)
    return max(inside)


def _lock(db, batch_id: int, *, stale_after: timedelta = timedelta(minutes=30)) -> str:
    """Mark the batch as being pulled (compare-and-swap on its status); a second pull at the same time fails."""
    now = datetime.now(timezone.utc)
    stamp = f"pulling {now.strftime('%Y-%m-%dT%H:%M:%S')}"
    cutoff = f"pulling {(now - stale_after).strftime('%Y-%m-%dT%H:%M:%S')}"
    with session_scope(db) as session:
        res = session.execute(
            update(ReviewBatch)
            .where(ReviewBatch.id == batch_id)
            .where(~ReviewBatch.status.like("pulling%") | (ReviewBatch.status < cutoff))
            .values(status=stamp)
        )
        if res.rowcount != 1:
            raise ReviewBusyError(f"review batch {batch_id} is being pulled by another process; try again later")
    return stamp


def _unlock(db, batch_id: int, stamp: str, new_status: str) -> None:
    with session_scope(db) as session:
        session.execute(
            update(ReviewBatch).where(ReviewBatch.id == batch_id, ReviewBatch.status == stamp).values(status=new_status)
        )


def pull(
    batch: int,
    *,
    message: str = "",
    author: str | None = None,
    resolve: str | None = None,
    partial: bool = False,
    onto: int | None = None,
    branch: str | None = None,
    url: str | None = None,
    cache_dir: str | None = None,
    db: str | Engine | None = None,
    client: LabelStudioClient | None = None,
    retry: RetryPolicy | None = None,
    outcomes: bool = True,
    progress=None,
) -> PullReport:
    """Bring a batch's annotations back as ONE change-set → ONE new version (or none when nothing changes).

    Label Studio is asked at the batch's URL (``url`` if it moved). The base is ``onto``, else the head of
    ``branch``, else the newest version descending from the batch's last pulled version (or its pushed version).
    Conflicting nodes are left out unless ``resolve``; annotations that cannot apply are reported one by one and,
    unless ``partial``, nothing is applied. Then (``outcomes``) each annotated task whose outcome changed gets it
    written into its ``taxo_outcome`` (see :mod:`review.ls_ui`; one request per task: Label Studio has no bulk
    update of task data).
    """
    from review.novelty import is_novelty_batch, pull_novelty
    from taxonomy.changesets import BranchConflictError
    from taxonomy.changesets import apply as apply_changeset
    from taxonomy.db.models import Branch

    if is_novelty_batch(db, batch):  # `taxo review push V --novelty`: review/novelty.py
        return pull_novelty(batch, ChangeTarget(message, author, onto, branch, cache_dir), url=url, db=db,
                            client=client, retry=retry)
    if resolve is not None and resolve not in ("latest", "majority"):
        raise UsageError(f"--resolve must be latest or majority, got {resolve!r}")
    b = load_batch(db, batch)
    ls = client_for(url or b.url, client, retry)
    decisions, results, task_data = fetch_annotations(ls, b)  # read Label Studio before writing anything
    stamp = _lock(db, b.id)
    final_status = b.status if not b.status.startswith("pulling") else "pushed"  # kept when the pull fails
    try:
        applied_cs = applied_by_changesets(db, b.id)
        with session_scope(db) as session:
            if onto is not None:
                base = get_version(session, onto).id
            elif branch is not None and session.get(Branch, branch) is not None:
                base = session.get(Branch, branch).head_version_id
            else:
                start = (b.options.get("versions") or [b.version_id])[-1]
                base = _descendants_newest(session, start)
            manifest = dict(get_version(session, base).manifest)
            tree = read_tree(session, base)
        report = PullReport(batch_id=b.id, base_version_id=base, version_id=None, change_set_id=None,
                            partial=partial, resolve=resolve)
        names = {u: n.name for u, n in tree.nodes.items()}
        for t in tree.tombstones.values():
            names.setdefault(t.uid, t.name)

        def unchanged(d: Decision) -> bool:
            k = b.known.get(d.annotation_id)
            return k is not None and k["result_hash"] == result_hash(results[d.annotation_id]["result"])

        def final(d: Decision) -> bool:
            return d.annotation_id in applied_cs or (unchanged(d) and b.known[d.annotation_id]["status"] in FINAL)

        statuses: dict[int, tuple[str, str, int | None]] = {}
        for d in decisions:  # what earlier pulls settled stays as it is
            if d.annotation_id in applied_cs:
                statuses[d.annotation_id] = ("applied", "", applied_cs[d.annotation_id])
                if not unchanged(d) and d.annotation_id in b.known:
                    report.warnings.append(
                        f"annotation {d.annotation_id} (task {d.task_id}) was changed in Label Studio after it was "
                        f"applied in version {applied_cs[d.annotation_id]}; it is not applied again (push the new "
                        "version for another round)"
                    )
            elif final(d):
                k = b.known[d.annotation_id]
                statuses[d.annotation_id] = (k["status"], k["reason"] or "", k["applied_version_id"])

        todo: list[Settled] = []
        for s in settle(decisions, resolve):
            if all(final(d) for d in s.decisions):
                report.already_pulled += len(s.decisions)
                continue
            closed = next((d for d in s.decisions if d.annotation_id in applied_cs), None)
            closed_kind = "applied"
            if closed is None:
                closed = next((d for d in s.decisions if unchanged(d) and
                               b.known[d.annotation_id]["status"] == "approved"), None)
                closed_kind = "approved"
            if closed is not None:  # decided by an earlier pull; later annotations can only agree or conflict
                vid = statuses[closed.annotation_id][2]
                for d in s.decisions:
                    if final(d):
                        report.already_pulled += 1
                    elif d.kind == "skipped":
                        statuses[d.annotation_id] = ("skipped", "the reviewer skipped the task", None)
                    elif d.signature() == closed.signature():
                        statuses[d.annotation_id] = (closed_kind, f"agrees with annotation {closed.annotation_id}", vid)
                    else:
                        why = (f"the node was already decided by annotation {closed.annotation_id} ({closed_kind}"
                               + (f" in version {vid}" if vid else "") + "); this later annotation differs: push the "
                               "new version for another round")
                        statuses[d.annotation_id] = ("conflict", why, None)
                        report.conflicts.append(_item(s, [d], names, reason=why))
                continue
            for aid, (st, reason) in s.status.items():
                statuses[aid] = (st, reason, None)
                if st == "skipped":
                    report.skipped += 1
                elif st == "refused":
                    d = next(x for x in s.decisions if x.annotation_id == aid)
                    report.refused.append(_item(s, [d], names, reason=reason))
            if s.conflict:
                report.conflicts.append(_item(s, s.votes, names, reason=s.conflict))
            elif s.winner is not None:
                todo.append(s)

        changes: list[Decision] = []
        by_winner: dict[int, Settled] = {}
        for s in todo:
            w = s.winner
            assert w is not None
            by_winner[w.annotation_id] = s
            if w.kind == "approve":
                for d in s.agreeing:
                    statuses[d.annotation_id] = ("approved", "", None)
                report.approved.append(_item(s, s.agreeing, names, decision="approve"))
            elif w.kind == "flag":
                for d in s.agreeing:
                    statuses[d.annotation_id] = ("flagged", d.comment, None)
                report.flagged.append(_item(s, s.agreeing, names, decision="flag"))
            else:
                changes.append(w)

        # renames first, then moves, merges, splits (a split after the merges into the node it splits)
        changes.sort(key=lambda d: (3 if d.split is not None else 2 if d.merge_into else 1 if d.move_to else 0,
                                    d.task_id))
        id_prefix = manifest.get("id_prefix", "values")

        def apply_planned(planned: list[Planned]):
            ops = [op for p in planned for op in p.operations]
            applied_ann = sorted(x.annotation_id for p in planned for x in by_winner[p.decision.annotation_id].agreeing)
            source = {
                "kind": "label-studio",
                "batch": b.id,
                "url": b.url,
                "project": b.project_id,
                "tasks": sorted({p.decision.task_id for p in planned}),
                "annotations": applied_ann,
                "annotators": sorted({x.annotator for p in planned
                                      for x in by_winner[p.decision.annotation_id].agreeing}),
                "resolve": resolve,
                "partial": partial,
            }
            res = apply_changeset(
                base,
                ops,
                message=message or f"review batch {b.id} (Label Studio project {b.project_id})",
                author=author,
                source=source,
                branch=branch,
                cache_dir=cache_dir,
                db=db,
            )
            report.version_id, report.change_set_id = res.version_id, res.change_set_id
            for aid in applied_ann:
                statuses[aid] = ("applied", "", res.version_id)
            for p in planned:
                s = by_winner[p.decision.annotation_id]
                report.applied.append(_item(s, s.agreeing, names, decision=p.decision.describe(names),
                                            operations=p.operations))

        # The usual case first: every change applies; one change-set, one pass. Only when something cannot apply
        # are the changes tried one by one (plan) to report each refusal with its reason.
        applied_directly = False
        if changes and not (report.refused and not partial):
            incoming: dict[str, list[str]] = {}
            for d in changes:
                if d.merge_into:
                    incoming.setdefault(d.merge_into, []).append(d.node)

            state = EditState(tree)  # each node's children and values, indexed once (the tree is not changed)

            def members_after(uid: str, seen: frozenset = frozenset()) -> list[str]:
                """A node's members once the merges into it (which come before splits) are done."""
                out = state.members(uid) if uid in tree.nodes else []
                for src in incoming.get(uid, []):
                    if src not in seen:
                        out += members_after(src, seen | {uid})
                return out

            try:
                optimistic = [
                    Planned(d, operations_for(d, tree, members_after(d.node) if d.split is not None else None))
                    for d in changes
                ]
            except Refusal:
                optimistic = None
            if optimistic is not None:
                try:
                    apply_planned(optimistic)
                    applied_directly = True
                except BranchConflictError:
                    raise
                except UsageError:  # EditError, NotFoundError, IntegrityError: find out which change(s)
                    report.applied.clear()
        if not applied_directly and changes:
            result = plan(tree, changes, base_version_id=base, id_prefix=id_prefix)
            for d, reason in result.refused:
                for x in by_winner[d.annotation_id].agreeing:
                    statuses[x.annotation_id] = ("refused", reason, None)
                report.refused.append(_item(by_winner[d.annotation_id], [d], names, decision=d.describe(names),
                                            reason=reason))
            report.blocked = bool(report.refused) and not partial
            if report.blocked:
                why = "not applied: other annotations of this pull were refused (fix them, or pull with --partial)"
                for p in result.applicable:
                    for x in by_winner[p.decision.annotation_id].agreeing:
                        statuses[x.annotation_id] = ("refused", why, None)
            elif result.applicable:
                apply_planned(result.applicable)
        report.blocked = bool(report.refused) and not partial
        _record_annotations(db, b, decisions, results, statuses)
        for items in (report.applied, report.approved, report.flagged, report.conflicts, report.refused):
            for it in items:
                it.link = ls_ui.task_link(b.url, b.project_id, it.task)
        if report.version_id is not None:
            with session_scope(db) as session:
                row = session.get(ReviewBatch, b.id)
                opts = dict(row.options or {})
                opts["versions"] = list(opts.get("versions") or []) + [report.version_id]
                row.options = opts
        final_status = "pulled" if not (report.conflicts or report.refused) else "pulled with issues"
        # the outcomes, for the reviewers (after everything is committed: a failure here is only a warning)
        written, problems = 0, []
        if outcomes:
            try:
                written, problems = ls_ui.write_outcomes(ls, task_data,
                                                         ls_ui.task_outcomes(decisions, statuses, names), progress)
            except LabelStudioError as exc:
                problems = [str(exc)]
        report.outcomes_written = written
        if problems:
            report.warnings.append(f"the outcome could not be written back to {len(problems)} task(s) in Label "
                                   f"Studio (the pull itself is complete): {problems[0]}")
        return report
    finally:
        _unlock(db, b.id, stamp, final_status)


def _item(s: Settled, ds: list[Decision], names: dict[str, str], *, decision: str = "",
          reason: str = "", comment: str = "", operations: list[dict] | None = None) -> PullItem:
    return PullItem(
        node=s.node,
        name=names.get(s.node, s.node),
        task=s.task_id,
        annotations=[d.annotation_id for d in ds],
        annotators=sorted({d.annotator for d in ds}),
        decision=decision or "; ".join(f"{d.annotator}: {d.describe(names)}" for d in ds),
        operations=operations or [],
        reason=reason,
        comment=comment or "; ".join(d.comment for d in ds if d.comment),
    )


def _record_annotations(db, b: Batch, decisions: list[Decision], results: dict[int, dict],
                        statuses: dict[int, tuple[str, str, int | None]]) -> None:
    """Insert or update one review_annotations row per annotation pulled."""
    now = utcnow()
    with session_scope(db) as session:
        new_rows = []
        for d in decisions:
            st, reason, vid = statuses.get(d.annotation_id, ("pending", "", None))
            row_task = b.tasks[d.task_id][0]
            stored = {"result": results[d.annotation_id]["result"], "decision": decision_dict(d)}
            known = b.known.get(d.annotation_id)
            if known is None:
                new_rows.append({"task_id": row_task, "ls_annotation_id": d.annotation_id, "annotator": d.annotator,
                                 "result": stored, "status": st, "reason": reason or None, "applied_version_id": vid,
                                 "pulled_at": now})
            else:
                session.execute(
                    update(ReviewAnnotation)
                    .where(ReviewAnnotation.id == known["row"])
                    .values(result=stored, status=st, reason=reason or None, applied_version_id=vid,
                            annotator=d.annotator, pulled_at=now)
                )
        if new_rows:
            session.execute(ReviewAnnotation.__table__.insert(), new_rows)
