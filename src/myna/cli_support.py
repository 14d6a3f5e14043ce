"""What every ``myna`` command shares: consoles, errors, progress bars, the system."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from myna.errors import MynaError

if TYPE_CHECKING:
    from myna.system import MynaSystem

out = Console()
err = Console(stderr=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="データディレクトリ (data directory)")]


def fail(exc: MynaError) -> NoReturn:
    """Print the error in Japanese (and English for developers) and exit with code 2."""
    err.print(f"[red]エラー:[/red] {exc.message_ja}")
    if exc.message_en != exc.message_ja:
        err.print(f"[dim]{exc.message_en}[/dim]")
    raise typer.Exit(2)


@contextlib.contextmanager
def opened_system(data_dir: Path, database_url: str | None = None) -> Iterator[MynaSystem]:
    """The installation in ``data_dir``; a MynaError inside ends the command cleanly."""
    from myna.system import MynaSystem

    try:
        system = MynaSystem(data_dir, database_url)
    except MynaError as exc:
        fail(exc)
    try:
        yield system
    except MynaError as exc:
        fail(exc)
    finally:
        system.dispose()


@contextlib.contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """Rich progress bars on stderr; yields a factory (task, total) -> advance."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, disable=not enabled, transient=False,
    ) as bars:
        def factory(name: str, total: int) -> Callable[[int], None]:
            task = bars.add_task(name, total=total)
            return lambda n: bars.advance(task, n)

        yield factory
