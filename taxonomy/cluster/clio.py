"""Clio-style hierarchy building: the levels above 1 are built by a language model from the clusters' summaries.

``taxo build --hierarchy clio`` (Tamkin et al., "Clio", 2024, as used by Huang et al. 2025). Level 1 comes from
the embedding clustering method as usual and is named by the language-model summarizer. Then, for every higher
level L with a requested count k (children = the level L-1 clusters, each with its name and description):

1. **Neighbourhoods.** The children's "name: description" texts are embedded; k-means (seeded) groups them into
   ``max(1, round(n / neighbourhood_size))`` neighbourhoods of about ``neighbourhood_size`` (40) clusters.
2. **Candidate parents.** For each neighbourhood the model is shown its clusters (name and description, heaviest
   first) and, for context, the ``n_outside`` nearest clusters outside it, and proposes about
   ``ceil(proposal_factor * k * size / n)`` parent categories (``prompts/propose_parents.txt``).
3. **De-duplication.** Exact repeats are dropped; the candidates' "name: description" texts are embedded and
   merged by average-linkage agglomerative clustering (cosine) into at most k groups, each represented by the
   candidate nearest its group's mean: near-duplicates across neighbourhoods collapse into one.
4. **Assignment.** Each child is shown the candidate list (all of it; the ``max_candidates_shown`` nearest when
   longer) **shuffled with a seeded RNG**, differently for each of ``votes`` samples (order bias), and picks one
   (``prompts/assign_parent.txt``). The majority wins; ties go to the candidate nearest in embedding space. An
   answer naming no listed candidate is asked again, then dropped; a child without any valid vote goes to its
   nearest candidate (reported).
5. **Counts.** Candidates that received no child are dropped (no empty parent). While there are fewer parents
   than ``k - count_tolerance``, the parent with the most children is split in two (2-means on its children,
   seeded); while there are more than ``k + count_tolerance``, the smallest is merged into its nearest. With the
   default tolerance 0 the count is exact.
6. **Renaming.** Every parent is then named and described by the summarizer from its assigned children (their
   names and descriptions) with the nearest other parents for contrast.

Everything is deterministic for a seed given the model's answers, which are cached: re-running reproduces the
tree without calls. The statistics of every level (proposed, merged, splits, ties, repairs) go to the manifest.
"""

from __future__ import annotations

import difflib
import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from taxonomy.summarize.base import ClusterInfo, Summary
from taxonomy.naming import sentence_case
from taxonomy.summarize.llm import stable_seed

CATEGORIES_SHAPE = '{"categories": [{"name": "...", "description": "..."}, ...]}'
CHOICE_SHAPE = '{"category": "..."}'


def _norm_rows(E: np.ndarray) -> np.ndarray:
    E = np.asarray(E, dtype=np.float64)
    n = np.linalg.norm(E, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return E / n


def _clean(text, limit: int = 1000) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()[:limit]


def _clean_name(text) -> str:
    return _clean(text, 200).strip(" \"'“”‘’`*").rstrip(".").strip()


@dataclass
class ClioResult:
    """Labels in :class:`~taxonomy.cluster.base.Hierarchy` form, the summaries of every level (by cluster index),
    the counts reached and a report per level."""

    labels: list[np.ndarray]
    summaries: list[list[Summary]]
    levels: list[int]
    report: list[dict] = field(default_factory=list)


class ClioHierarchy:
    """Upper levels proposed, de-duplicated, assigned (shuffled, voted) and renamed by a language model."""

    name = "clio"

    def __init__(
        self,
        summarizer,
        *,
        seed: int = 0,
        neighbourhood_size: int = 40,
        proposal_factor: float = 1.5,
        n_outside: int = 10,
        votes: int = 3,
        max_candidates_shown: int = 60,
        count_tolerance: int = 0,
    ):
        from taxonomy.errors import UsageError

        if not summarizer.uses_model:
            raise UsageError("--hierarchy clio needs a language model: use --summarizer anthropic or openai")
        if int(count_tolerance) < 0:
            raise UsageError(f"--count-tolerance must be >= 0, got {count_tolerance}")
        if int(votes) < 1:
            raise UsageError(f"votes must be >= 1, got {votes}")
        self._summ = summarizer
        self._embed: Callable[[Sequence[str]], np.ndarray] | None = None
        self.seed = int(seed)
        self.neighbourhood_size = max(2, int(neighbourhood_size))
        self.proposal_factor = float(proposal_factor)
        self.n_outside = int(n_outside)
        self.votes = int(votes)
        self.max_candidates_shown = max(2, int(max_candidates_shown))
        self.count_tolerance = int(count_tolerance)

    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    # ------------------------------------------------------------------ the whole hierarchy
    def fit(
        self,
        X: np.ndarray,
        texts: Sequence[str],
        weights: np.ndarray,
        level1_labels: np.ndarray,
        levels: Sequence[int],
        *,
        embed: Callable[[Sequence[str]], np.ndarray],
    ) -> ClioResult:
        """``level1_labels``: each value's level-1 cluster (from the embedding method); ``levels``: the requested
        counts of every level (the first is level 1's); ``embed``: texts -> L2-normalised embeddings (the build's
        embedder, so that names and values share one space and one cache)."""
        summ = self._summ
        self._embed = lambda t: embed(list(t))
        lab1 = np.asarray(level1_labels, dtype=np.int64)
        k1 = int(lab1.max()) + 1
        infos = self._infos(1, lab1, k1, texts, weights, X, None, None)
        summaries = summ.summarize_level(infos, [list(range(k1))])
        labels = [lab1]
        all_summaries = [summaries]
        reached = [k1]
        report: list[dict] = []
        value_lab = lab1
        for L in range(2, len(levels) + 1):
            k = min(int(levels[L - 1]), reached[-1])
            child_w = [float(np.clip(np.asarray(c.weights, dtype=np.float64), 0, None).sum()) for c in infos]
            parent_of, rep = self._level(L, summaries, child_w, k)
            report.append(rep)
            kp = int(parent_of.max()) + 1
            value_lab = parent_of[value_lab]
            infos = self._infos(L, value_lab, kp, texts, weights, X, parent_of, (summaries, child_w))
            summaries = summ.summarize_level(infos, [list(range(kp))])
            labels.append(parent_of)
            all_summaries.append(summaries)
            reached.append(kp)
        return ClioResult(labels=labels, summaries=all_summaries, levels=reached, report=report)

    @staticmethod
    def _infos(level, value_lab, k, texts, weights, X, parent_of, children) -> list[ClusterInfo]:
        order = np.argsort(value_lab, kind="stable")
        bounds = np.searchsorted(value_lab[order], np.arange(k + 1))
        kids: dict[int, list[int]] = {}
        if parent_of is not None:
            for c, p in enumerate(parent_of):
                kids.setdefault(int(p), []).append(c)
        out = []
        for c in range(k):
            members = order[bounds[c] : bounds[c + 1]]
            child_names, child_weights = [], []
            if children is not None:
                summ, cw = children
                ks = sorted(kids.get(c, []), key=lambda i: (-cw[i], summ[i].name))
                child_names = [summ[i].name for i in ks]
                child_weights = [cw[i] for i in ks]
            out.append(
                ClusterInfo(
                    level=level,
                    members=[texts[j] for j in members],
                    weights=np.asarray(weights)[members],
                    embeddings=np.asarray(X)[members],
                    child_names=child_names,
                    child_weights=child_weights,
                )
            )
        return out

    # ------------------------------------------------------------------ one level
    def _level(self, L: int, children: list[Summary], child_w: list[float], k: int) -> tuple[np.ndarray, dict]:
        n = len(children)
        rep: dict = {"level": L, "children": n, "requested": k}
        if k >= n:
            rep.update(parents=n, note="as many parents as children: one each")
            return np.arange(n, dtype=np.int64), rep
        if k <= 1:
            rep.update(parents=1, note="a single parent")
            return np.zeros(n, dtype=np.int64), rep
        E = _norm_rows(self._embed([f"{c.name}: {c.description}" for c in children]))

        # 1. neighbourhoods
        m = max(1, int(round(n / self.neighbourhood_size)))
        if m > 1:
            from sklearn.cluster import KMeans

            nb = KMeans(n_clusters=m, random_state=self.seed, n_init=10).fit(E).labels_
        else:
            nb = np.zeros(n, dtype=np.int64)
        hoods = [list(np.flatnonzero(nb == j)) for j in sorted(set(int(x) for x in nb), key=lambda j: int(np.flatnonzero(nb == j)[0]))]
        rep["neighbourhoods"] = len(hoods)

        # 2. candidate parents per neighbourhood
        def propose(h: int):
            idx = hoods[h]
            count = max(1, min(len(idx), math.ceil(self.proposal_factor * k * len(idx) / n)))
            cen = E[idx].mean(axis=0)
            others = [i for i in np.argsort(-(E @ cen), kind="stable") if nb[i] != nb[idx[0]]][: self.n_outside]
            lines = [f"- {children[i].name}: {children[i].description}" for i in sorted(idx, key=lambda i: (-child_w[i], i))]
            outside = [f"- {children[i].name}" for i in others]
            prompt = self._summ.prompts.render(
                "propose_parents",
                clusters="\n".join(lines),
                outside="\n".join(outside) if outside else "(none)",
                count=count,
            )
            value, problem = self._summ.ask_json(prompt, lambda obj: self._valid_categories(obj, count), shape=CATEGORIES_SHAPE)
            return value, problem, count

        proposals = self._summ.service.map(propose, range(len(hoods)))
        cands: list[tuple[str, str]] = []
        seen: set[str] = set()
        n_proposed = 0
        for h, (value, problem, count) in enumerate(proposals):
            if value is None:
                value = self._fallback_candidates(hoods[h], children, child_w, E, count, self.seed)
                self._summ.record_repair(L, f"neighbourhood {h + 1} ({len(hoods[h])} clusters)", problem or "", "candidates from its heaviest clusters")
            for name, desc in value:
                n_proposed += 1
                if name.casefold() not in seen:
                    seen.add(name.casefold())
                    cands.append((name, desc))
        rep["proposed"] = n_proposed

        # 3. de-duplicate across neighbourhoods, down to at most k candidates
        CE = _norm_rows(self._embed([f"{a}: {b}" for a, b in cands]))
        if len(cands) > k:
            from sklearn.cluster import AgglomerativeClustering

            g = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit(CE).labels_
            keep = []
            for gi in sorted(set(int(x) for x in g), key=lambda gi: int(np.flatnonzero(g == gi)[0])):
                members = np.flatnonzero(g == gi)
                mean = CE[members].mean(axis=0)
                best = max(members, key=lambda i: (float(CE[i] @ mean), -int(i)))
                keep.append(int(best))
            cands = [cands[i] for i in keep]
            CE = CE[keep]
        rep["candidates"] = len(cands)
        C = len(cands)

        # 4. assignment: shuffled candidate lists, several samples, majority vote
        sims = E @ CE.T  # (n, C)
        jobs = [(i, v) for i in range(n) for v in range(self.votes)]

        def assign(job):
            i, v = job
            shown = list(range(C))
            if C > self.max_candidates_shown:
                shown = [int(c) for c in np.argsort(-sims[i], kind="stable")[: self.max_candidates_shown]]
            rng = random.Random(self._shuffle_seed(L, children[i].name, v))
            rng.shuffle(shown)
            prompt = self._summ.prompts.render(
                "assign_parent",
                cluster=f"{children[i].name}: {children[i].description}",
                categories="\n".join(f"- {cands[c][0]}: {cands[c][1]}" for c in shown),
            )
            value, _problem = self._summ.ask_json(
                prompt, lambda obj: self._valid_choice(obj, [cands[c][0] for c in shown], shown), shape=CHOICE_SHAPE, sample=v
            )
            return value

        answers = self._summ.service.map(assign, jobs)
        tally = np.zeros((n, C), dtype=np.int64)
        dropped = 0
        for (i, _v), c in zip(jobs, answers, strict=True):
            if c is None:
                dropped += 1
            else:
                tally[i, c] += 1
        parent = np.empty(n, dtype=np.int64)
        ties = unanimous = fallback = 0
        for i in range(n):
            top = tally[i].max()
            if top == 0:
                parent[i] = int(np.argmax(sims[i]))
                fallback += 1
                self._summ.record_repair(L, children[i].name, "no valid category in any sample", "nearest candidate")
                continue
            best = np.flatnonzero(tally[i] == top)
            if len(best) > 1:
                ties += 1
            if top == self.votes:
                unanimous += 1
            parent[i] = int(max(best, key=lambda c: (float(sims[i, c]), -int(c))))
        rep.update(votes=self.votes, dropped_votes=dropped, ties=ties, unanimous=unanimous, nearest_fallback=fallback)

        # 5. counts: drop empty candidates, split / merge to the requested count (within the tolerance)
        groups: dict[int, list[int]] = {}
        for i in range(n):
            groups.setdefault(int(parent[i]), []).append(i)
        rep["empty_candidates"] = C - len(groups)
        parts = [groups[c] for c in sorted(groups)]
        lo, hi = max(1, k - self.count_tolerance), min(n, k + self.count_tolerance)
        splits = merges = 0
        while len(parts) < lo:
            j = max(range(len(parts)), key=lambda j: (len(parts[j]), sum(child_w[i] for i in parts[j]), -j))
            if len(parts[j]) < 2:
                break
            a, b = self._split(parts[j], E)
            parts[j] = a
            parts.append(b)
            splits += 1
        while len(parts) > hi:
            j = min(range(len(parts)), key=lambda j: (len(parts[j]), sum(child_w[i] for i in parts[j]), j))
            cen = _norm_rows(np.stack([E[p].mean(axis=0) for p in parts]))
            order = [int(t) for t in np.argsort(-(cen @ cen[j]), kind="stable") if int(t) != j]
            parts[order[0]] = sorted(parts[order[0]] + parts[j])
            del parts[j]
            merges += 1
        if splits or merges:
            self._summ.record_repair(
                L, f"level {L}", f"{len(groups)} non-empty parents for {k} requested",
                f"{splits} split(s), {merges} merge(s) to reach {len(parts)}",
            )
        rep.update(splits=splits, merges=merges, parents=len(parts))
        parts.sort(key=min)
        out = np.empty(n, dtype=np.int64)
        for p, members in enumerate(parts):
            out[members] = p
        return out, rep

    # ------------------------------------------------------------------ helpers
    def _shuffle_seed(self, level: int, child: str, sample: int) -> int:
        return stable_seed("clio-shuffle", self.seed, level, child, sample)

    @staticmethod
    def _valid_categories(obj, count: int):
        cats = obj.get("categories") if isinstance(obj, dict) else None
        if not isinstance(cats, list) or not cats:
            return None, f"expected a non-empty list under \"categories\": {CATEGORIES_SHAPE}"
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for c in cats:
            if not isinstance(c, dict):
                continue
            name = _clean_name(c.get("name", "")) if isinstance(c.get("name"), str) else ""
            desc = _clean(c.get("description", "")) if isinstance(c.get("description"), str) else ""
            if not name or len(name.split()) > 10 or name.casefold() in seen:
                continue
            seen.add(name.casefold())
            out.append((sentence_case(name), desc or name))
        if not out:
            return None, "no category has a usable name (non-empty, at most 10 words)"
        return out[: max(2 * count, count + 2)], None

    @staticmethod
    def _valid_choice(obj, names: list[str], ids: list[int]):
        raw = obj.get("category") if isinstance(obj, dict) else None
        if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= len(names):
            return ids[raw - 1], None
        if not isinstance(raw, str) or not raw.strip():
            return None, f"the category is missing; expected {CHOICE_SHAPE} with one of the listed names"
        keys = [n.casefold() for n in names]
        text = _clean_name(raw)
        for cand in (text, re.sub(r"^(?:[-*]|\d+[.)])\s*", "", text), text.split(": ", 1)[0].strip()):
            if cand.casefold() in keys:
                return ids[keys.index(cand.casefold())], None
        close = difflib.get_close_matches(text.casefold(), keys, n=1, cutoff=0.9)
        if close:
            return ids[keys.index(close[0])], None
        return None, f"{raw!r} is not one of the listed categories; copy one of their names exactly"

    @staticmethod
    def _fallback_candidates(idx, children, child_w, E, count, seed: int) -> list[tuple[str, str]]:
        """Without usable proposals: k-means the neighbourhood into ``count`` groups, each named after its heaviest
        cluster (the parents are renamed from their children later anyway)."""
        idx = list(idx)
        count = max(1, min(count, len(idx)))
        if count > 1:
            from sklearn.cluster import KMeans

            g = KMeans(n_clusters=count, random_state=seed, n_init=10).fit(E[idx]).labels_
        else:
            g = np.zeros(len(idx), dtype=np.int64)
        out = []
        for gi in sorted(set(int(x) for x in g)):
            members = [idx[t] for t in np.flatnonzero(g == gi)]
            members.sort(key=lambda i: (-child_w[i], i))
            names = [children[i].name for i in members[:3]]
            out.append((children[members[0]].name, "Clusters such as " + ", ".join(names) + "."))
        return out

    def _split(self, members: list[int], E: np.ndarray) -> tuple[list[int], list[int]]:
        from sklearn.cluster import KMeans

        members = sorted(members)
        g = KMeans(n_clusters=2, random_state=self.seed, n_init=10).fit(E[members]).labels_
        a = [m for m, x in zip(members, g, strict=True) if x == 0]
        b = [m for m, x in zip(members, g, strict=True) if x == 1]
        if not a or not b:  # identical embeddings: halve
            half = len(members) // 2
            a, b = members[:half], members[half:]
        return (a, b) if min(a) < min(b) else (b, a)
