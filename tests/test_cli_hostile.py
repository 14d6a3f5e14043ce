"""Every ``myna`` command, given hostile arguments, ends with a message — never a traceback.

The commands are found by walking the CLI itself, so a command added later is
covered without touching this file.  Each is run against a small demo
installation with missing paths, unknown ids, empty strings, zero and negative
sizes, junk and undecodable text, and must end with an exit code and, when it
refuses, a message in Japanese and English.
"""

from __future__ import annotations

import json
import re
import shutil
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from typer.main import get_command
from typer.testing import CliRunner

from myna.cli import app
from myna.system import MynaSystem

runner = CliRunner()

#: Commands that would start a server or run for minutes with valid input; they are
#: still run, but only with arguments that must be refused before any of that.
LONG_RUNNING = {("serve",), ("cluster",), ("demo",), ("bench", "linkage"),
                ("bench", "merkle"), ("bench", "numbering"), ("bench", "demo")}


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    found = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found.append((path, command))

    walk(get_command(app), ())
    return found


COMMANDS = _commands()


@pytest.fixture(scope="module")
def installation(shared_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the shared demo: the hostile runs may change it, and nothing here relies
    on what it holds beyond there being towns, cards and letters to refer to."""
    data = tmp_path_factory.mktemp("hostile") / "data"
    shutil.copytree(shared_demo, data)
    yield data
    shutil.rmtree(data, ignore_errors=True)


def _kind(annotation: Any) -> Any:
    """``int`` for ``int``, ``int | None`` and ``list[int]``; likewise ``Path``, ``str``."""
    for arg in (*typing.get_args(annotation), annotation):
        if arg in (int, str, bool, Path):
            return arg
        inner = typing.get_args(arg)
        if inner and inner[0] in (int, str, Path):
            return inner[0]
    return str


def _value(param: Any, scenario: str, data: Path, missing: Path) -> str | None:
    """A hostile value for one parameter in one scenario (None: leave it out)."""
    name = param.name or ""
    if name == "data_dir":
        return str(missing) if scenario == "missing-data-dir" else str(data)
    kind = _kind(param.type_descriptor.annotation)
    if kind is bool:
        return None
    if not param.required and scenario not in ("zero-and-negative", "junk", "missing-paths"):
        return None
    if kind is int:
        return {"zero-and-negative": "-1", "empty": "0", "junk": "9" * 30}.get(scenario, "0")
    if kind is Path:
        return str(missing / "out.bin")
    return {"empty": "", "junk": "hoge\u202e\x00", "zero-and-negative": "-1",
            "undecodable": "\udcff\udcfe", "missing-data-dir": "x"}.get(scenario, "hoge")


def _argv(path: tuple[str, ...], command: Any, scenario: str, data: Path,
          missing: Path) -> list[str]:
    argv = list(path)
    positional: list[str] = []
    for param in command.params:
        value = _value(param, scenario, data, missing)
        if value is None:
            continue
        if param.param_type_name == "argument":
            positional.append(value)
        else:
            argv += [param.opts[0], value]
    if path == ("serve",):
        argv += ["--node", "hoge"]
    return argv + positional


SCENARIOS = ["empty", "junk", "zero-and-negative", "undecodable", "missing-paths",
             "missing-data-dir"]
#: The long-running commands get only the scenarios whose values they must refuse at once.
REFUSED_AT_ONCE = ("zero-and-negative", "junk")
CASES = [pytest.param(path, command, scenario, id=f"{' '.join(path)}-{scenario}")
         for path, command in COMMANDS for scenario in SCENARIOS
         if path not in LONG_RUNNING or scenario in REFUSED_AT_ONCE]
TRACE = re.compile(r"Traceback|File \"|^\s+raise ", re.M)


@pytest.mark.parametrize(("path", "command", "scenario"), CASES)
def test_no_command_shows_a_traceback(
    installation: Path, tmp_path: Path, path: tuple[str, ...], command: Any, scenario: str,
) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    argv = _argv(path, command, scenario, installation, missing)
    result = runner.invoke(app, argv, input="\n\n\n\n")
    output = result.output
    assert not TRACE.search(output), output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{argv} raised {result.exception!r}")
    if result.exit_code not in (0, 1):
        # a refusal says what was wrong, in Japanese first
        assert "エラー" in output or "Usage" in output or "使い方" in output, output
    assert not missing.exists(), f"{argv} created {missing}"


def _run(*argv: str) -> Any:
    result = runner.invoke(app, list(argv))
    assert not TRACE.search(result.output), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def _next_crl_number(installation: Path) -> int:
    """Issue a CRL and return its number (each CRL J-LIS issues gets the next one)."""
    system = MynaSystem(installation)
    try:
        crl = system.jpki.crl("issuing")
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    finally:
        system.dispose()


def test_writing_into_a_missing_folder_is_refused_before_any_work(
    installation: Path, tmp_path: Path,
) -> None:
    missing = tmp_path / "nonexistent" / "file"
    data = str(installation)
    number_before = _next_crl_number(installation)
    for argv in (["notify", "letter", "--id", "1", "--out", str(missing)],
                 ["card", "render", "000000000000", "--out", str(missing)],
                 ["jpki", "crl", "--out", str(missing)]):
        result = _run(*argv, "--data-dir", data)
        assert result.exit_code == 2, result.output
        said = " ".join(result.output.split())
        assert "フォルダ" in said and "does not exist" in said
    assert _next_crl_number(installation) == number_before + 1  # only these two made CRLs


def test_named_refusals_say_what_was_wrong(installation: Path) -> None:
    data = str(installation)
    revoke = _run("jpki", "revoke", "1234", "hoge", "--data-dir", data)
    said = " ".join(revoke.output.split())
    assert revoke.exit_code == 2
    assert "失効理由が不正です" in said and "keyCompromise" in said
    merkle = _run("bench", "merkle", "--size", "0")
    assert merkle.exit_code == 2 and "2 以上" in merkle.output
    nowhere = _run("staff", "list", "--municipality", "132152", "--data-dir", "/nonexistent/x")
    assert nowhere.exit_code == 2 and "Mynaのデータがありません" in "".join(nowhere.output.split())
    assert not Path("/nonexistent/x").exists()


def test_more_refusals_found_by_trying(installation: Path) -> None:
    import socket

    data = str(installation)
    cards = json.loads(_run("card", "list", "--json", "--status", "active",
                            "--data-dir", data).stdout)
    number = cards[0]["card_number"]
    hidden = _run("card", "suspend", number, "--note", "xy\u202e", "--data-dir", data)
    assert hidden.exit_code == 2 and "U+202E" in " ".join(hidden.output.split())
    holiday = _run("card", "book", number, "--at", "2027-01-11T10:00", "--data-dir", data)
    said = " ".join(holiday.output.split())
    assert holiday.exit_code == 2 and "成人の日" in said, said
    garbage = _run("card", "book", number, "--at", "2026-13-45T10:00", "--data-dir", data)
    said = " ".join(garbage.output.split())
    assert garbage.exit_code == 2 and "日時の形式が不正です" in said and "not a date" in said
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = _run("serve", "--port", str(port), "--data-dir", data)
    said = " ".join(busy.output.split())
    assert busy.exit_code == 2 and "既に他のプログラムが使っています" in said
    too_high = _run("serve", "--port", "99999", "--data-dir", data)
    assert too_high.exit_code == 2 and "65535 以下" in too_high.output
