"""``system.json``: which organisations an installation has and where they are.

Every node of an installation reads the same file from the data directory: the
municipalities and other institutions, an optional database URL (SQLite files
are used when none is given; on PostgreSQL every node gets its own schema), the
nodes' endpoints when they run as separate processes, and where the protection
commission's witness is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from myna.db import make_engine, node_url

CONFIG = "system.json"


@dataclass
class SystemConfig:
    """``system.json``: the installation's organisations, database and endpoints.

    ``namespace`` prefixes every node's database name (its PostgreSQL schema is
    ``myna_<namespace><node>``), so that several installations can share one
    PostgreSQL database without touching each other's tables.
    """

    municipalities: list[str] = field(default_factory=list)
    institutions: list[dict[str, str]] = field(default_factory=list)
    database_url: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    namespace: str = ""
    witness_dir: str | None = None
    witness_key: str | None = None

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "municipalities": self.municipalities, "institutions": self.institutions,
            "database_url": self.database_url, "endpoints": self.endpoints,
            "namespace": self.namespace}
        if self.witness_dir:
            data["witness_dir"] = self.witness_dir
        if self.witness_key:
            data["witness_key"] = self.witness_key
        return json.dumps(data, ensure_ascii=False, indent=2)

    def engine(self, data_dir: Path, node: str) -> Engine:
        """The engine of one node of this installation (its SQLite file or schema)."""
        return make_engine(node_url(data_dir, node, self.database_url), self.namespace + node)


def read_config(data_dir: Path | str) -> SystemConfig:
    """The installation's configuration (an empty one where there is no file yet)."""
    path = Path(data_dir) / CONFIG
    if not path.exists():
        return SystemConfig()
    data = json.loads(path.read_text(encoding="utf-8"))
    return SystemConfig(list(data.get("municipalities", [])),
                        list(data.get("institutions", [])), data.get("database_url"),
                        dict(data.get("endpoints", {})), str(data.get("namespace", "")),
                        data.get("witness_dir"), data.get("witness_key"))
