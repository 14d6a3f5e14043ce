"""Staff access a snooping clerk cannot abuse.

A view's purpose is an affair of the town's table (番号法別表第一 and the registry's
own), chosen for the role, never typed; every person a page shows is logged with
it; a full number is shown only to roles allowed to see numbers, and logged as a
disclosure; searches come 50 a page, each page logged; a person under 支援措置 is
not in a clerk's search at all, their hidden address finds them for nobody — a
supervisor included — and their record opens, for anyone, only under an approval by
a supervisor other than the one who asked; so does a 住民票の写し that would show
them, issued or shown again, and a household copy without one leaves them off.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select
from typer.testing import CliRunner

from myna.cli import app as cli
from myna.errors import Conflict, MynaError, PermissionDenied, ValidationError
from myna.numbers import individual, resident_code
from myna.registry import storage as t
from myna.registry.access import APPROVAL_VALID, REQUEST_VALID, ProtectedRecord
from myna.registry.affairs import CATALOGUE, AffairNotPermitted
from myna.registry.documents import OMITTED, render_html
from myna.registry.domain import HouseholdPlacement, PersonDetails, Role, Staff
from myna.registry.service import PER_PAGE, PROTECTED, InitialResident, MunicipalityRegistry
from myna.system import MynaSystem
from myna.transport.processes import free_port, running_staff_app
from myna.web import create_app
from seeded import (
    KUNITACHI,
    PASSWORD,
    REGISTRY,
    SECRET,
    Town,
    approve,
    csrf,
    no_trace,
    seed_town,
)
from web_sessions import Session, staff_sessions

CHILD_ALLOWANCE, LOCAL_TAX = "child-allowance", "local-tax"
HIDDEN_ADDRESS = "東京都国立市東2-3-4"
BASE = f"/api/v1/municipalities/{KUNITACHI}"


@pytest.fixture
def town(system: MynaSystem) -> Iterator[Town]:
    yield seed_town(system)


@pytest.fixture
def sup2(town: Town) -> Staff:
    return town.registry.create_staff("sup2", "課長 二郎", Role.SUPERVISOR, PASSWORD)


def log_size(registry: MunicipalityRegistry) -> int:
    return registry.stats()["access_log"]


def entries(registry: MunicipalityRegistry, resident_id: int) -> list[tuple[str, str, str]]:
    return [(e.staff_id, e.action, e.purpose) for e in registry.access_log(resident_id)]


def refused(registry: MunicipalityRegistry, call: Callable[[], Any],
            kind: type[MynaError], words: str) -> MynaError:
    """``call`` raises ``kind`` with a Japanese and an English message, writing nothing."""
    before = log_size(registry)
    with pytest.raises(kind) as raised:
        call()
    assert words in raised.value.message_ja, raised.value.message_ja
    assert raised.value.message_en and raised.value.message_en != raised.value.message_ja
    assert log_size(registry) == before
    return raised.value


# -- the purpose is an affair of the town's table ------------------------------------------------


def test_the_catalogue_names_the_affairs_of_table2(town: Town) -> None:
    names = {a.name for a in CATALOGUE}
    affairs = set(town.system.hub.table2.affairs())
    for needed in ("地方税の賦課徴収", "児童手当の支給",
                   "国民健康保険の保険給付の支給・保険料の徴収",
                   "介護保険の保険給付の支給・保険料の徴収", "生活保護の決定・実施"):
        assert needed in names and needed in affairs
    assert {"住民基本台帳事務"} <= names
    ids = [a.id for a in CATALOGUE]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-z-]+", i) for i in ids)


def test_a_free_or_unknown_purpose_is_refused_before_anything_is_read(town: Town) -> None:
    registry, clerk, rid = town.registry, town.clerk, town.head.resident_id
    for purpose in ("", "児童手当の認定", "調査のため", "child allowance"):
        refused(registry, lambda p=purpose: registry.view(clerk, rid, p), ValidationError, "目的")
        refused(registry, lambda p=purpose: registry.search(clerk, p, name="髙橋"),
                ValidationError, "目的")
    error = refused(registry, lambda: registry.view(clerk, rid, "見たかったから"),
                    ValidationError, "事務の一覧から選んでください")
    assert CHILD_ALLOWANCE in error.message_ja and CHILD_ALLOWANCE in error.message_en
    # an affair the role does not perform is refused the same way (administrators do no tax)
    refused(registry, lambda: registry.view(town.admin, rid, LOCAL_TAX), AffairNotPermitted,
            "管理者の事務として設定されていません")
    # and an unknown record is not found, also before anything is written
    refused(registry, lambda: registry.view(clerk, 999_999, REGISTRY), MynaError, "住民ID")


def test_the_table_is_the_towns_own_and_a_supervisor_changes_it(town: Town) -> None:
    registry, clerk = town.registry, town.clerk
    other = town.system.add_municipality("131016")
    other_clerk = other.create_staff("c1", "千代田 職員", Role.CLERK, PASSWORD)
    assert [a.id for a in registry.affairs_for(clerk)][:2] == [REGISTRY, "my-number"]
    assert LOCAL_TAX in [a.id for a in registry.affairs_for(clerk)]
    refused(registry, lambda: registry.set_affair_roles(clerk, {LOCAL_TAX: ["supervisor"]}),
            PermissionDenied, "監督者")
    refused(registry, lambda: registry.set_affair_roles(town.supervisor, {LOCAL_TAX: ["boss"]}),
            ValidationError, "役割は")
    refused(registry, lambda: registry.set_affair_roles(town.supervisor, {"taxes": ["clerk"]}),
            ValidationError, "事務の一覧")

    registry.set_affair_roles(town.supervisor, {LOCAL_TAX: [Role.SUPERVISOR]})
    assert LOCAL_TAX not in [a.id for a in registry.affairs_for(clerk)]
    refused(registry, lambda: registry.view(clerk, town.head.resident_id, LOCAL_TAX),
            AffairNotPermitted, "担当者の事務として設定されていません")
    registry.view(town.supervisor, town.head.resident_id, LOCAL_TAX)
    # the neighbouring town's table did not change
    assert LOCAL_TAX in [a.id for a in other.affairs_for(other_clerk)]
    changes = [e for e in registry.access_log() if e.action == "affair_roles"]
    assert changes[0].staff_id == "sup1"
    assert changes[0].detail == {"affair": LOCAL_TAX, "from": "担当者・監督者", "to": "監督者"}


# -- every person shown is logged ------------------------------------------------------------------


def test_household_members_listed_on_a_page_are_logged_as_viewed(town: Town) -> None:
    registry = town.registry
    head = registry.view(town.clerk, town.head.resident_id, CHILD_ALLOWANCE)
    listed = registry.household_view(town.clerk, head, CHILD_ALLOWANCE)
    assert {m.resident_id for m, _ in listed} == {town.head.resident_id, town.wife.resident_id,
                                                 town.child.resident_id}
    for member in (town.wife, town.child):
        [entry] = [e for e in registry.access_log(member.resident_id)
                   if e.action == "view_household"]
        assert (entry.staff_id, entry.purpose) == ("clerk1", "児童手当の支給")
        assert entry.detail["listed_with"] == town.head.resident_id
    assert not [e for e in registry.access_log(town.head.resident_id)
                if e.action == "view_household"]  # the subject's own view is the "view"


def test_a_protected_household_member_is_hidden_and_still_logged(town: Town) -> None:
    registry = town.registry
    registry.set_support_measure(town.supervisor, town.wife.resident_id, True, "DV支援措置の申出")
    head = registry.view(town.supervisor, town.head.resident_id, REGISTRY)
    shown = {m.resident_id: (m, hidden) for m, hidden in
             registry.household_view(town.supervisor, head, REGISTRY)}
    wife, hidden = shown[town.wife.resident_id]
    assert hidden and wife.name != town.wife.name and wife.address != town.wife.address
    [entry] = [e for e in registry.access_log(town.wife.resident_id)
               if e.action == "view_household"]
    assert entry.staff_id == "sup1" and entry.detail["hidden"] is True


# -- searches: pages of 50 with the total, each page logged ----------------------------------------


@pytest.fixture
def crowd(town: Town) -> list[int]:
    """120 residents of one street (to be paged through)."""
    registry = town.registry
    ids = registry.register_initial([
        InitialResident(PersonDetails(f"並木 {i:03d}", "なみき", dt.date(1970, 1, 1), "男"),
                        f"n{i}", "世帯主", "1860003", f"東京都国立市中3-{i}",
                        dt.date(2001, 4, 1))
        for i in range(120)])
    registry.initial_numbering()
    return ids


def test_searches_come_in_pages_of_at_most_fifty_with_the_total(
    town: Town, crowd: list[int],
) -> None:
    registry = town.registry
    pages = [registry.search(town.clerk, REGISTRY, address="中3-", page=n) for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [50, 50, 20]
    assert all(p.total == 120 and p.pages == 3 for p in pages)
    assert [p.has_next for p in pages] == [True, True, False]
    seen = [r.resident_id for p in pages for r in p]
    assert sorted(seen) == sorted(crowd) and len(set(seen)) == 120
    beyond = registry.search(town.clerk, REGISTRY, address="中3-", page=4)
    assert list(beyond) == [] and beyond.total == 120
    small = registry.search(town.clerk, REGISTRY, address="中3-", per_page=7, page=2)
    assert len(small) == 7 and small.pages == 18
    # each page is logged with its number, its residents and the total
    logged = [e for e in registry.access_log() if e.action == "search"][::-1]
    assert [(e.detail["page"], e.detail["total"], len(e.detail["hits"])) for e in logged] == [
        (1, 120, 50), (2, 120, 50), (3, 120, 20), (4, 120, 0), (2, 120, 7)]
    assert logged[1].detail["hits"] == [r.resident_id for r in pages[1]]
    # and each resident on a page sees that page in their own log, with the purpose
    [hit] = [e for e in registry.access_log(pages[2][0].resident_id) if e.action == "search_hit"]
    assert (hit.purpose, hit.detail["page"]) == ("住民基本台帳事務", 3)


@pytest.mark.parametrize(("page", "per_page", "words"), [
    pytest.param(0, 50, "ページ番号", id="page-0"),
    pytest.param(-1, 50, "ページ番号", id="page-negative"),
    pytest.param(1, 500, "50まで", id="per-page-500"),
    pytest.param(1, 51, "50まで", id="per-page-51"),
    pytest.param(1, 0, "50まで", id="per-page-0"),
])
def test_bad_pages_are_refused_and_nothing_is_written(
    town: Town, page: int, per_page: int, words: str,
) -> None:
    refused(town.registry, lambda: town.registry.search(
        town.clerk, REGISTRY, name="髙橋", page=page, per_page=per_page), ValidationError, words)
    assert PER_PAGE == 50


# -- 支援措置: not in a clerk's search at all ------------------------------------------------------


def test_a_search_only_the_protected_person_matches_looks_like_one_that_matches_nobody(
    town: Town,
) -> None:
    registry, clerk, protected = town.registry, town.clerk, town.protected
    nobody = registry.search(clerk, REGISTRY, address="存在しない町")
    for criteria in ({"address": "東2-3"}, {"address": "東2"}, {"name": "美咲"},
                     {"name": "さとう"}, {"birth_date": protected.birth_date},
                     {"birth_date": protected.birth_date, "sex": "女"},
                     {"number": protected.individual_number}):
        found = registry.search(clerk, REGISTRY, **criteria)  # type: ignore[arg-type]
        assert (list(found), found.total, found.pages) == (list(nobody), 0, 1), criteria
    # with others matching too, the total counts the others only
    everyone = registry.search(clerk, REGISTRY, address="東京都国立市")
    assert everyone.total == 3 and protected.resident_id not in [r.resident_id for r in everyone]
    # the clerk saw nothing; the protected person's own record says the searches matched them
    hidden = [e for e in registry.access_log(protected.resident_id) if e.action == "search_hidden"]
    assert len(hidden) == 8 and {e.staff_id for e in hidden} == {"clerk1"}
    assert not [e for e in registry.access_log(protected.resident_id)
                if e.action == "search_hit"]


def test_a_supervisor_finds_the_row_without_the_address(town: Town) -> None:
    registry, boss, protected = town.registry, town.supervisor, town.protected
    for criteria in ({"name": "美咲"}, {"name": "さとう"},
                     {"birth_date": protected.birth_date, "sex": "女"}):
        found = registry.search(boss, REGISTRY, **criteria)  # type: ignore[arg-type]
        [row] = found
        assert found.total == 1 and row.name == protected.name, criteria
        assert row.birth_date == protected.birth_date
        assert row.address == PROTECTED and row.postcode == "" and row.individual_number is None
        assert row.previous_address is None
    hits = [e for e in registry.access_log(protected.resident_id) if e.action == "search_hit"]
    assert len(hits) == 3 and {e.staff_id for e in hits} == {"sup1"}


def test_the_hidden_address_matches_no_supervisors_search(town: Town) -> None:
    """A fragment of the hidden address would tell who lives there: it finds nobody,
    and the total is what it would be if that address did not exist."""
    registry, boss, protected = town.registry, town.supervisor, town.protected
    neighbour = registry.register_birth(
        town.clerk, PersonDetails("東 一郎", "ひがし いちろう", dt.date(1970, 6, 1), "男"),
        HouseholdPlacement("世帯主", postcode="1860002", address="東京都国立市東2-3-5"))
    nobody = registry.search(boss, REGISTRY, address="存在しない町")
    for criteria in ({"address": "東2-3-4"}, {"address": HIDDEN_ADDRESS},
                     {"address": "東2-3-4", "name": "美咲"},
                     {"address": "東2-3-4", "birth_date": protected.birth_date}):
        found = registry.search(boss, REGISTRY, **criteria)  # type: ignore[arg-type]
        assert (list(found), found.total, found.pages) == (list(nobody), 0, 1), criteria
    # with someone else matching too, the total counts the others only
    street = registry.search(boss, REGISTRY, address="東2-3")
    assert [r.resident_id for r in street] == [neighbour.resident_id] and street.total == 1
    town_wide = registry.search(boss, REGISTRY, address="東京都国立市")
    assert town_wide.total == 4
    assert protected.resident_id not in [r.resident_id for r in town_wide]
    assert protected.name not in [r.name for r in town_wide]
    # the same search by name alone still finds the row (without address)
    [row] = registry.search(boss, REGISTRY, name="美咲")
    assert row.resident_id == protected.resident_id and row.address == PROTECTED
    # the record says it was looked for; the supervisor was shown nothing of it
    log = registry.access_log(protected.resident_id)
    hidden = [e for e in log if e.action == "search_hidden"]
    assert len(hidden) == 6 and {e.staff_id for e in hidden} == {"sup1"}
    assert {e.detail.get("address") for e in hidden} == {
        "東2-3-4", HIDDEN_ADDRESS, "東2-3", "東京都国立市"}
    assert [e.detail.get("name") for e in log if e.action == "search_hit"] == ["美咲"]
    # and every page is logged as before, with the total as shown
    pages = [e for e in registry.access_log() if e.action == "search"][::-1]
    assert [(e.detail.get("address"), e.detail["total"]) for e in pages] == [
        ("存在しない町", 0), ("東2-3-4", 0), (HIDDEN_ADDRESS, 0), ("東2-3-4", 0),
        ("東2-3-4", 0), ("東2-3", 1), ("東京都国立市", 4), (None, 1)]


def test_an_approved_purpose_lets_its_holder_find_the_person_by_address(
    town: Town, sup2: Staff,
) -> None:
    registry, protected = town.registry, town.protected
    for staff in (town.supervisor, town.clerk):
        assert list(registry.search(staff, REGISTRY, address="東2-3")) == []
        approve(town, staff, protected, REGISTRY)
        found = registry.search(staff, REGISTRY, address="東2-3")
        [row] = found
        assert found.total == 1 and row.address == HIDDEN_ADDRESS, staff.staff_id
        assert row.individual_number != protected.individual_number  # still masked
        # for another affair the approval does not count
        other = registry.search(staff, CHILD_ALLOWANCE, address="東2-3")
        assert (list(other), other.total) == ([], 0)
    # nor for another supervisor
    assert registry.search(sup2, REGISTRY, address="東2-3").total == 0
    # and once it expires, the address finds nobody again
    start = registry.now()
    registry.now = lambda: start + APPROVAL_VALID + dt.timedelta(seconds=1)
    assert registry.search(town.supervisor, REGISTRY, address="東2-3").total == 0


def test_a_clerk_under_an_approved_purpose_for_the_case_finds_the_person(
    town: Town, sup2: Staff,
) -> None:
    registry, clerk, protected = town.registry, town.clerk, town.protected
    asked = registry.request_protected_view(clerk, protected.resident_id, CHILD_ALLOWANCE,
                                            "本人からの児童手当の認定請求の審査")
    assert list(registry.search(clerk, CHILD_ALLOWANCE, name="美咲")) == []  # not yet approved
    registry.decide_protected_view(town.supervisor, asked.request_id)
    [row] = registry.search(clerk, CHILD_ALLOWANCE, name="美咲")
    assert row.address == HIDDEN_ADDRESS
    assert registry.view(clerk, protected.resident_id, CHILD_ALLOWANCE).address == HIDDEN_ADDRESS
    # for another affair the approval does not count
    assert list(registry.search(clerk, LOCAL_TAX, name="美咲")) == []
    with pytest.raises(ProtectedRecord):
        registry.view(clerk, protected.resident_id, LOCAL_TAX)


# -- a supervisor's view needs a second supervisor's approval --------------------------------------


def test_a_supervisor_opens_a_protected_record_only_after_another_approves(
    town: Town, sup2: Staff,
) -> None:
    registry, sup1, rid = town.registry, town.supervisor, town.protected.resident_id
    refused_view = ProtectedRecord
    with pytest.raises(refused_view):
        registry.view(sup1, rid, REGISTRY)
    refused(registry, lambda: registry.request_protected_view(sup1, rid, REGISTRY, "x"),
            ValidationError, "理由")
    asked = registry.request_protected_view(sup1, rid, REGISTRY, "転居届の受付に伴う確認")
    assert asked.status.value == "pending"
    refused(registry, lambda: registry.request_protected_view(sup1, rid, REGISTRY, "もう一度"),
            Conflict, "承認待ち")
    with pytest.raises(refused_view):  # asking is not enough
        registry.view(sup1, rid, REGISTRY)
    refused(registry, lambda: registry.decide_protected_view(sup1, asked.request_id),
            PermissionDenied, "自分の申請は承認")
    refused(registry, lambda: registry.decide_protected_view(town.clerk, asked.request_id),
            PermissionDenied, "監督者")
    refused(registry, lambda: registry.decide_protected_view(sup2, 424242), MynaError, "申請番号")
    approved = registry.decide_protected_view(sup2, asked.request_id)
    assert approved.decided_by == "sup2" and approved.expires_at is not None
    refused(registry, lambda: registry.decide_protected_view(town.admin, asked.request_id),
            Conflict, "既に承認済み")

    assert registry.view(sup1, rid, REGISTRY).address == HIDDEN_ADDRESS
    with pytest.raises(refused_view):  # for that affair only
        registry.view(sup1, rid, CHILD_ALLOWANCE)
    with pytest.raises(refused_view):  # and for the one who asked only
        registry.view(sup2, rid, REGISTRY)
    log = entries(registry, rid)
    for expected in (("sup1", "protected_request", "住民基本台帳事務"),
                     ("sup2", "protected_approve", "住民基本台帳事務"),
                     ("sup1", "view", "住民基本台帳事務")):
        assert expected in log, expected
    [view] = [e for e in registry.access_log(rid) if e.action == "view"]
    assert view.detail["approval"] == asked.request_id

    # for a limited time
    start = registry.now()
    registry.now = lambda: start + APPROVAL_VALID + dt.timedelta(seconds=1)
    with pytest.raises(refused_view):
        registry.view(sup1, rid, REGISTRY)


def test_requests_can_be_declined_and_expire_undecided(town: Town, sup2: Staff) -> None:
    registry, rid = town.registry, town.protected.resident_id
    first = registry.request_protected_view(town.clerk, rid, CHILD_ALLOWANCE, "認定請求の審査")
    declined = registry.decide_protected_view(town.supervisor, first.request_id, approve=False)
    assert declined.status.value == "declined" and declined.expires_at is None
    with pytest.raises(ProtectedRecord):
        registry.view(town.clerk, rid, CHILD_ALLOWANCE)
    assert ("sup1", "protected_decline", "児童手当の支給") in entries(registry, rid)
    late = registry.request_protected_view(town.clerk, rid, CHILD_ALLOWANCE, "認定請求の審査")
    start = registry.now()
    registry.now = lambda: start + REQUEST_VALID
    refused(registry, lambda: registry.decide_protected_view(sup2, late.request_id),
            Conflict, "期限切れ")
    refused(registry, lambda: registry.request_protected_view(
        town.clerk, town.head.resident_id, CHILD_ALLOWANCE, "認定請求の審査"),
        Conflict, "支援措置の対象ではありません")
    assert [r.request_id for r in registry.protected_requests(town.clerk)] == [
        late.request_id, first.request_id]
    assert registry.protected_requests(sup2)  # a supervisor sees everyone's
    other_clerk = registry.create_staff("clerk2", "窓口 三郎", Role.CLERK, PASSWORD)
    assert registry.protected_requests(other_clerk) == []


# -- 住民票の写し: a protected person is on a copy only under an approval ----------------------


def copies_issued(registry: MunicipalityRegistry) -> int:
    with registry.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.copies)).scalar_one())


def later(registry: MunicipalityRegistry, by: dt.timedelta) -> None:
    start = registry.now()
    registry.now = lambda: start + by


def test_a_supervisor_issues_a_protected_persons_copy_only_after_another_approves(
    town: Town, sup2: Staff,
) -> None:
    registry, sup1, protected = town.registry, town.supervisor, town.protected
    rid = protected.resident_id
    for staff in (sup1, town.clerk, town.admin):
        with pytest.raises(ProtectedRecord) as raised:
            registry.issue_copy(staff, rid, "年金の手続")
        assert "別の監督者の承認" in raised.value.message_ja
        assert "different supervisor" in raised.value.message_en
    assert copies_issued(registry) == 0  # nothing issued, the attempts logged on the record
    assert [e for e in entries(registry, rid) if e[1] == "issue_copy_denied"] == [
        (who, "issue_copy_denied", "年金の手続") for who in ("admin1", "clerk1", "sup1")]
    # an approval for another affair, or one another supervisor holds, does not count
    approve(town, sup1, protected, CHILD_ALLOWANCE)
    approve(town, sup2, protected, REGISTRY)
    with pytest.raises(ProtectedRecord):
        registry.issue_copy(sup1, rid, "年金の手続")
    asked = approve(town, sup1, protected, REGISTRY)
    copy = registry.issue_copy(sup1, rid, "年金の手続")
    shown = render_html(copy)
    assert protected.name in shown and HIDDEN_ADDRESS in shown
    assert copy.head_of_household == protected.name and copy.withheld == 0
    [issued] = [e for e in registry.access_log(rid) if e.action == "issue_copy"]
    assert (issued.staff_id, issued.detail["approval"]) == ("sup1", asked)
    assert issued.detail["affair"] == REGISTRY
    # shown again while the approval lasts, to its holder only
    assert registry.get_copy(sup1, copy.certificate_number) == copy
    [again] = [e for e in registry.access_log(rid) if e.action == "view_copy"]
    assert again.detail["approval"] == asked
    with pytest.raises(ProtectedRecord):
        registry.get_copy(town.admin, copy.certificate_number)
    # and once it has expired, neither a new copy nor the issued one again
    later(registry, APPROVAL_VALID + dt.timedelta(seconds=1))
    with pytest.raises(ProtectedRecord):
        registry.issue_copy(sup1, rid, "年金の手続")
    with pytest.raises(ProtectedRecord) as raised:
        registry.get_copy(sup1, copy.certificate_number)
    assert "再表示" in raised.value.message_ja and "別の監督者の承認" in raised.value.message_ja
    denied = [e.staff_id for e in registry.access_log(rid) if e.action == "view_copy_denied"]
    assert denied == ["sup1", "admin1"]
    assert copies_issued(registry) == 1


def test_a_clerk_holding_an_approval_issues_the_copy_and_loses_it_on_expiry(town: Town) -> None:
    registry, clerk, rid = town.registry, town.clerk, town.protected.resident_id
    approve(town, clerk, town.protected, REGISTRY)
    copy = registry.issue_copy(clerk, rid, "本人からの交付請求")
    assert [e.name for e in copy.entries] == [town.protected.name]
    assert registry.get_copy(clerk, copy.certificate_number) == copy
    # another clerk may not reopen it at all; a supervisor only with an approval
    other = registry.create_staff("clerk2", "窓口 三郎", Role.CLERK, PASSWORD)
    refused(registry, lambda: registry.get_copy(other, copy.certificate_number),
            PermissionDenied, "交付した職員または監督者")
    with pytest.raises(ProtectedRecord):
        registry.get_copy(town.supervisor, copy.certificate_number)
    later(registry, APPROVAL_VALID + dt.timedelta(seconds=1))
    with pytest.raises(ProtectedRecord):
        registry.get_copy(clerk, copy.certificate_number)


def test_a_copy_issued_before_the_measure_needs_an_approval_to_be_shown_again(
    town: Town,
) -> None:
    registry, boss, wife = town.registry, town.supervisor, town.wife
    copy = registry.issue_copy(town.clerk, town.head.resident_id, "年金の手続")
    assert wife.name in render_html(copy)
    registry.set_support_measure(boss, wife.resident_id, True, "DV支援措置の申出")
    for staff in (town.clerk, boss):
        with pytest.raises(ProtectedRecord):
            registry.get_copy(staff, copy.certificate_number)
    assert [e.staff_id for e in registry.access_log(wife.resident_id)
            if e.action == "view_copy_denied"] == ["sup1", "clerk1"]
    # the others on it saw nothing: no re-display on their records
    assert not [e for e in registry.access_log(town.head.resident_id)
                if e.action.startswith("view_copy")]
    approve(town, boss, wife, REGISTRY)
    assert registry.get_copy(boss, copy.certificate_number) == copy


def test_a_household_copy_leaves_off_a_protected_member_without_an_approval(
    town: Town,
) -> None:
    """As the household list of a page hides them (test above): the household still gets
    its copy, without the member — no row, no placeholder, nothing of them printed."""
    registry, boss, wife = town.registry, town.supervisor, town.wife
    registry.set_support_measure(boss, wife.resident_id, True, "DV支援措置の申出")
    for staff in (town.clerk, boss):
        copy = registry.issue_copy(staff, town.head.resident_id, "年金の手続")
        assert [e.name for e in copy.entries] == [town.head.name, town.child.name]
        assert copy.withheld == 1 and copy.head_of_household == town.head.name
        shown = render_html(copy)
        assert wife.name not in shown and wife.furigana not in shown
        assert PROTECTED not in shown and "支援措置" not in shown
        assert registry.get_copy(staff, copy.certificate_number) == copy
    log = registry.access_log(wife.resident_id)
    assert [(e.staff_id, e.action) for e in log if "copy" in e.action] == [
        ("sup1", "copy_withheld"), ("clerk1", "copy_withheld")]
    assert log[0].detail["listed_with"] == town.head.resident_id
    # with an approval for the record and 住民基本台帳事務, the member is on it
    asked = approve(town, boss, wife, REGISTRY)
    whole = registry.issue_copy(boss, town.head.resident_id, "年金の手続")
    assert [e.name for e in whole.entries] == [town.head.name, wife.name, town.child.name]
    assert whole.withheld == 0
    [issued] = [e for e in registry.access_log(wife.resident_id) if e.action == "issue_copy"]
    assert issued.detail["approval"] == asked
    # a clerk of the same household is not helped by the supervisor's approval
    assert registry.issue_copy(town.clerk, town.head.resident_id, "年金の手続").withheld == 1
    later(registry, APPROVAL_VALID + dt.timedelta(seconds=1))
    with pytest.raises(ProtectedRecord):
        registry.get_copy(boss, whole.certificate_number)


def test_a_co_residents_copy_does_not_name_a_protected_head(town: Town) -> None:
    registry, boss, protected = town.registry, town.supervisor, town.protected
    son = registry.register_birth(
        town.clerk, PersonDetails("佐藤 陽太", "さとう ようた", dt.date(2015, 5, 5), "男"),
        HouseholdPlacement("子", household_number=protected.household_number))
    for whole in (True, False):
        copy = registry.issue_copy(boss, son.resident_id, "児童手当の手続",
                                   whole_household=whole)
        assert [e.name for e in copy.entries] == [son.name]
        assert copy.head_of_household == OMITTED
        assert copy.withheld == (1 if whole else 0)
        assert protected.name not in render_html(copy)
    withheld = [e for e in registry.access_log(protected.resident_id)
                if e.action == "copy_withheld"]
    assert [e.detail.get("item") for e in withheld] == ["世帯主の氏名", None]
    # approved, the head is named, and the copy is logged on the head's record as such
    approve(town, boss, protected, REGISTRY)
    named = registry.issue_copy(boss, son.resident_id, "児童手当の手続", whole_household=False)
    assert named.head_of_household == protected.name
    [issued] = [e for e in registry.access_log(protected.resident_id)
                if e.action == "issue_copy"]
    assert issued.detail["item"] == "世帯主の氏名" and "approval" in issued.detail
    # so showing it again needs the approval too
    later(registry, APPROVAL_VALID + dt.timedelta(seconds=1))
    with pytest.raises(ProtectedRecord):
        registry.get_copy(boss, named.certificate_number)


# -- full numbers ----------------------------------------------------------------------------------


def test_full_numbers_go_only_to_roles_that_may_see_them_and_are_logged(town: Town) -> None:
    registry, rid = town.registry, town.head.resident_id
    number, code = town.head.individual_number or "", town.head.resident_code
    masked = registry.view(town.clerk, rid, CHILD_ALLOWANCE, reveal_number=True)
    assert masked.individual_number == individual.mask(number)
    assert masked.resident_code == resident_code.mask(code)
    plain = registry.view(town.supervisor, rid, CHILD_ALLOWANCE)
    assert plain.individual_number == individual.mask(number)  # not asked for: masked
    shown = registry.view(town.supervisor, rid, CHILD_ALLOWANCE, reveal_number=True)
    assert (shown.individual_number, shown.resident_code) == (number, code)
    disclosures = [(e.staff_id, e.purpose) for e in registry.access_log(rid)
                   if e.action == "number_disclosure"]
    assert disclosures == [("sup1", "児童手当の支給")]
    withheld = [e for e in registry.access_log(rid) if e.detail.get("number_withheld")]
    assert [e.staff_id for e in withheld] == ["clerk1"]
    # search rows never carry the full number, whoever searches
    for staff in (town.clerk, town.supervisor):
        [row] = registry.search(staff, REGISTRY, number=number)
        assert row.individual_number == individual.mask(number)
    # the town may let its clerks see numbers
    registry.set_affair_roles(town.supervisor, {}, [Role.CLERK, Role.SUPERVISOR])
    assert registry.view(town.clerk, rid, CHILD_ALLOWANCE,
                         reveal_number=True).individual_number == number
    assert [e.action for e in registry.access_log()][:1] == ["number_disclosure"]


# -- the web app -----------------------------------------------------------------------------------


@pytest.fixture
def open_as(town: Town) -> Iterator[Callable[[str], Session]]:
    with staff_sessions(create_app(town.system, SECRET), KUNITACHI, PASSWORD) as opener:
        yield opener


def options(page: Any, name: str = "purpose") -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page.text, re.S)
    assert select, page.text
    return [v for v in re.findall(r'<option value="([^"]*)"', select[1]) if v]


def test_forms_offer_the_roles_affairs_as_a_select(town: Town, open_as: Any) -> None:
    town.registry.set_affair_roles(town.supervisor, {LOCAL_TAX: ["supervisor"]})
    clerk, boss = open_as("clerk1"), open_as("sup1")
    offered = options(clerk.get(f"/m/{KUNITACHI}/residents"))
    assert REGISTRY in offered and CHILD_ALLOWANCE in offered and LOCAL_TAX not in offered
    assert LOCAL_TAX in options(boss.get(f"/m/{KUNITACHI}/residents"))
    asked = clerk.get(f"/m/{KUNITACHI}/residents/{town.head.resident_id}")
    assert options(asked) == offered and '<input type="text" name="purpose"' not in asked.text
    before = log_size(town.registry)
    for purpose, status in (("税務調査", 422), (LOCAL_TAX, 403)):
        page = clerk.get(f"/m/{KUNITACHI}/residents/{town.head.resident_id}", purpose=purpose)
        assert page.status_code == status and town.head.name not in page.text
        assert "<select" in page.text  # the affairs to choose from again
        no_trace(page.text)
        searched = clerk.post(f"/m/{KUNITACHI}/residents", purpose=purpose, name="髙橋")
        assert searched.status_code == status and town.head.name not in searched.text
    assert log_size(town.registry) == before


def test_the_resident_page_logs_everyone_it_lists(town: Town, open_as: Any) -> None:
    clerk = open_as("clerk1")
    page = clerk.get(f"/m/{KUNITACHI}/residents/{town.head.resident_id}",
                     purpose=CHILD_ALLOWANCE)
    assert page.status_code == 200 and town.wife.name in page.text
    assert "閲覧の目的：" in page.text and "児童手当の支給" in page.text
    for member in (town.wife, town.child):
        assert ("clerk1", "view_household", "児童手当の支給") in entries(town.registry,
                                                                      member.resident_id)
    wife_page = clerk.get(f"/m/{KUNITACHI}/residents/{town.wife.resident_id}",
                          purpose=REGISTRY)
    log = html.unescape(re.sub(r"<[^>]+>", "", wife_page.text))
    assert "世帯員として表示" in log and f"表示した住民票（住民ID）: {town.head.resident_id}" in log


def test_the_search_page_pages_with_next_and_previous(
    town: Town, crowd: list[int], open_as: Any,
) -> None:
    clerk = open_as("clerk1")
    first = clerk.post(f"/m/{KUNITACHI}/residents", purpose=REGISTRY, address="中3-")
    assert first.status_code == 200
    assert "全120件" in first.text and "1 / 3ページ" in first.text
    assert first.text.count('href="/m/132152/residents/') == 50
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    forms = re.findall(r'<form method="post" action="/m/132152/residents" class="inline">(.*?)'
                       r"</form>", first.text, re.S)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', forms[0]))
    assert fields["page"] == "2" and fields["address"] == "中3-"
    assert fields["purpose"] == REGISTRY
    fields.pop("csrf_token")
    last = clerk.post(f"/m/{KUNITACHI}/residents", **(fields | {"page": "3"}))
    assert "3 / 3ページ" in last.text and "101〜120件目" in last.text
    assert 'rel="prev"' in last.text and 'rel="next"' not in last.text
    assert last.text.count('href="/m/132152/residents/') == 20
    before = log_size(town.registry)
    for page, words in (("0", "ページ番号"), ("x", "ページ番号"), ("-1", "ページ番号")):
        bad = clerk.post(f"/m/{KUNITACHI}/residents", **(fields | {"page": page}))
        assert bad.status_code == 422 and words in bad.text
    assert log_size(town.registry) == before


def test_the_approval_flow_on_the_web(town: Town, sup2: Staff, open_as: Any) -> None:
    rid = town.protected.resident_id
    boss, other, clerk = open_as("sup1"), open_as("sup2"), open_as("clerk1")
    denied = boss.get(f"/m/{KUNITACHI}/residents/{rid}", purpose=REGISTRY)
    assert denied.status_code == 403 and HIDDEN_ADDRESS not in denied.text
    assert 'action="/m/132152/protected"' in denied.text  # the form to ask
    no_reason = boss.post(f"/m/{KUNITACHI}/protected", resident_id=str(rid), purpose=REGISTRY,
                          reason="")
    assert no_reason.status_code == 422 and "申請の理由" in no_reason.text
    asked = boss.post(f"/m/{KUNITACHI}/protected", resident_id=str(rid), purpose=REGISTRY,
                      reason="転居届の受付に伴う確認")
    assert asked.status_code == 200 and "申請しました" in asked.text
    [request] = town.registry.protected_requests(town.supervisor)
    approve_url = f"/m/{KUNITACHI}/protected/{request.request_id}/approve"
    assert approve_url not in asked.text  # no button to approve one's own request
    own = boss.post(approve_url)
    assert own.status_code == 403 and "自分の申請は承認" in own.text
    by_clerk = clerk.post(approve_url)
    assert by_clerk.status_code == 403 and "監督者" in by_clerk.text
    assert town.registry.protected_requests(town.supervisor)[0].status.value == "pending"
    queue = other.get(f"/m/{KUNITACHI}/protected")
    assert approve_url in queue.text and "転居届の受付に伴う確認" in queue.text
    done = other.post(approve_url)
    assert done.status_code == 200 and "承認済み" in done.text
    opened = boss.get(f"/m/{KUNITACHI}/residents/{rid}", purpose=REGISTRY)
    assert opened.status_code == 200 and HIDDEN_ADDRESS in opened.text
    open_link = f'href="/m/{KUNITACHI}/residents/{rid}?purpose={REGISTRY}"'
    assert open_link in boss.get(f"/m/{KUNITACHI}/protected").text
    assert open_link not in other.get(f"/m/{KUNITACHI}/protected").text


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages).replace("\x00", "")


def test_a_copy_on_the_web_shows_a_protected_member_only_under_an_approval(
    town: Town, open_as: Any,
) -> None:
    registry, wife = town.registry, town.wife
    registry.set_support_measure(town.supervisor, wife.resident_id, True, "DV支援措置の申出")
    boss = open_as("sup1")
    copy_url = f"/m/{KUNITACHI}/residents/{{}}/copy"

    def issue(resident_id: int) -> Any:
        return boss.post(copy_url.format(resident_id), purpose="年金の手続", scope="household")

    def document(page: Any) -> Any:
        path = re.search(r'src="(/m/132152/copies/[^"]+/document)"', page.text)
        assert path, page.text
        return boss.get(path[1])

    # the protected person's own copy: refused, the form to ask for approval not reached
    own = issue(town.protected.resident_id)
    assert own.status_code == 403 and HIDDEN_ADDRESS not in own.text
    assert town.protected.name not in own.text
    no_trace(own.text)
    assert ("sup1", "issue_copy_denied", "年金の手続") in entries(registry,
                                                                   town.protected.resident_id)
    # the household's copy: without the wife, and the screen says one is left off
    page = issue(town.head.resident_id)
    assert page.status_code == 200, page.text
    assert "支援措置の対象者1人は記載していません" in page.text and wife.name not in page.text
    shown = document(page)
    assert shown.status_code == 200 and town.head.name in shown.text
    assert wife.name not in shown.text and wife.furigana not in shown.text
    pdf_url = re.search(r'href="(/m/132152/copies/[^"]+/pdf)"', page.text)
    assert pdf_url
    printed = pdf_text(boss.get(pdf_url[1]).content)
    assert town.head.name in printed and wife.name not in printed
    # approved: the wife is on it, in the HTML and the PDF
    approve(town, town.supervisor, wife, REGISTRY)
    page = issue(town.head.resident_id)
    assert page.status_code == 200 and "記載していません" not in page.text
    assert wife.name in document(page).text
    pdf_url = re.search(r'href="(/m/132152/copies/[^"]+/pdf)"', page.text)
    assert pdf_url
    assert wife.name in pdf_text(boss.get(pdf_url[1]).content)
    # the approval expires (the session kept alive meanwhile): neither is shown again
    clock = [registry.now()]
    registry.now = lambda: clock[0]
    for _ in range(3):
        clock[0] += dt.timedelta(minutes=21)
        assert boss.get(f"/m/{KUNITACHI}/residents").status_code == 200
    for again in (document(page), boss.get(pdf_url[1])):
        assert again.status_code == 403 and "別の監督者の承認" in again.text
        assert wife.name not in again.text and b"%PDF" not in again.content
        no_trace(again.text)
    denied = [e for e in entries(registry, wife.resident_id) if e[1] == "view_copy_denied"]
    assert denied == [("sup1", "view_copy_denied", "交付済みの写しの再表示")] * 2
    # and the wife's page, opened under a new approval, names each entry on her record
    approve(town, town.supervisor, wife, REGISTRY)
    log = html.unescape(re.sub(r"<[^>]+>", "", boss.get(
        f"/m/{KUNITACHI}/residents/{wife.resident_id}", purpose=REGISTRY).text))
    for label in ("世帯の写しに記載せず（支援措置、承認なし）", "住民票の写しの交付",
                  "交付済みの写しの表示（拒否：支援措置、承認なし）"):
        assert label in log, label


def test_the_table_page_shows_the_affairs_and_a_supervisor_changes_them(
    town: Town, open_as: Any,
) -> None:
    clerk, boss = open_as("clerk1"), open_as("sup1")
    page = clerk.get(f"/m/{KUNITACHI}/affairs")
    assert page.status_code == 200 and "地方税の賦課徴収" in page.text and "地方税法" in page.text
    assert 'type="checkbox"' not in page.text
    assert clerk.post(f"/m/{KUNITACHI}/affairs").status_code == 403
    form = boss.get(f"/m/{KUNITACHI}/affairs")
    checked = dict.fromkeys(re.findall(r'name="(role:[^"]+|number:[^"]+)" value="1"[^>]*checked',
                                       form.text), "1")
    assert "role:local-tax:clerk" in checked and "number:supervisor" in checked
    checked.pop("role:local-tax:clerk")
    checked["number:clerk"] = "1"
    saved = boss.post(f"/m/{KUNITACHI}/affairs", **checked)
    assert saved.status_code == 200 and "保存しました" in saved.text
    policy = town.registry.affair_policy()
    assert policy.roles_of(LOCAL_TAX) == {Role.SUPERVISOR}
    assert policy.number_roles == {Role.CLERK, Role.SUPERVISOR}
    assert policy.roles_of(REGISTRY) == set(Role)  # unchanged where the boxes stayed


# -- the API ---------------------------------------------------------------------------------------


def bearer(client: TestClient, staff_id: str) -> dict[str, str]:
    answer = client.post("/api/v1/token", data={"username": f"{KUNITACHI}:{staff_id}",
                                                "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def error_of(answer: Any, status: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert words in body["message"] and body["message_en"], body


def test_the_api_takes_an_affair_id_and_pages_capped_at_fifty(
    town: Town, crowd: list[int],
) -> None:
    with TestClient(create_app(town.system, SECRET)) as client:
        clerk = bearer(client, "clerk1")
        before = log_size(town.registry)
        for params, words in (({"purpose": "調査のため"}, "事務の一覧"),
                              ({"purpose": REGISTRY, "page": "0"}, "ページ番号"),
                              ({"purpose": REGISTRY, "per_page": "500"}, "1ページの件数"),
                              ({"purpose": REGISTRY, "per_page": "0"}, "1ページの件数")):
            error_of(client.get(f"{BASE}/residents", params=params | {"address": "中3-"},
                                headers=clerk), 422, words)
        error_of(client.get(f"{BASE}/residents/{crowd[0]}", params={"purpose": "調査"},
                            headers=clerk), 422, "事務の一覧")
        assert log_size(town.registry) == before
        answer = client.get(f"{BASE}/residents", headers=clerk,
                            params={"purpose": REGISTRY, "address": "中3-", "page": "3"})
        body = answer.json()
        assert (body["count"], body["total"], body["page"], body["per_page"], body["pages"]) == (
            20, 120, 3, 50, 3)
        assert body["purpose"] == REGISTRY and body["affair"] == "住民基本台帳事務"
        table = client.get(f"{BASE}/affairs", headers=clerk).json()
        assert {a["id"] for a in table["affairs"]} == {a.id for a in CATALOGUE}
        assert table["number_roles"] == ["supervisor"]
        tax = next(a for a in table["affairs"] if a["id"] == LOCAL_TAX)
        assert tax["yours"] and tax["roles"] == ["clerk", "supervisor"]


def test_the_api_approval_flow(town: Town, sup2: Staff) -> None:
    rid = town.protected.resident_id
    with TestClient(create_app(town.system, SECRET)) as client:
        boss, other = bearer(client, "sup1"), bearer(client, "sup2")
        clerk = bearer(client, "clerk1")
        error_of(client.get(f"{BASE}/residents/{rid}", params={"purpose": REGISTRY},
                            headers=boss), 403, "承認")
        asked = client.post(f"{BASE}/protected-access", headers=boss, json={
            "resident_id": rid, "purpose": REGISTRY, "reason": "転居届の受付に伴う確認"})
        assert asked.status_code == 201, asked.text
        request_id = asked.json()["request_id"]
        approve = f"{BASE}/protected-access/{request_id}/approve"
        error_of(client.post(approve, headers=boss), 403, "自分の申請は承認")
        error_of(client.post(approve, headers=clerk), 403, "監督者")
        error_of(client.post(f"{BASE}/protected-access", headers=boss, json={
            "resident_id": rid, "purpose": "確認", "reason": "転居届"}), 422, "目的")
        assert [r["status"] for r in client.get(f"{BASE}/protected-access",
                                                headers=boss).json()] == ["pending"]
        done = client.post(approve, headers=other)
        assert done.status_code == 200 and done.json()["status"] == "approved"
        record = client.get(f"{BASE}/residents/{rid}", params={"purpose": REGISTRY},
                            headers=boss)
        assert record.status_code == 200 and record.json()["address"] == HIDDEN_ADDRESS
    log = entries(town.registry, rid)
    assert ("sup1", "protected_request", "住民基本台帳事務") in log
    assert ("sup2", "protected_approve", "住民基本台帳事務") in log


def test_the_api_issues_a_copy_with_a_protected_member_only_under_an_approval(
    town: Town,
) -> None:
    registry, wife = town.registry, town.wife
    registry.set_support_measure(town.supervisor, wife.resident_id, True, "DV支援措置の申出")
    with TestClient(create_app(town.system, SECRET)) as client:
        boss = bearer(client, "sup1")

        def issue(resident_id: int) -> Any:
            return client.post(f"{BASE}/residents/{resident_id}/copies", headers=boss,
                               json={"purpose": "年金の手続"})

        error_of(issue(town.protected.resident_id), 403, "別の監督者の承認")
        household = issue(town.head.resident_id)
        assert household.status_code == 201, household.text
        body = household.json()
        assert (body["people"], body["withheld"]) == (2, 1)
        assert wife.name not in json.dumps(body, ensure_ascii=False)
        assert client.get(body["pdf_url"], headers=boss).status_code == 200
        approve(town, town.supervisor, wife, REGISTRY)
        whole = issue(town.head.resident_id).json()
        assert (whole["people"], whole["withheld"]) == (3, 0) and wife.name in whole["html"]
        # another supervisor may not download it without an approval of their own
        other = registry.create_staff("sup2", "課長 二郎", Role.SUPERVISOR, PASSWORD)
        error_of(client.get(whole["pdf_url"], headers=bearer(client, other.staff_id)), 403,
                 "別の監督者の承認")
    assert ("sup2", "view_copy_denied", "交付済みの写しの再表示") in entries(
        registry, wife.resident_id)


def test_the_api_and_the_search_page_keep_the_hidden_address_from_supervisors(
    town: Town, open_as: Any,
) -> None:
    protected = town.protected
    with TestClient(create_app(town.system, SECRET)) as client:
        boss = bearer(client, "sup1")

        def answer(**criteria: str) -> Any:
            got = client.get(f"{BASE}/residents", headers=boss,
                             params={"purpose": REGISTRY, **criteria})
            assert got.status_code == 200, got.text
            return got.json()

        nobody = answer(address="存在しない町")
        assert nobody["total"] == 0 and nobody["results"] == []
        for criteria in ({"address": "東2-3"}, {"address": HIDDEN_ADDRESS},
                         {"address": "東2-3", "name": "美咲"}):
            assert answer(**criteria) == nobody, criteria
        everyone = answer(address="東京都国立市")
        assert everyone["total"] == 3 and protected.name not in json.dumps(
            everyone, ensure_ascii=False)
        by_name = answer(name="美咲")
        [row] = by_name["results"]
        assert by_name["total"] == 1 and row["name"] == protected.name
        assert row["address"] == PROTECTED and HIDDEN_ADDRESS not in json.dumps(
            by_name, ensure_ascii=False)
        approve(town, town.supervisor, protected, REGISTRY)
        [opened] = answer(address="東2-3")["results"]
        assert opened["resident_id"] == protected.resident_id
        assert opened["address"] == HIDDEN_ADDRESS
    # the search page: another supervisor, without an approval, the same rule
    other = town.registry.create_staff("sup2", "課長 二郎", Role.SUPERVISOR, PASSWORD)
    page = open_as(other.staff_id).post(f"/m/{KUNITACHI}/residents", purpose=REGISTRY,
                                        address="東2-3")
    assert page.status_code == 200 and "全0件" in page.text
    assert protected.name not in page.text and protected.furigana not in page.text
    hidden = [e.staff_id for e in town.registry.access_log(protected.resident_id)
              if e.action == "search_hidden"]
    assert hidden.count("sup1") == 4 and hidden.count("sup2") == 1


# -- the command line ----------------------------------------------------------------------------


def test_the_table_is_shown_and_changed_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    system = MynaSystem(data)
    try:
        registry = system.add_municipality(KUNITACHI)
        registry.create_staff("sup1", "係長 一郎", Role.SUPERVISOR, PASSWORD)
        registry.create_staff("clerk1", "窓口 花子", Role.CLERK, PASSWORD)
    finally:
        system.dispose()
    runner = CliRunner()
    shown = runner.invoke(cli, ["affairs", "list", "--municipality", KUNITACHI,
                                "--data-dir", str(data)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "local-tax" in shown.output and "地方税の賦課徴収" in shown.output
    assert "個人番号の全桁を表示できる役割: 監督者" in shown.output
    by_clerk = runner.invoke(cli, ["affairs", "set", "--municipality", KUNITACHI, "--by",
                                   "clerk1", "--affair", LOCAL_TAX, "--roles", "supervisor",
                                   "--data-dir", str(data)])
    assert by_clerk.exit_code != 0 and "監督者" in by_clerk.output
    assert "Traceback" not in by_clerk.output
    changed = runner.invoke(cli, ["affairs", "set", "--municipality", KUNITACHI, "--by", "sup1",
                                  "--affair", LOCAL_TAX, "--roles", "supervisor",
                                  "--number-roles", "clerk,supervisor", "--data-dir", str(data)])
    assert changed.exit_code == 0, changed.output
    assert "local-tax: 監督者" in changed.output and "担当者・監督者" in changed.output
    system = MynaSystem(data)
    try:
        policy = system.registry(KUNITACHI).affair_policy()
        assert policy.roles_of(LOCAL_TAX) == {Role.SUPERVISOR}
        assert policy.number_roles == {Role.CLERK, Role.SUPERVISOR}
    finally:
        system.dispose()


# -- over HTTP, with the staff web app as its own process ------------------------------------------


def _search_section(page: str) -> str:
    """The results part of the search page (the form above echoes what was typed)."""
    return page.split('<section class="card">')[2] if page.count('<section class="card">') > 1 \
        else ""


@pytest.mark.slow
def test_hiding_and_masking_hold_over_http(tmp_path: Path) -> None:
    data = tmp_path / "data"
    system = MynaSystem(data)
    try:
        town = seed_town(system)
        protected, head = town.protected, town.head
    finally:
        system.dispose()
    port, log = free_port(), tmp_path / "serve.log"
    with running_staff_app(data, port, log), httpx.Client(
            base_url=f"http://127.0.0.1:{port}") as web:
        def token(staff_id: str) -> dict[str, str]:
            answer = web.post("/api/v1/token", data={"username": f"{KUNITACHI}:{staff_id}",
                                                     "password": PASSWORD})
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}

        clerk, boss = token("clerk1"), token("sup1")
        # a search only the protected person matches answers exactly like one matching nobody
        answers = [web.get(f"{BASE}/residents", headers=clerk,
                           params={"purpose": REGISTRY, **criteria}).json()
                   for criteria in ({"address": "東2-3"}, {"name": "美咲"},
                                    {"birth_date": protected.birth_date.isoformat()},
                                    {"address": "存在しない町"})]
        assert all(a == answers[-1] for a in answers) and answers[-1]["total"] == 0
        assert protected.name not in json.dumps(answers, ensure_ascii=False)
        # and for a supervisor, a fragment of the hidden address finds nobody either
        nobody, street = (web.get(f"{BASE}/residents", headers=boss,
                                  params={"purpose": REGISTRY, "address": address}).json()
                          for address in ("存在しない町", "東2-3"))
        assert street == nobody and nobody["total"] == 0
        # the number: masked for the clerk even when asked for, full for the supervisor
        number = head.individual_number or ""
        masked = web.get(f"{BASE}/residents/{head.resident_id}", headers=clerk,
                         params={"purpose": REGISTRY, "reveal_number": "true"})
        assert masked.status_code == 200 and number not in masked.text
        assert masked.json()["masked_number"] == individual.mask(number)
        assert masked.json()["individual_number"] is None
        full = web.get(f"{BASE}/residents/{head.resident_id}", headers=boss,
                       params={"purpose": REGISTRY, "reveal_number": "true"})
        assert full.json()["individual_number"] == number

        # the same through the web pages, signed in with the form
        form = web.get("/")
        signed = web.post("/signin", data={"csrf_token": csrf(form.text),
                                           "municipality": KUNITACHI, "staff_id": "clerk1",
                                           "password": PASSWORD}, follow_redirects=True)
        assert signed.status_code == 200, signed.text
        form_token = csrf(signed.text)
        pages = [web.post(f"/m/{KUNITACHI}/residents", data={
            "csrf_token": form_token, "purpose": REGISTRY, **criteria}).text
            for criteria in ({"address": "東2-3"}, {"address": "存在しない町"})]
        assert _search_section(pages[0]) == _search_section(pages[1]) != ""
        assert "全0件" in pages[0] and protected.name not in pages[0]
        page = web.get(f"/m/{KUNITACHI}/residents/{head.resident_id}",
                       params={"purpose": REGISTRY, "reveal": "1"})
        assert page.status_code == 200 and individual.mask(number) in page.text
        assert number not in page.text.replace(" ", "")
    system = MynaSystem(data)
    try:
        registry = system.registry(KUNITACHI)
        hidden = [e for e in registry.access_log(protected.resident_id)
                  if e.action == "search_hidden"]
        assert len(hidden) == 5  # nothing was shown; the record says it was looked for
        disclosed = [e.staff_id for e in registry.access_log(head.resident_id)
                     if e.action == "number_disclosure"]
        assert disclosed == ["sup1"]
    finally:
        system.dispose()
