"""Clients for the two wire protocols, through the official SDKs.

* :class:`AnthropicClient`: the Anthropic Messages API (``anthropic`` SDK; ``base_url`` for a proxy or a
  compatible server).
* :class:`OpenAIClient`: the OpenAI chat-completions API (``openai`` SDK; ``base_url`` for any compatible server:
  vLLM, llama.cpp server, Ollama, ...).

A client makes exactly one HTTP attempt per :meth:`LLMClient.complete` call (the SDKs' own retries are off):
retries, backoff, the budget and the cache live in :class:`taxonomy.llm.service.LLMService`. Failures are
classified as :class:`~taxonomy.llm.errors.RetryableError` (429, 5xx, timeouts, connection errors, bodies that are
not a usable answer) or :class:`~taxonomy.llm.errors.FatalError` (other 4xx).

The API key is passed to the SDK and kept nowhere else: not in ``repr``, parameters, manifests or logs.
"""

from __future__ import annotations

import email.utils
import inspect
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from taxonomy.llm.errors import FatalError, RetryableError
from taxonomy.secrets import redact
from taxonomy.secrets import register as register_secret

#: HTTP statuses worth another attempt.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@dataclass
class Completion:
    """One model answer."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass
class ProbeResult:
    reachable: bool
    models: list[str]
    status: int | None = None


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date); None if absent."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class LLMClient(ABC):
    """One model behind one wire protocol."""

    provider: str

    def __init__(self, *, model: str, api_key: str, base_url: str | None = None, timeout: float = 60.0):
        self.model = model
        self.base_url = base_url
        self.timeout = float(timeout)
        register_secret(api_key)  # redacted from every message, whatever the server echoes
        self._sdk = self._make_sdk(api_key)

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    @abstractmethod
    def _make_sdk(self, api_key: str): ...

    @abstractmethod
    def _create(self, system: str, messages: list[dict], max_tokens: int, temperature: float) -> Completion: ...

    @abstractmethod
    def _list_models(self, timeout: float) -> list[str]: ...

    def complete(self, system: str, messages: list[dict], *, max_tokens: int, temperature: float) -> Completion:
        """Exactly one attempt; raises RetryableError or FatalError."""
        try:
            out = self._create(system, messages, max_tokens, temperature)
        except (RetryableError, FatalError):
            raise
        except Exception as exc:  # noqa: BLE001 - classified below
            raise self._classify(exc) from exc
        if not isinstance(out.text, str):
            raise RetryableError("malformed_response", "the server's answer has no text content")
        return out

    def probe(self, timeout: float = 10.0) -> ProbeResult:
        """Is the server there, and does it take our key? Lists the served models when it can (``GET /models``).
        Raises FatalError(status=401/403) for a refused key, RetryableError("connection") when unreachable."""
        try:
            return ProbeResult(True, self._list_models(timeout))
        except Exception as exc:  # noqa: BLE001
            err = self._classify(exc)
            if isinstance(err, FatalError) and err.status in (401, 403):
                raise err from exc
            if isinstance(err, RetryableError) and err.kind in ("connection", "timeout"):
                raise err from exc
            # any other answer (404: no /models route, 5xx, ...) means a server is listening
            return ProbeResult(True, [], getattr(err, "status", None))

    def _classify(self, exc: Exception) -> Exception:
        """Map an SDK exception to RetryableError / FatalError."""
        mod = self._errors()
        if isinstance(exc, mod.APITimeoutError):
            return RetryableError("timeout", f"timed out after {self.timeout:g}s")
        if isinstance(exc, mod.APIConnectionError):
            return RetryableError("connection", f"cannot connect: {exc}")
        if isinstance(exc, mod.APIStatusError):
            status = int(getattr(exc, "status_code", 0) or 0)
            msg = _status_message(exc)
            if status in RETRYABLE_STATUS or status >= 500:
                kind = "rate_limited" if status == 429 else "server_error"
                return RetryableError(kind, f"HTTP {status}: {msg}", parse_retry_after(exc.response.headers))
            return FatalError(f"HTTP {status}: {msg}", status)
        if isinstance(exc, getattr(mod, "APIResponseValidationError", ())):
            return RetryableError("malformed_response", f"unusable response body: {exc}")
        if isinstance(exc, ValueError):  # a 200 whose body is not JSON (json.JSONDecodeError, pydantic errors)
            return RetryableError("malformed_response", f"unusable response body ({type(exc).__name__}: {exc})")
        return FatalError(f"{type(exc).__name__}: {exc}")

    @abstractmethod
    def _errors(self): ...


def _accepts(fn, param: str) -> bool:
    key = (getattr(fn, "__qualname__", repr(fn)), param)
    if key not in _ACCEPTS:
        try:
            _ACCEPTS[key] = param in inspect.signature(fn).parameters
        except (TypeError, ValueError):  # pragma: no cover
            _ACCEPTS[key] = False
    return _ACCEPTS[key]


_ACCEPTS: dict[tuple[str, str], bool] = {}


def _status_message(exc) -> str:
    """The server's error message, secrets redacted before it is shortened (so no part of a key survives)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return redact(str(err["message"]))[:300]
        if body.get("message"):
            return redact(str(body["message"]))[:300]
    return redact(str(getattr(exc, "message", "") or exc))[:300]


class AnthropicClient(LLMClient):
    """The Anthropic Messages API (``POST {base_url}/v1/messages``)."""

    provider = "anthropic"
    default_model = "claude-sonnet-4-6"
    default_key_env = "ANTHROPIC_API_KEY"

    def _make_sdk(self, api_key: str):
        import anthropic

        kwargs = {"api_key": api_key, "max_retries": 0, "timeout": self.timeout}
        if self.base_url:
            kwargs["base_url"] = self.base_url
        return anthropic.Anthropic(**kwargs)

    def _errors(self):
        import anthropic

        return anthropic

    def _create(self, system, messages, max_tokens, temperature) -> Completion:
        kwargs = {"model": self.model, "max_tokens": max_tokens, "messages": messages}
        if _accepts(self._sdk.messages.create, "temperature"):  # recent SDKs and models have no temperature
            kwargs["temperature"] = temperature
        if system:
            kwargs["system"] = system
        msg = self._sdk.messages.create(**kwargs)
        blocks = msg.content
        if not isinstance(blocks, list) or not blocks:
            raise RetryableError("malformed_response", "the answer has no content blocks")
        texts = [getattr(b, "text", None) for b in blocks]
        texts = [t for t in texts if isinstance(t, str)]
        if not texts:
            raise RetryableError("malformed_response", "the answer has no text block")
        usage = msg.usage
        return Completion(
            text="".join(texts),
            input_tokens=getattr(usage, "input_tokens", None) if usage is not None else None,
            output_tokens=getattr(usage, "output_tokens", None) if usage is not None else None,
        )

    def _list_models(self, timeout: float) -> list[str]:
        return _models(self._sdk.with_options(timeout=timeout), "/v1/models")


class OpenAIClient(LLMClient):
    """The OpenAI chat-completions API (``POST {base_url}/chat/completions``), or any compatible server."""

    provider = "openai"
    default_model = "gpt-4o-mini"
    default_key_env = "OPENAI_API_KEY"

    def _make_sdk(self, api_key: str):
        import openai

        kwargs = {"api_key": api_key, "max_retries": 0, "timeout": self.timeout}
        if self.base_url:
            kwargs["base_url"] = self.base_url
        return openai.OpenAI(**kwargs)

    def _errors(self):
        import openai

        return openai

    #: Newer OpenAI models refuse ``max_tokens`` and a non-default temperature; after such a 400 the client
    #: switches to ``max_completion_tokens`` without temperature.
    _reasoning_params = False

    def _create(self, system, messages, max_tokens, temperature) -> Completion:
        import openai

        msgs = ([{"role": "system", "content": system}] if system else []) + list(messages)
        kwargs = {"model": self.model, "messages": msgs}
        if self._reasoning_params:
            kwargs["max_completion_tokens"] = max_tokens
        else:
            kwargs.update(max_tokens=max_tokens, temperature=temperature)
        try:
            resp = self._sdk.chat.completions.create(**kwargs)
        except openai.BadRequestError as exc:
            text = _status_message(exc)
            if not self._reasoning_params and ("max_tokens" in text or "temperature" in text):
                self._reasoning_params = True  # the next attempt (through the budget) uses the other parameters
                raise RetryableError("parameters", f"HTTP 400: {text}", retry_after=0.0) from exc
            raise
        choices = resp.choices
        if not isinstance(choices, list) or not choices:
            raise RetryableError("malformed_response", "the answer has no choices")
        message = getattr(choices[0], "message", None)
        text = getattr(message, "content", None)
        if not isinstance(text, str):
            raise RetryableError("malformed_response", "the answer has no message content")
        usage = resp.usage
        return Completion(
            text=text,
            input_tokens=getattr(usage, "prompt_tokens", None) if usage is not None else None,
            output_tokens=getattr(usage, "completion_tokens", None) if usage is not None else None,
        )

    def _list_models(self, timeout: float) -> list[str]:
        return _models(self._sdk.with_options(timeout=timeout), "/models")


def _models(sdk, path: str) -> list[str]:
    """Model ids from ``GET /models``; an SDK without the models API just makes the request."""
    models = getattr(sdk, "models", None)
    if models is None:  # pragma: no cover - old SDKs
        sdk.get(path, cast_to=object)
        return []
    page = models.list()
    return [m.id for m in (getattr(page, "data", None) or []) if getattr(m, "id", None)]


CLIENTS: dict[str, type[LLMClient]] = {AnthropicClient.provider: AnthropicClient, OpenAIClient.provider: OpenAIClient}
