"""The default summarizer: offline and deterministic, no language model, no network.

How a cluster is named
----------------------
1. *Representative members.* Every member gets a weight that mixes its frequency (its share of the cluster's
   weight, square-rooted so one very frequent value does not drown the rest) with its mere presence, times how
   typical it is: the squared cosine to the cluster's centroid, damped when a neighbouring cluster's centroid is
   about as close (only the ``neighbours`` nearest centroids are looked at: no n x n matrix anywhere).
2. *Candidate terms.* Whole member strings and the word n-grams (1-4 words, never starting or ending with a
   function word, never spanning "and"/"or" or a comma) shared by at least two members. A term's mass is the
   summed representativeness of the members that contain it; its score is that mass times the square root of
   its concentration in this cluster against the whole level (a class-based TF-IDF), so words that every
   cluster shares lose out. Only terms whose last word acts as a head noun somewhere in the level (it ends
   member strings, or is a value on its own) qualify, so "analytical" alone never becomes a name; a lone word
   that mostly modifies ("evidence-based") or that no member says alone ("spirit" of "team spirit") is damped.
   Above level 1 the children's names count as members too, weighted by the children's weights.
3. *Name options* (lexical) are the best terms joined with a *complementary* term: the one scoring best on the
   members that do not already say the first term's head word ("Honesty and truthfulness"). Terms sharing their
   first or last word are factored ("analytical rigor" + "analytical precision" -> "Analytical rigor and
   precision"; "emotional" + "psychological wellbeing" -> "Emotional and psychological wellbeing") only when
   what stays standing is a head word: "apply decorative finish" + "apply molds" never gives "Apply decorative
   and molds", and "missing screw" + "broken" is never joined. Terms repeating a stem are never paired; a lone
   generic word is replaced by its two main uses ("communication" -> "Open and direct communication"). Only
   members make a phrase "shared": a child's name above level 1 weighs in but does not count as a second use.
4. *Choice by meaning.* The lexical options, the heaviest member and the three members closest to the centroid
   are ordered by the cosine between the option's vector and the cluster's centroid (:class:`TermVectors`: a
   member's own embedding when a member says the option, else the heaviest shortest member containing it;
   "A and B" sums its parts, less ``part_penalty`` since a sum of two phrases always sits closer to a centroid;
   an option not said by any member loses 0.05), the lexical rank breaking near-ties. A parent avoids
   repeating a child's name. Names are capitalised on the first letter only (acronyms and mixed case kept) and
   stay within ``max_words`` / ``max_chars``.
5. *Categories.* From ``category_level`` up, when the category style has a suffix (``category_suffix``, inferred
   from the members when not given: "values" only when most members are headed by abstract nouns), broad
   categories are named by the adjectives that most of their weight says ("Ethical values"; "Practical and
   educational values"), scored by the share of the category's weight and of its members saying the word, times
   its concentration in the category: a word said only by a small child never leads.
6. *Distinct names.* Clusters are served heaviest first; each takes its best option not yet used in the level
   (case-insensitively), else a qualified one ("Honesty (candor)"), else a numbered one ("Honesty 2").

The description says, in one or two sentences, what the members share (the name's focus with a few telling
members, "such as proactive, practical and educational helpfulness", or the heaviest children above level 1)
and what sets the node apart from its nearest siblings (by centroid): the terms it says that they do not.
Counts and shares are not written into it: they go stale after an edit, and ``taxo show`` prints them beside it.

Everything is deterministic: no randomness, sums taken in input order, ties broken by the strings themselves
(so the hash seed does not matter either).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from .base import ClusterInfo, Summarizer, Summary
from .text import (
    ADJ_ENDINGS,
    CONJUNCTIONS,
    QUALIFIER,
    STOPWORDS,
    TermVectors,
    Tok,
    WS,
    adjectival,
    capitalise,
    decapitalise,
    display_token,
    infer_category_suffix,
    join_list,
    norm_weights,
    prefixes,
    same_stem,
    stem,
)


class OfflineSummarizer(Summarizer):
    """Deterministic names and descriptions from the members themselves (no model, no network).

    Parameters
    ----------
    n_examples:
        Representative members quoted in a description.
    max_words, max_chars:
        Upper bounds of a name's length.
    frequency_mix, frequency_power:
        0..1, how much a member's weight (vs. its mere presence) counts when ranking members and terms; weights
        are raised to ``frequency_power`` first so that one very frequent value does not drown the others.
    distinctiveness:
        Exponent of a term's concentration in its cluster relative to the level (0 = ignore other clusters).
    second_term_ratio, second_term_min_mass:
        A second term joins the name ("X and Y") when, counted on the members that do not already say the first
        term's head word, its score is at least ``second_term_ratio`` of the first's and its share of the cluster's
        representative mass at least ``second_term_min_mass``.
    neighbours:
        Nearest other centroids a member is compared with to measure how distinctive it is.
    category_level:
        From this level up (0 = never), clusters are broad categories named by the adjectives that most of their
        weight shares ("Social and cultural values") when the category style has a suffix (below).
    category_suffix:
        The noun that ends a broad category's name ("values" -> "Social values"). None (default) infers it from
        the data: "values" when most members are abstract nouns (-ness, -ity, -ism, -tion, ... heads: the
        members are values or qualities), else no suffix, and categories are named like any other node.
        "" never adds a suffix.
    centroid_weight:
        How much the closeness of a name's meaning to the cluster's centroid counts when choosing among the
        options (0 = lexical scores only). A name's vector is built from the members' embeddings: the embedding
        of the member that says it, or the mean of the members that contain it.
    part_penalty:
        Cosine taken off a name per extra "and" part: a sum of two phrases is always closer to a centroid than
        either, so a second part must bring more than that to be kept.
    """

    name = "offline"

    def __init__(
        self,
        n_examples: int = 3,
        max_words: int = 6,
        max_chars: int = 60,
        frequency_mix: float = 0.5,
        frequency_power: float = 0.5,
        distinctiveness: float = 0.5,
        second_term_ratio: float = 0.03,
        second_term_min_mass: float = 0.05,
        neighbours: int = 8,
        category_level: int = 3,
        category_suffix: str | None = None,
        centroid_weight: float = 1.0,
        part_penalty: float = 0.05,
    ):
        self.n_examples = int(n_examples)
        self.max_words = int(max_words)
        self.max_chars = int(max_chars)
        self.frequency_mix = float(frequency_mix)
        self.frequency_power = float(frequency_power)
        self.distinctiveness = float(distinctiveness)
        self.second_term_ratio = float(second_term_ratio)
        self.second_term_min_mass = float(second_term_min_mass)
        self.neighbours = int(neighbours)
        self.category_level = int(category_level)
        self.category_suffix = None if category_suffix is None else str(category_suffix).strip()
        self.centroid_weight = float(centroid_weight)
        self.part_penalty = float(part_penalty)

    def get_params(self) -> dict:
        """Constructor parameters only (not what a call inferred, such as ``category_suffix_``)."""
        return {k: v for k, v in super().get_params().items() if not k.endswith("_")}

    # ------------------------------------------------------------------ representativeness of members
    def _member_scores(self, clusters: list[ClusterInfo], probs: list[np.ndarray]) -> list[np.ndarray]:
        """Per cluster, a representativeness weight per member (sums to 1): frequency and presence, times
        typicality (cosine to the own centroid, damped when a neighbouring centroid is as close)."""
        mix = min(max(self.frequency_mix, 0.0), 1.0)
        imp = []
        for p in probs:
            n = len(p)
            q = p**self.frequency_power if n else p
            q = q / q.sum() if n and q.sum() > 0 else q
            imp.append(mix * q + (1.0 - mix) / max(n, 1))

        def shape(c: ClusterInfo) -> int | None:
            E = c.embeddings
            ok = isinstance(E, np.ndarray) and E.ndim == 2 and E.shape[0] == len(c.members) and E.shape[1] > 0
            return int(E.shape[1]) if ok else None

        dims = [shape(c) for c in clusters]
        known = sorted({d for d in dims if d is not None}, key=lambda d: (-dims.count(d), d))
        if not known:
            return [x / x.sum() if x.size else x for x in imp]
        d = known[0]
        valid = [k for k, dk in enumerate(dims) if dk == d and len(clusters[k].members) > 0]
        embs: dict[int, np.ndarray] = {
            k: np.nan_to_num(np.asarray(clusters[k].embeddings, dtype=np.float32)) for k in valid
        }
        cents = np.zeros((len(valid), d), dtype=np.float32)
        for row, k in enumerate(valid):
            E = embs[k]
            v = imp[k].astype(np.float32) @ E
            nrm = float(np.linalg.norm(v))
            if nrm < 1e-9:
                v = E.mean(axis=0)
                nrm = float(np.linalg.norm(v))
            if nrm >= 1e-9:
                cents[row] = v / nrm

        # nearest other centroids, in blocks (no K x K matrix for a huge K)
        V = len(valid)
        T = min(max(self.neighbours, 0), V - 1)
        nbrs = np.zeros((V, max(T, 0)), dtype=np.int64)
        if T > 0:
            block = 1024
            for s0 in range(0, V, block):
                S = cents[s0 : s0 + block] @ cents.T
                rows = np.arange(S.shape[0])
                S[rows, s0 + rows] = -np.inf
                part = np.argpartition(-S, T - 1, axis=1)[:, :T]
                nbrs[s0 : s0 + block] = np.sort(part, axis=1)  # the max below ignores order; sorted anyway

        out = [x / x.sum() if x.size and x.sum() > 0 else x for x in imp]
        for row, k in enumerate(valid):
            E = embs[k]
            cen = E @ cents[row]
            typ = np.clip(cen, 0.05, 1.0) ** 2
            if T > 0:
                other = (E @ cents[nbrs[row]].T).max(axis=1)
                margin = cen - other
                typ = typ * (0.25 + 0.75 / (1.0 + np.exp(-np.clip(margin / 0.1, -30, 30))))
            r = imp[k] * typ.astype(np.float64)
            tot = r.sum()
            out[k] = r / tot if tot > 0 else np.full(len(r), 1.0 / len(r))
        return out

    # ------------------------------------------------------------------ main
    def summarize_level(self, clusters: list[ClusterInfo], sibling_groups: list[list[int]]) -> list[Summary]:
        """One summary per cluster, in order. Names are distinct within the whole level (so within every group of
        ``sibling_groups`` too); descriptions contrast a node with its nearest siblings."""
        try:
            return self._summarize_level(list(clusters), [list(g) for g in (sibling_groups or [])])
        finally:
            self._modifier = None  # a per-call helper; drop it so the instance stays plain (and picklable)

    def _summarize_level(self, clusters: list[ClusterInfo], sibling_groups: list[list[int]]) -> list[Summary]:
        K = len(clusters)
        if K == 0:
            return []
        max_n = 4
        # tokenisations are kept from the previous call only: the levels of one build share their members
        previous: dict[str, Tok] = getattr(self, "_tok_cache", {})
        cache: dict[str, Tok] = {}

        def tok(s: str) -> Tok:
            t = cache.get(s)
            if t is None:
                t = previous.get(s)
                if t is None:
                    t = Tok(s, max_n)
                cache[s] = t
            return t

        probs, raw_totals = [], []
        for c in clusters:
            p, tot = norm_weights(c.weights, len(c.members))
            probs.append(p)
            raw_totals.append(tot)
        level_total = sum(raw_totals)
        if level_total > 0:
            pcts = [100.0 * t / level_total for t in raw_totals]
        else:
            n_all = sum(len(c.members) for c in clusters) or 1
            pcts = [100.0 * len(c.members) / n_all for c in clusters]

        reps = self._member_scores(clusters, probs)

        # level-wide head-noun statistics: how often a word ends a member (or child-name segment)
        n_last: dict[str, int] = defaultdict(int)
        n_seen: dict[str, int] = defaultdict(int)
        full_strings: set[tuple[str, ...]] = set()
        seen_strings: set[str] = set()

        def note(t: Tok) -> None:
            for key in set(t.keys):
                if key not in CONJUNCTIONS:
                    n_seen[key] += 1
            # the last word of each conjunction-separated segment acts as a head
            prev = None
            for key in t.keys:
                if key in CONJUNCTIONS and prev is not None:
                    n_last[prev] += 1
                prev = key if key not in CONJUNCTIONS else None
            if prev is not None:
                n_last[prev] += 1
            if t.full is not None:
                full_strings.add(t.full)

        for c in clusters:
            # head statistics from the members only: a factored child name ("Broken and missing clip") would make
            # its leading modifier look like a head
            for s in c.members:
                if s not in seen_strings:
                    seen_strings.add(s)
                    note(tok(s))
        for c in clusters:
            for s in c.child_names or []:
                if s not in seen_strings:
                    seen_strings.add(s)
                    tok(s)

        def headish(g: tuple[str, ...]) -> bool:
            if g in full_strings:
                return True
            last = g[-1]
            return (last,) in full_strings or n_last.get(last, 0) >= 0.3 * n_seen.get(last, 1)

        # each cluster as weighted "units": its members (and, above level 1, its children's names)
        units_per: list[list[tuple[Tok, float]]] = []
        tfs: list[dict[tuple[str, ...], float]] = []
        counts: list[dict[tuple[str, ...], int]] = []
        fulls: list[set[tuple[str, ...]]] = []
        F: dict[tuple[str, ...], float] = defaultdict(float)
        for k, c in enumerate(clusters):
            children = list(c.child_names or [])
            lam = 0.5 if (c.level >= 2 and children) else 0.0
            units = [(tok(s), float(r) * (1.0 - lam)) for s, r in zip(c.members, reps[k], strict=True)]
            if lam > 0:
                cw, _ = norm_weights(c.child_weights if len(c.child_weights) == len(children) else None, len(children))
                cw = 0.5 * cw + 0.5 / len(children)
                units += [(tok(s), float(w) * lam) for s, w in zip(children, cw, strict=True)]
            tf: dict[tuple[str, ...], float] = defaultdict(float)
            cnt: dict[tuple[str, ...], int] = defaultdict(int)
            full: set[tuple[str, ...]] = set()
            n_members = len(c.members)
            for u, (t, w) in enumerate(units):
                member = u < n_members  # children's names weigh in, but only members make a phrase "shared"
                for g in t.ngrams:
                    tf[g] += w
                    cnt[g] += member
                if t.full is not None:
                    full.add(t.full)
                    if t.full not in t.ngrams:  # a string longer than 4 words, or one spanning "and"
                        tf[t.full] += w
                        cnt[t.full] += member
            for g, v in tf.items():
                F[g] += v
            units_per.append(units)
            tfs.append(tf)
            counts.append(cnt)
            fulls.append(full)

        beta = max(self.distinctiveness, 0.0)

        def head_ratio(word: str) -> float:
            return n_last.get(word, 0) / max(n_seen.get(word, 1), 1)

        def modifier(g: tuple[str, ...]) -> bool:
            """A lone word that mostly modifies others ("evidence-based", "analytical"): no name of its own."""
            return len(g) == 1 and (head_ratio(g[0]) < 0.3 or adjectival(g[0]))

        self._modifier = modifier  # used by the naming helpers during this call
        ranked: list[list[tuple[float, tuple[str, ...]]]] = []
        conc: list[dict[tuple[str, ...], float]] = []  # distinctiveness factor of each candidate
        for k in range(K):
            tf, cnt, full = tfs[k], counts[k], fulls[k]
            cands = []
            factor: dict[tuple[str, ...], float] = {}
            for g, v in tf.items():
                if v <= 0:
                    continue
                if g not in full and cnt[g] < 2:
                    continue
                if not headish(g):
                    continue
                n = len(g)
                length = 1.0 + 0.12 * (min(n, 3) - 1) - 0.2 * max(n - 3, 0)
                if n > self.max_words:
                    length *= 0.25
                if modifier(g):  # a modifier that is also a value somewhere ("evidence-based")
                    length *= 0.3
                elif n == 1 and g not in full:  # a bare head word no member says alone ("spirit", "living")
                    length *= 0.5
                f = (v / F[g]) ** beta * max(length, 0.05)
                factor[g] = f
                cands.append((v * f, g))
            # a term nearly always said as part of one longer term ("spirit" in "team spirit") gives way to it
            longer: dict[tuple[str, ...], float] = defaultdict(float)
            for g in factor:
                if len(g) >= 2:
                    for sub in (g[1:], g[:-1]):
                        longer[sub] = max(longer[sub], tf[g])
            cands = [(sc * 0.3 if longer.get(g, 0.0) >= 0.7 * tf[g] else sc, g) for sc, g in cands]
            cands.sort(key=lambda x: (-x[0], x[1]))
            ranked.append(cands)
            conc.append(factor)

        # display forms: a key keeps a mixed case ("iOS", "McDonald") when most strings that use it write it so
        forms: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for text in seen_strings:
            for key, shown in set(cache[text].mixed):
                forms[key][shown] += 1
        disp: dict[str, str] = {}
        for key, counts_ in forms.items():
            shown, n = min(counts_.items(), key=lambda x: (-x[1], x[0]))
            if 2 * sum(counts_.values()) > n_seen.get(key, 0):
                disp[key] = shown

        def show(g: Sequence[str]) -> str:
            return " ".join(disp.get(x, display_token(x)) for x in g)

        suffix = self.category_suffix if self.category_suffix is not None else infer_category_suffix(seen_strings)
        self.category_suffix_ = suffix  # what the last call used (inferred or given)
        vectors = TermVectors(clusters, tok)
        cat_cov = self._category_coverage(clusters, probs, tok, head_ratio) if suffix else None
        options = []
        for k, c in enumerate(clusters):
            opts = self._name_options(ranked[k], tfs[k], F, conc[k], units_per[k], c, reps[k], tok, show)
            members = [o for o in vectors.central_members(k, reps[k], show, 3) if self._fits(o.split(), o)]
            opts = self._rerank(opts, members, vectors, k, reps[k])
            if suffix and cat_cov is not None and self.category_level and c.level >= self.category_level:
                opts = self._category_names(cat_cov, k, suffix, show) + opts
            # a parent that repeats one of its children's names says nothing new: such options go last
            child = {str(x).casefold() for x in (c.child_names or [])}
            opts = [o for o in opts if o.casefold() not in child] + [o for o in opts if o.casefold() in child]
            options.append(opts)
        names = self._assign(clusters, options, raw_totals, reps, tok, show)

        # nearest other clusters (centroid cosine, the siblings when there are any): what sets each one apart
        cents = [vectors.centroid(k, reps[k]) if vectors.ok else None for k in range(K)]
        group_of = {i: tuple(sorted(g)) for g in (sibling_groups or []) for i in g}
        nearest = self._nearest_all(cents, group_of, 2)
        out = []
        for k, c in enumerate(clusters):
            near = nearest[k]
            distinct = self._distinct_terms(k, near, ranked[k], tfs, names[k], show)
            noun = "Values" if suffix == "values" else "Items"
            out.append(Summary(names[k], self._describe(c, names[k], reps[k], tok, noun, [names[j] for j in near], distinct)))
        self._tok_cache = cache
        return out

    # ------------------------------------------------------------------ naming
    def _fits(self, words: Sequence[str], text: str) -> bool:
        return 0 < len(words) <= self.max_words and len(text) <= self.max_chars

    def _second_terms(self, A, score_a, cands, factor, units, tf, vocab) -> list[tuple[float, tuple[str, ...]]]:
        """Terms that complement ``A``: scored on the units that do not already say A's head word."""
        if self._modifier(A):
            return []
        head = A[-1]
        hp = prefixes(head)
        said = {x for x in vocab if not hp.isdisjoint(prefixes(x)) and same_stem(x, head)}
        # mass of each term on the units that do say the head word; the rest is the residual
        sub: dict[tuple[str, ...], float] = defaultdict(float)
        said_total = 0.0
        total = 0.0
        for t, w in units:
            total += w
            if w <= 0 or said.isdisjoint(t.keys):
                continue
            said_total += w
            for g in t.ngrams:
                sub[g] += w
            if t.full is not None and t.full not in t.ngrams:
                sub[t.full] += w
        resid_total = total - said_total
        need = max(min(self.second_term_min_mass, 0.25 * resid_total), 0.02)
        out = []
        for _, B in cands:
            if self._modifier(B):
                continue
            mass = tf[B] - sub.get(B, 0.0)
            if mass < need:
                continue
            sb = mass * factor[B]
            if sb < self.second_term_ratio * score_a:
                continue
            combo = self._combine(A, B)
            if combo is not None:
                out.append((sb, combo))
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

    def _category_coverage(self, clusters, probs, tok, head_ratio):
        """Per cluster, for every word used as a modifier with an adjective's ending, the share of the cluster's
        weight and of its members whose text says it; and the same counted over the whole level."""
        cover: list[dict[str, tuple[float, float]]] = []
        level_w: dict[str, float] = defaultdict(float)
        n_total = sum(len(c.members) for c in clusters) or 1
        for k, c in enumerate(clusters):
            cw: dict[str, float] = defaultdict(float)
            cu: dict[str, float] = defaultdict(float)
            n = max(len(c.members), 1)
            for s, p in zip(c.members, probs[k], strict=True):
                for x in set(tok(s).keys):
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
            if s2 >= 0.5 * s1 and not same_stem(a1, a2):
                out.append(capitalise(show((a1, "and", a2, *tail))))
                break
        out.append(capitalise(show((a1, *tail))))
        return [o for o in out if len(o) <= self.max_chars]

    def _rerank(self, opts: list[str], members: list[str], vectors: "TermVectors", k: int, rep) -> list[str]:
        """The lexical options and the most central members, ordered by how close their meaning is to the
        cluster's centroid; the lexical order breaks near-ties (each later place costs a little)."""
        wgt = max(self.centroid_weight, 0.0)
        if wgt <= 0 or not vectors.ok:
            return opts
        cen = vectors.centroid(k, rep)
        if cen is None:
            return opts
        seen = {o.casefold() for o in opts}
        extra = [m for m in members if m.casefold() not in seen]
        scored = []
        for i, o in enumerate(opts + extra):
            if i >= len(opts):
                i = i - len(opts) + 1  # a central member ranks as the second lexical option
            v, exact, n_parts = vectors.text_vector(k, o)
            sim = float(v @ cen) if v is not None else 0.0
            # a sum of parts always sits closer to a centroid than one part: a second part must earn its place
            sim -= self.part_penalty * max(n_parts - 1, 0)
            if not exact:  # built from words rather than whole member phrases: its vector is a guess
                sim -= 0.05
            scored.append((wgt * sim - 0.01 * i, i, o))
        scored.sort(key=lambda t: (-t[0], t[1], t[2]))
        return [o for _, _, o in scored]

    def _name_options(self, cands, tf, F, factor, units, c, rep, tok, show) -> list[str]:
        """Ranked name options for one cluster (best first, no duplicates)."""
        opts: list[str] = []
        seen: set[str] = set()

        def add(words: Sequence[str]) -> None:
            text = capitalise(show(words))
            if self._fits(words, text) and text.casefold() not in seen:
                seen.add(text.casefold())
                opts.append(text)

        full = {t.full for t, _ in units if t.full is not None}
        vocab = {x for t, _ in units for x in t.keys}
        for sa, A in cands[:4]:
            pairs = self._second_terms(A, sa, cands, factor, units, tf, vocab)
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
        qualified one ("Honesty (candor)"), else a numbered one ("Honesty 2")."""
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
        base = " ".join(words)
        n = 2
        while f"{base} {n}".casefold() in used:
            n += 1
        return f"{base} {n}"

    # ------------------------------------------------------------------ descriptions
    def _examples(self, c: ClusterInfo, name: str, rep: np.ndarray, tok, n_max: int) -> list[str]:
        """Representative members that add something to the name: greedy, each pick weighing the member's
        representativeness by the share of its words not yet said (by the name or earlier picks)."""
        said = {x for x in tok(name).keys if x not in STOPWORDS and x not in CONJUNCTIONS}
        n = len(c.members)
        if n == 0 or n_max <= 0:
            return []
        top = np.argsort(-np.asarray(rep, dtype=np.float64), kind="stable")[: max(30, 3 * n_max)]
        pool = sorted((int(i) for i in top), key=lambda i: (-rep[i], str(c.members[i])))
        E = c.embeddings if isinstance(c.embeddings, np.ndarray) and c.embeddings.ndim == 2 else None
        sim: dict[int, dict[int, float]] = {}
        if E is not None and E.shape[0] == n:
            P = np.asarray(E[pool], dtype=np.float32)
            S = P @ P.T
            sim = {i: {j: float(S[a, b]) for b, j in enumerate(pool)} for a, i in enumerate(pool)}
        chosen: list[int] = []
        seen: set[tuple[str, ...]] = set()
        said_stems = {stem(x) for x in said}
        while len(chosen) < n_max:
            best, best_score = None, 0.0
            for i in pool:
                if i in chosen:
                    continue
                content = tuple(x for x in tok(c.members[i]).keys if x not in STOPWORDS)
                if not content or content in seen:
                    continue
                new = sum(1 for x in content if x not in said and stem(x) not in said_stems)
                if new == 0:  # nothing the name or earlier examples did not already say
                    continue
                if sim and chosen and max(sim[i][j] for j in chosen) > 0.92:
                    continue
                score = float(rep[i]) * (0.5 + 0.5 * new / len(content))
                if best is None or score > best_score:
                    best, best_score = i, score
            if best is None:
                break
            chosen.append(best)
            content = tuple(x for x in tok(c.members[best]).keys if x not in STOPWORDS)
            seen.add(content)
            said.update(content)
            said_stems.update(stem(x) for x in content)
        return [self._quote(c.members[i]) for i in chosen]

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
        if c.level >= 2 and children:
            cw, _ = norm_weights(c.child_weights if len(c.child_weights) == len(children) else None, len(children))
            corder = sorted(range(len(children)), key=lambda j: (-cw[j], str(children[j])))
            shown = [f"“{self._clip(children[j])}”" for j in corder[:3]]
            category = bool(noun == "Values" and name.casefold().endswith(" values"))
            lead = name if category else f"{noun} about {focus}"
            first = f"{lead}, gathering {join_list(shown)}"
            first += " among others." if len(children) > 3 else "."
        else:
            first = f"{noun} about {focus}, such as {self._factored_list(ex)}." if ex else f"{noun} about {focus}."
        if not near:
            return first
        others = join_list([f"“{self._clip(x)}”" for x in near])
        if distinct:
            second = f"Unlike the nearby {others}, it also stresses {join_list(distinct)}."
        else:
            second = f"Nearest to {others}, it keeps to {focus} itself."
        return f"{first} {second}"
