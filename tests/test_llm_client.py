"""The language-model client layer end to end: the official SDKs against the local fake server (both protocols).

Retries (429 with Retry-After, 500, 529, timeouts, malformed bodies), the response cache, the budget guard, the
concurrency limit, the pre-flight checks and that the key is never shown.
"""

from __future__ import annotations

import json

import pytest

from taxonomy.llm import BudgetExceededError, LLMConfig, LLMConfigError, LLMError, LLMService, extract_json
from tests.fake_llm_server import FakeLLMServer

KEY = "sk-test-secret-0123456789"


@pytest.fixture
def server():
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _keys(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def url(srv, provider):
    return srv.anthropic_url if provider == "anthropic" else srv.openai_url


def service(srv, provider="anthropic", db=None, sleeps=None, **cfg) -> LLMService:
    cfg.setdefault("retry_base", 0.001)
    cfg.setdefault("timeout", 5.0)
    config = LLMConfig(provider=provider, base_url=url(srv, provider), model="fake-model", **cfg)
    sleep = (lambda s: sleeps.append(s)) if sleeps is not None else (lambda s: None)
    return LLMService(config, db=db, sleep=sleep)


def ask(svc, text="<members>\n- honesty\n</members>", **kw):
    return svc.complete("system prompt", [{"role": "user", "content": text}], **kw)


PROVIDERS = ["anthropic", "openai"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_both_protocols_answer_through_the_official_sdks(server, provider):
    svc = service(server, provider)
    reply = ask(svc)
    assert json.loads(reply.text)["name"] == "honesty themes" and not reply.cached
    req = server.completions()[-1]
    assert req["protocol"] == provider and req["auth"]
    assert req["path"] == ("/v1/messages" if provider == "anthropic" else "/v1/chat/completions")
    body = req["body"]
    if provider == "anthropic":
        assert body["system"] == "system prompt" and body["messages"][0]["role"] == "user"
    else:
        assert body["messages"][0] == {"role": "system", "content": "system prompt"}
    assert svc.stats.calls == 1 and svc.stats.input_tokens > 0 and svc.stats.output_tokens > 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_waits_for_retry_after_then_succeeds(server, provider):
    sleeps: list[float] = []
    svc = service(server, provider, sleeps=sleeps)
    server.script.append({"status": 429, "retry_after": "7"})
    reply = ask(svc)
    assert json.loads(reply.text)["name"] == "honesty themes"
    assert len(server.completions()) == 2
    assert len(sleeps) == 1 and sleeps[0] >= 7.0  # Retry-After honoured (not the 1 ms backoff)
    s = svc.stats
    assert (s.calls, s.ok, s.retries, s.rate_limited) == (2, 1, 1, 1)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("status", [500, 503, 529])
def test_server_errors_are_retried_with_exponential_backoff(server, provider, status):
    sleeps: list[float] = []
    svc = service(server, provider, sleeps=sleeps, retry_base=1.0)
    server.script.extend([{"status": status}, {"status": status}])
    assert json.loads(ask(svc).text)["name"] == "honesty themes"
    assert svc.stats.server_errors == 2 and svc.stats.retries == 2 and svc.stats.ok == 1
    # full backoff d/2 + jitter(0, d/2): the first in [0.5, 1], the second in [1, 2]
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_slow_answer_times_out_and_is_retried(server, provider):
    svc = service(server, provider, timeout=0.3)
    server.script.append({"delay": 1.5})
    assert json.loads(ask(svc).text)["name"] == "honesty themes"
    assert svc.stats.timeouts == 1 and svc.stats.ok == 1


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "action",
    [{"raw": "this is not json"}, {"body": {"unexpected": True}}, {"body": {"content": [], "choices": []}}],
    ids=["not-json", "missing-fields", "empty-content"],
)
def test_malformed_bodies_are_retried(server, provider, action):
    svc = service(server, provider)
    server.script.append(action)
    assert json.loads(ask(svc).text)["name"] == "honesty themes"
    assert svc.stats.malformed_responses == 1 and svc.stats.ok == 1


def test_openai_models_that_refuse_max_tokens_get_max_completion_tokens(server):
    svc = service(server, "openai")
    server.script.append({"status": 400, "message": "Unsupported parameter: 'max_tokens' is not supported with this "
                          "model. Use 'max_completion_tokens' instead."})
    assert json.loads(ask(svc).text)["name"] == "honesty themes"
    first, second = (r["body"] for r in server.completions())
    assert "max_tokens" in first and "max_completion_tokens" in second and "temperature" not in second
    ask(svc, "<members>\n- candor\n</members>")
    assert "max_completion_tokens" in server.completions()[-1]["body"]
    assert svc.stats.parameter_fallbacks == 1 and svc.stats.calls == 3


def test_persistent_failure_is_a_clear_error(server):
    svc = service(server, "openai", max_retries=2)
    server.script.extend([{"status": 500}] * 3)
    with pytest.raises(LLMError, match=r"kept failing: 3 attempts.*HTTP 500"):
        ask(svc)
    assert len(server.completions()) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refused_key_is_not_retried_and_never_shown(provider, monkeypatch):
    with FakeLLMServer(require_key="the-right-key") as srv:
        svc = service(srv, provider)
        with pytest.raises(LLMConfigError) as info:
            svc.preflight()
        assert "refused the API key" in str(info.value) and KEY not in str(info.value)
        with pytest.raises(LLMError) as info:
            ask(svc)
        assert "401" in str(info.value) and KEY not in str(info.value)
        assert len(srv.completions()) == 1  # no retry on 401
    assert KEY not in repr(svc.client) and KEY not in json.dumps(svc.info())


def test_cache_answers_identical_requests_without_calls(server, sqlite_url):
    from taxonomy.init import init

    init(sqlite_url)
    a = service(server, "anthropic", db=sqlite_url)
    first = ask(a)
    again = ask(a)
    assert again.cached and again.text == first.text and len(server.completions()) == 1
    # a new service (a new process) on the same database: still no call
    b = service(server, "anthropic", db=sqlite_url)
    third = ask(b)
    assert third.cached and third.text == first.text and len(server.completions()) == 1
    assert b.stats.cache_hits == 1 and b.stats.calls == 0
    # another sample number, prompt or model is another key
    ask(b, sample=1)
    ask(b, text="<members>\n- candor\n</members>")
    assert len(server.completions()) == 3


def test_cache_rows_on_both_databases(server, db):
    from sqlalchemy import select

    from taxonomy.db.engine import session_scope
    from taxonomy.db.models import LLMResponse

    svc = service(server, "openai", db=db, concurrency=4)
    texts = [f"<members>\n- value {i}\n</members>" for i in range(6)]
    svc.map(lambda t: ask(svc, t), texts + texts)  # duplicates race for the same key: one row each
    with session_scope(db) as s:
        rows = s.execute(select(LLMResponse.model, LLMResponse.prompt_hash, LLMResponse.prompt)).all()
    assert len(rows) == 6 and all(r.model == "fake-model" and len(r.prompt_hash) == 64 for r in rows)
    assert all(KEY not in r.prompt for r in rows)


def test_max_calls_stops_before_the_call_that_would_exceed(server):
    svc = service(server, "anthropic", max_calls=2)
    ask(svc, "<members>\n- a\n</members>")
    ask(svc, "<members>\n- a\n</members>")  # a cache hit is free
    ask(svc, "<members>\n- b\n</members>")
    with pytest.raises(BudgetExceededError, match="--max-calls 2"):
        ask(svc, "<members>\n- c\n</members>")
    assert len(server.completions()) == 2


def test_retries_count_against_max_calls(server):
    svc = service(server, "anthropic", max_calls=2)
    server.script.extend([{"status": 500}, {"status": 500}])
    with pytest.raises(BudgetExceededError):
        ask(svc)
    assert len(server.completions()) == 2


def test_max_cost_stops_before_exceeding(server):
    # 1 USD per token: the worst case of one call (prompt + max_tokens) is far above 10 USD
    svc = service(server, "openai", max_cost=10.0, price=(1e6, 1e6))
    with pytest.raises(BudgetExceededError, match=r"--max-cost \$10"):
        ask(svc)
    assert server.completions() == []
    cheap = service(server, "openai", max_cost=10.0, price=(0.01, 0.01))
    ask(cheap)
    assert cheap.stats.cost_usd <= 10.0


def test_concurrency_is_bounded(server):
    svc = service(server, "openai", concurrency=3)
    server.script.extend([{"delay": 0.2}] * 9)
    out = svc.map(lambda i: ask(svc, f"<members>\n- v{i}\n</members>"), range(9))
    assert [json.loads(r.text)["name"] for r in out] == [f"v{i} themes" for i in range(9)]
    assert 1 <= server.max_in_flight <= 3


def test_map_stops_at_the_first_failure(server):
    svc = service(server, "anthropic", concurrency=2, max_calls=3)
    with pytest.raises(BudgetExceededError):
        svc.map(lambda i: ask(svc, f"<members>\n- v{i}\n</members>"), range(20))
    assert len(server.completions()) == 3


def test_preflight_needs_a_key(server, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    svc = service(server, "anthropic")
    with pytest.raises(LLMConfigError, match="ANTHROPIC_API_KEY is not set"):
        svc.preflight()
    monkeypatch.setenv("MY_KEY", KEY)
    ok = LLMService(LLMConfig(provider="anthropic", base_url=server.anthropic_url, api_key_env="MY_KEY"))
    ok.preflight()
    assert server.requests[-1]["auth"] and server.requests[-1]["method"] == "GET"


def test_preflight_openai_compatible_server_without_key_picks_the_served_model(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    svc = LLMService(LLMConfig(provider="openai", base_url=server.openai_url))
    svc.preflight()
    assert svc.model == "fake-model"
    # the real OpenAI API (no base URL) needs a key
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY"):
        LLMService(LLMConfig(provider="openai")).preflight()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_preflight_unreachable_server(provider):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}" + ("/v1" if provider == "openai" else "")
    svc = LLMService(LLMConfig(provider=provider, base_url=base, timeout=2.0))
    with pytest.raises(LLMConfigError, match="cannot reach"):
        svc.preflight()


def test_bad_settings_are_usage_errors():
    for kwargs in ({"concurrency": 0}, {"max_calls": -1}, {"max_cost": -1.0}, {"provider": "nope"}):
        with pytest.raises(LLMConfigError):
            LLMConfig(**{"provider": "anthropic", **kwargs})


def test_extract_json():
    assert extract_json('{"name": "A"}') == {"name": "A"}
    assert extract_json('Sure! ```json\n{"name": "A", "x": {"y": 1}}\n``` Hope this helps') == {"name": "A", "x": {"y": 1}}
    assert extract_json('The answer: {"name": "B"} and {"name": "C"}') == {"name": "B"}
    for bad in ("", "no json here", "[1, 2]", "{broken"):
        with pytest.raises(ValueError):
            extract_json(bad)
