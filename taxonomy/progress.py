"""Progress reporting. Library functions take an optional ``progress`` object; the CLI passes a rich one."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Protocol


class Step(Protocol):
    def update(self, completed: int, total: int | None = None) -> None: ...


class Progress(Protocol):
    def step(self, description: str, total: int | None = None) -> "contextmanager[Step]": ...  # type: ignore[valid-type]


class _NullStep:
    def update(self, completed: int, total: int | None = None) -> None:
        pass


class NullProgress:
    """Reports nothing (the default for library calls)."""

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[_NullStep]:
        yield _NullStep()


class RichProgress:
    """Progress bars on stderr with rich; one bar per step."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )

    def __enter__(self) -> "RichProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Step]:
        task = self._progress.add_task(description, total=total)
        progress = self._progress

        class _Step:
            def update(self, completed: int, total: int | None = None) -> None:
                progress.update(task, completed=completed, total=total if total is not None else None)

        yield _Step()
        t = progress.tasks[[x.id for x in progress.tasks].index(task)]
        progress.update(task, completed=t.total if t.total is not None else 1, total=t.total or 1)
