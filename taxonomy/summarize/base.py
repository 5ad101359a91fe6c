"""The interface of cluster summarizers: a short name and a one-to-three sentence description per node."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np


@dataclass
class ClusterInfo:
    """What a summarizer may look at for one cluster node."""

    level: int  #: 1 for clusters of values, 2 for clusters of level-1 clusters, ...
    members: list[str]  #: the value strings (level 0) under the node, all of them
    weights: np.ndarray  #: weight of each member (same order), e.g. counts or pct_convos
    embeddings: np.ndarray  #: L2-normalized embedding of each member (same order), shape (len(members), d)
    child_names: list[str] = field(default_factory=list)  #: names of the direct children (levels >= 2)
    child_weights: list[float] = field(default_factory=list)  #: weights of the direct children (levels >= 2)


@dataclass
class Summary:
    name: str
    description: str


class Summarizer(ABC):
    """Names and describes the clusters of one level at a time.

    Callers never ask what kind of summarizer they hold: :meth:`preflight`, :meth:`use_embedder`, :meth:`remember` and
    :meth:`summarize_targets` work on every one; :attr:`uses_model` says whether there are model calls to report.
    """

    name: ClassVar[str]
    #: True for the language-model summarizers: their calls need a key and a server, cost, and are reported
    #: (``llm_info()``, ``prompts``, ``service``)
    uses_model: ClassVar[bool] = False

    @abstractmethod
    def summarize_level(self, clusters: list[ClusterInfo], sibling_groups: list[list[int]]) -> list[Summary]:
        """Return one summary per cluster (same order).

        ``sibling_groups`` partitions the cluster indices by parent; names must be distinct within a group (the
        default summarizer makes them distinct within the whole level).
        """

    def summarize_targets(
        self,
        clusters: list[ClusterInfo],
        sibling_groups: list[list[int]],
        targets: list[int],
        fixed_names: list[str | None],
    ) -> list[Summary]:
        """Summaries for the clusters in ``targets``; the others keep ``fixed_names`` (their entries in the result
        are not used). By default the whole level is summarized: a deterministic namer needs the whole level to
        give the same names as a build; the caller keeps the new names distinct from the fixed ones."""
        return self.summarize_level(clusters, sibling_groups)

    def preflight(self) -> None:
        """Check what naming will need before any work starts (a model's key and server); nothing by default."""

    def use_embedder(self, embedder) -> None:
        """Hand over the embedder that made the values' vectors (the offline summarizer embeds its general words
        for broad categories with it: :mod:`taxonomy.summarize.lexicon`); ignored by default."""

    def remember(self, name: str, description: str) -> None:
        """Note an existing node's description (a model shows it when the node's parent is named); ignored by
        default."""

    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}
