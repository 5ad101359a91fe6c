"""`taxo assign`, `taxo novelty`, `taxo drift`: keep a curated taxonomy alive as new data arrives.
Thin layers over the functions of the same names in :mod:`taxonomy.api`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from taxonomy.cli_common import (
    AuthorOpt, BranchOpt, CacheOpt, DbOpt, JsonOpt, MessageOpt, QuietOpt, emit_json, err, esc, out, progress,
)


def _short(uid: str | None) -> str:
    from taxonomy import api

    return api.short_id(uid) if uid else "-"


def assign(
    version: Annotated[int, typer.Argument(help="The curated base version")],
    batches: Annotated[Optional[str], typer.Option(help="Batches to add, e.g. 3 or 3,4 [default: every stored batch]")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be placed where; write nothing")] = False,
    threshold: Annotated[
        Optional[float], typer.Option(help="Novelty threshold (cosine similarity) [default: calibrated on the version]")
    ] = None,
    quantile: Annotated[float, typer.Option(help="Calibration: this quantile of the members' own-node similarity")] = 0.02,
    limit: Annotated[int, typer.Option(help="Placements listed by --dry-run (0 = all)")] = 30,
    seed: Annotated[int, typer.Option(help="Random state (grouping of a large novelty queue)")] = 0,
    message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None, cache_dir: CacheOpt = None,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Place the values a version does not hold under the level-1 nodes they fit; queue the rest as novelty.

    Names, ids and structure stay as curated. Prints the new version id."""
    from taxonomy import api

    with progress(quiet, as_json) as bar:
        res = api.assign(version, batches=batches, dry_run=dry_run, threshold=threshold, quantile=quantile, seed=seed,
                         message=message, author=author, branch=branch, cache_dir=cache_dir, db=db, progress=bar)
    if as_json:
        return emit_json(res)
    if res.n_candidates == 0:
        err.print(esc(res.note))
        return
    src = "calibrated" if res.threshold_source == "calibrated" else "given"
    head = (
        f"{res.n_candidates} new values: {res.n_placed} placed, {res.n_queued} queued as novelty "
        f"({len(res.groups)} groups); threshold {res.threshold:.3f} ({src})."
    )
    if res.version_id is None and not dry_run:
        err.print(head + " " + esc(res.note))
        return
    if dry_run:
        out.print(head + " Dry run: nothing written.")
        shown = res.placements if limit == 0 else res.placements[:limit]
        for p in shown:
            where = "QUEUED (nearest " if p.queued else "→ "
            tail = ")" if p.queued else ""
            out.print(
                f"  {esc(p.value)!s:40} {where}{_short(p.node)} {esc(p.node_name)}{tail}  sim {p.similarity:.3f}"
                + (f", next {p.runner_up_similarity:.3f}" if p.runner_up_similarity is not None else "")
            )
        if len(shown) < len(res.placements):
            out.print(f"  … and {len(res.placements) - len(shown)} more (--limit 0 shows all)")
        return
    if not quiet:
        err.print(head + " Version:")
    print(res.version_id)


def novelty(
    version: Annotated[int, typer.Argument(help="A version made by `taxo assign` (or a later one)")],
    action: Annotated[Optional[str], typer.Argument(help="list (default) | accept | place")] = None,
    ref: Annotated[Optional[str], typer.Argument(help="accept: a group id; place: a group id or a queued value")] = None,
    parent: Annotated[Optional[str], typer.Option(help="accept: the level-2 node for the new node [default: nearest]")] = None,
    name: Annotated[Optional[str], typer.Option(help="accept: name of the new node [default: the group's]")] = None,
    description: Annotated[Optional[str], typer.Option(help="accept: description [default: the group's]")] = None,
    into: Annotated[Optional[str], typer.Option(help="place: the level-1 node that takes the values")] = None,
    members: Annotated[int, typer.Option(help="list: member values shown per group (0 = all)")] = 5,
    message: MessageOpt = "", author: AuthorOpt = None, branch: BranchOpt = None, cache_dir: CacheOpt = None,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """The novelty queue: list it, accept a group as a new level-1 node, or place a group or value into a node."""
    from taxonomy import api
    from taxonomy.api import UsageError

    action = (action or "list").strip().lower()
    if action not in ("list", "accept", "place"):
        raise UsageError(f"unknown novelty action {action!r}; use list, accept or place")
    if action == "list":
        if ref is not None:
            raise UsageError("novelty list takes no further argument")
        q = api.novelty(version, db=db)
        if as_json:
            return emit_json(q)
        if q.note:
            out.print(esc(q.note))
            return
        thr = f"{q.threshold:.3f}" if q.threshold is not None else "?"
        out.print(f"Version {version}: {q.n_values} queued value{'s' if q.n_values != 1 else ''} in {len(q.groups)} "
                  f"group{'s' if len(q.groups) != 1 else ''} (threshold {thr}).")
        for g in q.groups:
            n = len(g["members"])
            out.print(
                f"[bold]{g['id']}[/bold] {esc(g['name'])}: {n} value{'s' if n != 1 else ''}, weight {g['weight']:g}, "
                f"first batch {g['first_batch']}"
            )
            for label, near in (("place into (level 1)", g["nearest_nodes"]), ("new node under (level 2)",
                                                                              g["nearest_parents"])):
                if near:
                    out.print(f"    {label}: " + "; ".join(
                        f"{_short(x['node'])} {esc(x['name'])} ({x['similarity']:.3f})" for x in near))
            shown = g["members"] if members == 0 else g["members"][:members]
            out.print("    values: " + ", ".join(esc(m["value"]) for m in shown)
                      + (f", … {len(g['members']) - len(shown)} more" if len(shown) < len(g["members"]) else ""))
        return
    if ref is None:
        raise UsageError(f"novelty {action} needs a group id" + (" or a queued value" if action == "place" else ""))
    if action == "accept":
        if into is not None:
            raise UsageError("--into belongs to `novelty place`; accept takes --parent")
        res = api.novelty_accept(version, ref, parent=parent, name=name, description=description, message=message,
                                 author=author, branch=branch, cache_dir=cache_dir, db=db)
    else:
        if into is None:
            raise UsageError("novelty place needs --into NODE (a level-1 node)")
        if parent is not None or name is not None:
            raise UsageError("--parent and --name belong to `novelty accept`; place takes --into")
        res = api.novelty_place(version, ref, into=into, message=message, author=author, branch=branch,
                                cache_dir=cache_dir, db=db)
    if as_json:
        return emit_json(res)
    if not quiet:
        err.print(f"{esc(res.summary)}. Version:")
    print(res.version_id)


def drift(
    version: Annotated[int, typer.Argument(help="Version whose nodes are compared")],
    from_batches: Annotated[str, typer.Option("--from-batches", help="Batches before, e.g. 1,2")],
    to_batches: Annotated[str, typer.Option("--to-batches", help="Batches after, e.g. 3")],
    level: Annotated[int, typer.Option(help="Level whose nodes are compared")] = 1,
    limit: Annotated[int, typer.Option(help="Nodes and values listed (0 = all)")] = 20,
    db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """Per node: share of conversations before and after, 95% CI of the difference; biggest movers first.

    Also a chi-square test across the level, and the values new or vanished between the two batch sets."""
    from taxonomy import api

    res = api.drift(version, from_batches=from_batches, to_batches=to_batches, level=level, limit=limit, db=db)
    if as_json:
        return emit_json(res)
    role = f", role {res.role}" if res.role else ""
    out.print(
        f"Version {version}, level {level}{role}: batches {','.join(map(str, res.from_batches))} "
        f"({res.conversations_before} conversations, {res.records_before} records) → "
        f"{','.join(map(str, res.to_batches))} ({res.conversations_after} conversations, {res.records_after} records)"
    )
    cs = res.chi_square
    if cs:
        out.print(f"Chi-square across {cs['n_nodes']} nodes (records): χ² = {cs['statistic']:.2f}, dof {cs['dof']}, "
                  f"p = {cs['p_value']:.3g}, Cramér's V = {cs['cramers_v']:.3f}")
    else:
        out.print("Chi-square: not defined (fewer than two nodes with records)")
    shown = res.nodes if limit == 0 else res.nodes[:limit]
    # names padded to the longest shown (at most 60), before escaping, so that the figures line up
    width = min(60, max((len(n.name or "") for n in shown), default=0))
    for n in shown:
        star = " *" if n.significant else ""
        name = n.name or ""
        out.print(
            f"  {_short(n.node)} {esc(name)}{' ' * (width - len(name))} {100 * n.before:6.2f}% → "
            f"{100 * n.after:6.2f}%  "
            f"Δ {100 * n.difference:+.2f} pp [{100 * n.ci_low:+.2f}, {100 * n.ci_high:+.2f}]{star}"
        )
    if len(shown) < len(res.nodes):
        out.print(f"  … and {len(res.nodes) - len(shown)} more nodes")
    out.print("  (* the 95% interval of the difference excludes 0)")
    for label, items, total in (("New", res.new_values, res.n_new_values),
                                ("Vanished", res.vanished_values, res.n_vanished_values)):
        if total:
            out.print(f"{label} values ({total}): " + ", ".join(f"{esc(v['value'])} ({v['records']})" for v in items)
                      + (" …" if total > len(items) else ""))
    outside = res.records_outside
    if outside["before"] or outside["after"]:
        out.print(f"Records whose value the version does not hold: {outside['before']} before, {outside['after']} "
                  "after (in the novelty queue, or below the coverage thresholds)")


def register(app: typer.Typer) -> None:
    """Add ``assign``, ``novelty`` and ``drift`` to the main app."""
    for command in (assign, novelty, drift):
        app.command(command.__name__)(command)
