"""The services and the HTTP clients implement the contracts, and the staff screens and the
contracts keep to what they may import.

The annotated assignments are checked by mypy (``mypy tests/test_contracts.py``);
the tests check at run time that each implementation has every call of its contract.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from myna.contracts import hub as hub_contract
from myna.contracts import intermediate as intermediate_contract
from myna.contracts.hub import HubApi
from myna.contracts.intermediate import IntermediateApi
from myna.hub.service import HubService
from myna.intermediate.service import IntermediateServer
from myna.system import MynaSystem
from myna.transport.hub_client import HubClient
from myna.transport.intermediate_client import IntermediateClient

SRC = Path(__file__).parents[1] / "src" / "myna"


def test_the_services_are_the_contracts(system: MynaSystem) -> None:
    town = system.add_municipality("132152")
    hub: HubApi = system.hub
    server: IntermediateApi = system.intermediates[f"municipality-{town.code}"]
    assert isinstance(hub, HubService) and isinstance(server, IntermediateServer)


def _clients_are_the_contracts(hub: HubClient, server: IntermediateClient
                               ) -> tuple[HubApi, IntermediateApi]:
    """Never called: mypy checks that the clients implement the contracts."""
    return hub, server


def _calls(protocol: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(protocol, inspect.isfunction)
            if not name.startswith("_")}


@pytest.mark.parametrize(("protocol", "implementations"), [
    (HubApi, (HubService, HubClient)),
    (IntermediateApi, (IntermediateServer, IntermediateClient)),
], ids=["hub", "intermediate"])
def test_every_call_of_a_contract_is_implemented(protocol: type,
                                                 implementations: tuple[type, ...]) -> None:
    calls = _calls(protocol)
    assert calls
    for implementation in implementations:
        missing = {c for c in calls if not callable(getattr(implementation, c, None))}
        assert not missing, (implementation.__name__, missing)
        for name in calls:  # the same parameter names, so keyword calls work everywhere
            wanted = list(inspect.signature(getattr(protocol, name)).parameters)
            given = list(inspect.signature(getattr(implementation, name)).parameters)
            assert given[:len(wanted)] == wanted, (implementation.__name__, name, given)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


@pytest.mark.parametrize("module", [hub_contract, intermediate_contract],
                         ids=["hub", "intermediate"])
def test_contracts_import_only_the_kernel(module: object) -> None:
    kernel = ("myna.numbers", "myna.errors", "myna.clock", "myna.events", "myna.linkage",
              "myna.contracts")
    path = Path(str(getattr(module, "__file__", "")))
    for name in _imports(path):
        if name.startswith("myna"):
            assert name.startswith(kernel), (path.name, name)
        assert not name.startswith("sqlalchemy"), (path.name, name)


def test_the_linkage_screens_use_only_the_contracts() -> None:
    for name in ("linkage.py", "linkage_pages.py"):
        imported = _imports(SRC / "web" / name)
        assert not {m for m in imported
                    if m.startswith(("myna.hub", "myna.intermediate"))}, (name, imported)
