"""FF1 format-preserving encryption on AES (NIST SP 800-38G, Algorithm 7).

FF1 encrypts a string of ``n`` numerals in base ``radix`` into another string of
``n`` numerals in the same base, so an 11-digit number stays an 11-digit number.
It is a ten-round Feistel network over the two halves ``A`` (``u = n // 2``
numerals) and ``B`` (``v = n - u`` numerals).  Each round feeds ``B`` and an
optional public *tweak* through a PRF -- AES in CBC-MAC mode over the blocks
``P || Q`` -- widens the result to ``d`` bytes with further AES calls, reads it
as an integer ``y`` and replaces ``A`` with ``(NUM(A) + y) mod radix**m``.
See NIST Special Publication 800-38G (Rev. 1), "Recommendation for Block Cipher
Modes of Operation: Methods for Format-Preserving Encryption", section 6.2.

This module implements FF1.Encrypt and FF1.Decrypt with AES-128/192/256 from the
``cryptography`` package (AES-ECB as the block function ``CIPH``), in two forms:

* :meth:`FF1.encrypt` / :meth:`FF1.decrypt` -- the general algorithm on Python
  integers, for any radix in ``[2, 2**16]`` and any allowed length;
* :meth:`FF1.encrypt_batch` / :meth:`FF1.decrypt_batch` -- a numpy path that
  encrypts many integers of one fixed length at once, bit-for-bit identical to
  the scalar path.  It needs ``radix**length <= 2**63`` (the values are int64),
  e.g. at most 18 digits in radix 10.

Following the standard, every input must satisfy ``radix**n >= 1_000_000``
(for radix 10: at least 6 digits), on top of the ``min_len``/``max_len`` bounds.

Example with NIST SP 800-38G FF1 sample 1 (AES-128, radix 10, empty tweak):

>>> key = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
>>> ff1 = FF1(key, radix=10)
>>> ff1.encrypt("0123456789")
'2433477484'
>>> ff1.decrypt("2433477484")
'0123456789'
>>> ff1.encrypt([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
[2, 4, 3, 3, 4, 7, 7, 4, 8, 4]

The batch path takes integers, read as ``length`` numerals big-endian (so the
string "0123456789" is the integer 123456789 at length 10):

>>> import numpy as np
>>> out = ff1.encrypt_batch(np.array([123456789]), length=10)
>>> out.tolist()
[2433477484]
>>> ff1.decrypt_batch(out, length=10).tolist()
[123456789]
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from myna.errors import ValidationError

__all__ = ["FF1", "MAX_BATCH_DOMAIN", "MAX_RADIX", "MIN_DOMAIN", "MIN_RADIX"]

#: Smallest radix FF1 allows.
MIN_RADIX = 2
#: Largest radix FF1 allows (2**16).
MAX_RADIX = 1 << 16
#: SP 800-38G requires radix**minlen >= 1,000,000.
MIN_DOMAIN = 1_000_000
#: Largest maxlen FF1 allows.
MAX_LEN = (1 << 32) - 1
#: Largest tweak length in bytes (maxTlen) this implementation accepts.
MAX_TWEAK_LEN = (1 << 32) - 1
#: The batch path needs radix**length <= MAX_BATCH_DOMAIN so values fit in int64.
MAX_BATCH_DOMAIN = 1 << 63

_ROUNDS = 10
_BLOCK = 16
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_DIGIT_VALUE = {ch: i for i, ch in enumerate(_ALPHABET)}
#: Elements encrypted per numpy pass in the batch path (keeps the working set in cache).
_BATCH_CHUNK = 1 << 16

Int64Array = npt.NDArray[np.int64]
UInt8Array = npt.NDArray[np.uint8]
UInt64Array = npt.NDArray[np.uint64]


def _ceil_log2_pow(radix: int, v: int) -> int:
    """Return ceil(v * log2(radix)) exactly: the bits needed for radix**v distinct values."""
    domain: int = radix**v
    return (domain - 1).bit_length()


def _xor16(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(_BLOCK, "big")


def _min_length_for_domain(radix: int) -> int:
    """Smallest n with radix**n >= MIN_DOMAIN (and n >= 2)."""
    n = 2
    while radix**n < MIN_DOMAIN:
        n += 1
    return n


class FF1:
    """FF1 (NIST SP 800-38G) keyed with an AES-128/192/256 key.

    ``min_len`` and ``max_len`` bound the number of numerals accepted.  The
    effective minimum (:attr:`min_len`) is raised, if needed, to the smallest
    length ``n`` with ``radix**n >= 1,000,000`` as the standard requires.
    """

    def __init__(
        self,
        key: bytes,
        radix: int = 10,
        min_len: int = 2,
        max_len: int = MAX_LEN,
    ) -> None:
        if not isinstance(key, bytes | bytearray | memoryview):
            raise ValidationError(
                "鍵はバイト列でなければなりません",
                f"key must be bytes, got {type(key).__name__}",
            )
        key = bytes(key)
        if len(key) not in (16, 24, 32):
            raise ValidationError(
                f"鍵の長さは16、24、32バイトのいずれかでなければなりません（{len(key)}バイト）",
                f"key must be 16, 24 or 32 bytes long (AES-128/192/256), got {len(key)} bytes",
            )
        radix = _as_int(radix, "基数", "radix")
        if not MIN_RADIX <= radix <= MAX_RADIX:
            raise ValidationError(
                f"基数は{MIN_RADIX}以上{MAX_RADIX}以下でなければなりません（{radix}）",
                f"radix must be between {MIN_RADIX} and {MAX_RADIX}, got {radix}",
            )
        min_len = _as_int(min_len, "最小長", "min_len")
        max_len = _as_int(max_len, "最大長", "max_len")
        if min_len < 2:
            raise ValidationError(
                f"最小長は2以上でなければなりません（{min_len}）",
                f"min_len must be at least 2, got {min_len}",
            )
        if max_len > MAX_LEN:
            raise ValidationError(
                f"最大長は{MAX_LEN}以下でなければなりません（{max_len}）",
                f"max_len must be at most {MAX_LEN}, got {max_len}",
            )
        effective_min = max(min_len, _min_length_for_domain(radix))
        if max_len < effective_min:
            raise ValidationError(
                f"最大長{max_len}が最小長{effective_min}より小さくなっています"
                f"（基数{radix}では{MIN_DOMAIN}通り以上の値が必要です）",
                f"max_len {max_len} is below the minimum length {effective_min} "
                f"(radix {radix} needs radix**len >= {MIN_DOMAIN})",
            )
        self.radix = radix
        self.min_len = effective_min
        self.max_len = max_len
        self.key_bits = len(key) * 8
        self._cipher = Cipher(algorithms.AES(key), modes.ECB())

    def __repr__(self) -> str:
        return (
            f"FF1(AES-{self.key_bits}, radix={self.radix}, "
            f"min_len={self.min_len}, max_len={self.max_len})"
        )

    # ------------------------------------------------------------------ scalar API

    @overload
    def encrypt(self, numerals: str, tweak: bytes = b"") -> str: ...

    @overload
    def encrypt(self, numerals: Sequence[int], tweak: bytes = b"") -> list[int]: ...

    def encrypt(self, numerals: str | Sequence[int], tweak: bytes = b"") -> str | list[int]:
        """FF1.Encrypt: a str of digits gives a str, a sequence of ints gives a list."""
        return self._scalar(numerals, tweak, decrypt=False)

    @overload
    def decrypt(self, numerals: str, tweak: bytes = b"") -> str: ...

    @overload
    def decrypt(self, numerals: Sequence[int], tweak: bytes = b"") -> list[int]: ...

    def decrypt(self, numerals: str | Sequence[int], tweak: bytes = b"") -> str | list[int]:
        """FF1.Decrypt, the inverse of :meth:`encrypt` for the same tweak."""
        return self._scalar(numerals, tweak, decrypt=True)

    def _scalar(
        self, numerals: str | Sequence[int], tweak: bytes, *, decrypt: bool
    ) -> str | list[int]:
        tweak = _check_tweak(tweak)
        as_str = isinstance(numerals, str)
        x = self._parse_str(numerals) if isinstance(numerals, str) else self._parse(numerals)
        n = len(x)
        self._check_length(n)
        radix = self.radix
        u = n // 2
        v = n - u
        b = (_ceil_log2_pow(radix, v) + 7) // 8
        d = 4 * ((b + 3) // 4) + 4
        mod_u: int = radix**u
        mod_v: int = radix**v
        p = _p_block(radix, u, n, len(tweak))
        pad = bytes((-len(tweak) - b - 1) % _BLOCK)
        a_num = _num(x[:u], radix)
        b_num = _num(x[u:], radix)
        enc = self._cipher.encryptor()
        rounds = range(_ROUNDS - 1, -1, -1) if decrypt else range(_ROUNDS)
        for i in rounds:
            modulus = mod_u if i % 2 == 0 else mod_v
            fed = a_num if decrypt else b_num
            q = tweak + pad + bytes((i,)) + fed.to_bytes(b, "big")
            r = _cbc_mac(enc, p + q)
            y = int.from_bytes(_expand(enc, r, d), "big")
            if decrypt:
                a_num, b_num = (b_num - y) % modulus, a_num
            else:
                a_num, b_num = b_num, (a_num + y) % modulus
        out = _str(a_num, u, radix) + _str(b_num, v, radix)
        if as_str:
            return "".join(_ALPHABET[c] for c in out)
        return out

    def _parse_str(self, text: str) -> list[int]:
        radix = self.radix
        if radix > len(_ALPHABET):
            raise ValidationError(
                f"基数{radix}では文字列を使えません。整数の列を渡してください",
                f"string input needs radix <= {len(_ALPHABET)}, radix is {radix}; "
                "pass a sequence of ints",
            )
        out: list[int] = []
        for pos, ch in enumerate(text):
            value = _DIGIT_VALUE.get(ch)
            if value is None:
                raise ValidationError(
                    f"位置{pos}の文字{ch!r}は使えません（0-9、a-zのみ）",
                    f"invalid character {ch!r} at position {pos}: only 0-9 and a-z are allowed",
                )
            if value >= radix:
                raise ValidationError(
                    f"位置{pos}の文字{ch!r}（値{value}）が基数{radix}以上です",
                    f"numeral {ch!r} (value {value}) at position {pos} is not less than "
                    f"radix {radix}",
                )
            out.append(value)
        return out

    def _parse(self, numerals: Sequence[int]) -> list[int]:
        radix = self.radix
        out: list[int] = []
        for pos, item in enumerate(numerals):
            if isinstance(item, bool) or not isinstance(item, int | np.integer):
                raise ValidationError(
                    f"位置{pos}の数字が整数ではありません（{type(item).__name__}）",
                    f"numeral at position {pos} must be an int, got {type(item).__name__}",
                )
            value = int(item)
            if value < 0:
                raise ValidationError(
                    f"位置{pos}の数字{value}が負です",
                    f"numeral {value} at position {pos} is negative",
                )
            if value >= radix:
                raise ValidationError(
                    f"位置{pos}の数字{value}が基数{radix}以上です",
                    f"numeral {value} at position {pos} is not less than radix {radix}",
                )
            out.append(value)
        return out

    def _check_length(self, n: int) -> None:
        if n < self.min_len:
            raise ValidationError(
                f"入力が短すぎます（{n}桁）。基数{self.radix}では{self.min_len}桁以上が必要です",
                f"input is too short: {n} numerals, at least {self.min_len} needed "
                f"for radix {self.radix}",
            )
        if n > self.max_len:
            raise ValidationError(
                f"入力が長すぎます（{n}桁）。{self.max_len}桁以下にしてください",
                f"input is too long: {n} numerals, at most {self.max_len} allowed",
            )

    # ------------------------------------------------------------------- batch API

    def encrypt_batch(self, values: npt.ArrayLike, length: int, tweak: bytes = b"") -> Int64Array:
        """Encrypt many integers of ``length`` numerals at once (same result as :meth:`encrypt`).

        ``values`` is an integer array; each element in ``[0, radix**length)`` is
        read as ``length`` numerals big-endian (zero-padded).  Needs
        ``radix**length <= 2**63``.  Returns an int64 array of the same shape.
        """
        return self._batch(values, length, tweak, decrypt=False)

    def decrypt_batch(self, values: npt.ArrayLike, length: int, tweak: bytes = b"") -> Int64Array:
        """Inverse of :meth:`encrypt_batch` for the same ``length`` and ``tweak``."""
        return self._batch(values, length, tweak, decrypt=True)

    def _batch(
        self, values: npt.ArrayLike, length: int, tweak: bytes, *, decrypt: bool
    ) -> Int64Array:
        tweak = _check_tweak(tweak)
        length = _as_int(length, "長さ", "length")
        self._check_length(length)
        radix = self.radix
        domain: int = radix**length
        if domain > MAX_BATCH_DOMAIN:
            raise ValidationError(
                f"一括処理は基数{radix}で{length}桁を扱えません"
                f"（基数の桁数乗が2**63以下である必要があります）",
                f"batch path needs radix**length <= 2**63 (int64 values); radix {radix} "
                f"length {length} is too large, use encrypt()/decrypt()",
            )
        arr = np.asarray(values)
        if arr.dtype.kind not in "iu":
            raise ValidationError(
                f"値は整数の配列でなければなりません（{arr.dtype}）",
                f"values must be an integer array, got dtype {arr.dtype}",
            )
        if arr.size:
            lo = int(arr.min())
            hi = int(arr.max())
            if lo < 0 or hi >= domain:
                bad = lo if lo < 0 else hi
                raise ValidationError(
                    f"値{bad}が範囲外です（0以上{domain}未満）",
                    f"value {bad} is out of range: must be in [0, {radix}**{length}) "
                    f"= [0, {domain})",
                )
        flat = np.ascontiguousarray(arr, dtype=np.uint64).reshape(-1)
        plan = _BatchPlan(radix, length, tweak)
        out = np.empty(flat.size, dtype=np.int64)
        enc = self._cipher.encryptor()
        for start in range(0, flat.size, _BATCH_CHUNK):
            chunk = flat[start : start + _BATCH_CHUNK]
            out[start : start + chunk.size] = plan.run(enc, chunk, decrypt=decrypt)
        return out.reshape(arr.shape)


# ---------------------------------------------------------------------- helpers


def _as_int(value: Any, name_ja: str, name_en: str) -> int:
    if isinstance(value, bool):
        raise ValidationError(
            f"{name_ja}は整数でなければなりません",
            f"{name_en} must be an int, got bool",
        )
    try:
        return operator.index(value)
    except TypeError:
        raise ValidationError(
            f"{name_ja}は整数でなければなりません",
            f"{name_en} must be an int, got {type(value).__name__}",
        ) from None


def _check_tweak(tweak: bytes) -> bytes:
    if not isinstance(tweak, bytes | bytearray | memoryview):
        raise ValidationError(
            "tweakはバイト列でなければなりません",
            f"tweak must be bytes, got {type(tweak).__name__}",
        )
    tweak = bytes(tweak)
    if len(tweak) > MAX_TWEAK_LEN:
        raise ValidationError(
            "tweakが長すぎます",
            f"tweak is too long: {len(tweak)} bytes, at most {MAX_TWEAK_LEN}",
        )
    return tweak


def _p_block(radix: int, u: int, n: int, t: int) -> bytes:
    """P = [1]^1 || [2]^1 || [1]^1 || [radix]^3 || [10]^1 || [u mod 256]^1 || [n]^4 || [t]^4."""
    return (
        bytes((1, 2, 1))
        + radix.to_bytes(3, "big")
        + bytes((_ROUNDS, u % 256))
        + n.to_bytes(4, "big")
        + t.to_bytes(4, "big")
    )


def _num(numerals: Sequence[int], radix: int) -> int:
    """NUM_radix(X): numerals read big-endian."""
    x = 0
    for c in numerals:
        x = x * radix + c
    return x


def _str(x: int, m: int, radix: int) -> list[int]:
    """STR^m_radix(x): m numerals, big-endian."""
    out = [0] * m
    for i in range(m - 1, -1, -1):
        x, out[i] = divmod(x, radix)
    return out


def _cbc_mac(enc: CipherContext, data: bytes) -> bytes:
    """PRF(X) of SP 800-38G: CBC-MAC with a zero IV, built from CIPH (AES-ECB)."""
    y = bytes(_BLOCK)
    for j in range(0, len(data), _BLOCK):
        y = enc.update(_xor16(data[j : j + _BLOCK], y))
    return y


def _expand(enc: CipherContext, r: bytes, d: int) -> bytes:
    """S = first d bytes of R || CIPH(R xor [1]^16) || CIPH(R xor [2]^16) || ..."""
    extra = (d + _BLOCK - 1) // _BLOCK - 1
    if extra <= 0:
        return r[:d]
    blocks = b"".join(_xor16(r, j.to_bytes(_BLOCK, "big")) for j in range(1, extra + 1))
    return (r + enc.update(blocks))[:d]


class _BatchPlan:
    """Per-(radix, length, tweak) constants of the vectorised FF1 rounds.

    With ``radix**length <= 2**63`` each half is below ``2**40``, so NUM(B)
    takes ``b <= 5`` bytes and ``d`` is 8 or 12.  NUM(B) then always sits in
    the last 8 bytes of the last block of Q, and every earlier block of
    ``P || Q`` is the same for the whole batch: its CBC-MAC chain is computed
    once per round, and the last block costs one AES-ECB call over the batch.
    """

    def __init__(self, radix: int, n: int, tweak: bytes) -> None:
        u = n // 2
        v = n - u
        b = (_ceil_log2_pow(radix, v) + 7) // 8
        d = 4 * ((b + 3) // 4) + 4
        self.u = u
        self.v = v
        self.b = b
        self.d = d
        self.mod_u: int = radix**u
        self.mod_v: int = radix**v
        for modulus in (self.mod_u, self.mod_v):
            # y mod radix**m is reduced in uint64 steps of w-byte chunks, which
            # needs modulus * 2**(8*w) <= 2**64 (w = 1 at worst).
            if modulus > 1 << 56 or b > 8:
                raise ValidationError(
                    "一括処理では扱えない長さです。encrypt()/decrypt()を使ってください",
                    f"batch path needs radix**m <= 2**56 per half, got {modulus}; "
                    "use encrypt()/decrypt()",
                )
        self.p = _p_block(radix, u, n, len(tweak))
        pad = bytes((-len(tweak) - b - 1) % _BLOCK)
        #: Q without its round byte and NUM(B): T || [0]^pad.
        self.q_prefix = tweak + pad

    def prf_expand(self, enc: CipherContext, i: int, fed: UInt64Array) -> UInt8Array:
        """Rows of S (padded to whole blocks) for Q built from each value of ``fed``."""
        count = fed.size
        q_const = self.q_prefix + bytes((i,)) + bytes(self.b)  # Q with NUM(B) = 0
        # CBC-MAC over P and every block of Q but the last (the same for all rows).
        y = _cbc_mac(enc, self.p + q_const[:-_BLOCK])
        base = _xor16(q_const[-_BLOCK:], y)
        hi, lo = np.frombuffer(base, dtype="<u8")
        # Last block = base xor NUM(B) in its trailing bytes: with the block
        # read as two little-endian words, NUM(B) as 8 big-endian bytes is
        # xor-ed into the second word.
        blk = np.empty((count, 2), dtype="<u8")
        blk[:, 0] = hi
        np.bitwise_xor(fed.astype(">u8").view("<u8"), lo, out=blk[:, 1])
        r = np.frombuffer(enc.update(blk.view(np.uint8).data), dtype=np.uint8).reshape(
            count, _BLOCK
        )
        return _widen(enc, r, self.d)

    def y_mod(self, s: UInt8Array, modulus: int) -> UInt64Array:
        """NUM(S[:d]) mod modulus, without leaving uint64."""
        return _num_bytes_mod(s, self.d, modulus)

    def run(self, enc: CipherContext, values: UInt64Array, *, decrypt: bool) -> UInt64Array:
        mod_v = np.uint64(self.mod_v)
        a = values // mod_v
        b = values % mod_v
        rounds = range(_ROUNDS - 1, -1, -1) if decrypt else range(_ROUNDS)
        for i in rounds:
            modulus = self.mod_u if i % 2 == 0 else self.mod_v
            mod = np.uint64(modulus)
            if decrypt:
                # c = (NUM(B) - y) mod radix**m, kept non-negative in uint64.
                y = self.y_mod(self.prf_expand(enc, i, a), modulus)
                c = b + (mod - y)
                np.subtract(c, mod, out=c, where=c >= mod)
                a, b = c, a
            else:
                # c = (NUM(A) + y) mod radix**m; both terms are below radix**m.
                y = self.y_mod(self.prf_expand(enc, i, b), modulus)
                c = a + y
                np.subtract(c, mod, out=c, where=c >= mod)
                a, b = b, c
        result: UInt64Array = a * mod_v + b
        return result


def _widen(enc: CipherContext, r: UInt8Array, d: int) -> UInt8Array:
    """Batch form of :func:`_expand`: R || CIPH(R xor [1]^16) || ... per row, whole blocks."""
    extra = (d + _BLOCK - 1) // _BLOCK - 1
    if extra <= 0:
        return r
    count = r.shape[0]
    counters = np.zeros((extra, _BLOCK), dtype=np.uint8)
    for j in range(1, extra + 1):
        counters[j - 1] = np.frombuffer(j.to_bytes(_BLOCK, "big"), dtype=np.uint8)
    blocks = np.ascontiguousarray(r[:, None, :] ^ counters[None, :, :])
    more = np.frombuffer(enc.update(blocks.data), dtype=np.uint8).reshape(count, extra * _BLOCK)
    return np.concatenate([r, more], axis=1)


def _num_bytes_mod(s: UInt8Array, d: int, modulus: int) -> UInt64Array:
    """NUM(S[:d]) mod modulus per row of ``s`` (``d`` a multiple of 4, at least 8).

    Horner's rule over w-byte chunks, ``acc = (acc * 2**(8w) + chunk) % modulus``,
    stays below 2**64 as long as ``modulus * 2**(8w) <= 2**64``; the widest
    such w of 4, 2 or 1 is used.  Needs ``modulus <= 2**56``.
    """
    if not 0 < modulus <= 1 << 56:
        raise ValueError(f"modulus {modulus} is outside (0, 2**56]")
    count = s.shape[0]
    s = np.ascontiguousarray(s)
    mod = np.uint64(modulus)
    # The first 8 bytes fit a uint64 exactly.
    first = s.view("<u8").reshape(count, -1)[:, 0].byteswap()
    acc: UInt64Array = first % mod
    if d > 8:
        width = 4 if modulus <= 1 << 32 else 2 if modulus <= 1 << 48 else 1
        chunks = s.view(f">u{width}").reshape(count, -1)
        shift = np.uint64(8 * width)
        for j in range(8 // width, d // width):
            acc = ((acc << shift) | chunks[:, j].astype(np.uint64)) % mod
    return acc
