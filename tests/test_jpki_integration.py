"""JPKI follows the registry: a changed basic item revokes the signing certificate."""

from __future__ import annotations

import datetime as dt

from myna.card.enrolment import enrol_jpki
from myna.clock import jst_today
from myna.jpki.domain import SigningSubject
from myna.registry.domain import HouseholdPlacement, PersonDetails, Role
from myna.system import MynaSystem


def test_move_revokes_signing_only_and_death_ends_both(system: MynaSystem) -> None:
    town = system.add_municipality("132152")
    clerk = town.create_staff("clerk", "窓口", Role.CLERK, "password-1234")
    person = town.register_birth(
        clerk, PersonDetails("署名\u3000太郎", "しょめい\u3000たろう", dt.date(1990, 6, 15), "男"),
        HouseholdPlacement("世帯主", postcode="1860001", address="東京都国立市北1丁目1番1号"))
    person_key, _ = system.jlis.holder(person.individual_number or "")
    enrolled = enrol_jpki(system.jpki, system.chips, "card-0001", person_key, SigningSubject(
        person.name, person.birth_date, person.sex, person.address))
    assert system.jpki.certificate(enrolled.signing_serial or 0).status == "good"
    town.move_within(clerk, person.resident_id, HouseholdPlacement(
        "世帯主", postcode="1860002", address="東京都国立市東2丁目2番2号"), jst_today())
    assert system.jpki.certificate(enrolled.signing_serial or 0).status == "revoked"
    assert system.jpki.certificate(enrolled.auth_serial).status == "good"
    town.record_death(clerk, person.resident_id, jst_today())
    assert system.jpki.certificate(enrolled.auth_serial).status == "revoked"
