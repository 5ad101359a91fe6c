"""`taxo report` data and files, and `taxo serve`, on SQLite and PostgreSQL (the pages themselves are tested in
a real browser in test_report_browser.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from taxonomy import api as tx
from taxonomy.cli import main
from taxonomy.report.data import ReportOptions, collect

from .curation_fixtures import VALUES, make_version, uid


def load_js(path: Path, prefix: str):
    text = path.read_text(encoding="utf-8")
    if prefix == "window.TAXO_DATA = ":
        return load_js_text(text)
    assert text.startswith(prefix)
    body = text[len(prefix):].rstrip().rstrip(";")
    if prefix.startswith("TAXO_CHUNK("):
        assert body.endswith(")")
        body = body[:-1]
    return json.loads(body)


@pytest.fixture
def taxo(capsys):
    def run(*args):
        code = main([str(a) for a in args])
        cap = capsys.readouterr()
        return code, cap.out, cap.err

    return run


@pytest.fixture
def edited(db, tmp_path):
    """Version 1 (hand-built), 2 = rename a1x, 3 = merge a1y into a1x and a value reassigned."""
    make_version(db, tmp_path)
    v2 = tx.rename(1, uid("a1x"), "Honesty", db=db, message="shorter").version_id
    v3 = tx.apply(v2, [{"op": "merge", "node": uid("a1y"), "into": uid("a1x")},
                       {"op": "reassign", "value": "kindness", "to": uid("b1y")}], message="merge", db=db).version_id
    return db, v3


def test_data_holds_the_tree_values_and_per_node_members(db, tmp_path):
    make_version(db, tmp_path)
    data = collect(1, options=ReportOptions(neighbours=0), db=db)
    m = data.main
    nodes = m["nodes"]
    assert len(nodes["uid"]) == 10 and m["levels"] == 3
    assert sorted(m["values"]["text"]) == sorted(v for vals in VALUES.values() for v in vals)
    # parents point one level up; tops first (depth-first order, heaviest first)
    for i, p in enumerate(nodes["parent"]):
        if p < 0:
            assert nodes["level"][i] == 3
        else:
            assert nodes["level"][p] == nodes["level"][i] + 1 and p < i
    tops = [nodes["name"][i] for i, p in enumerate(nodes["parent"]) if p < 0]
    assert tops == ["Social values", "Practical values"]  # weights: B values 9..16 outweigh A values 1..8
    # a level-1 node's chunk lists every member with the weights and counts `taxo show` reports
    i = nodes["uid"].index(uid("b1y"))
    entry = data.chunks[nodes["chunk"][i]][str(i)]
    shown = tx.show(1, node=uid("b1y"), limit=0, db=db)
    assert [m["values"]["text"][j] for j in entry["v"]] == [v.value for v in shown.values]
    assert entry["w"] == [pytest.approx(v.weight) for v in shown.values]
    assert entry["c"] == [v.count for v in shown.values]
    assert nodes["members"][i] == 4 and nodes["pct"][i] == pytest.approx(shown.node.pct_total_occurrences, rel=1e-5)
    assert entry["d"] == "Community and belonging (description)."
    assert m["diff"] is None and m["neighbours"] is False and "n" not in entry


def test_diff_counts_match_taxo_diff_and_history_is_recorded(edited):
    db, v3 = edited
    data = collect(v3, diff=1, options=ReportOptions(neighbours=0), db=db)
    d = data.main["diff"]
    assert d["counts"] == tx.diff(1, v3, db=db).counts
    assert d["counts"]["renamed"] == 1 and d["counts"]["merged"] == 1 and d["counts"]["values_moved"] >= 1
    assert d["renamed"][0]["new_name"] == "Honesty"
    nodes = data.main["nodes"]
    i = nodes["uid"].index(uid("a1x"))
    hist = data.chunks[nodes["chunk"][i]][str(i)]["h"]
    kinds = [(v, k) for v, k, _ in hist]
    assert (1, "first") in kinds and (2, "renamed") in kinds and (3, "absorbed") in kinds
    assert any("'Transparency' merged into this node" in text for _, _, text in hist)
    assert [v["id"] for v in data.main["versions"]] == [1, 2, v3]
    # the report of version 1 tells what became of a node later
    old = collect(1, options=ReportOptions(neighbours=0), db=db)
    j = old.main["nodes"]["uid"].index(uid("a1y"))
    assert [v3, "merged", "merged into 'Honesty'"] in old.chunks[old.main["nodes"]["chunk"][j]][str(j)]["h"]


def test_nearest_nodes_are_same_level_and_exclude_the_node(db, tmp_path, cache_dir):
    make_version(db, tmp_path)
    data = collect(1, options=ReportOptions(neighbours=2, cache_dir=str(cache_dir)), db=db)
    nodes = data.main["nodes"]
    near = [data.chunks[c][str(i)]["n"] for i, c in enumerate(nodes["chunk"])]
    assert data.main["neighbours"] is True
    for i, hits in enumerate(near):
        assert hits and all(nodes["level"][j] == nodes["level"][i] and j != i for j, _ in hits)
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    # 'Honesty and candor' is nearer to 'Transparency' than to 'Efficiency'
    a1x = nodes["uid"].index(uid("a1x"))
    assert nodes["uid"][near[a1x][0][0]] in (uid("a1y"), uid("b1x"))


def test_excerpts_are_redacted_and_the_original_never_written(db, tmp_path, taxo):
    make_version(db, tmp_path)
    rec = tmp_path / "records.jsonl"
    rows = [{"value": "empathy", "conversation_id": "c1", "role": "ai",
             "excerpt": "Write to jane.doe@example.com or call +1 415 555 2671 for support."},
            {"value": "compassion", "conversation_id": "c2", "role": "human", "excerpt": "I care about you."}]
    rec.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    tx.ingest(str(rec), db=db, conversation_col="conversation_id", role_col="role", excerpt_col="excerpt")
    code, out, err = taxo("report", "1", "-o", tmp_path / "rep", "--neighbours", "0", "--db", db, "--json")
    assert code == 0, err
    res = json.loads(out)
    site = Path(res["path"])
    everything = "".join(p.read_text(encoding="utf-8") for p in (site / "data").glob("*.js"))
    assert "jane.doe@example.com" not in everything and "555 2671" not in everything
    main_data = load_js(site / "data" / "taxo.js", "window.TAXO_DATA = ")
    i = main_data["nodes"]["uid"].index(uid("b1x"))
    chunk = load_js(site / "data" / f"m-{main_data['nodes']['chunk'][i]}.js", f"TAXO_CHUNK({main_data['nodes']['chunk'][i]}, ")
    texts = {main_data["values"]["text"][j]: (role, text) for j, role, text in chunk[str(i)]["x"]}
    assert texts["empathy"] == ("ai", "Write to [EMAIL] or call [PHONE] for support.")
    assert texts["compassion"] == ("human", "I care about you.")
    assert main_data["excerpts"]["records"] == 2 and main_data["excerpts"]["redactions"] == 2


def test_report_files_offline_and_replacing(db, tmp_path, taxo):
    make_version(db, tmp_path)
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "prevalence_by_role.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (plots / "values #2 (by level).svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (plots / "notes.txt").write_text("not an image")
    out = tmp_path / "rep"
    code, stdout, err = taxo("report", "1", "-o", out, "--analyses", plots, "--neighbours", "0", "--db", db)
    assert code == 0, err
    assert "Open file://" in stdout
    for rel in ("index.html", "assets/app.js", "assets/views.js", "assets/style.css", "assets/plotly.min.js",
                "data/taxo.js", "data/m-0.js", "analyses/prevalence_by_role.png"):
        assert (out / rel).is_file(), rel
    assert not (out / "analyses" / "notes.txt").exists()
    html = (out / "index.html").read_text()
    # no network: every script and stylesheet is a relative file of the report
    for ref in re.findall(r'(?:src|href)="([^"#]+)"', html):
        if ref == "data:,":  # the empty icon, so that the browser asks for no favicon
            continue
        assert not re.match(r"^[a-z]+:|^//", ref) and (out / ref).is_file(), ref
    assert "connect-src 'none'" in html
    assert "https://" not in (out / "assets" / "app.js").read_text() + (out / "assets" / "views.js").read_text()
    main_data = load_js(out / "data" / "taxo.js", "window.TAXO_DATA = ")
    assert main_data["analyses"] == [{"file": "analyses/prevalence_by_role.png", "title": "Prevalence by role"},
                                     {"file": "analyses/values%20%232%20%28by%20level%29.svg",
                                      "title": "Values #2 (by level)"}]
    assert (out / "analyses" / "values #2 (by level).svg").is_file()
    # writing again replaces the previous report; a directory with other files is refused, untouched
    code, _, err = taxo("report", "1", "-o", out, "--neighbours", "0", "--db", db)
    assert code == 0 and not (out / "analyses").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.tex").write_text("keep me")
    code, _, err = taxo("report", "1", "-o", other, "--neighbours", "0", "--db", db)
    assert code == 2 and "not empty" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in other.iterdir()) == ["thesis.tex"]
    # a place no directory can be made in: one line naming the report's path, no temporary name, exit 1
    code, _, err = taxo("report", "1", "-o", other / "thesis.tex" / "rep", "--neighbours", "0", "--db", db)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert f"cannot write {other / 'thesis.tex' / 'rep'}: cannot create a directory in" in err and ".rep." not in err
    assert sorted(p.name for p in other.iterdir()) == ["thesis.tex"]


def test_bad_input_exits_2_and_writes_nothing(db, tmp_path, taxo):
    make_version(db, tmp_path)
    out = tmp_path / "rep"
    for args, needle in [(["7"], "version 7 does not exist"), (["1", "--diff", "9"], "version 9 does not exist"),
                         (["1", "--analyses", tmp_path / "nope"], "analyses directory does not exist"),
                         (["1", "--neighbours", "-1"], "--neighbours")]:
        code, _, err = taxo("report", *args, "-o", out, "--db", db)
        assert code == 2 and needle in err and "Traceback" not in err, (args, err)
        assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".rep")] == []


@pytest.fixture
def serve(request):
    """serve(db, tmp_path, *options) -> (process, url) of `taxo serve` on a free port; the process is killed at
    the end of the test whatever happened. Ctrl-C (SIGINT) reaches it as a terminal's would, also when the tests
    themselves run where SIGINT is ignored (a background job of a non-interactive shell passes that on)."""
    procs = []

    def start(db: str, tmp_path: Path, *extra: str):
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        proc = subprocess.Popen([sys.executable, "-m", "taxonomy.cli", "serve", "--port", "0", "--neighbours", "0",
                                 "--db", db, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=tmp_path, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        procs.append(proc)
        line = proc.stdout.readline()
        m = re.search(r"Serving (http://127\.0\.0\.1:\d+/)", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        return proc, m.group(1)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_answers_read_only_and_stops_on_sigterm(edited, tmp_path, serve):
    db, v3 = edited
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "by role #1.png").write_bytes(b"\x89PNG\r\n\x1a\nxyz")
    proc, url = serve(db, tmp_path, "--analyses", str(plots))
    try:
        with urllib.request.urlopen(url, timeout=30) as r:  # redirected to the newest version
            assert r.url.endswith(f"/v/{v3}/") and b"<title>taxo report</title>" in r.read()
        with urllib.request.urlopen(f"{url}v/{v3}/diff/1/data/taxo.js", timeout=30) as r:
            data = load_js_text(r.read().decode())
        assert data["serve"] is True and data["diff"]["counts"] == tx.diff(1, v3, db=db).counts
        with urllib.request.urlopen(f"{url}v/1/analyses/by%20role%20%231.png", timeout=30) as r:
            assert r.headers["Content-Type"] == "image/png" and r.read() == b"\x89PNG\r\n\x1a\nxyz"
        with urllib.request.urlopen(f"{url}v/1/assets/plotly.min.js", timeout=30) as r:
            assert r.headers["Content-Type"].startswith("text/javascript") and len(r.read()) > 1_000_000
        for bad, status in [("v/99/", 404), ("v/1/../../etc/passwd", 404), ("nothing", 404)]:
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(url + bad, timeout=30)
            assert e.value.code == status
        req = urllib.request.Request(f"{url}v/1/", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        assert e.value.code == 405
        # a version added while serving shows up (the data are gathered again)
        tx.rename(v3, uid("b1x"), "Empathy", db=db)
        with urllib.request.urlopen(f"{url}v/{v3 + 1}/data/taxo.js", timeout=30) as r:
            assert "Empathy" in load_js_text(r.read().decode())["nodes"]["name"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Stopped." in out and "Traceback" not in err


def test_serve_stops_on_ctrl_c(db, tmp_path, serve):
    make_version(db, tmp_path)
    proc, url = serve(db, tmp_path)
    with urllib.request.urlopen(url + "v/1/", timeout=30) as r:
        assert r.status == 200
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Stopped." in out and "Traceback" not in err


def test_serve_refuses_a_busy_port_and_a_missing_database(tmp_path, db, taxo):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        code, _, err = taxo("serve", "--port", str(s.getsockname()[1]), "--db", db)
        assert code == 1 and "cannot listen on 127.0.0.1" in err
    finally:
        s.close()
    code, _, err = taxo("serve", "--port", "0", "--db", tmp_path / "empty.db")
    assert code != 0 and "taxo init" in err


def load_js_text(text: str):
    """The data of data/taxo.js: ``window.TAXO_DATA = JSON.parse("...");``."""
    prefix = "window.TAXO_DATA = JSON.parse("
    assert text.startswith(prefix) and text.rstrip().endswith(");")
    return json.loads(json.loads(text[len(prefix):].rstrip()[:-2]))


def test_open_starts_the_browser_named_in_BROWSER(db, tmp_path):
    make_version(db, tmp_path)
    seen = tmp_path / "opened.txt"
    script = tmp_path / "fake-browser.sh"
    script.write_text(f'#!/bin/sh\necho "$1" > {seen}\n')
    script.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "BROWSER": str(script)}
    proc = subprocess.run([sys.executable, "-m", "taxonomy.cli", "report", "1", "-o", str(tmp_path / "rep"),
                           "--neighbours", "0", "--open", "--quiet", "--db", db], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert seen.read_text().strip() == (tmp_path / "rep" / "index.html").resolve().as_uri()


def test_a_missing_embedding_model_leaves_out_the_nearest_nodes_with_a_note(db, tmp_path):
    make_version(db, tmp_path)
    data = collect(1, options=ReportOptions(neighbours=3, model="no-such-model-anywhere"), db=db)
    assert data.main["neighbours"] is False
    assert data.notes and data.notes[0].startswith("nearest nodes not computed: embedding model 'no-such-model")
    assert data.main["notes"] == data.notes
