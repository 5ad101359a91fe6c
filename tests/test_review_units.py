"""Review in Label Studio, the parts that need no server: the labeling config, reading annotations into decisions,
conflicts, the retry policy of the client (against small local HTTP servers that fail on purpose)."""

from __future__ import annotations

import http.server
import json
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from review import config as C
from review.labelstudio import (
    LabelStudioAuthError,
    LabelStudioClient,
    LabelStudioError,
    LabelStudioUnavailable,
    RetryPolicy,
    resolve_url,
    token_from_env,
)
from review.pull import Refusal, decide, parse_split, settle
from taxonomy.errors import UsageError

PAYLOAD = {
    "node": "values:l1:n1",
    "name": "Honesty",
    "description": "Being honest.",
    "parent": "values:l2:p1",
    "member_keys": ["honesty", "candor", "truthfulness"],
    "member_names": ["honesty", "candor", "truthfulness"],
    "data": {
        "merge_options": [{"value": "Candor (id 11111111, similarity 0.90)", "alias": "values:l1:m1"}],
        "move_options": [{"value": "Care (id 22222222)", "alias": "values:l2:p2"},
                         {"value": "Truth (id 33333333)", "alias": "values:l2:p1"}],
    },
}


def ann(aid, result, who=1, when="2026-01-01T00:00:00Z", cancelled=False):
    return {"id": aid, "completed_by": who, "updated_at": when, "result": result, "was_cancelled": cancelled}


def task(tid=7):
    return {"id": tid}


def test_label_config_is_xml_and_renders_no_html():
    root = ET.fromstring(C.LABEL_CONFIG)
    tags = {el.tag for el in root.iter()}
    assert "HyperText" not in tags and "HTML" not in tags
    texts = {el.get("name"): el.get("value") for el in root.iter("Text")}
    assert texts == {k: f"${k}" for k in C.DATA_KEYS}
    dynamic = {el.get("name"): el.get("value") for el in root.iter("Choices") if el.get("value")}
    splits = {C.SPLIT_MEMBERS.format(g): "$split_members" for g in range(1, C.SPLIT_GROUPS + 1)}
    assert dynamic == {C.MERGE_INTO: "$merge_options", C.MOVE_TO: "$move_options", **splits}
    controls = {el.get("name") for el in root.iter() if el.tag in ("TextArea", "Choices")}
    assert controls == {C.ACTION, C.NEW_NAME, C.NEW_DESCRIPTION, C.MERGE_INTO, C.MOVE_TO, C.COMMENT, C.NOTE,
                        *splits, *(C.SPLIT_NAME.format(g) for g in range(1, C.SPLIT_GROUPS + 1))}
    assert all(el.get("showSubmitButton") == "false" for el in root.iter("TextArea")), "plain boxes, no Add"


def test_one_action_shows_only_its_controls_and_flag_requires_a_comment():
    root = ET.fromstring(C.LABEL_CONFIG)
    [action] = [el for el in root.iter("Choices") if el.get("name") == C.ACTION]
    assert action.get("choice") == "single-radio" and action.get("required") == "true"
    assert [c.get("value") for c in action] == list(C.ACTIONS)

    def shown_with(control):  # the whenChoiceValue of the View holding a control
        for view in root.iter("View"):
            if any(el.get("name") == control for el in view.iter()) and view.get("whenTagName") == C.ACTION:
                return set(view.get("whenChoiceValue").split(","))
        return None

    assert shown_with(C.MERGE_INTO) == {C.MERGE} and shown_with(C.MOVE_TO) == {C.MOVE}
    assert shown_with(C.NEW_NAME) == {C.RENAME, C.SPLIT_ACTION} and shown_with(C.SPLIT_MEMBERS.format(1)) == {"Split"}
    assert shown_with(C.COMMENT) == {C.FLAG} and C.FLAG not in shown_with(C.NOTE)
    [comment] = [el for el in root.iter("TextArea") if el.get("name") == C.COMMENT]
    assert comment.get("required") == "true" and "comment" in comment.get("requiredMessage")
    for name in (C.MERGE_INTO, C.MOVE_TO, C.SPLIT_MEMBERS.format(1)):
        [el] = [el for el in root.iter("Choices") if el.get("name") == name]
        assert el.get("required") == "true" and el.get("requiredMessage")


def test_submitting_the_prediction_unchanged_approves():
    d = decide(ann(1, C.prediction_result("Honesty", "Being honest.")), task(), PAYLOAD)
    assert d.kind == "approve" and d.signature() == "approve"
    # Approve chosen: edits in other fields do not count
    r = C.annotation_result(C.APPROVE, name="Something else", target="values:l1:m1")
    assert decide(ann(1, r), task(), PAYLOAD).kind == "approve"


def test_each_action_is_read_from_its_own_fields_only():
    d = decide(ann(1, C.annotation_result(C.RENAME, name=" Honesty and candor ", description="Being honest.")),
               task(), PAYLOAD)
    assert (d.kind, d.name, d.description) == ("change", "Honesty and candor", None)
    # the option label or its alias (the node id) both map to the node id; a name typed as well is ignored
    for choice in ("Candor (id 11111111, similarity 0.90)", "values:l1:m1"):
        d = decide(ann(1, C.annotation_result(C.MERGE, target=choice, name="ignored")), task(), PAYLOAD)
        assert (d.kind, d.merge_into, d.name) == ("change", "values:l1:m1", None)
    d = decide(ann(1, C.annotation_result(C.MOVE, target="Care (id 22222222)")), task(), PAYLOAD)
    assert (d.kind, d.move_to) == ("change", "values:l2:p2")
    # split: the ticked members by number (alias) or label; the rest stays; the name applies to the rest
    d = decide(ann(1, C.annotation_result(C.SPLIT_ACTION, name="Honesty", groups=[("Candor", ["2"]),
                                                                                 (None, ["3. truthfulness — w"])])),
               task(), PAYLOAD)
    assert d.kind == "change" and d.name is None
    assert d.split == [{"name": "Candor", "members": ["candor"]}, {"name": None, "members": ["truthfulness"]}]
    d = decide(ann(1, C.annotation_result(C.FLAG, name="X", comment="not sure")), task(), PAYLOAD)
    assert (d.kind, d.comment, d.name) == ("flag", "not sure", None)
    d = decide(ann(1, C.annotation_result(C.MERGE, target="values:l1:m1", comment="same thing")), task(), PAYLOAD)
    assert d.comment == "same thing"


def test_annotations_of_the_earlier_config_are_still_read():
    legacy = [C.textarea_result(C.NEW_NAME, "name", "Candor"), C.textarea_result(C.SPLIT, "members", "A: 2"),
              C.choices_result(C.DECISION, "name", C.LEGACY_APPROVE)]
    d = decide(ann(1, legacy), task(), PAYLOAD)
    assert (d.kind, d.name, d.split) == ("change", "Candor", [{"name": "A", "members": ["candor"]}])
    d = decide(ann(1, [C.choices_result(C.DECISION, "name", C.LEGACY_FLAG),
                       C.textarea_result(C.COMMENT, "name", "hm")]), task(), PAYLOAD)
    assert (d.kind, d.comment) == ("flag", "hm")


@pytest.mark.parametrize(
    "result, reason",
    [
        (C.annotation_result(C.MERGE, target="Someone else"), "not one of the options"),
        (C.annotation_result(C.MERGE), "no node to merge into"),
        (C.annotation_result(C.MOVE, target="values:l2:p1"), "is the current one"),
        (C.annotation_result(C.RENAME, name="Honesty", description="Being honest."), "unchanged"),
        (C.annotation_result(C.SPLIT_ACTION, groups=[("A", ["1"]), ("B", ["1"])]), "ticked in group 1 and in group 2"),
        (C.annotation_result(C.SPLIT_ACTION, groups=[("A", ["9"])]), "not one of the task's 3 numbered members"),
        (C.annotation_result(C.SPLIT_ACTION, groups=[("A", [])]), "has a name but no member is ticked"),
        (C.annotation_result(C.SPLIT_ACTION), "no member is ticked"),
        (C.annotation_result(C.SPLIT_ACTION, groups=[("A", ["1"]), ("a", ["2"])]), "same name"),
        ([C.choices_result(C.ACTION, "name", C.MERGE, C.MOVE)], "more than one action"),
        ([C.choices_result(C.ACTION, "name", "Delete")], "unknown action"),
        ([C.choices_result(C.MERGE_INTO, "name", "Someone else")], "not one of the options"),  # legacy
        ([C.choices_result(C.MERGE_INTO, "name", "values:l1:m1"), C.textarea_result(C.NEW_NAME, "name", "New")],
         "merges the node and also"),
        ([C.textarea_result(C.SPLIT, "members", "A: 1\nB: 1")], "already in the group"),
        ([C.textarea_result(C.SPLIT, "members", "A: 9")], "between 1 and 3"),
        ([C.textarea_result(C.SPLIT, "members", "A: courage")], "neither a member number nor a listed member"),
    ],
)
def test_annotations_that_cannot_become_operations_are_invalid_with_a_reason(result, reason):
    d = decide(ann(1, result), task(), PAYLOAD)
    assert d.kind == "invalid" and reason in d.reason


def test_split_syntax():
    keys = ["a", "b", "c", "d", "e"]
    assert parse_split("First: 1-2, e\n# a comment\nThird: #4", keys, keys) == [
        {"name": "First", "members": ["a", "b", "e"]},
        {"name": "Third", "members": ["d"]},
    ]
    assert parse_split("Work: life: 3", keys, keys) == [{"name": "Work: life", "members": ["c"]}]
    with pytest.raises(Refusal, match="lists no members"):
        parse_split("Empty:", keys, keys)


def test_settle_conflicts_and_resolutions():
    rename = [C.textarea_result(C.NEW_NAME, "name", "Candor")]
    approve = C.prediction_result("Honesty", "Being honest.")
    a = decide(ann(1, rename, who=1, when="2026-01-01T10:00:00Z"), task(), PAYLOAD)
    b = decide(ann(2, approve, who=2, when="2026-01-01T11:00:00Z"), task(), PAYLOAD)
    [s] = settle([a, b])
    assert s.winner is None and "disagree" in s.conflict and s.status[1][0] == s.status[2][0] == "conflict"
    [s] = settle([a, b], "latest")
    assert s.winner is b and s.status[1][0] == "superseded"
    [s] = settle([a, b], "majority")
    assert s.winner is None and "no majority" in s.conflict
    c = decide(ann(3, rename, who=3, when="2026-01-01T09:00:00Z"), task(), PAYLOAD)
    [s] = settle([a, b, c], "majority")
    assert s.winner.signature() == a.signature() and s.status[2][0] == "superseded"
    # the same reviewer twice: the later annotation counts, no conflict
    a2 = decide(ann(4, approve, who=1, when="2026-01-02T00:00:00Z"), task(), PAYLOAD)
    [s] = settle([a, a2])
    assert s.winner is a2 and s.status[1][0] == "superseded" and not s.conflict
    with pytest.raises(UsageError, match="--resolve"):
        settle([a], "newest")


def test_url_and_token_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("TAXO_LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("TAXO_LABEL_STUDIO_TOKEN", raising=False)
    with pytest.raises(UsageError, match="TAXO_LABEL_STUDIO_URL"):
        resolve_url(None)
    with pytest.raises(UsageError, match="TAXO_LABEL_STUDIO_TOKEN"):
        token_from_env()
    monkeypatch.setenv("TAXO_LABEL_STUDIO_URL", "localhost:8080/")
    assert resolve_url(None) == "http://localhost:8080"


# ----------------------------------------------------------------------------------------- retries, errors
class _Flaky(http.server.BaseHTTPRequestHandler):
    plan: list = []  # per request: an HTTP status, or ("sleep", seconds)
    hits = 0

    def do_GET(self):  # noqa: N802
        cls = type(self)
        step = cls.plan[min(cls.hits, len(cls.plan) - 1)]
        cls.hits += 1
        if isinstance(step, tuple):
            time.sleep(step[1])
            step = 200
        body = json.dumps({"id": 1, "email": "a@b"} if step == 200 else {"detail": f"status {step}"}).encode()
        self.send_response(step)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    handler = type("Handler", (_Flaky,), {"plan": [200], "hits": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_5xx_answers_are_retried_with_backoff(flaky):
    handler, url = flaky
    handler.plan = [503, 502, 200]
    waits = []
    c = LabelStudioClient(url, "secret-token-123", retry=RetryPolicy(attempts=4, backoff=0.1), sleep=waits.append)
    assert c.whoami() == {"id": 1, "email": "a@b"}
    assert handler.hits == 3 and waits == [0.1, 0.2]


def test_persistent_5xx_gives_a_clear_error_after_the_retries(flaky):
    handler, url = flaky
    handler.plan = [500]
    c = LabelStudioClient(url, "secret-token-123", retry=RetryPolicy(attempts=3, backoff=0.01))
    with pytest.raises(LabelStudioUnavailable, match=r"after 3 attempt\(s\).*HTTP 500") as exc:
        c.whoami()
    assert "secret-token-123" not in str(exc.value) and handler.hits == 3


def test_a_slow_server_times_out_and_is_retried(flaky):
    handler, url = flaky
    handler.plan = [("sleep", 1.0), 200]
    c = LabelStudioClient(url, "t0k3n-abcdef", retry=RetryPolicy(attempts=2, backoff=0.01, timeout=0.3))
    assert c.whoami()["id"] == 1 and handler.hits == 2


def test_401_is_an_authentication_error_and_not_retried(flaky):
    handler, url = flaky
    handler.plan = [401]
    c = LabelStudioClient(url, "wrong-token-xyz", retry=RetryPolicy(attempts=5, backoff=0.01))
    with pytest.raises(LabelStudioAuthError, match="rejected the token.*TAXO_LABEL_STUDIO_TOKEN") as exc:
        c.whoami()
    assert handler.hits == 1 and "wrong-token-xyz" not in str(exc.value)
    assert "wrong-token-xyz" not in repr(c)


def test_a_closed_port_gives_a_clear_error_after_the_retries():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    c = LabelStudioClient(f"http://127.0.0.1:{port}", "tok-123456", retry=RetryPolicy(attempts=3, backoff=0.01))
    started = time.monotonic()
    with pytest.raises(LabelStudioUnavailable, match=r"unreachable.*3 attempt\(s\).*cannot connect"):
        c.whoami()
    assert time.monotonic() - started < 10


def test_something_that_is_not_label_studio(flaky):
    handler, url = flaky
    handler.plan = [404]
    c = LabelStudioClient(url, "tok-123456", retry=RetryPolicy(attempts=2, backoff=0.01))
    with pytest.raises(LabelStudioError, match="HTTP 404"):
        c.whoami()
