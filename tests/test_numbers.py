"""Tests for myna.numbers (identifier check digits, directory, bulk validator)."""

from __future__ import annotations

import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import stdnum.jp.cn
import stdnum.jp.in_
from hypothesis import given
from hypothesis import strategies as st

from myna.errors import (
    InvalidChecksum,
    InvalidFormat,
    InvalidLength,
    NotFound,
    ValidationError,
)
from myna.numbers import _util, bulk, corporate, individual, municipality_code, resident_code

ROOT = Path(__file__).resolve().parent.parent
digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def digit_strings(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


# --------------------------------------------------------------------------- clean


@pytest.mark.parametrize(
    "separator",
    [" ", "\t", "\u3000", "-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015",
     "\u2212", "\u30fc", "\uff70", "\uff0d", "\u2043", "\ufe63"],
)
def test_clean_removes_separators(separator: str) -> None:
    value = separator.join(["1234", "5678", "9018"])
    assert _util.clean(value, "個人番号", "Individual Number") == "123456789018"


def test_clean_full_width_digits() -> None:
    assert _util.clean("０１２３４５６７８９", "x", "x") == "0123456789"


@pytest.mark.parametrize(
    ("value", "char", "position"),
    [("12a4", "a", 3), ("１２Ａ", "Ａ", 3), ("12.4", ".", 3), ("٣12", "٣", 1), ("12\x00", None, 3)],
)
def test_clean_names_offending_character(value: str, char: str | None, position: int) -> None:
    with pytest.raises(InvalidFormat) as info:
        _util.clean(value, "個人番号", "Individual Number")
    err = info.value
    assert f"{position}文字目" in err.message_ja
    assert f"at position {position}" in err.message_en
    assert f"U+{ord(value[position - 1]):04X}" in err.message_en
    if char is not None:
        assert f"「{char}」" in err.message_ja


def test_clean_rejects_non_strings() -> None:
    with pytest.raises(InvalidFormat, match="string"):
        individual.validate(123456789018)  # type: ignore[arg-type]
    assert not individual.is_valid(123456789018)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- individual

VALID_INDIVIDUAL = ["123456789018", "621498320257", "123456789000", "023456789013"]


@pytest.mark.parametrize("number", VALID_INDIVIDUAL)
def test_individual_valid_vectors(number: str) -> None:
    assert individual.validate(number) == number
    assert individual.is_valid(number)
    assert stdnum.jp.in_.is_valid(number)


def test_individual_remainder_one_gives_zero() -> None:
    assert individual.calc_check_digit("12345678900") == "0"


def test_individual_invalid_vector() -> None:
    assert not individual.is_valid("012345678908")
    with pytest.raises(InvalidChecksum) as info:
        individual.validate("012345678908")
    assert "正しくは3" in info.value.message_ja and "8が入力" in info.value.message_ja
    assert "expected 3, got 8" in info.value.message_en


@pytest.mark.parametrize(
    "value",
    ["１２３４５６７８９０１８", "1234 5678 9018", "1234-5678-9018", " 1234　5678　9018 ",
     "１２３４－５６７８－９０１８", "1234ー5678ー9018", "1234−5678−9018"],
)
def test_individual_accepts_typed_forms(value: str) -> None:
    assert individual.validate(value) == "123456789018"
    assert individual.is_valid(value)


@pytest.mark.parametrize(
    "value", ["12345678901A", "1234 5678 901X", "ABCDEFGHIJKL", "1234.5678.9018"]
)
def test_individual_letters_rejected(value: str) -> None:
    with pytest.raises(InvalidFormat) as info:
        individual.validate(value)
    assert "個人番号" in info.value.message_ja
    assert "invalid character" in info.value.message_en
    assert not individual.is_valid(value)


@pytest.mark.parametrize("value", ["", "1", "12345678901", "1234567890181", "0" * 24])
def test_individual_wrong_length(value: str) -> None:
    with pytest.raises(InvalidLength) as info:
        individual.validate(value)
    assert info.value.message_ja == f"個人番号は12桁です（入力は{len(value)}桁）"
    assert info.value.message_en == f"an Individual Number has 12 digits, got {len(value)}"
    assert not individual.is_valid(value)


def test_individual_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        individual.validate("123456789019")
    assert issubclass(InvalidChecksum, ValidationError)


def test_individual_format_and_mask() -> None:
    assert individual.format("123456789018") == "1234 5678 9018"
    assert individual.format("１２３４－５６７８－９０１８") == "1234 5678 9018"
    assert individual.mask("123456789018") == "**** **** 9018"
    with pytest.raises(InvalidLength):
        individual.mask("1234")


def test_individual_calc_check_digit_needs_eleven_digits() -> None:
    with pytest.raises(ValidationError, match="11"):
        individual.calc_check_digit("123456789018")


@given(digit_strings(11))
def test_individual_generated_numbers_validate(base: str) -> None:
    number = base + individual.calc_check_digit(base)
    assert individual.validate(number) == number
    assert individual.is_valid(individual.format(number))
    assert stdnum.jp.in_.is_valid(number)


@given(digit_strings(11), digits)
def test_individual_other_check_digits_invalid(base: str, digit: str) -> None:
    check = individual.calc_check_digit(base)
    if digit == check:
        return
    assert not individual.is_valid(base + digit)
    with pytest.raises(InvalidChecksum):
        individual.validate(base + digit)


@given(digit_strings(12))
def test_individual_agrees_with_stdnum(number: str) -> None:
    assert individual.is_valid(number) == stdnum.jp.in_.is_valid(number)


def _exact_undetected_substitutions() -> tuple[int, int]:
    """Count undetected single-digit substitutions over all 10**11 bases exactly.

    For each base position the remainder of the *other* ten digits is counted
    (distribution over 0..10); a substitution goes unnoticed iff the remainder
    before and after are both in {0, 1} (both give check digit 0).
    """
    weights = individual.WEIGHTS
    undetected = 0
    for i, w in enumerate(weights):
        counts = [1] + [0] * 10
        for j, wj in enumerate(weights):
            if j == i:
                continue
            new = [0] * 11
            for r, c in enumerate(counts):
                for d in range(10):
                    new[(r + wj * d) % 11] += c
            counts = new
        for r, c in enumerate(counts):
            for old in range(10):
                for new_digit in range(10):
                    both_zero = (r + w * old) % 11 <= 1 and (r + w * new_digit) % 11 <= 1
                    if new_digit != old and both_zero:
                        undetected += c
    total = 10**11 * 12 * 9  # every number, every position (incl. check digit), 9 other digits
    return undetected, total


def test_single_digit_error_rate_exact() -> None:
    undetected, total = _exact_undetected_substitutions()
    assert (undetected, total) == (180_000_000_004, 10_800_000_000_000)
    assert f"{undetected / total:.4%}" == "1.6667%"  # figure quoted in individual's docstring


def test_single_digit_error_rate_brute_force() -> None:
    rng = np.random.default_rng(20160101)
    numbers = bulk.append_individual_check_digit(rng.integers(0, 10**11, 20_000))
    as_digits = (numbers[:, None] // 10 ** np.arange(11, -1, -1)) % 10  # (n, 12), left to right
    passed = tried = 0
    for position in range(12):
        for delta in range(1, 10):
            changed = as_digits.copy()
            changed[:, position] = (changed[:, position] + delta) % 10
            values = changed @ (10 ** np.arange(11, -1, -1))
            passed += int(bulk.validate_individual(values).sum())
            tried += len(values)
    rate = passed / tried
    assert 0.014 < rate < 0.020, rate  # exact figure: 1/60 ≈ 1.667 %
    # the scalar validator gives the same count on a slice of the sample
    sample = [f"{n:012d}" for n in numbers[:300].tolist()]
    scalar = sum(
        individual.is_valid(s[:p] + str((int(s[p]) + d) % 10) + s[p + 1 :])
        for s in sample
        for p in range(12)
        for d in range(1, 10)
    )
    first = np.zeros(len(numbers), dtype=bool)
    first[:300] = True
    vector = 0
    for position in range(12):
        for delta in range(1, 10):
            changed = as_digits[first].copy()
            changed[:, position] = (changed[:, position] + delta) % 10
            vector += int(bulk.validate_individual(changed @ (10 ** np.arange(11, -1, -1))).sum())
    assert scalar == vector


def test_scalar_is_not_slower_than_stdnum() -> None:
    rng = np.random.default_rng(7)
    numbers = [f"{n:012d}" for n in
               bulk.append_individual_check_digit(rng.integers(0, 10**11, 20_000)).tolist()]

    def best(check: object) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            for n in numbers:
                check(n)  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return min(times)

    assert best(individual.is_valid) < best(stdnum.jp.in_.is_valid)


# --------------------------------------------------------------------------- corporate


def test_corporate_vector() -> None:
    assert corporate.validate("5835678256246") == "5835678256246"
    assert corporate.validate("5-8356-7825-6246") == "5835678256246"
    assert corporate.calc_check_digit("835678256246") == "5"
    assert corporate.format("5835678256246") == "5-8356-7825-6246"
    assert corporate.mask("5835678256246") == "5-8356-7825-6246"  # public: nothing hidden


def test_corporate_errors() -> None:
    with pytest.raises(InvalidChecksum, match="expected 5, got 2"):
        corporate.validate("2835678256246")
    with pytest.raises(InvalidLength, match="13"):
        corporate.validate("835678256246")
    with pytest.raises(InvalidFormat, match="position 2"):
        corporate.validate("5X35678256246")


@given(digit_strings(12))
def test_corporate_generated_numbers_validate(base: str) -> None:
    number = corporate.calc_check_digit(base) + base
    assert number[0] != "0"
    assert corporate.is_valid(number)
    assert stdnum.jp.cn.is_valid(number)
    assert corporate.calc_check_digit(base) == stdnum.jp.cn.calc_check_digit(base)


@given(digit_strings(12), digits)
def test_corporate_other_check_digits_invalid(base: str, digit: str) -> None:
    if digit != corporate.calc_check_digit(base):
        assert not corporate.is_valid(digit + base)


@given(digit_strings(13))
def test_corporate_agrees_with_stdnum(number: str) -> None:
    assert corporate.is_valid(number) == stdnum.jp.cn.is_valid(number)


# --------------------------------------------------------------------------- resident code


def test_resident_code_vectors() -> None:
    assert resident_code.validate("31415926531") == "31415926531"
    assert resident_code.validate("０１２３ ４５６７ ８９３") == "01234567893"
    assert resident_code.calc_check_digit("1234567890") == "0"  # remainder 1
    assert resident_code.format("31415926531") == "3141 5926 531"
    assert resident_code.mask("31415926531") == "**** **** 531"
    with pytest.raises(InvalidChecksum, match="expected 1, got 2"):
        resident_code.validate("31415926532")
    with pytest.raises(InvalidLength, match="住民票コードは11桁です（入力は12桁）"):
        resident_code.validate("314159265310")
    with pytest.raises(InvalidFormat):
        resident_code.validate("3141592653a")


@given(digit_strings(10))
def test_resident_code_generated_numbers_validate(base: str) -> None:
    number = base + resident_code.calc_check_digit(base)
    assert resident_code.is_valid(number)
    for digit in "0123456789":
        if digit != number[-1]:
            assert not resident_code.is_valid(base + digit)


# --------------------------------------------------------------------------- municipality code


@pytest.mark.parametrize("code", ["132152", "131016", "011002", "011011"])
def test_municipality_code_vectors(code: str) -> None:
    assert municipality_code.validate(code) == code
    assert municipality_code.calc_check_digit(code[:5]) == code[5]


def test_municipality_check_digit_rule() -> None:
    # r = 0 -> 1 and r = 1 -> 0
    assert municipality_code.calc_check_digit("01101") == "1"  # r = 0
    assert municipality_code.calc_check_digit("13215") == "2"
    for base in ("00000", "12345", "47382"):
        r = sum(w * int(d) for w, d in zip((6, 5, 4, 3, 2), base, strict=True)) % 11
        assert municipality_code.calc_check_digit(base) == str((11 - r) % 10)


def test_municipality_lookup() -> None:
    kunitachi = municipality_code.lookup("132152")
    assert (kunitachi.prefecture, kunitachi.name, kunitachi.name_kana) == (
        "東京都", "国立市", "クニタチシ")
    assert municipality_code.lookup("１３２１５－２") == kunitachi
    assert municipality_code.lookup("131016").name == "千代田区"
    assert municipality_code.lookup("011011").name == "札幌市中央区"


def test_municipality_lookup_unknown_code() -> None:
    # 札幌市 itself (011002) has a valid code but no postcodes, so it is not listed
    with pytest.raises(NotFound) as info:
        municipality_code.lookup("011002")
    assert "011002" in info.value.message_ja and "011002" in info.value.message_en
    known = {m.code for m in municipality_code.all_municipalities()}
    unknown = next(
        base + municipality_code.calc_check_digit(base)
        for base in (f"{n:05d}" for n in range(13990, 13000, -1))
        if base + municipality_code.calc_check_digit(base) not in known
    )
    with pytest.raises(NotFound):
        municipality_code.lookup(unknown)


def test_municipality_lookup_bad_input() -> None:
    with pytest.raises(InvalidChecksum, match="expected 2, got 3"):
        municipality_code.lookup("132153")
    with pytest.raises(InvalidLength):
        municipality_code.lookup("13215")
    with pytest.raises(InvalidFormat):
        municipality_code.lookup("13215X")


def test_municipality_directory() -> None:
    everything = municipality_code.all_municipalities()
    assert 1800 <= len(everything) <= 2000
    codes = [m.code for m in everything]
    assert codes == sorted(codes) and len(set(codes)) == len(codes)
    assert all(municipality_code.is_valid(c) for c in codes)
    assert all(not c.endswith("000", 0, 5) for c in codes)  # no prefecture codes
    assert {c[:2] for c in codes} == {f"{p:02d}" for p in range(1, 48)}
    everything[0] = everything[1]  # returned list is a copy
    assert municipality_code.all_municipalities()[0].code == "011011"


def test_municipality_search() -> None:
    assert [m.code for m in municipality_code.search("国立市")] == ["132152"]
    assert [m.code for m in municipality_code.search("東京都国立")] == ["132152"]
    assert "011011" in [m.code for m in municipality_code.search("サッポロシチュウオウク")]
    assert len(municipality_code.search("札幌市")) == 10
    assert municipality_code.search("") == []
    assert municipality_code.search("存在しない町") == []


def test_municipality_postcodes() -> None:
    rows = municipality_code.postcodes("132152")
    assert ("1860001", "北", "キタ") in rows
    assert len(rows) >= 10
    assert all(len(p) == 7 and p.isdigit() for p, _, _ in rows)
    assert all(n and "（" not in n and n != "以下に掲載がない場合" for _, n, _ in rows)
    assert len(set(rows)) == len(rows)
    rows.clear()  # returned list is a copy
    assert municipality_code.postcodes("132152")
    with pytest.raises(NotFound):
        municipality_code.postcodes("011002")


def test_municipality_postcodes_skip_high_rise_floors() -> None:
    # 新宿区 has floor-by-floor postcodes for its skyscrapers; they are left out
    rows = municipality_code.postcodes(municipality_code.search("東京都新宿区")[0].code)
    assert rows and all(n != "西新宿新宿アイランドタワー" for _, n, _ in rows)
    assert ("1600023", "西新宿", "ニシシンジュク") in rows


def test_municipality_data_is_package_resource() -> None:
    data = resources.files("myna.numbers").joinpath("data/municipalities.csv")
    assert data.is_file()
    assert data.read_text(encoding="utf-8").startswith("code,prefecture,name,name_kana\n")


def test_municipality_csv_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_municipalities.py"), "--check"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- bulk


@given(st.lists(st.integers(min_value=0, max_value=10**12 - 1), max_size=50))
def test_bulk_individual_matches_scalar(values: list[int]) -> None:
    strings = [f"{v:012d}" for v in values]
    expected = [individual.is_valid(s) for s in strings]
    assert bulk.validate_individual(np.array(values, dtype=np.int64)).tolist() == expected
    assert bulk.validate_individual(strings).tolist() == expected
    assert bulk.validate_individual(np.array(strings, dtype="S12")).tolist() == expected


@given(st.lists(digit_strings(11), max_size=50))
def test_bulk_individual_check_digits_match_scalar(bases: list[str]) -> None:
    ints = np.array([int(b) for b in bases], dtype=np.int64)
    assert bulk.individual_check_digits(ints).tolist() == [
        int(individual.calc_check_digit(b)) for b in bases
    ]
    assert bulk.append_individual_check_digit(ints).tolist() == [
        int(b + individual.calc_check_digit(b)) for b in bases
    ]


@given(st.lists(digit_strings(10), max_size=50), st.lists(digit_strings(11), max_size=20))
def test_bulk_resident_code_matches_scalar(bases: list[str], codes: list[str]) -> None:
    ints = np.array([int(b) for b in bases], dtype=np.int64)
    assert bulk.resident_code_check_digits(ints).tolist() == [
        int(resident_code.calc_check_digit(b)) for b in bases
    ]
    full = bulk.append_resident_code_check_digit(ints)
    assert bulk.validate_resident_code(full).all()
    assert full.tolist() == [int(b + resident_code.calc_check_digit(b)) for b in bases]
    assert bulk.validate_resident_code(codes).tolist() == [resident_code.is_valid(c) for c in codes]


@given(st.lists(st.text(alphabet="0123456789 -aＡ１\x00", max_size=14), max_size=30))
def test_bulk_strings_are_raw_digits_only(values: list[str]) -> None:
    expected = [len(v) == 12 and v.isascii() and v.isdigit() and individual.is_valid(v)
                for v in values]
    assert bulk.validate_individual(values).tolist() == expected


def test_bulk_individual_vectors() -> None:
    assert bulk.validate_individual(VALID_INDIVIDUAL).all()
    assert bulk.validate_individual([int(v) for v in VALID_INDIVIDUAL]).all()
    assert not bulk.validate_individual(["012345678908"])[0]


def test_bulk_input_shapes_and_types() -> None:
    assert bulk.validate_individual([]).shape == (0,)
    grid = np.array([[123456789018, 123456789019], [621498320257, -123456789018]])
    assert bulk.validate_individual(grid).tolist() == [[True, False], [True, False]]
    assert bulk.validate_individual(np.array([123456789018], dtype=np.uint64)).tolist() == [True]
    huge = np.array([2**64 - 1, 10**12 + 123456789018 - 10**12 + 10**13], dtype=np.uint64)
    assert not bulk.validate_individual(huge).any()
    assert not bulk.validate_individual(np.array([b"12345678901"], dtype="S11")).any()
    assert bulk.validate_individual(np.array(["123456789018", "1234567890180"])).tolist() == [
        True, False]
    assert bulk.validate_individual(np.array(["123456789018"], dtype=object)).tolist() == [True]
    with pytest.raises(TypeError):
        bulk.validate_individual(np.array([1.5]))
    with pytest.raises(TypeError):
        bulk.validate_individual(np.array(["123456789018", 1], dtype=object))


def test_bulk_check_digit_input_checks() -> None:
    with pytest.raises(InvalidLength, match="index 1"):
        bulk.individual_check_digits([1, 10**11])
    with pytest.raises(InvalidFormat, match="negative"):
        bulk.individual_check_digits([-1])
    with pytest.raises(InvalidFormat):
        bulk.individual_check_digits(["12345678901"])
    with pytest.raises(InvalidLength):
        bulk.resident_code_check_digits(np.array([10**10], dtype=np.uint64))
    assert bulk.individual_check_digits([]).shape == (0,)


_TYPED = st.text(alphabet=st.sampled_from(
    list("0123456789０１２３４５６７８９ -－ー\u3000x①") + ["\u2212", "\t"]), max_size=20)


@given(st.lists(st.one_of(
    _TYPED,
    st.integers(0, 10**11 - 1).map(lambda b: individual.format(
        f"{b:011d}" + individual.calc_check_digit(f"{b:011d}"))),
), max_size=60))
def test_bulk_validation_of_typed_numbers_answers_as_the_scalar_does(values: list[str]) -> None:
    from myna.numbers.bulk import validate_individual_typed

    assert validate_individual_typed(values).tolist() == [individual.is_valid(v)
                                                          for v in values]


@given(_TYPED)
def test_the_quick_path_of_is_valid_agrees_with_validate(value: str) -> None:
    from myna.errors import ValidationError

    try:
        individual.validate(value)
        expected = True
    except ValidationError:
        expected = False
    assert individual.is_valid(value) is expected
