"""Key management: the one place where every node's secret keys live.

Code asks a :class:`KeyStore` for a key by name; it never embeds key material.
The default :class:`FileKeyStore` keeps one file per key (mode 0600) under the
data directory; :class:`MemoryKeyStore` serves tests.  A hardware security
module would implement the same interface.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from myna.errors import ValidationError

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,100}(/[a-z0-9][a-z0-9._-]{0,100})*$")


class KeyStore(Protocol):
    """Where nodes get their keys."""

    def secret(self, name: str, length: int = 32) -> bytes:
        """The symmetric key ``name``; created at random on first use, never replaced."""
        ...

    def ed25519(self, name: str) -> Ed25519PrivateKey:
        """The Ed25519 signing key ``name``; created on first use."""
        ...


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValidationError(
            f"鍵の名前が不正です: {name!r}", f"invalid key name {name!r}"
        )


class MemoryKeyStore:
    """Keys held in memory only (tests, throwaway demos)."""

    def __init__(self) -> None:
        self._secrets: dict[str, bytes] = {}
        self._ed: dict[str, Ed25519PrivateKey] = {}

    def secret(self, name: str, length: int = 32) -> bytes:
        _check_name(name)
        key = self._secrets.setdefault(name, secrets.token_bytes(length))
        if len(key) != length:
            raise ValidationError(
                f"鍵 {name} の長さが違います", f"key {name} has {len(key)} bytes, not {length}"
            )
        return key

    def ed25519(self, name: str) -> Ed25519PrivateKey:
        _check_name(name)
        return self._ed.setdefault(name, Ed25519PrivateKey.generate())


class FileKeyStore:
    """One file per key under ``root``, readable only by the owner."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, name: str, suffix: str) -> Path:
        _check_name(name)
        return self.root / (name + suffix)

    def _read_or_create(self, path: Path, make: bytes) -> bytes:
        if path.exists():
            return path.read_bytes()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, make)
        finally:
            os.close(fd)
        return make

    def secret(self, name: str, length: int = 32) -> bytes:
        key = self._read_or_create(self._path(name, ".key"), secrets.token_bytes(length))
        if len(key) != length:
            raise ValidationError(
                f"鍵ファイル {name} が壊れています", f"key file {name} has {len(key)} bytes"
            )
        return key

    def ed25519(self, name: str) -> Ed25519PrivateKey:
        fresh = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        pem = self._read_or_create(self._path(name, ".pem"), fresh)
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValidationError(
                f"鍵ファイル {name} は Ed25519 鍵ではありません", f"{name} is not an Ed25519 key"
            )
        return key
