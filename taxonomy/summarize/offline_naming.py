"""Naming helpers of the offline summarizer (:class:`taxonomy.summarize.offline.OfflineSummarizer`): name options
from the ranked terms, factored pairs, category names, the choice by meaning, and distinct names within a level."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from .text import (
    ADJ_ENDINGS,
    CONJUNCTIONS,
    QUALIFIER,
    STOPWORDS,
    KeyIndex,
    TermVectors,
    capitalise,
    same_stem,
)


class NamingMixin:
    """Name options and their choice; mixed into the offline summarizer (uses its parameters and the per-call
    ``_modifier`` test)."""

    def _fits(self, words: Sequence[str], text: str) -> bool:
        return 0 < len(words) <= self.max_words and len(text) <= self.max_chars

    #: pools up to this size are scored in a plain loop (the same float operations as the array path, without its
    #: fixed cost per call: most clusters of a large level are small)
    _SMALL_POOL = 256

    def _pair_pool(self, cands, factor, tf):
        """The terms that may complement another (no modifiers), once per cluster: their positions, the terms, and
        their masses and distinctiveness factors (as arrays for a large pool)."""
        terms = [B for _, B in cands if not self._modifier(B)]
        pos = {B: i for i, B in enumerate(terms)}
        masses = [tf[B] for B in terms]
        factors = [factor[B] for B in terms]
        if len(terms) > self._SMALL_POOL:
            return pos, terms, np.array(masses, dtype=np.float64), np.array(factors, dtype=np.float64)
        return pos, terms, masses, factors

    def _second_terms(self, A, score_a, cands, factor, units, tf, index: KeyIndex, total: float | None = None,
                      pool=None) -> list[tuple[float, tuple[str, ...]]]:
        """Terms that complement ``A``: scored on the units that do not already say A's head word. ``index``: the
        units' :class:`KeyIndex`; ``total``: their summed weight (in unit order); ``pool``: :meth:`_pair_pool`
        (each built here when not given)."""
        if self._modifier(A):
            return []
        pos, terms, tf_arr, factor_arr = pool if pool is not None else self._pair_pool(cands, factor, tf)
        said = index.same_stem_keys(A[-1])
        # mass of each term on the units that do say the head word (added in unit order); the rest is the residual
        sub: dict[int, float] = defaultdict(float)
        said_total = 0.0
        if total is None:
            total = 0.0
            for _, w in units:
                total += w
        for u in index.rows(said):
            t, w = units[u]
            if w <= 0:
                continue
            said_total += w
            for g in t.ngrams:
                i = pos.get(g)
                if i is not None:
                    sub[i] += w
            if t.full is not None and t.full not in t.ngrams:
                i = pos.get(t.full)
                if i is not None:
                    sub[i] += w
        resid_total = total - said_total
        need = max(min(self.second_term_min_mass, 0.25 * resid_total), 0.02)
        floor = self.second_term_ratio * score_a
        out = []
        if isinstance(tf_arr, list):  # a small pool: the array path's operations, one term at a time
            for i, (m, f) in enumerate(zip(tf_arr, factor_arr, strict=True)):
                if i in sub:
                    m = m - sub[i]
                sb = m * f
                if m >= need and sb >= floor:
                    combo = self._combine(A, terms[i])
                    if combo is not None:
                        out.append((sb, combo))
            out.sort(key=lambda x: (-x[0], x[1]))
            return out
        mass = tf_arr.copy()
        if sub:
            at = np.fromiter(sub.keys(), dtype=np.int64, count=len(sub))
            mass[at] = tf_arr[at] - np.fromiter(sub.values(), dtype=np.float64, count=len(sub))
        sb = mass * factor_arr
        for i in np.flatnonzero((mass >= need) & (sb >= floor)).tolist():
            combo = self._combine(A, terms[i])
            if combo is not None:
                out.append((float(sb[i]), combo))
        out.sort(key=lambda x: (-x[0], x[1]))
        return out

    def _specialisations(self, A, cands, tf) -> list[tuple[float, tuple[str, ...]]]:
        """For a single word, its two strongest two-word uses, factored: "open communication" + "direct
        communication" -> "Open and direct communication"; "community building" + "community engagement" ->
        "Community building and engagement". With the share of the word's mass the two uses cover."""
        if len(A) != 1:
            return []
        word = A[0]
        out = []
        for pos in (1, 0):
            uses = [(sc, g) for sc, g in cands if len(g) == 2 and g[pos] == word and g[1 - pos] not in STOPWORDS]
            if len(uses) < 2 or tf[uses[0][1]] + tf[uses[1][1]] < 0.15 * tf[A]:
                continue
            combo = self._combine(uses[0][1], uses[1][1])
            if combo is not None:
                cover = (tf[uses[0][1]] + tf[uses[1][1]]) / tf[A]
                out.append((uses[0][0] + uses[1][0], cover, combo))
        out.sort(key=lambda x: (-x[0], x[2]))
        return [(cover, combo) for _, cover, combo in out]

    def _category_coverage(self, clusters, probs, toks, head_ratio):
        """Per cluster, for every word used as a modifier with an adjective's ending, the share of the cluster's
        weight and of its members whose text says it; and the same counted over the whole level. ``toks``: per
        cluster, its members' tokens."""
        cover: list[dict[str, tuple[float, float]]] = []
        level_w: dict[str, float] = defaultdict(float)
        n_total = sum(len(c.members) for c in clusters) or 1
        for k, c in enumerate(clusters):
            cw: dict[str, float] = defaultdict(float)
            cu: dict[str, float] = defaultdict(float)
            n = max(len(c.members), 1)
            for t, p in zip(toks[k], probs[k], strict=True):
                for x in set(t.keys):
                    if (
                        len(x) >= 4
                        and "-" not in x
                        and x not in STOPWORDS
                        and x.endswith(ADJ_ENDINGS)
                        and head_ratio(x) < 0.3
                    ):
                        cw[x] += float(p)
                        cu[x] += 1.0 / n
                        level_w[x] += 1.0 / n_total
            cover.append({x: (cw[x], cu[x]) for x in cw})
        return cover, level_w, [len(c.members) / n_total for c in clusters]

    def _category_names(self, cat_cov, k, suffix, show) -> list[str]:
        """Broad categories named by the adjectives most of their weight shares: "Social and cultural values".
        An adjective scores by the share of the category's weight and of its members that say it, times its
        concentration in this category (so words every category uses lose out); a word that only a small part
        of the category says (one small child) never leads."""
        cover, level_u, size = cat_cov
        beta = max(self.distinctiveness, 0.0)
        scored = []
        for x, (cw, cu) in cover[k].items():
            mass = math.sqrt(max(cw, 0.0) * max(cu, 0.0))
            if mass < 0.03:
                continue
            conc = (cu * size[k]) / level_u[x] if level_u.get(x) else 0.0
            scored.append((mass * conc**beta, mass, x))
        scored.sort(key=lambda t: (-t[0], t[2]))
        out: list[str] = []
        if not scored:
            return out
        s1, m1, a1 = scored[0]
        tail = tuple(suffix.split())
        for s2, m2, a2 in scored[1:4]:
            if s2 >= self.category_pair_ratio * s1 and not same_stem(a1, a2):
                out.append(capitalise(show((a1, "and", a2, *tail))))
                break
        out.append(capitalise(show((a1, *tail))))
        return [o for o in out if len(o) <= self.max_chars]

    def _head_share(self, text: str, c, probs, tok, index: KeyIndex | None = None) -> float:
        """The share of the cluster's weight held by members that say one of the name's head words (the last word
        of each "and" part, stem-matched): what a name must not lack, whatever its closeness to the centroid.
        ``index``: the members' :class:`KeyIndex` (built here when not given; a caller asking about several
        names of one cluster builds it once)."""
        heads: list[str] = []
        prev = None
        for x in tok(QUALIFIER.sub("", text)).keys + ("and",):
            if x in CONJUNCTIONS:
                if prev is not None:
                    heads.append(prev)
                prev = None
            elif x not in STOPWORDS:
                prev = x
        if not heads:
            return 0.0
        if len(probs) != len(c.members):
            raise ValueError("one weight per member expected")
        if index is None:
            index = KeyIndex(tok(s).keys for s in c.members)
        said = set().union(*(index.same_stem_keys(h) for h in heads))
        share = 0.0
        for i in index.rows(said):  # in member order, as a plain loop over the members would add them
            share += float(probs[i])
        return share

    def _rerank(self, opts: list[str], members: list[str], vectors: "TermVectors", k: int, rep, probs=None,
                tok=None, shift=None) -> list[str]:
        """The lexical options and the most central members, ordered by how close their meaning is to the
        cluster's centroid; the lexical order breaks near-ties (each later place costs a little). With ``probs``
        (the members' shares of the cluster's weight), an option whose head words the members holding at least
        ``head_weight_min`` of that weight do not say goes behind those that are (a node carried by one heavy
        value is not named after its light members, however central they are)."""
        leaf = vectors.clusters[k].level <= 1
        wgt = max(self.leaf_centroid_weight if leaf else self.centroid_weight, 0.0)
        penalty = self.leaf_part_penalty if leaf else self.part_penalty
        if wgt <= 0 or not vectors.ok:
            return opts
        cen = vectors.centroid(k, rep)
        if cen is None:
            return opts
        if shift is not None:  # blended with the parent's centroid (``leaf_parent_blend``)
            cen = cen + shift
            cen = cen / max(float(np.linalg.norm(cen)), 1e-12)
        seen = {o.casefold() for o in opts}
        extra = [m for m in members if m.casefold() not in seen]
        guard = 0.0
        if probs is not None and tok is not None:
            # above level 1, a name says what most of the weight says; at level 1 only when one value carries
            # the node (at least half of its weight): then the name says that value's head word
            guard = max(self.head_weight_min, 0.0) if not leaf else (0.5 if len(probs) and max(probs) >= 0.5 else 0.0)
        index = vectors.member_index(k) if guard > 0 and tok is vectors.tok else None
        scored = []
        for i, o in enumerate(opts + extra):
            if i >= len(opts):
                i = i - len(opts) + 1  # a central member ranks as the second lexical option
            v, exact, n_parts = vectors.text_vector(k, o)
            sim = float(v @ cen) if v is not None else 0.0
            # a sum of parts always sits closer to a centroid than one part: a second part must earn its place
            sim -= penalty * max(n_parts - 1, 0)
            if not exact:  # built from words rather than whole member phrases: its vector is a guess
                sim -= 0.05
            carried = guard <= 0 or self._head_share(o, vectors.clusters[k], probs, tok, index) >= guard
            scored.append((not carried, wgt * sim - 0.01 * i, i, o))
        scored.sort(key=lambda t: (t[0], -t[1], t[2], t[3]))
        return [o for *_, o in scored]

    def _name_options(self, cands, tf, F, factor, units, c, rep, tok, show, index: KeyIndex | None = None) -> list[str]:
        """Ranked name options for one cluster (best first, no duplicates). ``index``: the units' :class:`KeyIndex`
        (built here when not given)."""
        opts: list[str] = []
        seen: set[str] = set()

        def add(words: Sequence[str]) -> None:
            text = capitalise(show(words))
            if self._fits(words, text) and text.casefold() not in seen:
                seen.add(text.casefold())
                opts.append(text)

        full = {t.full for t, _ in units if t.full is not None}
        if index is None:
            index = KeyIndex(t.keys for t, _ in units)
        total = 0.0
        for _, w in units:
            total += w
        pool = self._pair_pool(cands, factor, tf)
        for sa, A in cands[:4]:
            pairs = self._second_terms(A, sa, cands, factor, units, tf, index, total, pool)
            # a lone word that is generic (common in other clusters), a modifier, never a value of its own here,
            # or mostly said in two main ways with nothing else to pair it with, reads better as those two uses
            strong = bool(pairs) and pairs[0][0] >= 0.25 * sa
            specs = self._specialisations(A, cands, tf)
            vague = len(A) == 1 and (
                self._modifier(A)
                or A not in full
                or (tf[A] / F[A] < 0.5 and not strong)
                or (not pairs and bool(specs) and specs[0][0] >= 0.3)
            )
            if vague:
                for _, combo in specs:
                    add(combo)
            if pairs:
                add(pairs[0][1])
            elif len(A) == 2 and not self._modifier(A[-1:]):
                # no other head to add: name the two main kinds of A's head ("emotional" + "psychological"
                # wellbeing -> "Emotional and psychological wellbeing")
                kinds = [
                    (sb, B) for sb, B in cands if len(B) == 2 and B[1] == A[1] and B != A and tf[B] >= 0.25 * tf[A]
                ]
                if kinds:
                    combo = self._combine(A, kinds[0][1])
                    if combo is not None:
                        add(combo)
            add(A)
            for _, combo in pairs[1:3]:
                add(combo)
        if not opts:
            for _, g in cands:
                add(g)
                if opts:
                    break
        if not opts:
            # no usable term (e.g. only symbols): the heaviest member, cut to size
            order = sorted(range(len(c.members)), key=lambda i: (-rep[i], str(c.members[i])))
            for i in order:
                t = tok(c.members[i])
                words = list(t.keys[: self.max_words])
                while words and words[-1] in STOPWORDS:
                    words.pop()
                while words and len(capitalise(show(words))) > self.max_chars:
                    words.pop()
                if words:
                    add(words)
                    break
        return opts

    def _combine(self, A: tuple[str, ...], B: tuple[str, ...]) -> tuple[str, ...] | None:
        """Join two terms, factoring a shared first or last word; None when they repeat a stem, or when factoring
        would leave a modifier standing as a head ("apply decorative finish" + "apply molds" never gives
        "Apply decorative and molds")."""
        if any(x in CONJUNCTIONS for x in A + B):
            return None
        modifier = getattr(self, "_modifier", None) or (lambda g: False)
        # shared leading words: "analytical rigor" + "analytical precision"
        p = 0
        while p < min(len(A), len(B)) and A[p] == B[p]:
            p += 1
        if p:
            ra, rb = A[p:], B[p:]
            if not ra or not rb or len(ra) > 1 or len(rb) > 1:
                return None
            if same_stem(ra[0], rb[0]) or ra[0] in STOPWORDS or rb[0] in STOPWORDS:
                return None
            if modifier(ra) or modifier(rb):
                return None
            return A + ("and",) + rb
        # shared trailing words: "emotional wellbeing" + "psychological wellbeing"
        s = 0
        while s < min(len(A), len(B)) and A[-1 - s] == B[-1 - s]:
            s += 1
        if s:
            ra, rb = A[:-s], B[:-s]
            if not ra or not rb or len(ra) > 1 or len(rb) > 1:
                return None
            if same_stem(ra[0], rb[0]) or ra[0] in STOPWORDS or rb[0] in STOPWORDS:
                return None
            return ra + ("and",) + B
        if modifier(A[-1:]) or modifier(B[-1:]):  # "missing screw and broken": B is no head
            return None
        content_a = [x for x in A if x not in STOPWORDS]
        content_b = [x for x in B if x not in STOPWORDS]
        for x in content_a:
            for y in content_b:
                if same_stem(x, y):
                    return None
        return A + ("and",) + B

    def _assign(self, clusters, options, raw_totals, reps, tok, show) -> list[str]:
        """Distinct names within the level: heaviest cluster first, each its best free option, else a
        qualified one ("Honesty (candor)"), else a numbered one ("Honesty (2)", :func:`taxonomy.naming.distinct_name`)."""
        K = len(clusters)
        order = sorted(range(K), key=lambda k: (-raw_totals[k], -len(clusters[k].members), k))
        used: set[str] = set()
        names = [""] * K
        for k in order:
            opts = options[k] or ["Unnamed cluster"]
            chosen = next((o for o in opts if o.casefold() not in used), None)
            if chosen is None:
                chosen = self._qualify(opts, clusters[k], reps[k], used, tok, show)
            used.add(chosen.casefold())
            names[k] = chosen
        return names

    def _qualify(self, bases, c, rep, used, tok, show) -> str:
        order = sorted(range(len(c.members)), key=lambda i: (-rep[i], str(c.members[i])))[:10]
        for base in sorted(bases[:4], key=lambda b: (len(b.split()), bases.index(b))):
            base_keys = set(tok(base).keys)
            for i in order:
                t = tok(c.members[i])
                content = [x for x in t.keys if x not in STOPWORDS]
                if not content or set(content) <= base_keys or len(t.keys) > 3:
                    continue
                cand = f"{base} ({show(t.keys)})"
                short = len(cand.split()) <= self.max_words + 1 and len(cand) <= self.max_chars
                if short and cand.casefold() not in used:
                    return cand
        base = bases[0]
        words = base.split()
        while len(words) > 1 and (
            len(words) >= self.max_words or len(" ".join(words)) > self.max_chars - 6 or words[-1].lower() in STOPWORDS
        ):
            words.pop()
        from taxonomy.naming import distinct_name  # the one sibling-distinctness rule ("Name (2)")

        return distinct_name(" ".join(words), used)
