"""Description helpers of the offline summarizer (:class:`taxonomy.summarize.offline.OfflineSummarizer`): telling
members, the nearest siblings and what sets a node apart from them, in one or two sentences."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .base import ClusterInfo
from .text import CONJUNCTIONS, QUALIFIER, STOPWORDS, WS, decapitalise, join_list, norm_weights, same_stem, stem


class DescribeMixin:
    """Descriptions; mixed into the offline summarizer (uses its parameters and the per-call ``_modifier`` test)."""

    def _examples(self, c: ClusterInfo, name: str, rep: np.ndarray, tok, n_max: int) -> list[str]:
        """Representative members that add something to the name: greedy, each pick weighing the member's
        representativeness by the share of its words not yet said (by the name or earlier picks)."""
        said = {x for x in tok(name).keys if x not in STOPWORDS and x not in CONJUNCTIONS}
        n = len(c.members)
        if n == 0 or n_max <= 0:
            return []
        r = np.asarray(rep, dtype=np.float64)
        top = np.argsort(-r, kind="stable")[: max(30, 3 * n_max)]
        rl = r.tolist()
        pool = sorted(top.tolist(), key=lambda i: (-rl[i], str(c.members[i])))
        E = c.embeddings if isinstance(c.embeddings, np.ndarray) and c.embeddings.ndim == 2 else None
        sim: list[list[float]] | None = None  # by position in the pool
        if E is not None and E.shape[0] == n:
            P = np.asarray(E[pool], dtype=np.float32)
            sim = (P @ P.T).tolist()
        # each candidate's content words, once
        contents = [tuple(x for x in tok(c.members[i]).keys if x not in STOPWORDS) for i in pool]
        chosen: list[int] = []  # positions in the pool
        seen: set[tuple[str, ...]] = set()
        said_stems = {stem(x) for x in said}
        while len(chosen) < n_max:
            best, best_score = None, 0.0
            for a, i in enumerate(pool):
                if a in chosen:
                    continue
                content = contents[a]
                if not content or content in seen:
                    continue
                new = sum(1 for x in content if x not in said and stem(x) not in said_stems)
                if new == 0:  # nothing the name or earlier examples did not already say
                    continue
                if sim and chosen and max(sim[a][b] for b in chosen) > 0.92:
                    continue
                score = rl[i] * (0.5 + 0.5 * new / len(content))
                if best is None or score > best_score:
                    best, best_score = a, score
            if best is None:
                break
            chosen.append(best)
            content = contents[best]
            seen.add(content)
            said.update(content)
            said_stems.update(stem(x) for x in content)
        return [self._quote(c.members[pool[a]]) for a in chosen]

    @staticmethod
    def _clip(s: str) -> str:
        text = WS.sub(" ", str(s)).strip()
        return text[:49].rstrip() + "…" if len(text) > 50 else text

    @classmethod
    def _quote(cls, s: str) -> str:
        text = cls._clip(s)
        if any(ch in text for ch in ",;.") or " and " in f" {text} ":
            text = f"“{text}”"
        return text

    @staticmethod
    def _factored_list(items: list[str]) -> str:
        """"proactive, practical and educational helpfulness" rather than repeating the shared last word."""
        words = [x.split() for x in items]
        if len(items) >= 2 and all(len(w) >= 2 and not x.startswith("“") for w, x in zip(words, items, strict=True)):
            last = {w[-1] for w in words}
            if len(last) == 1:
                return join_list([" ".join(w[:-1]) for w in words]) + " " + words[0][-1]
        return join_list(items)

    @staticmethod
    def _nearest_all(cents, groups: dict[int, tuple[int, ...]], n: int) -> list[list[int]]:
        """For every cluster, the ``n`` clusters nearest by centroid cosine: among its siblings when it has
        some, else in the whole level (matrix products in blocks: no K x K matrix in memory for a large K)."""
        K = len(cents)
        known = [j for j in range(K) if cents[j] is not None]
        out: list[list[int]] = [[] for _ in range(K)]
        if not known:
            return out
        M = np.stack([cents[j] for j in known])
        pos = {j: r for r, j in enumerate(known)}
        # the pool of candidates of each cluster: its siblings, or the whole level when it has none
        pools: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for k in known:
            group = tuple(j for j in groups.get(k, ()) if cents[j] is not None)
            pools[group if len(group) > 1 else tuple(known)].append(k)
        for pool, rows in pools.items():
            cols = np.array([pos[j] for j in pool])
            at = {j: i for i, j in enumerate(pool)}
            P = M[cols]
            for s0 in range(0, len(rows), 512):
                part = rows[s0 : s0 + 512]
                S = M[[pos[k] for k in part]] @ P.T
                for r, k in enumerate(part):
                    if k in at:
                        S[r, at[k]] = -np.inf
                    m = min(n, len(pool) - (k in at))
                    if m <= 0:
                        continue
                    top = np.argpartition(-S[r], m - 1)[:m]
                    top = sorted(top, key=lambda t: (-S[r, t], pool[t]))
                    out[k] = [pool[t] for t in top if np.isfinite(S[r, t])]
        return out

    def _distinct_terms(self, k: int, near: list[int], cands, tfs, name: str, show) -> list[str]:
        """Up to two of the cluster's terms, beyond what its name says, that its nearest clusters say least (its own
        mass minus theirs)."""
        if not near:
            return []
        said = {x for x in name.lower().split()}
        head = name.lower().split()[-1] if name.strip() else ""
        scored = []
        for sc, g in cands[:25]:
            if all(any(same_stem(x, y) for y in said) for x in g if x not in STOPWORDS):
                continue  # the name says it already
            if head and same_stem(g[-1], head):
                continue  # one more kind of what the name says ("practical helpfulness"): the examples show those
            own = tfs[k].get(g, 0.0)
            other = max(tfs[j].get(g, 0.0) for j in near)
            gap = own - other
            if gap > 0.02 and not self._modifier(g):
                scored.append((gap, g))
        scored.sort(key=lambda t: (-t[0], t[1]))
        out: list[str] = []
        for _, g in scored:
            text = show(g)
            if any(same_stem(text, o) or text in o or o in text for o in out):
                continue
            out.append(text)
            if len(out) == 2:
                break
        return out

    def _describe(self, c: ClusterInfo, name: str, rep: np.ndarray, tok, noun: str, near: list[str],
                  distinct: list[str]) -> str:
        """One or two sentences: what the members share (the name's focus and telling members or children) and
        what sets the node apart from its nearest siblings. No counts or shares: they are shown beside it."""
        n = len(c.members)
        focus = decapitalise(QUALIFIER.sub("", name))  # "Privacy 2", "Honesty (candor)" -> "privacy", "honesty"
        if n == 0:
            return "An empty cluster."
        if focus.casefold() == "unnamed cluster":
            return f"{noun} without words to name them."
        if n == 1:
            return f"A single member: {self._quote(c.members[0])}."
        children = list(c.child_names or [])
        ex = self._examples(c, name, rep, tok, self.n_examples)
        # "Social values, ...", not "Values about social values, ..."
        category = bool(noun == "Values" and name.casefold().endswith(" values"))
        lead = name if category else f"{noun} about {focus}"
        if c.level >= 2 and children:
            cw, _ = norm_weights(c.child_weights if len(c.child_weights) == len(children) else None, len(children))
            corder = sorted(range(len(children)), key=lambda j: (-cw[j], str(children[j])))
            shown = [f"“{self._clip(children[j])}”" for j in corder[:3]]
            first = f"{lead}, gathering {join_list(shown)}"
            first += " among others." if len(children) > 3 else "."
        else:
            first = f"{lead}, such as {self._factored_list(ex)}." if ex else f"{lead}."
        if not near:
            return first
        others = join_list([f"“{self._clip(x)}”" for x in near])
        if distinct:
            second = f"Unlike the nearby {others}, it also stresses {join_list(distinct)}."
        else:
            second = f"Nearest to {others}, it keeps to {focus} itself."
        return f"{first} {second}"
