"""The language-model summarizer and the Clio hierarchy on synthetic clusters, against the scripted fake server.

No embedding model here: embeddings are seeded random vectors, so these tests are fast.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from taxonomy.cluster.clio import ClioHierarchy
from taxonomy.summarize import get_summarizer
from taxonomy.summarize.base import ClusterInfo, Summary
from taxonomy.summarize.llm import stable_seed
from tests.fake_llm_server import EchoResponder, FakeLLMServer, item_name, prompt_of, section


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def fake_embed(texts, dim=16):
    out = np.vstack([np.random.default_rng(stable_seed("emb", t)).normal(size=dim) for t in texts])
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def clusters(k=6, per=5, level=1):
    out = []
    for c in range(k):
        members = [f"topic{c} value{j}" for j in range(per)]
        out.append(
            ClusterInfo(
                level=level,
                members=members,
                weights=np.arange(per, 0, -1, dtype=float) * (c + 1),
                embeddings=fake_embed(members),
            )
        )
    return out


def summarizer(srv, provider="anthropic", **kw):
    kw.setdefault("retry_base", 0.001)
    base = srv.anthropic_url if provider == "anthropic" else srv.openai_url
    return get_summarizer(provider, model="fake-model", base_url=base, **kw)


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_names_and_contrastive_prompts(provider):
    with FakeLLMServer() as srv:
        s = summarizer(srv, provider, n_members=3)
        cl = clusters()
        out = s.summarize_level(cl, [[0, 1, 2], [3, 4, 5]])
        assert [o.name.split()[0] for o in out] == [f"Topic{c}" for c in range(6)]
        assert all(o.description for o in out)
        prompt = next(
            prompt_of(r)
            for r in srv.completions()
            if "- topic0 " in "".join(section(prompt_of(r), "members"))
        )
        again = summarizer(srv, provider, n_members=3).summarize_level(cl, [[0, 1, 2], [3, 4, 5]])
    assert again == out  # the sample is seeded: the same prompts, the same names
    members = section(prompt, "members")
    contrast = section(prompt, "contrast")
    # a frequency-weighted sample of 3 of the 5 members, heaviest (lowest j) first
    js = [int(m.rsplit("value", 1)[1]) for m in members]
    assert len(js) == 3 and js == sorted(js) and all(m.startswith("- topic0 value") for m in members)
    assert contrast and not any("topic0 " in x for x in contrast)  # the nearest OTHER clusters
    assert "at most 10 words" in prompt


def test_level_two_prompts_show_the_childrens_descriptions():
    with FakeLLMServer() as srv:
        s = summarizer(srv)
        s.remember("Honesty", "Telling the truth, always.")
        parent = clusters(2, 4, level=2)
        parent[0].child_names, parent[0].child_weights = ["Honesty", "Candor"], [2.0, 1.0]
        parent[1].child_names, parent[1].child_weights = ["Safety"], [1.0]
        s.summarize_level(parent, [[0, 1]])
        prompt = next(prompt_of(r) for r in srv.completions() if "Honesty" in section(prompt_of(r), "members")[0])
    assert "- Honesty: Telling the truth, always." in prompt and "- Candor" in prompt
    assert "- Safety" in section(prompt, "contrast")


def test_malformed_answers_are_asked_again_with_the_problem():
    with FakeLLMServer() as srv:
        s = summarizer(srv, concurrency=1)
        srv.script.extend([{"text": "Sure, here is a name: Honesty"}, {"text": json.dumps({"name": "", "description": "x"})}])
        out = s.summarize_level(clusters(1), [[0]])
        assert out[0].name == "Topic0 value0 themes"
        reqs = srv.completions()
    assert len(reqs) == 3 and s.service.stats.invalid_outputs == 2 and not s.repairs
    msgs = reqs[2]["body"]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert "not a JSON object" in msgs[2]["content"] and "name is missing or empty" in msgs[4]["content"]


def test_answers_that_stay_unusable_fall_back_to_the_offline_summary_and_are_reported():
    with FakeLLMServer(responder=lambda p, r: "I cannot help with that.") as srv:
        s = summarizer(srv, content_retries=1)
        out = s.summarize_level(clusters(3), [[0, 1, 2]])
        assert len(srv.completions()) == 6
    assert all(o.name and o.description for o in out)
    assert len({o.name for o in out}) == 3
    assert len(s.repairs) == 3 and all(r["action"] == "offline summary" for r in s.repairs)
    assert s.service.stats.repaired == 3


def test_too_long_names_are_refused():
    long = json.dumps({"name": "one two three four five six seven eight nine ten eleven", "description": "d."})
    with FakeLLMServer() as srv:
        srv.script.append({"text": long})
        s = summarizer(srv, concurrency=1)
        out = s.summarize_level(clusters(1), [[0]])
    assert out[0].name == "Topic0 value0 themes" and s.service.stats.invalid_outputs == 1


def test_duplicate_sibling_names_are_asked_again_then_qualified():
    def same(prompt, request):
        taken = section(prompt, "taken")
        if taken and len(section(prompt, "members")) and "topic1" in prompt.split("<contrast>")[0]:
            return json.dumps({"name": "Another name", "description": "d."})
        return json.dumps({"name": "Same name", "description": "d."})

    with FakeLLMServer(responder=same) as srv:
        s = summarizer(srv)
        out = s.summarize_level(clusters(3), [[0, 1, 2]])
    names = [o.name for o in out]
    assert len(set(n.casefold() for n in names)) == 3
    # the heaviest cluster (2) keeps the name; cluster 1 took another when asked again; cluster 0 is qualified
    assert names[2] == "Same name" and names[1] == "Another name" and names[0].startswith("Same name (")
    assert [r["problem"] for r in s.repairs] == ["duplicate sibling name 'Same name'"]


def test_only_the_targets_are_sent_and_fixed_names_count_as_taken():
    def resp(prompt, request):
        return json.dumps({"name": "Kept", "description": "d."})

    with FakeLLMServer(responder=resp) as srv:
        s = summarizer(srv)
        out = s.summarize_level(clusters(4), [[0, 1], [2, 3]], targets=[1], fixed_names=["Kept", None, "X", "Y"])
        assert len(srv.completions()) >= 1
        first = prompt_of(srv.completions()[0])
    assert "- Kept" in section(first, "taken")
    assert out[1].name != "Kept" and out[0].name == "Kept"


def test_llm_summarizer_params_never_hold_the_key():
    with FakeLLMServer() as srv:
        s = summarizer(srv)
        params = json.dumps(s.get_params())
    assert "sk-test" not in params and '"model": "fake-model"' in params


# ------------------------------------------------------------------------------------------------------ Clio
def synthetic(n_clusters=24, per=5):
    texts = [f"value {c}-{j}" for c in range(n_clusters) for j in range(per)]
    X = fake_embed(texts)
    weights = np.linspace(1.0, 2.0, len(texts))
    lab1 = np.repeat(np.arange(n_clusters), per)
    return texts, X, weights, lab1


def run_clio(responder=None, levels=(24, 5, 2), seed=0, tolerance=0, **kw):
    texts, X, weights, lab1 = synthetic(levels[0])
    with FakeLLMServer(responder=responder) as srv:
        s = summarizer(srv, content_retries=1)
        clio = ClioHierarchy(s, seed=seed, count_tolerance=tolerance, **kw)
        res = clio.fit(X, texts, weights, lab1, list(levels), embed=fake_embed)
        reqs = srv.completions()
    return res, reqs, s


def check_structure(res, levels, tolerance=0):
    from taxonomy.cluster.base import Hierarchy

    h = Hierarchy(res.labels)
    h.validate(len(res.labels[0]), res.levels)  # exactly 0..k-1 used at every level: no empty parent
    for got, want in zip(res.levels, levels, strict=True):
        assert abs(got - want) <= tolerance
    for lab, size in zip(res.labels[1:], res.levels[:-1], strict=True):
        assert lab.shape == (size,)  # every child has exactly one parent
    for summ, k in zip(res.summaries, res.levels, strict=True):
        assert len(summ) == k and all(isinstance(x, Summary) and x.name for x in summ)
        assert len({x.name.casefold() for x in summ}) == k


def test_clio_meets_the_counts_exactly_with_no_empty_parent():
    res, reqs, s = run_clio()
    check_structure(res, [24, 5, 2])
    kinds = Counter(
        "assign" if "<categories>" in prompt_of(r)
        else "propose" if "<count>" in prompt_of(r) else "name"
        for r in reqs
    )
    assert kinds["assign"] == (24 + 5) * 3  # every child, three samples
    assert kinds["propose"] == 2 and kinds["name"] == 24 + 5 + 2
    rep = res.report[0]
    assert rep["parents"] == 5 and rep["votes"] == 3


def shown_orders(reqs):
    orders = {}
    for r in reqs:
        p = prompt_of(r)
        if "<categories>" in p:
            child = section(p, "cluster")[0]  # name and description: names may repeat across levels
            orders.setdefault(child, []).append(tuple(item_name(x) for x in section(p, "categories")))
    return orders


def test_clio_is_deterministic_for_a_seed_and_shuffles_candidates_per_sample():
    a, ra, _ = run_clio()
    b, rb, _ = run_clio()
    assert all(np.array_equal(x, y) for x, y in zip(a.labels, b.labels, strict=True))
    assert [[s.name for s in lv] for lv in a.summaries] == [[s.name for s in lv] for lv in b.summaries]
    oa, ob = shown_orders(ra), shown_orders(rb)
    assert {k: sorted(v) for k, v in oa.items()} == {k: sorted(v) for k, v in ob.items()}
    # the same candidates in different orders across the samples of one child
    assert any(len(set(v)) > 1 for v in oa.values())
    assert all(len({frozenset(o) for o in v}) == 1 for v in oa.values())
    c, rc, _ = run_clio(seed=1)
    assert shown_orders(rc) != oa


def test_clio_majority_vote_outvotes_one_wrong_sample():
    import threading

    lock = threading.Lock()
    echo = EchoResponder()
    calls: Counter = Counter()

    def one_wrong(prompt, request):
        if "<categories>" in prompt:
            child = item_name(section(prompt, "cluster")[0])
            cats = [item_name(x) for x in section(prompt, "categories")]
            right = echo.assign.get(child)
            with lock:
                calls[child] += 1
                n = calls[child]
            if n == 1 and right in cats:  # exactly one of the three samples answers wrongly
                return json.dumps({"category": next(c for c in cats if c != right)})
        return echo(prompt, request)

    wrong, _, _ = run_clio(one_wrong, levels=(24, 8))
    right, _, _ = run_clio(None, levels=(24, 8))
    check_structure(wrong, [24, 8])
    assert sum(calls.values()) == 24 * 3
    # one wrong sample in three changed no assignment: the majority is the model's consistent answer
    assert np.array_equal(wrong.labels[1], right.labels[1])
    assert wrong.report[0]["unanimous"] < right.report[0]["unanimous"]
    assert wrong.report[0]["dropped_votes"] == 0


def test_clio_repairs_order_bias_and_empty_parents_to_the_exact_count():
    def always_first(prompt, request):  # pure order bias: whatever is listed first
        if "<categories>" in prompt:
            return json.dumps({"category": item_name(section(prompt, "categories")[0])})
        return EchoResponder()(prompt, request)

    res, _, s = run_clio(always_first)
    check_structure(res, [24, 5, 2])

    def always_same(prompt, request):  # every child picks the alphabetically first category
        if "<categories>" in prompt:
            return json.dumps({"category": sorted(item_name(x) for x in section(prompt, "categories"))[0]})
        return EchoResponder()(prompt, request)

    res, _, s = run_clio(always_same)
    check_structure(res, [24, 5, 2])
    assert res.report[0]["splits"] == 4 and res.report[0]["empty_candidates"] == 4
    assert any("split" in r["action"] for r in s.repairs)
    res, _, s = run_clio(always_same, tolerance=2)
    check_structure(res, [24, 5, 2], tolerance=2)
    assert res.levels[1] == 3  # only as many splits as the tolerance needs


def test_clio_invalid_choices_and_proposals_are_repaired():
    def bad(prompt, request):
        if "<categories>" in prompt:
            return json.dumps({"category": "A category that does not exist"})
        if "<count>" in prompt:
            return "no idea"
        return EchoResponder()(prompt, request)

    res, reqs, s = run_clio(bad, levels=(24, 4))
    check_structure(res, [24, 4])
    rep = res.report[0]
    assert rep["dropped_votes"] == 24 * 3 and rep["nearest_fallback"] == 24
    actions = Counter(r["action"] for r in s.repairs)
    assert actions["candidates from its heaviest clusters"] == 1 and actions["nearest candidate"] == 24


def test_clio_needs_a_language_model():
    from taxonomy.errors import UsageError
    from taxonomy.summarize.offline import OfflineSummarizer

    with pytest.raises(UsageError, match="needs a language model"):
        ClioHierarchy(OfflineSummarizer())


def test_nearest_clusters_are_a_stable_sort_of_every_cluster_taken_in_blocks():
    """The contrast clusters of each target: the same as sorting every other cluster by similarity (ties to the
    lower index), however the targets are blocked; ties at the cut included."""
    from taxonomy.summarize.llm import nearest_clusters

    rng = np.random.default_rng(5)
    C = rng.standard_normal((200, 6))
    C[50:60] = C[10]  # exact ties, and a tie with the target itself
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    targets = [0, 10, 11, 55, 199, 3]
    for m, block in ((3, 1024), (3, 2), (12, 4), (0, 3)):
        got = nearest_clusters(C, sorted(targets), m, block=block)
        for k in targets:
            full = [int(j) for j in np.argsort(-(C @ C[k]), kind="stable") if j != k][:m]
            assert got[k] == full, (m, block, k)


def test_nearest_clusters_above_the_exact_limit_use_the_neighbour_search(monkeypatch):
    import taxonomy.cluster as cluster
    from taxonomy.summarize.llm import nearest_clusters

    rng = np.random.default_rng(6)
    C = rng.standard_normal((300, 8))
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    exact = nearest_clusters(C, list(range(300)), 4)
    monkeypatch.setattr(cluster, "KNN_EXACT_MAX", 100)
    searched = nearest_clusters(C, list(range(300)), 4)  # 300 rows: the search itself is exact below 20,000
    assert searched == exact
