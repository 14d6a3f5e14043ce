"""The J-LIS node: its service layer over its own database.

Other organisations talk to it only through :class:`~myna.contracts.jlis.JlisApi`
(in-process here; the same calls go over HTTP between separately started nodes).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict

import numpy as np
from sqlalchemy import Connection, Engine, func, insert, select, update

from myna.clock import utcnow
from myna.contracts.jlis import (
    CODE_PURPOSE,
    WITHHELD,
    IdentityRecord,
    Progress,
)
from myna.db import bulk_insert, inserted_id, migrate, reserve
from myna.errors import Conflict, NotFound, PermissionDenied, ValidationError
from myna.events import Event, Inbox, Outbox
from myna.faults import fault_point
from myna.jlis import storage as t
from myna.jlis.domain import MAX_GENERATION, IdentityInfo, NumberGenerator
from myna.keys import KeyStore
from myna.linkage.network import NetworkApi
from myna.numbers import bulk, individual, resident_code

#: J-LIS's own services that follow a person's 本人確認情報 (公的個人認証, card centre)
IDENTITY_SUBSCRIBERS = ("jpki", "cards")


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
        self.outbox = Outbox(engine, "jlis", now)
        self.inbox = Inbox(engine, "jlis", {
            "identity.recorded": self._on_identity,
            "numbering.initial": self._on_initial,
            "number.changed": self._on_number_change,
            "resident_code.changed": self._on_code_change,
            "support_measure.changed": self._on_support_measure,
        }, now)
        #: delivers this node's outbox (set by the wiring; events wait until then)
        self.publish: Callable[[], None] = lambda: None
        self.generator = NumberGenerator(
            keys.secret(self.NUMBER_KEY, 32), keys.secret(self.CODE_KEY, 32)
        )

    def create_schema(self) -> None:
        migrate(self.engine, "myna.jlis")
        self.outbox.create_schema()

    # -- 住民票コード -------------------------------------------------------

    def issue_resident_codes(self, municipality_code: str, count: int,
                             request_id: str | None = None) -> list[str]:
        """Hand out a batch (束) of never-issued 住民票コード to a municipality.

        A town names each request (``request_id``) before it asks, so that asking
        again after a crash gets the batch issued then, not a second one."""
        if count < 1 or count > 10_000_000:
            raise ValidationError(
                f"住民票コードの発行数が不正です: {count}", f"invalid batch size {count}"
            )
        if request_id is not None and not 1 <= len(request_id) <= 64:
            raise ValidationError("住民票コードの発行依頼の番号が不正です",
                                  "a resident-code request id has 1 to 64 characters")
        with self.engine.begin() as conn:
            if request_id is not None:
                issued = conn.execute(select(
                    t.code_batches.c.first_counter, t.code_batches.c.count).where(
                    t.code_batches.c.municipality_code == municipality_code,
                    t.code_batches.c.request_id == request_id)).first()
                if issued is not None:
                    if int(issued[1]) != count:
                        raise Conflict("同じ発行依頼の番号で別の件数は依頼できません",
                                       "a request id names one batch only")
                    return self.generator.resident_codes(int(issued[0]), count)
            first = reserve(conn, t.counters, "resident_code", count)
            codes = self.generator.resident_codes(first, count)
            now = self.now()
            batch_id = inserted_id(conn.execute(
                insert(t.code_batches).values(
                    municipality_code=municipality_code,
                    first_counter=first,
                    count=count,
                    issued_at=now,
                    request_id=request_id,
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
        """番号法8条: the number for a 住民票コード (call & response, idempotent).

        J-LIS generates the number from the code and answers it; it keeps the
        number as assigned only when the municipality confirms that a 住民票
        carries it (the ``identity.recorded`` event, :meth:`record_identity`), so a
        municipality that fails or crashes before writing its 住民票 leaves no
        number at J-LIS that nobody carries, and asking again gives the same answer.
        """
        code = resident_code.validate(code)
        with self.engine.connect() as conn:
            self._check_issued(conn, municipality_code, code)
            current = self._current_number_for_code(conn, code)
            if current is not None:
                return current
            self._check_never_retired(conn, code)
        return self.generator.number_for(code, 0)

    def _check_never_retired(self, conn: Connection, code: str) -> None:
        if conn.execute(
            select(t.numbers.c.number).where(t.numbers.c.resident_code == code)
        ).first():
            raise Conflict(
                f"住民票コード {code} の番号は既に廃止されています",
                f"resident code {code} only has retired numbers",
            )

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
        """初期一斉指定: the numbers of many codes at once (call & response).

        All codes must be valid and issued to this municipality; otherwise no
        number is answered.  As with :meth:`assign_number`, nothing is kept until
        the municipality confirms (:meth:`confirm_initial`), and asking again —
        after a crash, say — answers the same numbers.
        """
        if not codes:
            return []
        if len(set(codes)) != len(codes):
            raise Conflict("同じ住民票コードが重複しています", "duplicate resident codes in batch")
        arr = np.array(codes, dtype="S11")
        as_int = arr.astype(np.int64)
        bad = bulk.resident_code_check_digits(as_int // 10) != as_int % 10
        if bad.any():
            first = codes[int(np.flatnonzero(bad)[0])]
            resident_code.validate(first)  # raises with the precise reason
        with self.engine.connect() as conn:
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
            current = dict(conn.execute(
                select(t.numbers.c.resident_code, t.numbers.c.number)
                .join(t.resident_codes, t.resident_codes.c.code == t.numbers.c.resident_code)
                .where(t.resident_codes.c.municipality_code == municipality_code,
                       t.numbers.c.status == "active")
            ).all())
        numbers: list[str] = []
        for start in range(0, len(codes), chunk):
            part = as_int[start : start + chunk]
            generated = self.generator.numbers_for(part)
            numbers.extend(f"{v:012d}" for v in generated.tolist())
            if progress:
                progress(len(part))
        if current:
            numbers = [current.get(c, n) for c, n in zip(codes, numbers, strict=True)]
        return numbers

    def _confirm_number(self, conn: Connection, code: str, number: str) -> None:
        """The municipality's 住民票 carries ``number``: keep it as assigned."""
        current = self._current_number_for_code(conn, code)
        if current == number:
            return
        if current is not None:
            raise Conflict(
                f"住民票コード {code} には別の番号が指定されています",
                f"resident code {code} already carries another number",
            )
        self._check_never_retired(conn, code)
        if self.generator.number_for(code, 0) != number:
            raise PermissionDenied(
                "機構が生成した番号ではありません", "this number was not generated for the code"
            )
        conn.execute(
            insert(t.numbers).values(
                number=number, resident_code=code, generation=0,
                person_key=secrets.token_hex(16), status="active", assigned_at=self.now(),
            )
        )

    def confirm_initial(self, municipality_code: str, infos: Sequence[IdentityInfo],
                        numbers: Sequence[str]) -> None:
        """初期一斉指定, confirmed: numbers and 本人確認情報 of many residents at once."""
        with self.engine.begin() as conn:
            self._confirm_initial(conn, municipality_code, infos, numbers)

    def _confirm_initial(self, conn: Connection, municipality_code: str,
                         infos: Sequence[IdentityInfo], numbers: Sequence[str]) -> None:
        codes = [i.resident_code for i in infos]
        expected = self.generator.numbers_for(np.array(codes, dtype="S11").astype(np.int64))
        if [f"{v:012d}" for v in expected.tolist()] != list(numbers):
            raise PermissionDenied(
                "機構が生成した番号ではありません", "numbers were not generated for these codes"
            )
        known = set(conn.execute(
            select(t.numbers.c.resident_code).where(t.numbers.c.resident_code.in_(codes))
        ).scalars()) if len(codes) <= 30_000 else set(conn.execute(
            select(t.numbers.c.resident_code)
            .join(t.resident_codes, t.resident_codes.c.code == t.numbers.c.resident_code)
            .where(t.resident_codes.c.municipality_code == municipality_code)).scalars())
        now = self.now()
        keys = secrets.token_bytes(16 * len(codes)).hex()
        fresh = [(i, info, n) for i, (info, n) in enumerate(zip(infos, numbers, strict=True))
                 if info.resident_code not in known]
        bulk_insert(
            conn, t.numbers,
            [(n, info.resident_code, 0, keys[32 * i: 32 * i + 32], "active", now)
             for i, info, n in fresh],
            ["number", "resident_code", "generation", "person_key", "status", "assigned_at"],
        )
        bulk_insert(
            conn, t.persons,
            [(keys[32 * i: 32 * i + 32], info.resident_code, municipality_code, info.name,
              info.furigana, info.birth_date, info.sex, info.address, "住民", now)
             for i, info, _ in fresh],
            ["person_key", "resident_code", "municipality_code", "name", "furigana",
             "birth_date", "sex", "address", "status", "updated_at"],
        )
        bulk_insert(
            conn, t.identity_history,
            [(keys[32 * i: 32 * i + 32], "初期一斉指定", _detail(info), municipality_code, now)
             for i, info, _ in fresh],
            ["person_key", "event", "detail", "municipality_code", "recorded_at"],
        )

    # -- 本人確認情報 -----------------------------------------------------------

    def record_identity(
        self, municipality_code: str, info: IdentityInfo, event: str, status: str = "住民",
        number: str | None = None,
    ) -> None:
        """Store or update a person's 本人確認情報, keeping the change history.

        ``number``, on a first 住民票 (出生, 職権記載), confirms the number
        :meth:`assign_number` answered.  Other nodes that must learn of the change
        (JPKI, the card centre) are told through this node's outbox.
        """
        with self.engine.begin() as conn:
            self._apply_identity(conn, municipality_code, info, event, status, number)
        self.publish()

    def _apply_identity(
        self, conn: Connection, municipality_code: str, info: IdentityInfo, event: str,
        status: str, number: str | None,
    ) -> None:
        code = resident_code.validate(info.resident_code)
        if number is not None:
            self._check_issued(conn, municipality_code, code)
            self._confirm_number(conn, code, individual.validate(number))
        late = self._moved_on(conn, code, municipality_code, status)
        if late:
            key = self._person_key_for_code(conn, code)
            conn.execute(insert(t.identity_history).values(
                person_key=key, event=event, detail=_detail(info) | {"status": status,
                                                                    "superseded": True},
                municipality_code=municipality_code, recorded_at=self.now()))
            return
        key, changed = self._record_identity(conn, municipality_code, info, event, status)
        if changed or status != "住民":
            payload = {"changed": sorted(changed), "status": status}
            for destination in IDENTITY_SUBSCRIBERS:
                self.outbox.add(conn, destination, "identity.changed", key, payload)

    def _moved_on(self, conn: Connection, code: str, municipality_code: str,
                  status: str) -> bool:
        """A 転出 from the old town that arrives after the new town's 転入 was recorded:
        the person already lives elsewhere, so it goes into the history only."""
        if status == "住民":
            return False
        row = conn.execute(select(t.persons.c.municipality_code, t.persons.c.status).where(
            t.persons.c.resident_code == code)).first()
        return row is not None and row.status == "住民" and row.municipality_code != \
            municipality_code

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

    def next_number(self, municipality_code: str, code: str) -> tuple[str, int]:
        """番号法7条2項, the call: the new number a change would give (and its generation).

        Nothing changes at J-LIS until the municipality confirms the change
        (``number.changed``, :meth:`confirm_number_change`); asking again before
        then answers the same number.
        """
        code = resident_code.validate(code)
        with self.engine.connect() as conn:
            key = self._person_key_for_code(conn, code)
            if key is None:
                raise NotFound(f"住民票コード {code} には番号がありません", f"{code} has no number")
            self._check_current_municipality(conn, key, municipality_code)
            used = conn.execute(
                select(func.max(t.numbers.c.generation)).where(t.numbers.c.resident_code == code)
            ).scalar()
        generation = 0 if used is None else int(used) + 1
        if generation > MAX_GENERATION:
            raise Conflict(
                "この住民票コードでは番号をこれ以上変更できません。住民票コードを変更してください",
                "no generations left for this resident code",
            )
        return self.generator.number_for(code, generation), generation

    def change_number(
        self, municipality_code: str, code: str, reason: str, ex_officio: bool
    ) -> str:
        """番号法7条2項: a new number because the old one leaked and misuse is feared.

        The old number is retired forever; the reason is recorded.  (The call
        and its confirmation at once, for callers without a 住民票 of their own.)
        """
        number, generation = self.next_number(municipality_code, code)
        self.confirm_number_change(municipality_code, code, number, generation, reason,
                                   ex_officio)
        return number

    def confirm_number_change(
        self, municipality_code: str, code: str, number: str, generation: int, reason: str,
        ex_officio: bool,
    ) -> None:
        with self.engine.begin() as conn:
            self._apply_number_change(conn, municipality_code, code, number, generation,
                                      reason, ex_officio)
        self.publish()

    def _apply_number_change(
        self, conn: Connection, municipality_code: str, code: str, number: str,
        generation: int, reason: str, ex_officio: bool,
    ) -> None:
        code = resident_code.validate(code)
        if not reason.strip():
            raise ValidationError(
                "番号変更の理由（漏えいの事実と不正利用のおそれ）を記載してください",
                "a number change needs a reason",
            )
        key = self._person_key_for_code(conn, code)
        if key is None:
            raise NotFound(f"住民票コード {code} には番号がありません", f"{code} has no number")
        self._check_current_municipality(conn, key, municipality_code)
        if conn.execute(select(t.numbers.c.status).where(
                t.numbers.c.number == number)).scalar() == "active":
            return  # confirmed before
        if self.generator.number_for(code, generation) != number:
            raise PermissionDenied(
                "機構が生成した番号ではありません", "this number was not generated for the code"
            )
        old = conn.execute(
            select(t.numbers.c.number).where(
                t.numbers.c.person_key == key, t.numbers.c.status == "active"
            )
        ).scalar()
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
        # the card's back carries the number; certificates do not
        self.outbox.add(conn, "cards", "number.changed", key, {"mode": kind})

    def change_resident_code(self, municipality_code: str, old: str, new: str) -> None:
        """住民票コードの変更: the person keeps the individual number."""
        with self.engine.begin() as conn:
            self._apply_code_change(conn, municipality_code, old, new)

    def _apply_code_change(self, conn: Connection, municipality_code: str, old: str,
                           new: str) -> None:
        old = resident_code.validate(old)
        new = resident_code.validate(new)
        if old == new:
            raise Conflict(f"住民票コード {new} は使用済みです", f"{new} already in use")
        key = self._person_key_for_code(conn, old)
        if key is None:
            raise NotFound(f"住民票コード {old} の本人確認情報がありません", f"{old} unknown")
        if self._person_key_for_code(conn, new) == key:
            return  # applied before
        self._check_issued(conn, municipality_code, new)
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

    # -- events from municipalities ------------------------------------------------

    def _municipality_of(self, event: Event) -> str:
        kind, _, code = event.source.partition(":")
        if kind != "municipality" or not code:
            raise PermissionDenied("市区町村以外からの住民票の通知です",
                                   f"{event.source} is not a municipality")
        return code

    def _on_identity(self, conn: Connection, event: Event) -> None:
        p = event.payload
        info = IdentityInfo(p["resident_code"], p["name"], p["furigana"],
                            dt.date.fromisoformat(p["birth_date"]), p["sex"], p["address"])
        self._apply_identity(conn, self._municipality_of(event), info, p["event"],
                             p["status"], p.get("number"))

    def _on_initial(self, conn: Connection, event: Event) -> None:
        people = event.payload["people"]
        infos = [IdentityInfo(c, n, f, dt.date.fromisoformat(b), s, a)
                 for c, _, n, f, b, s, a in people]
        self._confirm_initial(conn, self._municipality_of(event), infos,
                              [p[1] for p in people])

    def _on_number_change(self, conn: Connection, event: Event) -> None:
        p = event.payload
        self._apply_number_change(conn, self._municipality_of(event), p["resident_code"],
                                  p["number"], int(p["generation"]), p["reason"],
                                  bool(p["ex_officio"]))

    def _on_support_measure(self, conn: Connection, event: Event) -> None:
        """支援措置 set or lifted by the person's municipality (住基法: 本人確認情報の提供に
        あたり加害者等に住所を知られないようにする)."""
        p = event.payload
        town = self._municipality_of(event)
        key = self._person_key_for_code(conn, resident_code.validate(str(p["resident_code"])))
        if key is None:
            raise NotFound("本人確認情報がまだ登録されていません",
                           "no identity recorded for this person")
        where = conn.execute(select(t.persons.c.municipality_code, t.persons.c.status).where(
            t.persons.c.person_key == key)).first()
        if where is None or where.municipality_code != town or where.status != "住民":
            # the person lives elsewhere now (the move reached J-LIS first): only the
            # present town's measure governs; this one goes into the history
            conn.execute(insert(t.identity_history).values(
                person_key=key, event="支援措置（住所地以外からの通知）",
                detail={"on": bool(p["on"]), "superseded": True}, municipality_code=town,
                recorded_at=self.now()))
            return
        conn.execute(t.protected_persons.delete().where(t.protected_persons.c.person_key == key))
        if p["on"]:
            conn.execute(insert(t.protected_persons).values(
                person_key=key, municipality_code=town,
                approved_callers=[str(c) for c in p.get("approved_callers", [])],
                since=self.now()))
        conn.execute(insert(t.identity_history).values(
            person_key=key, event="支援措置" if p["on"] else "支援措置の終了", detail={},
            municipality_code=town, recorded_at=self.now()))

    def _on_code_change(self, conn: Connection, event: Event) -> None:
        p = event.payload
        self._apply_code_change(conn, self._municipality_of(event), p["old"], p["new"])

    # -- look-ups ---------------------------------------------------------------

    def register_caller(self, caller_id: str, name: str, purposes: Sequence[str],
                        receives_resident_code: bool = False) -> None:
        """Authorise an institution to look people up by number for listed purposes.

        The 住民票コード is part of the answer only for a caller allowed to use it
        (住基法30条の9・別表: the bodies and affairs listed there; 30条の42ほか
        forbid everyone else to ask for it); every other caller gets the answer
        without it.
        """
        with self.engine.begin() as conn:
            conn.execute(t.callers.delete().where(t.callers.c.caller_id == caller_id))
            conn.execute(
                insert(t.callers).values(caller_id=caller_id, name=name, purposes=list(purposes),
                                         receives_resident_code=receives_resident_code)
            )

    def lookup_by_number(self, caller_id: str, purpose: str, number: str) -> IdentityRecord:
        """本人確認情報 for a number, for an authorised caller; every call is logged."""
        number = individual.validate(number)
        with self.engine.begin() as conn:
            caller = conn.execute(
                select(t.callers.c.purposes, t.callers.c.receives_resident_code)
                .where(t.callers.c.caller_id == caller_id)
            ).first()
            gets_code = caller is not None and bool(caller.receives_resident_code)
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
        withheld = False
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
                approved = conn.execute(select(t.protected_persons.c.approved_callers).where(
                    t.protected_persons.c.person_key == row.person_key)).scalar()
                withheld = approved is not None and caller_id not in approved
                self._log(conn, caller_id, purpose, row.person_key,
                          "not_found" if not person else "withheld" if withheld else "found")
                result = person
        if result is None:
            raise NotFound(
                "該当する個人番号はありません（未指定または変更済み）",
                "no active individual number matches",
            )
        return IdentityRecord(
            resident_code=result.resident_code if gets_code else None,
            individual_number=number, name=result.name,
            furigana=result.furigana, birth_date=result.birth_date, sex=result.sex,
            address=WITHHELD if withheld else result.address,
            municipality_code=result.municipality_code, status=result.status,
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
            # the hub is called after J-LIS's own transaction: if it fails, asking again
            # gives the same 符号 (they are derived, not drawn)
            fault_point("codes:before-hub")
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

    def residence(self, person_key: str) -> tuple[str, str]:
        """(current municipality code, 住民票コード) of a person, for J-LIS's own card
        centre: it tells the card holder's 住所地市町村 of the card's state and names the
        holder there by the town's own 住民票コード (never by the number or the key).
        By the person key, so that it holds after a number change as well."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.persons.c.municipality_code, t.persons.c.resident_code)
                               .where(t.persons.c.person_key == person_key)).first()
        if row is None:
            raise NotFound("J-LIS にこの方の本人確認情報がありません",
                           "J-LIS holds no identity for this person")
        return str(row.municipality_code), str(row.resident_code)

    def card_identity(self, number: str) -> tuple[str, IdentityRecord]:
        """(person key, 本人確認情報) for an active number, for J-LIS's own card centre:
        the four basic items as J-LIS holds them (never withheld) and the current
        municipality; the 住民票コード is left out (the card does not need it)."""
        key, _ = self.holder(number)
        with self.engine.connect() as conn:
            person = conn.execute(select(t.persons).where(t.persons.c.person_key == key)).one()
        return key, IdentityRecord(
            resident_code=None, individual_number=individual.validate(number), name=person.name,
            furigana=person.furigana, birth_date=person.birth_date, sex=person.sex,
            address=person.address, municipality_code=person.municipality_code,
            status=person.status)

    # -- consistency (myna check) --------------------------------------------------

    def carried_numbers(self, municipality_code: str) -> dict[str, str]:
        """住民票コード → active number of everyone J-LIS holds as living in the town,
        and of every code issued to the town that has a number but no 本人確認情報."""
        with self.engine.connect() as conn:
            living = dict(conn.execute(
                select(t.persons.c.resident_code, t.numbers.c.number)
                .join(t.numbers, t.numbers.c.person_key == t.persons.c.person_key)
                .where(t.persons.c.municipality_code == municipality_code,
                       t.persons.c.status == "住民", t.numbers.c.status == "active")
            ).all())
            orphans = dict(conn.execute(
                select(t.numbers.c.resident_code, t.numbers.c.number)
                .join(t.resident_codes, t.resident_codes.c.code == t.numbers.c.resident_code)
                .outerjoin(t.persons, t.persons.c.person_key == t.numbers.c.person_key)
                .where(t.resident_codes.c.municipality_code == municipality_code,
                       t.numbers.c.status == "active", t.persons.c.person_key.is_(None))
            ).all())
        return {**living, **orphans}

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
