"""`taxo build --summarizer anthropic|openai [--hierarchy clio]` and `taxo resummarize` end to end: the bundled
sample, the real embedding model, the official SDKs against the local fake server."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from taxonomy.api import LLMOptions, build, ingest, sample_path
from taxonomy.db.engine import session_scope
from taxonomy.db.models import ChangeSet, LLMResponse, Version
from taxonomy.llm import BudgetExceededError, LLMConfigError
from taxonomy.store import read_tree
from tests.fake_llm_server import FakeLLMServer, prompt_of
from tests.test_build import check_invariants

LEVELS = [30, 6, 2]
KEY = "sk-test-secret-0123456789"


@pytest.fixture(autouse=True)
def _keys(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


@pytest.fixture
def server():
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture
def sample_db(sqlite_url):
    from taxonomy.init import init

    init(sqlite_url)
    ingest(str(sample_path()), db=sqlite_url, weight_col="pct_convos")
    return sqlite_url


def llm_build(db, srv, provider="anthropic", cache_dir=None, llm=None, **kw):
    """A build with the fake server's URL for ``provider`` (and the other options of ``llm``)."""
    kw.setdefault("levels", LEVELS)
    kw.setdefault("method", "kmeans")
    base = srv.anthropic_url if provider == "anthropic" else srv.openai_url
    llm = replace(llm or LLMOptions(), base_url=base)
    return build(db=db, summarizer=provider, llm=llm, cache_dir=cache_dir, seed=0, **kw)


def n_versions(db) -> int:
    with session_scope(db) as s:
        return s.scalar(select(func.count()).select_from(Version))


def tree_of(db, vid):
    with session_scope(db) as s:
        return read_tree(s, vid), s.get(Version, vid).manifest


def named_tree(tree):
    return {(n.uid, n.name, n.description, n.parent_uid) for n in tree.nodes.values()}


def check_names(tree):
    siblings = defaultdict(list)
    for n in tree.nodes.values():
        assert n.name.strip() and n.description.strip()
        siblings[n.parent_uid].append(n.name.casefold())
    for names in siblings.values():
        assert len(names) == len(set(names))


def test_anthropic_build_is_cached_and_recorded(sample_db, server, cache_dir):
    a = llm_build(sample_db, server, cache_dir=cache_dir, llm=LLMOptions(model="claude-test"))
    assert len(server.completions()) == 30 + 6 + 2
    tree, m = tree_of(sample_db, a.version_id)
    check_invariants(tree, LEVELS)
    check_names(tree)
    assert all(n.name.endswith(" themes") for n in tree.nodes.values())  # the model's names
    assert {r["body"]["model"] for r in server.completions()} == {"claude-test"}
    # the manifest: summarizer, model, statistics, and every prompt template used with its sha256
    assert m["summarizer"]["name"] == "anthropic" and m["llm"]["model"] == "claude-test"
    assert m["llm"]["provider"] == "anthropic" and m["llm"]["base_url"] == server.anthropic_url
    assert m["llm"]["stats"]["calls"] == 38 and m["llm"]["stats"]["cache_hits"] == 0
    assert set(m["prompts"]) == {"system", "name_cluster"}
    for info in m["prompts"].values():
        assert hashlib.sha256(info["text"].encode()).hexdigest() == info["sha256"]
    assert a.llm["stats"]["calls"] == 38
    with session_scope(sample_db) as s:
        assert s.scalar(select(func.count()).select_from(LLMResponse)) == 38
    # the same build again: every answer from the cache, not one model call, the same tree
    server.reset()
    b = llm_build(sample_db, server, cache_dir=cache_dir, llm=LLMOptions(model="claude-test"))
    assert server.completions() == []
    assert [r["method"] for r in server.requests] == ["GET"]  # only the pre-flight GET /v1/models
    assert b.llm["stats"]["cache_hits"] == 38 and b.llm["stats"]["calls"] == 0
    assert b.checksum == a.checksum
    assert named_tree(tree_of(sample_db, b.version_id)[0]) == named_tree(tree)
    text = str(m) + str(a.to_dict())
    assert KEY not in text


def test_openai_build_survives_rate_limits_errors_and_malformed_answers(sample_db, server, cache_dir):
    server.script.extend(
        [
            {"status": 429, "retry_after": "0"},
            {},
            {"status": 500},
            {},
            {"raw": "<html>bad gateway</html>"},
            {},
            {"body": {"id": "x", "object": "chat.completion"}},
            {},
            {"text": "Here is my answer: a lovely cluster."},
            {},
            {"text": '{"name": "", "description": "empty"}'},
        ]
    )
    res = llm_build(sample_db, server, "openai", cache_dir=cache_dir, llm=LLMOptions(concurrency=1))
    tree, m = tree_of(sample_db, res.version_id)
    check_invariants(tree, LEVELS)
    check_names(tree)
    st = m["llm"]["stats"]
    assert st["rate_limited"] == 1 and st["server_errors"] == 1 and st["malformed_responses"] == 2
    assert st["invalid_outputs"] == 2 and st["ok"] == 38 + 2 and st["retries"] == 4
    assert all(r["protocol"] == "openai" for r in server.completions())
    assert m["llm"]["repairs"] == []


def test_unusable_answers_are_repaired_and_reported_not_half_written(sample_db, cache_dir):
    def stubborn(prompt, request):
        return "I would rather not."

    with FakeLLMServer(responder=stubborn) as srv:
        res = llm_build(sample_db, srv, levels=[8, 2], cache_dir=cache_dir)
    tree, m = tree_of(sample_db, res.version_id)
    check_invariants(tree, [8, 2])
    check_names(tree)  # offline names, distinct
    assert m["llm"]["n_repairs"] == 10 and {r["action"] for r in m["llm"]["repairs"]} == {"offline summary"}
    assert m["llm"]["stats"]["invalid_outputs"] == 10 * 3


def test_max_calls_stops_with_a_clear_error_and_writes_nothing(sample_db, server, cache_dir):
    with pytest.raises(BudgetExceededError, match=r"--max-calls 5.*Nothing was written"):
        llm_build(sample_db, server, cache_dir=cache_dir, llm=LLMOptions(max_calls=5, concurrency=2))
    assert len(server.completions()) == 5
    assert n_versions(sample_db) == 0
    # the answers received are cached: a second run with room for the rest pays only for the rest
    server.reset()
    res = llm_build(sample_db, server, cache_dir=cache_dir, llm=LLMOptions(max_calls=33))
    assert len(server.completions()) == 33 and res.llm["stats"]["cache_hits"] == 5


def test_max_cost_guard(sample_db, server, cache_dir):
    with pytest.raises(BudgetExceededError, match=r"--max-cost"):
        llm_build(sample_db, server, cache_dir=cache_dir, llm=LLMOptions(max_cost=0.01, price=(3.0, 15.0)))
    assert n_versions(sample_db) == 0


def test_missing_key_fails_before_any_work(sample_db, server, tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    fresh = tmp_path / "fresh-cache"
    with pytest.raises(LLMConfigError, match="ANTHROPIC_API_KEY is not set"):
        llm_build(sample_db, server, cache_dir=fresh)
    assert server.requests == [] and n_versions(sample_db) == 0
    assert not (fresh / "embeddings.sqlite").exists()  # nothing was embedded


def test_unreachable_server_fails_before_any_work(sample_db, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fresh = tmp_path / "fresh-cache"
    with pytest.raises(LLMConfigError, match=f"cannot reach the openai server at http://127.0.0.1:{port}/v1"):
        build(db=sample_db, levels=LEVELS, summarizer="openai", llm=LLMOptions(base_url=f"http://127.0.0.1:{port}/v1"),
              cache_dir=fresh)
    assert n_versions(sample_db) == 0 and not (fresh / "embeddings.sqlite").exists()


def test_llm_options_need_an_llm_summarizer(sample_db, cache_dir):
    from taxonomy.errors import UsageError

    with pytest.raises(UsageError, match="--llm-model: only for the language-model summarizers"):
        build(db=sample_db, levels=LEVELS, llm=LLMOptions(model="x"), cache_dir=cache_dir)
    with pytest.raises(UsageError, match="--hierarchy clio needs a language model"):
        build(db=sample_db, levels=LEVELS, hierarchy="clio", cache_dir=cache_dir)
    with pytest.raises(UsageError, match="--hierarchy 'tree'"):
        build(db=sample_db, levels=LEVELS, hierarchy="tree", cache_dir=cache_dir)


def test_clio_build_exact_counts_and_deterministic(sample_db, server, cache_dir, sqlite_url, tmp_path):
    a = llm_build(sample_db, server, cache_dir=cache_dir, hierarchy="clio")
    tree, m = tree_of(sample_db, a.version_id)
    check_invariants(tree, LEVELS)  # exact counts, no empty node, one parent each
    check_names(tree)
    assert m["hierarchy"]["name"] == "clio" and m["hierarchy"]["level1_method"] == "kmeans"
    assert [r["parents"] for r in m["hierarchy"]["report"]] == [6, 2]
    assert {"propose_parents", "assign_parent", "name_cluster", "system"} <= set(m["prompts"])
    assign = [prompt_of(r) for r in server.completions() if "<categories>" in prompt_of(r)]
    assert len(assign) == (30 + 6) * 3
    # a fresh database (no cached answers) with the same seed: the same prompts, the same tree
    from taxonomy.init import init

    other = f"sqlite:///{tmp_path / 'other.db'}"
    init(other)
    ingest(str(sample_path()), db=other, weight_col="pct_convos")
    with FakeLLMServer() as srv2:
        b = llm_build(other, srv2, cache_dir=cache_dir, hierarchy="clio")
        assign2 = [prompt_of(r) for r in srv2.completions() if "<categories>" in prompt_of(r)]
    assert sorted(assign2) == sorted(assign)
    assert b.checksum == a.checksum
    assert named_tree(tree_of(other, b.version_id)[0]) == named_tree(tree)


def test_resummarize_renames_only_the_requested_nodes(sample_db, server, cache_dir):
    base = build(db=sample_db, levels=LEVELS, method="kmeans", cache_dir=cache_dir)  # offline names
    t0, _ = tree_of(sample_db, base.version_id)
    l1 = sorted(t0.nodes_at(1), key=lambda n: n.uid)
    picked = [l1[0].uid, l1[1].uid.rsplit(":", 1)[1][:8]]  # a full id and a short prefix
    from taxonomy.resummarize import resummarize

    res = resummarize(base.version_id, level=1, nodes=picked, summarizer="anthropic", message="better names",
                      db=sample_db, cache_dir=cache_dir, llm=LLMOptions(base_url=server.anthropic_url))
    assert len(server.completions()) == 2
    t1, m1 = tree_of(sample_db, res.version_id)
    with session_scope(sample_db) as s:
        v = s.get(Version, res.version_id)
        cs = s.scalars(select(ChangeSet).where(ChangeSet.version_id == res.version_id)).one()
        assert v.parent_id == base.version_id and v.message == "better names" and v.kind == "edit"
        assert cs.source["kind"] == "resummarize" and cs.source["summarizer"] == "anthropic"
        assert set(cs.source["prompts"]) == {"system", "name_cluster"}
        assert {op["op"] for op in cs.operations} == {"rename"}
    changed = {u for u in t0.nodes if (t0.nodes[u].name, t0.nodes[u].description) != (t1.nodes[u].name, t1.nodes[u].description)}
    assert changed == {l1[0].uid, l1[1].uid}
    assert all(t1.nodes[u].name.endswith(" themes") for u in changed)
    assert set(t1.nodes) == set(t0.nodes)
    assert res.n_renamed == 2 and KEY not in str(res.to_dict())


def test_resummarize_a_level_offline_and_from_the_cli(sample_db, cache_dir, capsys):
    from taxonomy.cli import main

    base = build(db=sample_db, levels=LEVELS, method="kmeans", cache_dir=cache_dir)
    rc = main(["resummarize", str(base.version_id), "--level", "3", "-m", "top again", "--db", sample_db,
               "--cache-dir", str(cache_dir), "--quiet"])
    assert rc == 0
    vid = int(capsys.readouterr().out.strip())
    t0, _ = tree_of(sample_db, base.version_id)
    t1, _ = tree_of(sample_db, vid)
    assert named_tree(t1) == named_tree(t0)  # the deterministic offline summarizer gives the same summaries
    with session_scope(sample_db) as s:
        v = s.get(Version, vid)
        assert v.parent_id == base.version_id and v.message == "top again"
    rc = main(["resummarize", str(base.version_id), "--level", "9", "--db", sample_db, "--cache-dir", str(cache_dir)])
    assert rc == 2 and "levels 1..3" in capsys.readouterr().err


def test_rename_order_avoids_transient_sibling_clashes():
    from taxonomy.domain import Node, Tree
    from taxonomy.resummarize import _rename_order

    t = Tree()
    for uid, name in (("a", "X"), ("b", "Y"), ("c", "Z")):
        t.nodes[uid] = Node(uid=uid, level=1, name=name, description="", parent_uid=None)
    cur = {u: n.name for u, n in t.nodes.items()}
    # a chain: c takes b's name, b takes a new one
    assert _rename_order(t, cur, {"b": "W", "c": "Y"}) == [("b", "W"), ("c", "Y")]
    # a swap goes through a temporary name, and every step keeps sibling names distinct
    order = _rename_order(t, cur, {"a": "Y", "b": "X"})
    state = dict(cur)
    for uid, name in order:
        state[uid] = name
        assert len({v.casefold() for v in state.values()}) == 3
    assert state == {"a": "Y", "b": "X", "c": "Z"} and len(order) == 3


def test_cli_build_with_a_model_prints_the_statistics(sample_db, server, cache_dir, capsys):
    from taxonomy.cli import main

    rc = main(["build", "--levels", "8,2", "--method", "kmeans", "--summarizer", "openai", "--llm-base-url",
               server.openai_url, "--llm-concurrency", "2", "--cache-dir", str(cache_dir), "--db", sample_db])
    cap = capsys.readouterr()
    assert rc == 0 and cap.out.strip() == "1"
    assert "LLM (openai fake-model): 10 model calls, 0 cache hits" in cap.err and KEY not in cap.err
    rc = main(["build", "--levels", "8,2", "--method", "kmeans", "--summarizer", "openai", "--llm-base-url",
               server.openai_url, "--max-calls", "0", "--cache-dir", str(cache_dir), "--db", sample_db, "--json"])
    cap = capsys.readouterr()
    assert rc == 0 and '"cache_hits": 10' in cap.out  # all cached: --max-calls 0 is enough
    rc = main(["build", "--levels", "9,2", "--method", "kmeans", "--summarizer", "openai", "--llm-base-url",
               server.openai_url, "--max-calls", "3", "--cache-dir", str(cache_dir), "--db", sample_db])
    cap = capsys.readouterr()
    assert rc == 1 and "stopped before exceeding --max-calls 3" in cap.err and cap.out == ""


def test_an_edit_with_resummarize_sends_only_the_renamed_nodes_to_the_model(sample_db, server, cache_dir):
    from taxonomy.changesets import merge

    base = llm_build(sample_db, server, cache_dir=cache_dir)
    t0, _ = tree_of(sample_db, base.version_id)
    a, b = sorted(t0.nodes_at(2), key=lambda n: n.uid)[:2]
    before = len(server.completions())
    res = merge(base.version_id, a.uid, into=b.uid, resummarize=True, db=sample_db, cache_dir=cache_dir)
    calls = server.completions()[before:]
    t1, _ = tree_of(sample_db, res.version_id)
    changed = {u for u in t1.nodes if (t0.nodes[u].name, t0.nodes[u].description) != (t1.nodes[u].name,
                                                                                        t1.nodes[u].description)}
    # the survivor alone is renamed and only it is sent to the model; its siblings' names are shown as taken
    assert changed == {b.uid} and len(calls) == 1
    assert "<taken>" in prompt_of(calls[0])
    from taxonomy.integrity import check_tree_integrity

    assert check_tree_integrity(t1) == []
