"""What the town hands J-LIS for the 個人番号通知書: its numbered households.

The notification mailing is J-LIS's (番号法7条1項: the town notifies, J-LIS prints
and mails on its behalf); it receives plain notices
(:class:`myna.contracts.notify.HouseholdNotice`), never the registry's records.
"""

from __future__ import annotations

from collections.abc import Iterable

from myna.contracts.notify import HouseholdNotice, MemberNotice
from myna.registry.domain import Resident, Status


def household_notices(residents: Iterable[Resident]) -> list[HouseholdNotice]:
    """Group current, numbered residents into households, in household-number order.

    The 世帯主 comes first, then the others in registration order; the household's
    address is the head's (else the first member's).  Residents without a number or
    no longer resident are left out.
    """
    groups: dict[str, list[Resident]] = {}
    for r in residents:
        if r.status != Status.RESIDENT or not r.individual_number:
            continue
        groups.setdefault(r.household_number, []).append(r)
    notices = []
    for number in sorted(groups):
        people = sorted(groups[number], key=lambda r: (r.relationship != "世帯主", r.resident_id))
        first = people[0]
        notices.append(HouseholdNotice(
            household_number=number,
            postcode=first.postcode,
            address=first.address,
            members=tuple(
                MemberNotice(r.resident_id, r.name, r.furigana, r.birth_date, r.sex,
                             str(r.individual_number))
                for r in people
            ),
        ))
    return notices
