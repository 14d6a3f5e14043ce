"""C2SP signed notes, checkpoints and cosignatures (pure: no I/O).

* signed note (c2sp.org/signed-note): text ending in a newline, a blank line,
  then lines ``— <key name> <base64(key ID || signature)>``; Ed25519 key IDs are
  ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``;
* checkpoint (c2sp.org/tlog-checkpoint): origin line, decimal tree size,
  base64 root hash, each ending in a newline;
* cosignature (c2sp.org/tlog-cosignature, ``cosignature/v1``, type 0x04): the
  witness signs ``"cosignature/v1\\ntime <T>\\n" || checkpoint text`` and the
  line carries ``key ID || u64 T || signature``.

>>> cp = Checkpoint("example.com/log", 3, bytes(32))
>>> print(cp.text(), end="")
example.com/log
3
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from myna.transparency.errors import MalformedNote, SignatureInvalid
from myna.transparency.merkle import HASH_SIZE

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
EM_DASH = "\u2014"
MAX_SIGNATURES = 100

_KEY_NAME = re.compile(r"^[^\s+]+$")
_ORIGIN = re.compile(r"^[^\x00-\x1f]+$")
_SIZE = re.compile(r"^(0|[1-9][0-9]{0,19})$")


def public_bytes(key: Ed25519PublicKey | Ed25519PrivateKey | bytes) -> bytes:
    """The 32 raw bytes of an Ed25519 public key (from a private or public key)."""
    if isinstance(key, bytes | bytearray):
        if len(key) != 32:
            raise MalformedNote("Ed25519 公開鍵は32バイトです", "an Ed25519 public key is 32 bytes")
        return bytes(key)
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key(key: Ed25519PublicKey | bytes) -> Ed25519PublicKey:
    """An :class:`Ed25519PublicKey` from raw bytes (or as is)."""
    if isinstance(key, Ed25519PublicKey):
        return key
    return Ed25519PublicKey.from_public_bytes(public_bytes(key))


def check_key_name(name: str) -> str:
    """Key names must be non-empty and contain no spaces or '+' (signed-note)."""
    if not name or not _KEY_NAME.match(name):
        raise MalformedNote(
            f"署名鍵の名前が不正です（空白や「+」は使えません）: {name!r}",
            f"invalid note key name {name!r}",
        )
    return name


def key_id(name: str, sig_type: int, key: Ed25519PublicKey | Ed25519PrivateKey | bytes) -> bytes:
    """``SHA-256(name || 0x0A || type || public key)[:4]``."""
    return hashlib.sha256(
        name.encode() + b"\n" + bytes([sig_type]) + public_bytes(key)
    ).digest()[:4]


def verifier_key(name: str, key: Ed25519PublicKey | Ed25519PrivateKey | bytes,
                 sig_type: int = SIG_ED25519) -> str:
    """The published verifier key string ``name+<key ID hex>+base64(type || key)``."""
    check_key_name(name)
    raw = bytes([sig_type]) + public_bytes(key)
    return f"{name}+{key_id(name, sig_type, key).hex()}+{base64.b64encode(raw).decode()}"


def parse_verifier_key(vkey: str) -> tuple[str, int, Ed25519PublicKey]:
    """``(name, signature type, public key)`` from a verifier key string."""
    parts = vkey.split("+")
    try:
        name, hex_id, b64 = parts[0], parts[1], "+".join(parts[2:])
        raw = base64.b64decode(b64, validate=True)
        sig_type, pub = raw[0], raw[1:]
        ok = len(pub) == 32 and bytes.fromhex(hex_id) == key_id(name, sig_type, pub)
    except (IndexError, ValueError, binascii.Error):
        ok = False
    if not ok:
        raise MalformedNote(f"検証鍵の形式が不正です: {vkey!r}", f"malformed verifier key {vkey!r}")
    return name, sig_type, public_key(pub)


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a signed note."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode()
        return f"{EM_DASH} {self.name} {blob}\n"


@dataclass(frozen=True)
class Note:
    """A parsed signed note: the signed text (ending in a newline) and its signatures."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def parse_note(message: str) -> Note:
    """Split a signed note into its text and signature lines (format checks only)."""
    bad = MalformedNote
    if any(ord(c) < 0x20 and c != "\n" for c in message):
        raise bad("署名付きノートに制御文字が含まれています", "control character in signed note")
    if not message.endswith("\n"):
        raise bad("署名付きノートが改行で終わっていません", "signed note must end in a newline")
    cut = message.rfind("\n\n")
    if cut < 0:
        raise bad("署名付きノートに署名がありません", "signed note has no signature block")
    text, block = message[:cut + 1], message[cut + 2:]
    sigs: list[NoteSignature] = []
    for line in block.splitlines():
        prefix = EM_DASH + " "
        fields = line[len(prefix):].split(" ") if line.startswith(prefix) else []
        if len(fields) != 2:
            raise bad(f"署名行の形式が不正です: {line!r}", f"malformed signature line {line!r}")
        try:
            blob = base64.b64decode(fields[1], validate=True)
        except binascii.Error:
            raise bad(f"署名が base64 ではありません: {line!r}",
                      f"signature is not base64: {line!r}") from None
        if len(blob) < 5:
            raise bad(f"署名が短すぎます: {line!r}", f"signature too short: {line!r}")
        sigs.append(NoteSignature(check_key_name(fields[0]), blob[:4], blob[4:]))
    if not sigs:
        raise bad("署名付きノートに署名がありません", "signed note has no signatures")
    if len(sigs) > MAX_SIGNATURES:
        raise bad("署名が多すぎます", f"more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(sigs))


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """``text`` signed by ``key`` under ``name`` (signed-note Ed25519, type 0x01)."""
    check_key_name(name)
    if not text.endswith("\n"):
        raise MalformedNote("署名する本文は改行で終わる必要があります", "note text must end in \\n")
    sig = NoteSignature(name, key_id(name, SIG_ED25519, key), key.sign(text.encode()))
    return text + "\n" + sig.line()


def _matching(note: Note, sig_type: int, key: Ed25519PublicKey,
              name: str | None) -> list[NoteSignature]:
    return [s for s in note.signatures
            if (name is None or s.name == name) and s.key_id == key_id(s.name, sig_type, key)]


def verify_note(note: Note, key: Ed25519PublicKey | bytes, name: str | None = None) -> str:
    """Check the Ed25519 signature by ``key``; returns the signer's key name.

    Signatures by other keys are ignored, as signed-note requires.
    """
    pub = public_key(key)
    found = _matching(note, SIG_ED25519, pub, name)
    if not found:
        raise SignatureInvalid("期待する鍵による署名がありません",
                               "no signature by the expected key")
    for sig in found:
        try:
            pub.verify(sig.signature, note.text.encode())
        except InvalidSignature:
            raise SignatureInvalid(f"{sig.name} の署名が正しくありません（改ざんの可能性）",
                                   f"signature by {sig.name} does not verify") from None
    return found[0].name


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def cosign(text: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> NoteSignature:
    """A tlog-cosignature/v1 signature of a checkpoint text."""
    check_key_name(name)
    if not 0 <= timestamp < 2**63:
        raise MalformedNote("時刻が範囲外です", f"timestamp {timestamp} out of range")
    sig = key.sign(_cosigned_message(text, timestamp))
    return NoteSignature(name, key_id(name, SIG_COSIGNATURE_V1, key),
                         struct.pack(">Q", timestamp) + sig)


def verify_cosignature(note: Note, key: Ed25519PublicKey | bytes,
                       name: str | None = None) -> tuple[str, int]:
    """Check a cosignature/v1 by ``key``; returns ``(cosigner name, timestamp)``."""
    pub = public_key(key)
    found = _matching(note, SIG_COSIGNATURE_V1, pub, name)
    if not found:
        raise SignatureInvalid("監視者（個人情報保護委員会）の連署がありません",
                               "no cosignature by the expected witness key")
    result: tuple[str, int] | None = None
    for sig in found:
        if len(sig.signature) != 8 + 64:
            raise SignatureInvalid("連署の長さが不正です", "cosignature has the wrong length")
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        try:
            pub.verify(sig.signature[8:], _cosigned_message(note.text, timestamp))
        except InvalidSignature:
            raise SignatureInvalid(f"{sig.name} の連署が正しくありません（改ざんの可能性）",
                                   f"cosignature by {sig.name} does not verify") from None
        if result is None or timestamp > result[1]:
            result = (sig.name, timestamp)
    assert result is not None
    return result


@dataclass(frozen=True)
class Checkpoint:
    """The body of a tlog-checkpoint: origin, tree size and root hash."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body (extension lines after the third are allowed and ignored)."""
    lines = text.split("\n")
    bad = MalformedNote("チェックポイントの形式が不正です", f"malformed checkpoint {text[:200]!r}")
    if len(lines) < 4 or lines[-1] != "" or not _ORIGIN.match(lines[0]):
        raise bad
    if not _SIZE.match(lines[1]):
        raise bad
    try:
        root = base64.b64decode(lines[2], validate=True)
    except binascii.Error:
        raise bad from None
    if len(root) != HASH_SIZE:
        raise bad
    return Checkpoint(lines[0], int(lines[1]), root)
