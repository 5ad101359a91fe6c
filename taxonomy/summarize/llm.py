"""Cluster names and descriptions from a language model, in Clio's contrastive style.

For every cluster the model sees a sample of its members (drawn with probability proportional to their
frequency, shown most frequent first) and, for contrast, the most frequent members of the nearest *other*
clusters of the same level (nearest by the cosine of the weighted member-embedding centroids). Above level 1 the
members shown are the cluster's children, with the descriptions the model wrote for them, and a few of its most
frequent values. The model answers with JSON ``{"name": ..., "description": ...}`` (name at most 10 words,
description one or two sentences); the prompt templates are ``taxonomy/prompts/name_cluster.txt`` and
``system.txt``.

Malformed answers never crash a build or leave a half version:

* not JSON / empty name / too long a name / empty description: asked again (the bad answer and the problem are
  shown to the model), up to ``content_retries`` times; then the node gets the offline summarizer's summary;
* a name that duplicates a sibling's: the lighter cluster is asked again with the names already taken; if it still
  collides, the name is qualified ("Honesty (candor)", else "Honesty (2)").

Every repair is counted in the statistics and listed in the manifest (``llm.repairs``).

Registered as ``anthropic`` (Messages API) and ``openai`` (chat completions, any compatible server with
``base_url``). Calls go through :class:`taxonomy.llm.LLMService` (cache, budget, retries, concurrency).
"""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar

import numpy as np

from taxonomy.llm.errors import LLMConfigError
from taxonomy.llm.prompts import PromptSet, extract_json
from taxonomy.naming import distinct_name, name_key, sentence_case
from taxonomy.summarize.base import ClusterInfo, Summarizer, Summary

MAX_NAME_WORDS = 10
NAME_SHAPE = '{"name": "...", "description": "..."}'
_WS = re.compile(r"\s+")


def _clean(text: str, limit: int) -> str:
    s = _WS.sub(" ", str(text)).strip()
    return s[:limit].rstrip()


def _clean_name(text: str) -> str:
    s = _clean(text, 200).strip(" \"'“”‘’`*")
    return s.rstrip(".").strip()


def stable_seed(*parts) -> int:
    """A seed from strings and numbers that does not depend on Python's hash seed."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big")


def weighted_centroids(clusters: list[ClusterInfo]) -> np.ndarray:
    rows = []
    dim = next((c.embeddings.shape[1] for c in clusters if getattr(c.embeddings, "ndim", 0) == 2), 1)
    for c in clusters:
        E = np.asarray(c.embeddings, dtype=np.float64)
        if E.ndim != 2 or E.shape[0] == 0:
            rows.append(np.zeros(dim))
            continue
        w = np.asarray(c.weights, dtype=np.float64).reshape(-1)
        w = np.where(np.isfinite(w) & (w > 0), w, 0.0) if w.shape[0] == E.shape[0] else np.ones(E.shape[0])
        if w.sum() <= 0:
            w = np.ones(E.shape[0])
        v = (w[:, None] * E).sum(axis=0)
        n = np.linalg.norm(v)
        rows.append(v / n if n > 0 else v)
    return np.vstack(rows) if rows else np.zeros((0, dim))


def nearest_clusters(cents: np.ndarray, targets: list[int], m: int, block: int = 1024) -> dict[int, list[int]]:
    """For each row of ``targets``, the ``m`` other rows of ``cents`` most similar to it, most similar first (ties:
    lower row first). Targets are taken ``block`` at a time (a K x block product, never K x K); above
    ``KNN_EXACT_MAX`` rows the layouts' approximate neighbour search is used instead (n log n in the clusters)."""
    from taxonomy.cluster import KNN_EXACT_MAX, knn

    K = len(cents)
    m = min(max(int(m), 0), max(K - 1, 0))
    if m == 0:
        return {int(k): [] for k in targets}
    if K > KNN_EXACT_MAX:
        I = knn(np.asarray(cents, dtype=np.float32), m)[1]
        return {int(k): [int(j) for j in I[k]] for k in targets}
    out: dict[int, list[int]] = {}
    for s0 in range(0, len(targets), block):
        part = targets[s0 : s0 + block]
        sims = cents @ cents[part].T  # (K, block)
        for col, k in enumerate(part):
            col_sims = sims[:, col]
            if K > 4 * (m + 1) and np.isfinite(col_sims).all():
                # only rows at least as similar as the (m+1)-th most similar can be among the m others: the same
                # order as a stable sort of every row, restricted to them
                cut = np.partition(col_sims, K - m - 1)[K - m - 1]
                rows = np.flatnonzero(col_sims >= cut)
                order = rows[np.argsort(-col_sims[rows], kind="stable")]
            else:
                order = np.argsort(-col_sims, kind="stable")
            out[int(k)] = [int(j) for j in order if int(j) != k][:m]
    return out


class LLMSummarizer(Summarizer):
    """Language-model names and descriptions (Clio-style contrastive prompts)."""

    name: ClassVar[str] = "llm"
    provider: ClassVar[str] = ""
    uses_model: ClassVar[bool] = True

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key_env: str | None = None,
        concurrency: int = 4,
        max_calls: int | None = None,
        max_cost: float | None = None,
        price: tuple[float, float] | list[float] | None = None,
        timeout: float = 60.0,
        max_retries: int = 5,
        retry_base: float = 1.0,
        temperature: float = 0.0,
        n_members: int = 30,
        n_contrast: int = 15,
        contrast_clusters: int = 3,
        content_retries: int = 2,
        seed: int = 0,
    ):
        if not self.provider:
            raise LLMConfigError("use the 'anthropic' or 'openai' summarizer")
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.concurrency = int(concurrency)
        self.max_calls = None if max_calls is None else int(max_calls)
        self.max_cost = None if max_cost is None else float(max_cost)
        self.price = None if price is None else [float(x) for x in price]
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.retry_base = float(retry_base)
        self.temperature = float(temperature)
        self.n_members = int(n_members)
        self.n_contrast = int(n_contrast)
        self.contrast_clusters = int(contrast_clusters)
        self.content_retries = int(content_retries)
        self.seed = int(seed)
        self._db = None
        self._service = None
        self._refresh = False
        self._prompts = PromptSet()
        self._memory: dict[str, str] = {}
        self._repairs: list[dict] = []
        # the configuration is checked now (bad numbers are usage errors), the key and server at preflight()
        self._config()

    # ------------------------------------------------------------------ service
    def _config(self):
        from taxonomy.llm.service import LLMConfig

        return LLMConfig(
            provider=self.provider,
            model=self.model,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            concurrency=self.concurrency,
            max_calls=self.max_calls,
            max_cost=self.max_cost,
            price=tuple(self.price) if self.price is not None else None,
            timeout=self.timeout,
            max_retries=self.max_retries,
            retry_base=self.retry_base,
            temperature=self.temperature,
        )

    def bind(self, db=None, service=None, refresh: bool = False) -> LLMSummarizer:
        """Use ``db`` for the response cache (or a ready ``service``); ``refresh`` skips cache reads."""
        self._db = db
        self._refresh = refresh
        if service is not None:
            self._service = service
        return self

    @property
    def service(self):
        if self._service is None:
            from taxonomy.llm.service import LLMService

            self._service = LLMService(self._config(), db=self._db, refresh=self._refresh)
        return self._service

    @property
    def prompts(self) -> PromptSet:
        return self._prompts

    def preflight(self) -> None:
        """Key and server check before any work (raises :class:`~taxonomy.llm.errors.LLMConfigError`)."""
        self.service.preflight()

    def remember(self, name: str, description: str) -> None:
        """Tell the summarizer a node's description, shown when its parent is named."""
        if name:
            self._memory[name.strip().casefold()] = description or ""

    def record_repair(self, level: int, what: str, problem: str, action: str) -> None:
        self.service.stats.add(repaired=1)
        self._repairs.append({"level": level, "node": what[:120], "problem": problem[:300], "action": action})

    @property
    def repairs(self) -> list[dict]:
        return list(self._repairs)

    def llm_info(self) -> dict:
        """For the version manifest: provider, model, URL, limits, statistics and repairs (never the key)."""
        info = self.service.info()
        info["repairs"] = self._repairs[:500]
        info["n_repairs"] = len(self._repairs)
        return info

    # ------------------------------------------------------------------ one request with content retries
    def ask_json(self, prompt: str, validate, *, shape: str, sample: int = 0) -> tuple[object | None, str | None]:
        """Ask, check the answer with ``validate(obj) -> (value, problem)``, ask again showing the problem (up to
        ``content_retries`` times). Returns (value, None) or (None, last problem)."""
        svc = self.service
        system = self._prompts.system()
        messages = [{"role": "user", "content": prompt}]
        problem = "no answer"
        for attempt in range(self.content_retries + 1):
            reply = svc.complete(system, messages, sample=sample)
            try:
                obj = extract_json(reply.text)
            except ValueError as exc:
                value, problem = None, f"{exc}; expected {shape}"
            else:
                value, problem = validate(obj)
            if problem is None:
                return value, None
            svc.stats.add(invalid_outputs=1)
            if attempt < self.content_retries:
                messages = messages + [
                    {"role": "assistant", "content": (reply.text or "").strip() or "(empty answer)"},
                    {"role": "user", "content": self._prompts.render("retry", problem=problem, shape=shape)},
                ]
        return None, problem

    # ------------------------------------------------------------------ naming
    def summarize_targets(self, clusters, sibling_groups, targets, fixed_names) -> list[Summary]:
        """Only the targets are sent to the model; the fixed names count as taken."""
        return self.summarize_level(clusters, sibling_groups, targets=targets, fixed_names=fixed_names)

    def summarize_level(
        self,
        clusters: list[ClusterInfo],
        sibling_groups: list[list[int]],
        *,
        targets: list[int] | None = None,
        fixed_names: list[str | None] | None = None,
    ) -> list[Summary]:
        """One summary per cluster. With ``targets``, only those clusters are sent to the model (the others keep
        ``fixed_names``, which count as taken for sibling distinctness)."""
        K = len(clusters)
        if K == 0:
            return []
        targets = list(range(K)) if targets is None else sorted(set(int(t) for t in targets))
        fixed = list(fixed_names) if fixed_names is not None else [None] * K
        groups = [list(g) for g in sibling_groups] if sibling_groups else [list(range(K))]
        group_of = {}
        for gi, g in enumerate(groups):
            for i in g:
                group_of[i] = gi
        for i in range(K):
            if i not in group_of:
                group_of[i] = len(groups)
                groups.append([i])
        level = clusters[0].level
        totals = [float(np.nansum(np.clip(np.asarray(c.weights, dtype=np.float64), 0, None))) for c in clusters]
        cents = weighted_centroids(clusters)
        neighbours_of = nearest_clusters(cents, targets, self.contrast_clusters)

        def taken_for(k: int, names: dict[int, str]) -> list[str]:
            out = []
            for j in groups[group_of[k]]:
                if j == k:
                    continue
                nm = names.get(j) if j in names else fixed[j]
                if nm:
                    out.append(nm)
            return out

        def ask(k: int, taken: list[str]):
            prompt = self._name_prompt(clusters, k, neighbours_of[k], taken)
            taken_keys = {t.strip().casefold() for t in taken}

            def validate(obj):
                return self._validate_summary(obj, taken_keys)

            return self.ask_json(prompt, validate, shape=NAME_SHAPE)

        svc = self.service
        # round 1: every target, knowing only the names that stay fixed
        first = svc.map(lambda k: ask(k, taken_for(k, {})), targets)
        names: dict[int, str] = {}
        descs: dict[int, str] = {}
        failed: dict[int, str] = {}
        for k, (val, problem) in zip(targets, first, strict=True):
            if val is None:
                failed[k] = problem or "no usable answer"
            else:
                names[k], descs[k] = val

        # round 2: duplicate sibling names among the new ones: the heavier keeps it, the others are asked again
        dupes = self._duplicates(targets, names, fixed, groups, group_of, totals)
        if dupes:
            again = svc.map(lambda k: ask(k, taken_for(k, {j: n for j, n in names.items() if j != k})), dupes)
            for k, (val, problem) in zip(dupes, again, strict=True):
                if val is None:
                    # keep the first answer; the final pass qualifies it
                    continue
                names[k], descs[k] = val

        # repairs: offline summaries for the failures, then distinct names within every sibling group
        if failed:
            from taxonomy.summarize.offline import OfflineSummarizer

            offline = OfflineSummarizer().summarize_level(clusters, groups)
            for k, problem in sorted(failed.items()):
                names[k], descs[k] = offline[k].name, offline[k].description
                self.record_repair(level, self._label(clusters[k]), problem, "offline summary")
        self._make_distinct(clusters, targets, names, fixed, groups, totals, level)

        out = []
        for k in range(K):
            if k in names:
                self.remember(names[k], descs[k])
                out.append(Summary(names[k], descs[k]))
            else:
                out.append(Summary(fixed[k] or "", ""))
        return out

    def _validate_summary(self, obj: dict, taken_keys: set[str]):
        name = obj.get("name") if isinstance(obj, dict) else None
        desc = obj.get("description") if isinstance(obj, dict) else None
        if not isinstance(name, str) or not _clean_name(name):
            return None, f"the name is missing or empty; expected {NAME_SHAPE}"
        name = _clean_name(name)
        n_words = len(name.split())
        if n_words > MAX_NAME_WORDS:
            return None, f"the name has {n_words} words; use at most {MAX_NAME_WORDS}"
        if not isinstance(desc, str) or not _clean(desc, 1000):
            return None, f"the description is missing or empty; expected {NAME_SHAPE}"
        if name.casefold() in taken_keys:
            return None, f"the name {name!r} is already used by a sibling cluster; choose a different name"
        return (sentence_case(name), _clean(desc, 1000)), None

    @staticmethod
    def _duplicates(targets, names, fixed, groups, group_of, totals) -> list[int]:
        """Targets whose new name repeats a sibling's: all but the heaviest of each clash (a fixed name wins)."""
        out = []
        seen_groups = sorted({group_of[k] for k in targets if k in names})
        for gi in seen_groups:
            members = groups[gi]
            by_key: dict[str, list[int]] = {}
            for j in members:
                nm = names.get(j) if j in names else fixed[j]
                if nm:
                    by_key.setdefault(nm.strip().casefold(), []).append(j)
            for idx in by_key.values():
                if len(idx) < 2:
                    continue
                keep = next((j for j in idx if j not in names), None)
                if keep is None:
                    keep = min(idx, key=lambda j: (-totals[j], j))
                out.extend(j for j in idx if j != keep and j in names)
        return sorted(out)

    def _make_distinct(self, clusters, targets, names, fixed, groups, totals, level) -> None:
        """Distinct names within every sibling group: the heaviest keeps a clashing name, the others are
        qualified by a member ("Honesty (candor)") or numbered (:func:`~taxonomy.naming.distinct_name`)."""
        for g in groups:
            used = {name_key(fixed[j]) for j in g if j not in names and fixed[j]}
            for j in sorted((j for j in g if j in names), key=lambda j: (-totals[j], j)):
                nm = names[j]
                if name_key(nm) not in used:
                    used.add(name_key(nm))
                    continue
                new = self._qualify(nm, clusters[j], used)
                self.record_repair(level, self._label(clusters[j]), f"duplicate sibling name {nm!r}", f"renamed {new!r}")
                names[j] = new
                used.add(name_key(new))

    @staticmethod
    def _qualify(name: str, c: ClusterInfo, used: set[str]) -> str:
        w = np.asarray(c.weights, dtype=np.float64).reshape(-1)
        order = np.argsort(-w, kind="stable") if w.shape[0] == len(c.members) else range(len(c.members))
        name_words = {x.casefold() for x in name.split()}
        for i in list(order)[:10]:
            m = _clean(c.members[int(i)], 40)
            if not m or set(m.casefold().split()) <= name_words:
                continue
            cand = f"{name} ({m})"
            if name_key(cand) not in used:
                return cand
        return distinct_name(name, used)

    @staticmethod
    def _label(c: ClusterInfo) -> str:
        if c.child_names:
            return "cluster of " + ", ".join(c.child_names[:3])
        return "cluster of " + ", ".join(str(m) for m in c.members[:3])

    # ------------------------------------------------------------------ prompts
    def _sample_members(self, c: ClusterInfo, n: int) -> list[str]:
        """Up to ``n`` members, drawn with probability proportional to frequency (seeded), most frequent first."""
        m = len(c.members)
        w = np.asarray(c.weights, dtype=np.float64).reshape(-1)
        if w.shape[0] != m:
            w = np.ones(m)
        w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
        if m <= n:
            idx = list(range(m))
        else:
            p = w + (w.sum() / m * 0.01 if w.sum() > 0 else 1.0)  # a floor: rare members can still appear
            p = p / p.sum()
            rng = np.random.default_rng(stable_seed(self.seed, c.level, *sorted(map(str, c.members))[:200], m))
            idx = [int(i) for i in rng.choice(m, size=n, replace=False, p=p)]
        idx.sort(key=lambda i: (-w[i], str(c.members[i])))
        return [str(c.members[i]) for i in idx]

    def _children_lines(self, c: ClusterInfo, n: int) -> list[str]:
        names = list(c.child_names or [])
        cw = list(c.child_weights or [])
        if len(cw) != len(names):
            cw = [1.0] * len(names)
        order = sorted(range(len(names)), key=lambda i: (-cw[i], names[i]))
        if len(order) > n:
            sub = ClusterInfo(level=c.level, members=names, weights=np.asarray(cw), embeddings=np.zeros((0, 0)))
            chosen = set(self._sample_members(sub, n))
            order = [i for i in order if names[i] in chosen]
        lines = []
        for i in order:
            desc = self._memory.get(names[i].strip().casefold(), "")
            lines.append(f"- {names[i]}: {desc}" if desc else f"- {names[i]}")
        return lines

    def _name_prompt(self, clusters: list[ClusterInfo], k: int, neighbours: list[int], taken: list[str]) -> str:
        c = clusters[k]
        if c.level >= 2 and c.child_names:
            lines = self._children_lines(c, self.n_members)
            top = self._top_members(c, 8)
            lines.append(f"(its most frequent items: {'; '.join(top)})")
            nk = len(c.child_names)
            what = (
                f"{nk} sub-cluster{'s' if nk != 1 else ''} ({len(c.members)} items in all), listed with "
                f"{'their names and descriptions' if nk != 1 else 'its name and description'}"
            )
            contrast_what = "sub-cluster names"
        else:
            lines = [f"- {m}" for m in self._sample_members(c, self.n_members)]
            shown = len(lines)
            what = (
                f"{len(c.members)} items; {'all of them are' if shown == len(c.members) else f'a sample of {shown}, drawn by frequency, is'} "
                "listed below, most frequent first"
            )
            contrast_what = "the most frequent items"
        contrast: list[str] = []
        if neighbours:
            per = max(1, self.n_contrast // len(neighbours))
            for j in neighbours:
                o = clusters[j]
                items = list(o.child_names[:per]) if (o.level >= 2 and o.child_names) else self._top_members(o, per)
                contrast.extend(f"- {x}" for x in items)
        taken_block = ""
        if taken:
            shown_taken = "\n".join(f"- {t}" for t in sorted(taken, key=str.casefold)[:60])
            taken_block = (
                "\nThese names are already used by sibling clusters; choose a name that differs from all of them:\n"
                f"<taken>\n{shown_taken}\n</taken>\n"
            )
        return self._prompts.render(
            "name_cluster",
            level=c.level,
            what=what,
            members="\n".join(lines),
            contrast_what=contrast_what,
            contrast="\n".join(contrast) if contrast else "(none)",
            taken=taken_block,
        )

    @staticmethod
    def _top_members(c: ClusterInfo, n: int) -> list[str]:
        w = np.asarray(c.weights, dtype=np.float64).reshape(-1)
        if w.shape[0] != len(c.members):
            return [str(x) for x in c.members[:n]]
        w = np.where(np.isfinite(w), w, 0.0)
        idx = sorted(range(len(c.members)), key=lambda i: (-w[i], str(c.members[i])))[:n]
        return [str(c.members[i]) for i in idx]


class AnthropicSummarizer(LLMSummarizer):
    """Claude names and descriptions via the Anthropic Messages API (ANTHROPIC_API_KEY; cached, budgeted)."""

    name: ClassVar[str] = "anthropic"
    provider: ClassVar[str] = "anthropic"


class OpenAISummarizer(LLMSummarizer):
    """Names and descriptions from any OpenAI-compatible chat server (--llm-base-url; cached, budgeted)."""

    name: ClassVar[str] = "openai"
    provider: ClassVar[str] = "openai"


__all__ = ["AnthropicSummarizer", "LLMSummarizer", "OpenAISummarizer", "summarizer_for_build"]


def summarizer_for_build(
    name: str,
    *,
    seed: int = 0,
    db=None,
    hierarchy: str = "embedding",
    refresh: bool = False,
    **llm_options,
) -> Summarizer:
    """The summarizer a build (or resummarize) uses. ``llm_options`` (``model``, ``base_url``, ``api_key_env``,
    ``concurrency``, ``max_calls``, ``max_cost``, ``price``; None = not given) only apply to the language-model
    summarizers; the offline one is built exactly as before. The returned LLM summarizer is bound to ``db`` for
    its response cache; call ``preflight()`` before starting work."""
    from taxonomy.errors import UsageError
    from taxonomy.summarize import SUMMARIZERS, get_summarizer

    given = {k: v for k, v in llm_options.items() if v is not None}
    key = str(name).strip().lower()
    cls = SUMMARIZERS.get(key)
    is_llm = cls is not None and cls.uses_model
    if hierarchy not in ("embedding", "clio"):
        raise UsageError(f"--hierarchy {hierarchy!r}: use 'embedding' (default) or 'clio'")
    if not is_llm:
        if given:
            opts = ", ".join("--" + _OPTION_NAMES.get(k, k.replace("_", "-")) for k in sorted(given))
            raise UsageError(f"{opts}: only for the language-model summarizers (--summarizer anthropic or openai)")
        if hierarchy == "clio":
            raise UsageError("--hierarchy clio needs a language model: use --summarizer anthropic or openai")
        return get_summarizer(name)
    summ = get_summarizer(key, seed=seed, **given)
    return summ.bind(db=db, refresh=refresh)


_OPTION_NAMES = {
    "model": "llm-model",
    "base_url": "llm-base-url",
    "api_key_env": "llm-api-key-env",
    "concurrency": "llm-concurrency",
    "max_calls": "max-calls",
    "max_cost": "max-cost",
    "price": "llm-price",
}
