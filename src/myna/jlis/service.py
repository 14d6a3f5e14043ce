"""The J-LIS node: its service layer over its own database.

Municipalities talk to it only through :class:`JlisApi` (in-process here; the
same calls go over HTTP between separately started nodes).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
from sqlalchemy import Connection, Engine, func, insert, select, update

from myna.clock import utcnow
from myna.db import bulk_insert, inserted_id, migrate, reserve
from myna.errors import Conflict, NotFound, PermissionDenied, ValidationError
from myna.jlis import storage as t
from myna.jlis.domain import MAX_GENERATION, IdentityInfo, NumberGenerator
from myna.keys import KeyStore
from myna.linkage.network import NetworkApi
from myna.numbers import bulk, individual, resident_code

Progress = Callable[[int], None]
CODE_PURPOSE = "符号の取得"



@dataclass(frozen=True)
class IdentityRecord:
    """What J-LIS answers about a person: 本人確認情報 and the current number."""

    resident_code: str
    individual_number: str
    name: str
    furigana: str
    birth_date: dt.date
    sex: str
    address: str
    municipality_code: str
    status: str


class JlisApi(Protocol):
    """The calls a municipality (or an authorised caller) may make to J-LIS."""

    def issue_resident_codes(self, municipality_code: str, count: int) -> list[str]: ...

    def assign_number(self, municipality_code: str, code: str) -> str: ...

    def assign_numbers_bulk(
        self, municipality_code: str, codes: Sequence[str], progress: Progress | None = None
    ) -> list[str]: ...

    def record_identity(
        self, municipality_code: str, info: IdentityInfo, event: str, status: str = "住民"
    ) -> None: ...

    def record_identities_bulk(
        self, municipality_code: str, infos: Sequence[IdentityInfo]
    ) -> None: ...

    def change_number(
        self, municipality_code: str, code: str, reason: str, ex_officio: bool
    ) -> str: ...

    def change_resident_code(self, municipality_code: str, old: str, new: str) -> None: ...

    def lookup_by_number(self, caller_id: str, purpose: str, number: str) -> IdentityRecord: ...

    def request_codes(
        self, institution: str, requests: Sequence[tuple[str, str]],
        progress: Progress | None = None, chunk: int = 20_000,
    ) -> None: ...


class JlisService:
    """J-LIS: 住民票コード batches, numbering, 本人確認情報, authorised look-ups."""

    NUMBER_KEY = "jlis/number-ff1"
    CODE_KEY = "jlis/resident-code-ff1"

    def __init__(
        self, engine: Engine, keys: KeyStore, now: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.engine = engine
        self.now = now
        self.network: NetworkApi | None = None
        #: called after a person's 本人確認情報 changed: (person key, changed items, status)
        self.identity_listeners: list[Callable[[str, set[str], str], None]] = []
        self.generator = NumberGenerator(
            keys.secret(self.NUMBER_KEY, 32), keys.secret(self.CODE_KEY, 32)
        )

    def create_schema(self) -> None:
        migrate(self.engine, "myna.jlis")

    # -- 住民票コード -------------------------------------------------------

    def issue_resident_codes(self, municipality_code: str, count: int) -> list[str]:
        """Hand out a batch (束) of never-issued 住民票コード to a municipality."""
        if count < 1 or count > 10_000_000:
            raise ValidationError(
                f"住民票コードの発行数が不正です: {count}", f"invalid batch size {count}"
            )
        with self.engine.begin() as conn:
            first = reserve(conn, t.counters, "resident_code", count)
            codes = self.generator.resident_codes(first, count)
            now = self.now()
            batch_id = inserted_id(conn.execute(
                insert(t.code_batches).values(
                    municipality_code=municipality_code,
                    first_counter=first,
                    count=count,
                    issued_at=now,
                )
            ))
            bulk_insert(
                conn,
                t.resident_codes,
                [(c, municipality_code, batch_id, now) for c in codes],
                ["code", "municipality_code", "batch_id", "issued_at"],
            )
        return codes

    def _check_issued(self, conn: Connection, municipality_code: str, code: str) -> None:
        owner = conn.execute(
            select(t.resident_codes.c.municipality_code).where(t.resident_codes.c.code == code)
        ).scalar()
        if owner is None:
            raise NotFound(
                f"住民票コード {code} は機構が発行したものではありません",
                f"resident code {code} was never issued",
            )
        if owner != municipality_code:
            raise PermissionDenied(
                f"住民票コード {code} は別の市区町村（{owner}）に発行されたものです",
                f"resident code {code} belongs to municipality {owner}",
            )

    def _check_current_municipality(
        self, conn: Connection, person_key: str, municipality_code: str
    ) -> None:
        """Only the municipality where the person now lives may change their identifiers."""
        where = conn.execute(
            select(t.persons.c.municipality_code, t.persons.c.status).where(
                t.persons.c.person_key == person_key
            )
        ).first()
        if where is None:
            raise NotFound(
                "本人確認情報がまだ登録されていません", "no identity recorded for this person"
            )
        if where.municipality_code != municipality_code or where.status != "住民":
            raise PermissionDenied(
                f"この方の住所地の市区町村（{where.municipality_code}）ではありません",
                f"person lives in {where.municipality_code}, not {municipality_code}",
            )

    # -- numbering ------------------------------------------------------------

    def assign_number(self, municipality_code: str, code: str) -> str:
        """番号法8条: the number for a 住民票コード (idempotent call & response)."""
        code = resident_code.validate(code)
        with self.engine.begin() as conn:
            self._check_issued(conn, municipality_code, code)
            current = self._current_number_for_code(conn, code)
            if current is not None:
                return current
            if conn.execute(
                select(t.numbers.c.number).where(t.numbers.c.resident_code == code)
            ).first():
                raise Conflict(
                    f"住民票コード {code} の番号は既に廃止されています",
                    f"resident code {code} only has retired numbers",
                )
            number = self.generator.number_for(code, 0)
            conn.execute(
                insert(t.numbers).values(
                    number=number,
                    resident_code=code,
                    generation=0,
                    person_key=secrets.token_hex(16),
                    status="active",
                    assigned_at=self.now(),
                )
            )
        return number

    def _current_number_for_code(self, conn: Connection, code: str) -> str | None:
        key = self._person_key_for_code(conn, code)
        if key is None:
            return None
        return conn.execute(
            select(t.numbers.c.number).where(
                t.numbers.c.person_key == key, t.numbers.c.status == "active"
            )
        ).scalar()

    def _person_key_for_code(self, conn: Connection, code: str) -> str | None:
        key = conn.execute(
            select(t.persons.c.person_key).where(t.persons.c.resident_code == code)
        ).scalar()
        if key is None:
            key = conn.execute(
                select(t.numbers.c.person_key).where(
                    t.numbers.c.resident_code == code, t.numbers.c.generation == 0
                )
            ).scalar()
        return key

    def assign_numbers_bulk(
        self, municipality_code: str, codes: Sequence[str], progress: Progress | None = None,
        chunk: int = 100_000,
    ) -> list[str]:
        """初期一斉指定: number every given code at once, in one transaction.

        All codes must be valid, issued to this municipality and not yet
        numbered; otherwise nothing is written.
        """
        if not codes:
            return []
        arr = np.array(codes, dtype="S11")
        if len(set(codes)) != len(codes):
            raise Conflict("同じ住民票コードが重複しています", "duplicate resident codes in batch")
        as_int = arr.astype(np.int64)
        bad = bulk.resident_code_check_digits(as_int // 10) != as_int % 10
        if bad.any():
            first = codes[int(np.flatnonzero(bad)[0])]
            resident_code.validate(first)  # raises with the precise reason
        numbers: list[str] = []
        with self.engine.begin() as conn:
            issued = set(
                conn.execute(
                    select(t.resident_codes.c.code).where(
                        t.resident_codes.c.municipality_code == municipality_code
                    )
                ).scalars()
            )
            missing = [c for c in codes if c not in issued]
            if missing:
                self._check_issued(conn, municipality_code, missing[0])
            numbered = set(
                conn.execute(
                    select(t.numbers.c.resident_code)
                    .join(t.resident_codes, t.resident_codes.c.code == t.numbers.c.resident_code)
                    .where(t.resident_codes.c.municipality_code == municipality_code)
                ).scalars()
            )
            again = [c for c in codes if c in numbered]
            if again:
                raise Conflict(
                    f"住民票コード {again[0]} には既に番号が指定されています（{len(again)}件）",
                    f"{len(again)} codes already numbered, e.g. {again[0]}",
                )
            now = self.now()
            for start in range(0, len(codes), chunk):
                part = as_int[start : start + chunk]
                generated = self.generator.numbers_for(part)
                chunk_numbers = [f"{v:012d}" for v in generated.tolist()]
                keys = secrets.token_bytes(16 * len(part)).hex()
                bulk_insert(
                    conn,
                    t.numbers,
                    [
                        (n, c, 0, keys[32 * i : 32 * i + 32], "active", now)
                        for i, (n, c) in enumerate(
                            zip(chunk_numbers, codes[start : start + chunk], strict=True)
                        )
                    ],
                    ["number", "resident_code", "generation", "person_key", "status",
                     "assigned_at"],
                )
                numbers.extend(chunk_numbers)
                if progress:
                    progress(len(part))
        return numbers

    # -- 本人確認情報 -----------------------------------------------------------

    def record_identity(
        self, municipality_code: str, info: IdentityInfo, event: str, status: str = "住民"
    ) -> None:
        """Store or update a person's 本人確認情報, keeping the change history."""
        with self.engine.begin() as conn:
            key, changed = self._record_identity(conn, municipality_code, info, event, status)
        if changed or status != "住民":
            for listener in self.identity_listeners:
                listener(key, changed, status)

    def record_identities_bulk(
        self, municipality_code: str, infos: Sequence[IdentityInfo]
    ) -> None:
        """初期移行: 本人確認情報 for many numbered residents in one transaction."""
        with self.engine.begin() as conn:
            keys: dict[str, str] = dict(
                conn.execute(
                    select(t.numbers.c.resident_code, t.numbers.c.person_key)
                    .join(t.resident_codes, t.resident_codes.c.code == t.numbers.c.resident_code)
                    .where(
                        t.resident_codes.c.municipality_code == municipality_code,
                        t.numbers.c.generation == 0,
                    )
                ).all()
            )
            now = self.now()
            person_rows = []
            history_rows = []
            for info in infos:
                key = keys.get(info.resident_code)
                if key is None:
                    raise NotFound(
                        f"住民票コード {info.resident_code} には番号が指定されていません",
                        f"resident code {info.resident_code} has no number",
                    )
                person_rows.append(
                    (key, info.resident_code, municipality_code, info.name, info.furigana,
                     info.birth_date, info.sex, info.address, "住民", now)
                )
                history_rows.append((key, "初期移行", _detail(info), municipality_code, now))
            bulk_insert(
                conn, t.persons, person_rows,
                ["person_key", "resident_code", "municipality_code", "name", "furigana",
                 "birth_date", "sex", "address", "status", "updated_at"],
            )
            conn.execute(
                insert(t.identity_history),
                [
                    dict(zip(["person_key", "event", "detail", "municipality_code",
                              "recorded_at"], r, strict=True))
                    for r in history_rows
                ],
            )

    def _record_identity(
        self, conn: Connection, municipality_code: str, info: IdentityInfo, event: str,
        status: str,
    ) -> tuple[str, set[str]]:
        """Store the items; returns the person key and which of the 4 items changed."""
        code = resident_code.validate(info.resident_code)
        key = self._person_key_for_code(conn, code)
        if key is None:
            raise NotFound(
                f"住民票コード {code} には番号が指定されていません",
                f"resident code {code} has no number yet",
            )
        values = dict(
            resident_code=code,
            municipality_code=municipality_code,
            name=info.name,
            furigana=info.furigana,
            birth_date=info.birth_date,
            sex=info.sex,
            address=info.address,
            status=status,
            updated_at=self.now(),
        )
        exists = conn.execute(
            select(t.persons).where(t.persons.c.person_key == key)
        ).first()
        changed: set[str] = set()
        if exists:
            changed = {f for f in ("name", "birth_date", "sex", "address")
                       if getattr(exists, f) != values[f]}
            conn.execute(update(t.persons).where(t.persons.c.person_key == key).values(**values))
        else:
            conn.execute(insert(t.persons).values(person_key=key, **values))
        conn.execute(
            insert(t.identity_history).values(
                person_key=key,
                event=event,
                detail=_detail(info) | {"status": status},
                municipality_code=municipality_code,
                recorded_at=self.now(),
            )
        )
        return key, changed

    # -- changes ----------------------------------------------------------------

    def change_number(
        self, municipality_code: str, code: str, reason: str, ex_officio: bool
    ) -> str:
        """番号法7条2項: a new number because the old one leaked and misuse is feared.

        The old number is retired forever; the reason is recorded.
        """
        code = resident_code.validate(code)
        if not reason.strip():
            raise ValidationError(
                "番号変更の理由（漏えいの事実と不正利用のおそれ）を記載してください",
                "a number change needs a reason",
            )
        with self.engine.begin() as conn:
            key = self._person_key_for_code(conn, code)
            if key is None:
                raise NotFound(f"住民票コード {code} には番号がありません", f"{code} has no number")
            self._check_current_municipality(conn, key, municipality_code)
            old = conn.execute(
                select(t.numbers.c.number).where(
                    t.numbers.c.person_key == key, t.numbers.c.status == "active"
                )
            ).scalar()
            used = conn.execute(
                select(func.max(t.numbers.c.generation)).where(t.numbers.c.resident_code == code)
            ).scalar()
            generation = 0 if used is None else int(used) + 1
            if generation > MAX_GENERATION:
                raise Conflict(
                    "この住民票コードでは番号をこれ以上変更できません。住民票コードを変更してください",
                    "no generations left for this resident code",
                )
            number = self.generator.number_for(code, generation)
            now = self.now()
            kind = "職権" if ex_officio else "請求"
            conn.execute(
                update(t.numbers)
                .where(t.numbers.c.number == old)
                .values(status="retired", retired_at=now, retire_reason=f"{kind}: {reason}")
            )
            conn.execute(
                insert(t.numbers).values(
                    number=number, resident_code=code, generation=generation,
                    person_key=key, status="active", assigned_at=now,
                )
            )
            conn.execute(
                insert(t.identity_history).values(
                    person_key=key, event="個人番号変更",
                    detail={"mode": kind, "reason": reason, "generation": generation},
                    municipality_code=municipality_code, recorded_at=now,
                )
            )
        return number

    def change_resident_code(self, municipality_code: str, old: str, new: str) -> None:
        """住民票コードの変更: the person keeps the individual number."""
        old = resident_code.validate(old)
        new = resident_code.validate(new)
        with self.engine.begin() as conn:
            self._check_issued(conn, municipality_code, new)
            key = self._person_key_for_code(conn, old)
            if key is None:
                raise NotFound(f"住民票コード {old} の本人確認情報がありません", f"{old} unknown")
            self._check_current_municipality(conn, key, municipality_code)
            if self._person_key_for_code(conn, new) is not None or conn.execute(
                select(t.numbers.c.number).where(t.numbers.c.resident_code == new)
            ).first():
                raise Conflict(f"住民票コード {new} は使用済みです", f"{new} already in use")
            updated = conn.execute(
                update(t.persons).where(t.persons.c.person_key == key).values(
                    resident_code=new, updated_at=self.now()
                )
            )
            if updated.rowcount != 1:
                raise NotFound(
                    f"住民票コード {old} の本人確認情報がまだ登録されていません",
                    f"no identity recorded for {old}",
                )
            conn.execute(
                insert(t.identity_history).values(
                    person_key=key, event="住民票コード変更", detail={"old": old, "new": new},
                    municipality_code=municipality_code, recorded_at=self.now(),
                )
            )

    # -- look-ups ---------------------------------------------------------------

    def register_caller(self, caller_id: str, name: str, purposes: Sequence[str]) -> None:
        """Authorise an institution to look people up by number for listed purposes."""
        with self.engine.begin() as conn:
            conn.execute(t.callers.delete().where(t.callers.c.caller_id == caller_id))
            conn.execute(
                insert(t.callers).values(caller_id=caller_id, name=name, purposes=list(purposes))
            )

    def lookup_by_number(self, caller_id: str, purpose: str, number: str) -> IdentityRecord:
        """本人確認情報 for a number, for an authorised caller; every call is logged."""
        number = individual.validate(number)
        with self.engine.begin() as conn:
            caller = conn.execute(
                select(t.callers.c.purposes).where(t.callers.c.caller_id == caller_id)
            ).first()
            if caller is None or purpose not in caller[0]:
                self._log(conn, caller_id, purpose, None, "denied")
                denied = PermissionDenied(
                    f"{caller_id} は「{purpose}」のための照会を認められていません",
                    f"caller {caller_id} is not authorised for purpose {purpose!r}",
                )
            else:
                denied = None
        if denied:
            raise denied
        with self.engine.begin() as conn:
            row = conn.execute(
                select(t.numbers.c.person_key, t.numbers.c.status).where(
                    t.numbers.c.number == number
                )
            ).first()
            if row is None or row.status != "active":
                self._log(conn, caller_id, purpose, row.person_key if row else None, "not_found")
                result = None
            else:
                person = conn.execute(
                    select(t.persons).where(t.persons.c.person_key == row.person_key)
                ).first()
                self._log(conn, caller_id, purpose, row.person_key,
                          "found" if person else "not_found")
                result = person
        if result is None:
            raise NotFound(
                "該当する個人番号はありません（未指定または変更済み）",
                "no active individual number matches",
            )
        return IdentityRecord(
            resident_code=result.resident_code, individual_number=number, name=result.name,
            furigana=result.furigana, birth_date=result.birth_date, sex=result.sex,
            address=result.address, municipality_code=result.municipality_code,
            status=result.status,
        )

    def _log(
        self, conn: Connection, caller_id: str, purpose: str, key: str | None, result: str
    ) -> None:
        conn.execute(
            insert(t.lookup_log).values(
                caller_id=caller_id, purpose=purpose, person_key=key, result=result, at=self.now()
            )
        )

    # -- 符号の取得 (information-provision network) ------------------------------------------

    def request_codes(
        self, institution: str, requests: Sequence[tuple[str, str]],
        progress: Progress | None = None, chunk: int = 20_000,
    ) -> None:
        """符号の取得: an institution asks with numbers; the hub gets only person keys.

        ``requests`` are (individual number, acquisition reference) pairs.  The
        hub derives the 符号 and sends them to the institution's intermediate
        server; J-LIS never sees a 符号 and the hub never sees a number.
        """
        if self.network is None:
            raise NotFound("情報提供ネットワークシステムに接続されていません", "no hub configured")
        numbers = [individual.validate(n) for n, _ in requests]
        with self.engine.begin() as conn:
            caller = conn.execute(
                select(t.callers.c.purposes).where(t.callers.c.caller_id == institution)
            ).first()
            if caller is None or CODE_PURPOSE not in caller[0]:
                self._log(conn, institution, CODE_PURPOSE, None, "denied")
                denied = True
            else:
                denied = False
        if denied:
            raise PermissionDenied(
                f"{institution} は符号の取得を認められていません",
                f"{institution} may not acquire 符号",
            )
        hub = self.network.the_hub()
        for start in range(0, len(requests), chunk):
            part = numbers[start : start + chunk]
            refs = [ref for _, ref in requests[start : start + chunk]]
            with self.engine.begin() as conn:
                keys = dict(conn.execute(
                    select(t.numbers.c.number, t.numbers.c.person_key).where(
                        t.numbers.c.number.in_(part), t.numbers.c.status == "active")
                ).all())
                missing = [n for n in part if n not in keys]
                if missing:
                    raise NotFound(
                        f"有効な個人番号ではありません: {individual.mask(missing[0])}",
                        "no active individual number matches",
                    )
                conn.execute(insert(t.lookup_log), [
                    dict(caller_id=institution, purpose=CODE_PURPOSE, person_key=keys[n],
                         result="found", at=self.now()) for n in part])
                hub.issue_codes(institution, [(keys[n], r) for n, r in zip(part, refs,
                                                                            strict=True)])
            if progress:
                progress(len(part))

    # -- J-LIS's own services (card production, JPKI) -------------------------------------

    def holder(self, number: str) -> tuple[str, str]:
        """(person key, current municipality code) for an active number.

        For J-LIS's own card and JPKI services only: the person key is J-LIS's
        internal, stable reference to a person (it survives number and
        住民票コード changes) and never leaves J-LIS except as the hub's input.
        """
        number = individual.validate(number)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.numbers.c.person_key, t.persons.c.municipality_code)
                .join(t.persons, t.persons.c.person_key == t.numbers.c.person_key)
                .where(t.numbers.c.number == number, t.numbers.c.status == "active")
            ).first()
        if row is None:
            raise NotFound(
                "J-LIS にこの個人番号の本人確認情報がありません（未指定または変更済み）",
                "J-LIS holds no identity for this individual number",
            )
        return str(row.person_key), str(row.municipality_code)

    # -- statistics ---------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            def count(table: object, *where: object) -> int:
                q = select(func.count()).select_from(table)  # type: ignore[arg-type]
                for w in where:
                    q = q.where(w)  # type: ignore[arg-type]
                return int(conn.execute(q).scalar() or 0)

            return {
                "issued_resident_codes": count(t.resident_codes),
                "active_numbers": count(t.numbers, t.numbers.c.status == "active"),
                "retired_numbers": count(t.numbers, t.numbers.c.status == "retired"),
                "persons": count(t.persons),
                "lookups": count(t.lookup_log),
            }


def _detail(info: IdentityInfo) -> dict[str, str]:
    d = asdict(info)
    d["birth_date"] = info.birth_date.isoformat()
    return d
