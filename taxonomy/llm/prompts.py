"""Prompt templates: plain-text files in ``taxonomy/prompts/`` (``$name`` placeholders, :class:`string.Template`).

Their text and sha256 go into the version manifest (:meth:`PromptSet.manifest`); since the rendered text is part
of every cached request, editing a template simply makes new cache keys.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from functools import lru_cache
from importlib import resources
from string import Template


@lru_cache(maxsize=None)
def template_text(name: str) -> str:
    """The text of ``taxonomy/prompts/<name>.txt``."""
    return resources.files("taxonomy").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")


def template_names() -> list[str]:
    folder = resources.files("taxonomy").joinpath("prompts")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt"))


class PromptSet:
    """Renders templates and remembers which were used (for the manifest)."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._lock = threading.Lock()

    def render(self, name: str, **values) -> str:
        with self._lock:
            self._used.add(name)
        return Template(template_text(name)).substitute({k: str(v) for k, v in values.items()}).strip()

    def system(self) -> str:
        with self._lock:
            self._used.add("system")
        return template_text("system").strip()

    @property
    def used(self) -> list[str]:
        with self._lock:
            return sorted(self._used)

    def manifest(self) -> dict:
        """``{template: {"sha256": ..., "text": ...}}`` for every template used."""
        return {
            name: {"sha256": hashlib.sha256(template_text(name).encode("utf-8")).hexdigest(), "text": template_text(name)}
            for name in self.used
        }

    def hashes(self) -> dict:
        return {name: info["sha256"] for name, info in self.manifest().items()}


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def extract_json(text: str) -> dict:
    """The first JSON object in a model's answer (code fences and surrounding prose tolerated).
    Raises ValueError when there is none."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the answer is empty")
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for chunk in candidates:
        start = chunk.find("{")
        while start != -1:
            try:
                obj, _ = decoder.raw_decode(chunk, start)
            except json.JSONDecodeError:
                start = chunk.find("{", start + 1)
                continue
            if isinstance(obj, dict):
                return obj
            start = chunk.find("{", start + 1)
    raise ValueError("the answer is not a JSON object")
