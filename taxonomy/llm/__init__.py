"""Language-model access for summaries and the Clio hierarchy.

* :mod:`.clients`: one HTTP attempt through the official ``anthropic`` / ``openai`` SDKs (``base_url`` for any
  compatible server), failures classified as retryable or not;
* :mod:`.service`: :class:`LLMService`: response cache (database table ``llm_responses``, keyed by model and
  prompt hash), bounded concurrency, retries with backoff and ``Retry-After``, the ``--max-calls`` /
  ``--max-cost`` guard, statistics;
* :mod:`.prompts`: prompt templates (``taxonomy/prompts/*.txt``) and JSON extraction from answers.
"""

from __future__ import annotations

from taxonomy.llm.errors import BudgetExceededError, LLMConfigError, LLMError
from taxonomy.llm.prompts import PromptSet, extract_json
from taxonomy.llm.service import LLMConfig, LLMService, LLMStats, Reply

__all__ = [
    "BudgetExceededError",
    "LLMConfig",
    "LLMConfigError",
    "LLMError",
    "LLMService",
    "LLMStats",
    "PromptSet",
    "Reply",
    "extract_json",
]
