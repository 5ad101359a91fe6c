"""The interface every hierarchical clustering method implements.

A method turns value embeddings (and weights) into a hierarchy with *exactly* the requested number of clusters
per level. Methods are small scikit-learn-style objects: parameters in the constructor (no work there), a
``seed``, and ``fit`` doing the work. Same input + same ``seed`` -> same output.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass
class Hierarchy:
    """Result of a hierarchical clustering.

    ``labels[0]`` has one entry per value: the index (0..levels[0]-1) of its level-1 cluster.
    ``labels[i]`` (i >= 1) has one entry per level-i cluster: the index (0..levels[i]-1) of its level-(i+1) parent.
    Every cluster index at every level is used at least once (no empty clusters).
    """

    labels: list[np.ndarray]

    @property
    def levels(self) -> list[int]:
        return [int(lab.max()) + 1 if len(lab) else 0 for lab in self.labels]

    def value_labels(self, level: int) -> np.ndarray:
        """Cluster index of each value at ``level`` (1-based, as in the tree)."""
        lab = self.labels[0]
        for i in range(1, level):
            lab = self.labels[i][lab]
        return lab

    def validate(self, n_values: int, levels: Sequence[int]) -> None:
        """Raise :class:`HierarchyShapeError` unless this hierarchy has exactly the requested shape (a real check,
        not an ``assert``: it also holds under ``python -O``)."""
        if len(self.labels) != len(levels):
            raise HierarchyShapeError(f"expected one label array per level ({len(levels)}), got {len(self.labels)}")
        sizes = [n_values, *levels[:-1]]
        for i, (lab, size, k) in enumerate(zip(self.labels, sizes, levels, strict=True)):
            if lab.shape != (size,):
                raise HierarchyShapeError(f"level {i + 1}: expected {size} labels, got {lab.shape}")
            if not np.array_equal(np.unique(lab), np.arange(k)):
                raise HierarchyShapeError(f"level {i + 1}: clusters must be exactly 0..{k - 1}")


class HierarchyShapeError(RuntimeError):
    """A clustering method returned a hierarchy of the wrong shape (a bug in the method, not a user error)."""


class HierarchyMethod(ABC):
    """A hierarchical clustering method selectable by name (``taxo build --method NAME``)."""

    name: ClassVar[str]

    @abstractmethod
    def fit(
        self,
        X: np.ndarray,
        levels: Sequence[int],
        sample_weight: np.ndarray | None = None,
    ) -> Hierarchy:
        """Cluster the rows of ``X`` (L2-normalized embeddings, float32) into ``levels`` (e.g. [266, 26, 5]).

        ``sample_weight`` (one non-negative weight per row, e.g. counts or pct_convos) may be used by the method.
        """

    def get_params(self) -> dict:
        """Constructor parameters, recorded in the version manifest."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and not k.endswith("_")}
