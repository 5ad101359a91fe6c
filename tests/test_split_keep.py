"""Split with a remainder that keeps the node (``"keep": true``), and descriptions for every new part; SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest

import taxonomy.api as tx
from taxonomy.errors import UsageError

from .curation_fixtures import make_version, uid
from .test_review import tree_of


@pytest.fixture
def v1(db, tmp_path):
    assert make_version(db, tmp_path) == 1
    return db


def test_the_kept_group_is_the_node_itself_and_new_parts_are_described(v1, cache_dir):
    groups = [{"name": "Compassion", "members": ["compassion"]},
              {"members": ["kindness"]},
              {"members": ["empathy"], "keep": True, "name": "Empathy"}]
    v = tx.split(1, uid("b1x"), groups=groups, db=v1, cache_dir=str(cache_dir)).version_id
    t = tree_of(v1, v)
    kept = t.nodes[uid("b1x")]
    assert (kept.name, kept.description) == ("Empathy", "Empathy and compassion (description).")
    assert [lf.text for lf in t.leaves if lf.parent_uid == kept.uid] == ["empathy"]
    new = [n for n in t.nodes.values() if n.parent_uid == uid("B1") and n.uid not in (uid("b1x"), uid("b1y"))]
    assert sorted(n.name for n in new if n.name == "Compassion") == ["Compassion"]
    assert all(n.description.strip() for n in new), "every new part is described (named or not)"
    assert len({n.name.casefold() for n in t.nodes.values() if n.parent_uid == uid("B1")}) == 4
    assert tx.check(v, db=v1).ok
    d = tx.diff(1, v, db=v1)
    assert not d.split and not d.removed and sorted(a.uid for a in d.added) == sorted(n.uid for n in new)
    assert sorted(m.text for m in d.values_moved) == ["compassion", "kindness"]
    assert [r.uid for r in d.renamed] == [uid("b1x")]


def test_without_keep_the_node_is_retired_as_before(v1, cache_dir):
    groups = [{"name": "Compassion", "members": ["compassion"]}, {"name": "Rest", "members": ["empathy", "kindness"]}]
    v = tx.split(1, uid("b1x"), groups=groups, db=v1, cache_dir=str(cache_dir)).version_id
    t = tree_of(v1, v)
    assert uid("b1x") not in t.nodes and t.tombstones[uid("b1x")].reason == "split"
    assert all(t.nodes[p].description.strip() for p in t.tombstones[uid("b1x")].replaced_by)


def test_two_kept_groups_are_refused(v1, cache_dir):
    groups = [{"members": ["compassion"], "keep": True}, {"members": ["empathy", "kindness"], "keep": True}]
    with pytest.raises(UsageError, match="only one split group can keep the node"):
        tx.split(1, uid("b1x"), groups=groups, db=v1, cache_dir=str(cache_dir))


def test_a_kept_name_that_a_sibling_has_is_refused(v1, cache_dir):
    groups = [{"members": ["compassion"]}, {"members": ["empathy", "kindness"], "keep": True,
                                            "name": "Community and belonging"}]
    with pytest.raises(UsageError, match="sibling already has the name"):
        tx.split(1, uid("b1x"), groups=groups, db=v1, cache_dir=str(cache_dir))
