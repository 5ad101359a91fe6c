"""General words for broad categories (taxonomy.summarize.lexicon) and the model vocabulary they come from."""

from __future__ import annotations

import json

import numpy as np

from embeddings.model import model_words, resolve_model
from taxonomy.summarize import ClusterInfo, OfflineSummarizer
from taxonomy.summarize.lexicon import Lexicon, category_centroid

SAFETY = ["child safety", "harm prevention", "child protection", "safeguarding", "risk prevention", "user safety"]
ART = ["artistic expression", "creativity", "aesthetic beauty", "artistic integrity", "creative freedom"]
EFFICIENCY = ["efficiency", "productivity", "practical utility", "time efficiency", "practical helpfulness"]


def test_model_words_of_the_bundled_model_are_whole_lower_case_words():
    words = model_words(resolve_model().path)
    assert len(words) > 10_000 and len(set(words)) == len(words)
    assert all(w.isalpha() and w.islower() and len(w) >= 4 for w in words)
    assert {"social", "ethical", "practical", "protective", "personal"} <= set(words)
    assert not any(w.startswith("#") for w in words)


def test_model_words_read_wordpiece_bpe_and_unigram_vocabularies(tmp_path):
    wp = tmp_path / "wp"
    wp.mkdir()
    (wp / "vocab.txt").write_text("[PAD]\nsocial\n##ness\nFoo\nthe\nsocial\n2020\nmoral\n", encoding="utf-8")
    assert model_words(wp) == ["social", "moral"]
    bpe = tmp_path / "bpe"
    bpe.mkdir()
    vocab = {"\u0120social": 5, "ness": 6, "\u0120the": 7, "\u0120ethical": 3, "ical": 8, "\u01202020": 9}
    (bpe / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": vocab}}), encoding="utf-8")
    assert model_words(bpe) == ["ethical", "social"]  # by id; pieces inside a word ("ical", "ness") left out
    uni = tmp_path / "uni"
    uni.mkdir()
    pieces = [["\u2581moral", -1.0], ["ity", -2.0], ["\u2581civic", -3.0]]
    (uni / "tokenizer.json").write_text(json.dumps({"model": {"type": "Unigram", "vocab": pieces}}), encoding="utf-8")
    assert model_words(uni) == ["moral", "civic"]
    assert model_words(tmp_path) == []  # no vocabulary: no words


def _categories(embedder, groups, level=3):
    out = []
    for members in groups:
        E = np.asarray(embedder.embed(members))
        out.append(ClusterInfo(level=level, members=list(members), weights=np.arange(len(members), 0, -1.0),
                               embeddings=E))
    return out


def test_broad_categories_take_general_adjectives_nearest_their_own_centroid(embedder):
    cats = _categories(embedder, [SAFETY, ART, EFFICIENCY])
    summ = OfflineSummarizer(category_suffix="values")
    summ.use_embedder(embedder)
    out = summ.summarize_level(cats, [[0, 1, 2]])
    names = [s.name for s in out]
    assert all(s.description.startswith(f"{s.name}, such as ") for s in out), out  # not "Values about ... values"
    assert len({n.casefold() for n in names}) == 3 and all(n.endswith(" values") for n in names), names
    words, _ = Lexicon(embedder).adjectives()
    said = {t for c in cats for m in c.members for t in m.lower().split()}
    for n in names:  # one adjective, of the model's vocabulary or said by the members
        adj = n[: -len(" values")].lower()
        assert adj in set(words) | said, n
    # each name is nearest, of the three categories, to its own category's centroid
    cents = np.stack([category_centroid(c.embeddings, c.weights) for c in cats])
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    sims = np.asarray(embedder.embed(names)) @ cents.T
    assert sims.argmax(axis=1).tolist() == [0, 1, 2], (names, sims)
    # deterministic
    again = OfflineSummarizer(category_suffix="values")
    again.use_embedder(embedder)
    assert [s.name for s in again.summarize_level(cats, [[0, 1, 2]])] == names


def test_without_the_lexicon_a_category_is_named_by_its_members_adjectives(embedder):
    cats = _categories(embedder, [SAFETY, ART, EFFICIENCY])
    plain = [s.name for s in OfflineSummarizer(category_suffix="values").summarize_level(cats, [[0, 1, 2]])]
    off = OfflineSummarizer(category_suffix="values", category_lexicon=False)
    off.use_embedder(embedder)
    assert [s.name for s in off.summarize_level(cats, [[0, 1, 2]])] == plain
    said = {t for c in cats for m in c.members for t in m.lower().split()}
    # every word is the members' ("values" aside); the safety category says no adjective, so it is named by members
    assert all(set(n.lower().split()) - {"values", "and"} <= said for n in plain), plain
    assert plain[0].lower() == "child safety and risk prevention", plain


def test_the_lexicon_names_only_categories_with_a_suffix(embedder):
    items = [["loose screw", "stripped screw", "missing screw"], ["peeling paint", "chipped paint", "paint bubbles"]]
    cats = _categories(embedder, items)
    plain = OfflineSummarizer().summarize_level(cats, [[0, 1]])
    summ = OfflineSummarizer()
    summ.use_embedder(embedder)
    assert summ.summarize_level(cats, [[0, 1]]) == plain  # not values: no suffix, no general adjectives
    assert summ.category_suffix_ == ""
    # below the category level the lexicon is not used either
    low = _categories(embedder, [SAFETY, ART], level=2)
    with_e = OfflineSummarizer(category_suffix="values")
    with_e.use_embedder(embedder)
    assert with_e.summarize_level(low, [[0, 1]]) == OfflineSummarizer(category_suffix="values").summarize_level(
        low, [[0, 1]])


def test_a_suffix_word_and_its_stem_never_name_the_category(embedder):
    lex = Lexicon(embedder)
    c = np.asarray(embedder.embed(["valuable values", "value"])).mean(axis=0)
    names = lex.category_names(c, "values", max_chars=60)
    assert names and not any(n.lower().startswith(("valu", "value")) for n in names), names
    assert lex.category_names(np.zeros_like(c), "values", 60, also=["Civic values"]) == ["Civic values"]
    assert lex.category_names(np.full_like(c, np.nan), "values", 60) == []


def test_category_centroid_weighs_presence_and_weight_alike():
    E = np.eye(3)
    c = category_centroid(E, [1.0, 0.0, 0.0])
    assert np.allclose(c, [0.5 / 3 + 0.5, 0.5 / 3, 0.5 / 3])
    assert np.allclose(category_centroid(E, [0.0, 0.0, 0.0]), [1 / 3] * 3)  # no weight: presence alone
    assert category_centroid(np.zeros((0, 3)), []) is None


def _top_names(db, version):
    from taxonomy.db.engine import session_scope
    from taxonomy.store import read_tree

    with session_scope(db) as s:
        return sorted(n.name for n in read_tree(s, version).nodes_at(3))


def test_the_build_records_the_choice_and_edits_name_as_the_build_did(db, cache_dir):
    """--category-suffix "" recorded at the build is what resummarize names with; the lexicon is on by default
    and its names are repeated by resummarize (which hands the version's embedder to the namer)."""
    from taxonomy.api import build, ingest, sample_path
    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import Version
    from taxonomy.resummarize import resummarize

    ingest(str(sample_path()), db=db, value_col="value", weight_col="pct_convos")
    a = build(db=db, levels=[40, 8, 3], seed=0, cache_dir=cache_dir)
    b = build(db=db, levels=[40, 8, 3], seed=0, cache_dir=cache_dir, category_suffix="")
    with session_scope(db) as s:
        params = s.get(Version, a.version_id).manifest["summarizer"]["params"]
    assert params["category_lexicon"] is True and params["category_suffix"] is None
    top_a, top_b = _top_names(db, a.version_id), _top_names(db, b.version_id)
    assert all(n.endswith(" values") for n in top_a), top_a
    assert not any(n.endswith(" values") for n in top_b), top_b
    for version, top in ((a.version_id, top_a), (b.version_id, top_b)):
        res = resummarize(version, level=3, db=db, cache_dir=cache_dir)
        assert _top_names(db, res.version_id) == top


def test_cli_category_words_members_or_a_bad_value(db, cache_dir, capsys):
    from taxonomy.api import ingest, sample_path
    from taxonomy.cli import main
    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import Version

    ingest(str(sample_path()), db=db, value_col="value", weight_col="pct_convos")
    args = ["build", "--levels", "40,8,3", "--db", db, "--cache-dir", str(cache_dir), "--quiet"]
    assert main([*args, "--category-words", "members"]) == 0
    vid = int(capsys.readouterr().out.strip())
    with session_scope(db) as s:
        assert s.get(Version, vid).manifest["summarizer"]["params"]["category_lexicon"] is False
    said = {t for v in _values_of(db, vid) for t in v.lower().replace("-", " ").split()}
    for name in _top_names(db, vid):  # only the members' words
        assert set(name.lower().split()) - {"values", "and"} <= said, name
    assert main([*args, "--category-words", "nouns"]) == 2
    err = capsys.readouterr().err
    assert "--category-words 'nouns': use vocabulary or members" in err and "Traceback" not in err
    with session_scope(db) as s:
        assert s.query(Version).count() == 1  # nothing written for the refused build


def _values_of(db, version):
    from taxonomy.db.engine import session_scope
    from taxonomy.store import read_tree

    with session_scope(db) as s:
        return [leaf.text for leaf in read_tree(s, version).leaves]
