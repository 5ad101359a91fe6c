"""The response cache: every model answer, keyed by (model, prompt hash), in the ``llm_responses`` table.

``prompt_hash`` is the sha256 of the canonical JSON of the whole request (system prompt, messages, max_tokens,
temperature and a sample number), so any change to a prompt template or its inputs is a new key, and re-running a
build with the same inputs costs nothing and gives the same answers. An in-memory layer sits on top (also used
alone when there is no database, e.g. in unit tests).

Writes come from the worker threads; each is its own short transaction, so answers received before a failure (or
before the budget stops a run) stay cached and the next run resumes from them.
"""

from __future__ import annotations

import hashlib
import json
import threading

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from taxonomy.db.engine import get_engine, session_scope
from taxonomy.db.models import LLMResponse


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def request_hash(request: dict) -> str:
    return hashlib.sha256(canonical_json(request).encode("utf-8")).hexdigest()


class ResponseCache:
    """get/put of (text, input_tokens, output_tokens) by (model, prompt hash)."""

    def __init__(self, db: str | Engine | None = None, *, use_db: bool = True):
        self._engine = get_engine(db) if use_db and db is not None else None
        self._mem: dict[tuple[str, str], tuple[str, int | None, int | None]] = {}
        self._lock = threading.Lock()

    @property
    def persistent(self) -> bool:
        return self._engine is not None

    def get(self, model: str, prompt_hash: str) -> tuple[str, int | None, int | None] | None:
        key = (model, prompt_hash)
        with self._lock:
            hit = self._mem.get(key)
        if hit is not None or self._engine is None:
            return hit
        with session_scope(self._engine, check=False) as s:
            row = s.execute(
                select(LLMResponse.response, LLMResponse.input_tokens, LLMResponse.output_tokens).where(
                    LLMResponse.model == model, LLMResponse.prompt_hash == prompt_hash
                )
            ).first()
        if row is None:
            return None
        value = (row[0], row[1], row[2])
        with self._lock:
            self._mem[key] = value
        return value

    def put(
        self,
        model: str,
        prompt_hash: str,
        request: dict,
        text: str,
        input_tokens: int | None,
        output_tokens: int | None,
        *,
        replace: bool = False,
    ) -> bool:
        """Store an answer; False when the database refused the write (the answer stays in memory)."""
        key = (model, prompt_hash)
        with self._lock:
            self._mem[key] = (text, input_tokens, output_tokens)
            if self._engine is None:
                return True
            # one writer at a time (SQLite takes one anyway); each answer is its own transaction
            values = {"response": text, "input_tokens": input_tokens, "output_tokens": output_tokens}
            try:
                with session_scope(self._engine, check=False) as s:
                    if replace:
                        done = s.execute(
                            update(LLMResponse)
                            .where(LLMResponse.model == model, LLMResponse.prompt_hash == prompt_hash)
                            .values(**values)
                        ).rowcount
                        if done:
                            return True
                    s.add(LLMResponse(model=model, prompt_hash=prompt_hash, prompt=canonical_json(request), **values))
            except IntegrityError:
                pass  # the same request answered by another process at the same time: keep the first answer
            except OperationalError:  # pragma: no cover - a locked/readonly cache must not fail the run
                return False
        return True
