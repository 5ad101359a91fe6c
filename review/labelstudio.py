"""A small client for the Label Studio API (label-studio-sdk 2.x underneath), with timeouts, retries with
exponential backoff, and errors a user can act on.

* The token comes from the environment (``TAXO_LABEL_STUDIO_TOKEN``) or the caller; it is never printed, logged,
  stored, or put into an error message. ``repr(client)`` shows the URL only.
* Transient failures (connection refused or reset, timeouts, HTTP 408/429/5xx) are retried with exponential
  backoff; when the attempts are used up, :class:`LabelStudioUnavailable` says how many attempts over how long and
  the last problem. Requests that create things are retried only when the server cannot have acted on them
  (connection refused, 429, 502/503/504); otherwise the caller reconciles (push looks up what already exists).
* HTTP 401/403: :class:`LabelStudioAuthError` ("Label Studio at URL rejected the token ...").
* Big requests (task and prediction import, export) are sent as pre-encoded JSON through the SDK's HTTP client:
  the SDK's generic encoder costs about a second per 3,600 tasks.
* :func:`import_tasks_resumably` imports tasks so that an interrupted import is completed by running it again
  (`taxo review push`, `taxo validate push`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from taxonomy.errors import TaxoError, UsageError
from taxonomy.secrets import redact
from taxonomy.secrets import register as register_secret

URL_ENV = "TAXO_LABEL_STUDIO_URL"
TOKEN_ENV = "TAXO_LABEL_STUDIO_TOKEN"

#: statuses worth retrying; the second set is safe to retry even for requests that create things
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
SAFE_RETRY_STATUSES = frozenset({429, 502, 503, 504})


class LabelStudioError(TaxoError):
    """Label Studio answered with an error, or something that is not Label Studio answered."""


class LabelStudioAuthError(LabelStudioError):
    """Label Studio rejected the token (HTTP 401/403)."""


class LabelStudioUnavailable(LabelStudioError):
    """Label Studio could not be reached, timed out or kept failing after the retries."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Waits are ``backoff * 2**i`` seconds, at most ``max_wait``, between ``attempts`` tries."""

    attempts: int = 5
    backoff: float = 0.5
    max_wait: float = 8.0
    timeout: float = 120.0  #: seconds per request (connect, read, write)

    def wait(self, attempt: int) -> float:
        return min(self.backoff * (2 ** (attempt - 1)), self.max_wait)


def resolve_url(url: str | None) -> str:
    url = (url or os.environ.get(URL_ENV) or "").strip()
    if not url:
        raise UsageError(f"no Label Studio URL: pass --url or set {URL_ENV} (e.g. http://localhost:8080)")
    if "://" not in url:
        url = "http://" + url
    return url.rstrip("/")


def token_from_env() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(
            f"no Label Studio token: set {TOKEN_ENV} to your access token (Label Studio: Account & Settings → "
            "Access Token); it is read from the environment only"
        )
    return token


def _detail(body: Any) -> str:
    """A short, safe description of an error body (never headers: they carry cookies). Secrets are redacted
    before anything is shortened, so that no part of a token survives."""
    if isinstance(body, (dict, list)):
        body = json.loads(redact(json.dumps(body, ensure_ascii=False)))
    elif body is not None:
        body = redact(str(body))
    return _body_text(body)


def _body_text(body: Any) -> str:
    if isinstance(body, dict):
        parts = [str(body.get("detail") or body.get("message") or "").strip()]
        errs = body.get("validation_errors")
        if errs:
            parts.append(json.dumps(errs, ensure_ascii=False)[:500])
        return "; ".join(p for p in parts if p) or json.dumps(body, ensure_ascii=False)[:300]
    text = str(body or "").strip()
    if text.startswith("<"):
        return "an HTML page instead of a JSON answer (is this the Label Studio URL?)"
    return text[:300]


class LabelStudioClient:
    """The calls `taxo review` needs. ``sleep`` is injectable so that tests of the retry policy run fast."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        from label_studio_sdk import LabelStudio

        self.url = url.rstrip("/")
        register_secret(token)  # redacted from every message, whatever the server echoes
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        try:
            self._sdk = LabelStudio(base_url=self.url, api_key=token, timeout=self.retry.timeout, max_retries=0)
        except Exception as exc:  # noqa: BLE001 - the SDK checks JWT tokens' expiry in its constructor
            raise self._translate(exc, "connecting") from None

    def __repr__(self) -> str:
        return f"LabelStudioClient({self.url!r})"

    # ------------------------------------------------------------------------------------------------ plumbing
    def _translate(self, exc: Exception, what: str) -> LabelStudioError:
        from label_studio_sdk.core.api_error import ApiError

        if isinstance(exc, ApiError):
            status = exc.status_code
            if status in (401, 403):
                return LabelStudioAuthError(
                    f"Label Studio at {self.url} rejected the token (HTTP {status}: {_detail(exc.body)}); "
                    f"check {TOKEN_ENV}"
                )
            return LabelStudioError(f"Label Studio at {self.url}, {what}: HTTP {status}: {_detail(exc.body)}")
        return LabelStudioError(f"Label Studio at {self.url}, {what}: {type(exc).__name__}: {exc}")

    def _call(self, what: str, fn: Callable[[], Any], *, creates: bool = False) -> Any:
        """Run ``fn`` with retries. ``creates``: the request creates something, so it is retried only when the
        server cannot have acted on it."""
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        started = time.monotonic()
        last = ""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return fn()
            except ApiError as exc:
                status = exc.status_code or 0
                retry_ok = status in (SAFE_RETRY_STATUSES if creates else RETRY_STATUSES)
                if not retry_ok:
                    raise self._translate(exc, what) from None
                last = f"HTTP {status}: {_detail(exc.body)}"
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = f"cannot connect ({exc or type(exc).__name__})"
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__} ({exc or 'no answer'})"
                if creates:
                    raise LabelStudioUnavailable(
                        f"Label Studio at {self.url}, {what}: {last} after {time.monotonic() - started:.1f}s; the "
                        "request may or may not have been carried out. Run the same command again: it picks up "
                        "what already exists in Label Studio"
                    ) from None
            except ValueError as exc:  # a body that is not JSON
                raise LabelStudioError(
                    f"Label Studio at {self.url}, {what}: the answer is not JSON ({exc}); is this the Label Studio URL?"
                ) from None
            if attempt < self.retry.attempts:
                self._sleep(self.retry.wait(attempt))
        raise LabelStudioUnavailable(
            f"Label Studio at {self.url} is unreachable or failing: {what} did not succeed after "
            f"{self.retry.attempts} attempt(s) over {time.monotonic() - started:.1f}s; last error: {last}"
        )

    def _raw(self, method: str, path: str, *, params: dict | None = None, body: Any = None) -> Any:
        """One request through the SDK's HTTP client (its auth headers), with a pre-encoded JSON body; returns the
        decoded JSON answer or raises the SDK's ApiError."""
        from label_studio_sdk.core.api_error import ApiError

        http = self._sdk._client_wrapper.httpx_client  # noqa: SLF001 - label-studio-sdk 2.x (pinned <3)
        content = None
        headers = None
        if body is not None:
            content = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers = {"Content-Type": "application/json"}
        resp = http.request(
            path, method=method, params=params, content=content, headers=headers, request_options={"max_retries": 0}
        )
        if resp.status_code >= 400:
            try:
                payload = resp.json()
            except ValueError:
                payload = resp.text
            raise ApiError(status_code=resp.status_code, headers={}, body=payload)
        if not resp.content:
            return None
        return resp.json()

    # --------------------------------------------------------------------------------------------------- calls
    def whoami(self) -> dict:
        """The token's user: ``{"id", "email"}``. A cheap check of the URL and the token."""
        data = self._call("checking the token", lambda: self._raw("GET", "api/current-user/whoami"))
        if not isinstance(data, dict) or "id" not in data:
            raise LabelStudioError(f"{self.url} does not answer like Label Studio (api/current-user/whoami)")
        return {"id": data["id"], "email": data.get("email") or data.get("username") or ""}

    def create_project(self, title: str, description: str, label_config: str) -> int:
        p = self._call(
            "creating the project",
            lambda: self._sdk.projects.create(title=title, description=description, label_config=label_config),
            creates=True,
        )
        return int(p.id)

    def get_project(self, project_id: int) -> dict | None:
        """The project (id, title, task_number, ...) or None when it does not exist (any more)."""
        from label_studio_sdk.core.api_error import ApiError

        def get():
            try:
                return self._raw("GET", f"api/projects/{int(project_id)}/")
            except ApiError as exc:
                if exc.status_code == 404:
                    return None
                raise

        return self._call(f"reading project {project_id}", get)

    def find_projects(self, title: str) -> list[int]:
        """Ids of the projects with exactly this title (to reconcile after an interrupted create)."""
        out: list[int] = []
        page = 1
        while True:
            data = self._call(
                "listing projects",
                lambda p=page: self._raw("GET", "api/projects/", params={"title": title, "page": p, "page_size": 100}),
            )
            items = data.get("results", []) if isinstance(data, dict) else (data or [])
            out += [int(x["id"]) for x in items if x.get("title") == title]
            if not isinstance(data, dict) or not data.get("next"):
                return out
            page += 1

    def import_tasks(self, project_id: int, tasks: list[dict]) -> list[int]:
        """Create tasks (``[{"data": {...}}, ...]``); returns their ids in the same order."""
        res = self._call(
            f"importing {len(tasks)} tasks",
            lambda: self._raw(
                "POST", f"api/projects/{int(project_id)}/import", params={"return_task_ids": "true"}, body=tasks
            ),
            creates=True,
        )
        ids = [int(i) for i in (res or {}).get("task_ids") or []]
        if len(ids) != len(tasks):
            raise LabelStudioError(
                f"Label Studio at {self.url} created {len(ids)} of {len(tasks)} tasks in project {project_id}; run "
                "the same push again to complete it"
            )
        return ids

    def import_predictions(self, project_id: int, predictions: list[dict]) -> int:
        """Attach predictions (``[{"task": id, "result": [...], "model_version": ...}, ...]``)."""
        res = self._call(
            f"importing {len(predictions)} predictions",
            lambda: self._raw("POST", f"api/projects/{int(project_id)}/import/predictions", body=predictions),
            creates=True,
        )
        return int((res or {}).get("created", len(predictions)))

    def list_tasks(self, project_id: int, *, page_size: int = 1000) -> list[dict]:
        """Every task of a project: id, data, total_annotations, total_predictions (no annotations)."""
        from label_studio_sdk.core.api_error import ApiError

        out: list[dict] = []
        page = 1
        while True:
            def get(p=page):
                try:
                    return self._raw(
                        "GET",
                        "api/tasks/",
                        params={"project": int(project_id), "page": p, "page_size": page_size, "fields": "task_only"},
                    )
                except ApiError as exc:  # past the last page
                    if exc.status_code == 404 and p > 1:
                        return {"tasks": []}
                    raise

            data = self._call(f"listing the tasks of project {project_id}", get)
            items = data.get("tasks", data.get("results", [])) if isinstance(data, dict) else (data or [])
            out += items
            total = data.get("total") if isinstance(data, dict) else None
            if len(items) < page_size or (total is not None and len(out) >= total):
                return out
            page += 1

    def export(self, project_id: int, *, all_tasks: bool = False) -> list[dict]:
        """Tasks with their annotations (JSON export); only annotated tasks unless ``all_tasks``."""
        params = {"exportType": "JSON", "download_all_tasks": "true" if all_tasks else "false"}
        data = self._call(
            f"exporting the annotations of project {project_id}",
            lambda: self._raw("GET", f"api/projects/{int(project_id)}/export", params=params),
        )
        if not isinstance(data, list):
            raise LabelStudioError(f"Label Studio at {self.url}: unexpected export answer for project {project_id}")
        return data

    def users(self) -> dict[int, str]:
        """{user id: email} of the organization (to name annotators); empty when not allowed."""
        from label_studio_sdk.core.api_error import ApiError

        def get():
            try:
                return self._raw("GET", "api/users/")
            except ApiError as exc:
                if exc.status_code in (403, 404):
                    return []
                raise

        data = self._call("listing users", get)
        items = data.get("results", []) if isinstance(data, dict) else (data or [])
        return {int(u["id"]): (u.get("email") or u.get("username") or f"user {u['id']}") for u in items}

    def update_project(self, project_id: int, settings: dict) -> dict:
        """Change project settings (``PATCH api/projects/ID/``): instructions, overlap, model version, ..."""
        return self._call(f"configuring project {project_id}",
                          lambda: self._raw("PATCH", f"api/projects/{int(project_id)}/", body=settings))

    def update_task_data(self, task_id: int, data: dict) -> None:
        """Replace a task's data (``PATCH api/tasks/ID/``); its annotations and predictions stay."""
        self._call(f"updating task {task_id}",
                   lambda: self._raw("PATCH", f"api/tasks/{int(task_id)}/", body={"data": data}))

    def views(self, project_id: int) -> list[dict]:
        """The project's data manager tabs (views)."""
        data = self._call(f"listing the views of project {project_id}",
                          lambda: self._raw("GET", "api/dm/views/", params={"project": int(project_id)}))
        return data if isinstance(data, list) else (data or {}).get("results", [])

    def create_view(self, project_id: int, data: dict) -> int:
        """A data manager tab: ``data`` holds its title, hidden columns, ordering, ..."""
        v = self._call(f"creating a view of project {project_id}",
                       lambda: self._raw("POST", "api/dm/views/", body={"project": int(project_id), "data": data}),
                       creates=True)
        return int(v["id"])

    # ------------------------------------------------------------------- what a reviewer does (tests, benchmark)
    def create_annotation(self, task_id: int, result: list[dict], *, completed_by: int | None = None) -> dict:
        body: dict[str, Any] = {"result": result}
        if completed_by is not None:
            body["completed_by"] = completed_by
        return self._call(
            f"annotating task {task_id}",
            lambda: self._raw("POST", f"api/tasks/{int(task_id)}/annotations/", body=body),
            creates=True,
        )

    def update_annotation(self, annotation_id: int, result: list[dict]) -> dict:
        return self._call(
            f"updating annotation {annotation_id}",
            lambda: self._raw("PATCH", f"api/annotations/{int(annotation_id)}/", body={"result": result}),
        )

    def create_user(self, email: str, password: str) -> int:
        """Create a user (admin token) or return the existing one's id."""
        for uid, mail in self.users().items():
            if mail == email:
                return uid
        u = self._call(
            f"creating user {email}",
            lambda: self._raw("POST", "api/users/", body={"email": email, "username": email.split("@")[0],
                                                          "password": password}),
            creates=True,
        )
        return int(u["id"])

    def delete_project(self, project_id: int) -> None:
        self._call(f"deleting project {project_id}", lambda: self._raw("DELETE", f"api/projects/{int(project_id)}/"))


def connect(url: str | None = None, *, token: str | None = None, retry: RetryPolicy | None = None) -> LabelStudioClient:
    """A client for ``url`` (or ``TAXO_LABEL_STUDIO_URL``) with the token from ``TAXO_LABEL_STUDIO_TOKEN``."""
    return LabelStudioClient(resolve_url(url), token or token_from_env(), retry=retry)


K = TypeVar("K", bound=Hashable)


def tasks_by_key(client: LabelStudioClient, project_id: int, key: Callable[[dict], K | None]) -> dict[K, dict]:
    """The project's tasks by ``key(task data)`` (None: not a task of ours), e.g. to find what an interrupted
    import left; a later task with the same key wins."""
    out: dict[K, dict] = {}
    for task in client.list_tasks(project_id):
        k = key(task.get("data") or {})
        if k is not None:
            out[k] = task
    return out


def import_tasks_resumably(
    client: LabelStudioClient,
    project_id: int,
    pending: Sequence[tuple[K, dict]],
    *,
    record: Callable[[list[tuple[K, int]]], None],
    existing: Mapping[K, dict] | None = None,
    chunk: int = 1000,
) -> tuple[list[tuple[K, int]], list[tuple[K, int]]]:
    """Import the tasks ``pending`` (``[(key, task data)]``) so that an interruption loses nothing: a key of
    ``existing`` (``{key: task}`` from :func:`tasks_by_key`: left by an interrupted import) is adopted, not imported
    again; the others are sent ``chunk`` at a time. ``record([(key, task id), ...])`` is called for the adopted tasks
    and after each request, so that the next run knows them. Returns (adopted, created), each ``[(key, task id)]``
    in the order of ``pending``."""
    existing = existing or {}
    adopted = [(k, int(existing[k]["id"])) for k, _ in pending if k in existing]
    if adopted:
        record(adopted)
    todo = [(k, data) for k, data in pending if k not in existing]
    created: list[tuple[K, int]] = []
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        ids = client.import_tasks(project_id, [{"data": data} for _, data in part])
        pairs = [(k, tid) for (k, _), tid in zip(part, ids, strict=True)]
        record(pairs)
        created += pairs
    return adopted, created
