"""What every ``myna`` command shares: consoles, errors, progress bars, the system.

No command ever shows a Python traceback: :class:`GuardedGroup` turns every
exception into a message in Japanese and English and a non-zero exit code —
2 for bad input or a refused operation (:class:`~myna.errors.MynaError`, a file
that cannot be read or written, a database that cannot be reached), 70 for an
error nobody expected, with its class and where it happened but never its
message (which may quote a number or a name).  ``MYNA_DEBUG=1`` shows the
traceback instead, for developers.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperGroup

from myna.errors import MynaError, NotFound, Unavailable, ValidationError
from myna.transport.guard import describe, where

if TYPE_CHECKING:
    from myna.system import MynaSystem

out = Console()
err = Console(stderr=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="データディレクトリ (data directory)")]


#: Exit code of an error nobody expected (BSD's EX_SOFTWARE).
UNEXPECTED = 70

_ERRNO_JA = {
    errno.ENOENT: "ファイルまたはフォルダがありません",
    errno.ENOTDIR: "途中のフォルダがありません（またはフォルダではありません）",
    errno.EISDIR: "フォルダです（ファイル名を指定してください）",
    errno.EACCES: "権限がありません",
    errno.EPERM: "権限がありません",
    errno.ENOSPC: "ディスクの空きがありません",
    errno.EROFS: "読み取り専用の場所です",
    errno.EEXIST: "既にあります",
    errno.ENAMETOOLONG: "名前が長すぎます",
}


def file_error(exc: OSError) -> MynaError:
    """A failed file operation, said plainly.

    >>> file_error(FileNotFoundError(2, "No such file or directory", "/nonexist/x.pdf")).message
    'ファイルを扱えません: /nonexist/x.pdf（ファイルまたはフォルダがありません） (cannot use \
/nonexist/x.pdf: No such file or directory)'
    """
    reason = _ERRNO_JA.get(exc.errno or -1, exc.strerror or type(exc).__name__)
    english = exc.strerror or type(exc).__name__
    if exc.filename is None:  # a socket, a pipe …
        return Unavailable(f"システムの操作に失敗しました（{reason}）",
                           f"system call failed: {english}")
    return ValidationError(f"ファイルを扱えません: {exc.filename}（{reason}）",
                           f"cannot use {exc.filename}: {english}")


def fail(exc: MynaError) -> NoReturn:
    """Print the error in Japanese (and English for developers) and exit with code 2."""
    err.print(f"[red]エラー:[/red] {exc.message_ja}", highlight=False)
    if exc.message_en != exc.message_ja:
        err.print(f"[dim]{exc.message_en}[/dim]", highlight=False)
    raise typer.Exit(2)


def unexpected(exc: BaseException) -> NoReturn:
    """An error nobody expected: its class and place, never its message; exit code 70."""
    err.print("[red]エラー:[/red] 予期しないエラーが発生しました。操作は完了していない"
              "可能性があります。続く場合は、次の内容を添えて管理者に連絡してください",
              highlight=False)
    err.print(f"[dim]unexpected error {describe(exc)} at {where(exc)}[/dim]", highlight=False)
    raise typer.Exit(UNEXPECTED)


_USAGE_JA: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), ja) for pattern, ja in (
        (r"^Missing option '([^']+)'", "オプション {0} を指定してください"),
        (r"^Missing argument '([^']+)'", "引数 {0} を指定してください"),
        (r"^Missing parameter: (\S+)", "{0} を指定してください"),
        (r"^No such option: (\S+)", "オプション {0} はありません"),
        (r"^No such command '([^']+)'", "コマンド {0} はありません"),
        (r"^Got unexpected extra arguments? \((.*)\)", "余分な引数があります: {0}"),
        (r"^Invalid value for ([^:]+): (.*[^\x00-\x7f].*)", "{0}: {1}"),  # ours, in Japanese
        (r"^Invalid value for ([^:]+): .*greater than or equal to (\S+)",
         "{0} には {1} 以上を指定してください"),
        (r"^Invalid value for ([^:]+): .*less than or equal to (\S+)",
         "{0} には {1} 以下を指定してください"),
        (r"^Invalid value for ([^:]+): .*not a valid integer", "{0} には整数を指定してください"),
        (r"^Invalid value for ([^:]+): .*(?:valid|does not exist|is a directory)",
         "{0} の値が正しくありません"),
        (r"^Invalid value for ([^:]+): (.*)", "{0} の値が正しくありません: {1}"),
        (r"^Option '([^']+)' requires an argument", "オプション {0} には値が必要です"),
        (r"^Invalid value: (.*)", "{0}"),
    )
)


def usage_ja(english: str) -> str:
    """Click's usage error in Japanese (the English stays beside it).

    >>> usage_ja("Invalid value for '--size': Input should be greater than or equal to 2")
    "'--size' には 2 以上を指定してください"
    """
    for pattern, ja in _USAGE_JA:
        match = pattern.search(english)
        if match:
            return ja.format(*match.groups())
    return "コマンドの指定が正しくありません"


def usage_error(exc: typer.TyperException) -> NoReturn:
    """A usage error in both languages, with where to find help; exit code 2."""
    english = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    err.print(f"[red]エラー:[/red] {usage_ja(english)}", highlight=False)
    if str(getattr(exc, "message", "")).isascii():  # ours carry both languages already
        err.print(Text(english, style="dim"), highlight=False)
    if ctx is not None:
        err.print(f"使い方は [bold]{ctx.command_path} --help[/bold] で確認できます",
                  highlight=False)
    raise typer.Exit(2)


class GuardedGroup(TyperGroup):
    """The root command group: whatever a command raises ends as a message, not a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "ctx"):
                raise  # help shown for a bare command group, or not a usage error
            usage_error(exc)
        except MynaError as exc:
            fail(exc)
        except OSError as exc:
            fail(file_error(exc))
        except SQLAlchemyError as exc:
            fail(Unavailable(
                f"データベースの操作に失敗しました（{type(exc).__name__}）。変更は保存されて"
                "いません。データディレクトリ・--database-url とデータベースの状態を確認して"
                "ください",
                f"database operation failed ({describe(exc)}); nothing was changed",
            ))
        except KeyboardInterrupt:
            err.print("中断しました (interrupted)")
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            if os.environ.get("MYNA_DEBUG"):
                raise
            unexpected(exc)


def ensure_port_free(host: str, port: int) -> None:
    """Say plainly, before starting a server, that the address is taken or not ours."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        reason = _ERRNO_JA.get(exc.errno or -1, exc.strerror or "")
        if exc.errno == errno.EADDRINUSE:
            reason = "既に他のプログラムが使っています"
        fail(Unavailable(f"{host}:{port} で待ち受けられません（{reason}）。--port で別のポートを"
                         "指定してください",
                         f"cannot listen on {host}:{port}: {exc.strerror}"))


def output_folder(value: Path) -> Path:
    """Typer callback for a folder to write into: it may be new, its parent may not."""
    if value.exists() and not value.is_dir():
        raise typer.BadParameter(f"{value}: フォルダではありません ({value} is not a directory)")
    if not value.exists() and not value.parent.is_dir():
        raise typer.BadParameter(f"{value}: フォルダ {value.parent} がありません "
                                 f"(folder {value.parent} does not exist)")
    return value


def output_file(value: Path | None) -> Path | None:
    """Typer callback for an ``--out`` file: refuse it *before* any work is done.

    The folder must exist and be writable, and the path must not be a folder.
    """
    if value is None:
        return None
    problem = None
    if value.is_dir():
        problem = ("フォルダです。書き出すファイルの名前を指定してください",
                   "is a directory; give a file name")
    elif not value.parent.is_dir():
        problem = (f"フォルダ {value.parent} がありません", f"folder {value.parent} does not exist")
    elif not os.access(value.parent, os.W_OK) or (value.exists()
                                                   and not os.access(value, os.W_OK)):
        problem = ("書き込む権限がありません", "not writable")
    if problem:
        raise typer.BadParameter(f"{value}: {problem[0]} ({problem[1]})")
    return value


def require_installation(data_dir: Path) -> None:
    """Refuse a data directory without ``system.json`` (no installation there)."""
    from myna.config import CONFIG

    if not (data_dir / CONFIG).is_file():
        fail(NotFound(
            f"{data_dir} にはMynaのデータがありません（{CONFIG} がありません）。"
            "--data-dir を確認するか、myna demo で作成してください",
            f"{data_dir} holds no Myna installation (no {CONFIG}); check --data-dir "
            "or create one with 'myna demo'",
        ))


@contextlib.contextmanager
def opened_system(data_dir: Path, database_url: str | None = None,
                  repair: bool = True) -> Iterator[MynaSystem]:
    """The installation in ``data_dir``; a MynaError inside ends the command cleanly.

    A directory that holds no installation is refused rather than silently turned
    into a new, empty one (with new keys) — it is almost always a mistyped path.
    ``repair=False`` (audits) leaves records a crash left without leaves as they are.
    """
    from myna.system import MynaSystem

    require_installation(data_dir)
    try:
        system = MynaSystem(data_dir, database_url, repair=repair)
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
