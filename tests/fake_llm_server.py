"""A local, scriptable language-model server for the tests.

It speaks the real wire protocols of the Anthropic Messages API (``POST /v1/messages``) and the OpenAI
chat-completions API (``POST /v1/chat/completions``), plus ``GET /v1/models`` for both, so that the tests drive
the official ``anthropic`` and ``openai`` SDKs against it with ``base_url``. It runs in-process on 127.0.0.1 with a
free port (one thread per connection).

Scripting
---------
* ``server.responder(prompt, request) -> str`` produces the text of a normal answer (default: an
  :class:`EchoResponder`). ``prompt`` is the first user message (the task; a retry adds turns after it), ``request`` the decoded JSON body.
* ``server.script`` is a FIFO of one-shot actions consumed by the next completion requests (before the responder
  runs), each a dict:

  - ``{"status": 429, "retry_after": "1"}`` / ``{"status": 500}`` / ``{"status": 529}``: an error answer in the
    protocol's error shape (with a ``Retry-After`` header when given);
  - ``{"delay": 2.0}``: sleep that long, then answer normally (a slow answer / client timeout);
  - ``{"raw": "not json"}``: a 200 answer whose body is that text (not JSON);
  - ``{"body": {...}}``: a 200 answer with that JSON body (e.g. missing fields);
  - ``{"text": "..."}``: a well-formed answer whose message text is this (e.g. not the requested JSON);
  - ``{}``: a normal answer from the responder (to let a retry succeed before the next fault).
* ``server.requests`` records every request: ``{"method", "path", "protocol", "body", "auth"}`` (``auth`` is True
  when a key header was sent; the key itself is not kept).
* ``server.require_key``: when set, requests without exactly this key get a 401.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _prompt_text(body: dict) -> str:
    parts: list[str] = []
    system = body.get("system")
    if isinstance(system, str):
        parts.append(system)
    elif isinstance(system, list):
        parts.extend(str(b.get("text", "")) for b in system if isinstance(b, dict))
    for m in body.get("messages") or []:
        content = m.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return "\n".join(parts)


def _first_user_text(body: dict) -> str:
    for m in body.get("messages") or []:
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                return "\n".join(str(b.get("text", "")) for b in c if isinstance(b, dict))
    return ""


def prompt_of(request: dict) -> str:
    """The task (first user message) of a recorded request, whichever protocol."""
    return _first_user_text(request["body"] if "body" in request else request)


def section(text: str, tag: str) -> list[str]:
    """The non-empty lines inside ``<tag>...</tag>`` (the first occurrence), stripped."""
    m = re.search(rf"<{tag}>\n?(.*?)</{tag}>", text, re.S)
    if not m:
        return []
    return [ln.strip() for ln in m.group(1).splitlines() if ln.strip()]


def item_name(line: str) -> str:
    """``"- Honesty: values about ..."`` / ``"3. Honesty — ..."`` / ``"Honesty (12%)"`` -> ``"Honesty"``."""
    s = re.sub(r"^(?:[-*]|\d+[.)])\s*", "", line.strip())
    s = re.split(r"\s+[—–]\s+|:\s", s, maxsplit=1)[0]
    s = re.sub(r"\s*\([^()]*\)\s*$", "", s)
    return s.strip().strip('"“”')


class EchoResponder:
    """A deterministic stand-in for a model that understands the workbench's prompts.

    * naming (``<members>``): ``{"name": "<first member> themes", "description": ...}`` (a name already listed
      under ``<taken>`` gets the second member instead);
    * parent proposals (``<clusters>`` + ``<count>``): the listed clusters in ``count`` consecutive chunks, each
      proposed as ``"Group of <first cluster in the chunk>"``, remembering which chunk held which cluster;
    * assignment (``<cluster>`` + ``<categories>``): the category of the chunk that held the cluster when it is
      listed, else the first category listed (a model with order bias).
    """

    def __init__(self) -> None:
        self.assign: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, prompt: str, request: dict) -> str:
        if "<categories>" in prompt and "<cluster>" in prompt:
            child = item_name(section(prompt, "cluster")[0]) if section(prompt, "cluster") else ""
            cats = [item_name(x) for x in section(prompt, "categories")]
            with self._lock:
                choice = self.assign.get(child)
            if choice not in cats:
                choice = cats[0] if cats else ""
            return json.dumps({"category": choice})
        if "<clusters>" in prompt and "<count>" in prompt:
            names = [item_name(x) for x in section(prompt, "clusters")]
            count = int(section(prompt, "count")[0])
            count = max(1, min(count, len(names)))
            size = -(-len(names) // count)
            cats = []
            for i in range(0, len(names), size):
                chunk = names[i : i + size]
                cat = f"Group of {chunk[0]}"
                with self._lock:
                    for c in chunk:
                        self.assign[c] = cat
                cats.append({"name": cat, "description": "Clusters about " + ", ".join(chunk[:3]) + "."})
            return json.dumps({"categories": cats})
        members = [item_name(x) for x in section(prompt, "members") if not x.startswith("(")]
        taken = {item_name(x).casefold() for x in section(prompt, "taken")}
        first = members[0] if members else "Misc"
        name = f"{first[:60].removesuffix(' themes')} themes"
        if name.casefold() in taken and len(members) > 1:
            name = f"{members[1][:60].removesuffix(' themes')} themes"
        return json.dumps({"name": name, "description": f"Values centred on {first}. They share one theme."})


def echo_responder(prompt: str, request: dict) -> str:
    """A stateless :class:`EchoResponder` (naming only needs no state)."""
    return EchoResponder()(prompt, request)


class FakeLLMServer:
    """``with FakeLLMServer() as srv:`` -> ``srv.anthropic_url`` / ``srv.openai_url``."""

    def __init__(self, responder: Callable[[str, dict], str] | None = None, require_key: str | None = None):
        self.responder = responder or EchoResponder()
        self.require_key = require_key
        self.script: deque[dict] = deque()
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeLLMServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_POST(self):
                server._handle(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------------ helpers for tests
    def completions(self) -> list[dict]:
        """The recorded completion requests (POSTs to the two model endpoints)."""
        with self._lock:
            return [r for r in self.requests if r["method"] == "POST"]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.script.clear()

    # ------------------------------------------------------------------ the protocol
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?", 1)[0]
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = {}
        protocol = "anthropic" if path.endswith("/messages") else "openai" if path.endswith("/completions") else None
        key = h.headers.get("x-api-key") or (h.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        with self._lock:
            self.requests.append(
                {"method": method, "path": path, "protocol": protocol, "body": body, "auth": bool(key)}
            )
        if self.require_key is not None and key != self.require_key:
            return self._error(h, protocol or "openai", 401, "invalid x-api-key", {})
        if method == "GET":
            if path.rstrip("/").endswith("/models"):
                data = [{"id": "fake-model", "object": "model", "type": "model", "display_name": "Fake",
                         "created_at": "2025-01-01T00:00:00Z", "created": 0, "owned_by": "tests"}]
                return self._send(h, 200, {"data": data, "object": "list", "has_more": False,
                                           "first_id": "fake-model", "last_id": "fake-model"})
            return self._send(h, 404, {"error": {"type": "not_found_error", "message": "not found"}})
        if protocol is None:
            return self._send(h, 404, {"error": {"type": "not_found_error", "message": f"no route {path}"}})
        with self._lock:
            action = self.script.popleft() if self.script else {}
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer(h, protocol, body, action)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, h, protocol: str, body: dict, action: dict) -> None:
        if "delay" in action:
            time.sleep(float(action["delay"]))
        if "status" in action:
            headers = {"retry-after": str(action["retry_after"])} if "retry_after" in action else {}
            return self._error(h, protocol, int(action["status"]), action.get("message", "scripted error"), headers)
        if "raw" in action:
            return self._send_bytes(h, 200, str(action["raw"]).encode(), "application/json")
        if "body" in action:
            return self._send(h, 200, action["body"])
        if "text" in action:
            text = str(action["text"])
        else:
            text = self.responder(_first_user_text(body) or _prompt_text(body), body)
        model = body.get("model", "fake-model")
        n_in = max(1, len(_prompt_text(body)) // 4)
        n_out = max(1, len(text) // 4)
        if protocol == "anthropic":
            payload = {
                "id": f"msg_{len(self.requests)}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": n_in, "output_tokens": n_out},
            }
        else:
            payload = {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 1700000000,
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
                     "logprobs": None}
                ],
                "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out},
            }
        return self._send(h, 200, payload)

    def _error(self, h, protocol: str, status: int, message: str, headers: dict) -> None:
        if protocol == "anthropic":
            kind = {401: "authentication_error", 429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
            payload = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            payload = {"error": {"message": message, "type": "server_error" if status >= 500 else "error",
                                 "param": None, "code": None}}
        self._send(h, status, payload, headers)

    def _send(self, h, status: int, payload: dict, headers: dict | None = None) -> None:
        self._send_bytes(h, status, json.dumps(payload).encode(), "application/json", headers)

    @staticmethod
    def _send_bytes(h, status: int, data: bytes, ctype: str, headers: dict | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("content-type", ctype)
            h.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass
