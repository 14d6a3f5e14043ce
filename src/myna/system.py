"""Wiring: the nodes of one Myna installation, from its data directory.

``system.json`` in the data directory lists the municipalities and, per node,
an optional database URL (SQLite files are used when none is given).  Keys
live in ``keys/`` under the data directory (see :mod:`myna.keys`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from myna.db import make_engine, node_url
from myna.errors import NotFound
from myna.jlis.service import JlisService
from myna.keys import FileKeyStore, KeyStore
from myna.numbers import municipality_code
from myna.registry.service import MunicipalityRegistry

CONFIG = "system.json"


@dataclass
class SystemConfig:
    municipalities: list[str] = field(default_factory=list)
    database_url: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {"municipalities": self.municipalities, "database_url": self.database_url},
            ensure_ascii=False, indent=2,
        )


class MynaSystem:
    """J-LIS plus the municipalities of one installation, connected in-process."""

    def __init__(
        self, data_dir: Path | str, database_url: str | None = None,
        keys: KeyStore | None = None, namespace: str = "",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.namespace = namespace
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = self._load_config()
        if database_url:
            self.config.database_url = database_url
        self.keys = keys or FileKeyStore(self.data_dir / "keys")
        self.jlis = JlisService(self._engine("jlis"), self.keys)
        self.jlis.create_schema()
        self.registries: dict[str, MunicipalityRegistry] = {}
        for code in self.config.municipalities:
            self._open_registry(code)

    def _load_config(self) -> SystemConfig:
        path = self.data_dir / CONFIG
        if not path.exists():
            return SystemConfig()
        data = json.loads(path.read_text(encoding="utf-8"))
        return SystemConfig(list(data.get("municipalities", [])), data.get("database_url"))

    def save_config(self) -> None:
        (self.data_dir / CONFIG).write_text(self.config.to_json(), encoding="utf-8")

    def _engine(self, node: str):  # type: ignore[no-untyped-def]
        url = node_url(self.data_dir, node, self.config.database_url)
        return make_engine(url, self.namespace + node)

    def _open_registry(self, code: str) -> MunicipalityRegistry:
        registry = MunicipalityRegistry(self._engine(f"registry-{code}"), code, self.jlis)
        registry.create_schema()
        self.registries[registry.code] = registry
        return registry

    def add_municipality(self, code: str) -> MunicipalityRegistry:
        """Open (creating when new) the registry of a municipality."""
        code = municipality_code.lookup(code).code
        if code in self.registries:
            return self.registries[code]
        registry = self._open_registry(code)
        self.config.municipalities.append(code)
        self.save_config()
        return registry

    def registry(self, code: str) -> MunicipalityRegistry:
        try:
            return self.registries[code]
        except KeyError:
            raise NotFound(
                f"市区町村コード {code} はこのシステムに登録されていません",
                f"municipality {code} is not part of this installation",
            ) from None

    def dispose(self) -> None:
        self.jlis.engine.dispose()
        for r in self.registries.values():
            r.engine.dispose()
