"""Validation spot-checks, fast unit tests: statistics (against statsmodels), sample sizes, strata allocation,
the seeded draw, item verdicts and the redaction rules. No database."""

from __future__ import annotations

import itertools
import math
import random
from fractions import Fraction

import pytest
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from review import validation as V
from taxonomy.errors import UsageError

TOL = 1e-9


# ------------------------------------------------------------------------------------------- intervals
@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_wilson_matches_statsmodels(confidence):
    for n in (1, 2, 5, 17, 100, 400, 753, 10_000):
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n} - {-1}):
            if not 0 <= k <= n:
                continue
            low, high = V.wilson_interval(k, n, confidence)
            s_low, s_high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
            assert abs(low - s_low) < TOL and abs(high - s_high) < TOL, (k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_clopper_pearson_matches_statsmodels(confidence):
    for n in (1, 2, 5, 17, 100, 400, 753):
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            if not 0 <= k <= n:
                continue
            low, high = V.clopper_pearson_interval(k, n, confidence)
            s_low, s_high = proportion_confint(k, n, alpha=1 - confidence, method="beta")
            assert abs(low - s_low) < TOL and abs(high - s_high) < TOL, (k, n)


def test_fractional_counts_match_statsmodels():
    """The stratified interval uses an effective (non-integer) sample size."""
    for count, nobs in ((97.3, 99.1), (12.5, 40.25), (1.0, 3.5)):
        for method, ours in (("wilson", V.wilson_interval), ("beta", V.clopper_pearson_interval)):
            a = ours(count, nobs, 0.95)
            b = proportion_confint(count, nobs, alpha=0.05, method=method)
            assert abs(a[0] - b[0]) < TOL and abs(a[1] - b[1]) < TOL


def test_interval_errors():
    with pytest.raises(UsageError, match="confidence"):
        V.wilson_interval(1, 2, 1.5)
    with pytest.raises(UsageError, match="unknown interval"):
        V.proportion_interval(1, 2, 0.95, "wald")
    with pytest.raises(ValueError):
        V.wilson_interval(0, 0)


# ------------------------------------------------------------------------------------------- sample sizes
def test_sample_size_textbook_values():
    # the classic 384.16 -> 385 at ±5 points, 95%, p = 0.5
    assert V.sample_size(0.05, 0.95, 0.5) == 385
    # Cochran's finite-population correction: 385 -> 278 for N = 1000
    assert V.sample_size(0.05, 0.95, 0.5, population=1000) == 278
    # the example: ±1 point around 98% at 95%: 1.959964² · 0.98 · 0.02 / 0.01² = 752.9 -> 753
    assert V.sample_size(0.01, 0.95, 0.98) == 753
    z = 1.959963984540054
    assert V.sample_size(0.01, 0.95, 0.98) == math.ceil(z * z * 0.98 * 0.02 / 0.0001)
    n0 = z * z * 0.98 * 0.02 / 0.0001
    assert V.sample_size(0.01, 0.95, 0.98, population=5000) == math.ceil(n0 / (1 + (n0 - 1) / 5000))
    # never more than the population
    assert V.sample_size(0.001, 0.99, 0.5, population=50) == 50
    # a wider margin needs fewer; a higher confidence needs more
    assert V.sample_size(0.02, 0.95, 0.98) < V.sample_size(0.01, 0.95, 0.98) < V.sample_size(0.01, 0.99, 0.98)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"margin": 0, "expected": 0.9}, "margin"),
        ({"margin": 1.2, "expected": 0.9}, "margin"),
        ({"margin": 0.01, "expected": 1.0}, "expected"),
        ({"margin": 0.01, "expected": 0.0}, "expected"),
        ({"margin": 0.01, "expected": 0.9, "confidence": 1.0}, "confidence"),
    ],
)
def test_sample_size_bad_arguments(kwargs, match):
    with pytest.raises(UsageError, match=match):
        V.sample_size(**kwargs)


# ------------------------------------------------------------------------------------------- allocation
def test_allocation_is_proportional_with_a_minimum_of_one():
    assert V.allocate({"ai": 198, "human": 102}, 40) == {"ai": 26, "human": 14}
    assert V.allocate({"a": 1, "b": 1, "c": 1000}, 3) == {"a": 1, "b": 1, "c": 1}
    # largest remainders; exact ties go to the larger stratum, then to the smaller key
    assert V.allocate({"a": 5, "b": 5, "c": 5}, 7) == {"a": 3, "b": 2, "c": 2}
    assert V.allocate({"a": 10, "b": 5}, 3) == {"a": 2, "b": 1}
    # empty strata get nothing and do not count
    assert V.allocate({"a": 0, "b": 4}, 2) == {"a": 0, "b": 2}
    # the whole population
    assert V.allocate({"a": 3, "b": 7}, 10) == {"a": 3, "b": 7}


def test_allocation_properties_random():
    rng = random.Random(7)
    for _ in range(500):
        k = rng.randint(1, 8)
        sizes = {f"s{i}": rng.choice([0, 1, 2, 3, rng.randint(1, 5000)]) for i in range(k)}
        nonempty = [s for s in sizes if sizes[s]]
        N = sum(sizes.values())
        if not nonempty:
            continue
        n = rng.randint(len(nonempty), N)
        alloc = V.allocate(sizes, n)
        assert sum(alloc.values()) == n
        assert V.allocate(dict(reversed(list(sizes.items()))), n) == alloc  # independent of dict order
        for s, size in sizes.items():
            assert 0 <= alloc[s] <= size
            if size:
                assert alloc[s] >= 1
                quota = Fraction(n * size, N)
                # proportional up to rounding and the at-least-one rule
                assert alloc[s] <= max(1, math.ceil(quota))
                assert alloc[s] >= math.floor(quota) - len(nonempty)


def test_allocation_errors():
    with pytest.raises(UsageError, match="cannot draw 11 from 10"):
        V.allocate({"a": 5, "b": 5}, 11)
    with pytest.raises(UsageError, match="at least 3"):
        V.allocate({"a": 5, "b": 5, "c": 1}, 2)


# ------------------------------------------------------------------------------------------- the draw
def _population(sizes: dict[str, int]) -> list[tuple[int, int, str]]:
    rows, rid = [], 0
    for key, size in sizes.items():
        for _ in range(size):
            rid += 1
            rows.append((rid, rid % 7, key))
    return rows


def test_draw_is_deterministic_and_respects_the_allocation():
    pop = _population({"ai": 300, "human": 150, "unknown": 5})
    alloc = V.allocate({"ai": 300, "human": 150, "unknown": 5}, 60)
    a = V.draw(pop, alloc, seed=0)
    b = V.draw(list(pop), alloc, seed=0)
    assert a == b
    assert len({r[0] for r in a}) == 60
    assert {k: sum(1 for r in a if r[2] == k) for k in alloc} == alloc
    c = V.draw(pop, alloc, seed=1)
    assert {r[0] for r in c} != {r[0] for r in a}
    # strata are interleaved, not in blocks
    keys = [r[2] for r in a]
    assert keys != sorted(keys)


def test_draw_of_one_stratum_does_not_depend_on_the_others():
    """Each stratum has its own seeded generator: changing another stratum's size leaves its draw alone."""
    pop1 = _population({"ai": 300, "human": 150})
    pop2 = [(r, v, k) for r, v, k in _population({"ai": 300, "human": 150})]
    pop2 += [(10_000 + i, 1, "zzz") for i in range(40)]
    a = V.draw(pop1, {"ai": 20, "human": 10}, seed=3)
    b = V.draw(pop2, {"ai": 20, "human": 10, "zzz": 5}, seed=3)
    assert sorted(r[0] for r in a if r[2] == "ai") == sorted(r[0] for r in b if r[2] == "ai")


def test_draw_everything():
    pop = _population({"all": 12})
    got = V.draw(pop, {"all": 12}, seed=5)
    assert sorted(got) == sorted(pop)


# ------------------------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize(
    "answers,verdict",
    [
        ([], None),
        (["expressed"], "expressed"),
        (["not_expressed"], "not_expressed"),
        (["cannot_tell"], "cannot_tell"),
        (["cannot_tell", "cannot_tell"], "cannot_tell"),
        (["expressed", "cannot_tell"], "expressed"),
        (["expressed", "not_expressed"], "disputed"),
        (["expressed", "not_expressed", "expressed"], "expressed"),
        (["not_expressed", "not_expressed", "expressed"], "not_expressed"),
        (["expressed", "not_expressed", "cannot_tell"], "disputed"),
    ],
)
def test_item_verdict(answers, verdict):
    assert V.item_verdict(answers) == verdict


# ------------------------------------------------------------------------------------------- agreement
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels' own variance of an undefined kappa
def test_cohens_kappa_matches_statsmodels():
    rng = random.Random(11)
    cats = list(V.ANSWERS)
    for trial in range(200):
        n = rng.randint(2, 60)
        agree = rng.random()
        pairs = []
        for _ in range(n):
            a = rng.choices(cats, weights=[8, 2, 1])[0]
            b = a if rng.random() < agree else rng.choice(cats)
            pairs.append((a, b))
        ours = V.cohens_kappa(pairs, cats)
        table = V.contingency_table(pairs, cats)
        res = sm_cohens_kappa(table)
        if ours is None:
            assert math.isnan(res.kappa) or not math.isfinite(res.kappa)
        else:
            assert abs(ours - res.kappa) < TOL, trial


def test_cohens_kappa_hand_worked():
    # 50 items: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> po = 0.7, pe = 0.5, kappa = 0.4 (the Wikipedia example)
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert abs(V.cohens_kappa(pairs, ["y", "n"]) - 0.4) < 1e-12
    # undefined when both raters always give the same single answer
    assert V.cohens_kappa([("y", "y")] * 4, ["y", "n"]) is None


#: Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the example with 4 observers, 12 units and
#: missing values (A-D); the paper reports alpha_nominal = 0.743.
_K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _alpha_pairwise(units):
    """Krippendorff's alpha from its definition over pairs of values (independent of the coincidence matrix):
    D_o = Σ_u Σ_{i≠j in u} δ / (m_u − 1) / n, D_e = Σ_{i≠j over all pairable values} δ / (n(n − 1))."""
    pairable = [u for u in units if len(u) >= 2]
    values = [v for u in pairable for v in u]
    n = len(values)
    d_o = sum(
        sum(1 for i, j in itertools.permutations(range(len(u)), 2) if u[i] != u[j]) / (len(u) - 1) for u in pairable
    ) / n
    d_e = sum(1 for i, j in itertools.permutations(range(n), 2) if values[i] != values[j]) / (n * (n - 1))
    return 1 - d_o / d_e


def test_krippendorff_alpha_textbook_example():
    units = [[x for x in col if x is not None] for col in zip(*_K2011)]
    alpha = V.krippendorff_alpha_nominal(units)
    assert round(alpha, 3) == 0.743
    assert abs(alpha - _alpha_pairwise(units)) < 1e-12
    # hand-worked from the paper's coincidence matrix: n = 40 pairable values (n_1..n_5 = 9, 13, 10, 5, 3), the
    # off-diagonal cells sum to 8, Σ_c≠k n_c n_k = 40² − (9² + 13² + 10² + 5² + 3²) = 1216, so
    # alpha = 1 − (n − 1) · 8 / 1216 = 1 − 39 · 8 / 1216 = 0.74342…
    assert abs(alpha - (1 - 39 * 8 / 1216)) < 1e-12


def test_krippendorff_alpha_random_against_the_pairwise_definition():
    rng = random.Random(3)
    for _ in range(200):
        units = [[rng.choice("abc") for _ in range(rng.randint(0, 4))] for _ in range(rng.randint(2, 15))]
        ours = V.krippendorff_alpha_nominal(units)
        pairable = [u for u in units if len(u) >= 2]
        values = [v for u in pairable for v in u]
        if len(set(values)) < 2:
            assert ours is None
            continue
        assert abs(ours - _alpha_pairwise(units)) < 1e-12


def test_krippendorff_alpha_undefined_and_perfect():
    assert V.krippendorff_alpha_nominal([["a", "a"], ["a", "a"]]) is None
    assert V.krippendorff_alpha_nominal([["a"], ["b"]]) is None
    assert V.krippendorff_alpha_nominal([["a", "a"], ["b", "b"]]) == 1.0


# ------------------------------------------------------------------------------------------- stratified
def test_stratified_estimate_independent_computation():
    strata = [(600, 600, 40, 39), (300, 300, 20, 18), (100, 100, 10, 10)]
    st = V.stratified_estimate(strata, 0.95, "wilson")
    N = 1000
    p = sum(Nh / N * s / n for Nh, _, n, s in strata)
    var = sum((Nh / N) ** 2 * (1 - n / Nh) * (s / n) * (1 - s / n) / (n - 1) for Nh, _, n, s in strata)
    assert abs(st["estimate"] - p) < 1e-12
    assert abs(st["se"] - math.sqrt(var)) < 1e-12
    n_eff = min(70, p * (1 - p) / var)
    assert abs(st["n_eff"] - n_eff) < 1e-9
    low, high = proportion_confint(p * n_eff, n_eff, alpha=0.05, method="wilson")
    assert abs(st["ci_low"] - low) < TOL and abs(st["ci_high"] - high) < TOL
    st_cp = V.stratified_estimate(strata, 0.95, "clopper-pearson")
    low, high = proportion_confint(p * n_eff, n_eff, alpha=0.05, method="beta")
    assert abs(st_cp["ci_low"] - low) < TOL and abs(st_cp["ci_high"] - high) < TOL


def test_stratified_estimate_all_correct_has_a_nondegenerate_interval():
    st = V.stratified_estimate([(500, 500, 30, 30), (500, 500, 30, 30)])
    assert st["estimate"] == 1.0 and st["se"] == 0.0
    assert st["n_eff"] == 60
    assert st["ci_high"] == pytest.approx(1.0) and st["ci_low"] < 0.97


# ------------------------------------------------------------------------------------------- redaction
POSITIVES = {
    "email": [
        "john.doe@example.com",
        "JOHN_DOE+tag@sub.example.co.uk",
        "a@b.io",
        "o'connor@example.ie",
        "user@xn--bcher-kva.example",
        "jörg@müller.de",
    ],
    "url": [
        "https://example.com",
        "http://example.com/path?q=1&r=2#frag",
        "HTTPS://EXAMPLE.COM/A",
        "www.example.org",
        "ftp://files.example.net/pub/file.tar.gz",
        "example.com/some/path",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "https://user:pass@example.com:8080/x",
    ],
    "ip": [
        "192.168.0.1",
        "8.8.8.8",
        "255.255.255.255",
        "0.0.0.0",
        "2001:db8::8a2e:370:7334",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "::1",
        "fe80::1%eth0",
        "::ffff:192.0.2.128",
        "2001:db8::",
    ],
    "phone": [
        "+1 415 555 2671",
        "+1 (415) 555-2671",
        "+44 20 7946 0958",
        "+49-30-1234567",
        "+33 1 23 45 67 89",
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "415 555 2671",
        "1-800-555-1234",
        "1 800 555 1234",
        "020 7946 0958",
        "06-12345678",
    ],
    "digits": ["123456", "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "20240115", "00123456789"],
}

NEGATIVES = [
    "The assistant valued honesty and transparency.",
    "Meet at 12:30 or 12:30:45 tomorrow.",
    "Released on 2024-01-15 and again on 15/01/2024.",
    "It ran from 1990-2000, then 2001 – 2010.",
    "Pi is 3.14159265 and e is 2.718281828.",
    "Version 1.2.3 and 10.0.1.2.3 are old; 999.1.1.1 is not an address.",
    "The price rose to 12,345 dollars (about 12.5%).",
    "In C++ use std::vector and a::b.",
    "Follow @someone on the site; email me (at) home.",
    "Room 12345 on floor 3, code 4-2-1.",
    "Call extension 5551 or dial 555-2671.",
    "The MAC address 00:1A:2B:3C:4D:5E identifies the card.",
    "A ratio of 3:2 and a score of 10-7.",
    "Use node.js and e.g. file.txt, or Mr. Smith.",
    "We built it with Node.js/React and setup.py/tests, then and/or km/h.",
    "Chapter 3.2/4 and the ratio 1.5/2.",
    "",
]


@pytest.mark.parametrize("kind,text", [(k, t) for k, ts in POSITIVES.items() for t in ts])
def test_redaction_positives(kind, text):
    for sentence in (text, f"Contact: {text}.", f"({text})", f"Say '{text}', then stop"):
        r = V.redact(sentence)
        assert r.n == 1, (sentence, r)
        assert r.by_kind[kind] == 1, (sentence, r.by_kind)
        core = text.split("%")[0]
        assert core not in r.text
        # the surrounding text survives
        assert sentence.replace(text, V.REDACTION_RULES[[x.kind for x in V.REDACTION_RULES].index(kind)].placeholder) == r.text


@pytest.mark.parametrize("text", NEGATIVES)
def test_redaction_negatives(text):
    r = V.redact(text)
    assert r.n == 0 and r.text == text, r


def test_redaction_counts_each_occurrence_and_every_kind():
    text = (
        "Mail ana@example.com or bob@example.org, call +1 415 555 2671, see https://x.example/a?b=1 "
        "from 10.0.0.1 or 2001:db8::1; order 98765432."
    )
    r = V.redact(text)
    assert r.by_kind == {"url": 1, "email": 2, "ip": 2, "phone": 1, "digits": 1}
    assert r.n == 7
    assert r.text == (
        "Mail [EMAIL] or [EMAIL], call [PHONE], see [URL] from [IP] or [IP]; order [NUMBER]."
    )
    for secret in ("ana@", "bob@", "415", "x.example", "10.0.0.1", "2001:db8", "98765432"):
        assert secret not in r.text
    # idempotent: a redacted text has nothing left to redact
    again = V.redact(r.text)
    assert again.n == 0 and again.text == r.text


def test_redaction_url_keeps_sentence_punctuation_and_inner_parts():
    r = V.redact("See (https://example.com/a), and https://example.com/b. Also http://user@example.com/x!")
    assert r.text == "See ([URL]), and [URL]. Also [URL]!"
    assert r.by_kind["url"] == 3 and r.by_kind["email"] == 0


def test_redaction_none_and_empty():
    assert V.redact(None).text is None and V.redact(None).n == 0
    assert V.redact("").n == 0
