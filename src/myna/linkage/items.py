"""The data items (特定個人情報) that may be provided, and their schemas.

Copies held by intermediate servers must match these schemas exactly: no
free-text fields, so names, numbers and 住民票コード cannot slip in.  Household
information carries only 世帯番号 and 続柄 (seed: 世帯員の氏名等は連携しない).
"""

from __future__ import annotations

import re
from typing import Any

from myna import relationships
from myna.errors import ValidationError

RELATIONSHIPS = frozenset(relationships.RELATIONSHIPS)
ENUMS: dict[str, frozenset[str]] = {
    "課税区分": frozenset({"課税", "非課税", "均等割のみ課税"}),
    "続柄": RELATIONSHIPS,
    "年金種別": frozenset({"老齢基礎年金", "老齢厚生年金", "障害基礎年金", "障害厚生年金",
                          "遺族基礎年金", "遺族厚生年金"}),
    "支給区分": frozenset({"全部支給", "一部支給", "全部停止"}),
    "扶助の種類": frozenset({"生活扶助", "住宅扶助", "教育扶助", "医療扶助", "介護扶助"}),
    "要介護状態区分": frozenset({"要支援1", "要支援2", "要介護1", "要介護2", "要介護3",
                                "要介護4", "要介護5"}),
}

# field -> kind: "int" (non-negative), "year", "date" (YYYY-MM-DD), "digits" (≤12), "enum"
SCHEMAS: dict[str, dict[str, str]] = {
    "地方税関係情報": {"年度": "year", "総所得金額": "int", "市町村民税所得割額": "int",
                      "市町村民税均等割額": "int", "課税区分": "enum", "扶養人数": "int"},
    "住民票関係情報": {"世帯番号": "digits", "続柄": "enum", "世帯員数": "int"},
    "年金給付関係情報": {"年金種別": "enum", "年額": "int", "受給開始日": "date"},
    "児童扶養手当関係情報": {"支給区分": "enum", "月額": "int", "認定日": "date"},
    "生活保護関係情報": {"保護開始日": "date", "扶助の種類": "enum", "世帯人員": "int"},
    "児童手当関係情報": {"支給対象児童数": "int", "月額": "int", "認定日": "date"},
    "介護保険給付等関係情報": {"要介護状態区分": "enum", "認定有効期間終了日": "date",
                             "保険料段階": "int"},
}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DIGITS = re.compile(r"^\d{1,12}$")


def validate(item: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Check a copy against its item's schema; return it unchanged or raise."""
    schema = SCHEMAS.get(item)
    if schema is None:
        raise ValidationError(
            f"特定個人情報「{item}」は定義されていません", f"unknown item {item!r}"
        )
    extra = set(payload) - set(schema)
    if extra:
        raise ValidationError(
            f"「{item}」に定義されていない項目があります: {sorted(extra)}",
            f"{item}: fields not in the schema: {sorted(extra)}",
        )
    for key, value in payload.items():
        kind = schema[key]
        ok = (
            (kind in ("int", "year") and isinstance(value, int) and not isinstance(value, bool)
             and value >= 0 and (kind != "year" or 1900 <= value <= 2200))
            or (kind == "date" and isinstance(value, str) and bool(_DATE.match(value)))
            or (kind == "digits" and isinstance(value, str) and bool(_DIGITS.match(value)))
            or (kind == "enum" and isinstance(value, str) and value in ENUMS[key])
        )
        if not ok:
            raise ValidationError(
                f"「{item}」の「{key}」の値が不正です: {value!r}",
                f"{item}.{key}: invalid {kind} value {value!r}",
            )
    return payload
