"""Large tables on the terminal (taxonomy.cli_table): plain, aligned, folded to the width, data shown as text."""

from __future__ import annotations

import io

from rich.console import Console

from taxonomy import api as tx
from taxonomy.cli import main
from taxonomy.cli_table import PLAIN_MIN_ROWS, plain_table, print_table
from taxonomy.db.engine import session_scope
from taxonomy.domain import Leaf, Node, Tree
from taxonomy.ingest import value_totals
from taxonomy.store import write_version
from taxonomy.tree import content_checksum, recompute_stats

HOSTILE = "[red]not red[/red] Evil\x1b[2J\x07\u202e 😀 价值"


def test_plain_table_aligns_and_folds_to_the_width():
    rows = [("a1", "short", "x" * 100 + " tail", "3", "12"), ("b22", "名前 wide", "two\nlines", "10", "7")]
    text = plain_table(("id", "name", "description", "children", "values"), rows, width=60,
                       numeric=("children", "values"))
    lines = text.splitlines()
    assert lines[0].split() == ["id", "name", "description", "children", "values"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert all(len(ln) <= 60 for ln in lines)
    # numeric columns right-aligned: the numbers end where the header ends
    end = lines[0].index("values") + len("values")
    from rich.cells import cell_len

    [b22] = [ln for ln in lines if "b22" in ln]
    assert lines[2][end - 2:end] == "12" and b22.endswith(" 7") and cell_len(b22) == end  # wide characters count 2
    # the long description folded into several lines, nothing lost
    body = "".join(ln[lines[0].index("description"):].split("  ")[0].strip() for ln in lines[2:] if "x" in ln)
    assert body.startswith("x" * 100)
    assert "tail" in text and "two" in text and "lines" in text
    # the second row's two description lines are two table lines
    assert sum("b22" in ln for ln in lines) == 1 and any(ln.strip().startswith("lines") for ln in lines)


def test_print_table_shows_data_as_text_in_both_renderers():
    for n in (3, PLAIN_MIN_ROWS + 5):
        console = Console(file=io.StringIO(), width=200, force_terminal=False)
        print_table(console, ("id", "name"), [(str(i), HOSTILE) for i in range(n)])
        out = console.file.getvalue()
        assert out.count("[red]not red[/red]") == n, out[:500]
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
        assert "Evil\\x1b[2J\\x07\\u202e 😀 价值" in out
        assert ("┃" in out) == (n < PLAIN_MIN_ROWS)  # rich's box for small tables, plain above the threshold


def test_show_level_1_of_a_large_version_is_a_plain_table(sqlite_url, tmp_path, capsys):
    import taxonomy.cli as cli

    n_nodes = PLAIN_MIN_ROWS + 50
    csv = tmp_path / "v.csv"
    csv.write_text("value,weight\n" + "".join(f"value {i},{i + 1}\n" for i in range(2 * n_nodes)))
    tx.init(db=sqlite_url)
    tx.ingest(str(csv), value_col="value", weight_col="weight", db=sqlite_url)
    tree = Tree(nodes={"t:l2:top": Node("t:l2:top", 2, "Top", "all", None)})
    for i in range(n_nodes):
        tree.nodes[f"t:l1:{i:04d}"] = Node(f"t:l1:{i:04d}", 1, f"{HOSTILE} {i}", f"about {i}\nsecond line", "t:l2:top")
    with session_scope(sqlite_url) as s:
        for t in value_totals(s):
            tree.leaves.append(Leaf(t.text, f"t:l1:{int(t.text.split()[1]) % n_nodes:04d}", t.weight, t.count,
                                    value_id=t.id))
        tree = recompute_stats(tree)
        write_version(s, tree, kind="build", message="many nodes", checksum=content_checksum(tree), manifest={})
    cli.out.width = 120
    assert main(["show", "1", "--level", "1", "--db", sqlite_url]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("Version 1: many nodes")
    assert lines[1].split() == ["id", "name", "description", "children", "values", "pct"]
    assert out.count("[red]not red[/red]") == n_nodes
    assert out.count("Evil\\x1b[2J\\x07\\u202e") == n_nodes and "\x1b" not in out
    assert all(len(ln) <= 120 for ln in lines[1:])
    assert sum(1 for ln in lines if "second line" in ln) == n_nodes
