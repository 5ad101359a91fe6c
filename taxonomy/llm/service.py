"""The model-calling service: cache, bounded concurrency, retries with backoff, the cost guard and statistics.

One :class:`LLMService` per build (or resummarize). Every :meth:`LLMService.complete` call

1. looks the request up in the response cache (database, keyed by model and prompt hash): a hit costs nothing;
2. otherwise *reserves* one call and its worst-case cost (``--max-calls`` / ``--max-cost``): if the reservation
   would exceed a limit, :class:`~taxonomy.llm.errors.BudgetExceededError` is raised and the call is **not made**,
   so the limits are never exceeded;
3. makes one HTTP attempt through the client; on 429, 5xx, timeouts, connection errors and unusable bodies it
   waits (``Retry-After`` when the server sent one, else exponential backoff with jitter) and tries again, up to
   ``max_retries`` times; other 4xx fail at once;
4. stores the answer in the cache and adds its tokens and cost to the statistics.

:meth:`LLMService.map` runs many such calls on a thread pool of ``concurrency`` workers; the first failure stops
the calls not yet started and is re-raised.

The API key comes from the environment (``ANTHROPIC_API_KEY`` / ``OPENAI_API_KEY``, or the variable named by
``api_key_env``) and is handed to the SDK only: it is never stored, printed, logged or put in a manifest.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from taxonomy.llm.cache import ResponseCache, request_hash
from taxonomy.llm.clients import CLIENTS, LLMClient
from taxonomy.llm.errors import (
    BudgetExceededError,
    Cancelled,
    FatalError,
    LLMConfigError,
    LLMError,
    RetryableError,
)

T = TypeVar("T")

#: USD per million (input, output) tokens, by model-name prefix (longest match wins). Used by ``--max-cost`` and
#: the cost estimate in the statistics; override with ``price=(in, out)`` / ``--llm-price IN,OUT``.
PRICES: dict[str, tuple[float, float]] = {
    "claude-3-haiku": (0.25, 1.25),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4": (15.0, 75.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4o": (2.5, 10.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1": (2.0, 8.0),
}
#: Price assumed for a model not in :data:`PRICES` (deliberately not cheap, so that ``--max-cost`` errs safe).
DEFAULT_PRICE = (3.0, 15.0)


def price_for(model: str, price: Sequence[float] | None = None) -> tuple[float, float]:
    if price is not None:
        a, b = price
        return float(a), float(b)
    name = (model or "").lower()
    best = None
    for prefix, p in PRICES.items():
        if name.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, p)
    return best[1] if best else DEFAULT_PRICE


def estimate_tokens(text: str) -> int:
    """A deliberately high token estimate (3 characters per token) for the budget's reservations."""
    return math.ceil(len(text) / 3) + 8


@dataclass
class LLMConfig:
    """How to reach the model. Everything here may be recorded; the key itself never is."""

    provider: str  #: "anthropic" or "openai"
    model: str | None = None  #: None: the provider's default (or, with a base URL, the first model the server lists)
    base_url: str | None = None
    api_key_env: str | None = None  #: environment variable holding the key (default by provider)
    concurrency: int = 4
    max_calls: int | None = None
    max_cost: float | None = None  #: USD
    price: tuple[float, float] | None = None  #: USD per million input / output tokens
    timeout: float = 60.0  #: seconds per HTTP attempt
    max_retries: int = 5
    retry_base: float = 1.0  #: first backoff, seconds; doubles each attempt
    retry_cap: float = 60.0  #: longest backoff, seconds
    temperature: float = 0.0
    max_tokens: int = 1024

    def __post_init__(self) -> None:
        if self.provider not in CLIENTS:
            raise LLMConfigError(f"unknown model provider {self.provider!r}; known: {', '.join(sorted(CLIENTS))}")
        if int(self.concurrency) < 1:
            raise LLMConfigError(f"--llm-concurrency must be at least 1, got {self.concurrency}")
        self.concurrency = int(self.concurrency)
        if self.max_calls is not None and int(self.max_calls) < 0:
            raise LLMConfigError(f"--max-calls must be >= 0, got {self.max_calls}")
        if self.max_cost is not None and float(self.max_cost) < 0:
            raise LLMConfigError(f"--max-cost must be >= 0, got {self.max_cost}")
        if self.price is not None:
            self.price = tuple(float(x) for x in self.price)  # type: ignore[assignment]
            if len(self.price) != 2 or min(self.price) < 0:
                raise LLMConfigError("--llm-price: give two non-negative numbers, USD per million input,output tokens")

    @property
    def key_env(self) -> str:
        return self.api_key_env or CLIENTS[self.provider].default_key_env  # type: ignore[attr-defined]

    def public(self) -> dict:
        d = asdict(self)
        d["api_key_env"] = self.key_env
        if d["price"] is not None:
            d["price"] = list(d["price"])
        return d


@dataclass
class LLMStats:
    """What the model work cost. ``calls`` counts HTTP attempts to the model (retries included)."""

    calls: int = 0
    ok: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    timeouts: int = 0
    connection_errors: int = 0
    malformed_responses: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    probes: int = 0
    invalid_outputs: int = 0  #: answers that were not the requested JSON (asked again)
    repaired: int = 0  #: items given up on and repaired (offline fallback, qualified name, ...)
    cache_write_errors: int = 0
    parameter_fallbacks: int = 0  #: 400s for max_tokens/temperature, retried with max_completion_tokens
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for k, v in counts.items():
                setattr(self, k, getattr(self, k) + v)

    def to_dict(self) -> dict:
        with self._lock:
            d = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        d["cost_usd"] = round(float(d["cost_usd"]), 6)
        return d

    def summary(self) -> str:
        return format_stats(self.to_dict())


def format_stats(info: dict) -> str:
    """One line: ``LLM (anthropic claude-…): 38 model calls (2 retries), 0 cache hits, 12,345 input + …``. Takes
    the statistics, or a dict with ``provider``, ``model`` and ``stats``."""
    d = info.get("stats", info)
    who = " ".join(str(info[k]) for k in ("provider", "model") if info.get(k))
    parts = [f"{d.get('calls', 0)} model calls"]
    if d.get("retries"):
        parts[-1] += f" ({d['retries']} retries)"
    parts.append(f"{d.get('cache_hits', 0)} cache hits")
    parts.append(f"{d.get('input_tokens', 0):,} input + {d.get('output_tokens', 0):,} output tokens")
    parts.append(f"about ${float(d.get('cost_usd', 0.0)):.4f}")
    if d.get("invalid_outputs") or d.get("repaired"):
        parts.append(f"{d.get('invalid_outputs', 0)} unusable answers asked again, {d.get('repaired', 0)} repairs")
    return f"LLM{f' ({who})' if who else ''}: " + ", ".join(parts)


_KIND_COUNTER = {
    "rate_limited": "rate_limited",
    "server_error": "server_errors",
    "timeout": "timeouts",
    "connection": "connection_errors",
    "malformed_response": "malformed_responses",
    "parameters": "parameter_fallbacks",
}


@dataclass
class Reply:
    text: str
    cached: bool
    input_tokens: int | None = None
    output_tokens: int | None = None


class LLMService:
    """Cache + budget + retries + concurrency around one :class:`~taxonomy.llm.clients.LLMClient`."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        db=None,
        client: LLMClient | None = None,
        sleep: Callable[[float], Any] | None = None,
        refresh: bool = False,
    ):
        self.config = config
        self.stats = LLMStats()
        self.cache = ResponseCache(db)
        self.refresh = refresh  #: True: do not read the cache (answers are still stored, replacing old ones)
        self._client = client
        self._stop = threading.Event()
        self._sleep = sleep or (lambda s: self._stop.wait(s))
        self._rng = random.Random()  # jitter only: never affects results
        self._budget_lock = threading.Lock()
        self._calls_reserved = 0
        self._cost_reserved = 0.0
        self._cost_spent = 0.0
        self.model: str = config.model or CLIENTS[config.provider].default_model  # type: ignore[attr-defined]
        self._probed = False

    # ------------------------------------------------------------------ set-up
    @property
    def url(self) -> str:
        if self.config.base_url:
            return self.config.base_url
        return "https://api.anthropic.com" if self.config.provider == "anthropic" else "https://api.openai.com/v1"

    def _api_key(self) -> str:
        env = self.config.key_env
        key = os.environ.get(env, "").strip()
        if key:
            return key
        if self.config.provider == "openai" and self.config.base_url and not self.config.api_key_env:
            return "not-needed"  # a local OpenAI-compatible server (vLLM, llama.cpp, Ollama) takes any key
        raise LLMConfigError(
            f"--summarizer {self.config.provider}: no API key: the environment variable {env} is not set. Export "
            "it (or name another variable with --llm-api-key-env). Nothing was done."
        )

    @property
    def client(self) -> LLMClient:
        if self._client is None:
            cls = CLIENTS[self.config.provider]
            self._client = cls(model=self.model, api_key=self._api_key(), base_url=self.config.base_url,
                               timeout=self.config.timeout)
        return self._client

    def preflight(self) -> None:
        """Check the key and that the server answers (``GET /models``), before any work starts. With a base URL
        and no model given, use the first model the server lists. Raises :class:`LLMConfigError`."""
        client = self.client
        self.stats.add(probes=1)
        try:
            probe = client.probe(timeout=min(10.0, self.config.timeout))
        except RetryableError as exc:
            raise LLMConfigError(
                f"cannot reach the {self.config.provider} server at {self.url} ({exc}). Start it or fix "
                "--llm-base-url. Nothing was done."
            ) from None
        except FatalError as exc:
            raise LLMConfigError(
                f"the {self.config.provider} server at {self.url} refused the API key from {self.config.key_env} "
                f"({exc}). Nothing was done."
            ) from None
        if self.config.model is None and self.config.base_url and self.config.provider == "openai" and probe.models:
            self.model = probe.models[0]
            client.model = self.model
        self._probed = True

    # ------------------------------------------------------------------ budget
    def _reserve(self, est_cost: float) -> None:
        cfg = self.config
        with self._budget_lock:
            used = self.stats.calls + self._calls_reserved
            if cfg.max_calls is not None and used + 1 > cfg.max_calls:
                self._stop.set()
                raise BudgetExceededError(
                    f"stopped before exceeding --max-calls {cfg.max_calls}: {self.stats.calls} model calls made, "
                    f"{self.stats.cache_hits} answers from the cache. Nothing was written; the answers received are "
                    "cached, so running again with a higher limit continues from there."
                )
            if cfg.max_cost is not None and self._cost_spent + self._cost_reserved + est_cost > cfg.max_cost:
                self._stop.set()
                raise BudgetExceededError(
                    f"stopped before exceeding --max-cost ${cfg.max_cost:g}: ${self._cost_spent:.4f} spent in "
                    f"{self.stats.calls} model calls, and the next call may cost up to ${est_cost:.4f}. Nothing was "
                    "written; the answers received are cached, so running again continues from there."
                )
            self._calls_reserved += 1
            self._cost_reserved += est_cost

    def _release(self, est_cost: float, actual_cost: float) -> None:
        with self._budget_lock:
            self._calls_reserved -= 1
            self._cost_reserved -= est_cost
            self._cost_spent += actual_cost
            self.stats.add(calls=1, cost_usd=actual_cost)

    # ------------------------------------------------------------------ calls
    def complete(
        self, system: str, messages: list[dict], *, sample: int = 0, max_tokens: int | None = None
    ) -> Reply:
        """One answer for one request: from the cache, or from the model (with retries and the budget)."""
        cfg = self.config
        max_tokens = int(max_tokens or cfg.max_tokens)
        request = {
            "system": system,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": cfg.temperature,
            "sample": int(sample),
        }
        h = request_hash(request)
        if not self.refresh:
            hit = self.cache.get(self.model, h)
            if hit is not None:
                self.stats.add(cache_hits=1)
                return Reply(hit[0], True, hit[1], hit[2])
        p_in, p_out = price_for(self.model, cfg.price)
        n_in_est = estimate_tokens(system) + sum(estimate_tokens(str(m.get("content", ""))) for m in messages)
        est = (n_in_est * p_in + max_tokens * p_out) / 1e6
        last: Exception | None = None
        for attempt in range(cfg.max_retries + 1):
            if self._stop.is_set():
                raise Cancelled()
            self._reserve(est)
            try:
                out = self.client.complete(system, messages, max_tokens=max_tokens, temperature=cfg.temperature)
            except RetryableError as exc:
                self._release(est, 0.0)
                self.stats.add(**{_KIND_COUNTER.get(exc.kind, "server_errors"): 1})
                last = exc
                if attempt >= cfg.max_retries:
                    break
                self.stats.add(retries=1)
                self._sleep(self._backoff(attempt, exc.retry_after))
                continue
            except FatalError as exc:
                self._release(est, 0.0)
                self._stop.set()
                hint = ""
                if exc.status in (401, 403):
                    hint = f" (check the key in {cfg.key_env})"
                elif exc.status == 404:
                    hint = f" (check --llm-model {self.model!r} and --llm-base-url)"
                raise LLMError(f"the {cfg.provider} server at {self.url} refused the request: {exc}{hint}") from None
            except BaseException:
                self._release(est, 0.0)
                raise
            n_in = out.input_tokens if out.input_tokens is not None else n_in_est
            n_out = out.output_tokens if out.output_tokens is not None else estimate_tokens(out.text)
            self._release(est, (n_in * p_in + n_out * p_out) / 1e6)
            self.stats.add(ok=1, input_tokens=int(n_in), output_tokens=int(n_out))
            stored = self.cache.put(
                self.model, h, request, out.text, out.input_tokens, out.output_tokens, replace=self.refresh
            )
            if not stored:
                self.stats.add(cache_write_errors=1)
            return Reply(out.text, False, out.input_tokens, out.output_tokens)
        self._stop.set()
        raise LLMError(
            f"the {cfg.provider} server at {self.url} kept failing: {cfg.max_retries + 1} attempts, the last: {last}. "
            "Nothing was written; answers received so far are cached."
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            wait = min(float(retry_after), 600.0)
            return wait + self._rng.uniform(0.0, min(1.0, 0.1 * wait))
        delay = min(self.config.retry_cap, self.config.retry_base * (2.0**attempt))
        return delay / 2.0 + self._rng.uniform(0.0, delay / 2.0)

    def map(self, fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        """``[fn(x) for x in items]`` on ``concurrency`` threads, results in order. The first exception stops the
        items not yet started and is raised (a budget or configuration error in preference to a cancellation)."""
        items = list(items)
        if not items:
            return []
        self._stop.clear()
        if self.config.concurrency == 1 or len(items) == 1:
            return [fn(x) for x in items]
        results: list[Any] = [None] * len(items)
        errors: list[tuple[int, BaseException]] = []

        def run(i: int) -> None:
            if self._stop.is_set():
                errors.append((i, Cancelled()))
                return
            try:
                results[i] = fn(items[i])
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                self._stop.set()
                errors.append((i, exc))

        with ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(items))) as pool:
            list(pool.map(run, range(len(items))))
        if errors:
            real = [e for _, e in sorted(errors, key=lambda x: x[0]) if not isinstance(e, Cancelled)]
            raise (real[0] if real else errors[0][1])
        return results

    def info(self) -> dict:
        """For the version manifest: provider, model, URL, limits and the statistics (never the key)."""
        cfg = self.config.public()
        cfg["model"] = self.model
        cfg["base_url"] = self.config.base_url
        return {**cfg, "stats": self.stats.to_dict()}
