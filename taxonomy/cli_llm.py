"""`taxo resummarize`: regenerate names and descriptions with a summarizer (a thin layer over
:func:`taxonomy.api.resummarize`; the language-model options become one :class:`taxonomy.api.LLMOptions`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from taxonomy.cli_common import (
    AuthorOpt, BranchOpt, CacheOpt, DbOpt, JsonOpt, MessageOpt, QuietOpt, emit_json, err, esc,
)


def resummarize(
    version: Annotated[int, typer.Argument(help="Base version id")],
    level: Annotated[Optional[int], typer.Option(help="Every node of this level")] = None,
    nodes: Annotated[
        Optional[list[str]], typer.Option("--nodes", help="Node ids or 4+ character prefixes (repeat, or comma-separated)")
    ] = None,
    message: MessageOpt = "",
    summarizer: Annotated[Optional[str], typer.Option(help="Summarizer (default: the base version's)")] = None,
    llm_model: Annotated[Optional[str], typer.Option(help="Language model (default: the base version's)")] = None,
    llm_base_url: Annotated[Optional[str], typer.Option(help="Model server URL (default: the base version's)")] = None,
    llm_api_key_env: Annotated[Optional[str], typer.Option(help="Environment variable holding the API key")] = None,
    llm_concurrency: Annotated[Optional[int], typer.Option(help="Model calls in flight at once (default: 4)")] = None,
    max_calls: Annotated[Optional[int], typer.Option(help="Stop before making more model calls than this")] = None,
    max_cost: Annotated[Optional[float], typer.Option(help="Stop before the estimated cost (USD) would exceed this")] = None,
    llm_price: Annotated[Optional[str], typer.Option(help="USD per million input,output tokens, e.g. 3,15")] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask the model again instead of using cached answers")] = False,
    author: AuthorOpt = None, branch: BranchOpt = None, cache_dir: CacheOpt = None,
    db: DbOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Regenerate names and descriptions (of --nodes, of a --level, or of every node) as a new version."""
    from taxonomy import api

    llm = api.LLMOptions.from_cli(llm_model, llm_base_url, llm_api_key_env, llm_concurrency, max_calls, max_cost,
                                  llm_price)
    res = api.resummarize(version, level=level, nodes=nodes, message=message, summarizer=summarizer, author=author,
                          branch=branch, cache_dir=cache_dir, db=db, llm=llm, refresh=refresh)
    if as_json:
        return emit_json(res)
    if not quiet:
        if res.llm:
            err.print(esc(api.format_stats(res.llm)))
        err.print(
            f"Version {res.version_id} from {res.base_version_id}: {len(res.nodes)} node(s) resummarized with "
            f"{esc(res.summarizer)}, {res.n_renamed} renamed."
        )
    print(res.version_id)


def register(app: typer.Typer) -> None:
    """Add ``resummarize`` to the main app."""
    app.command("resummarize")(resummarize)
