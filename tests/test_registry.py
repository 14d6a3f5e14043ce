"""The resident registry: 届出 as history, staff access logging, bad input."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from myna.clock import jst_today
from myna.errors import (
    Conflict,
    InvalidChecksum,
    InvalidFormat,
    MynaError,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from myna.numbers import individual
from myna.registry import storage as t
from myna.registry.domain import (
    ForeignResidence,
    HouseholdPlacement,
    MoveOutCertificate,
    PersonDetails,
    Role,
    Staff,
    parse_date,
)
from myna.registry.service import InitialResident, MunicipalityRegistry
from myna.system import MynaSystem

KUNITACHI = "132152"
KOKUBUNJI = "132144"
REGISTRY = "resident-registry"
HOME = HouseholdPlacement("世帯主", postcode="1860001", address="東京都国立市北1丁目2番3号")


@pytest.fixture
def town(system: MynaSystem) -> MunicipalityRegistry:
    return system.add_municipality(KUNITACHI)


@pytest.fixture
def clerk(town: MunicipalityRegistry) -> Staff:
    return town.create_staff("clerk", "窓口 花子", Role.CLERK, "clerk-password")


@pytest.fixture
def supervisor(town: MunicipalityRegistry) -> Staff:
    return town.create_staff("boss", "係長 一郎", Role.SUPERVISOR, "boss-password")


def born(name: str = "国立 太郎", kana: str = "くにたち たろう", sex: str = "男",
         days_ago: int = 30) -> PersonDetails:
    return PersonDetails(name, kana, jst_today() - dt.timedelta(days=days_ago), sex)


def counts(registry: MunicipalityRegistry) -> dict[str, int]:
    tables = (t.residents, t.events, t.resident_versions, t.households, t.moveout_certificates,
              t.copies)
    with registry.engine.connect() as conn:
        out = {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in tables
        }
        out["free_codes"] = int(conn.execute(
            select(func.count()).select_from(t.code_pool).where(t.code_pool.c.used.is_(False))
        ).scalar_one())
    return out


@pytest.fixture
def unchanged(town: MunicipalityRegistry) -> Iterator[Any]:
    """Asserts that a failing call left nothing behind."""
    def check(call: Any, error: type[MynaError], match: str | None = None) -> MynaError:
        before = counts(town)
        with pytest.raises(error, match=match) as info:
            call()
        assert counts(town) == before
        return info.value

    yield check


def test_birth_gets_a_code_and_a_number_from_jlis(
    system: MynaSystem, town: MunicipalityRegistry, clerk: Staff
) -> None:
    baby = town.register_birth(clerk, born(), HOME)
    assert individual.is_valid(baby.individual_number or "")
    system.jlis.register_caller("city", "国立市", ["住民基本台帳事務"],
                               receives_resident_code=True)
    record = system.jlis.lookup_by_number("city", "住民基本台帳事務", baby.individual_number or "")
    assert record.resident_code == baby.resident_code
    assert record.address == HOME.address
    assert [h.kind for h in town.history(baby.resident_id)] == ["出生"]


def test_names_are_stored_exactly(town: MunicipalityRegistry, clerk: Staff) -> None:
    # U+FA19 神 (a compatibility ideograph) would become U+795E under NFKC
    name = "髙橋\u3000\ufa19𠮷"
    person = town.register_birth(clerk, born(name, "たかはし　しんきち"), HOME)
    assert person.name == name
    assert town.view(clerk, person.resident_id, REGISTRY).name == name


def test_household_members_and_relationships(town: MunicipalityRegistry, clerk: Staff) -> None:
    head = town.register_birth(clerk, born("国立 一郎", "くにたち いちろう", days_ago=12000), HOME)
    child = town.register_birth(
        clerk, born("国立 花子", "くにたち はなこ", "女"),
        HouseholdPlacement("子", household_number=head.household_number),
    )
    assert child.address == head.address
    members = town.household_members(head.household_number)
    assert [(m.name, m.relationship) for m in members] == [("国立 一郎", "世帯主"),
                                                          ("国立 花子", "子")]


def test_moving_between_towns_keeps_number_and_code(
    system: MynaSystem, town: MunicipalityRegistry, clerk: Staff
) -> None:
    other = system.add_municipality(KOKUBUNJI)
    other_clerk = other.create_staff("clerk", "窓口", Role.CLERK, "other-password")
    person = town.register_birth(clerk, born(days_ago=9000), HOME)
    certificate = town.move_out(clerk, person.resident_id, "東京都国分寺市本町1丁目1番1号",
                                jst_today())
    assert certificate.individual_number == person.individual_number
    assert certificate.resident_code == person.resident_code
    # the certificate travels as data (e.g. JSON) to the new town
    travelled = MoveOutCertificate.from_json(certificate.as_json())
    arrived = other.move_in(
        other_clerk, travelled,
        HouseholdPlacement("世帯主", postcode="1850012", address="東京都国分寺市本町1丁目1番1号"),
        jst_today(),
    )
    assert (arrived.individual_number, arrived.resident_code) == (
        person.individual_number, person.resident_code)
    assert arrived.previous_address == HOME.address
    # the old town keeps a 除票, still retrievable
    removed = town.search(clerk, REGISTRY, name="国立", include_removed=True)
    assert [(r.status, r.removal_reason) for r in removed] == [("除票", "転出")]
    assert list(town.search(clerk, REGISTRY, name="国立")) == []
    # J-LIS now knows the new address
    system.jlis.register_caller("city", "市", ["住民基本台帳事務"], receives_resident_code=True)
    record = system.jlis.lookup_by_number(
        "city", "住民基本台帳事務", arrived.individual_number or ""
    )
    assert (record.municipality_code, record.address) == (KOKUBUNJI, arrived.address)


def test_move_in_for_someone_already_resident_is_refused(
    system: MynaSystem, town: MunicipalityRegistry, clerk: Staff, unchanged: Any
) -> None:
    other = system.add_municipality(KOKUBUNJI)
    other_clerk = other.create_staff("clerk", "窓口", Role.CLERK, "other-password")
    person = town.register_birth(clerk, born(days_ago=9000), HOME)
    certificate = town.move_out(clerk, person.resident_id, "東京都国分寺市本町1丁目1番1号",
                                jst_today())
    place = HouseholdPlacement("世帯主", postcode="1850012", address="東京都国分寺市本町1-1-1")
    other.move_in(other_clerk, certificate, place, jst_today())
    before = counts(other)
    with pytest.raises(Conflict, match="既に"):
        other.move_in(other_clerk, certificate, place, jst_today())
    assert counts(other) == before
    # and a certificate naming this town itself is not a move-in
    same = MoveOutCertificate.from_json(certificate.as_json() | {"from_municipality_code":
                                                                 KUNITACHI})
    unchanged(lambda: town.move_in(clerk, same, HOME, jst_today()), ValidationError,
              "転居届")


def test_forged_certificate_numbers_are_rejected(
    town: MunicipalityRegistry, clerk: Staff, unchanged: Any
) -> None:
    data = {
        "certificate_id": "x", "from_municipality_code": KOKUBUNJI,
        "from_municipality_name": "国分寺市", "resident_code": "12345678901",
        "individual_number": "123456789010", "name": "偽 名", "furigana": "にせ な",
        "birth_date": "1990-01-01", "sex": "男", "address": "東京都国分寺市本町1-1",
        "household_number": "1", "relationship": "世帯主", "destination": HOME.address,
        "moving_on": "2024-01-01", "issued_at": "2024-01-01T00:00:00+09:00",
    }
    cert = MoveOutCertificate.from_json(data)
    unchanged(lambda: town.move_in(clerk, cert, HOME, jst_today()), InvalidChecksum)
    with pytest.raises(ValidationError, match="birth_date|生年月日"):
        MoveOutCertificate.from_json(data | {"birth_date": "1990-02-30"})
    with pytest.raises(ValidationError, match="name"):
        MoveOutCertificate.from_json({k: v for k, v in data.items() if k != "name"})


def test_unknown_municipality_is_refused(system: MynaSystem) -> None:
    with pytest.raises(NotFound, match="見つかりません|ありません|not"):
        system.add_municipality("011002")  # 札幌市 itself has no registry: its wards do
    with pytest.raises(InvalidChecksum):
        system.add_municipality("132150")
    with pytest.raises(InvalidFormat):
        system.add_municipality("13215X")


@pytest.mark.parametrize(
    ("person", "place", "message"),
    [
        pytest.param(born("", "くにたち"), HOME, "氏名を入力", id="no-name"),
        pytest.param(born("国立 太郎", "Kunitachi"), HOME, "ふりがな", id="romaji-furigana"),
        pytest.param(born(days_ago=-3), HOME, "未来", id="born-in-the-future"),
        pytest.param(born(sex="X"), HOME, "性別", id="unknown-sex"),
        pytest.param(born(), HouseholdPlacement("世帯主", postcode="186-001",
                                                address=HOME.address), "郵便番号",
                     id="short-postcode"),
        pytest.param(born(), HouseholdPlacement("世帯主", postcode="1860001",
                                                address="大阪府大阪市北区1"),
                     "区域内ではありません", id="address-in-another-town"),
        pytest.param(born(), HouseholdPlacement("子", household_number="9999999999"),
                     "世帯はありません", id="unknown-household"),
        pytest.param(born(), HouseholdPlacement("子", postcode="1860001", address=HOME.address),
                     "世帯主", id="new-household-without-a-head"),
    ],
)
def test_bad_births_leave_nothing_behind(
    town: MunicipalityRegistry, clerk: Staff, unchanged: Any, person: PersonDetails,
    place: HouseholdPlacement, message: str,
) -> None:
    town.ensure_codes(1)
    unchanged(lambda: town.register_birth(clerk, person, place), MynaError, message)


def test_impossible_dates_are_explained() -> None:
    with pytest.raises(ValidationError, match="存在しない日付"):
        parse_date("2023-02-29", "生年月日")
    with pytest.raises(ValidationError, match="形式"):
        parse_date("昨日", "生年月日")
    assert parse_date("２０２４年２月２９日") == dt.date(2024, 2, 29)


def test_death_and_history_are_kept(town: MunicipalityRegistry, clerk: Staff) -> None:
    person = town.register_birth(clerk, born(days_ago=30000), HOME)
    town.move_within(clerk, person.resident_id,
                     HouseholdPlacement("世帯主", postcode="1860002",
                                        address="東京都国立市東2丁目1番1号"), jst_today())
    with pytest.raises(ValidationError, match="生年月日.*より前"):
        town.record_death(clerk, person.resident_id, dt.date(1900, 1, 1))
    dead = town.record_death(clerk, person.resident_id, jst_today())
    assert (dead.status, dead.removal_reason) == ("除票", "死亡")
    versions = town.versions(person.resident_id)
    assert [v["address"] for v in versions] == [HOME.address, "東京都国立市東2丁目1番1号",
                                                "東京都国立市東2丁目1番1号"]
    assert [v["status"] for v in versions] == ["住民", "住民", "除票"]
    with pytest.raises(Conflict, match="除票"):
        town.record_death(clerk, person.resident_id, jst_today())


def test_ex_officio_entry_and_removal_need_a_supervisor(
    town: MunicipalityRegistry, clerk: Staff, supervisor: Staff
) -> None:
    with pytest.raises(PermissionDenied, match="監督者"):
        town.ex_officio_entry(clerk, born(days_ago=9000), HOME, "実態調査により居住を確認",
                              jst_today())
    person = town.ex_officio_entry(supervisor, born(days_ago=9000), HOME,
                                   "実態調査により居住を確認", jst_today())
    with pytest.raises(PermissionDenied):
        town.ex_officio_removal(clerk, person.resident_id, "居住の実態なし")
    gone = town.ex_officio_removal(supervisor, person.resident_id, "居住の実態なし")
    assert gone.removal_reason == "職権消除"
    assert [h.kind for h in town.history(person.resident_id)] == ["職権記載", "職権消除"]


def test_number_change_and_code_change(
    system: MynaSystem, town: MunicipalityRegistry, clerk: Staff
) -> None:
    person = town.register_birth(clerk, born(days_ago=9000), HOME)
    boss = town.create_staff("boss-n", "係長", Role.SUPERVISOR, "password-1234")
    other = town.create_staff("clerk-n", "窓口", Role.CLERK, "password-1234")
    facts = "個人番号を記載した書類が誤って第三者に送付された（本人請求）"
    # 番号法7条2項: the facts stated, and a supervisor other than the one entering it
    with pytest.raises(ValidationError, match="漏えいの事実"):
        town.change_number(clerk, person.resident_id, " ", approved_by=boss)
    with pytest.raises(PermissionDenied, match="監督者"):
        town.change_number(clerk, person.resident_id, facts, approved_by=other)
    with pytest.raises(PermissionDenied, match="入力した職員以外"):
        town.change_number(boss, person.resident_id, facts, approved_by=boss)
    with pytest.raises(PermissionDenied, match="職権"):
        town.change_number(clerk, person.resident_id, facts, ex_officio=True, approved_by=boss)
    assert dict((r, n) for r, _, n in town.carried_numbers())[person.resident_id] == \
        person.individual_number  # nothing changed by the refusals
    changed = town.change_number(clerk, person.resident_id, facts, approved_by=boss)
    assert changed.individual_number != person.individual_number
    [entry] = [h for h in town.history(person.resident_id) if h.kind == "個人番号変更"]
    assert entry.detail["approved_by"] == "boss-n" and entry.detail["facts"] == facts
    assert str(entry.detail["ground"]).startswith("本人の請求")
    assert list(town.search(clerk, REGISTRY, number=person.individual_number)) == []
    recoded = town.change_resident_code(clerk, person.resident_id)
    assert recoded.resident_code != person.resident_code
    assert recoded.individual_number == changed.individual_number
    kinds = [h.kind for h in town.history(person.resident_id)]
    assert kinds == ["出生", "個人番号変更", "住民票コード変更"]


def test_views_need_a_purpose_and_are_logged(
    town: MunicipalityRegistry, clerk: Staff
) -> None:
    person = town.register_birth(clerk, born(), HOME)
    with pytest.raises(ValidationError, match="目的"):
        town.view(clerk, person.resident_id, " ")
    with pytest.raises(ValidationError, match="目的"):
        town.search(clerk, "", name="国立")
    with pytest.raises(ValidationError, match="事務の一覧"):  # a purpose is not typed freely
        town.view(clerk, person.resident_id, "児童手当の認定")
    town.view(clerk, person.resident_id, "child-allowance")
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in person.individual_number or "")
    hits = town.search(clerk, "national-health-insurance", number=full_width)
    assert [h.resident_id for h in hits] == [person.resident_id]
    log = town.access_log(person.resident_id)
    actions = [(e.staff_id, e.action, e.purpose) for e in log]
    assert ("clerk", "view", "児童手当の支給") in actions
    assert ("clerk", "write", "出生") in actions
    assert ("clerk", "search_hit", "国民健康保険の保険給付の支給・保険料の徴収") in [
        (e.staff_id, e.action, e.purpose) for e in town.access_log(person.resident_id)]
    searches = [e for e in town.access_log() if e.action == "search"]
    assert searches[0].detail["number"] == individual.mask(person.individual_number or "")


def test_support_measure_records_need_a_supervisor(
    town: MunicipalityRegistry, clerk: Staff, supervisor: Staff
) -> None:
    person = town.register_birth(clerk, born(), HOME)
    with pytest.raises(PermissionDenied):
        town.set_support_measure(clerk, person.resident_id, True, "DV支援措置の申出")
    town.set_support_measure(supervisor, person.resident_id, True, "DV支援措置の申出")
    with pytest.raises(PermissionDenied, match="支援措置"):
        town.view(clerk, person.resident_id, "child-allowance")
    with pytest.raises(PermissionDenied, match="支援措置"):
        town.issue_copy(clerk, person.resident_id, "交付請求")
    # a supervisor too needs another supervisor's approval (tests/test_staff_access.py)
    with pytest.raises(PermissionDenied, match="承認"):
        town.view(supervisor, person.resident_id, REGISTRY)
    denied = [e.staff_id for e in town.access_log(person.resident_id) if e.action == "view_denied"]
    assert denied == ["boss", "clerk"]


def test_copy_omits_the_number_unless_specially_requested(
    town: MunicipalityRegistry, clerk: Staff
) -> None:
    person = town.register_birth(clerk, born(), HOME)
    plain = town.issue_copy(clerk, person.resident_id, "本人からの交付請求")
    assert not plain.includes_number
    assert all(e.individual_number is None and e.resident_code is None for e in plain.entries)
    with pytest.raises(ValidationError, match="理由"):
        town.issue_copy(clerk, person.resident_id, "交付請求", include_number=True)
    special = town.issue_copy(clerk, person.resident_id, "交付請求", include_number=True,
                              number_reason="勤務先への提出")
    assert special.entries[0].individual_number == person.individual_number
    logged = [e for e in town.access_log(person.resident_id) if e.action == "number_on_copy"]
    assert len(logged) == 1 and logged[0].detail["reason"] == "勤務先への提出"
    from myna.registry.documents import render_html

    assert person.individual_number not in render_html(plain)
    assert person.individual_number in render_html(special)


def test_staff_passwords_are_hashed_and_checked(town: MunicipalityRegistry) -> None:
    town.create_staff("admin", "管理 太郎", Role.ADMINISTRATOR, "correct horse")
    assert town.authenticate("admin", "correct horse").role == Role.ADMINISTRATOR
    with pytest.raises(PermissionDenied, match="パスワード"):
        town.authenticate("admin", "wrong horse")
    with pytest.raises(PermissionDenied):
        town.authenticate("nobody", "correct horse")
    with pytest.raises(Conflict):
        town.create_staff("admin", "二人目", Role.CLERK, "another password")
    with pytest.raises(ValidationError, match="8文字"):
        town.create_staff("short", "短", Role.CLERK, "1234")
    with town.engine.connect() as conn:
        stored = conn.execute(select(t.staff.c.password_hash)).scalars().all()
    assert all(h.startswith("scrypt$") and "horse" not in h for h in stored)


def test_initial_registration_and_numbering(
    system: MynaSystem, town: MunicipalityRegistry, clerk: Staff
) -> None:
    records = [
        InitialResident(PersonDetails(f"住民 {i}", "じゅうみん", dt.date(1980, 1, 1), "女"),
                        f"h{i // 3}", "世帯主" if i % 3 == 0 else "子", "1860001",
                        "東京都国立市北3丁目1番1号", dt.date(2000, 4, 1))
        for i in range(60)
    ]
    records.append(InitialResident(
        PersonDetails("NGUYEN VAN AN", "グエン ヴァン アン", dt.date(1995, 5, 5), "男",
                      ForeignResidence("ベトナム", "技能実習", dt.date(2027, 3, 31))),
        "foreign", "世帯主", "1860001", "東京都国立市北3丁目2番1号", dt.date(2024, 4, 1)))
    ids = town.register_initial(records)
    assert len(ids) == 61
    assert town.initial_numbering() == 61
    assert town.initial_numbering() == 0
    stats = town.stats()
    assert stats["residents"] == stats["numbered"] == 61
    assert stats["households"] == 21
    assert system.jlis.stats()["persons"] == 61
    # later one-by-one registrations continue after the bulk-loaded ids
    baby = town.register_birth(clerk, born(), HOME)
    assert baby.resident_id == max(ids) + 1
    foreign = town.search(clerk, REGISTRY, name="NGUYEN")[0]
    assert (foreign.nationality, foreign.residence_status) == ("ベトナム", "技能実習")


def test_initial_registration_rejects_bad_rows_whole(
    town: MunicipalityRegistry, unchanged: Any
) -> None:
    good = InitialResident(PersonDetails("住民 一", "じゅうみん", dt.date(1980, 1, 1), "女"),
                           "h1", "世帯主", "1860001", "東京都国立市北3丁目1番1号",
                           dt.date(2000, 4, 1))
    bad = InitialResident(PersonDetails("住民 二", "じゅうみん", dt.date(1980, 1, 1), "?"),
                          "h1", "子", "1860001", "東京都国立市北3丁目1番1号",
                          dt.date(2000, 4, 1))
    town.ensure_codes(2)
    error = unchanged(lambda: town.register_initial([good, bad]), ValidationError)
    assert "2件目" in error.message_ja


def test_protected_records_are_guarded_everywhere(
    town: MunicipalityRegistry, clerk: Staff, supervisor: Staff
) -> None:
    head = town.register_birth(clerk, born("国立 一郎", "くにたち いちろう", days_ago=12000), HOME)
    child = town.register_birth(clerk, born("国立 花子", "くにたち はなこ", "女"),
                                HouseholdPlacement("子", household_number=head.household_number))
    town.set_support_measure(supervisor, child.resident_id, True, "DV支援措置の申出")
    # a clerk's search does not find the protected person at all; a supervisor's shows
    # the row without address or number
    hits = {r.resident_id: r for r in town.search(clerk, REGISTRY, name="国立")}
    assert child.resident_id not in hits
    assert hits[head.resident_id].address == HOME.address
    shown = {r.resident_id: r for r in town.search(supervisor, REGISTRY, name="国立")}
    assert shown[child.resident_id].address == "（支援措置により非表示）"
    assert shown[child.resident_id].individual_number is None
    # a household copy leaves the protected child off for anyone without an approval,
    # a supervisor too (tests/test_staff_access.py)
    for staff in (clerk, supervisor):
        copy = town.issue_copy(staff, head.resident_id, "本人からの交付請求")
        assert [e.name for e in copy.entries] == [head.name] and copy.withheld == 1
    with pytest.raises(PermissionDenied, match="支援措置"):
        town.issue_copy(clerk, child.resident_id, "本人からの交付請求")
    town.issue_copy(clerk, head.resident_id, "本人からの交付請求", whole_household=False)
    # writes too
    with pytest.raises(PermissionDenied, match="監督者"):
        town.move_out(clerk, child.resident_id, "東京都国分寺市本町1丁目1番1号", jst_today())
    town.move_out(supervisor, child.resident_id, "東京都国分寺市本町1丁目1番1号", jst_today())


def test_issued_copies_can_be_shown_again_exactly(
    town: MunicipalityRegistry, clerk: Staff
) -> None:
    person = town.register_birth(clerk, born(), HOME)
    issued = town.issue_copy(clerk, person.resident_id, "交付請求", include_number=True,
                             number_reason="勤務先への提出")
    again = town.issue_copy(clerk, person.resident_id, "交付請求")
    assert issued.certificate_number != again.certificate_number
    stored = town.get_copy(clerk, issued.certificate_number)
    assert stored == issued
    assert [e.action for e in town.access_log(person.resident_id)][0] == "view_copy"
    with pytest.raises(NotFound):
        town.get_copy(clerk, "no-such-copy")


def test_number_reveals_and_certificate_reads_are_logged(
    town: MunicipalityRegistry, clerk: Staff, supervisor: Staff
) -> None:
    person = town.register_birth(clerk, born(days_ago=9000), HOME)
    masked = town.view(clerk, person.resident_id, "child-allowance", reveal_number=True)
    assert masked.individual_number == individual.mask(person.individual_number or "")
    shown = town.view(supervisor, person.resident_id, "child-allowance", reveal_number=True)
    assert shown.individual_number == person.individual_number
    certificate = town.move_out(clerk, person.resident_id, "東京都国分寺市本町1丁目1番1号",
                                jst_today())
    assert town.moveout_certificate(certificate.certificate_id) == certificate
    actions = [(e.staff_id, e.action) for e in town.access_log(person.resident_id)]
    assert ("boss", "number_disclosure") in actions
    assert ("clerk", "number_disclosure") not in actions
    assert ("system", "view_certificate") in actions


def test_repeated_wrong_passwords_lock_the_account(town: MunicipalityRegistry) -> None:
    now = [dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)]
    town.now = lambda: now[0]
    town.create_staff("target", "対象 職員", Role.CLERK, "right password")
    messages = set()
    for _ in range(5):
        with pytest.raises(PermissionDenied, match="違うか") as wrong:
            town.authenticate("target", "wrong password")
        messages.add((wrong.value.message_ja, wrong.value.message_en))
    (account,) = [a for a in town.accounts.accounts() if a.staff.staff_id == "target"]
    assert account.state(now[0]) == "ロック中"
    with pytest.raises(PermissionDenied) as locked:
        town.authenticate("target", "right password")
    with pytest.raises(PermissionDenied) as unknown:
        town.authenticate("nobody", "right password")
    # the same words whether the id is unknown, the password wrong or the account locked
    messages |= {(e.value.message_ja, e.value.message_en) for e in (locked, unknown)}
    assert len(messages) == 1 and "ロック" not in next(iter(messages))[0]
    now[0] += dt.timedelta(minutes=16)
    assert town.authenticate("target", "right password").staff_id == "target"


def test_dates_that_cannot_be_printed_are_refused(
    town: MunicipalityRegistry, clerk: Staff, unchanged: Any
) -> None:
    person = town.register_birth(clerk, born(days_ago=9000), HOME)
    unchanged(lambda: town.move_out(clerk, person.resident_id, "東京都国分寺市本町1-1",
                                    dt.date(400, 9, 12)), ValidationError, "明治")
    unchanged(lambda: town.move_out(clerk, person.resident_id, "東京都国分寺市本町1-1",
                                    jst_today() + dt.timedelta(days=60)), ValidationError,
              "先すぎます")
    unchanged(lambda: town.register_birth(clerk, PersonDetails(
        "古い 人", "ふるい ひと", dt.date(1868, 1, 24), "男"), HOME), ValidationError, "明治")
    with pytest.raises(NotFound):
        town.view(clerk, 2**63, REGISTRY)


# -- the dates a 届出 states ------------------------------------------------------------------


def _moved_out(system: MynaSystem, clerk: Staff, town: MunicipalityRegistry,
               moving_on: dt.date) -> tuple[MunicipalityRegistry, Staff, MoveOutCertificate]:
    person = town.register_birth(clerk, born(days_ago=12000), HOME)
    certificate = town.move_out(clerk, person.resident_id, "東京都国分寺市本町1-1", moving_on)
    neighbour = system.add_municipality(KOKUBUNJI)
    return neighbour, neighbour.create_staff("n1", "隣町 職員", Role.CLERK, "clerk-password"), \
        certificate


NEW_HOME = HouseholdPlacement("世帯主", postcode="1850012", address="東京都国分寺市本町1-1")


def test_a_move_in_cannot_predate_the_certificate_nor_be_in_the_future(
    system: MynaSystem, town: MunicipalityRegistry, clerk: Staff,
) -> None:
    today = jst_today()
    neighbour, staff, certificate = _moved_out(system, clerk, town, today + dt.timedelta(days=7))
    before = counts(neighbour)
    for moved_on, words in ((today - dt.timedelta(days=6 * 365), "交付日"),
                            (today - dt.timedelta(days=1), "交付日"),
                            (today + dt.timedelta(days=1), "未来")):
        with pytest.raises(ValidationError, match=words):
            neighbour.move_in(staff, certificate, NEW_HOME, moved_on)
    assert counts(neighbour) == before
    moved = neighbour.move_in(staff, certificate, NEW_HOME, today)
    assert moved.became_resident_on == today
    with pytest.raises(ValidationError, match="住民となった日"):  # not before arriving here
        neighbour.record_death(staff, moved.resident_id, today - dt.timedelta(days=1))


def test_a_move_out_reported_after_the_move_lets_the_move_in_keep_its_real_date(
    system: MynaSystem, town: MunicipalityRegistry, clerk: Staff,
) -> None:
    today = jst_today()
    neighbour, staff, certificate = _moved_out(system, clerk, town, today - dt.timedelta(days=5))
    with pytest.raises(ValidationError, match="転出日"):  # still not before the move out
        neighbour.move_in(staff, certificate, NEW_HOME, today - dt.timedelta(days=6))
    moved = neighbour.move_in(staff, certificate, NEW_HOME, today - dt.timedelta(days=5))
    assert moved.became_resident_on == today - dt.timedelta(days=5)


def test_every_notification_date_follows_the_same_rules(
    town: MunicipalityRegistry, clerk: Staff, supervisor: Staff, unchanged: Any,
) -> None:
    today = jst_today()
    person = town.register_birth(clerk, born(days_ago=20), HOME)  # resident since birth
    rid = person.resident_id
    unchanged(lambda: town.move_within(clerk, rid, HouseholdPlacement(
        "世帯主", postcode="1860002", address="東京都国立市東1-1"), today + dt.timedelta(days=1)),
        ValidationError, "未来")
    unchanged(lambda: town.move_within(clerk, rid, HouseholdPlacement(
        "世帯主", postcode="1860002", address="東京都国立市東1-1"), today - dt.timedelta(days=31)),
        ValidationError, "現住所に住み始めた日")
    unchanged(lambda: town.record_death(clerk, rid, today - dt.timedelta(days=31)),
              ValidationError, "生年月日")
    unchanged(lambda: town.record_death(clerk, rid, today + dt.timedelta(days=1)),
              ValidationError, "未来")
    unchanged(lambda: town.move_out(clerk, rid, "東京都国分寺市本町1-1",
                                    today - dt.timedelta(days=31)), ValidationError,
              "住民となった日")
    unchanged(lambda: town.register_birth(clerk, born(days_ago=-1), HOME), ValidationError,
              "未来")
    unchanged(lambda: town.ex_officio_entry(supervisor, born(days_ago=100), HOME,
                                            "実態調査による職権記載",
                                            today - dt.timedelta(days=200)),
              ValidationError, "生年月日")
    assert town.move_out(clerk, rid, "東京都国分寺市本町1-1", today + dt.timedelta(days=14))


def test_a_duplicate_birth_is_refused_and_a_confirmed_twin_recorded(
    town: MunicipalityRegistry, clerk: Staff, unchanged: Any,
) -> None:
    head = town.register_birth(clerk, born("国立 一郎", "くにたち いちろう", days_ago=12000), HOME)
    child = HouseholdPlacement("子", household_number=head.household_number)
    first = town.register_birth(clerk, born(days_ago=2), child)
    unchanged(lambda: town.register_birth(clerk, born(days_ago=2), child), Conflict,
              "二重の出生届")
    # the same child filed into another household of the town is caught as well
    unchanged(lambda: town.register_birth(clerk, born(days_ago=2), HouseholdPlacement(
        "世帯主", postcode="1860002", address="東京都国立市東2-2")), Conflict, "二重の出生届")
    twin = town.register_birth(clerk, born("国立 次郎", "くにたち じろう", days_ago=2), child,
                               confirm_not_duplicate=True)
    (event,) = [e for e in town.history(twin.resident_id) if e.kind == "出生"]
    assert event.detail["confirmed_not_duplicate_of"] == [first.resident_id]
    assert twin.individual_number != first.individual_number


def test_births_registered_at_the_same_moment_all_succeed(
    town: MunicipalityRegistry, clerk: Staff,
) -> None:
    import threading

    heads = [town.register_birth(clerk, born(f"世帯 {i}", f"せたい {chr(0x3042 + i)}",
                                              days_ago=15000 + i),
                                 HouseholdPlacement("世帯主", postcode="1860001",
                                                    address=f"東京都国立市北1-{i}"))
             for i in range(12)]
    outcomes: list[str] = []

    def register(i: int) -> None:
        try:
            child = HouseholdPlacement("子", household_number=heads[i].household_number)
            town.register_birth(clerk, born(f"子 {i}", f"こ {chr(0x3042 + i)}", days_ago=i + 1),
                                child)
            outcomes.append("ok")
        except MynaError as exc:
            outcomes.append(exc.code)
        except Exception as exc:  # noqa: BLE001 - what the test looks for
            outcomes.append(f"crash {type(exc).__name__}")

    threads = [threading.Thread(target=register, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 12, outcomes
    codes = [r.resident_code for r in town.current_residents()]
    numbers = [r.individual_number for r in town.current_residents()]
    assert len(set(codes)) == len(codes) == 24 and len(set(numbers)) == 24


def test_impossible_people_and_moves_are_refused(
    town: MunicipalityRegistry, clerk: Staff, supervisor: Staff, unchanged: Any,
) -> None:
    head = town.register_birth(clerk, born("国立 一郎", "くにたち いちろう", days_ago=16000),
                               HOME)
    into = head.household_number
    unchanged(lambda: town.register_birth(clerk, born("国立 次郎", "くにたち じろう",
                                                       days_ago=20000),
                                          HouseholdPlacement("子", household_number=into)),
              ValidationError, "世帯主より後に生まれて")
    unchanged(lambda: town.register_birth(clerk, born("国立 祖父", "くにたち そふ", days_ago=3),
                                          HouseholdPlacement("祖父", household_number=into)),
              ValidationError, "世帯主より前に生まれて")
    unchanged(lambda: town.register_birth(clerk, born("\u0301" * 50, "あ"), HOME),
              ValidationError, "結合文字")
    foreigner = PersonDetails("NGUYEN AN", "グエン アン", jst_today() - dt.timedelta(days=4),
                              "男", ForeignResidence("ベトナム", "宇宙人", None))
    unchanged(lambda: town.register_birth(clerk, foreigner, HOME), ValidationError,
              "在留資格「宇宙人」")
    for status, until, words in (("家族滞在", dt.date(2020, 1, 1), "生年月日"),
                                 ("留学", dt.date(2025, 1, 1), "今日"),
                                 ("永住者", dt.date(2030, 1, 1), "在留期間がありません"),
                                 ("短期滞在", None, "住民票の対象ではありません")):
        visitor = PersonDetails("NGUYEN AN", "グエン アン", dt.date(2021, 1, 1), "男",
                                ForeignResidence("ベトナム", status, until))
        unchanged(lambda v=visitor: town.ex_officio_entry(  # type: ignore[misc]
            supervisor, v, HOME, "実態調査による記載", dt.date(2020, 1, 1)),
            ValidationError, words)
    unchanged(lambda: town.move_out(clerk, head.resident_id, "東京都国立市東1-1",
                                    jst_today()), ValidationError, "転居届")


def test_a_duplicate_birth_written_with_other_spacing_or_kana_is_still_caught(
    town: MunicipalityRegistry, clerk: Staff, unchanged: Any,
) -> None:
    first = town.register_birth(clerk, born("国立　太郎", "くにたち　たろう", days_ago=5), HOME)
    elsewhere = HouseholdPlacement("世帯主", postcode="1860002", address="東京都国立市東2-2")
    for name, kana in (("国立太郎", "くにたちたろう"), ("国立 太郎", "クニタチ タロウ"),
                       ("国立　太郎", "ｸﾆﾀﾁ ﾀﾛｳ")):
        error = unchanged(lambda n=name, k=kana: town.register_birth(  # type: ignore[misc]
            clerk, born(n, k, days_ago=5), elsewhere), Conflict, "二重の出生届")
        assert str(first.resident_id) in error.message_ja
