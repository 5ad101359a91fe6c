"""Text helpers of the offline summarizer: tokens and n-grams of member strings, a light stemmer, display forms,
the category style inferred from the members, and meaning vectors of candidate names built from the members' own
embeddings. Deterministic, no model, no network."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from .base import ClusterInfo

#: Function words: an n-gram never starts or ends with one (they may sit inside: "respect for authority").
STOPWORDS = frozenset(
    """
    a an the of for to in on at by with from as into onto over under about through within without between
    against among amongst toward towards upon via per vs versus than and or nor but so yet if then that which
    who whom whose this these those is are be been being it its their theirs our ours your yours my his her
    one's oneself's & first
    """.split()
)
#: Words that join two terms; n-grams do not span them.
CONJUNCTIONS = frozenset({"and", "or", "&", "nor", "but"})
#: Lower-case tokens shown in upper case in names and descriptions.
ACRONYMS = frozenset(
    """ai ui ux api apis seo eu un ngo ngos dei esg hr roi kpi kpis diy llm llms ml nlp lgbt lgbtq lgbtqia gdpr
    hipaa sql html css json pii""".split()
)

WS = re.compile(r"\s+")
EDGE = re.compile(r"^[\W_]+|[\W_]+$")
QUALIFIER = re.compile(r" (?:\d+|\([^()]*\))$")
BREAK = re.compile(r"[,;:|/\\()\[\]{}<>\"“”«»]+")


def norm_weights(weights, n: int) -> tuple[np.ndarray, float]:
    """Non-negative finite weights (uniform when unusable) normalised to sum 1, and the raw total."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1) if weights is not None else np.zeros(0)
    if w.shape[0] != n:
        w = np.ones(n)
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    total = float(w.sum())
    if n == 0:
        return w, 0.0
    if total <= 0.0:
        return np.full(n, 1.0 / n), 0.0
    return w / total, total


def finite(E: np.ndarray) -> np.ndarray:
    """``np.nan_to_num(E)``, without its copy when every entry is finite (the usual case): the same values. The
    result may be ``E`` itself: read it, do not write to it."""
    return E if np.isfinite(E).all() else np.nan_to_num(E)


SUFFIXES = sorted(
    """ability ibility iveness fulness ousness lessness ication ation ition ness ity ment ism ist ive ing ed
    al ical ic ly ful ous ence ance ency ancy ent ant ible able er or s y e""".split(),
    key=lambda x: (-len(x), x),
)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light suffix-stripping stem: adaptability/adaptiveness -> adapt, honesty/honest -> honest."""
    w = word
    for _ in range(3):
        for suf in SUFFIXES:
            if w.endswith(suf) and len(w) - len(suf) >= 4:
                w = w[: -len(suf)]
                break
        else:
            break
    return w


@lru_cache(maxsize=1 << 18)
def same_stem(a: str, b: str) -> bool:
    """Crude, deterministic stem equality: honesty/honest, transparency/transparent, care/careful. Hyphenated
    words also match on their last part or on any part of 5+ letters ("tradition-innovation" ~ "innovation",
    "results-orientation" ~ "results-focused", but not "self-respect" ~ "self-awareness")."""
    if a == b:
        return True
    if stem_eq(a, b):
        return True
    if "-" in a or "-" in b:
        pa, pb = a.split("-"), b.split("-")
        if len(pa[-1]) > 2 and len(pb[-1]) > 2 and stem_eq(pa[-1], pb[-1]):
            return True
        return any(stem_eq(x, y) for x in pa if len(x) >= 5 for y in pb if len(y) >= 5)
    return False


@lru_cache(maxsize=65536)
def prefixes(word: str) -> frozenset[str]:
    """First three letters of a word and of its hyphenated parts: two words can only share a stem (as
    :func:`same_stem` sees it) when these overlap."""
    return frozenset(p[:3] for p in (word, *word.split("-")) if p)


@lru_cache(maxsize=262144)
def stem_eq(a: str, b: str) -> bool:
    if a == b or stem(a) == stem(b):
        return True
    short = min(len(a), len(b))
    k = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        k += 1
    return (
        (k >= 4 and k >= 0.75 * short)
        or (k >= 6 and k >= 0.6 * short)
        or (short >= 3 and k == short and short >= 0.6 * max(len(a), len(b)))
    )


#: Last parts of hyphenated compound adjectives ("user-focused", "eco-conscious").
ADJ_TAILS = ("ed", "centric", "conscious", "aware", "friendly", "free", "wide", "proof", "like", "minded", "ready")


#: Endings of (English) adjectives, for category names at the top levels: social, scientific, creative, ...
ADJ_ENDINGS = ("al", "ic", "ive", "ous", "ful", "ary", "ent", "ant", "ible", "able", "ish", "less")


def adjectival(word: str) -> bool:
    """A hyphenated compound adjective: "user-focused", "data-driven", "eco-conscious", "child-friendly"."""
    if "-" not in word:
        return False
    tail = word.rsplit("-", 1)[1]
    return len(tail) >= 3 and tail.endswith(ADJ_TAILS)


@lru_cache(maxsize=65536)
def display_token(tok: str) -> str:
    """How a (lower-case key) token is shown: acronyms in upper case, everything else as is."""
    parts = tok.split("-")
    if any(p in ACRONYMS for p in parts):
        return "-".join(p.upper() if p in ACRONYMS else p for p in parts)
    return tok


def capitalise(text: str) -> str:
    if not text:
        return text
    first = text.split(" ", 1)[0]
    if any(ch.isupper() for ch in first):  # an acronym or a mixed-case word: leave it alone
        return text
    return text[0].upper() + text[1:]


def decapitalise(name: str) -> str:
    """A name as it reads inside a sentence: "Honesty and truthfulness" -> "honesty and truthfulness"."""
    if not name:
        return name
    first = name.split(" ", 1)[0]
    rest = first[1:]
    if len(first) > 1 and any(ch.isupper() for ch in rest):  # "AI safety", "iOS": keep
        return name
    return name[0].lower() + name[1:]


def fmt_pct(v: float) -> str:
    if not math.isfinite(v) or v <= 0:
        return "0%"
    if v >= 99.95:
        return "100%" if v >= 99.995 else f"{v:.2f}%"
    if v >= 1:
        return f"{v:.1f}%"
    if v >= 0.01:
        return f"{v:.2f}%"
    return "<0.01%"


def join_list(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


class Tok:
    """Tokenisation of one string (cached per distinct string)."""

    __slots__ = ("keys", "mixed", "ngrams", "full", "terms")

    def __init__(self, text: str, max_n: int):
        keys: list[str] = []
        mixed: list[tuple[str, str]] = []
        breaks: set[int] = set()  # positions that start a new chunk (after a comma, a bracket, a slash ...)
        for chunk in BREAK.split(str(text)):
            if keys:
                breaks.add(len(keys))
            for piece in chunk.split():
                # strip surrounding punctuation/symbols, keep inner hyphens and apostrophes ("data-driven")
                # (the regular expression only when an end is not a letter or digit: [\W_] is "not isalnum")
                word = piece if piece[0].isalnum() and piece[-1].isalnum() else EDGE.sub("", piece)
                if not word:
                    continue
                key = word.lower()
                keys.append(key)
                # remember an existing mixed case ("iOS", "McDonald"); otherwise names show the lower-case form
                rest = word[1:]
                if rest.lower() != rest:
                    mixed.append((key, word))
        self.keys = tuple(keys)
        self.mixed = tuple(mixed)
        ok = keys and not (breaks - {len(keys)}) and keys[0] not in STOPWORDS and keys[-1] not in STOPWORDS
        self.full = self.keys if ok else None
        grams: set[tuple[str, ...]] = set()
        stop = [k in STOPWORDS for k in keys]
        start = 0
        m = len(keys)
        while start < m:
            # a segment between conjunctions
            end = start
            while end < m and keys[end] not in CONJUNCTIONS and (end == start or end not in breaks):
                end += 1
            for a in range(start, end):
                if stop[a]:
                    continue
                for b in range(a + 1, min(end, a + max_n) + 1):
                    if not stop[b - 1]:
                        grams.add(self.keys[a:b])
            start = end + 1 if end < m and keys[end] in CONJUNCTIONS else max(end, start + 1)
        self.ngrams = frozenset(grams)
        #: the terms a string counts for: its n-grams, and the whole string when it is none of them (longer than
        #: ``max_n`` words, or spanning "and")
        self.terms = tuple(self.ngrams) + ((self.full,) if self.full is not None and self.full not in self.ngrams else ())


class TokCache(dict):
    """Tokenisations by string (:class:`Tok`), made on first use: a hit is a plain dict lookup. ``previous``: an
    earlier cache whose tokens are taken over rather than made again (the levels of one build share members)."""

    __slots__ = ("max_n", "previous")

    def __init__(self, max_n: int, previous=None):
        super().__init__()
        self.max_n = max_n
        self.previous = previous if previous is not None else {}

    def __missing__(self, text: str) -> Tok:
        t = self.previous.get(text)
        if t is None:
            t = Tok(text, self.max_n)
        self[text] = t
        return t


@lru_cache(maxsize=1 << 20)
def abstract_head(text: str) -> bool | None:
    """Whether a string's last word is an abstract noun (:data:`ABSTRACT_ENDINGS`, 5+ letters); None when it has no
    word. Cached: the levels of one build ask about the same members."""
    words = [w for w in re.split(r"[\s\-/]+", text.lower()) if w]
    words = [EDGE.sub("", w) for w in words]
    words = [w for w in words if w]
    if not words:
        return None
    return words[-1].endswith(ABSTRACT_ENDINGS) and len(words[-1]) > 4


class KeyIndex:
    """Which of a list of token sets say a word: per distinct key, the positions that hold it (ascending), and the
    keys by their :func:`prefixes`, so that the keys sharing a word's stem are found without a scan of every
    string. Built once per cluster, in one pass: a question about a name then costs what its answer holds."""

    __slots__ = ("at", "_by_prefix", "_stems")

    def __init__(self, key_lists):
        at: dict[str, list[int]] = {}
        for i, keys in enumerate(key_lists):
            for x in keys:
                rows = at.get(x)
                if rows is None:
                    at[x] = [i]
                elif rows[-1] != i:
                    rows.append(i)
        self.at = at
        self._by_prefix: dict[str, list[str]] | None = None  # on the first stem question
        self._stems: dict[str, frozenset[str]] = {}

    def same_stem_keys(self, word: str) -> set[str]:
        """The keys that share ``word``'s stem (:func:`same_stem`; such keys always share a prefix with it).
        Answered once per word (a copy each time)."""
        got = self._stems.get(word)
        if got is None:
            if self._by_prefix is None:
                self._by_prefix = defaultdict(list)
                for x in self.at:
                    for p in prefixes(x):
                        self._by_prefix[p].append(x)
            cands = {x for p in prefixes(word) for x in self._by_prefix.get(p, ())}
            got = self._stems[word] = frozenset(x for x in cands if same_stem(x, word))
        return set(got)

    def rows(self, keys) -> list[int]:
        """The positions that hold any of ``keys``, ascending."""
        out: set[int] = set()
        for x in keys:
            out.update(self.at.get(x, ()))
        return sorted(out)


#: Endings of abstract nouns (qualities, states, principles): members mostly headed by them are values.
ABSTRACT_ENDINGS = (
    "ness", "ity", "ism", "ment", "tion", "sion", "ance", "ence", "ancy", "ency", "ship", "dom", "hood", "cy",
    "ty", "acy",
)


def infer_category_suffix(texts) -> str:
    """"values" when at least 40% of the distinct member strings are headed by an abstract noun (honesty,
    transparency, professionalism, technical excellence), else "" (product defects, recipes, tasks ...)."""
    n = hit = 0
    for text in texts:
        head = abstract_head(str(text))
        if head is None:
            continue
        n += 1
        hit += head
    return "values" if n and hit >= 0.4 * n else ""


class TermVectors:
    """Approximate meaning vectors of candidate names, from the members' own embeddings (no model needed): the
    embedding of a member that says the phrase exactly (anywhere in the level), else the embedding of the
    heaviest of the shortest members of the cluster that contain the phrase; a name "A and B" is the normalised
    sum of its parts."""

    def __init__(self, clusters: list[ClusterInfo], tok, toks: list[list[Tok]] | None = None):
        self.clusters = clusters
        self.tok = tok
        #: per cluster, its members' tokens (``toks`` when the caller has them)
        self.toks = toks if toks is not None else [[tok(s) for s in c.members] for c in clusters]
        self._w: dict[int, list[float]] = {}  # each cluster's normalised member weights, on first use
        def usable(c: ClusterInfo) -> bool:
            E = c.embeddings
            return (
                isinstance(E, np.ndarray) and E.ndim == 2 and E.shape[0] == len(c.members) and E.shape[1] > 0
                and len(c.members) > 0
            )

        self.usable = [usable(c) for c in clusters]
        dims = {int(c.embeddings.shape[1]) for c, u in zip(clusters, self.usable, strict=True) if u}
        self.ok = len(dims) == 1
        self.exact: dict[tuple[str, ...], np.ndarray] = {}
        self._indexes: dict[int, KeyIndex] = {}
        #: each usable cluster's embeddings as float64, NaNs zeroed: converted once, not per question
        self._E: list[np.ndarray | None] = [None] * len(clusters)
        if not self.ok:
            return
        for k, (c, u) in enumerate(zip(clusters, self.usable, strict=True)):
            if not u:
                continue
            E = self._E[k] = finite(np.asarray(c.embeddings, dtype=np.float64))
            for t, e in zip(self.toks[k], E, strict=True):
                key = t.keys
                if key and key not in self.exact:
                    self.exact[key] = e
        self._cache: dict[tuple[int, tuple[str, ...]], np.ndarray | None] = {}

    def centroid(self, k: int, rep) -> np.ndarray | None:
        c = self.clusters[k]
        if not self.ok or not self.usable[k]:
            return None
        v = np.asarray(rep, dtype=np.float64) @ self._E[k]
        n = float(np.linalg.norm(v))
        return v / n if n > 1e-12 else None

    def _weights(self, k: int) -> list[float]:
        """Cluster ``k``'s members' shares of its weight (:func:`norm_weights`), computed once."""
        w = self._w.get(k)
        if w is None:
            c = self.clusters[k]
            w = self._w[k] = norm_weights(c.weights, len(c.members))[0].tolist()
        return w

    def member_index(self, k: int) -> KeyIndex:
        """The :class:`KeyIndex` of cluster ``k``'s members (built on first use, once per cluster)."""
        index = self._indexes.get(k)
        if index is None:
            index = self._indexes[k] = KeyIndex(t.keys for t in self.toks[k])
        return index

    def _phrase(self, k: int, words: tuple[str, ...]) -> np.ndarray | None:
        key = (k, words)
        if key in self._cache:
            return self._cache[key]
        v = self.exact.get(words)
        if v is None and self.usable[k]:
            c = self.clusters[k]
            ts = self.toks[k]
            index = self.member_index(k)
            # only members holding every word can say the phrase: look at those, in member order
            held = [index.at.get(x, []) for x in set(words)]
            fewest = min(held, key=len)
            others = [set(h) for h in held if h is not fewest]
            rows = [i for i in fewest if all(i in h for h in others)
                    and (words in ts[i].ngrams or ts[i].keys == words)]
            if not rows:
                rows = list(index.at.get(words[-1], []))
            if rows:  # the heaviest of the shortest members that say it: an average would flatter a vague phrase
                short = min(len(ts[i].keys) for i in rows)
                w = self._weights(k)
                rows = [min((i for i in rows if len(ts[i].keys) == short), key=lambda i: (-w[i], str(c.members[i])))]
                v = self._E[k][rows].mean(axis=0)
        if v is not None:
            n = float(np.linalg.norm(v))
            v = v / n if n > 1e-12 else None
        self._cache[key] = v
        return v

    def text_vector(self, k: int, text: str) -> tuple[np.ndarray | None, bool, int]:
        """The vector of a name: its "and"-separated parts, a factored shared word restored ("analytical rigor
        and precision" = "analytical rigor" + "analytical precision"); whether every part is a member; the
        number of parts."""
        keys = tuple(x for x in self.tok(QUALIFIER.sub("", text)).keys)
        parts: list[tuple[str, ...]] = []
        cur: list[str] = []
        for x in keys:
            if x in CONJUNCTIONS:
                if cur:
                    parts.append(tuple(cur))
                cur = []
            else:
                cur.append(x)
        if cur:
            parts.append(tuple(cur))
        if not parts:
            return None, False, 0
        if len(parts) == 2 and len(parts[0]) == 1 and len(parts[1]) == 2:  # "emotional and psychological wellbeing"
            parts[0] = (parts[0][0], parts[1][1])
        elif len(parts) == 2 and len(parts[0]) == 2 and len(parts[1]) == 1:  # "analytical rigor and precision"
            parts[1] = (parts[0][0], parts[1][0])
        vs = [v for v in (self._phrase(k, p) for p in parts) if v is not None]
        exact = all(p in self.exact for p in parts)
        if not vs:
            return None, False, len(parts)
        v = vs[0]
        for x in vs[1:]:  # added in order, as np.sum along the first axis adds them
            v = v + x
        n = float(np.linalg.norm(v))
        return (v / n if n > 1e-12 else None), exact, len(parts)

    def central_members(self, k: int, rep, show, n: int) -> list[str]:
        """The heaviest member and the ``n`` short members closest to the cluster's centroid, as name options."""
        cen = self.centroid(k, rep) if self.ok else None
        if cen is None:
            return []
        c = self.clusters[k]
        ts = self.toks[k]
        sims = self._E[k] @ cen
        w, _ = norm_weights(c.weights, len(c.members))
        sims = sims + 0.1 * w  # among equally central members, the heavier
        out: list[str] = []
        top = np.flatnonzero(w == w.max()).tolist()
        heaviest = min(top, key=lambda i: str(c.members[i]))  # the first of the heaviest by text, as a scan finds it
        for i in [heaviest, *self._by_closeness(sims, c.members)]:
            t = ts[i]
            if t.full is None or len(t.keys) > 4:
                continue
            text = capitalise(show(t.keys))
            if text not in out:
                out.append(text)
            if len(out) > n:
                break
        return out

    @staticmethod
    def _by_closeness(sims: np.ndarray, members: Sequence[str], first: int = 16):
        """The members' positions by ``(-sims[i], members[i])``, stable, as ``sorted`` over all of them gives them;
        only the ``first`` closest (and their ties) are sorted unless the caller reads on past them."""
        n = len(members)
        s = sims.tolist()
        key = lambda i: (-s[i], str(members[i]))  # noqa: E731
        if n <= first:
            yield from sorted(range(n), key=key)
            return
        neg = -sims
        bound = np.partition(neg, first - 1)[first - 1]
        # every member inside the bound sorts before every member outside it: the first component decides
        yield from sorted(np.flatnonzero(neg <= bound).tolist(), key=key)
        yield from sorted(np.flatnonzero(neg > bound).tolist(), key=key)
