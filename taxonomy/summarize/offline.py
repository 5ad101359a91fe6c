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
   an option not said by any member loses 0.05), the lexical rank breaking near-ties. At level 1 the centroid
   weighs members half by presence, half by frequency (no typicality), the meaning weighs more than the lexical rank and a
   second part costs more: a leaf-level node is named after its most central phrase unless a pair clearly says
   more. What carries the weight comes first, however close the rest: above level 1 an option whose head words
   the members holding half of the node's weight do not say goes last (``head_weight_min``), and so does one at
   level 1 that does not say the head word of a value carrying half of the node. A parent avoids repeating a child's name. Names are capitalised on the first letter only
   (acronyms and mixed case kept) and stay within ``max_words`` / ``max_chars``.
5. *Categories.* From ``category_level`` up, when the category style has a suffix (``category_suffix``, inferred
   from the members when not given: "values" only when most members are headed by abstract nouns), broad
   categories are named by the adjectives that most of their weight says ("Ethical values"; "Practical and
   educational values"), scored by the share of the category's weight and of its members saying the word, times
   its concentration in the category: a word said only by a small child never leads.
6. *Distinct names.* Clusters are served heaviest first; each takes its best option not yet used in the level
   (case-insensitively), else a qualified one ("Honesty (candor)"), else a numbered one ("Honesty (2)").

The description says, in one or two sentences, what the members share (the name's focus with a few telling
members, "such as proactive, practical and educational helpfulness", or the heaviest children above level 1)
and what sets the node apart from its nearest siblings (by centroid): the terms it says that they do not.
Counts and shares are not written into it: they go stale after an edit, and ``taxo show`` prints them beside it.

Layout: this module holds the class, the member weights and the per-level term statistics; the naming steps
(3-6) are in :mod:`.offline_naming` and the descriptions in :mod:`.offline_describe`, both mixed into the class.

Everything is deterministic: no randomness, sums taken in input order, ties broken by the strings themselves
(so the hash seed does not matter either).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import chain

import numpy as np

from .base import ClusterInfo, Summarizer, Summary
from .offline_describe import DescribeMixin
from .offline_naming import NamingMixin
from .text import (
    CONJUNCTIONS,
    TermVectors,
    Tok,
    TokCache,
    adjectival,
    display_token,
    finite,
    infer_category_suffix,
    norm_weights,
)


class OfflineSummarizer(NamingMixin, DescribeMixin, Summarizer):
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
    category_pair_ratio:
        A broad category's name pairs two adjectives ("Social and cultural values") when the second scores at least
        this share of the first's; else it is named by the first alone ("Social values").
    category_lexicon:
        True (default): a broad category may also be named by general adjectives, those of the embedding model's
        own vocabulary nearest its centroid ("Practical values", :mod:`.lexicon`), when the summarizer has the
        embedder (:meth:`use_embedder`; ``taxo build``, edits and ``taxo resummarize`` hand it over): they and the
        adjectives its members say are ordered by how near each phrase's vector lies to the centroid. False: only
        the members' adjectives. On the published tree level-3 name fidelity is 0.674 ± 0.020 with it against
        0.621 ± 0.019 without (10 seeds).
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
    leaf_part_penalty, leaf_centroid_weight, leaf_centroid_mix:
        The same two at level 1, and how the centroid the options are compared with weighs the members there
        (0 = by presence only, 1 = by frequency like the representativeness above; None = the representativeness
        itself, typicality included). A level-1 node gathers variants of one thing: it is named after the member
        phrase nearest its centroid unless a second part clearly earns its place. Presence alone (0) scores
        +0.005 ± 0.003 on the published tree against half by frequency (0.5, the default), less than the spread
        over seeds, and doubles the "A and B" names on the quickstart sample; either way a node that one heavy value
        carries (at least half of its weight) is still named after that value's head word, not after its light
        members ("Spiritual wisdom" for a node of "helpfulness"): options that do not say it go last. See
        ``benchmarks/name_quality.py``.
    head_weight_min:
        Above level 1, a name whose head words (the last word of each "and" part) are said by members holding less
        than this share of the node's weight goes behind the options that are: the head word of a name is shared
        by most of the node's weight, however central the light members that say another one. 0 = no such check.
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
        category_pair_ratio: float = 0.5,
        category_lexicon: bool = True,
        centroid_weight: float = 1.0,
        part_penalty: float = 0.05,
        leaf_part_penalty: float = 0.1,
        leaf_centroid_weight: float = 3.0,
        leaf_centroid_mix: float | None = 0.5,
        head_weight_min: float = 0.5,
        leaf_parent_blend: float = 0.0,
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
        self.category_pair_ratio = float(category_pair_ratio)
        self.category_lexicon = bool(category_lexicon)
        self.centroid_weight = float(centroid_weight)
        self.part_penalty = float(part_penalty)
        self.leaf_part_penalty = float(leaf_part_penalty)
        self.leaf_centroid_weight = float(leaf_centroid_weight)
        self.leaf_centroid_mix = None if leaf_centroid_mix is None else float(leaf_centroid_mix)
        self.head_weight_min = float(head_weight_min)
        self.leaf_parent_blend = float(leaf_parent_blend)
        self._lexicon = None  # set by use_embedder

    def use_embedder(self, embedder) -> None:
        """Name broad categories with the adjectives of this embedder's model vocabulary (``category_lexicon``)."""
        from .lexicon import Lexicon

        if self._lexicon is None or self._lexicon.embedder is not embedder:
            self._lexicon = Lexicon(embedder)

    def get_params(self) -> dict:
        """Constructor parameters only (not what a call inferred, such as ``category_suffix_``)."""
        return {k: v for k, v in super().get_params().items() if not k.endswith("_")}

    def _broad_names(self, c: ClusterInfo, suffix: str, said: list[str]) -> list[str]:
        """A broad category's names: with the lexicon (``category_lexicon`` and an embedder), the model
        vocabulary's adjectives nearest its centroid and the names of the adjectives its members say (``said``),
        nearest first by their own vectors; else ``said`` as it is."""
        lexicon = self._lexicon
        if not self.category_lexicon or lexicon is None:
            return said
        from .lexicon import category_centroid

        centroid = category_centroid(c.embeddings, c.weights)
        return said if centroid is None else lexicon.category_names(centroid, suffix, self.max_chars, also=said)

    def _presence_mix(self, p: np.ndarray, mix: float) -> np.ndarray:
        """Member weights mixing frequency (raised to ``frequency_power``) with mere presence, ``mix`` 0..1."""
        n = len(p)
        if n == 0:
            return p
        q = p**self.frequency_power
        q = q / q.sum() if q.sum() > 0 else np.full(n, 1.0 / n)
        mix = min(max(mix, 0.0), 1.0)
        return mix * q + (1.0 - mix) / n

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
            k: finite(np.asarray(clusters[k].embeddings, dtype=np.float32)) for k in valid
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

        # nearest other centroids: up to KNN_EXACT_MAX clusters every pair, in blocks (no K x K matrix); above it
        # the approximate search of the layouts (cost n log n in the number of clusters, not K^2)
        V = len(valid)
        T = min(max(self.neighbours, 0), V - 1)
        nbrs = np.zeros((V, max(T, 0)), dtype=np.int64)
        from taxonomy.cluster import KNN_EXACT_MAX, knn

        if T > 0 and V > KNN_EXACT_MAX:
            nbrs = np.sort(knn(cents, T)[1], axis=1)
        elif T > 0:
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

    def _parent_centroids(self, clusters, sibling_groups, vectors) -> dict[int, np.ndarray]:
        """At level 1, each cluster's sibling group's presence centroid times ``leaf_parent_blend``."""
        out: dict[int, np.ndarray] = {}
        if not vectors.ok:
            return out
        for g in sibling_groups:
            ks = [k for k in g if clusters[k].level <= 1 and vectors.usable[k]]
            if not ks:
                continue
            v = sum(vectors._E[k].sum(axis=0) for k in ks)
            n = float(np.linalg.norm(v))
            if n > 1e-12:
                for k in ks:
                    out[k] = self.leaf_parent_blend * v / n
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
        cache = TokCache(max_n, getattr(self, "_tok_cache", None))
        tok = cache.__getitem__  # one object: the helpers tell the call's tokeniser by identity

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

        toks = [list(map(tok, c.members)) for c in clusters]  # each member's tokens, looked up once per level
        # head statistics from the members only: a factored child name ("Broken and missing clip") would make its
        # leading modifier look like a head. They are counts over the distinct members, so the levels of one build
        # (the same values, grouped otherwise) share them: counted again only when the members differ.
        seen_strings.update(chain.from_iterable(c.members for c in clusters))
        stats = getattr(self, "_head_stats", None)
        if stats is not None and stats[0] == seen_strings:
            _, n_last, n_seen, full_strings = stats
        else:
            for text in seen_strings:
                note(tok(text))
            n_last, n_seen = dict(n_last), dict(n_seen)
            self._head_stats = (frozenset(seen_strings), n_last, n_seen, frozenset(full_strings))
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
            units = [(t, r * (1.0 - lam)) for t, r in zip(toks[k], reps[k].tolist(), strict=True)]
            if lam > 0:
                cw, _ = norm_weights(c.child_weights if len(c.child_weights) == len(children) else None, len(children))
                cw = 0.5 * cw + 0.5 / len(children)
                units += [(tok(s), float(w) * lam) for s, w in zip(children, cw, strict=True)]
            tf: dict[tuple[str, ...], float] = defaultdict(float)
            for t, w in units:  # summed in unit order
                for g in t.terms:
                    tf[g] += w
            # children's names weigh in, but only members make a phrase "shared"
            cnt = Counter(chain.from_iterable(t.terms for t in toks[k]))
            full = {t.full for t, _ in units if t.full is not None}
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
        by_length: dict[int, float] = {}  # a term's length factor by its number of words
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
                length = by_length.get(n)
                if length is None:
                    length = 1.0 + 0.12 * (min(n, 3) - 1) - 0.2 * max(n - 3, 0)
                    if n > self.max_words:
                        length *= 0.25
                    by_length[n] = length
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
        vectors = TermVectors(clusters, tok, toks)
        cat_cov = self._category_coverage(clusters, probs, toks, head_ratio) if suffix else None
        blend = self._parent_centroids(clusters, sibling_groups, vectors) if self.leaf_parent_blend > 0 else {}
        options = []
        for k, c in enumerate(clusters):
            # without children's names the units are the members: their index is the one the vectors keep
            index = vectors.member_index(k) if len(units_per[k]) == len(c.members) else None
            opts = self._name_options(ranked[k], tfs[k], F, conc[k], units_per[k], c, reps[k], tok, show, index)
            cw = reps[k]
            if c.level <= 1 and self.leaf_centroid_mix is not None:  # a leaf-level node: its members by presence
                cw = self._presence_mix(probs[k], self.leaf_centroid_mix)
            members = [o for o in vectors.central_members(k, cw, show, 3) if self._fits(o.split(), o)]
            opts = self._rerank(opts, members, vectors, k, cw, probs[k], tok, blend.get(k))
            if suffix and cat_cov is not None and self.category_level and c.level >= self.category_level:
                opts = self._broad_names(c, suffix, self._category_names(cat_cov, k, suffix, show)) + opts
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
        cache.previous = {}  # the next call reuses this call's tokens, not every earlier call's
        self._tok_cache = cache
        return out
