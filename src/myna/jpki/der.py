"""A minimal DER encoder/decoder for the few ASN.1 shapes JPKI certificates carry.

``cryptography`` builds and parses the certificates themselves; this module only
encodes the *value* of the subjectDirectoryAttributes extension (RFC 5280
§4.2.1.8), which ``cryptography`` does not model, and reads it back.

>>> encode_oid("2.5.29.9").hex()
'0603551d09'
>>> decode_oid(encode_oid("2.25.167491082206999376147722605497722320262.1"))
'2.25.167491082206999376147722605497722320262.1'
>>> tlv(UTF8_STRING, "東京".encode()).hex()
'0c06e69db1e4baac'
"""

from __future__ import annotations

from collections.abc import Iterator

from myna.errors import InvalidFormat

SEQUENCE = 0x30
SET = 0x31
OBJECT_IDENTIFIER = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
GENERALIZED_TIME = 0x18


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    """One DER element: tag, definite length, value."""
    return bytes([tag]) + _length(len(value)) + value


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    """A DER SET OF: elements sorted by their encodings (X.690 §11.6)."""
    return tlv(SET, b"".join(sorted(items)))


def _base128(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def encode_oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER element from its dotted form."""
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40):
        raise InvalidFormat(f"OID が不正です: {dotted}", f"invalid OID {dotted}")
    body = _base128(40 * arcs[0] + arcs[1]) + b"".join(_base128(a) for a in arcs[2:])
    return tlv(OBJECT_IDENTIFIER, body)


def decode_oid(element: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER element."""
    tag, value, rest = read(element)
    if tag != OBJECT_IDENTIFIER or rest:
        raise InvalidFormat("OID ではありません", "not an OBJECT IDENTIFIER")
    return oid_from_value(value)


def oid_from_value(value: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER's value octets."""
    if not value or value[-1] & 0x80:
        raise InvalidFormat("OID が不正です", "invalid OBJECT IDENTIFIER encoding")
    arcs: list[int] = []
    n = 0
    for byte in value:
        n = (n << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(n)
            n = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


def read(data: bytes) -> tuple[int, bytes, bytes]:
    """Split off the first element: ``(tag, value, remaining bytes)``."""
    if len(data) < 2:
        raise InvalidFormat("DER が途中で切れています", "truncated DER")
    tag, first = data[0], data[1]
    if tag & 0x1F == 0x1F:
        raise InvalidFormat("未対応の DER タグです", "multi-byte DER tags are not supported")
    if first < 0x80:
        length, start = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(data) < 2 + count:
            raise InvalidFormat("DER の長さが不正です", "invalid DER length")
        length, start = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    if len(data) < start + length:
        raise InvalidFormat("DER が途中で切れています", "truncated DER")
    return tag, data[start : start + length], data[start + length :]


def elements(value: bytes) -> Iterator[tuple[int, bytes]]:
    """The ``(tag, value)`` pairs of the elements inside a constructed value."""
    while value:
        tag, inner, value = read(value)
        yield tag, inner
