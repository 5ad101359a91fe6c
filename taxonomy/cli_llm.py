"""The language-model parts of the command line: ``taxo resummarize`` and the ``build`` options' plumbing."""

from typing import Annotated, Optional

import typer

from taxonomy.errors import UsageError


def parse_price(text: str | None) -> tuple[float, float] | None:
    """``"3,15"`` -> (3.0, 15.0): USD per million input and output tokens."""
    if text is None or not str(text).strip():
        return None
    parts = [p.strip() for p in str(text).split(",")]
    try:
        a, b = (float(p) for p in parts)
    except ValueError:
        raise UsageError(f"--llm-price {text!r}: give USD per million input,output tokens, e.g. 3,15") from None
    return a, b


def llm_kwargs(hierarchy, count_tolerance, llm_model, llm_base_url, llm_api_key_env, llm_concurrency, max_calls,
               max_cost, llm_price) -> dict:
    """The language-model options of ``taxo build`` that were given (the defaults are left to ``build``)."""
    out = {
        "llm_model": llm_model,
        "llm_base_url": llm_base_url,
        "llm_api_key_env": llm_api_key_env,
        "llm_concurrency": llm_concurrency,
        "max_calls": max_calls,
        "max_cost": max_cost,
        "llm_price": parse_price(llm_price),
    }
    out = {k: v for k, v in out.items() if v is not None}
    if hierarchy != "embedding":
        out["hierarchy"] = hierarchy
    if count_tolerance:
        out["count_tolerance"] = count_tolerance
    return out


def register(app: typer.Typer) -> None:
    """Add ``resummarize`` to the main app."""
    from taxonomy.cli import AuthorOpt, BranchOpt, CacheOpt, DbOpt, JsonOpt, QuietOpt, _emit_json, _esc, err

    @app.command("resummarize")
    def resummarize_cmd(
        version: Annotated[int, typer.Argument(help="Base version id")],
        level: Annotated[Optional[int], typer.Option(help="Every node of this level")] = None,
        nodes: Annotated[
            Optional[list[str]], typer.Option("--nodes", help="Node ids or 4+ character prefixes (repeat, or comma-separated)")
        ] = None,
        message: Annotated[str, typer.Option("--message", "-m", help="Version message")] = "",
        summarizer: Annotated[Optional[str], typer.Option(help="Summarizer (default: the base version's)")] = None,
        llm_model: Annotated[Optional[str], typer.Option(help="Language model (default: the base version's)")] = None,
        llm_base_url: Annotated[Optional[str], typer.Option(help="Model server URL (default: the base version's)")] = None,
        llm_api_key_env: Annotated[Optional[str], typer.Option(help="Environment variable holding the API key")] = None,
        llm_concurrency: Annotated[Optional[int], typer.Option(help="Model calls in flight at once (default: 4)")] = None,
        max_calls: Annotated[Optional[int], typer.Option(help="Stop before making more model calls than this")] = None,
        max_cost: Annotated[Optional[float], typer.Option(help="Stop before the estimated cost (USD) would exceed this")] = None,
        llm_price: Annotated[Optional[str], typer.Option(help="USD per million input,output tokens, e.g. 3,15")] = None,
        refresh: Annotated[bool, typer.Option("--refresh", help="Ask the model again instead of using cached answers")] = False,
        author: AuthorOpt = None,
        branch: BranchOpt = None,
        cache_dir: CacheOpt = None,
        db: DbOpt = None,
        as_json: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Regenerate names and descriptions (of --nodes, of a --level, or of every node) as a new version."""
        from taxonomy.resummarize import resummarize

        res = resummarize(
            version,
            level=level,
            nodes=nodes,
            message=message,
            summarizer=summarizer,
            author=author,
            branch=branch,
            cache_dir=cache_dir,
            db=db,
            llm_model=llm_model,
            llm_base_url=llm_base_url,
            llm_api_key_env=llm_api_key_env,
            llm_concurrency=llm_concurrency,
            max_calls=max_calls,
            max_cost=max_cost,
            llm_price=parse_price(llm_price),
            refresh=refresh,
        )
        if as_json:
            return _emit_json(res)
        if not quiet:
            if res.llm:
                from taxonomy.llm.service import format_stats

                err.print(_esc(format_stats(res.llm)))
            err.print(
                f"Version {res.version_id} from {res.base_version_id}: {len(res.nodes)} node(s) resummarized with "
                f"{_esc(res.summarizer)}, {res.n_renamed} renamed."
            )
        print(res.version_id)
