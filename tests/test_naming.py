"""taxonomy.naming: the distinctness rule, sentence case, and name_nodes on a real tree with the offline namer."""

from __future__ import annotations

import numpy as np

from taxonomy.domain import Leaf, Node, Tree
from taxonomy.naming import distinct_name, name_key, name_nodes, sentence_case
from taxonomy.summarize import OfflineSummarizer
from taxonomy.summarize.base import Summarizer, Summary


def test_distinct_name_numbers_a_clash_in_parentheses():
    assert distinct_name("Honesty", set()) == "Honesty"
    assert distinct_name("Honesty", {"honesty"}) == "Honesty (2)"
    assert distinct_name("Honesty", {"honesty", "honesty (2)"}) == "Honesty (3)"
    assert name_key("  Honesty ") == name_key("HONESTY") == "honesty"


def test_sentence_case_keeps_capitalised_first_words():
    assert sentence_case("honesty and care") == "Honesty and care"
    assert sentence_case("iOS apps") == "iOS apps" and sentence_case("AI safety") == "AI safety"


def test_the_base_summarizer_needs_no_sniffing():
    s = OfflineSummarizer()
    assert s.uses_model is False
    assert s.preflight() is None and s.remember("x", "y") is None


def _tree(embedder):
    texts = ["honesty", "truthfulness", "candor", "kindness", "compassion", "care", "efficiency", "speed"]
    groups = [0, 0, 0, 1, 1, 1, 2, 2]
    t = Tree()
    t.nodes["top"] = Node(uid="top", level=2, name="All", description="", parent_uid=None)
    for g, name in enumerate(["A", "B", "C"]):
        t.nodes[f"n{g}"] = Node(uid=f"n{g}", level=1, name=name, description="d", parent_uid="top",
                                member_count=groups.count(g), weight=float(groups.count(g)))
    t.leaves = [Leaf(text=x, parent_uid=f"n{g}", weight=1.0, count=1) for x, g in zip(texts, groups, strict=True)]
    return t, embedder.embed(texts)


class _OneName(Summarizer):
    """A stand-in namer that calls every cluster "Honesty": it exercises the caller's distinctness rule."""

    name = "one-name"

    def summarize_level(self, clusters, sibling_groups):
        return [Summary("Honesty", f"cluster of {c.members[0]}") for c in clusters]


def test_new_names_differ_from_the_siblings_that_keep_theirs(embedder):
    t, X = _tree(embedder)
    t.nodes["n0"].name = "Honesty"  # kept: n1 and n2 are renamed
    name_nodes(t, ["n1", "n2"], X, _OneName())
    assert [t.nodes[u].name for u in ("n0", "n1", "n2")] == ["Honesty", "Honesty (2)", "Honesty (3)"]
    assert t.nodes["n1"].description == "cluster of kindness"


def test_describe_only_keeps_the_name_and_counts_it_as_taken(embedder):
    t, X = _tree(embedder)
    name_nodes(t, ["n0", "n1"], X, _OneName(), describe_only={"n0"})
    assert t.nodes["n0"].name == "A" and t.nodes["n0"].description == "cluster of honesty"
    assert t.nodes["n1"].name == "Honesty" and t.nodes["n2"].name == "C"


def test_offline_names_are_the_same_whether_a_level_is_named_whole_or_in_part(embedder):
    whole, X = _tree(embedder)
    name_nodes(whole, ["n0", "n1", "n2", "top"], X, OfflineSummarizer())
    part, _ = _tree(embedder)
    part.nodes["n2"].name = whole.nodes["n2"].name
    name_nodes(part, ["n0", "n1"], X, OfflineSummarizer())
    assert [part.nodes[u].name for u in ("n0", "n1", "n2")] == [whole.nodes[u].name for u in ("n0", "n1", "n2")]
    assert len({name_key(whole.nodes[u].name) for u in ("n0", "n1", "n2")}) == 3
    assert whole.nodes["top"].name and np.isfinite(X).all()
