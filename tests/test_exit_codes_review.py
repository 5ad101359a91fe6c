"""`taxo review pull` reaches the shell with its exit code (a real Label Studio and a real `taxo` process):
1 when a refused annotation blocks the pull, 0 when it applies."""

from __future__ import annotations

import taxonomy.api as tx

from .curation_fixtures import make_version, uid
from .test_hardening import taxo
from .test_review import annotate, do_push, n_versions


def test_a_blocked_review_pull_exits_1_and_a_clean_one_0(sqlite_url, tmp_path, label_studio, cache_dir):
    tx.init(sqlite_url)
    assert make_version(sqlite_url, tmp_path) == 1
    ls = label_studio.client()
    b = do_push(sqlite_url, ls, cache_dir, level=1).batch_id
    annotate(ls, sqlite_url, b, uid("b1x"), name="community and belonging")  # a sibling's name: refused
    env = {"TAXO_LABEL_STUDIO_TOKEN": label_studio.token}
    proc = taxo("review", "pull", b, "-m", "round 1", "--db", sqlite_url, cwd=tmp_path, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "sibling already has the name" in proc.stderr and "Nothing was applied" in proc.stderr
    assert "Traceback" not in proc.stderr and n_versions(sqlite_url) == 1

    b2 = do_push(sqlite_url, ls, cache_dir, nodes=[uid("a1x")], new_batch=True).batch_id
    annotate(ls, sqlite_url, b2, uid("a1x"), name="Honesty")
    proc = taxo("review", "pull", b2, "-m", "round 2", "--db", sqlite_url, "--quiet", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "2" and n_versions(sqlite_url) == 2
