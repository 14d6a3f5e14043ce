"""J-LIS: 住民票コード batches, numbering (番号法8条), changes and look-ups."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from myna.errors import Conflict, InvalidChecksum, NotFound, PermissionDenied, ValidationError
from myna.jlis import storage as t
from myna.jlis.domain import IdentityInfo, NumberGenerator, number_input
from myna.keys import FileKeyStore, MemoryKeyStore
from myna.numbers import individual, resident_code
from myna.system import MynaSystem

KUNITACHI = "132152"
KOKUBUNJI = "132144"


def _info(code: str, name: str = "国立 一郎") -> IdentityInfo:
    import datetime as dt

    return IdentityInfo(code, name, "クニタチ イチロウ", dt.date(1980, 4, 1), "男",
                        "東京都国立市北1丁目1番1号")


def _count(system: MynaSystem, table: t.Table) -> int:  # type: ignore[name-defined]
    with system.jlis.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_codes_are_valid_unique_and_never_reissued(system: MynaSystem) -> None:
    first = system.jlis.issue_resident_codes(KUNITACHI, 500)
    second = system.jlis.issue_resident_codes(KOKUBUNJI, 500)
    assert len(set(first) | set(second)) == 1000
    assert all(resident_code.is_valid(c) for c in first + second)


def test_number_is_derived_from_the_code_and_idempotent(system: MynaSystem) -> None:
    code = system.jlis.issue_resident_codes(KUNITACHI, 1)[0]
    number = system.jlis.assign_number(KUNITACHI, code)
    assert individual.is_valid(number)
    assert system.jlis.assign_number(KUNITACHI, code) == number
    assert system.jlis.generator.number_for(code) == number
    # nothing is kept until the municipality confirms that a 住民票 carries it
    assert _count(system, t.numbers) == 0
    system.jlis.record_identity(KUNITACHI, _info(code), "出生", number=number)
    assert _count(system, t.numbers) == 1
    assert system.jlis.assign_number(KUNITACHI, code) == number
    # a confirmation must carry the number J-LIS generated for that code
    other = system.jlis.issue_resident_codes(KUNITACHI, 1)[0]
    with pytest.raises(PermissionDenied, match="機構が生成した番号ではありません"):
        system.jlis.record_identity(KUNITACHI, _info(other), "出生", number=number)
    assert _count(system, t.numbers) == 1


def test_only_issued_codes_of_the_caller_get_numbers(system: MynaSystem) -> None:
    code = system.jlis.issue_resident_codes(KUNITACHI, 1)[0]
    with pytest.raises(PermissionDenied, match="別の市区町村"):
        system.jlis.assign_number(KOKUBUNJI, code)
    never = resident_code.calc_check_digit("9999999999")
    with pytest.raises(NotFound, match="発行したものではありません"):
        system.jlis.assign_number(KUNITACHI, "9999999999" + never)
    bad = code[:10] + str((int(code[10]) + 1) % 10)
    with pytest.raises(InvalidChecksum):
        system.jlis.assign_number(KUNITACHI, bad)
    assert _count(system, t.numbers) == 0


def test_bulk_assignment_numbers_everyone_once(system: MynaSystem) -> None:
    codes = system.jlis.issue_resident_codes(KUNITACHI, 2000)
    seen: list[int] = []
    numbers = system.jlis.assign_numbers_bulk(KUNITACHI, codes, seen.append, chunk=700)
    assert sum(seen) == 2000
    assert len(set(numbers)) == 2000
    assert all(individual.is_valid(n) for n in numbers)
    assert numbers[:5] == [system.jlis.generator.number_for(c) for c in codes[:5]]


def test_bulk_assignment_answers_the_same_again_and_all_or_nothing(system: MynaSystem) -> None:
    codes = system.jlis.issue_resident_codes(KUNITACHI, 10)
    first = system.jlis.assign_numbers_bulk(KUNITACHI, codes)
    system.jlis.record_identity(KUNITACHI, _info(codes[3]), "出生", number=first[3])
    # asked again (a crashed 初期一斉指定 run again): the same numbers, no refusal
    assert system.jlis.assign_numbers_bulk(KUNITACHI, codes) == first
    with pytest.raises(PermissionDenied, match="別の市区町村"):
        system.jlis.assign_numbers_bulk(KOKUBUNJI, codes)
    with pytest.raises(Conflict, match="重複"):
        system.jlis.assign_numbers_bulk(KUNITACHI, codes + codes[:1])
    assert _count(system, t.numbers) == 1
    with pytest.raises(Conflict, match="重複"):
        system.jlis.assign_numbers_bulk(KUNITACHI, [codes[0], codes[0]])
    other = system.jlis.issue_resident_codes(KOKUBUNJI, 1)
    with pytest.raises(PermissionDenied):
        system.jlis.assign_numbers_bulk(KUNITACHI, [codes[0], other[0]])
    assert _count(system, t.numbers) == 1


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**10 - 1), st.integers(0, 10**10 - 1), st.integers(0, 9),
       st.integers(0, 9))
def test_generation_inputs_never_collide(a: int, b: int, ka: int, kb: int) -> None:
    ca = f"{a:010d}" + resident_code.calc_check_digit(f"{a:010d}")
    cb = f"{b:010d}" + resident_code.calc_check_digit(f"{b:010d}")
    if (ca, ka) != (cb, kb):
        assert number_input(ca, ka) != number_input(cb, kb)


def test_generator_is_keyed() -> None:
    code = "0123456789" + resident_code.calc_check_digit("0123456789")
    one = NumberGenerator(b"\x01" * 32, b"\x02" * 32).number_for(code)
    two = NumberGenerator(b"\x03" * 32, b"\x02" * 32).number_for(code)
    assert one != two


def test_number_change_retires_the_old_number_forever(system: MynaSystem) -> None:
    code = system.jlis.issue_resident_codes(KUNITACHI, 1)[0]
    old = system.jlis.assign_number(KUNITACHI, code)
    system.jlis.record_identity(KUNITACHI, _info(code), "出生", number=old)
    with pytest.raises(ValidationError, match="理由"):
        system.jlis.change_number(KUNITACHI, code, "  ", ex_officio=False)
    with pytest.raises(PermissionDenied, match="住所地"):
        system.jlis.change_number(KOKUBUNJI, code, "漏えい", ex_officio=False)
    new = system.jlis.change_number(KUNITACHI, code, "書類の流出", ex_officio=False)
    assert new != old and individual.is_valid(new)
    system.jlis.register_caller("nenkin", "日本年金機構", ["年金給付"], receives_resident_code=True)
    assert system.jlis.lookup_by_number("nenkin", "年金給付", new).resident_code == code
    with pytest.raises(NotFound):
        system.jlis.lookup_by_number("nenkin", "年金給付", old)
    third = system.jlis.change_number(KUNITACHI, code, "再度の流出", ex_officio=True)
    assert len({old, new, third}) == 3
    # the same code now asks for its number: J-LIS answers the current one
    assert system.jlis.assign_number(KUNITACHI, code) == third
    with system.jlis.engine.connect() as conn:
        statuses = dict(conn.execute(select(t.numbers.c.number, t.numbers.c.status)).all())
    assert statuses == {old: "retired", new: "retired", third: "active"}


def test_code_change_keeps_the_number(system: MynaSystem) -> None:
    code, new_code = system.jlis.issue_resident_codes(KUNITACHI, 2)
    number = system.jlis.assign_number(KUNITACHI, code)
    system.jlis.record_identity(KUNITACHI, _info(code), "出生", number=number)
    system.jlis.change_resident_code(KUNITACHI, code, new_code)
    system.jlis.register_caller("city", "市", ["住民基本台帳事務"], receives_resident_code=True)
    record = system.jlis.lookup_by_number("city", "住民基本台帳事務", number)
    assert record.resident_code == new_code
    with pytest.raises(Conflict):
        system.jlis.change_resident_code(KUNITACHI, new_code, new_code)
    # a later number change uses the new code's own generations
    changed = system.jlis.change_number(KUNITACHI, new_code, "流出", ex_officio=False)
    assert changed not in (number, system.jlis.generator.number_for(code, 1))


def test_lookups_need_authorisation_and_are_logged(system: MynaSystem) -> None:
    code = system.jlis.issue_resident_codes(KUNITACHI, 1)[0]
    number = system.jlis.assign_number(KUNITACHI, code)
    system.jlis.record_identity(KUNITACHI, _info(code, "髙橋 𠮷太郎"), "出生", number=number)
    with pytest.raises(PermissionDenied, match="認められていません"):
        system.jlis.lookup_by_number("stranger", "興味本位", number)
    system.jlis.register_caller("nenkin", "日本年金機構", ["年金給付"], receives_resident_code=True)
    with pytest.raises(PermissionDenied):
        system.jlis.lookup_by_number("nenkin", "税務", number)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number[:4]) + " " + number[4:]
    record = system.jlis.lookup_by_number("nenkin", "年金給付", full_width)
    assert record.name == "髙橋 𠮷太郎"
    with system.jlis.engine.connect() as conn:
        results = list(conn.execute(select(t.lookup_log.c.result)).scalars())
    assert results == ["denied", "denied", "found"]


def test_identity_needs_a_number_first(system: MynaSystem) -> None:
    code = system.jlis.issue_resident_codes(KUNITACHI, 1)[0]
    with pytest.raises(NotFound, match="番号が指定されていません"):
        system.jlis.record_identity(KUNITACHI, _info(code), "出生")
    assert _count(system, t.persons) == 0


def test_file_keystore_keeps_keys_private_and_stable(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    key = store.secret("jlis/number-ff1")
    assert FileKeyStore(tmp_path / "keys").secret("jlis/number-ff1") == key
    mode = stat.S_IMODE(os.stat(tmp_path / "keys" / "jlis" / "number-ff1.key").st_mode)
    assert mode == 0o600
    signer = store.ed25519("hub/checkpoint")
    again = FileKeyStore(tmp_path / "keys").ed25519("hub/checkpoint")
    assert signer.public_key().public_bytes_raw() == again.public_key().public_bytes_raw()
    with pytest.raises(ValidationError, match="鍵の名前"):
        store.secret("../escape")
    memory = MemoryKeyStore()
    memory.secret("short", 16)
    with pytest.raises(ValidationError, match="長さ"):
        memory.secret("short", 32)
