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
    """Names and describes the clusters of one level at a time."""

    name: ClassVar[str]

    @abstractmethod
    def summarize_level(self, clusters: list[ClusterInfo], sibling_groups: list[list[int]]) -> list[Summary]:
        """Return one summary per cluster (same order).

        ``sibling_groups`` partitions the cluster indices by parent; names must be distinct within a group (the
        default summarizer makes them distinct within the whole level).
        """

    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}
