"""Organisations meet only through ``myna.contracts``: an import from one
organisation's code into another's is a bug.

Every module of ``src/myna`` belongs to one organisation, to the shared kernel, or
to the wiring that builds nodes (the installation, the node host, the CLI, the
demo, benchmarks and the auditor's cross-node check, which open several nodes'
databases by design).  An organisation's module may import the kernel, the
contracts and its own organisation; nothing else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "myna"

#: top-level package or module → the organisation it belongs to
ORGANISATIONS = {
    "registry": "municipality", "atena": "municipality", "web": "municipality",
    "municipality": "municipality", "town": "municipality",
    "jlis": "jlis", "jpki": "jlis", "card": "jlis", "notify": "jlis",
    "hub": "hub",
    "intermediate": "intermediate",
    "commission": "commission",
}
#: what wires organisations together (may import anything)
WIRING = {"system", "nodes", "cli", "cli_support", "check", "cluster", "demo", "bench",
          "link_cli", "__main__"}
#: an organisation's command line and demo data open the installation: wiring too
WIRING_MODULES = {"cli", "wiring", "sample"}

#: imports across organisations still to be routed through a contract, as
#: (importing module, imported module): none is left, and a new one fails the test
KNOWN: dict[tuple[str, str], str] = {}


def _owner(module: str) -> str:
    """The organisation of ``myna.<top>…``; "kernel" for shared code, "wiring" for wiring."""
    parts = module.split(".")
    top = parts[1] if parts[0] == "myna" and len(parts) > 1 else parts[0]
    if top in WIRING or (len(parts) > 2 and parts[-1] in WIRING_MODULES):
        return "wiring"
    return ORGANISATIONS.get(top, "kernel")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("myna.")}
        elif (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
              and node.module.startswith("myna.")):
            found.add(node.module)
    return found


def _crossings() -> dict[tuple[str, str], str]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        module = _module_name(path)
        owner = _owner(module)
        if owner in ("kernel", "wiring"):
            continue
        for imported in _imports(path):
            target = _owner(imported)
            if target in ("kernel", owner) or imported.startswith("myna.contracts"):
                continue
            out[(module, imported)] = f"{owner} → {target}"
    return out


def test_kernel_and_contracts_import_no_organisation() -> None:
    """The kernel and the contracts are shared by every node: they depend on none."""
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        if _owner(module) != "kernel" or "migrations" in path.parts:
            continue
        for imported in _imports(path):
            if _owner(imported) not in ("kernel",):
                bad.append(f"{module} imports {imported}")
    assert bad == []


def test_organisations_meet_only_through_contracts() -> None:
    crossings = _crossings()
    new = {k: v for k, v in crossings.items() if k not in KNOWN}
    assert new == {}, "imports across organisations (use myna.contracts):\n" + "\n".join(
        f"  {a} imports {b} ({why})" for (a, b), why in sorted(new.items()))


def test_known_crossings_are_still_real() -> None:
    """An entry of KNOWN that no longer happens is removed, so the list only shrinks."""
    gone = sorted(set(KNOWN) - set(_crossings()))
    assert gone == []


@pytest.mark.parametrize(("module", "owner"), [
    ("myna.registry.core", "municipality"), ("myna.card.lifecycle.service", "jlis"),
    ("myna.hub.service", "hub"), ("myna.numbers.individual", "kernel"),
    ("myna.contracts.jlis", "kernel"), ("myna.system", "wiring"),
])
def test_every_module_has_an_owner(module: str, owner: str) -> None:
    assert _owner(module) == owner


#: the provision log and its witness: a library of the kernel, but only the hub (which
#: keeps the log) and the protection commission (its witness and audit) use it
LOG_USERS = {"hub", "commission"}


def test_only_the_hub_and_the_commission_use_the_provision_log() -> None:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        owner = _owner(module)
        if owner in ("kernel", "wiring") or owner in LOG_USERS or "migrations" in path.parts:
            continue
        bad += [f"{module} imports {imported}" for imported in _imports(path)
                if imported.startswith(("myna.transparency.service",
                                        "myna.transparency.witness",
                                        "myna.transparency.verify"))]
    assert bad == []
