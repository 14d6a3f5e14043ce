"""Tests for FF1 (NIST SP 800-38G) in myna.crypto.ff1."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from myna.crypto.ff1 import FF1, _expand, _num_bytes_mod, _widen
from myna.errors import ValidationError

KEY_128 = "2B7E151628AED2A6ABF7158809CF4F3C"
KEY_192 = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F"
KEY_256 = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94"
TWEAK_NONE = ""
TWEAK_10 = "39383736353433323130"
TWEAK_11 = "3737373770717273373737"
PT_10 = "0123456789"
PT_36 = "0123456789abcdefghi"

# NIST SP 800-38G FF1 samples 1-9 (FF1samples.pdf): key, radix, tweak, plaintext, ciphertext.
NIST_SAMPLES = [
    pytest.param(KEY_128, 10, TWEAK_NONE, PT_10, "2433477484", id="sample1-aes128"),
    pytest.param(KEY_128, 10, TWEAK_10, PT_10, "6124200773", id="sample2-aes128-tweak"),
    pytest.param(KEY_128, 36, TWEAK_11, PT_36, "a9tv40mll9kdu509eum", id="sample3-aes128-r36"),
    pytest.param(KEY_192, 10, TWEAK_NONE, PT_10, "2830668132", id="sample4-aes192"),
    pytest.param(KEY_192, 10, TWEAK_10, PT_10, "2496655549", id="sample5-aes192-tweak"),
    pytest.param(KEY_192, 36, TWEAK_11, PT_36, "xbj3kv35jrawxv32ysr", id="sample6-aes192-r36"),
    pytest.param(KEY_256, 10, TWEAK_NONE, PT_10, "6657667009", id="sample7-aes256"),
    pytest.param(KEY_256, 10, TWEAK_10, PT_10, "1001623463", id="sample8-aes256-tweak"),
    pytest.param(KEY_256, 36, TWEAK_11, PT_36, "xs8a0azh2avyalyzuwd", id="sample9-aes256-r36"),
]

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _digits(value: int, length: int, radix: int) -> list[int]:
    out = [0] * length
    for i in range(length - 1, -1, -1):
        value, out[i] = divmod(value, radix)
    assert value == 0
    return out


def _value(numerals: list[int], radix: int) -> int:
    x = 0
    for c in numerals:
        x = x * radix + c
    return x


# ------------------------------------------------------------------ NIST vectors


@pytest.mark.parametrize(("key", "radix", "tweak", "plaintext", "ciphertext"), NIST_SAMPLES)
def test_nist_sample_str(key: str, radix: int, tweak: str, plaintext: str, ciphertext: str) -> None:
    ff1 = FF1(bytes.fromhex(key), radix=radix)
    t = bytes.fromhex(tweak)
    assert ff1.encrypt(plaintext, t) == ciphertext
    assert ff1.decrypt(ciphertext, t) == plaintext


@pytest.mark.parametrize(("key", "radix", "tweak", "plaintext", "ciphertext"), NIST_SAMPLES)
def test_nist_sample_numerals(
    key: str, radix: int, tweak: str, plaintext: str, ciphertext: str
) -> None:
    ff1 = FF1(bytes.fromhex(key), radix=radix)
    t = bytes.fromhex(tweak)
    pt = [ALPHABET.index(c) for c in plaintext]
    ct = [ALPHABET.index(c) for c in ciphertext]
    assert ff1.encrypt(pt, t) == ct
    assert ff1.decrypt(ct, t) == pt
    assert ff1.encrypt(tuple(pt), t) == ct  # any sequence of ints gives a list


@pytest.mark.parametrize(("key", "radix", "tweak", "plaintext", "ciphertext"), NIST_SAMPLES)
def test_nist_sample_batch(
    key: str, radix: int, tweak: str, plaintext: str, ciphertext: str
) -> None:
    ff1 = FF1(bytes.fromhex(key), radix=radix)
    t = bytes.fromhex(tweak)
    length = len(plaintext)
    if radix**length > 2**63:  # radix 36, 19 numerals: beyond the int64 batch path
        with pytest.raises(ValidationError, match=r"2\*\*63"):
            ff1.encrypt_batch(np.array([0]), length, t)
        return
    pt = int(plaintext, radix)
    ct = int(ciphertext, radix)
    out = ff1.encrypt_batch(np.array([pt, pt]), length, t)
    assert out.dtype == np.int64
    assert out.tolist() == [ct, ct]
    assert ff1.decrypt_batch(out, length, t).tolist() == [pt, pt]


def test_str_type_preserved() -> None:
    ff1 = FF1(bytes.fromhex(KEY_256))
    assert isinstance(ff1.encrypt("00000000000"), str)
    assert isinstance(ff1.encrypt([0] * 11), list)
    assert len(ff1.encrypt("00000000000")) == 11


def test_batch_shape_and_empty() -> None:
    ff1 = FF1(bytes.fromhex(KEY_256))
    values = np.arange(12, dtype=np.int64).reshape(3, 4)
    out = ff1.encrypt_batch(values, 11)
    assert out.shape == (3, 4)
    assert ff1.decrypt_batch(out, 11).tolist() == values.tolist()
    empty = ff1.encrypt_batch(np.array([], dtype=np.int64), 11)
    assert empty.shape == (0,)
    assert empty.dtype == np.int64


def test_batch_spans_several_chunks() -> None:
    ff1 = FF1(bytes(range(32)))
    rng = np.random.default_rng(7)
    values = rng.integers(0, 10**11, 200_003, dtype=np.int64)
    out = ff1.encrypt_batch(values, 11, b"chunks")
    for idx in (0, 65_535, 65_536, 131_072, 200_002):
        expected = ff1.encrypt(str(values[idx]).zfill(11), b"chunks")
        assert str(out[idx]).zfill(11) == expected
    assert np.array_equal(ff1.decrypt_batch(out, 11, b"chunks"), values)


# ------------------------------------------------------------------- properties

keys = st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
tweaks = st.binary(max_size=40)


@settings(max_examples=60, deadline=None)
@given(key=keys, tweak=tweaks, data=st.data())
def test_scalar_round_trip(key: bytes, tweak: bytes, data: st.DataObject) -> None:
    radix = data.draw(st.sampled_from([2, 3, 10, 16, 36, 255, 256, 1000, 2**16]), label="radix")
    ff1 = FF1(key, radix=radix)
    length = data.draw(st.integers(ff1.min_len, ff1.min_len + 40), label="length")
    numerals = data.draw(
        st.lists(st.integers(0, radix - 1), min_size=length, max_size=length), label="x"
    )
    ct = ff1.encrypt(numerals, tweak)
    assert len(ct) == length
    assert all(0 <= c < radix for c in ct)
    assert ff1.decrypt(ct, tweak) == numerals
    if radix <= 36:
        text = "".join(ALPHABET[c] for c in numerals)
        assert ff1.encrypt(text, tweak) == "".join(ALPHABET[c] for c in ct)


@settings(max_examples=60, deadline=None)
@given(key=keys, tweak=tweaks, length=st.integers(6, 18), data=st.data())
def test_batch_equals_scalar_radix10(
    key: bytes, tweak: bytes, length: int, data: st.DataObject
) -> None:
    ff1 = FF1(key)
    values = data.draw(
        st.lists(st.integers(0, 10**length - 1), min_size=1, max_size=20), label="values"
    )
    out = ff1.encrypt_batch(np.array(values, dtype=np.int64), length, tweak)
    for value, enc in zip(values, out.tolist(), strict=True):
        assert ff1.encrypt(str(value).zfill(length), tweak) == str(enc).zfill(length)
    assert ff1.decrypt_batch(out, length, tweak).tolist() == values


@settings(max_examples=60, deadline=None)
@given(key=keys, tweak=tweaks, radix=st.integers(2, 2**16), data=st.data())
def test_batch_equals_scalar_any_radix(
    key: bytes, tweak: bytes, radix: int, data: st.DataObject
) -> None:
    ff1 = FF1(key, radix=radix)
    max_length = ff1.min_len
    while radix ** (max_length + 1) <= 2**63:
        max_length += 1
    length = data.draw(st.integers(ff1.min_len, max_length), label="length")
    values = data.draw(
        st.lists(st.integers(0, radix**length - 1), min_size=1, max_size=10), label="values"
    )
    out = ff1.encrypt_batch(np.array(values, dtype=np.int64), length, tweak)
    for value, enc in zip(values, out.tolist(), strict=True):
        numerals = _digits(value, length, radix)
        assert _value(ff1.encrypt(numerals, tweak), radix) == enc
    assert ff1.decrypt_batch(out, length, tweak).tolist() == values


@pytest.mark.parametrize(("radix", "length"), [(2, 63), (8, 21), (2**16, 3), (10, 18), (36, 12)])
def test_batch_at_int64_edge(radix: int, length: int) -> None:
    ff1 = FF1(bytes(range(24)), radix=radix)
    top = radix**length - 1
    values = [0, 1, top // 3, top - 1, top]
    out = ff1.encrypt_batch(np.array(values, dtype=np.uint64), length, b"edge")
    for value, enc in zip(values, out.tolist(), strict=True):
        assert 0 <= enc <= top
        assert _value(ff1.encrypt(_digits(value, length, radix), b"edge"), radix) == enc
    assert ff1.decrypt_batch(out, length, b"edge").tolist() == values


def test_batch_is_permutation_of_full_6_digit_space() -> None:
    ff1 = FF1(bytes.fromhex(KEY_256))
    space = np.arange(10**6, dtype=np.int64)
    out = ff1.encrypt_batch(space, 6)
    assert out.min() >= 0
    assert out.max() < 10**6
    assert np.unique(out).size == 10**6
    assert np.array_equal(ff1.decrypt_batch(out, 6), space)


# ------------------------------------------------------- batch helper internals


@pytest.mark.parametrize("d", [8, 12, 16, 20, 36, 52])
def test_widen_matches_scalar_expand(d: int) -> None:
    cipher = Cipher(algorithms.AES(bytes(range(16))), modes.ECB())
    rng = np.random.default_rng(d)
    r = rng.integers(0, 256, (5, 16), dtype=np.uint8)
    widened = _widen(cipher.encryptor(), r, d)
    for row in range(5):
        expected = _expand(cipher.encryptor(), r[row].tobytes(), d)
        assert widened[row, :d].tobytes() == expected


@pytest.mark.parametrize("d", [8, 12, 16, 20])
@pytest.mark.parametrize("modulus", [2, 10**6, 2**32, 2**32 + 1, 10**13, 2**48 + 3, 2**56])
def test_num_bytes_mod_matches_bigint(d: int, modulus: int) -> None:
    rng = np.random.default_rng(modulus % 1000 + d)
    s = rng.integers(0, 256, (50, ((d + 15) // 16) * 16), dtype=np.uint8)
    s[0, :] = 255
    got = _num_bytes_mod(s, d, modulus)
    for row in range(50):
        assert int(got[row]) == int.from_bytes(s[row, :d].tobytes(), "big") % modulus


def test_num_bytes_mod_refuses_unsafe_modulus() -> None:
    with pytest.raises(ValueError, match="2\\*\\*56"):
        _num_bytes_mod(np.zeros((1, 16), dtype=np.uint8), 12, 2**56 + 1)


# ------------------------------------------------------------------------ errors


def _raises(excinfo: pytest.ExceptionInfo[ValidationError], *fragments: str) -> None:
    err = excinfo.value
    assert err.message_ja
    for fragment in fragments:
        assert fragment in err.message_en, err.message_en


@pytest.mark.parametrize("radix", [0, 1, 2**16 + 1, -10])
def test_bad_radix(radix: int) -> None:
    with pytest.raises(ValidationError) as excinfo:
        FF1(bytes(16), radix=radix)
    _raises(excinfo, "radix must be between 2 and 65536", f"got {radix}")
    assert "基数" in excinfo.value.message_ja


def test_radix_not_int() -> None:
    with pytest.raises(ValidationError) as excinfo:
        FF1(bytes(16), radix=10.0)  # type: ignore[arg-type]
    _raises(excinfo, "radix must be an int")


@pytest.mark.parametrize("size", [0, 8, 15, 17, 31, 33, 64])
def test_wrong_key_length(size: int) -> None:
    with pytest.raises(ValidationError) as excinfo:
        FF1(bytes(size))
    _raises(excinfo, "key must be 16, 24 or 32 bytes", f"got {size} bytes")
    assert "鍵" in excinfo.value.message_ja


def test_key_not_bytes() -> None:
    with pytest.raises(ValidationError) as excinfo:
        FF1(KEY_128)  # type: ignore[arg-type]
    _raises(excinfo, "key must be bytes")


def test_too_short() -> None:
    ff1 = FF1(bytes(16))
    assert ff1.min_len == 6  # 10**6 >= 1,000,000
    with pytest.raises(ValidationError) as excinfo:
        ff1.encrypt("12345")
    _raises(excinfo, "too short", "5 numerals", "at least 6")
    with pytest.raises(ValidationError) as excinfo:
        ff1.decrypt([1, 2, 3, 4, 5])
    _raises(excinfo, "too short")
    with pytest.raises(ValidationError) as excinfo:
        ff1.encrypt_batch(np.array([1]), 5)
    _raises(excinfo, "too short")


def test_min_len_follows_domain_rule() -> None:
    assert FF1(bytes(16), radix=2).min_len == 20  # 2**20 = 1,048,576
    assert FF1(bytes(16), radix=36).min_len == 4
    assert FF1(bytes(16), radix=2**16).min_len == 2
    assert FF1(bytes(16), min_len=8).min_len == 8
    FF1(bytes(16), min_len=8).encrypt("12345678")
    with pytest.raises(ValidationError) as excinfo:
        FF1(bytes(16), min_len=8).encrypt("1234567")
    _raises(excinfo, "too short", "at least 8")


def test_too_long() -> None:
    ff1 = FF1(bytes(16), max_len=12)
    ff1.encrypt("0" * 12)
    with pytest.raises(ValidationError) as excinfo:
        ff1.encrypt("0" * 13)
    _raises(excinfo, "too long", "13 numerals", "at most 12")


def test_bad_length_bounds() -> None:
    with pytest.raises(ValidationError) as excinfo:
        FF1(bytes(16), min_len=1)
    _raises(excinfo, "min_len must be at least 2")
    with pytest.raises(ValidationError) as excinfo:
        FF1(bytes(16), max_len=2**32)
    _raises(excinfo, "max_len must be at most")
    with pytest.raises(ValidationError) as excinfo:
        FF1(bytes(16), max_len=5)
    _raises(excinfo, "max_len 5 is below the minimum length 6")


def test_numeral_not_less_than_radix() -> None:
    ff1 = FF1(bytes(16))
    with pytest.raises(ValidationError) as excinfo:
        ff1.encrypt([1, 2, 3, 4, 5, 10])
    _raises(excinfo, "numeral 10 at position 5 is not less than radix 10")
    with pytest.raises(ValidationError) as excinfo:
        ff1.encrypt("12345a")
    _raises(excinfo, "'a'", "position 5", "not less than radix 10")
    with pytest.raises(ValidationError) as excinfo:
        FF1(bytes(16), radix=8).decrypt("01234567089")
    _raises(excinfo, "'8'", "position 9", "not less than radix 8")


def test_bad_numerals() -> None:
    ff1 = FF1(bytes(16))
    with pytest.raises(ValidationError) as excinfo:
        ff1.encrypt([1, 2, 3, -4, 5, 6])
    _raises(excinfo, "numeral -4 at position 3 is negative")
    with pytest.raises(ValidationError) as excinfo:
        ff1.encrypt("123-456")
    _raises(excinfo, "invalid character '-' at position 3")
    with pytest.raises(ValidationError) as excinfo:
        ff1.encrypt("12345A")
    _raises(excinfo, "invalid character 'A'")
    with pytest.raises(ValidationError) as excinfo:
        ff1.encrypt([1, 2, 3, "4", 5, 6])  # type: ignore[list-item]
    _raises(excinfo, "numeral at position 3 must be an int")
    with pytest.raises(ValidationError) as excinfo:
        FF1(bytes(16), radix=100).encrypt("0123")
    _raises(excinfo, "string input needs radix <= 36")


def test_bad_tweak() -> None:
    with pytest.raises(ValidationError) as excinfo:
        FF1(bytes(16)).encrypt("0123456789", "tweak")  # type: ignore[arg-type]
    _raises(excinfo, "tweak must be bytes")


def test_batch_errors() -> None:
    ff1 = FF1(bytes(32))
    with pytest.raises(ValidationError) as excinfo:
        ff1.encrypt_batch(np.array([10**11]), 11)
    _raises(excinfo, f"value {10**11} is out of range", "[0, 10**11)")
    with pytest.raises(ValidationError) as excinfo:
        ff1.decrypt_batch(np.array([5, -1]), 11)
    _raises(excinfo, "value -1 is out of range")
    with pytest.raises(ValidationError) as excinfo:
        ff1.encrypt_batch(np.array([1.5]), 11)
    _raises(excinfo, "values must be an integer array")
    with pytest.raises(ValidationError) as excinfo:
        ff1.encrypt_batch(np.array([0]), 19)
    _raises(excinfo, "radix**length <= 2**63", "length 19")
    assert ff1.encrypt_batch(np.array([10**18 - 1]), 18).dtype == np.int64
