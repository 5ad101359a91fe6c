"""`taxo review push/status/pull`: review a version in Label Studio. Thin layers over :func:`taxonomy.api.review_push`,
:func:`~taxonomy.api.review_status` (:func:`~taxonomy.api.review_batches` without a batch id) and
:func:`~taxonomy.api.review_pull`.

The Label Studio URL comes from ``--url`` or ``TAXO_LABEL_STUDIO_URL``; the token only from
``TAXO_LABEL_STUDIO_TOKEN`` (never an option, never printed)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from taxonomy.cli_common import (
    AuthorOpt, CacheOpt, DbOpt, JsonOpt, MessageOpt, QuietOpt, command_group, emit_json, err, esc, esc_url, out,
    progress,
)

review_app = command_group(
    "Review a version in Label Studio: push nodes as tasks, pull the annotations back as a new version. "
    "Token: TAXO_LABEL_STUDIO_TOKEN."
)

UrlOpt = Annotated[
    Optional[str],
    typer.Option(
        "--url",
        envvar="TAXO_LABEL_STUDIO_URL",
        help="Label Studio URL, e.g. http://localhost:8080 [env TAXO_LABEL_STUDIO_URL]",
        show_default=False,
        show_envvar=False,
    ),
]


@review_app.command("push")
def push_cmd(
    version: Annotated[int, typer.Argument(help="Version id")],
    level: Annotated[Optional[int], typer.Option(help="Level whose nodes are reviewed [default: 1, or the --nodes' level]")] = None,
    nodes: Annotated[Optional[str], typer.Option(help="Comma-separated node ids (or 4+ characters of them)")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Only the N heaviest nodes")] = None,
    url: UrlOpt = None,
    new_batch: Annotated[bool, typer.Option("--new-batch", help="A new project even if this version and level were pushed before")] = False,
    annotators: Annotated[int, typer.Option(help="Annotations wanted per task (Label Studio overlap)")] = 1,
    members: Annotated[int, typer.Option(help="Member values listed per task (heaviest first)")] = 25,
    suggestions: Annotated[int, typer.Option(help="Nearest nodes offered as merge targets")] = 5,
    novelty: Annotated[bool, typer.Option("--novelty", help="Push the version's novelty queue (one task per group)")] = False,
    cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Create a Label Studio project with one task per node (idempotent: pushing again adds only missing nodes).
    Prints the review batch id."""
    from taxonomy import api

    res = api.review_push(version, level=level, nodes=nodes, limit=limit, url=url, new_batch=new_batch,
                          annotators=annotators, members=members, suggestions=suggestions, novelty=novelty,
                          cache_dir=cache_dir, db=db)
    if as_json:
        return emit_json(res)
    if not quiet:
        again = f", {res.existing} already there" if res.existing else ""
        err.print(
            f"Review batch {res.batch_id}: version {res.version_id}, level {res.level}: {res.n_tasks} tasks in project "
            f"{res.project_id} ({res.created} created{again}). Open {esc_url(res.project_url)}\n"
            f"When reviewed: taxo review pull {res.batch_id} -m \"...\". Batch:"
        )
    print(res.batch_id)


MovedUrlOpt = Annotated[
    Optional[str],
    typer.Option("--url", help="Label Studio URL if it moved [default: the one the batch was pushed to]"),
]


@review_app.command("status")
def status_cmd(
    batch: Annotated[Optional[int], typer.Argument(help="Review batch id (printed by push); none: list the batches")] = None,
    url: MovedUrlOpt = None,
    db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """Tasks, annotated, conflicting, applied, ... of a review batch (asks Label Studio); without a batch id, the
    list of batches."""
    from taxonomy import api

    if batch is None:
        rows = api.review_batches(db=db)
        if as_json:
            return emit_json([r.to_dict() for r in rows])
        if not rows:
            out.print("No review batches yet: taxo review push VERSION --level 1")
        for r in rows:
            out.print(f"{r.batch_id}\tversion {r.version_id}, level {r.level}\t{r.tasks} tasks\tproject "
                      f"{r.project_id} at {esc_url(r.url)}\t{r.status}\t{r.created_at}"
                      + (f"\tversions {', '.join(map(str, r.versions))}" if r.versions else ""))
        return
    res = api.review_status(batch, url=url, db=db)
    if as_json:
        return emit_json(res)
    out.print(f"Review batch {res.batch_id}: version {res.version_id}, level {res.level}, project {res.project_id} "
              f"({esc_url(res.project_url or '-')}), {res.status}")
    out.print(f"  tasks {res.tasks}, annotated {res.annotated} ({res.annotations} annotations), "
              f"conflicting {res.conflicting}, applied {res.applied}, approved {res.approved}, "
              f"flagged {res.flagged}, refused {res.refused}, not yet pulled {res.pending}")
    if res.versions:
        out.print(f"  versions from this batch: {', '.join(map(str, res.versions))}")


@review_app.command("pull")
def pull_cmd(
    batch: Annotated[int, typer.Argument(help="Review batch id")],
    message: MessageOpt = "",
    resolve: Annotated[Optional[str], typer.Option(help="When reviewers disagree on a node: latest | majority")] = None,
    partial: Annotated[bool, typer.Option("--partial", help="Apply what can apply even if some annotations cannot")] = False,
    onto: Annotated[Optional[int], typer.Option(help="Base version [default: the newest descendant of the reviewed version]")] = None,
    branch: Annotated[Optional[str], typer.Option(help="Apply onto this branch's head and advance it")] = None,
    url: MovedUrlOpt = None,
    no_outcomes: Annotated[bool, typer.Option("--no-outcomes", help="Do not write each task's outcome back to Label Studio (a later pull writes them)")] = False,
    author: AuthorOpt = None, cache_dir: CacheOpt = None, db: DbOpt = None, as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Turn the annotations into one change-set, i.e. one new version (prints its id). Exit code 1 when some
    annotations cannot apply and --partial is not given (then nothing is applied)."""
    from taxonomy import api

    with progress(quiet, as_json) as bar:
        res = api.review_pull(batch, message=message, author=author, resolve=resolve, partial=partial, onto=onto,
                              branch=branch, url=url, cache_dir=cache_dir, db=db, outcomes=not no_outcomes,
                              progress=bar)
    if as_json:
        emit_json(res)
    else:
        if not quiet:
            for title, items, what in (
                ("Applied", res.applied, "decision"),
                ("Flagged for discussion", res.flagged, "comment"),
                ("Conflicts (not applied)", res.conflicts, "reason"),
                ("Refused (cannot apply)", res.refused, "reason"),
            ):
                if items:
                    err.print(f"[bold]{title}[/bold] ({len(items)}):")
                    for it in items:
                        detail = getattr(it, what) or it.decision
                        err.print(f"  {esc(it.name)} ({it.node.rsplit(':', 1)[-1][:8]}, task {it.task}): {esc(detail)}")
                        if what == "reason" and it.link:
                            err.print(f"    {esc(it.link)}", soft_wrap=True)
            for w in res.warnings:
                err.print(f"[yellow]Warning:[/yellow] {esc(w)}")
            if res.blocked:
                err.print("[bold red]Nothing was applied[/bold red]: some annotations cannot apply. Fix them in Label "
                          "Studio and pull again, or pull with --partial to apply the rest.")
            err.print(esc(res.summary))
            if res.outcomes_written:
                err.print(f"Outcomes written back to {res.outcomes_written} task(s) in Label Studio (column "
                          "taxo_outcome).")
        if res.version_id is not None:
            print(res.version_id)
    if res.blocked:
        raise typer.Exit(1)
