"""The affairs (事務) for which staff may open a 住民票, and which role performs each.

番号法9条 lets the number be used only in the affairs of 別表第一, and 番号法19条
and 住民基本台帳法 limit what the registry may show and to whom.  A view of a
record is therefore never for a purpose typed freely: it names one affair of
:data:`CATALOGUE`, and the town's own table (:class:`AffairPolicy`, kept in its
database and changed by a supervisor) says which roles perform that affair.

The catalogue holds the 別表第一 affairs a municipality performs and that read
its residents' records — 地方税, 児童手当, 保育, 国民健康保険, 介護保険, 生活保護,
児童扶養手当 and 障害者総合支援 — named as the Table 2 data of the hub names them
(``myna/linkage/data/table2.json``), so that a 情報照会 and a view can be matched;
and beside them the registry's own affair, 住民基本台帳事務 (住民基本台帳法), and the
number's own, 個人番号の指定・通知と個人番号カード (番号法7条・17条).  The items of
別表第一 have been renumbered by amendments: each affair cites its statute, not an
item number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from myna.errors import PermissionDenied, ValidationError
from myna.registry.domain import Role, Staff


@dataclass(frozen=True)
class Affair:
    """One affair a view may be for."""

    id: str
    name: str
    law: str
    #: The 事務 of Table 2 rows (情報照会) that belong to this affair.
    table2: tuple[str, ...] = ()
    #: Who performs it in a town that has not changed its table.
    default_roles: frozenset[Role] = frozenset({Role.CLERK, Role.SUPERVISOR})


RESIDENT_REGISTRY = "resident-registry"
MY_NUMBER = "my-number"

_ALL = frozenset(Role)

CATALOGUE: tuple[Affair, ...] = (
    Affair(RESIDENT_REGISTRY, "住民基本台帳事務",
           "住民基本台帳法（届出の受付・住民票の記載・写しの交付）", (), _ALL),
    Affair(MY_NUMBER, "個人番号の指定・通知及び個人番号カードの交付",
           "番号法7条・17条"),
    Affair("local-tax", "地方税の賦課徴収", "地方税法（番号法別表第一）",
           ("地方税の賦課徴収",)),
    Affair("child-allowance", "児童手当の支給", "児童手当法（番号法別表第一）",
           ("児童手当の支給",)),
    Affair("childcare", "保育の実施", "児童福祉法・子ども・子育て支援法（番号法別表第一）",
           ("保育の実施",)),
    Affair("national-health-insurance", "国民健康保険の保険給付の支給・保険料の徴収",
           "国民健康保険法（番号法別表第一）",
           ("国民健康保険の保険給付の支給・保険料の徴収",)),
    Affair("long-term-care", "介護保険の保険給付の支給・保険料の徴収",
           "介護保険法（番号法別表第一）", ("介護保険の保険給付の支給・保険料の徴収",)),
    Affair("public-assistance", "生活保護の決定・実施", "生活保護法（番号法別表第一）",
           ("生活保護の決定・実施",)),
    Affair("child-rearing-allowance", "児童扶養手当の支給",
           "児童扶養手当法（番号法別表第一。福祉事務所を設置する市の長）",
           ("児童扶養手当の支給",)),
    Affair("disability-support", "障害者総合支援法による自立支援給付の支給",
           "障害者の日常生活及び社会生活を総合的に支援するための法律（番号法別表第一）",
           ("障害者総合支援法による自立支援給付の支給",)),
)

BY_ID: dict[str, Affair] = {a.id: a for a in CATALOGUE}
AFFAIR_IDS: tuple[str, ...] = tuple(BY_ID)

#: Who sees a full individual number in a town that has not changed its table: the
#: number is shown masked to everyone else (a full number is a disclosure, logged).
DEFAULT_NUMBER_ROLES = frozenset({Role.SUPERVISOR})


class AffairNotPermitted(PermissionDenied):
    """The affair exists, but this member of staff's role does not perform it here."""


def _listing(affairs: Iterable[Affair]) -> tuple[str, str]:
    shown = list(affairs)
    ja = "、".join(f"{a.id}（{a.name}）" for a in shown) or "なし"
    en = ", ".join(a.id for a in shown) or "none"
    return ja, en


def affair(value: str) -> Affair:
    """The catalogue's affair of id ``value`` (surrounding spaces ignored).

    >>> affair(" child-allowance ").name
    '児童手当の支給'
    >>> affair("見たかったから")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 閲覧・検索の目的は、事務の一覧から選んでください...
    """
    key = value.strip() if isinstance(value, str) else ""
    found = BY_ID.get(key)
    if found is None:
        ja, en = _listing(CATALOGUE)
        raise ValidationError(
            "閲覧・検索の目的は、事務の一覧から選んでください（自由記述はできません）。"
            f"使える事務: {ja}",
            f"the purpose must be the id of an affair, one of: {en}",
        )
    return found


def for_table2(name: str) -> Affair | None:
    """The affair a Table 2 事務 belongs to (None when the town performs no such affair)."""
    return next((a for a in CATALOGUE if name in a.table2), None)


@dataclass(frozen=True)
class AffairPolicy:
    """One town's table: the roles that perform each affair, and who sees full numbers."""

    roles: Mapping[str, frozenset[Role]]
    number_roles: frozenset[Role]

    @classmethod
    def default(cls) -> AffairPolicy:
        return cls({a.id: a.default_roles for a in CATALOGUE}, DEFAULT_NUMBER_ROLES)

    def roles_of(self, affair_id: str) -> frozenset[Role]:
        return self.roles.get(affair_id, frozenset())

    def allowed(self, staff: Staff) -> list[Affair]:
        """The affairs ``staff`` may state as a purpose, in the catalogue's order."""
        return [a for a in CATALOGUE if staff.interface or staff.role in self.roles_of(a.id)]

    def check(self, staff: Staff, value: str) -> Affair:
        """The affair named by ``value``, if ``staff``'s role performs it here."""
        found = affair(value)
        if staff.interface or staff.role in self.roles_of(found.id):
            return found
        ja, en = _listing(self.allowed(staff))
        raise AffairNotPermitted(
            f"「{found.name}」は、この市区町村では{staff.role.label}の事務として"
            f"設定されていません。選べる事務: {ja}",
            f"affair {found.id} is not performed by the role {staff.role.value} here; "
            f"allowed: {en}",
        )

    def may_see_numbers(self, staff: Staff) -> bool:
        """Whether a full individual number (and 住民票コード) may be shown to ``staff``."""
        return staff.interface or staff.role in self.number_roles


def role_labels(roles: Iterable[Role]) -> str:
    """``担当者・監督者`` (in the order of :class:`Role`), or ``なし``.

    >>> role_labels({Role.SUPERVISOR, Role.CLERK})
    '担当者・監督者'
    """
    chosen = set(roles)
    return "・".join(r.label for r in Role if r in chosen) or "なし"


__all__ = ["Affair", "AffairPolicy", "AffairNotPermitted", "CATALOGUE", "AFFAIR_IDS",
           "RESIDENT_REGISTRY", "MY_NUMBER", "affair", "for_table2", "role_labels"]
