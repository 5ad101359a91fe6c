"""Cluster summarizers: a short name and a one-to-three sentence description for every cluster node.

``get_summarizer(name, **params)`` builds one by name; ``offline`` (deterministic, no model, no network) is the
default.
"""

from __future__ import annotations

from ..errors import UsageError
from .base import ClusterInfo, Summarizer, Summary
from .offline import OfflineSummarizer

SUMMARIZERS: dict[str, type[Summarizer]] = {
    OfflineSummarizer.name: OfflineSummarizer,
}
# language-model summarizers (taxonomy.summarize.llm; the SDKs are imported only when a model is called)
from .llm import AnthropicSummarizer, OpenAISummarizer  # noqa: E402

SUMMARIZERS[AnthropicSummarizer.name] = AnthropicSummarizer
SUMMARIZERS[OpenAISummarizer.name] = OpenAISummarizer
DEFAULT_SUMMARIZER = "offline"


def get_summarizer(name: str | None = None, **params) -> Summarizer:
    """The summarizer registered as ``name`` (default: :data:`DEFAULT_SUMMARIZER`), built with ``params``."""
    key = DEFAULT_SUMMARIZER if name is None else str(name).strip().lower()
    cls = SUMMARIZERS.get(key)
    if cls is None:
        known = ", ".join(sorted(SUMMARIZERS))
        raise UsageError(f"unknown summarizer {name!r}; known summarizers: {known}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise UsageError(f"summarizer {key!r}: bad parameters {sorted(params)}: {exc}") from exc


__all__ = [
    "DEFAULT_SUMMARIZER",
    "SUMMARIZERS",
    "ClusterInfo",
    "OfflineSummarizer",
    "Summarizer",
    "Summary",
    "get_summarizer",
]
