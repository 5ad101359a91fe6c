"""The language-model options of `taxo build` and `taxo resummarize` as one object (``--llm-model``, ``--llm-base-url``,
``--llm-api-key-env``, ``--llm-concurrency``, ``--max-calls``, ``--max-cost``, ``--llm-price``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from taxonomy.errors import UsageError


@dataclass(frozen=True)
class LLMOptions:
    """How a language-model summarizer makes its calls (see :mod:`taxonomy.llm`). None means not given: the
    default (4 calls in flight, the provider's key variable, no budget), or for `resummarize` the base version's
    model and server. Giving any of them with the offline summarizer is refused."""

    model: str | None = None  #: the model name
    base_url: str | None = None  #: the model server, e.g. http://localhost:8000/v1
    api_key_env: str | None = None  #: environment variable holding the API key
    concurrency: int | None = None  #: model calls in flight at once
    max_calls: int | None = None  #: stop before making more model calls than this
    max_cost: float | None = None  #: stop before the estimated cost (USD) would exceed this
    price: Sequence[float] | None = None  #: USD per million input and output tokens, for ``max_cost``

    def summarizer_kwargs(self) -> dict:
        """The keyword arguments of :func:`taxonomy.summarize.llm.summarizer_for_build` (None = not given)."""
        return asdict(self)

    @classmethod
    def from_cli(cls, model: str | None = None, base_url: str | None = None, api_key_env: str | None = None,
                 concurrency: int | None = None, max_calls: int | None = None, max_cost: float | None = None,
                 price: str | None = None) -> LLMOptions:
        """The options as typed on the command line (``price`` as ``"3,15"``)."""
        return cls(model, base_url, api_key_env, concurrency, max_calls, max_cost, parse_price(price))


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
