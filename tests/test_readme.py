"""The README's curation walkthrough pastes and runs as written, in a fresh directory, and prints what its
comments say (the quickstart is deterministic, so the ids in the README are the real ones)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def walkthrough_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Curation walkthrough") :]
    m = re.search(r"```bash\n(.*?)```", section, re.S)
    assert m, "no bash block in the curation walkthrough"
    return m.group(1)


def test_the_curation_walkthrough_runs_as_written(tmp_path, cache_dir):
    block = walkthrough_block()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TAXO_CACHE_DIR": str(cache_dir), "COLUMNS": "200"}
    for var in ("TAXO_DATABASE_URL", "TAXO_AUTHOR", "TAXO_DEBUG"):
        env.pop(var, None)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout

    # "# -> N" comments: the edit commands print these version ids, in order
    promised = [int(n) for n in re.findall(r"# -> (\d+)", block)]
    printed = [int(ln) for ln in out.splitlines() if ln.strip().isdigit()]
    assert printed[: 1 + len(promised)] == [1, *promised], out

    # the diff comment states the counts
    claim = re.search(r"taxo diff 1 5 +# (.*?) \(with causes\)", block).group(1)
    expected = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", claim)}
    diff = json.loads(subprocess.run(["taxo", "diff", "1", "5", "--json"], capture_output=True, text=True,
                                     cwd=tmp_path, env=env, check=True).stdout)
    assert {k: diff["counts"][k] for k in expected} == expected
    assert sum(v for k, v in diff["counts"].items() if k not in expected) == 0, diff["counts"]

    check_claim = re.search(r"taxo check 5 +# (.*)", block).group(1).strip()
    assert check_claim in out
    survivor = re.search(r"taxo history \w+ +#.*merged -> (\w+)", block).group(1)
    assert "merged →" in out and survivor in out  # history: merged into the survivor the comment names
    assert "Values (" in out and "Autonomy" in out  # show --node
    assert (tmp_path / "tree.ttl").stat().st_size > 0


def living_blocks() -> tuple[str, str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A living taxonomy") :]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(blocks) >= 2, "the living-taxonomy section has two bash blocks"
    return blocks[0], blocks[1]


def test_the_living_taxonomy_example_runs_as_written(tmp_path, cache_dir):
    """Both blocks of "A living taxonomy", pasted in order: the group and node ids the second one names are the
    ones the first one's novelty queue shows, and the version ids its comments promise are printed."""
    first, second = living_blocks()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TAXO_CACHE_DIR": str(cache_dir), "COLUMNS": "200"}
    for var in ("TAXO_DATABASE_URL", "TAXO_AUTHOR", "TAXO_DEBUG"):
        env.pop(var, None)
    run = lambda block: subprocess.run(["bash", "-euo", "pipefail", "-c", block], capture_output=True, text=True,
                                       cwd=tmp_path, env=env, timeout=900)
    one = run(first)
    assert one.returncode == 0, one.stderr
    for gid in re.findall(r"\bg[0-9a-f]{8}\b", second):
        assert gid in one.stdout, (gid, one.stdout)  # the group ids are the queue's
    two = run(second)
    assert two.returncode == 0, two.stderr
    promised = [int(n) for n in re.findall(r"# -> (\d+)", second)]
    printed = [int(ln) for ln in two.stdout.splitlines() if ln.strip().isdigit()]
    assert printed == promised, two.stdout
    claim = re.search(r"taxo diff (\d+) (\d+) .*# (.*)", second)
    for kind, n in re.findall(r"(\w+) (\d+)", claim.group(3)):
        assert re.search(rf"\b{kind}\s+{n}\b", two.stdout), (kind, n, two.stdout)
    for name in re.findall(r"'([^']+)'", claim.group(3)):
        assert name in two.stdout
